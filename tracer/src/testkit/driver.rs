//! The model driven by scenarios, as the pipeline drives it: events in,
//! lifecycle steps collected — optionally through the in-kernel filter.

use tracer_common::{CLONE_NEW_MASK, Ns, NsSet};

use super::make::Maker;
use super::runtime::Feed;
use super::spaces::{HOST, Spaces};
use crate::decode::Event;
use crate::host::proc::ProcSnapshot;
use crate::model::{Lifecycle, Model, What};

/// Feeds a model, 1 ms between events, and keeps every step it returned.
pub struct Driver {
    pub make: Maker,
    pub m: Model,
    pub out: Vec<Lifecycle>,
    /// Drop what the in-kernel filter drops: fork/exec/exit of tasks in
    /// the host's net, ipc, uts and pid namespaces (unless a fork made new ones).
    pub filter: bool,
}

impl Driver {
    /// A model that saw only the host's init at start.
    pub fn new() -> Driver {
        let mut m = Model::new();
        m.seed(
            &[snapshot(1, 0, "systemd", &["/sbin/init"], HOST)],
            &HOST.set(),
            0,
        );
        Driver {
            make: Maker::new(1_000_000_000, 1_000_000),
            m,
            out: Vec::new(),
            filter: false,
        }
    }

    /// [`Driver::new`] behind the in-kernel filter.
    pub fn filtered() -> Driver {
        Driver {
            filter: true,
            ..Driver::new()
        }
    }

    /// The steps so far, by short names (`ns`, `pause`, `join`, …).
    pub fn names(&self) -> Vec<&'static str> {
        self.out.iter().map(|l| what_name(&l.what)).collect()
    }
}

impl Default for Driver {
    fn default() -> Self {
        Self::new()
    }
}

impl Feed for Driver {
    fn maker(&mut self) -> &mut Maker {
        &mut self.make
    }

    fn feed(&mut self, ev: Event) {
        let host = |n: &NsSet| {
            [Ns::Net, Ns::Ipc, Ns::Uts, Ns::Pid, Ns::PidForChildren]
                .iter()
                .all(|&s| n.inum[s as usize] == HOST.set().inum[s as usize])
        };
        let dropped = match &ev {
            Event::Fork(e) => e.flags & CLONE_NEW_MASK == 0 && host(&e.ns),
            Event::Exec(e) => host(&e.ns),
            Event::Exit(e) => host(&e.ns),
            _ => false,
        };
        if self.filter && dropped {
            return;
        }
        let out = self.m.event(&ev);
        self.out.extend(out);
    }
}

fn what_name(w: &What) -> &'static str {
    match w {
        What::NamespaceCreated { .. } => "ns",
        What::PauseStarted { .. } => "pause",
        What::SandboxWithoutPause { .. } => "nopause",
        What::ContainerJoined { .. } => "join",
        What::ExecJoined { .. } => "exec",
        What::Left {
            exec_session: true, ..
        } => "exec-left",
        What::Left { .. } => "left",
        What::PauseExited { .. } => "pause-exit",
        What::NamespaceEmpty { .. } => "empty",
        What::SandboxEnded => "end",
        What::SandboxRunning => "running",
    }
}

/// A process as the start-up /proc walk would have found it.
pub fn snapshot(pid: u32, ppid: u32, comm: &str, argv: &[&str], ns: Spaces) -> ProcSnapshot {
    let set = ns.set();
    ProcSnapshot {
        pid,
        ppid,
        start_boot_ns: 0,
        comm: comm.into(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        exe: argv.first().map(|s| s.to_string()),
        ns_inum: set.inum,
        ns_id: set.id,
        cgroup: None,
    }
}
