//! Processes, threads and the joins runtime tasks are making: what the
//! model remembers between events about tasks outside the host's namespaces.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use tracer_common::{COMM_LEN, Ns, NsSet};

use super::ns::NsKey;
use super::{Model, NsKind, Task};
use crate::decode::c_str_ref;

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

/// A task's name as the model keeps it: most come from a record's header
/// and stay its bytes, inline (a fork, an exec or a namespace's creation
/// allocates nothing for them); the text is made when asked for, as
/// [`c_str`] makes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Comm {
    Kernel([u8; COMM_LEN]),
    /// From elsewhere (the start-up walk).
    Text(Box<str>),
}

impl Comm {
    pub fn text(&self) -> Cow<'_, str> {
        match self {
            Comm::Kernel(b) => c_str_ref(b),
            Comm::Text(t) => Cow::Borrowed(t),
        }
    }

    pub fn task(&self, pid: u32) -> Task {
        Task::new(pid, self.text())
    }
}

impl std::fmt::Display for Comm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

impl serde::Serialize for Comm {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text())
    }
}

impl From<&str> for Comm {
    fn from(text: &str) -> Self {
        Comm::Text(text.into())
    }
}

/// A process (thread group), keyed by pid; a new fork of the same pid
/// replaces it, so a reused pid never inherits its predecessor's role
/// (the predecessor, whose exit was lost, ends then: see `on_fork`).
#[derive(Clone, Debug)]
pub(super) struct Proc {
    pub comm: Comm,
    /// A pause of this sandbox.
    pub pause_of: Option<usize>,
    /// Main process of this container.
    pub container: Option<usize>,
    /// An exec session into this container.
    pub exec_into: Option<usize>,
    /// Forked by this task (pid, comm) at this time.
    pub forked: Option<(u32, Comm, u64)>,
    /// The last fatal signal sent to it (pauses, containers, exec sessions;
    /// boxed: rare, and every process carries the field).
    pub killed: Option<Box<super::Kill>>,
    /// When it started, as the start-up walk read it (0: known from events).
    pub walk_start_ns: u64,
}

impl Proc {
    pub fn new(comm: Comm, forked: Option<(u32, Comm, u64)>) -> Self {
        Self {
            comm,
            pause_of: None,
            container: None,
            exec_into: None,
            forked,
            killed: None,
            walk_start_ns: 0,
        }
    }

    /// Is a fork of this pid at `ts` this process's own? Only one the
    /// start-up walk found can be forked again in the events: its fork
    /// happened while the tracer started, before the walk read it. /proc
    /// gives start times in clock ticks, rounded down; a predecessor of
    /// the pid started well before.
    pub fn forked_at(&self, ts: u64) -> bool {
        self.walk_start_ns != 0 && ts < self.walk_start_ns + WALK_START_SLACK_NS
    }
}

/// How long after its start, as /proc tells it, a process's fork event
/// may be stamped: a clock tick (10 ms at `CONFIG_HZ=100`), with room.
const WALK_START_SLACK_NS: u64 = 1_000_000_000;

impl Model {
    /// The process, added if this is the first we hear of it: with the
    /// in-kernel filter on, a host task's fork never arrives, so a pause or
    /// a runtime task may first show up with its unshare, setns or exec.
    pub(super) fn proc_mut(&mut self, pid: u32, comm: &[u8; COMM_LEN]) -> &mut Proc {
        self.procs
            .entry(pid)
            .or_insert_with(|| Proc::new(Comm::Kernel(*comm), None))
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
