//! Who ended a pause or container: the sender of the fatal signal it died
//! of, or the OOM killer. Kept on the process until its exit, which takes
//! it if the exit status is that signal's.

use super::{Kill, Model, Task};
use crate::decode::{Cause, c_str};

impl Model {
    pub(super) fn on_cause(&mut self, c: &Cause) {
        let by = |h: &tracer_common::Header| Task::new(h.tgid, c_str(&h.comm));
        match c {
            Cause::Signal(e) => {
                let sig = i32::try_from(e.sig).unwrap_or(0);
                self.signalled(e.target_tgid, sig, by(&e.hdr), e.hdr.ts_ns, false);
            }
            Cause::Oom(e) => {
                self.signalled(e.victim_tgid, libc::SIGKILL, by(&e.hdr), e.hdr.ts_ns, true);
            }
            // For the host side (a cgroup id's path), not the model.
            Cause::CgroupMkdir(_) => {}
        }
    }

    /// A fatal signal for process `tgid`: kept if it is a pause, a
    /// container or an exec session (others are not followed).
    fn signalled(&mut self, tgid: u32, signal: i32, by: Task, ts_ns: u64, oom: bool) {
        let Some(p) = self.procs.get_mut(&tgid) else {
            return;
        };
        if p.pause_of.is_none() && p.container.is_none() && p.exec_into.is_none() {
            return;
        }
        // The OOM killer's own SIGKILL follows its choice: still an OOM kill.
        if p.killed
            .as_ref()
            .is_some_and(|k| k.oom && !oom && k.signal == signal)
        {
            return;
        }
        p.killed = Some(Box::new(Kill {
            signal,
            by,
            ts_ns,
            oom,
        }));
    }
}

/// The kill that explains an exit status (`128 + signal`), if any.
pub(super) fn explains(kill: Option<&Kill>, status: i32) -> Option<Kill> {
    kill.filter(|k| 128 + k.signal == status).cloned()
}
