//! `type: lifecycle`: one step of a pod sandbox, as it happens.

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
pub struct Lifecycle {
    /// The sandbox's number, as in the report.
    pub sandbox: usize,
    /// The pod id from the cgroup path.
    pub pod: Option<String>,
    #[serde(flatten)]
    pub step: Step,
}

/// A process in a lifecycle step.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct Task {
    pub pid: u32,
    pub comm: String,
}

/// What happened; fields are read as tests need them (add one here when
/// a test asserts on it: docs/json.md lists them all).
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Step {
    NamespaceCreated,
    PauseStarted {
        pause: Task,
        argv: Vec<String>,
    },
    SandboxWithoutPause,
    /// A container's entrypoint (`task`) joined the sandbox.
    ContainerJoined {
        task: Task,
    },
    ExecJoined,
    Left,
    PauseExited,
    NamespaceEmpty,
    SandboxEnded,
    #[serde(other)]
    Other,
}

impl Step {
    /// The step's `event` name.
    pub fn name(&self) -> &'static str {
        match self {
            Step::NamespaceCreated => "namespace_created",
            Step::PauseStarted { .. } => "pause_started",
            Step::SandboxWithoutPause => "sandbox_without_pause",
            Step::ContainerJoined { .. } => "container_joined",
            Step::ExecJoined => "exec_joined",
            Step::Left => "left",
            Step::PauseExited => "pause_exited",
            Step::NamespaceEmpty => "namespace_empty",
            Step::SandboxEnded => "sandbox_ended",
            Step::Other => "other",
        }
    }
}
