//! The state at start: the host's namespaces, and the pods and containers
//! the start-up /proc walk found running.

use std::collections::HashMap;

use tracer_common::NsSet;

use super::ns::{NsKey, NsKind, keys_of};
use super::{Container, Model, Pause, Proc, is_pause};
use crate::host::proc::ProcSnapshot;

impl Model {
    /// Seed from the start-up /proc walk: the host's namespaces, every
    /// process, and pods and containers already running.
    pub fn seed(&mut self, snapshot: &[ProcSnapshot], host: &NsSet, now_ns: u64) {
        self.start_ns = now_ns;
        let sets: Vec<(u32, NsSet)> = snapshot.iter().map(|p| (p.pid, snapshot_set(p))).collect();
        self.ns.host = keys_of(&mut self.ns, host);
        for (p, (_, set)) in snapshot.iter().zip(&sets) {
            for (_, k) in keys_of(&mut self.ns, set) {
                let info = self.ns.touch(k, now_ns);
                info.existing = true;
                info.id = set.id[k.kind.slot() as usize];
            }
            self.ns.move_task(p.pid, None, Some(set), now_ns);
            self.set_thread(p.pid, set);
            self.procs.insert(
                p.pid,
                Proc {
                    comm: p.comm.clone(),
                    pause_of: None,
                    container: None,
                    exec_into: None,
                    forked: None,
                },
            );
        }
        // Pauses first, so containers find their sandbox.
        for (p, (_, set)) in snapshot.iter().zip(&sets) {
            let file = p.exe.clone().unwrap_or_default();
            if is_pause(&file, &p.argv) && self.pod_namespaces(set).is_some() {
                let sb = self.new_sandbox(set, now_ns, true);
                self.sandboxes[sb].pause = Some(Pause {
                    pid: p.pid,
                    comm: p.comm.clone(),
                    argv: p.argv.clone(),
                    started_ns: None,
                    forked_ns: None,
                    forked_by: None,
                    exited_ns: None,
                    exit: None,
                });
                self.sandboxes[sb].cgroup = p.cgroup.clone();
                if let Some(proc) = self.procs.get_mut(&p.pid) {
                    proc.pause_of = Some(sb);
                }
            }
        }
        // A container: in a sandbox's pod namespaces, with a mount
        // namespace of its own whose top process (parent elsewhere) is its main.
        let mnt_of: HashMap<u32, Option<NsKey>> = sets
            .iter()
            .map(|(pid, s)| (*pid, self.ns.key_in(s, NsKind::Mnt)))
            .collect();
        for (p, (_, set)) in snapshot.iter().zip(&sets) {
            let Some(sb) = self.sandbox_of(set) else {
                continue;
            };
            if self
                .procs
                .get(&p.pid)
                .is_some_and(|pr| pr.pause_of.is_some())
            {
                continue;
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
                continue;
            }
            let (joined, missing) = self.compare_pod(sb, set);
            let c = self.containers.push(|c| Container {
                id: c,
                sandbox: sb,
                pid: p.pid,
                comm: p.comm.clone(),
                argv: p.argv.clone(),
                joined_ns: None,
                started_ns: None,
                left_ns: None,
                exit: None,
                joined,
                missing,
                existing: true,
                cgroup: p.cgroup.clone(),
                mnt,
                execs: Vec::new(),
            });
            self.sandboxes[sb].containers.push(c);
            if let Some(proc) = self.procs.get_mut(&p.pid) {
                proc.container = Some(c);
            }
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
