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
//! Everyone else who enters a pod's namespaces is a *visitor* (see
//! `visits`): CNI plugins, `nsenter`, `ip netns exec`, netavark, the
//! runtime's own threads. The line between container and visitor: a
//! container runs in a mount namespace of its own (an exec session in its
//! container's), made on a runtime's way (runc's stage 1 joined, then
//! stage 2 exec'd) or joining every pod namespace as runtimes do. `ip
//! netns exec` also unshares a mount namespace of its own (to remount
//! /sys), but it joined only the netns and is no runtime: a visitor.
//!
//! The model is a pure function of its inputs: the same snapshot, events
//! and notes give the same sandboxes, live or from a recording.

mod cause;
mod cni;
mod exec;
mod exit;
mod fork;
pub mod identity;
mod lookup;
mod mount;
mod names;
mod note;
pub mod ns;
mod ns_change;
pub mod pin;
mod procs;
mod query;
mod refused;
mod retention;
pub mod runtime;
mod sandbox;
mod seed;
mod settle;
pub mod table;
mod types;
pub mod verify;
mod visits;

// Fx: these maps are keyed by kernel ids on every event; SipHash's
// flooding resistance buys nothing here and cost 6 % of the CPU.
use rustc_hash::FxHashMap as HashMap;

use std::collections::BTreeSet;

use tracer_common::NsSet;

use crate::decode::Event;
pub use cni::{CniPhase, is_plugin as is_cni_plugin};
pub use exec::is_pause;
pub use exit::exit_status;
pub use identity::{Identity, IdentityRole};
pub use names::{Names, pod_name};
pub use ns::{Creation, NsKind};
use ns::{NsKey, NsTable};
use ns_change::Change;
pub use pin::{Gone, Holder, Pin, PinAct, PinGone};
pub use procs::Comm;
use procs::{Join, Proc};
pub use refused::{CreationFailure, JoinFailure};
pub use settle::LEAK_GRACE_NS;
pub use table::{DurStat, Summary, Table};
pub use types::*;
pub use verify::{MntRead, MntToRead, Mounts, MountsWanted, NsRef, Nsfs};
pub use visits::{VISITS_PER_SANDBOX, Visit, Visits};

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
    /// Where the start-up walk left off: times before this are "before the trace".
    pub start_ns: u64,
    /// Ended sandboxes and idle namespaces are kept this long (trace time),
    /// then folded into `summary`: memory does not grow with the trace.
    pub retention_ns: u64,
    pub summary: Summary,
    /// Tasks that entered pod namespaces without being containers.
    pub visits: Visits,
    /// Who sandboxes and containers are, as runtimes told (notes).
    pub names: Names,
    /// setns calls that failed, oldest first (bounded).
    join_failures: std::collections::VecDeque<JoinFailure>,
    /// unshare and clone calls that asked for namespaces and failed, the same.
    creation_failures: std::collections::VecDeque<CreationFailure>,
    /// Events since the last [`Model::maintain`], and its time.
    since_maintain: u32,
    last_maintain_ns: u64,
    /// Namespaces known right after it: growth past this calls it early.
    ns_after_maintain: usize,
    /// Trace time: the latest event or time note.
    pub now_ns: u64,
    /// Namespaces with a live pin (the holder ledger's index).
    pinned: BTreeSet<NsKey>,
    /// `open_tree` clones by (pid, fd), until `move_mount` places them.
    trees: HashMap<(u32, i32), mount::Source>,
    /// Pins whose namespace the verification read will tell.
    unresolved: Vec<mount::Unresolved>,
    /// What the last event asks the host to read.
    verify: verify::Verify,
    /// Pins a read did not find, gone unless an unmount comes first.
    vanishing: Vec<verify::Vanishing>,
    /// What changed, for [`Model::settle`].
    pending: settle::Pending,
    /// Sandboxes whose tasks are gone while a pin holds a namespace of theirs.
    leak_watch: BTreeSet<usize>,
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
            start_ns: 0,
            retention_ns: RETENTION_NS,
            summary: Summary::default(),
            visits: Visits::default(),
            names: Names::default(),
            join_failures: std::collections::VecDeque::new(),
            creation_failures: std::collections::VecDeque::new(),
            since_maintain: 0,
            last_maintain_ns: 0,
            ns_after_maintain: 0,
            now_ns: 0,
            pinned: BTreeSet::new(),
            trees: HashMap::default(),
            unresolved: Vec::new(),
            verify: verify::Verify::default(),
            vanishing: Vec::new(),
            pending: settle::Pending::default(),
            leak_watch: BTreeSet::new(),
        }
    }
}

impl Model {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed one kernel event and settle: the lifecycle steps it caused
    /// (tests, benches; no verification read — the pipeline uses
    /// [`Model::apply`], the read, then [`Model::settle`]).
    pub fn event(&mut self, ev: &Event) -> Vec<Lifecycle> {
        let mut out = self.apply(ev);
        self.verify.clear();
        out.extend(self.settle());
        out
    }

    /// Feed one kernel event: the facts it changes, and the steps they
    /// are at once. What they add up to (states, ends, verdicts) waits
    /// for [`Model::settle`], after the verification read it may ask for
    /// ([`Model::wanted_mounts`]). One handler per kind: a new kind of
    /// record gets its own module and arm.
    pub fn apply(&mut self, ev: &Event) -> Vec<Lifecycle> {
        let mut out = Vec::new();
        self.verify.clear();
        let ts = ev.ts_ns();
        self.now_ns = self.now_ns.max(ts);
        // Pins a read did not find are rare: no call for none.
        if !self.vanishing.is_empty() {
            self.expire_vanishing(ts, &mut out);
        }
        self.maybe_maintain(ts);
        match ev {
            Event::Fork(e) => self.on_fork(e, &mut out),
            Event::Exec(e) => self.on_exec(e, &mut out),
            Event::Exit(e) => self.on_exit(e, &mut out),
            Event::Unshare(e) => self.on_ns_change(Change::Unshare, e, &mut out),
            Event::Setns(e) => self.on_ns_change(Change::Setns, e, &mut out),
            Event::CloneFailed(e) => self.creation_failed(e),
            Event::Mount(m) => self.on_mount(m, &mut out),
            Event::Cause(c) => self.on_cause(c),
            Event::Visitor(v) => self.visitor_record(v),
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
mod holder_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod visit_tests;
