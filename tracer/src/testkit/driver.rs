//! The model driven by scenarios, as the pipeline drives it: events in,
//! lifecycle steps collected — optionally through the in-kernel filter.

use std::collections::BTreeMap;

use tracer_common::{CLONE_NEW_MASK, Ns, NsSet};

use super::make::Maker;
use super::runtime::Feed;
use super::spaces::{HOST, Spaces};
use crate::decode::Event;
use crate::host::proc::ProcSnapshot;
use crate::model::pin::same_mount_point;
use crate::model::{Lifecycle, MntRead, Model, Mounts, MountsWanted, Nsfs, What};

/// The nsfs mounts of each mount namespace (by inode) as the kernel would
/// list them, and a task in each: the host a live pipeline reads for the
/// holder ledger's verification, kept by hand in tests.
#[derive(Clone, Debug, Default)]
pub struct MountTables {
    pub mounts: BTreeMap<u32, Vec<Nsfs>>,
    /// A task (pid, comm) in each non-host mount namespace; the host's has none.
    pub tasks: BTreeMap<u32, (u32, String)>,
    /// Time of the reads: the event's own, plus this.
    pub read_delay_ns: u64,
}

impl MountTables {
    /// What a read of `want` gives now (`now`: the event's time).
    pub fn read(&self, want: &MountsWanted, now: u64) -> Mounts {
        let read = want
            .mnts
            .iter()
            .filter_map(|m| {
                let task = self.tasks.get(&m.mnt.inum);
                if !m.host && task.is_none() {
                    return None;
                }
                let nsfs =
                    self.mounts
                        .get(&m.mnt.inum)
                        .into_iter()
                        .flatten()
                        .filter(|n| {
                            want.targets
                                .iter()
                                .any(|t| t.kind == n.kind && t.inum == n.inum)
                                || want.paths.iter().any(|(mnt, p)| {
                                    *mnt == m.mnt.inum && same_mount_point(p, &n.path)
                                })
                        })
                        .cloned()
                        .collect();
                Some(MntRead {
                    mnt: m.mnt,
                    pid: task.map(|t| t.0),
                    comm: task.map(|t| t.1.clone()),
                    nsfs,
                })
            })
            .collect();
        Mounts {
            ts_ns: want.ts_ns,
            read_ns: now + self.read_delay_ns,
            targets: want.targets.clone(),
            read,
        }
    }
}

/// Feeds a model, 1 ms between events, and keeps every step it returned.
pub struct Driver {
    pub make: Maker,
    pub m: Model,
    pub out: Vec<Lifecycle>,
    /// Drop what the in-kernel filter drops: fork/exec/exit of tasks in
    /// the host's net, ipc, uts, mnt and pid namespaces (unless a fork made new ones).
    pub filter: bool,
    /// With mount tables, every verification the model asks for is read
    /// from them (as a live pipeline reads /proc), noted and settled.
    pub tables: Option<MountTables>,
    /// The notes given to the model (verification reads).
    pub notes: Vec<Mounts>,
    /// With mount tables, what the model was given, in order, as a
    /// recording keeps it: each event with its read, and time notes.
    pub fed: Vec<Fed>,
}

/// One input of a live run with mount tables (see [`Driver::fed`]).
#[derive(Clone, Debug)]
pub enum Fed {
    Event(Box<Event>, Option<Mounts>),
    Time(u64),
}

impl Driver {
    /// Give the model `ts` as trace time (a live pipeline's tick) and settle.
    pub fn time(&mut self, ts: u64) {
        self.make.ts_ns = self.make.ts_ns.max(ts);
        self.m.note(&crate::model::Note::Time { ts_ns: ts });
        self.fed.push(Fed::Time(ts));
        let out = self.m.settle();
        self.out.extend(out);
    }

    /// A model that saw only the host's init at start.
    pub fn new() -> Driver {
        let mut m = Model::new();
        m.seed(
            &[snapshot(1, 0, "systemd", &["/sbin/init"], HOST)],
            &HOST.set(),
            0,
        );
        Driver {
            make: Maker::new(1_000_000_000, 1_000_000),
            m,
            out: Vec::new(),
            filter: false,
            tables: None,
            notes: Vec::new(),
            fed: Vec::new(),
        }
    }

    /// [`Driver::new`] behind the in-kernel filter.
    pub fn filtered() -> Driver {
        Driver {
            filter: true,
            ..Driver::new()
        }
    }

    /// The steps so far, by short names (`ns`, `pause`, `join`, …).
    pub fn names(&self) -> Vec<&'static str> {
        self.out.iter().map(|l| what_name(&l.what)).collect()
    }
}

impl Default for Driver {
    fn default() -> Self {
        Self::new()
    }
}

impl Feed for Driver {
    fn maker(&mut self) -> &mut Maker {
        &mut self.make
    }

    fn feed(&mut self, ev: Event) {
        let host = |n: &NsSet| {
            [
                Ns::Net,
                Ns::Ipc,
                Ns::Uts,
                Ns::Mnt,
                Ns::Pid,
                Ns::PidForChildren,
            ]
            .iter()
            .all(|&s| n.inum[s as usize] == HOST.set().inum[s as usize])
        };
        let dropped = match &ev {
            Event::Fork(e) => e.flags & CLONE_NEW_MASK == 0 && host(&e.ns),
            Event::Exec(e) => host(&e.ns),
            Event::Exit(e) => host(&e.ns),
            _ => false,
        };
        if self.filter && dropped {
            return;
        }
        let Some(tables) = &self.tables else {
            let out = self.m.event(&ev);
            self.out.extend(out);
            return;
        };
        let out = self.m.apply(&ev);
        self.out.extend(out);
        let read = self
            .m
            .wanted_mounts()
            .map(|want| tables.read(&want, ev.ts_ns()));
        if let Some(note) = &read {
            self.m.note(&crate::model::Note::Mounts(note.clone()));
            self.notes.push(note.clone());
        }
        self.fed.push(Fed::Event(Box::new(ev), read));
        let out = self.m.settle();
        self.out.extend(out);
    }
}

fn what_name(w: &What) -> &'static str {
    match w {
        What::NamespaceCreated { .. } => "ns",
        What::PauseStarted { .. } => "pause",
        What::SandboxWithoutPause { .. } => "nopause",
        What::ContainerJoined { .. } => "join",
        What::ExecJoined { .. } => "exec",
        What::Left {
            exec_session: true, ..
        } => "exec-left",
        What::Left { .. } => "left",
        What::PauseExited { .. } => "pause-exit",
        What::NamespaceEmpty { .. } => "empty",
        What::SandboxEnded => "end",
        What::Visit { .. } => "visit",
        What::VisitLeft { .. } => "visit-left",
        What::PinAdded { .. } => "pin",
        What::PinRemoved { .. } => "unpin",
        What::Leak { .. } => "leak",
        What::SandboxRunning => "running",
    }
}

/// A process as the start-up /proc walk would have found it.
pub fn snapshot(pid: u32, ppid: u32, comm: &str, argv: &[&str], ns: Spaces) -> ProcSnapshot {
    let set = ns.set();
    ProcSnapshot {
        pid,
        ppid,
        start_boot_ns: 0,
        comm: comm.into(),
        argv: argv.iter().map(|s| s.to_string()).collect(),
        exe: argv.first().map(|s| s.to_string()),
        ns_inum: set.inum,
        ns_id: set.id,
        cgroup: None,
    }
}
