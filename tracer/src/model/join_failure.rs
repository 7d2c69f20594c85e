//! Joins that failed: a runtime's `setns` into a pod's namespace that the
//! kernel refused (containerd#9160, runc#4390), by namespace type and
//! errno, kept with the sandbox the task was joining where that is known.

use serde::Serialize;
use tracer_common::{NsChangeEvent, RET_UNREAD};

use super::{Model, NsKind, Task};
use crate::decode::{Who, c_str};

/// Failed joins kept at most (the oldest go first).
const FAILURES_CAP: usize = 1024;

/// One `setns` that failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct JoinFailure {
    pub ts_ns: u64,
    pub task: Task,
    /// The namespace type asked for (`setns`' nstype); None: any.
    pub kind: Option<NsKind>,
    /// The kernel's answer, as a negative errno.
    pub ret: i64,
    /// The sandbox the task was joining (table id), where known.
    #[serde(skip)]
    pub sandbox: Option<usize>,
}

/// The kind a `setns` nstype names (0: any).
fn kind_of(nstype: u64) -> Option<NsKind> {
    tracer_common::Ns::ALL
        .into_iter()
        .find(|s| s.clone_flag() == nstype)
        .map(NsKind::of)
}

impl Model {
    /// A `setns` that failed: which pod the task was joining is what it
    /// already shares with one, or the trail of its earlier joins.
    pub(super) fn setns_failed(&mut self, e: &NsChangeEvent) {
        if e.ret >= 0 || e.ret == RET_UNREAD {
            return;
        }
        let who = Who::of(&e.hdr);
        let sandbox = self
            .sandbox_of(&e.ns_before)
            .or_else(|| self.joins.get(&who.tid).and_then(|j| j.sandbox));
        if self.join_failures.len() >= FAILURES_CAP {
            self.join_failures.pop_front();
        }
        self.join_failures.push_back(JoinFailure {
            ts_ns: e.hdr.ts_ns,
            task: Task::new(who.pid, c_str(&e.hdr.comm)),
            kind: kind_of(e.flags),
            ret: e.ret,
            sandbox,
        });
    }

    /// The failed joins of a sandbox (`Some`), or of none known (`None`).
    pub fn join_failures_of(&self, sb: Option<usize>) -> Vec<JoinFailure> {
        self.join_failures
            .iter()
            .filter(|f| f.sandbox == sb)
            .cloned()
            .collect()
    }
}
