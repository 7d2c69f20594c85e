//! Namespace calls the kernel refused, by the namespace types asked for
//! and errno, kept with the sandbox the task was in or joining where that
//! is known:
//! - joins: a runtime's `setns` into a pod's namespace (containerd#9160,
//!   runc#4390);
//! - creations: an `unshare` or a namespace-making `clone`/`clone3`, such
//!   as a pod's namespaces refused once `user.max_net_namespaces` is
//!   reached (ENOSPC), or a runtime without the privilege (EPERM). A
//!   refused clone is seen only where its programs run (`--raw`,
//!   `--metrics`, `record`); a refused unshare always.

use std::collections::VecDeque;

use serde::Serialize;
use tracer_common::{Ns, NsChangeEvent, RET_UNREAD};

use super::{Model, NsKind, Task};
use crate::decode::flags::{split_signal, syscall_name};
use crate::decode::{Who, c_str};

/// Refusals of each sort kept at most (the oldest go first).
const KEPT: usize = 1024;

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

/// One namespace-making `unshare`, `clone` or `clone3` that failed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CreationFailure {
    pub ts_ns: u64,
    pub task: Task,
    pub syscall: &'static str,
    /// The namespace types it asked for (its `CLONE_NEW*` flags).
    pub kinds: Vec<NsKind>,
    /// The kernel's answer, as a negative errno.
    pub ret: i64,
    /// The sandbox the task was in or joining (table id), where known.
    #[serde(skip)]
    pub sandbox: Option<usize>,
}

/// The kind a `setns` nstype names (0: any).
fn kind_of(nstype: u64) -> Option<NsKind> {
    Ns::ALL
        .into_iter()
        .find(|s| s.clone_flag() == nstype)
        .map(NsKind::of)
}

/// The kinds a call's `CLONE_NEW*` flags ask for (not `clone()`'s exit
/// signal, whose bits are CLONE_NEWTIME's elsewhere).
pub fn kinds_asked(flags: u64, call: u32) -> Vec<NsKind> {
    let (_, flags) = split_signal(flags, call);
    Ns::ALL
        .into_iter()
        .filter(|&s| s != Ns::PidForChildren && flags & s.clone_flag() != 0)
        .map(NsKind::of)
        .collect()
}

fn keep<T>(kept: &mut VecDeque<T>, refusal: T) {
    if kept.len() >= KEPT {
        kept.pop_front();
    }
    kept.push_back(refusal);
}

impl Model {
    /// Who was refused `e`, and the sandbox it belongs to: the one it
    /// already shares a namespace with, or the trail of its earlier joins.
    fn refused(&mut self, e: &NsChangeEvent) -> (Task, Option<usize>) {
        let who = Who::of(&e.hdr);
        let sandbox = self
            .sandbox_of(&e.ns_before)
            .or_else(|| self.joins.get(&who.tid).and_then(|j| j.sandbox));
        (Task::new(who.pid, c_str(&e.hdr.comm)), sandbox)
    }

    /// A `setns` that failed.
    pub(super) fn setns_failed(&mut self, e: &NsChangeEvent) {
        if e.ret >= 0 || e.ret == RET_UNREAD {
            return;
        }
        let (task, sandbox) = self.refused(e);
        keep(
            &mut self.join_failures,
            JoinFailure {
                ts_ns: e.hdr.ts_ns,
                task,
                kind: kind_of(e.flags),
                ret: e.ret,
                sandbox,
            },
        );
    }

    /// An `unshare` or clone that failed; only those that asked for a
    /// namespace are kept.
    pub(super) fn creation_failed(&mut self, e: &NsChangeEvent) {
        let kinds = kinds_asked(e.flags, e.syscall);
        if e.ret >= 0 || e.ret == RET_UNREAD || kinds.is_empty() {
            return;
        }
        let (task, sandbox) = self.refused(e);
        keep(
            &mut self.creation_failures,
            CreationFailure {
                ts_ns: e.hdr.ts_ns,
                task,
                syscall: syscall_name(e.syscall),
                kinds,
                ret: e.ret,
                sandbox,
            },
        );
    }

    /// The failed joins of a sandbox (`Some`), or of none known (`None`).
    pub fn join_failures_of(&self, sb: Option<usize>) -> Vec<JoinFailure> {
        self.join_failures
            .iter()
            .filter(|f| f.sandbox == sb)
            .cloned()
            .collect()
    }

    /// The failed creations of a sandbox (`Some`), or of none known (`None`).
    pub fn creation_failures_of(&self, sb: Option<usize>) -> Vec<CreationFailure> {
        self.creation_failures
            .iter()
            .filter(|f| f.sandbox == sb)
            .cloned()
            .collect()
    }
}
