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

pub mod ns;
mod retention;
mod seed;
pub mod table;
mod types;

use std::collections::{BTreeMap, BTreeSet};

// Fx: these maps are keyed by kernel ids on every event; SipHash's
// flooding resistance buys nothing here and cost 6 % of the CPU.
use rustc_hash::FxHashMap as HashMap;

use tracer_common::{CLONE_NEW_MASK, Ns, NsSet};

use crate::decode::{Event, argv, c_str};
use crate::host::cgroup::CgroupIds;
pub use ns::{Creation, NsKind};
use ns::{NsKey, NsTable, keys_of};
pub use table::{DurStat, Summary, Table};
pub use types::*;

/// The namespaces that make a pod: shared by its containers.
const POD_KINDS: [NsKind; 3] = [NsKind::Net, NsKind::Ipc, NsKind::Uts];

/// A runtime task's setns trail into a sandbox, carried to the task it
/// forks (runc stage 1 → stage 2) until that one execs.
#[derive(Clone, Debug)]
struct Join {
    first_ns: u64,
    sandbox: Option<usize>,
    kinds: BTreeSet<NsKind>,
    /// Non-host pod namespaces it joined that no sandbox holds (yet).
    unowned: BTreeMap<NsKind, NsKey>,
    by: Task,
}

/// A process (thread group), keyed by pid; a new fork of the same pid
/// replaces it, so a reused pid never inherits its predecessor's role.
#[derive(Clone, Debug)]
struct Proc {
    comm: String,
    /// A pause of this sandbox.
    pause_of: Option<usize>,
    /// Main process of this container.
    container: Option<usize>,
    /// An exec session into this container.
    exec_into: Option<usize>,
    /// Forked by this task (tid, comm) at this time.
    forked: Option<(Task, u64)>,
}

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

/// Exit status as a shell shows it: the code, or 128 + the killing signal.
pub fn exit_status(wait_status: u32) -> i32 {
    let sig = (wait_status & 0x7f) as i32;
    if sig == 0 {
        ((wait_status >> 8) & 0xff) as i32
    } else {
        128 + sig
    }
}

/// Is this exec a pod's pause/infra process? k8s' `/pause`, podman's and
/// CRI-O's `catatonit -P`, docker's `/pause`.
pub fn is_pause(filename: &str, argv: &[String]) -> bool {
    let base = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
    let name = base(filename);
    let arg0 = argv.first().map(|a| base(a)).unwrap_or_default();
    name == "pause"
        || arg0 == "pause"
        || ((name == "catatonit" || arg0 == "catatonit") && argv.iter().any(|a| a == "-P"))
}

/// Runtime helpers that exec on the way to a container's entrypoint:
/// runc re-execs itself (`/proc/self/exe`, then a sealed copy as
/// `/dev/fd/N`) before its stages run.
fn is_runtime_step(filename: &str, comm: &str) -> bool {
    let base = filename.rsplit('/').next().unwrap_or(filename);
    comm.starts_with("runc:[")
        || comm == "runc"
        || filename.starts_with("/dev/fd/")
        || filename.starts_with("/proc/self/fd/")
        || matches!(base, "runc" | "crun" | "youki" | "runsc" | "conmon" | "exe")
}

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

    /// The process, added if this is the first we hear of it: with the
    /// in-kernel filter on, a host task's fork never arrives, so a pause or
    /// a runtime task may first show up with its unshare, setns or exec.
    fn proc_mut(&mut self, pid: u32, comm: &str) -> &mut Proc {
        self.procs.entry(pid).or_insert_with(|| Proc {
            comm: comm.to_string(),
            pause_of: None,
            container: None,
            exec_into: None,
            forked: None,
        })
    }

    /// The pod namespaces (net/ipc/uts) of a set that are not the host's; None if all are.
    fn pod_namespaces(&mut self, set: &NsSet) -> Option<BTreeMap<NsKind, NsKey>> {
        let mut m = BTreeMap::new();
        for kind in POD_KINDS {
            if let Some(k) = self.ns.key_in(set, kind)
                && !self.ns.is_host(&k)
            {
                m.insert(kind, k);
            }
        }
        (!m.is_empty()).then_some(m)
    }

    /// The live sandbox that holds one of this set's pod namespaces.
    fn sandbox_of(&mut self, set: &NsSet) -> Option<usize> {
        POD_KINDS.into_iter().find_map(|kind| {
            let k = self.ns.key_in(set, kind)?;
            self.by_ns.get(&k).copied()
        })
    }

    fn new_sandbox(&mut self, set: &NsSet, ts: u64, existing: bool) -> usize {
        let id = self.sandboxes.next_id();
        let mut ns = keys_of(&mut self.ns, set);
        ns.retain(|_, k| !self.ns.is_host(k));
        for k in ns.values() {
            if POD_KINDS.contains(&k.kind) || k.kind == NsKind::Pid {
                self.by_ns.insert(*k, id);
            }
        }
        self.sandboxes.push(|id| Sandbox {
            id,
            existing,
            detected_ns: ts,
            pause: None,
            cgroup: None,
            containers: Vec::new(),
            ended_ns: None,
            ns,
        })
    }

    /// Which pod namespaces a task shares with its sandbox, and which it lacks.
    fn compare_pod(&mut self, sb: usize, set: &NsSet) -> (Vec<NsKind>, Vec<NsKind>) {
        let mut joined = Vec::new();
        let mut missing = Vec::new();
        let pod: Vec<(NsKind, NsKey)> = self.sandboxes[sb]
            .ns
            .iter()
            .filter(|(k, _)| POD_KINDS.contains(k))
            .map(|(k, v)| (*k, *v))
            .collect();
        for (kind, key) in pod {
            if self.ns.key_in(set, kind) == Some(key) {
                joined.push(kind);
            } else {
                missing.push(kind);
            }
        }
        (joined, missing)
    }

    /// Are all of a set's pod namespaces (net, ipc, uts, pid, pid_for_children) the host's?
    fn all_host(&self, set: &NsSet) -> bool {
        [Ns::Net, Ns::Ipc, Ns::Uts, Ns::Pid, Ns::PidForChildren]
            .into_iter()
            .all(|slot| {
                self.ns.host.get(&NsKind::of(slot)).map(|k| k.inum) == Some(set.inum[slot as usize])
            })
    }

    /// Remember a thread's namespaces, only while it is outside the host's:
    /// host tasks' exits may never arrive (the in-kernel filter), and
    /// nothing about them is needed.
    fn set_thread(&mut self, tid: u32, set: &NsSet) {
        if self.all_host(set) {
            self.threads.remove(&tid);
            self.joins.remove(&tid);
        } else {
            self.threads.insert(tid, *set);
        }
    }

    /// Feed one kernel event; returns the lifecycle events it caused.
    pub fn event(&mut self, ev: &Event) -> Vec<Lifecycle> {
        let mut out = Vec::new();
        let h = ev.header();
        let ts = h.ts_ns;
        // Every so many events: at most ten times per retention period,
        // unless idle namespaces pile up faster than that.
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
        match ev {
            Event::Fork(e) => {
                // Creations: a namespace the clone flags asked for, where the child differs from its caller.
                for slot in Ns::ALL {
                    let kind = NsKind::of(slot);
                    if slot == Ns::PidForChildren
                        || e.flags & CLONE_NEW_MASK & slot.clone_flag() == 0
                        || e.changed & slot.bit() == 0
                    {
                        continue;
                    }
                    let (inum, id) = (e.ns.inum[slot as usize], e.ns.id[slot as usize]);
                    let k = self.ns.key(kind, inum, id, true);
                    self.ns.created(
                        k,
                        id,
                        Creation {
                            ts_ns: ts,
                            pid: e.caller_tgid,
                            tid: e.caller_pid,
                            comm: c_str(&h.comm),
                            syscall: if e.syscall == tracer_common::syscall::CLONE3 {
                                "clone3"
                            } else {
                                "clone"
                            },
                        },
                    );
                }
                self.ns.move_task(h.pid, None, Some(&e.ns), ts);
                self.set_thread(h.pid, &e.ns);
                let by = Task {
                    pid: e.caller_tgid,
                    comm: c_str(&h.comm),
                };
                if h.pid == h.tgid {
                    self.procs.insert(
                        h.tgid,
                        Proc {
                            comm: c_str(&h.comm),
                            pause_of: None,
                            container: None,
                            exec_into: None,
                            forked: Some((by, ts)),
                        },
                    );
                }
                // A runtime task's join goes on in what it forks.
                if let Some(j) = self.joins.get(&e.caller_pid).cloned() {
                    self.joins.insert(h.pid, j);
                }
            }
            Event::Unshare(e) | Event::Setns(e) => {
                if e.ret != 0 {
                    return out;
                }
                let changed = e.ns.diff(&e.ns_before);
                let is_unshare = matches!(ev, Event::Unshare(_));
                self.proc_mut(h.tgid, &c_str(&h.comm));
                if is_unshare {
                    for slot in crate::decode::ns_in_mask(changed) {
                        let kind = NsKind::of(slot);
                        let (inum, id) = (e.ns.inum[slot as usize], e.ns.id[slot as usize]);
                        let k = self.ns.key(kind, inum, id, true);
                        self.ns.created(
                            k,
                            id,
                            Creation {
                                ts_ns: ts,
                                pid: h.tgid,
                                tid: h.pid,
                                comm: c_str(&h.comm),
                                syscall: "unshare",
                            },
                        );
                    }
                } else {
                    self.note_join(h.pid, h.tgid, &c_str(&h.comm), &e.ns, changed, ts);
                }
                let emptied = self
                    .ns
                    .move_task(h.pid, Some(&e.ns_before), Some(&e.ns), ts);
                self.threads.insert(h.pid, e.ns);
                // A container's main process moving out of its pod has left it.
                if let Some(c) = self.procs.get(&h.tgid).and_then(|p| p.container)
                    && self.containers[c].left_ns.is_none()
                {
                    let sb = self.containers[c].sandbox;
                    let (_, missing) = self.compare_pod(sb, &e.ns);
                    if missing.len() > self.containers[c].missing.len() {
                        let how = if is_unshare { "unshare" } else { "setns" };
                        out.push(self.leave(c, false, None, how, ts, h.tgid, c_str(&h.comm)));
                    }
                }
                self.namespaces_emptied(emptied, ts, &mut out);
            }
            Event::Exec(e) => {
                let filename = c_str(&e.filename);
                let args = argv(e);
                let comm = c_str(&h.comm);
                self.proc_mut(h.tgid, &comm).comm = comm.clone();
                if is_pause(&filename, &args) && self.pod_namespaces(&e.ns).is_some() {
                    self.pause_started(h.tgid, &comm, args, &e.ns, ts, &mut out);
                } else if !is_runtime_step(&filename, &comm)
                    && let Some(mut j) = self.joins.remove(&h.pid)
                {
                    self.sandbox_without_pause(&mut j, &mut out);
                    self.entered(h.tgid, &comm, args, &e.ns, j, ts, &mut out);
                }
            }
            Event::Exit(e) => {
                self.joins.remove(&h.pid);
                let before = self.threads.remove(&h.pid).unwrap_or(e.ns);
                let emptied = self.ns.move_task(h.pid, Some(&before), None, ts);
                if e.group_dead != 0
                    && let Some(p) = self.procs.remove(&h.tgid)
                {
                    let status = exit_status(e.exit_code);
                    if let Some(sb) = p.pause_of {
                        if let Some(pause) = self.sandboxes[sb].pause.as_mut() {
                            pause.exited_ns = Some(ts);
                            pause.exit = Some(status);
                        }
                        out.push(Lifecycle::new(
                            ts,
                            sb,
                            What::PauseExited {
                                pause: Task {
                                    pid: h.tgid,
                                    comm: p.comm.clone(),
                                },
                                exit: status,
                            },
                        ));
                    }
                    if let Some(c) = p.container
                        && self.containers[c].left_ns.is_none()
                    {
                        out.push(self.leave(
                            c,
                            false,
                            Some(status),
                            "exit",
                            ts,
                            h.tgid,
                            p.comm.clone(),
                        ));
                    }
                    if let Some(c) = p.exec_into {
                        out.push(self.leave(
                            c,
                            true,
                            Some(status),
                            "exit",
                            ts,
                            h.tgid,
                            p.comm.clone(),
                        ));
                    }
                    for sb in p
                        .pause_of
                        .into_iter()
                        .chain(p.container.map(|c| self.containers[c].sandbox))
                    {
                        self.maybe_end(sb, ts, &mut out);
                    }
                }
                self.namespaces_emptied(emptied, ts, &mut out);
            }
            Event::CloneFailed(_) => {}
        }
        out
    }

    /// A setns by thread `tid`: remember which pod namespaces it entered.
    fn note_join(&mut self, tid: u32, pid: u32, comm: &str, set: &NsSet, changed: u32, ts: u64) {
        for slot in crate::decode::ns_in_mask(changed) {
            let kind = NsKind::of(slot);
            // setns(CLONE_NEWPID) moves pid_for_children, never the task's own pid ns.
            if slot == Ns::Pid
                || !(POD_KINDS.contains(&kind) || kind == NsKind::Pid || kind == NsKind::Mnt)
            {
                continue;
            }
            let i = slot as usize;
            let k = self.ns.key(kind, set.inum[i], set.id[i], false);
            if self.ns.is_host(&k) {
                continue;
            }
            let sandbox = self.by_ns.get(&k).copied();
            let j = self.joins.entry(tid).or_insert_with(|| Join {
                first_ns: ts,
                sandbox: None,
                kinds: BTreeSet::new(),
                unowned: BTreeMap::new(),
                by: Task {
                    pid,
                    comm: comm.to_string(),
                },
            });
            j.kinds.insert(kind);
            match sandbox {
                Some(sb) => j.sandbox = Some(sb),
                None if POD_KINDS.contains(&kind) => {
                    j.unowned.insert(kind, k);
                }
                None => {}
            }
        }
    }

    /// No pause holds the pod namespaces this join entered: with two or more
    /// of them (CRI-O's pins), they make a sandbox of their own.
    fn sandbox_without_pause(&mut self, j: &mut Join, out: &mut Vec<Lifecycle>) {
        if j.sandbox.is_some() || j.unowned.len() < 2 {
            return;
        }
        let mut pod_set = NsSet::default();
        for (kind, k) in &j.unowned {
            let i = kind.slot() as usize;
            pod_set.inum[i] = k.inum;
            pod_set.id[i] = self.ns.info.get(k).map(|n| n.id).unwrap_or(0);
        }
        let sb = self.new_sandbox(&pod_set, j.first_ns, false);
        self.announce_namespaces(sb, out);
        out.push(Lifecycle::new(
            j.first_ns,
            sb,
            What::SandboxWithoutPause { by: j.by.clone() },
        ));
        j.sandbox = Some(sb);
    }

    /// One `NamespaceCreated` per sandbox namespace whose creation we saw, in time order.
    fn announce_namespaces(&mut self, sb: usize, out: &mut Vec<Lifecycle>) {
        let mut made: Vec<(NsKey, Creation)> = self.sandboxes[sb]
            .ns
            .values()
            .filter_map(|k| Some((*k, self.ns.info.get(k)?.created.clone()?)))
            .collect();
        made.sort_by_key(|(k, c)| (c.ts_ns, *k));
        for (k, c) in made {
            {
                out.push(Lifecycle::new(
                    c.ts_ns,
                    sb,
                    What::NamespaceCreated {
                        kind: k.kind,
                        inum: k.inum,
                        by: Task {
                            pid: c.pid,
                            comm: c.comm.clone(),
                        },
                        syscall: c.syscall,
                    },
                ));
            }
        }
    }

    fn pause_started(
        &mut self,
        pid: u32,
        comm: &str,
        args: Vec<String>,
        set: &NsSet,
        ts: u64,
        out: &mut Vec<Lifecycle>,
    ) {
        let sb = match self.sandbox_of(set) {
            Some(sb)
                if self.sandboxes[sb]
                    .pause
                    .as_ref()
                    .is_some_and(|p| p.exited_ns.is_none()) =>
            {
                return;
            }
            Some(sb) => sb,
            None => {
                let sb = self.new_sandbox(set, ts, false);
                self.announce_namespaces(sb, out);
                sb
            }
        };
        let forked = self.procs.get(&pid).and_then(|p| p.forked.clone());
        self.sandboxes[sb].pause = Some(Pause {
            pid,
            comm: comm.to_string(),
            argv: args.clone(),
            started_ns: Some(ts),
            forked_ns: forked.as_ref().map(|f| f.1),
            forked_by: forked.map(|f| f.0),
            exited_ns: None,
            exit: None,
        });
        if let Some(p) = self.procs.get_mut(&pid) {
            p.pause_of = Some(sb);
        }
        out.push(Lifecycle::new(
            ts,
            sb,
            What::PauseStarted {
                pause: Task {
                    pid,
                    comm: comm.to_string(),
                },
                argv: args,
            },
        ));
    }

    /// A joined task (or what it forked) exec'd its program: a new container
    /// or an exec session into a running one.
    #[allow(clippy::too_many_arguments)]
    fn entered(
        &mut self,
        pid: u32,
        comm: &str,
        args: Vec<String>,
        set: &NsSet,
        j: Join,
        ts: u64,
        out: &mut Vec<Lifecycle>,
    ) {
        let Some(sb) = j.sandbox.or_else(|| self.sandbox_of(set)) else {
            return;
        };
        // A container has a mount namespace of its own (or, for an exec
        // session, its container's). Tools that only visit a pod's netns
        // from the host — CNI plugins, netavark's iptables, `ip netns
        // exec` — run in the host's and are no container.
        let mnt = self.ns.key_in(set, NsKind::Mnt);
        if mnt.is_none_or(|m| self.ns.is_host(&m)) || self.compare_pod(sb, set).0.is_empty() {
            return;
        }
        let task = Task {
            pid,
            comm: comm.to_string(),
        };
        // Inside a running container's mount namespace: an exec session.
        let target = self.sandboxes[sb].containers.iter().copied().find(|&c| {
            self.containers[c].left_ns.is_none()
                && self.containers[c].mnt.is_some()
                && self.containers[c].mnt == mnt
        });
        if let Some(c) = target {
            self.containers[c].execs.push(ExecSession {
                pid,
                argv: args.clone(),
                started_ns: ts,
                left_ns: None,
                exit: None,
            });
            if let Some(p) = self.procs.get_mut(&pid) {
                p.exec_into = Some(c);
            }
            out.push(Lifecycle::new(
                ts,
                sb,
                What::ExecJoined {
                    container: c,
                    task,
                    argv: args,
                },
            ));
            return;
        }
        let (joined, missing) = self.compare_pod(sb, set);
        let c = self.containers.push(|c| Container {
            id: c,
            sandbox: sb,
            pid,
            comm: comm.to_string(),
            argv: args.clone(),
            joined_ns: Some(j.first_ns),
            started_ns: Some(ts),
            left_ns: None,
            exit: None,
            joined: joined.clone(),
            missing: missing.clone(),
            existing: false,
            cgroup: None,
            mnt,
            execs: Vec::new(),
        });
        self.sandboxes[sb].containers.push(c);
        if let Some(p) = self.procs.get_mut(&pid) {
            p.container = Some(c);
        }
        out.push(Lifecycle::new(
            ts,
            sb,
            What::ContainerJoined {
                container: c,
                task,
                argv: args,
                joined,
                missing,
                joined_ns: j.first_ns,
            },
        ));
    }

    #[allow(clippy::too_many_arguments)]
    fn leave(
        &mut self,
        c: usize,
        exec_session: bool,
        exit: Option<i32>,
        how: &'static str,
        ts: u64,
        pid: u32,
        comm: String,
    ) -> Lifecycle {
        if exec_session {
            let e = self.containers[c]
                .execs
                .iter_mut()
                .rev()
                .find(|e| e.pid == pid && e.left_ns.is_none());
            if let Some(e) = e {
                e.left_ns = Some(ts);
                e.exit = exit;
            }
        } else {
            self.containers[c].left_ns = Some(ts);
            self.containers[c].exit = exit;
        }
        let sb = self.containers[c].sandbox;
        Lifecycle::new(
            ts,
            sb,
            What::Left {
                container: c,
                task: Task { pid, comm },
                exec_session,
                exit,
                how,
            },
        )
    }

    fn maybe_end(&mut self, sb: usize, ts: u64, out: &mut Vec<Lifecycle>) {
        let s = &self.sandboxes[sb];
        if s.ended_ns.is_some() {
            return;
        }
        let pause_gone = s.pause.as_ref().is_none_or(|p| p.exited_ns.is_some());
        let all_left = s
            .containers
            .iter()
            .all(|&c| self.containers[c].left_ns.is_some());
        if pause_gone && all_left {
            self.sandboxes[sb].ended_ns = Some(ts);
            out.push(Lifecycle::new(ts, sb, What::SandboxEnded));
        }
    }

    fn namespaces_emptied(&mut self, emptied: Vec<NsKey>, ts: u64, out: &mut Vec<Lifecycle>) {
        for k in emptied {
            if let Some(&sb) = self.by_ns.get(&k)
                && self.sandboxes[sb].ns.get(&k.kind) == Some(&k)
            {
                out.push(Lifecycle::new(
                    ts,
                    sb,
                    What::NamespaceEmpty {
                        kind: k.kind,
                        inum: k.inum,
                    },
                ));
            }
        }
    }

    /// When the sandbox's first namespace was made, as far as the trace saw.
    pub fn first_creation(&self, sb: usize) -> Option<u64> {
        self.sandboxes[sb]
            .ns
            .values()
            .filter_map(|k| self.ns.info.get(k)?.created.as_ref().map(|c| c.ts_ns))
            .min()
    }

    /// The durations that matter for a sandbox's start-up and life.
    pub fn durations(&self, sb: usize) -> Durations {
        let s = &self.sandboxes[sb];
        let since = |later: Option<u64>, earlier: Option<u64>| later?.checked_sub(earlier?);
        let created = self.first_creation(sb);
        let pause = s.pause.as_ref().and_then(|p| p.started_ns);
        let first_join = s
            .containers
            .iter()
            .filter_map(|&c| self.containers[c].joined_ns)
            .min();
        Durations {
            namespaces_to_pause_ns: since(pause, created),
            pause_to_first_join_ns: since(first_join, pause),
            namespaces_to_first_join_ns: since(first_join, created),
            lifetime_ns: since(s.ended_ns, created.or(pause)),
        }
    }

    /// Feed a note (cgroup ids, pins) learned beside the kernel events.
    pub fn note(&mut self, n: &Note) {
        match n {
            Note::Cgroup { pid, ids } => {
                let Some(p) = self.procs.get(pid) else { return };
                if let Some(sb) = p.pause_of {
                    self.sandboxes[sb].cgroup = Some(ids.clone());
                }
                if let Some(c) = p.container {
                    self.containers[c].cgroup = Some(ids.clone());
                    let sb = self.containers[c].sandbox;
                    if self.sandboxes[sb].cgroup.is_none() {
                        self.sandboxes[sb].cgroup = Some(CgroupIds {
                            container_id: None,
                            ..ids.clone()
                        });
                    }
                }
            }
            Note::Pins { kind, inum, paths } => {
                let key = self
                    .ns
                    .info
                    .keys()
                    .filter(|k| k.kind == *kind && k.inum == *inum)
                    .max()
                    .copied();
                if let Some(k) = key
                    && let Some(info) = self.ns.info.get_mut(&k)
                {
                    info.pinned_by = paths.clone();
                }
            }
        }
    }

    /// The namespaces of a sandbox with what the table knows of each.
    pub fn sandbox_namespaces(&self, sb: usize) -> Vec<SandboxNs> {
        self.sandboxes[sb]
            .ns
            .values()
            .map(|k| {
                let info = self.ns.info.get(k);
                SandboxNs {
                    kind: k.kind,
                    inum: k.inum,
                    id: info.map(|i| i.id).unwrap_or(0),
                    created: info.and_then(|i| i.created.clone()),
                    existing: info.is_some_and(|i| i.existing),
                    emptied_ns: info.and_then(|i| i.emptied_ns),
                    pinned_by: info.map(|i| i.pinned_by.clone()).unwrap_or_default(),
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
