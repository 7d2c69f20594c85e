//! Who a new pause or container is (live runs only): its cgroup even when
//! it is already gone (from the event's cgroup id), then its names — from
//! its bundle's labels at once, and asked of CRI, whose answer comes back
//! later through [`Pipeline::note`]. All of it enters the model and the
//! recording as notes, so a replay names pods the same way with no socket.

use std::collections::{HashMap, HashSet, VecDeque};

use tokio::sync::mpsc;

use super::Pipeline;
use crate::decode::{Cause, Event, c_str};
use crate::host::cgroup::{CgroupIds, Runtime, parse_path};
use crate::host::cri::Ask;
use crate::host::{bundle, cgroup_id};
use crate::model::{IdentityRole, Lifecycle, Note, What};

/// Ids looked up at most before the set of those done is forgotten (a
/// forgotten id is looked up again if it ever comes back: harmless).
const DONE_CAP: usize = 65536;
/// cgroup paths kept from `cgroup_mkdir` records (the oldest go first).
const PATHS_CAP: usize = 16384;

/// Names pauses and containers as they appear.
pub struct Namer {
    /// The queues of the resolvers to ask (CRI, the Docker API).
    askers: Vec<mpsc::Sender<Ask>>,
    /// Ids already looked up (bundle read, CRI asked).
    done: HashSet<String>,
    /// cgroup v2 paths by id, as the kernel announced their directories.
    paths: HashMap<u64, String>,
    path_order: VecDeque<u64>,
}

impl Namer {
    pub fn new(askers: Vec<mpsc::Sender<Ask>>) -> Self {
        Self {
            askers,
            done: HashSet::new(),
            paths: HashMap::new(),
            path_order: VecDeque::new(),
        }
    }

    /// Every event, before the model: a new cgroup's path, by its id.
    pub fn observe(&mut self, ev: &Event) {
        let Event::Cause(Cause::CgroupMkdir(e)) = ev else {
            return;
        };
        if self.path_order.len() >= PATHS_CAP
            && let Some(old) = self.path_order.pop_front()
        {
            self.paths.remove(&old);
        }
        self.path_order.push_back(e.id);
        self.paths.insert(e.id, c_str(&e.path));
    }

    /// Notes on the pauses and containers that `changes` started: a cgroup
    /// from the event's cgroup id where /proc had none (the task is gone),
    /// then identities from their bundles; CRI is asked about each.
    pub fn notes(&mut self, ev: &Event, changes: &[Lifecycle], found: &mut Vec<Note>) {
        for (pid, role) in started(changes) {
            if !has_cgroup(found, pid)
                && let Some(ids) = self.cgroup_of_exec(ev, pid)
            {
                found.push(Note::Cgroup { pid, ids });
            }
            let Some((id, runtime)) = container_id(found, pid) else {
                continue;
            };
            let shim = (ev.who().pid == pid).then_some(ev.header().ppid);
            found.extend(self.name(&id, role, runtime, shim));
        }
    }

    /// The cgroup of `pid` from its exec event's cgroup id: the process may
    /// be gone already, its cgroup's path is known from its `cgroup_mkdir`
    /// (or, made before the trace, read from the cgroup2 mount while the
    /// runtime has not removed it). Only a cgroup that names a container counts.
    fn cgroup_of_exec(&self, ev: &Event, pid: u32) -> Option<CgroupIds> {
        let Event::Exec(e) = ev else { return None };
        if e.hdr.tgid != pid {
            return None;
        }
        let id = e.hdr.cgroup_id;
        let ids = match self.paths.get(&id) {
            Some(path) => parse_path(path),
            None => cgroup_id::read(id)?,
        };
        ids.container_id.is_some().then_some(ids)
    }

    /// The identity of one runtime id, once: its bundle's now, CRI's later.
    pub fn name(
        &mut self,
        id: &str,
        role: IdentityRole,
        runtime: Option<Runtime>,
        shim: Option<u32>,
    ) -> Option<Note> {
        if self.done.len() >= DONE_CAP {
            self.done.clear();
        }
        if !self.done.insert(id.to_string()) {
            return None;
        }
        // podman has no CRI (nor Docker API); its containers are not worth a question.
        if runtime != Some(Runtime::Podman) {
            for asker in &self.askers {
                // Full or closed: the name is missing, the trace goes on.
                let _ = asker.try_send(Ask {
                    id: id.to_string(),
                    role,
                    runtime,
                });
            }
        }
        bundle::read(id, shim).map(Note::Identity)
    }
}

/// The pauses and containers these steps started, with their pids.
fn started(changes: &[Lifecycle]) -> impl Iterator<Item = (u32, IdentityRole)> + '_ {
    changes.iter().filter_map(|l| match &l.what {
        What::PauseStarted { pause, .. } => Some((pause.pid, IdentityRole::Sandbox)),
        What::ContainerJoined { task, .. } => Some((task.pid, IdentityRole::Container)),
        _ => None,
    })
}

fn has_cgroup(found: &[Note], pid: u32) -> bool {
    found
        .iter()
        .any(|n| matches!(n, Note::Cgroup { pid: p, .. } if *p == pid))
}

/// The container id (and runtime) of `pid`'s cgroup note.
fn container_id(found: &[Note], pid: u32) -> Option<(String, Option<Runtime>)> {
    found.iter().find_map(|n| match n {
        Note::Cgroup { pid: p, ids } if *p == pid => Some((ids.container_id.clone()?, ids.runtime)),
        _ => None,
    })
}

/// The parent of a running process (`/proc/<pid>/stat`'s fourth field).
fn ppid_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command may hold spaces and parentheses: fields follow the last ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

impl<W: std::io::Write, R: std::io::Write> Pipeline<W, R> {
    /// Name pauses and containers as they appear (live runs): from their
    /// bundles, and by the resolvers the namer asks.
    pub fn with_namer(mut self, namer: Namer) -> Self {
        self.namer = Some(namer);
        self
    }

    /// Identities for the sandboxes and containers running at start (as
    /// the start-up walk found them), from their bundles and asked of CRI.
    pub fn name_existing(&mut self) -> std::io::Result<()> {
        let Some(namer) = self.namer.as_mut() else {
            return Ok(());
        };
        let sandboxes = self.model.sandboxes.values().map(|s| {
            let pid = s.pause.as_ref().map(|p| p.pid);
            (&s.cgroup, IdentityRole::Sandbox, pid)
        });
        let containers = self
            .model
            .containers
            .values()
            .map(|c| (&c.cgroup, IdentityRole::Container, Some(c.pid)));
        let mut notes = Vec::new();
        for (cgroup, role, pid) in sandboxes.chain(containers) {
            if let Some(g) = cgroup
                && let Some(id) = &g.container_id
            {
                let shim = pid.and_then(ppid_of);
                notes.extend(namer.name(id, role, g.runtime, shim));
            }
        }
        for n in &notes {
            self.note(n)?;
        }
        Ok(())
    }
}
