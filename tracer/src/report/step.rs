//! Lifecycle steps as they leave the pipeline: the model's [`Lifecycle`]
//! (by table ids) resolved into a self-contained [`Step`].

use serde::Serialize;

use super::names::{container_id, container_name, label};
use super::visitors::{self, VisitStep};
use super::{NsKind, Runtime, Task};
use crate::model::ns::Shown;
use crate::model::{Gone, Holder, Lifecycle, Model, Note, PinAct, What, pod_name, runtime};

/// One step of a sandbox's life, with the sandbox's label, container
/// names and the intervals that give it context already worked out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    pub ts_ns: u64,
    /// The sandbox's number, as in the report (1-based).
    pub sandbox: usize,
    /// `#1 acc-ns/acc-pod`, `#1 pod d69444909b3b`, or `#1 net 4026532301`
    /// when no pod id is known.
    pub label: String,
    /// Pod id from the cgroup path.
    pub pod: Option<String>,
    /// `namespace/pod`, where a runtime named it.
    pub pod_name: Option<String>,
    pub what: StepWhat,
}

/// What happened. Serialised as the JSON `lifecycle` line's `event` and its
/// fields; the `*_for_ns` context is for text and is not serialised.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum StepWhat {
    /// One of the sandbox's namespaces was created (reported once the
    /// sandbox is recognised, with the creation's own time).
    NamespaceCreated {
        kind: NsKind,
        inum: u32,
        by: Task,
        syscall: &'static str,
    },
    /// A pause/infra process started (its exec).
    PauseStarted {
        pause: Task,
        argv: Vec<String>,
        /// Since the sandbox's first namespace was made.
        #[serde(skip)]
        after_namespaces_ns: Option<u64>,
        /// Who forked it (runc's stage 1).
        #[serde(skip)]
        forked_by: Option<Task>,
    },
    /// A sandbox without a pause process was recognised (CRI-O's pinned namespaces).
    SandboxWithoutPause { by: Task },
    /// A container's runtime task joined the sandbox; its entrypoint started.
    ContainerJoined {
        /// Its name in the report.
        container: String,
        /// Its runtime id, where its cgroup gave one.
        #[serde(skip_serializing_if = "Option::is_none")]
        container_id: Option<String>,
        task: Task,
        argv: Vec<String>,
        joined: Vec<NsKind>,
        /// Pod namespaces the container is not in.
        missing: Vec<NsKind>,
        /// Those of `missing` its runtime shares: a partial join (see [`crate::model::runtime`]).
        #[serde(skip)]
        partial: Vec<NsKind>,
        /// The runtime task's first setns into the pod.
        joined_ns: u64,
        /// From the pause's exec to this join.
        #[serde(skip)]
        after_pause_ns: Option<u64>,
    },
    /// An exec session (`podman exec`, `kubectl exec`) entered a container.
    ExecJoined {
        container: String,
        /// Its runtime id, where its cgroup gave one.
        #[serde(skip_serializing_if = "Option::is_none")]
        container_id: Option<String>,
        task: Task,
        argv: Vec<String>,
    },
    /// A container's main process or an exec session ended, or moved away.
    Left {
        container: String,
        /// Its runtime id, where its cgroup gave one.
        #[serde(skip_serializing_if = "Option::is_none")]
        container_id: Option<String>,
        task: Task,
        exec_session: bool,
        /// Exit status (0-255) or the killing signal as 128+n; `None` when it moved away.
        exit: Option<i32>,
        /// `exit`, `setns`, `unshare`.
        how: &'static str,
        /// Who sent the signal it died of.
        #[serde(skip_serializing_if = "Option::is_none")]
        killed: Option<crate::model::Kill>,
        /// How long it ran.
        #[serde(skip)]
        ran_for_ns: Option<u64>,
    },
    PauseExited {
        pause: Task,
        /// `null`: its exit was lost (events dropped), seen when its pid came back.
        exit: Option<i32>,
        /// Who sent the signal it died of.
        #[serde(skip_serializing_if = "Option::is_none")]
        killed: Option<crate::model::Kill>,
        #[serde(skip)]
        ran_for_ns: Option<u64>,
    },
    /// The last member of one of the sandbox's namespaces left.
    NamespaceEmpty {
        kind: NsKind,
        inum: u32,
        /// nsfs bind mounts that still hold it: empty means freed.
        pinned_by: Vec<String>,
    },
    /// The pause is gone, every container has left and no pin anchors it.
    SandboxEnded {
        #[serde(skip)]
        lived_for_ns: Option<u64>,
        /// The holder whose going ended it.
        last_holder: Option<Holder>,
    },
    /// A bind mount now pins one of the sandbox's namespaces.
    PinAdded {
        kind: NsKind,
        inum: u32,
        path: String,
        /// The mount namespace it is in (inode).
        mnt_ns: u32,
        /// Who mounted it; `None`: found by reading mountinfo.
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
    /// A namespace of the sandbox is still pinned a grace after its last task.
    Leak {
        kind: NsKind,
        inum: u32,
        path: String,
        mnt_ns: u32,
        /// A task in that mount namespace (none: the host's).
        holder: Option<Task>,
        /// Who made the pin, when (for an inherited copy: the pin it copies).
        made: Option<PinAct>,
        /// Whether the pin anchors the sandbox (else an inherited copy).
        #[serde(skip)]
        anchor: bool,
    },
    /// A task entered the sandbox's namespaces without being its pause, a
    /// container or an exec session (at the time it entered).
    Visit(VisitStep),
    /// A visitor announced while inside left.
    VisitLeft(VisitStep),
    /// A sandbox that ran before the trace (one line each at the start).
    SandboxRunning {
        /// Its pause, if it has one.
        pause: Option<Task>,
        /// Its containers' names, as in the report.
        containers: Vec<String>,
    },
}

/// A container's runtime by its cgroup, or its sandbox's (a container
/// that exited at once may have none of its own).
fn runtime_of(m: &Model, c: usize) -> Option<Runtime> {
    let c = m.containers.get(c)?;
    let own = c.cgroup.as_ref().and_then(|g| g.runtime);
    own.or_else(|| {
        let s = m.sandboxes.get(c.sandbox)?;
        s.cgroup.as_ref().and_then(|g| g.runtime)
    })
}

fn since(later: u64, earlier: Option<u64>) -> Option<u64> {
    earlier.and_then(|e| later.checked_sub(e))
}

impl Step {
    /// Resolve a step the model just returned, after the notes read for it
    /// (`_found`: cgroups, mountinfo) went into the model.
    pub fn resolve(m: &Model, l: &Lifecycle, _found: &[Note]) -> Step {
        let sb = l.sandbox;
        Step {
            ts_ns: l.ts_ns,
            sandbox: sb + 1,
            label: label(m, sb),
            pod_name: m.sandbox_identity(sb).as_ref().and_then(pod_name),
            pod: m
                .sandboxes
                .get(sb)
                .and_then(|s| s.cgroup.as_ref())
                .and_then(|c| c.pod_uid.clone()),
            what: what(m, l),
        }
    }
}

/// The model's step with names and context resolved.
fn what(m: &Model, l: &Lifecycle) -> StepWhat {
    let s = m.sandboxes.get(l.sandbox);
    let pause = s.and_then(|s| s.pause.as_ref());
    let pause_started = pause.and_then(|p| p.started_ns);
    let name = |c: usize| {
        m.containers
            .get(c)
            .map(|x| container_name(m, x))
            .unwrap_or_default()
    };
    let id = |c: usize| m.containers.get(c).and_then(container_id).map(String::from);
    match &l.what {
        What::NamespaceCreated {
            kind,
            inum,
            by,
            syscall,
        } => StepWhat::NamespaceCreated {
            kind: *kind,
            inum: *inum,
            by: by.clone(),
            syscall,
        },
        What::PauseStarted { pause: task, argv } => StepWhat::PauseStarted {
            pause: task.clone(),
            argv: argv.clone(),
            after_namespaces_ns: since(l.ts_ns, m.first_creation(l.sandbox)),
            forked_by: pause.and_then(|p| p.forked_by.clone()),
        },
        What::SandboxWithoutPause { by } => StepWhat::SandboxWithoutPause { by: by.clone() },
        What::ContainerJoined {
            container,
            task,
            argv,
            joined,
            missing,
            joined_ns,
        } => StepWhat::ContainerJoined {
            container: name(*container),
            container_id: id(*container),
            task: task.clone(),
            argv: argv.clone(),
            joined: joined.clone(),
            missing: missing.clone(),
            partial: runtime::partial(runtime_of(m, *container), missing),
            joined_ns: *joined_ns,
            after_pause_ns: since(*joined_ns, pause_started),
        },
        What::ExecJoined {
            container,
            task,
            argv,
        } => StepWhat::ExecJoined {
            container: name(*container),
            container_id: id(*container),
            task: task.clone(),
            argv: argv.clone(),
        },
        What::Left {
            container,
            task,
            exec_session,
            exit,
            how,
        } => StepWhat::Left {
            container: name(*container),
            container_id: id(*container),
            task: task.clone(),
            exec_session: *exec_session,
            exit: *exit,
            how,
            killed: if *exec_session {
                None
            } else {
                m.containers.get(*container).and_then(|c| c.killed.clone())
            },
            ran_for_ns: since(l.ts_ns, started(m, *container, *exec_session, task.pid)),
        },
        What::PauseExited { pause: task, exit } => StepWhat::PauseExited {
            pause: task.clone(),
            exit: *exit,
            killed: pause.and_then(|p| p.killed.clone()),
            ran_for_ns: since(l.ts_ns, pause_started),
        },
        What::NamespaceEmpty { kind, inum } => StepWhat::NamespaceEmpty {
            kind: *kind,
            inum: *inum,
            pinned_by: told_pins(m, l.sandbox, *kind),
        },
        What::SandboxEnded => StepWhat::SandboxEnded {
            lived_for_ns: since(l.ts_ns, born(m, l.sandbox)),
            last_holder: s.and_then(|s| s.last_holder.clone()),
        },
        What::PinAdded {
            kind,
            inum,
            path,
            mnt_ns,
            by,
            how,
        } => StepWhat::PinAdded {
            kind: *kind,
            inum: *inum,
            path: path.clone(),
            mnt_ns: *mnt_ns,
            by: by.clone(),
            how,
        },
        What::PinRemoved {
            kind,
            inum,
            path,
            mnt_ns,
            by,
            how,
        } => StepWhat::PinRemoved {
            kind: *kind,
            inum: *inum,
            path: path.clone(),
            mnt_ns: *mnt_ns,
            by: by.clone(),
            how: *how,
        },
        What::Leak {
            kind,
            inum,
            pin,
            made,
        } => StepWhat::Leak {
            kind: *kind,
            inum: *inum,
            path: pin.path.clone(),
            mnt_ns: pin.mnt.inum,
            holder: pin.holder.clone(),
            made: made.clone(),
            anchor: pin.anchor,
        },
        What::Visit { visit } => StepWhat::Visit(visitors::step(m, *visit)),
        What::VisitLeft { visit } => StepWhat::VisitLeft(visitors::step(m, *visit)),
        What::SandboxRunning => StepWhat::SandboxRunning {
            pause: pause.map(|p| Task::new(p.pid, &p.comm)),
            containers: s
                .map(|s| s.containers.iter().map(|&c| name(c)).collect())
                .unwrap_or_default(),
        },
    }
}

/// The pins a `NamespaceEmpty` step told (the state the model recorded
/// when it emitted it): none means freed.
fn told_pins(m: &Model, sb: usize, kind: NsKind) -> Vec<String> {
    m.sandbox_ns(sb, kind)
        .and_then(|i| match &i.shown {
            Some(Shown::Pinned(p)) => Some(p.clone()),
            _ => None,
        })
        .unwrap_or_default()
}

/// When a sandbox began, as far as the trace saw: its first namespace,
/// else its pause's exec, else when it was recognised (if during the trace).
fn born(m: &Model, sb: usize) -> Option<u64> {
    let s = m.sandboxes.get(sb)?;
    m.first_creation(sb)
        .or(s.pause.as_ref().and_then(|p| p.started_ns))
        .or((!s.existing).then_some(s.detected_ns))
}

/// When a container (or one of its exec sessions, by pid) started.
fn started(m: &Model, c: usize, exec_session: bool, pid: u32) -> Option<u64> {
    let c = m.containers.get(c)?;
    if exec_session {
        c.execs.iter().find(|e| e.pid == pid).map(|e| e.started_ns)
    } else {
        c.started_ns.or(c.joined_ns)
    }
}
