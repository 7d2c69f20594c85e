//! The node model: namespaces, processes, pod sandboxes and containers,
//! rebuilt from kernel events (live or recorded) and a start-up /proc walk.
//!
//! How a pod comes to be, whatever the runtime:
//! - Someone *creates* the pod's namespaces: a runc stage-1 `unshare`s them
//!   (pause under containerd/dockershim/podman), a containerd thread or
//!   podman unshares the netns, CRI-O's `pinns` makes them all.
//! - A *pause* process may then hold them: it execs `/pause` or
//!   `catatonit -P` inside them (runc's stage 2, forked by stage 1 with
//!   CLONE_PARENT — so creator and pause are linked by that clone, not by
//!   parent pids). CRI-O without an infra container has no pause at all.
//! - Containers *join*: a runtime task `setns`es into the pod's namespaces
//!   and the task it forks execs the entrypoint. An exec session
//!   (`kubectl exec`) joins a running container's mount namespace as well.
//!
//! So a sandbox is recognised by a pause exec (by name, in non-host
//! namespaces), or — without a pause — by a task joining at least two of a
//! pod's net/ipc/uts namespaces that no sandbox holds yet.
//!
//! The model is a pure function of its inputs: the same snapshot, events
//! and notes give the same sandboxes, live or from a recording.

mod cause;
mod exec;
mod exit;
mod fork;
pub mod identity;
mod join_failure;
mod names;
mod note;
pub mod ns;
mod ns_change;
mod procs;
mod query;
mod retention;
mod sandbox;
mod seed;
pub mod table;
mod types;

// Fx: these maps are keyed by kernel ids on every event; SipHash's
// flooding resistance buys nothing here and cost 6 % of the CPU.
use rustc_hash::FxHashMap as HashMap;

use tracer_common::NsSet;

use crate::decode::Event;
pub use exec::is_pause;
pub use exit::exit_status;
pub use identity::{Identity, IdentityRole};
pub use join_failure::JoinFailure;
pub use names::{Names, pod_name};
pub use ns::{Creation, NsKind};
use ns::{NsKey, NsTable};
use ns_change::Change;
use procs::{Join, Proc};
pub use table::{DurStat, Summary, Table};
pub use types::*;

/// The namespaces that make a pod: shared by its containers.
const POD_KINDS: [NsKind; 3] = [NsKind::Net, NsKind::Ipc, NsKind::Uts];

pub struct Model {
    pub ns: NsTable,
    procs: HashMap<u32, Proc>,
    /// Per thread: namespaces as last seen (for members and "left" detection).
    threads: HashMap<u32, NsSet>,
    joins: HashMap<u32, Join>,
    pub sandboxes: Table<Sandbox>,
    pub containers: Table<Container>,
    by_ns: HashMap<NsKey, usize>,
    /// Where the start-up walk left off: times before this are "before the trace".
    pub start_ns: u64,
    /// Ended sandboxes and idle namespaces are kept this long (trace time),
    /// then folded into `summary`: memory does not grow with the trace.
    pub retention_ns: u64,
    pub summary: Summary,
    /// Who sandboxes and containers are, as runtimes told (notes).
    pub names: Names,
    /// setns calls that failed, oldest first (bounded).
    join_failures: std::collections::VecDeque<JoinFailure>,
    /// Events since the last [`Model::maintain`], and its time.
    since_maintain: u32,
    last_maintain_ns: u64,
    /// Namespaces known right after it: growth past this calls it early.
    ns_after_maintain: usize,
}

/// Default for [`Model::retention_ns`]: five minutes.
pub const RETENTION_NS: u64 = 300_000_000_000;
/// Events between two passes of [`Model::maintain`].
const MAINTAIN_EVERY: u32 = 1024;
/// Namespaces without tasks and outside any sandbox kept at most (the
/// newest), whatever the retention: a namespace churn cannot grow memory.
const IDLE_NS_CAP: usize = 4096;

impl Default for Model {
    fn default() -> Self {
        Self {
            ns: NsTable::default(),
            procs: HashMap::default(),
            threads: HashMap::default(),
            joins: HashMap::default(),
            sandboxes: Table::default(),
            containers: Table::default(),
            by_ns: HashMap::default(),
            start_ns: 0,
            retention_ns: RETENTION_NS,
            summary: Summary::default(),
            names: Names::default(),
            join_failures: std::collections::VecDeque::new(),
            since_maintain: 0,
            last_maintain_ns: 0,
            ns_after_maintain: 0,
        }
    }
}

impl Model {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed one kernel event; returns the lifecycle steps it caused. One
    /// handler per kind: a new kind of record gets its own module and arm.
    pub fn event(&mut self, ev: &Event) -> Vec<Lifecycle> {
        let mut out = Vec::new();
        self.maybe_maintain(ev.ts_ns());
        match ev {
            Event::Fork(e) => self.on_fork(e, &mut out),
            Event::Exec(e) => self.on_exec(e, &mut out),
            Event::Exit(e) => self.on_exit(e, &mut out),
            Event::Unshare(e) => self.on_ns_change(Change::Unshare, e, &mut out),
            Event::Setns(e) => self.on_ns_change(Change::Setns, e, &mut out),
            Event::CloneFailed(_) => {}
            Event::Cause(c) => self.on_cause(c),
        }
        out
    }

    /// Every so many events: at most ten times per retention period,
    /// unless idle namespaces pile up faster than that.
    fn maybe_maintain(&mut self, ts: u64) {
        self.since_maintain += 1;
        if self.since_maintain >= MAINTAIN_EVERY
            && (ts >= self.last_maintain_ns + self.retention_ns / 10
                || self.ns.info.len() > self.ns_after_maintain + 2 * IDLE_NS_CAP)
        {
            self.since_maintain = 0;
            self.last_maintain_ns = ts;
            self.maintain(ts);
            self.ns_after_maintain = self.ns.info.len();
        }
    }
}

#[cfg(test)]
mod tests;
