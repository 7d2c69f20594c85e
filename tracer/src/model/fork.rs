//! Fork: a new task, with the namespaces its clone created.

use tracer_common::{CLONE_NEW_MASK, ForkEvent, Ns, syscall};

use super::ns::Creation;
use super::procs::{Comm, Proc};
use super::{Lifecycle, Model};
use crate::decode::{Who, c_str, caller};

impl Model {
    pub(super) fn on_fork(&mut self, e: &ForkEvent, _out: &mut Vec<Lifecycle>) {
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
                comm: c_str(&e.hdr.comm),
                syscall: if e.syscall == syscall::CLONE3 {
                    "clone3"
                } else {
                    "clone"
                },
            };
            self.created(&e.ns, made, creation);
        }
        self.ns.move_task(child.tid, Some(&e.ns), ts);
        self.set_thread(child.tid, &e.ns);
        if child.tid == child.pid {
            let comm = Comm::Kernel(e.hdr.comm);
            let forked = (by.pid, comm.clone(), ts);
            self.procs.insert(child.pid, Proc::new(comm, Some(forked)));
        }
        self.visit_fork(by, child, ts);
        // A runtime task's join goes on in what it forks.
        if let Some(j) = self.joins.get(&by.tid).cloned() {
            self.joins.insert(child.tid, j);
        }
    }
}
