//! The state at start: the host's namespaces, and the pods and containers
//! the start-up /proc walk found running.

use std::collections::HashMap;

use tracer_common::NsSet;

use super::ns::{NsKey, NsKind, keys_of};
use super::procs::{Comm, Proc};
use super::{Container, Model, Pause, Task, is_pause};
use crate::host::proc::ProcSnapshot;

impl Model {
    /// Seed from the start-up /proc walk: the host's namespaces, every
    /// process, and pods and containers already running.
    pub fn seed(&mut self, snapshot: &[ProcSnapshot], host: &NsSet, now_ns: u64) {
        self.start_ns = now_ns;
        let sets: Vec<NsSet> = snapshot.iter().map(snapshot_set).collect();
        self.ns.host = keys_of(&mut self.ns, host).into();
        for (p, set) in snapshot.iter().zip(&sets) {
            for (_, k) in keys_of(&mut self.ns, set) {
                self.ns
                    .mark_existing(k, set.id[k.kind.slot() as usize], now_ns);
            }
            self.ns.move_task(p.pid, Some(set), now_ns);
            self.set_thread(p.pid, set);
            let comm = Comm::Text(p.comm.as_str().into());
            let proc = Proc {
                walk_start_ns: p.start_boot_ns,
                ..Proc::new(comm, None)
            };
            self.procs.insert(p.pid, proc);
        }
        // Pauses first, so containers find their sandbox.
        for (p, set) in snapshot.iter().zip(&sets) {
            self.seed_pause(p, set, now_ns);
        }
        let mnt_of: HashMap<u32, Option<NsKey>> = snapshot
            .iter()
            .zip(&sets)
            .map(|(p, s)| (p.pid, self.ns.key_in(s, NsKind::Mnt)))
            .collect();
        for (p, set) in snapshot.iter().zip(&sets) {
            self.seed_container(p, set, &mnt_of);
        }
        // Then who else is inside: visitors that entered before the trace.
        let set_of: HashMap<u32, &NsSet> = snapshot.iter().map(|p| p.pid).zip(&sets).collect();
        for (p, set) in snapshot.iter().zip(&sets) {
            let parent = set_of.get(&p.ppid).copied();
            self.seed_visitor(p, set, parent, now_ns);
        }
    }

    /// A pause running in non-host namespaces: a sandbox older than the trace.
    fn seed_pause(&mut self, p: &ProcSnapshot, set: &NsSet, now_ns: u64) {
        let file = p.exe.clone().unwrap_or_default();
        if !is_pause(&file, &p.argv) || self.pod_namespaces(set).is_none() {
            return;
        }
        let sb = self.new_sandbox(set, now_ns, true);
        self.sandboxes[sb].pause = Some(Pause::new(p.pid, &p.comm, p.argv.clone()));
        self.sandboxes[sb].cgroup = p.cgroup.clone();
        if let Some(proc) = self.procs.get_mut(&p.pid) {
            proc.pause_of = Some(sb);
        }
    }

    /// A container: in a sandbox's pod namespaces, with a mount namespace
    /// of its own whose top process (parent elsewhere) is its main.
    fn seed_container(
        &mut self,
        p: &ProcSnapshot,
        set: &NsSet,
        mnt_of: &HashMap<u32, Option<NsKey>>,
    ) {
        let Some(sb) = self.sandbox_of(set) else {
            return;
        };
        if self
            .procs
            .get(&p.pid)
            .is_some_and(|pr| pr.pause_of.is_some())
        {
            return;
        }
        let mnt = mnt_of.get(&p.pid).copied().flatten();
        let pause_mnt = self.sandboxes[sb]
            .pause
            .as_ref()
            .and_then(|pa| mnt_of.get(&pa.pid).copied().flatten());
        let parent_mnt = mnt_of.get(&p.ppid).copied().flatten();
        if mnt.is_none()
            || mnt == pause_mnt
            || mnt == parent_mnt
            || mnt.as_ref().is_some_and(|m| self.ns.is_host(m))
        {
            return;
        }
        let (joined, missing) = self.compare_pod(sb, set);
        // A partial join with a mount namespace of its own and no
        // container cgroup of its own is `ip netns exec`: a visitor.
        let own_cgroup = p.cgroup.as_ref().and_then(|c| c.container_id.as_ref());
        let sandbox_cgroup = self.sandboxes[sb]
            .cgroup
            .as_ref()
            .and_then(|c| c.container_id.as_ref());
        if !missing.is_empty() && own_cgroup.is_none_or(|id| Some(id) == sandbox_cgroup) {
            return;
        }
        let task = Task::new(p.pid, &p.comm);
        let c = self.containers.push(|c| Container {
            joined,
            missing,
            existing: true,
            cgroup: p.cgroup.clone(),
            ..Container::new(c, sb, &task, p.argv.clone(), mnt)
        });
        self.sandboxes[sb].containers.push(c);
        if let Some(proc) = self.procs.get_mut(&p.pid) {
            proc.container = Some(c);
        }
    }
}

pub fn snapshot_set(p: &ProcSnapshot) -> NsSet {
    NsSet {
        inum: p.ns_inum,
        _pad: 0,
        id: p.ns_id,
    }
}
