//! Fork: a new task, with the namespaces its clone created.

use std::collections::hash_map::Entry;

use tracer_common::{CLONE_NEW_MASK, ForkEvent, Ns, syscall};

use super::ns::{Creation, Emptied};
use super::procs::{Comm, Proc};
use super::{Lifecycle, Model, Task};
use crate::decode::{Who, caller};

impl Model {
    pub(super) fn on_fork(&mut self, e: &ForkEvent, out: &mut Vec<Lifecycle>) {
        let child = Who::of(&e.hdr);
        let by = caller(e);
        let ts = e.hdr.ts_ns;
        // Creations: a namespace the clone flags asked for, where the child differs from its caller.
        let mut made = Ns::ALL
            .into_iter()
            .filter(|&slot| {
                slot != Ns::PidForChildren
                    && e.flags & CLONE_NEW_MASK & slot.clone_flag() != 0
                    && e.changed & slot.bit() != 0
            })
            .peekable();
        // Most forks create nothing (no namespace flag, or no slot
        // changed): no creation (and no copy of comm) then.
        if e.flags & CLONE_NEW_MASK != 0 && e.changed != 0 && made.peek().is_some() {
            let creation = Creation {
                ts_ns: ts,
                pid: by.pid,
                tid: by.tid,
                // The child's comm is its caller's, right after the clone.
                comm: Comm::Kernel(e.hdr.comm),
                syscall: if e.syscall == syscall::CLONE3 {
                    "clone3"
                } else {
                    "clone"
                },
            };
            self.created(&e.ns, made, creation);
        }
        let emptied = self.ns.move_task(child.tid, Some(&e.ns), ts);
        self.set_thread(child.tid, &e.ns);
        // A process the table holds under the new task's tid is gone: a
        // new process's pid, or a new thread's id (one number space).
        let mut old = None;
        let new_process = child.tid == child.pid;
        match self.procs.entry(child.tid) {
            // The start-up walk found it, after this fork: it knows more.
            Entry::Occupied(p) if p.get().forked_at(ts) => {}
            Entry::Occupied(mut p) if new_process => old = Some(p.insert(new_proc(e, by, ts))),
            Entry::Occupied(p) => old = Some(p.remove()),
            Entry::Vacant(v) if new_process => {
                v.insert(new_proc(e, by, ts));
            }
            Entry::Vacant(_) => {}
        }
        if old.is_some() || !emptied.is_empty() {
            let predecessor = Who {
                pid: child.tid,
                ..child
            };
            self.predecessor_gone(predecessor, old, emptied, ts, out);
        }
        self.visit_fork(by, child, ts);
        // A runtime task's join goes on in what it forks.
        if let Some(j) = self.joins.get(&by.tid).cloned() {
            self.joins.insert(child.tid, j);
        }
    }

    /// The table still held the new task's pid (`old`, its process) or
    /// tid (in namespaces it alone was in, `emptied` now): the task that
    /// had it is gone, its exit lost to a full ring buffer or kept in the
    /// kernel by the filter. It ends now, its status unknown.
    fn predecessor_gone(
        &mut self,
        who: Who,
        old: Option<Proc>,
        emptied: Emptied,
        ts: u64,
        out: &mut Vec<Lifecycle>,
    ) {
        self.joins.remove(&who.tid);
        let gone_by =
            old.and_then(|p| self.process_exited(who.pid, p, ts, None, !emptied.is_empty(), out));
        self.visit_close(who.tid, ts, None, "lost", out);
        if !emptied.is_empty() {
            let by = || {
                gone_by
                    .clone()
                    .unwrap_or_else(|| Task::new(who.tid, LOST_NAME))
            };
            self.after_move(emptied, by, ts, out);
        }
    }
}

/// The name of a thread whose exit was lost (the table keeps no names of threads).
const LOST_NAME: &str = "?";

/// The process a fork makes, as its event shows it.
fn new_proc(e: &ForkEvent, by: Who, ts: u64) -> Proc {
    let comm = Comm::Kernel(e.hdr.comm);
    Proc::new(comm.clone(), Some((by.pid, comm, ts)))
}
