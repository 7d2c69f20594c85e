//! `type: report`: per sandbox, its namespaces, pause, containers and
//! what does not fit. Fields are read as tests need them (docs/json.md
//! lists them all); `Lines::report_json` keeps every field for comparisons.

use serde::Deserialize;

use super::Task;

#[derive(Clone, Debug, Deserialize)]
pub struct Report {
    /// Add to any `*_ns` for Unix ns.
    pub realtime_minus_boottime_ns: i64,
    pub sandboxes: Vec<Sandbox>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Sandbox {
    /// Its number, as in lifecycle lines.
    pub sandbox: usize,
    pub pod: Option<String>,
    pub cgroup: Option<Cgroup>,
    /// Running before the trace.
    pub existing: bool,
    pub ended_ns: Option<u64>,
    pub namespaces: Vec<Namespace>,
    pub pause: Option<Pause>,
    pub containers: Vec<Container>,
    pub durations: Durations,
    pub anomalies: Vec<String>,
}

/// What a cgroup path says about a pod and container.
#[derive(Clone, Debug, Deserialize)]
pub struct Cgroup {
    pub runtime: Option<String>,
    pub pod_uid: Option<String>,
    pub container_id: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Namespace {
    /// `net`, `ipc`, `uts`, ...
    pub kind: String,
    pub inum: u64,
    pub created: Option<Creation>,
    pub existing: bool,
}

/// Who made a namespace, and how.
#[derive(Clone, Debug, Deserialize)]
pub struct Creation {
    pub ts_ns: u64,
    pub pid: u32,
    pub comm: String,
    /// `unshare`, `clone`, `clone3`.
    pub syscall: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Pause {
    pub pid: u32,
    pub argv: Vec<String>,
    /// Its exec.
    pub started_ns: Option<u64>,
    pub forked_ns: Option<u64>,
    /// Who forked it (a runc stage 1 under runc).
    pub forked_by: Option<Task>,
    pub exited_ns: Option<u64>,
    /// Shell-style exit status.
    pub exit: Option<i32>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Container {
    pub pid: u32,
    pub argv: Vec<String>,
    /// The runtime's first setns into the pod.
    pub joined_ns: Option<u64>,
    /// The entrypoint's exec.
    pub started_ns: Option<u64>,
    pub left_ns: Option<u64>,
    pub exit: Option<i32>,
    /// Pod namespaces it is in, and those it is not in (a partial join).
    pub joined: Vec<String>,
    pub missing: Vec<String>,
    pub existing: bool,
    pub cgroup: Option<Cgroup>,
    pub execs: Vec<ExecSession>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ExecSession {
    pub argv: Vec<String>,
    pub started_ns: u64,
    pub left_ns: Option<u64>,
    pub exit: Option<i32>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct Durations {
    pub pause_to_first_join_ns: Option<u64>,
}

impl Sandbox {
    /// The one namespace of this kind in the sandbox.
    pub fn namespace(&self, kind: &str) -> &Namespace {
        let all: Vec<&Namespace> = self.namespaces.iter().filter(|n| n.kind == kind).collect();
        assert_eq!(all.len(), 1, "{kind} namespaces of the sandbox: {all:?}");
        all[0]
    }

    pub fn pause(&self) -> &Pause {
        self.pause
            .as_ref()
            .unwrap_or_else(|| panic!("sandbox {} has no pause: {self:?}", self.sandbox))
    }
}
