//! What leaves the pipeline: lifecycle [`Step`]s while tracing and the
//! [`Report`] at the end — self-contained values with names and times
//! resolved, built from the model here and nowhere else. Renderers read
//! these values and never the model.

mod anomalies;
mod attempts;
mod build;
mod deaths;
mod names;
mod refused;
mod step;
pub mod story;
mod visitors;

use serde::Serialize;

use crate::clock::Clock;
pub use crate::host::cgroup::{CgroupIds, Runtime};
pub use crate::model::{
    CniPhase, Creation, CreationFailure, DurStat, Durations, ExecSession, Gone, Holder, Identity,
    IdentityRole, JoinFailure, Kill, NsKind, Pause, Pin, PinAct, PinGone, SandboxNs, Summary, Task,
};
use crate::stats::Stats;
pub use attempts::{PreviousAttempt, exit_words, kill_words, signal_name};
pub use build::build;
pub use names::short;
pub use step::{Step, StepWhat};
pub use story::{Selector, Story};
pub use visitors::{VisitStep, VisitorRow};

/// The report at the end of a trace (`type: report` in JSON).
#[derive(Debug, PartialEq, Serialize)]
pub struct Report {
    #[serde(rename = "type")]
    pub ty: &'static str,
    /// Add to any `*_ns` time here (CLOCK_BOOTTIME) for wall-clock Unix ns.
    pub realtime_minus_boottime_ns: i128,
    pub sandboxes: Vec<SandboxReport>,
    /// Sandboxes that ended longer than the retention before the end of the trace.
    pub summarised: Summary,
    pub stats: Stats,
    /// Node-wide problems (lost events make every timeline suspect).
    pub anomalies: Vec<String>,
    /// setns calls that failed before their task had joined any pod.
    pub join_failures: Vec<JoinFailure>,
    /// unshare and clone calls that asked for namespaces and failed, by
    /// tasks in no pod (a pod's own namespaces refused land here).
    pub creation_failures: Vec<CreationFailure>,
}

impl Report {
    /// The clock that turns this report's `*_ns` times into wall-clock time.
    pub fn clock(&self) -> Clock {
        Clock {
            realtime_minus_boottime_ns: self.realtime_minus_boottime_ns,
        }
    }
}

/// One sandbox: its namespaces, pause, containers, durations, anomalies.
#[derive(Debug, PartialEq, Serialize)]
pub struct SandboxReport {
    /// Its number, as lifecycle lines give it (1-based).
    pub sandbox: usize,
    /// `#1 acc-ns/acc-pod`, `#1 pod d69444909b3b`, or `#1 net 4026532301`
    /// when no pod id is known.
    #[serde(skip)]
    pub label: String,
    /// The pod's uid (the cgroup's, else a runtime's).
    pub pod: Option<String>,
    /// `namespace/pod`, as the runtime named it.
    pub pod_name: Option<String>,
    /// The runtime and its version where it said (`containerd 1.6.20`),
    /// else the runtime the cgroup path names.
    pub runtime: Option<String>,
    /// Everything the runtime said about the sandbox (CRI, bundle labels).
    pub identity: Option<Identity>,
    /// The sandbox of the same pod this one re-created, and how it ended.
    pub previous_attempt: Option<PreviousAttempt>,
    /// The sandbox that re-created this one (its number), if any.
    pub next_attempt: Option<usize>,
    pub cgroup: Option<CgroupIds>,
    pub existing: bool,
    pub detected_ns: u64,
    pub ended_ns: Option<u64>,
    /// The holder (pause, container, pin) whose going ended it.
    pub last_holder: Option<Holder>,
    /// When its pause and containers were all gone (pins may hold it on).
    pub tasks_gone_ns: Option<u64>,
    pub namespaces: Vec<SandboxNs>,
    pub pause: Option<Pause>,
    pub containers: Vec<ContainerRow>,
    pub durations: Durations,
    /// setns calls into this sandbox's namespaces that failed.
    pub join_failures: Vec<JoinFailure>,
    /// Namespace creations refused to tasks in this sandbox.
    pub creation_failures: Vec<CreationFailure>,
    pub anomalies: Vec<String>,
    /// Tasks that entered its namespaces without being its pause, a
    /// container or an exec session (CNI plugins, `nsenter`, …), oldest first.
    pub visitors: Vec<VisitorRow>,
    /// Visits past the rows kept per sandbox: counted, not listed.
    pub visitors_not_listed: u64,
}

/// One container of a sandbox, by the name the report gives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ContainerRow {
    /// The name its runtime gave (`app`), else its runtime id (12
    /// characters) where the cgroup gave one, else `c<n>`.
    pub name: String,
    /// Its runtime id, in full, where the cgroup gave one.
    pub id: Option<String>,
    /// Everything the runtime said about the container.
    pub identity: Option<Identity>,
    pub pid: u32,
    pub comm: String,
    pub argv: Vec<String>,
    /// The runtime task's first setns into the pod (None: existed before the trace).
    pub joined_ns: Option<u64>,
    pub started_ns: Option<u64>,
    pub left_ns: Option<u64>,
    pub exit: Option<i32>,
    /// Who sent the signal it died of (or the OOM killer).
    pub killed: Option<Kill>,
    pub joined: Vec<NsKind>,
    pub missing: Vec<NsKind>,
    pub existing: bool,
    pub cgroup: Option<CgroupIds>,
    /// Exec sessions into it.
    pub execs: Vec<ExecSession>,
}

impl ContainerRow {
    /// How long it ran: from its entrypoint's start (or its join) to its
    /// leaving; None while it runs or where a time is unknown.
    pub fn ran_ns(&self) -> Option<u64> {
        self.left_ns?
            .checked_sub(self.started_ns.or(self.joined_ns)?)
    }
}

#[cfg(test)]
mod identity_tests;
