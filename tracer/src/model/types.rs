//! The model's public vocabulary: lifecycle steps, sandboxes, pauses,
//! containers, and the notes userspace adds beside kernel events.

use serde::{Deserialize, Serialize};

use super::ns::{Creation, NsKey, NsKind};
use super::pin::{Gone, Holder, Pin, PinAct};
use super::verify::Mounts;
use crate::host::cgroup::CgroupIds;

/// What userspace learned beside the kernel's events; recorded with them
/// so a replay rebuilds exactly what the live run did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "note", rename_all = "snake_case")]
pub enum Note {
    /// `/proc/<pid>/cgroup` of a pause or container process, read right after its exec.
    Cgroup { pid: u32, ids: CgroupIds },
    /// nsfs bind mounts holding a namespace whose last member left, in
    /// the tracer's mount namespace (recordings before the holder ledger;
    /// read, no longer written: see [`Note::Mounts`]).
    Pins {
        kind: NsKind,
        inum: u32,
        paths: Vec<String>,
    },
    /// What mountinfo showed of some namespaces' pins, read in one task of
    /// each mount namespace that may hold one (the verification read).
    Mounts(Mounts),
    /// Trace time went on without an event: verdicts due by then (a leak's
    /// grace) are given.
    Time { ts_ns: u64 },
    /// A runtime's word on who a sandbox or container is (CRI, Docker, a bundle's labels).
    Identity(super::Identity),
    /// /proc of a task that entered pod namespaces without being a
    /// container, read as its setns was processed: its command line and
    /// the `CNI_COMMAND` of its environment (a CNI plugin's ADD or DEL).
    Visitor {
        pid: u32,
        argv: Vec<String>,
        cni_command: Option<String>,
    },
}

/// Who ended a process with a signal: the task that sent the fatal
/// signal (the one running when the kernel generated it), or the OOM killer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Kill {
    pub signal: i32,
    /// The sender; for the OOM killer, the task whose allocation invoked it.
    pub by: Task,
    pub ts_ns: u64,
    /// The OOM killer chose it.
    pub oom: bool,
}

/// A process reference in lifecycle events and reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Task {
    pub pid: u32,
    pub comm: String,
}

impl Task {
    pub fn new(pid: u32, comm: impl Into<String>) -> Self {
        Self {
            pid,
            comm: comm.into(),
        }
    }
}

/// What happened to a sandbox, in time order: the model's own record, by
/// table ids; `report::Step` is what leaves the pipeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lifecycle {
    pub ts_ns: u64,
    pub sandbox: usize,
    pub what: What,
}

impl Lifecycle {
    pub fn new(ts_ns: u64, sandbox: usize, what: What) -> Self {
        Self {
            ts_ns,
            sandbox,
            what,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum What {
    /// One of the sandbox's namespaces was created (reported once the
    /// sandbox is recognised, with the creation's own time).
    NamespaceCreated {
        kind: NsKind,
        inum: u32,
        by: Task,
        syscall: &'static str,
    },
    /// A pause/infra process started (its exec).
    PauseStarted { pause: Task, argv: Vec<String> },
    /// A sandbox without a pause process was recognised (CRI-O's pinned namespaces).
    SandboxWithoutPause { by: Task },
    /// A container's runtime task joined the sandbox; its entrypoint started.
    ContainerJoined {
        container: usize,
        task: Task,
        argv: Vec<String>,
        joined: Vec<NsKind>,
        /// Pod namespaces the container is not in: a partial join.
        missing: Vec<NsKind>,
        joined_ns: u64,
    },
    /// An exec session (`podman exec`, `kubectl exec`) entered a container.
    ExecJoined {
        container: usize,
        task: Task,
        argv: Vec<String>,
    },
    /// A container's main process or an exec session ended, or moved away.
    Left {
        container: usize,
        task: Task,
        exec_session: bool,
        /// Exit status (0-255) or the killing signal as 128+n; `None` when
        /// it moved away, or its exit was lost.
        exit: Option<i32>,
        /// `exit`, `setns`, `unshare`, or `lost`: its exit event was lost
        /// (a full ring buffer), seen when its pid came back.
        how: &'static str,
    },
    PauseExited {
        pause: Task,
        /// As for [`What::Left`]; `None` when its exit was lost.
        exit: Option<i32>,
    },
    /// The last member of one of the sandbox's namespaces left.
    NamespaceEmpty { kind: NsKind, inum: u32 },
    /// The pause is gone, every container has left and no pin anchors it
    /// (its holder that went last: [`Sandbox::last_holder`]).
    SandboxEnded,
    /// A bind mount now pins one of the sandbox's namespaces (one made
    /// before the sandbox was recognised is told then, with its own time).
    PinAdded {
        kind: NsKind,
        inum: u32,
        path: String,
        mnt_ns: u32,
        /// Who mounted it (`None`: found by reading mountinfo).
        by: Option<Task>,
        /// `mount`, `move_mount`, `found`.
        how: &'static str,
    },
    /// A pin of one of the sandbox's namespaces went away.
    PinRemoved {
        kind: NsKind,
        inum: u32,
        path: String,
        mnt_ns: u32,
        by: Option<Task>,
        how: Gone,
    },
    /// One of the sandbox's namespaces is still pinned a grace after its
    /// last task went (or at the end of the trace): a leak.
    Leak {
        kind: NsKind,
        inum: u32,
        pin: Pin,
        /// Who made the pin (for an inherited copy: the pin it copies).
        made: Option<PinAct>,
    },
    /// A task entered the sandbox's namespaces without being its pause, a
    /// container or an exec session (a row of `Model::visits`; printed
    /// with the time it entered).
    Visit { visit: u64 },
    /// A visitor announced while inside left (went back or exited).
    VisitLeft { visit: u64 },
    /// A sandbox that ran before the trace, as the start-up walk found it
    /// (one per sandbox, when tracing begins).
    SandboxRunning,
}

/// The durations that matter for one sandbox (see [`super::Model::durations`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Durations {
    /// First namespace created → pause exec.
    pub namespaces_to_pause_ns: Option<u64>,
    /// Pause exec → first container's setns.
    pub pause_to_first_join_ns: Option<u64>,
    /// First namespace created → first container's setns.
    pub namespaces_to_first_join_ns: Option<u64>,
    /// First namespace created (or pause exec) → sandbox ended.
    pub lifetime_ns: Option<u64>,
    /// First namespace created → first CNI ADD plugin entered the pod.
    pub namespaces_to_cni_add_ns: Option<u64>,
    /// First CNI ADD plugin entered → last one left.
    pub cni_add_ns: Option<u64>,
    /// Last CNI ADD plugin left → pause exec (none when the pause came first).
    pub cni_add_to_pause_ns: Option<u64>,
    /// First CNI DEL plugin entered → last one left.
    pub cni_del_ns: Option<u64>,
    /// From the sandbox's stop (pause exit; without a pause, its last
    /// container's) to the first CNI DEL: negative when DEL came first.
    pub pause_exit_to_cni_del_ns: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Container {
    #[serde(skip)]
    pub id: usize,
    #[serde(skip)]
    pub sandbox: usize,
    pub pid: u32,
    pub comm: String,
    pub argv: Vec<String>,
    /// The runtime task's first setns into the pod (None: existed before the trace).
    pub joined_ns: Option<u64>,
    pub started_ns: Option<u64>,
    pub left_ns: Option<u64>,
    pub exit: Option<i32>,
    /// Who sent the signal it died of.
    pub killed: Option<Kill>,
    pub joined: Vec<NsKind>,
    pub missing: Vec<NsKind>,
    pub existing: bool,
    pub cgroup: Option<CgroupIds>,
    #[serde(skip)]
    pub(super) mnt: Option<NsKey>,
    /// Exec sessions into it: (pid, argv, start, end).
    pub execs: Vec<ExecSession>,
}

impl Container {
    /// A container of sandbox `sandbox` whose main process is `task`;
    /// times, joins and cgroup are filled in by who knows them.
    pub(super) fn new(
        id: usize,
        sandbox: usize,
        task: &Task,
        argv: Vec<String>,
        mnt: Option<NsKey>,
    ) -> Self {
        Self {
            id,
            sandbox,
            pid: task.pid,
            comm: task.comm.clone(),
            argv,
            joined_ns: None,
            started_ns: None,
            left_ns: None,
            exit: None,
            killed: None,
            joined: Vec::new(),
            missing: Vec::new(),
            existing: false,
            cgroup: None,
            mnt,
            execs: Vec::new(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ExecSession {
    pub pid: u32,
    pub argv: Vec<String>,
    pub started_ns: u64,
    pub left_ns: Option<u64>,
    pub exit: Option<i32>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pause {
    pub pid: u32,
    pub comm: String,
    pub argv: Vec<String>,
    /// Its exec (None: existed before the trace).
    pub started_ns: Option<u64>,
    /// Fork of the pause by its creator (runc stage 1 under runc).
    pub forked_ns: Option<u64>,
    pub forked_by: Option<Task>,
    pub exited_ns: Option<u64>,
    pub exit: Option<i32>,
    /// Who sent the signal it died of.
    pub killed: Option<Kill>,
}

impl Pause {
    /// A pause seen running; its times are filled in by who knows them.
    pub fn new(pid: u32, comm: &str, argv: Vec<String>) -> Self {
        Self {
            pid,
            comm: comm.to_string(),
            argv,
            started_ns: None,
            forked_ns: None,
            forked_by: None,
            exited_ns: None,
            exit: None,
            killed: None,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SandboxNs {
    pub kind: NsKind,
    pub inum: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub id: u64,
    pub created: Option<Creation>,
    pub existing: bool,
    pub emptied_ns: Option<u64>,
    /// Paths of the pins still mounted (at the end of the trace).
    pub pinned_by: Vec<String>,
    /// Every pin over time, in every mount namespace.
    pub pins: Vec<Pin>,
    /// No task and no pin left.
    pub freed_ns: Option<u64>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Sandbox {
    pub id: usize,
    /// Older than the trace (found by the start-up /proc walk).
    pub existing: bool,
    pub detected_ns: u64,
    pub pause: Option<Pause>,
    pub cgroup: Option<CgroupIds>,
    pub containers: Vec<usize>,
    pub ended_ns: Option<u64>,
    /// The holder whose going ended it.
    pub last_holder: Option<Holder>,
    /// When its pause and containers were all gone (pins may still hold it).
    pub tasks_gone_ns: Option<u64>,
    /// The latest holder to go (the last one, once it ended).
    #[serde(skip)]
    pub(super) last_gone: Option<Holder>,
    #[serde(skip)]
    pub(super) ns: std::collections::BTreeMap<NsKind, NsKey>,
}
