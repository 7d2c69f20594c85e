//! Exit: a thread leaves its namespaces; when it was the last of its
//! process, the pause, container or exec session it was ends, and maybe
//! its sandbox.

use tracer_common::ExitEvent;

use super::pin::Holder;
use super::procs::Proc;
use super::{Lifecycle, Model, Task, What};
use crate::decode::{Who, c_str_ref};

/// Exit status as a shell shows it: the code, or 128 + the killing signal.
pub fn exit_status(wait_status: u32) -> i32 {
    let sig = (wait_status & 0x7f) as i32;
    if sig == 0 {
        ((wait_status >> 8) & 0xff) as i32
    } else {
        128 + sig
    }
}

impl Model {
    pub(super) fn on_exit(&mut self, e: &ExitEvent, out: &mut Vec<Lifecycle>) {
        let who = Who::of(&e.hdr);
        let ts = e.hdr.ts_ns;
        self.joins.remove(&who.tid);
        self.threads.remove(&who.tid);
        let emptied = self.ns.move_task(who.tid, None, ts);
        // Who went last, for namespaces this exit emptied (made only then).
        let status = (e.group_dead != 0).then(|| exit_status(e.exit_code));
        let mut gone_by = None;
        if let Some(status) = status
            && let Some(p) = self.procs.remove(&who.pid)
        {
            gone_by = self.process_exited(who.pid, p, ts, Some(status), !emptied.is_empty(), out);
        }
        self.visit_exit(who, status, ts, out);
        if !emptied.is_empty() {
            let by = || {
                gone_by
                    .clone()
                    .unwrap_or_else(|| Task::new(who.pid, c_str_ref(&e.hdr.comm)))
            };
            self.after_move(emptied, by, ts, out);
        }
    }

    /// The last thread of process `pid` (`p`, out of the table) exited
    /// at `ts` with `status` (`None`: its exit was lost): the pause,
    /// container or exec session it was ends. Who it was, when `emptied`
    /// (namespaces lost their last task to it).
    pub(super) fn process_exited(
        &mut self,
        pid: u32,
        p: Proc,
        ts: u64,
        status: Option<i32>,
        emptied: bool,
        out: &mut Vec<Lifecycle>,
    ) -> Option<Task> {
        // A process of no role that empties nothing (most exits): no copies.
        if p.pause_of.is_none() && p.container.is_none() && p.exec_into.is_none() && !emptied {
            return None;
        }
        // A lost exit's status is unknown: the last fatal signal stands.
        let killed = match status {
            Some(s) => super::cause::explains(p.killed.as_deref(), s),
            None => p.killed.as_deref().cloned(),
        };
        let how = if status.is_some() { "exit" } else { "lost" };
        let task = p.comm.task(pid);
        let gone_by = emptied.then(|| task.clone());
        if let Some(sb) = p.pause_of {
            if let Some(pause) = self.sandboxes[sb].pause.as_mut() {
                pause.exited_ns = Some(ts);
                pause.exit = status;
                pause.killed.clone_from(&killed);
            }
            if self.sandboxes[sb].ended_ns.is_none() {
                self.sandboxes[sb].last_gone = Some(Holder::task("pause", &task));
            }
            self.mark_sandbox(sb, ts);
            let what = What::PauseExited {
                pause: task.clone(),
                exit: status,
            };
            out.push(Lifecycle::new(ts, sb, what));
        }
        if let Some(c) = p.container
            && self.containers[c].left_ns.is_none()
        {
            self.containers[c].killed = killed;
            out.push(self.leave(c, false, status, how, ts, task.clone()));
        }
        if let Some(c) = p.exec_into {
            out.push(self.leave(c, true, status, how, ts, task));
        }
        gone_by
    }

    /// Container `c`'s main process (or, with `exec_session`, one of its
    /// exec sessions) left: it exited, or moved away (`how`).
    pub(super) fn leave(
        &mut self,
        c: usize,
        exec_session: bool,
        exit: Option<i32>,
        how: &'static str,
        ts: u64,
        task: Task,
    ) -> Lifecycle {
        if exec_session {
            let e = self.containers[c]
                .execs
                .iter_mut()
                .rev()
                .find(|e| e.pid == task.pid && e.left_ns.is_none());
            if let Some(e) = e {
                e.left_ns = Some(ts);
                e.exit = exit;
            }
        } else {
            self.containers[c].left_ns = Some(ts);
            self.containers[c].exit = exit;
        }
        let sb = self.containers[c].sandbox;
        if !exec_session {
            if self.sandboxes[sb].ended_ns.is_none() {
                self.sandboxes[sb].last_gone = Some(Holder::task("container", &task));
            }
            self.mark_sandbox(sb, ts);
        }
        let what = What::Left {
            container: c,
            task,
            exec_session,
            exit,
            how,
        };
        Lifecycle::new(ts, sb, what)
    }
}
