//! Processes, threads and the joins runtime tasks are making: what the
//! model remembers between events about tasks outside the host's namespaces.

use std::collections::{BTreeMap, BTreeSet};

use tracer_common::{Ns, NsSet};

use super::ns::NsKey;
use super::{Model, NsKind, Task};

/// A runtime task's setns trail into a sandbox, carried to the task it
/// forks (runc stage 1 → stage 2) until that one execs.
#[derive(Clone, Debug)]
pub(super) struct Join {
    pub first_ns: u64,
    pub sandbox: Option<usize>,
    pub kinds: BTreeSet<NsKind>,
    /// Non-host pod namespaces it joined that no sandbox holds (yet).
    pub unowned: BTreeMap<NsKind, NsKey>,
    pub by: Task,
}

impl Join {
    pub fn new(first_ns: u64, by: Task) -> Self {
        Self {
            first_ns,
            sandbox: None,
            kinds: BTreeSet::new(),
            unowned: BTreeMap::new(),
            by,
        }
    }
}

/// A process (thread group), keyed by pid; a new fork of the same pid
/// replaces it, so a reused pid never inherits its predecessor's role.
#[derive(Clone, Debug)]
pub(super) struct Proc {
    pub comm: String,
    /// A pause of this sandbox.
    pub pause_of: Option<usize>,
    /// Main process of this container.
    pub container: Option<usize>,
    /// An exec session into this container.
    pub exec_into: Option<usize>,
    /// Forked by this task at this time.
    pub forked: Option<(Task, u64)>,
    /// The last fatal signal sent to it (pauses, containers, exec sessions).
    pub killed: Option<super::Kill>,
}

impl Proc {
    pub fn new(comm: &str, forked: Option<(Task, u64)>) -> Self {
        Self {
            comm: comm.to_string(),
            pause_of: None,
            container: None,
            exec_into: None,
            forked,
            killed: None,
        }
    }
}

impl Model {
    /// The process, added if this is the first we hear of it: with the
    /// in-kernel filter on, a host task's fork never arrives, so a pause or
    /// a runtime task may first show up with its unshare, setns or exec.
    pub(super) fn proc_mut(&mut self, pid: u32, comm: &str) -> &mut Proc {
        self.procs
            .entry(pid)
            .or_insert_with(|| Proc::new(comm, None))
    }

    /// Are all of a set's pod namespaces (net, ipc, uts, pid, pid_for_children) the host's?
    fn all_host(&self, set: &NsSet) -> bool {
        [Ns::Net, Ns::Ipc, Ns::Uts, Ns::Pid, Ns::PidForChildren]
            .into_iter()
            .all(|slot| {
                self.ns.host.get(&NsKind::of(slot)).map(|k| k.inum) == Some(set.inum[slot as usize])
            })
    }

    /// Remember a thread's namespaces, only while it is outside the host's:
    /// host tasks' exits may never arrive (the in-kernel filter), and
    /// nothing about them is needed.
    pub(super) fn set_thread(&mut self, tid: u32, set: &NsSet) {
        if self.all_host(set) {
            self.threads.remove(&tid);
            self.joins.remove(&tid);
        } else {
            self.threads.insert(tid, *set);
        }
    }
}
