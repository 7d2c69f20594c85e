//! Visitors: tasks that enter a pod's namespaces without being its pause,
//! a container or an exec session — CNI plugins, `ip netns exec`,
//! `nsenter`, netavark, the runtime's own threads.
//!
//! A thread that `setns`es into a non-host namespace becomes a *candidate*.
//! What it does next decides:
//! - it execs a pause, or a program the join rules make a container or
//!   an exec session (see `Model::entered`): no visitor;
//! - it forks while it is a runtime step (runc's stage 1): the candidate
//!   goes to the child (stage 2), which will exec the container — the
//!   stage 1 itself is the container's making, not a visit;
//! - it execs anything else inside (`nsenter … sleep`, `ip netns exec …`):
//!   a visitor, announced at that exec, still inside;
//! - it goes back (`setns`) or exits without any of that (a CNI plugin's
//!   thread, dockerd's): a visitor, announced when it leaves.
//!
//! Announced visits are rows of their sandbox; a visit to namespaces no
//! sandbox holds yet (CNI ADD comes before the pause) waits under its
//! namespace and is attached — and its step printed, with its own time —
//! when the sandbox is recognised. Everything here is bounded: rows per
//! sandbox, waiting rows overall, and candidates by the threads alive.

use std::collections::BTreeMap;

use rustc_hash::FxHashMap as HashMap;
use tracer_common::{COMM_LEN, Ns, NsSet};

use super::ns::NsKey;
use super::{Lifecycle, Model, NsKind, Task, What};
use crate::decode::{Visitor, Who, c_str_ref, ns_in_mask};
use crate::host::proc::ProcSnapshot;

/// Rows kept per sandbox; later visits are counted, not listed.
pub const VISITS_PER_SANDBOX: usize = 256;
/// Visits waiting for their namespaces' sandbox, all namespaces together.
const PENDING_CAP: usize = 4096;
/// What /proc told about a process is reused for its later visits this
/// long (a plugin that enters twice may be gone by its second entry).
const READ_KEPT_NS: u64 = 10_000_000_000;
/// Processes whose /proc read is kept at most.
const READ_CAP: usize = 1024;
/// Pids whose status a visit waits for, at most (see `Visits::status_due`).
const STATUS_DUE_CAP: usize = 1024;

/// What /proc told about a visitor's process (a [`super::Note::Visitor`]).
#[derive(Clone, Debug)]
struct Read {
    ts_ns: u64,
    argv: Vec<String>,
    cni_command: Option<String>,
}

/// One visit: a task inside some of a sandbox's namespaces.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visit {
    pub id: u64,
    /// Its sandbox, once known.
    pub sandbox: Option<usize>,
    pub pid: u32,
    pub tid: u32,
    /// Its command when it entered, or the program it exec'd inside.
    pub comm: String,
    /// The program it exec'd inside; else its command line as /proc gave
    /// it (live, when it was still there); else empty.
    pub argv: Vec<String>,
    /// It exec'd `argv` inside the namespaces.
    pub exec_inside: bool,
    /// Inside before the trace (found by the start-up walk; `entered_ns`
    /// is then its process's start).
    pub existing: bool,
    pub joined: Vec<NsKind>,
    pub entered_ns: u64,
    pub left_ns: Option<u64>,
    /// Exit status when it left by exiting (its main thread).
    pub exit: Option<i32>,
    /// `setns`, `unshare`, `exit`; None while inside.
    pub how: Option<&'static str>,
    /// `CNI_COMMAND` from its environment, read live while it ran.
    pub cni_command: Option<String>,
    /// The namespaces it entered, by the slot that holds each.
    keys: Vec<(Ns, NsKey)>,
}

/// A thread inside pod namespaces whose role is not decided, or a visitor still inside.
#[derive(Clone, Debug)]
struct Open {
    visit: Visit,
    /// Entered by a runtime step (runc's stage 1): handed on at its fork.
    runtime: bool,
    /// Announced: the row it is (its `visit.id`).
    announced: bool,
}

/// Every visit the model knows of, and the candidates.
#[derive(Default)]
pub struct Visits {
    open: HashMap<u32, Open>,
    rows: BTreeMap<u64, Visit>,
    next: u64,
    by_sandbox: BTreeMap<usize, Vec<u64>>,
    /// Visits of a sandbox beyond [`VISITS_PER_SANDBOX`].
    not_listed: BTreeMap<usize, u64>,
    /// Announced visits whose namespaces no sandbox holds yet, under the first of them.
    pending: HashMap<NsKey, Vec<u64>>,
    pending_len: usize,
    /// Pids of new candidates whose /proc the pipeline may read (live).
    asks: Vec<u32>,
    /// The last /proc read of a process, by pid, for its later visits.
    read: HashMap<u32, Read>,
    /// Visits of a main thread that exited before its process was dead
    /// (`exit_group` in a Go program: another thread dies last, with the
    /// status), by pid: the status goes to the row when it comes.
    status_due: HashMap<u32, u64>,
}

impl Visits {
    /// A sandbox's visits, oldest first.
    pub fn of_sandbox(&self, sb: usize) -> impl Iterator<Item = &Visit> {
        self.by_sandbox
            .get(&sb)
            .into_iter()
            .flatten()
            .filter_map(|id| self.rows.get(id))
    }

    /// Visits of a sandbox that were counted but not kept.
    pub fn not_listed(&self, sb: usize) -> u64 {
        self.not_listed.get(&sb).copied().unwrap_or(0)
    }

    /// Visits waiting for a sandbox, of one namespace (the first it entered).
    pub fn pending_of(&self, k: &NsKey) -> impl Iterator<Item = &Visit> {
        self.pending
            .get(k)
            .into_iter()
            .flatten()
            .filter_map(|id| self.rows.get(id))
    }

    /// Every kept visit that entered namespace `k`, with or without a sandbox.
    pub fn of_namespace(&self, k: &NsKey) -> impl Iterator<Item = &Visit> {
        let k = *k;
        self.rows
            .values()
            .filter(move |v| v.keys.iter().any(|(_, key)| *key == k))
    }

    pub fn get(&self, id: u64) -> Option<&Visit> {
        self.rows.get(&id)
    }

    /// Pids the model would like /proc read for (environment, command
    /// line), since the last call.
    pub fn take_asks(&mut self) -> Vec<u32> {
        std::mem::take(&mut self.asks)
    }

    /// Candidates and visitors inside now (for tests and bounds).
    pub fn open_len(&self) -> usize {
        self.open.len()
    }

    pub fn pending_len(&self) -> usize {
        self.pending_len
    }

    /// What /proc told about a visitor's process, live (at trace time `now`).
    pub(super) fn noted(&mut self, pid: u32, argv: &[String], cni_command: Option<&str>, now: u64) {
        if self.read.len() >= READ_CAP {
            let cutoff = now.saturating_sub(READ_KEPT_NS);
            self.read.retain(|_, r| r.ts_ns >= cutoff);
        }
        if self.read.len() < READ_CAP {
            self.read.insert(
                pid,
                Read {
                    ts_ns: now,
                    argv: argv.to_vec(),
                    cni_command: cni_command.map(str::to_string),
                },
            );
        }
        let fill = |v: &mut Visit| {
            if v.pid != pid {
                return;
            }
            if !v.exec_inside && v.argv.is_empty() {
                v.argv = argv.to_vec();
            }
            if v.cni_command.is_none() {
                v.cni_command = cni_command.map(str::to_string);
            }
        };
        for o in self.open.values_mut() {
            fill(&mut o.visit);
            if o.announced
                && let Some(r) = self.rows.get_mut(&o.visit.id)
            {
                fill(r);
            }
        }
    }

    /// Drop the rows of sandboxes folded into the summary; how many visits they had.
    pub(super) fn forget_sandboxes(&mut self, old: &std::collections::BTreeSet<usize>) -> u64 {
        let mut visits = 0;
        for sb in old {
            let ids = self.by_sandbox.remove(sb).unwrap_or_default();
            visits += ids.len() as u64 + self.not_listed.remove(sb).unwrap_or(0);
            for id in ids {
                self.rows.remove(&id);
            }
        }
        // Visitors of those still inside stay announced: their rows are gone.
        for o in self.open.values_mut() {
            if o.visit.sandbox.is_some_and(|s| old.contains(&s)) {
                o.visit.sandbox = None;
            }
        }
        visits
    }

    /// Keep only waiting visits whose namespace `keep` still knows.
    pub(super) fn prune_pending(&mut self, mut keep: impl FnMut(&NsKey) -> bool) {
        let rows = &mut self.rows;
        let mut dropped = 0;
        self.pending.retain(|k, ids| {
            let kept = keep(k);
            if !kept {
                dropped += ids.len();
                for id in ids.iter() {
                    rows.remove(id);
                }
            }
            kept
        });
        self.pending_len -= dropped;
    }

    /// Forget candidates of threads the model no longer tracks that
    /// entered before `cutoff`, and /proc reads too old to reuse.
    pub(super) fn prune_open(&mut self, now: u64, cutoff: u64, alive: impl Fn(u32) -> bool) {
        self.open
            .retain(|tid, o| alive(*tid) || o.visit.entered_ns >= cutoff);
        let stale = now.saturating_sub(READ_KEPT_NS);
        self.read.retain(|_, r| r.ts_ns >= stale);
    }
}

/// Runtimes' own steps towards a container (runc names its stages).
fn runtime_comm(comm: &str) -> bool {
    comm.starts_with("runc:[")
        || comm.starts_with("youki")
        || matches!(comm, "runc" | "crun" | "runsc" | "conmon")
}

/// The kinds a visit is about: a pod's, its pid namespace (for children,
/// as `setns(CLONE_NEWPID)` moves it), and mount namespaces.
fn visited_kind(slot: Ns) -> bool {
    matches!(
        slot,
        Ns::Net | Ns::Ipc | Ns::Uts | Ns::PidForChildren | Ns::Mnt
    )
}

impl Model {
    /// What a task that entered another netns runs as, from the kernel
    /// (just before its setns): what a /proc read would tell, kept as one,
    /// so that its setns asks for none. Incomplete (an argv or environment
    /// the kernel could not read whole): /proc is asked, as without it.
    pub(super) fn visitor_record(&mut self, v: &Visitor) {
        if v.complete() {
            let pid = Who::of(&v.hdr).pid;
            let argv = v.argv();
            self.visits
                .noted(pid, &argv, v.cni_command.as_deref(), v.hdr.ts_ns);
        }
    }

    /// A successful setns by `who`: a candidate visit when it entered a
    /// non-host namespace and has no role yet.
    pub(super) fn visit_setns(
        &mut self,
        who: Who,
        comm: &[u8; COMM_LEN],
        before: &NsSet,
        after: &NsSet,
        ts: u64,
    ) {
        let has_role = self.procs.get(&who.pid).is_some_and(|p| {
            p.pause_of.is_some() || p.container.is_some() || p.exec_into.is_some()
        });
        if has_role {
            return;
        }
        let mut entered = Vec::new();
        for slot in ns_in_mask(after.diff(before)).filter(|s| visited_kind(*s)) {
            let i = slot as usize;
            let k = self
                .ns
                .key(NsKind::of(slot), after.inum[i], after.id[i], false);
            if after.inum[i] != 0 && !self.ns.is_host(&k) {
                entered.push((slot, k));
            }
        }
        if entered.is_empty() {
            return;
        }
        let v = &mut self.visits;
        let o = v.open.entry(who.tid).or_insert_with(|| {
            let comm = c_str_ref(comm);
            let runtime = runtime_comm(&comm);
            // Read once per process: a later visit by it reuses that read.
            let known = v
                .read
                .get(&who.pid)
                .filter(|r| ts.saturating_sub(r.ts_ns) < READ_KEPT_NS)
                .cloned();
            if !runtime && known.is_none() {
                v.asks.push(who.pid);
            }
            let (argv, cni_command) = known.map(|r| (r.argv, r.cni_command)).unwrap_or_default();
            Open {
                visit: Visit {
                    id: 0,
                    sandbox: None,
                    pid: who.pid,
                    tid: who.tid,
                    comm: comm.to_string(),
                    argv,
                    exec_inside: false,
                    existing: false,
                    joined: Vec::new(),
                    entered_ns: ts,
                    left_ns: None,
                    exit: None,
                    how: None,
                    cni_command,
                    keys: Vec::new(),
                },
                runtime,
                announced: false,
            }
        });
        for (slot, k) in entered {
            if !o.visit.keys.iter().any(|(_, key)| *key == k) {
                o.visit.keys.push((slot, k));
            }
            if !o.visit.joined.contains(&k.kind) {
                o.visit.joined.push(k.kind);
            }
        }
    }

    /// After a setns or unshare by `who`: has it left every namespace it visited?
    pub(super) fn visit_moved(
        &mut self,
        who: Who,
        after: &NsSet,
        how: &'static str,
        ts: u64,
        out: &mut Vec<Lifecycle>,
    ) {
        let Some(o) = self.visits.open.get(&who.tid) else {
            return;
        };
        let keys = o.visit.keys.clone();
        let inside = keys.iter().any(|(slot, k)| {
            let i = *slot as usize;
            after.inum[i] != 0 && self.ns.key(k.kind, after.inum[i], after.id[i], false) == *k
        });
        if !inside {
            self.visit_close(who.tid, ts, None, how, out);
        }
    }

    /// A fork by `by`: a runtime step hands its candidacy to the new
    /// process (runc stage 1 → stage 2); anyone else's child is a
    /// candidate of its own (`nsenter -p` forks what it runs).
    pub(super) fn visit_fork(&mut self, by: Who, child: Who, ts: u64) {
        if child.pid != child.tid {
            return; // a thread: part of its process's visit
        }
        // A new process: what /proc told of an earlier one with its pid is not its.
        self.visits.read.remove(&child.pid);
        let Some(o) = self.visits.open.get(&by.tid) else {
            return;
        };
        if o.announced {
            return; // a visitor's children are its own doing
        }
        let mut handed = o.clone();
        handed.visit.pid = child.pid;
        handed.visit.tid = child.tid;
        if o.runtime {
            self.visits.open.remove(&by.tid);
        } else {
            handed.visit.entered_ns = ts;
        }
        self.visits.open.insert(child.tid, handed);
    }

    /// Would [`Model::visit_exec`] of `tid` tell anything (and need its argv)?
    pub(super) fn visit_wants_exec(&self, tid: u32) -> bool {
        self.visits.open.get(&tid).is_some_and(|o| !o.announced)
    }

    /// The exec of `tid` made it a pause, a container or an exec session.
    pub(super) fn visit_has_role(&mut self, tid: u32) {
        if self.visits.open.get(&tid).is_some_and(|o| !o.announced) {
            self.visits.open.remove(&tid);
        }
    }

    /// `task` exec'd a program inside that is no container: if it is a
    /// candidate, it is a visitor from now on, announced with that program.
    pub(super) fn visit_exec(
        &mut self,
        tid: u32,
        task: &Task,
        argv: &[String],
        out: &mut Vec<Lifecycle>,
    ) {
        let Some(o) = self.visits.open.get_mut(&tid) else {
            return;
        };
        if o.announced {
            return;
        }
        o.visit.comm.clone_from(&task.comm);
        o.visit.argv = argv.to_vec();
        o.visit.exec_inside = true;
        o.announced = true;
        let visit = o.visit.clone();
        let id = self.visit_announce(visit, out);
        if let Some(o) = self.visits.open.get_mut(&tid) {
            o.visit.id = id;
        }
    }

    /// Thread `who` exited: its visit ends (with its status, for the main thread).
    pub(super) fn visit_exit(
        &mut self,
        who: Who,
        status: Option<i32>,
        ts: u64,
        out: &mut Vec<Lifecycle>,
    ) {
        let main = who.tid == who.pid;
        let exit = if main { status } else { None };
        let closed = self.visit_close(who.tid, ts, exit, "exit", out);
        let due = &mut self.visits.status_due;
        if let Some(s) = status {
            if let Some(id) = due.remove(&who.pid)
                && let Some(row) = self.visits.rows.get_mut(&id)
                && row.exit.is_none()
            {
                row.exit = Some(s);
            }
        } else if main && let Some(id) = closed {
            if due.len() >= STATUS_DUE_CAP {
                due.clear();
            }
            due.insert(who.pid, id);
        }
    }

    /// Close `tid`'s open visit; the id of its row, if it has one.
    pub(super) fn visit_close(
        &mut self,
        tid: u32,
        ts: u64,
        exit: Option<i32>,
        how: &'static str,
        out: &mut Vec<Lifecycle>,
    ) -> Option<u64> {
        let mut o = self.visits.open.remove(&tid)?;
        o.visit.left_ns = Some(ts);
        o.visit.exit = exit;
        o.visit.how = Some(how);
        if !o.announced {
            let id = self.visit_announce(o.visit, out);
            return Some(id);
        }
        let id = o.visit.id;
        let row = self.visits.rows.get_mut(&id)?;
        row.left_ns = Some(ts);
        row.exit = exit;
        row.how = Some(how);
        if let Some(sb) = row.sandbox {
            out.push(Lifecycle::new(ts, sb, What::VisitLeft { visit: row.id }));
        }
        Some(id)
    }

    /// Make `visit` a row: of its sandbox (with a step), or waiting under
    /// its first namespace. Returns its id.
    fn visit_announce(&mut self, mut visit: Visit, out: &mut Vec<Lifecycle>) -> u64 {
        let id = self.visits.next;
        self.visits.next += 1;
        visit.id = id;
        visit.sandbox = self.visited_sandbox(&visit.keys);
        match visit.sandbox {
            Some(sb) => {
                let ts = visit.entered_ns;
                if self.visit_row(sb, visit) {
                    out.push(Lifecycle::new(ts, sb, What::Visit { visit: id }));
                }
            }
            None => {
                let v = &mut self.visits;
                let first = visit
                    .keys
                    .iter()
                    .min_by_key(|(_, k)| pending_order(k.kind))
                    .map(|(_, k)| *k);
                if let Some(k) = first
                    && v.pending_len < PENDING_CAP
                {
                    v.pending.entry(k).or_default().push(id);
                    v.pending_len += 1;
                    v.rows.insert(id, visit);
                }
            }
        }
        id
    }

    /// Keep `visit` as a row of `sb`; false (counted only) past the cap.
    fn visit_row(&mut self, sb: usize, visit: Visit) -> bool {
        let v = &mut self.visits;
        let ids = v.by_sandbox.entry(sb).or_default();
        if ids.len() >= VISITS_PER_SANDBOX {
            *v.not_listed.entry(sb).or_default() += 1;
            return false;
        }
        ids.push(visit.id);
        v.rows.insert(visit.id, visit);
        true
    }

    /// The sandbox holding one of these namespaces: by its pod or pid
    /// namespaces, else a running container's mount namespace, else any
    /// of a sandbox's namespaces (the pause's mount namespace).
    fn visited_sandbox(&self, keys: &[(Ns, NsKey)]) -> Option<usize> {
        let keys: Vec<NsKey> = keys.iter().map(|(_, k)| *k).collect();
        keys.iter()
            .find_map(|k| self.holder_of(k))
            .or_else(|| {
                self.containers
                    .values()
                    .find(|c| c.left_ns.is_none() && c.mnt.is_some_and(|m| keys.contains(&m)))
                    .map(|c| c.sandbox)
            })
            .or_else(|| {
                self.sandboxes
                    .values()
                    .find(|s| s.ended_ns.is_none() && s.ns.values().any(|k| keys.contains(k)))
                    .map(|s| s.id)
            })
    }

    /// A sandbox was recognised: visits that waited for its namespaces
    /// become its rows, each step with its own time; visitors inside now
    /// that waited are its own too.
    pub(super) fn announce_visits(&mut self, sb: usize, out: &mut Vec<Lifecycle>) {
        let keys: Vec<NsKey> = self.sandboxes[sb].ns.values().copied().collect();
        let mut ids: Vec<u64> = Vec::new();
        for k in &keys {
            if let Some(mut waiting) = self.visits.pending.remove(k) {
                self.visits.pending_len -= waiting.len();
                ids.append(&mut waiting);
            }
        }
        let mut rows: Vec<Visit> = ids
            .into_iter()
            .filter_map(|id| self.visits.rows.remove(&id))
            .collect();
        rows.sort_by_key(|v| (v.entered_ns, v.id));
        for mut visit in rows {
            visit.sandbox = Some(sb);
            let (id, ts) = (visit.id, visit.entered_ns);
            if let Some(o) = self.visits.open.get_mut(&visit.tid)
                && o.announced
                && o.visit.id == id
            {
                o.visit.sandbox = Some(sb);
            }
            if self.visit_row(sb, visit) {
                out.push(Lifecycle::new(ts, sb, What::Visit { visit: id }));
            }
        }
    }
}

impl Model {
    /// A process of the start-up walk inside a sandbox's pod namespaces
    /// that is neither its pause nor a container, at the top of its tree
    /// there (its parent is elsewhere): a visitor from before the trace,
    /// inside until it leaves.
    pub(super) fn seed_visitor(
        &mut self,
        p: &ProcSnapshot,
        set: &NsSet,
        parent: Option<&NsSet>,
        now_ns: u64,
    ) {
        let Some(sb) = self.sandbox_of(set) else {
            return;
        };
        let has_role = self
            .procs
            .get(&p.pid)
            .is_some_and(|r| r.pause_of.is_some() || r.container.is_some());
        let same_as_parent = parent.is_some_and(|ps| {
            [Ns::Net, Ns::Ipc, Ns::Uts, Ns::Mnt]
                .iter()
                .all(|&s| ps.inum[s as usize] == set.inum[s as usize])
        });
        // A container's own children share its mount namespace, the
        // pause's none; anyone else under a container is its business.
        let under_container = self.containers.values().any(|c| {
            c.sandbox == sb && c.mnt.is_some() && c.mnt == self.ns.key_in(set, NsKind::Mnt)
        });
        if has_role || same_as_parent || under_container {
            return;
        }
        let mut keys = Vec::new();
        for slot in [Ns::Net, Ns::Ipc, Ns::Uts] {
            let kind = NsKind::of(slot);
            if let Some(k) = self.ns.key_in(set, kind)
                && self.sandboxes[sb].ns.get(&kind) == Some(&k)
            {
                keys.push((slot, k));
            }
        }
        if keys.is_empty() {
            return;
        }
        let visit = Visit {
            id: 0,
            sandbox: Some(sb),
            pid: p.pid,
            tid: p.pid,
            comm: p.comm.clone(),
            argv: p.argv.clone(),
            exec_inside: true,
            existing: true,
            joined: keys.iter().map(|(_, k)| k.kind).collect(),
            entered_ns: p.start_boot_ns.min(now_ns),
            left_ns: None,
            exit: None,
            how: None,
            cni_command: None,
            keys,
        };
        let id = self.visits.next;
        self.visits.next += 1;
        let open = Open {
            visit: Visit {
                id,
                ..visit.clone()
            },
            runtime: false,
            announced: true,
        };
        if self.visit_row(sb, Visit { id, ..visit }) {
            self.visits.open.insert(p.pid, open);
        }
    }
}

/// Which of a visit's namespaces it waits under: the netns first.
fn pending_order(kind: NsKind) -> u8 {
    match kind {
        NsKind::Net => 0,
        NsKind::Ipc => 1,
        NsKind::Uts => 2,
        NsKind::Pid => 3,
        _ => 4,
    }
}
