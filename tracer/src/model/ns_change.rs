//! unshare and setns: namespaces created, joined or left by a thread.

use tracer_common::{COMM_LEN, Ns, NsChangeEvent, NsSet};

use super::ns::Creation;
use super::procs::{Comm, Join};
use super::{Lifecycle, Model, NsKind, POD_KINDS, Task};
use crate::decode::{Who, c_str_ref, ns_in_mask};

/// Which of the two a [`NsChangeEvent`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Change {
    Unshare,
    Setns,
}

impl Model {
    pub(super) fn on_ns_change(
        &mut self,
        how: Change,
        e: &NsChangeEvent,
        out: &mut Vec<Lifecycle>,
    ) {
        if e.ret != 0 {
            match how {
                Change::Setns => self.setns_failed(e),
                Change::Unshare => self.creation_failed(e),
            }
            return;
        }
        let who = Who::of(&e.hdr);
        let ts = e.hdr.ts_ns;
        // Named only where asked for: most changes keep no name.
        let task = || Task::new(who.pid, c_str_ref(&e.hdr.comm));
        let changed = e.ns.diff(&e.ns_before);
        self.proc_mut(who.pid, &e.hdr.comm);
        match how {
            Change::Unshare => {
                let creation = Creation {
                    ts_ns: ts,
                    pid: who.pid,
                    tid: who.tid,
                    comm: Comm::Kernel(e.hdr.comm),
                    syscall: "unshare",
                };
                self.created(&e.ns, ns_in_mask(changed), creation);
            }
            Change::Setns => {
                self.note_join(who, &e.hdr.comm, &e.ns, changed, ts);
                self.visit_setns(who, &e.hdr.comm, &e.ns_before, &e.ns, ts);
            }
        }
        let emptied = self.ns.move_task(who.tid, Some(&e.ns), ts);
        self.threads.insert(who.tid, e.ns);
        // A container's main process moving out of its pod has left it.
        if let Some(c) = self.procs.get(&who.pid).and_then(|p| p.container)
            && self.containers[c].left_ns.is_none()
        {
            let sb = self.containers[c].sandbox;
            let (_, missing) = self.compare_pod(sb, &e.ns);
            if missing.len() > self.containers[c].missing.len() {
                let how = match how {
                    Change::Unshare => "unshare",
                    Change::Setns => "setns",
                };
                out.push(self.leave(c, false, None, how, ts, task()));
            }
        }
        let how = match how {
            Change::Unshare => "unshare",
            Change::Setns => "setns",
        };
        self.visit_moved(who, &e.ns, how, ts, out);
        // Nothing to tell when nothing emptied.
        if !emptied.is_empty() {
            self.after_move(emptied, task, ts, out);
        }
    }

    /// A setns by a thread: remember which pod namespaces it entered.
    fn note_join(&mut self, who: Who, comm: &[u8; COMM_LEN], set: &NsSet, changed: u32, ts: u64) {
        for slot in ns_in_mask(changed) {
            let kind = NsKind::of(slot);
            // setns(CLONE_NEWPID) moves pid_for_children, never the task's own pid ns.
            if slot == Ns::Pid
                || !(POD_KINDS.contains(&kind) || kind == NsKind::Pid || kind == NsKind::Mnt)
            {
                continue;
            }
            let i = slot as usize;
            let k = self.ns.key(kind, set.inum[i], set.id[i], false);
            if self.ns.is_host(&k) {
                continue;
            }
            let sandbox = self.holder_of(&k);
            let j = self
                .joins
                .entry(who.tid)
                .or_insert_with(|| Join::new(ts, Task::new(who.pid, c_str_ref(comm))));
            j.kinds.insert(kind);
            match sandbox {
                Some(sb) => j.sandbox = Some(sb),
                None if POD_KINDS.contains(&kind) => {
                    j.unowned.insert(kind, k);
                }
                None => {}
            }
        }
    }
}
