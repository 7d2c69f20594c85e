//! Visitors as they leave the pipeline: a sandbox's `visitors[]` rows and
//! the `visit` / `visit_left` steps, with the CNI phase worked out.

use serde::Serialize;

use super::{NsKind, Task};
use crate::model::{CniPhase, Model, Visit};

/// A task that entered the sandbox's namespaces without being its pause,
/// a container or an exec session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VisitorRow {
    pub pid: u32,
    /// The thread that entered (a Go plugin's locked thread, say).
    pub tid: u32,
    pub comm: String,
    /// What it exec'd inside, or its command line read live; may be empty.
    pub argv: Vec<String>,
    /// The sandbox's namespaces it entered.
    pub joined: Vec<NsKind>,
    pub entered_ns: u64,
    pub left_ns: Option<u64>,
    pub exit: Option<i32>,
    /// `setns`, `unshare`, `exit`; null while inside.
    pub how: Option<&'static str>,
    /// A CNI plugin's phase.
    pub cni: Option<CniPhase>,
    /// Inside before the trace began (`entered_ns` is its process's start).
    pub existing: bool,
}

/// The fields of a `visit` and `visit_left` step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VisitStep {
    pub task: Task,
    pub tid: u32,
    pub argv: Vec<String>,
    pub joined: Vec<NsKind>,
    pub entered_ns: u64,
    pub left_ns: Option<u64>,
    pub exit: Option<i32>,
    pub how: Option<&'static str>,
    pub cni: Option<CniPhase>,
}

pub fn row(m: &Model, v: &Visit) -> VisitorRow {
    VisitorRow {
        pid: v.pid,
        tid: v.tid,
        comm: v.comm.clone(),
        argv: v.argv.clone(),
        joined: v.joined.clone(),
        entered_ns: v.entered_ns,
        left_ns: v.left_ns,
        exit: v.exit,
        how: v.how,
        cni: m.cni_phase(v),
        existing: v.existing,
    }
}

/// A sandbox's visitors, oldest first.
pub fn rows(m: &Model, sb: usize) -> Vec<VisitorRow> {
    m.visits.of_sandbox(sb).map(|v| row(m, v)).collect()
}

/// The step's fields for visit `id` (empty if it is no longer kept).
pub fn step(m: &Model, id: u64) -> VisitStep {
    let Some(v) = m.visits.get(id) else {
        return VisitStep {
            task: Task::new(0, ""),
            tid: 0,
            argv: Vec::new(),
            joined: Vec::new(),
            entered_ns: 0,
            left_ns: None,
            exit: None,
            how: None,
            cni: None,
        };
    };
    let r = row(m, v);
    VisitStep {
        task: Task::new(r.pid, r.comm),
        tid: r.tid,
        argv: r.argv,
        joined: r.joined,
        entered_ns: r.entered_ns,
        left_ns: r.left_ns,
        exit: r.exit,
        how: r.how,
        cni: r.cni,
    }
}
