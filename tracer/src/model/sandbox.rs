//! Sandboxes and their namespaces: which namespaces make a pod, which
//! sandbox holds a set, who created what, and which namespaces emptied.

use std::collections::BTreeMap;

use tracer_common::{Ns, NsSet};

use super::ns::{Creation, Emptied, NsKey, keys_of};
use super::{Lifecycle, Model, NsKind, POD_KINDS, Sandbox, Task, What};

impl Model {
    /// The pod namespaces (net/ipc/uts) of a set that are not the host's; None if all are.
    pub(super) fn pod_namespaces(&mut self, set: &NsSet) -> Option<BTreeMap<NsKind, NsKey>> {
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
    pub(super) fn sandbox_of(&mut self, set: &NsSet) -> Option<usize> {
        POD_KINDS.into_iter().find_map(|kind| {
            let k = self.ns.key_in(set, kind)?;
            self.holder_of(&k)
        })
    }

    /// The sandbox `k` is a pod or pid namespace of (see [`super::ns::NsInfo::sandbox`]).
    pub(super) fn holder_of(&self, k: &NsKey) -> Option<usize> {
        self.ns.info.get(k)?.sandbox
    }

    pub(super) fn new_sandbox(&mut self, set: &NsSet, ts: u64, existing: bool) -> usize {
        let id = self.sandboxes.next_id();
        let mut ns = keys_of(&mut self.ns, set);
        ns.retain(|_, k| !self.ns.is_host(k));
        for k in ns.values() {
            if POD_KINDS.contains(&k.kind) || k.kind == NsKind::Pid {
                self.ns.touch(*k, ts).sandbox = Some(id);
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
            last_holder: None,
            tasks_gone_ns: None,
            last_gone: None,
            ns,
        })
    }

    /// Which pod namespaces a task shares with its sandbox, and which it
    /// lacks: net, ipc, uts, and the user namespace of a user-namespace pod
    /// (a sandbox holds only namespaces that are not the host's).
    pub(super) fn compare_pod(&mut self, sb: usize, set: &NsSet) -> (Vec<NsKind>, Vec<NsKind>) {
        let mut joined = Vec::new();
        let mut missing = Vec::new();
        let pod: Vec<(NsKind, NsKey)> = self.sandboxes[sb]
            .ns
            .iter()
            .filter(|(k, _)| POD_KINDS.contains(k) || **k == NsKind::User)
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

    /// Record `by` as the creator of `set`'s namespaces in these slots
    /// (each a fresh key: a new generation on inode-only kernels).
    pub(super) fn created(&mut self, set: &NsSet, slots: impl Iterator<Item = Ns>, by: Creation) {
        let mut slots = slots.peekable();
        while let Some(slot) = slots.next() {
            let (inum, id) = (set.inum[slot as usize], set.id[slot as usize]);
            let k = self.ns.key(NsKind::of(slot), inum, id, true);
            // The last namespace takes `by` itself (most calls make one).
            if slots.peek().is_none() {
                self.ns.created(k, id, by);
                return;
            }
            self.ns.created(k, id, by.clone());
        }
    }

    /// One `NamespaceCreated` per sandbox namespace whose creation we saw,
    /// and its pins made (and removed) before now, in time order.
    pub(super) fn announce_namespaces(&mut self, sb: usize, out: &mut Vec<Lifecycle>) {
        let mut told: Vec<Lifecycle> = Vec::new();
        for k in self.sandboxes[sb].ns.values() {
            let Some(info) = self.ns.info.get(k) else {
                continue;
            };
            if let Some(c) = &info.created {
                let what = What::NamespaceCreated {
                    kind: k.kind,
                    inum: k.inum,
                    by: c.comm.task(c.pid),
                    syscall: c.syscall,
                };
                told.push(Lifecycle::new(c.ts_ns, sb, what));
            }
            for p in &info.pins {
                let since = p.since().unwrap_or(self.now_ns);
                let what = What::PinAdded {
                    kind: k.kind,
                    inum: k.inum,
                    path: p.path.clone(),
                    mnt_ns: p.mnt.inum,
                    by: p.made.as_ref().map(|m| Task::new(m.pid, &m.comm)),
                    how: if p.made.is_some() { "mount" } else { "found" },
                };
                told.push(Lifecycle::new(since, sb, what));
                if let Some(end) = &p.removed {
                    let what = What::PinRemoved {
                        kind: k.kind,
                        inum: k.inum,
                        path: p.path.clone(),
                        mnt_ns: p.mnt.inum,
                        by: end
                            .pid
                            .zip(end.comm.clone())
                            .map(|(pid, comm)| Task::new(pid, comm)),
                        how: end.how,
                    };
                    told.push(Lifecycle::new(end.ts_ns, sb, what));
                }
            }
        }
        // Stable: a namespace's creation before its pins at the same time.
        told.sort_by_key(|l| l.ts_ns);
        out.extend(told);
    }

    /// Namespaces that just lost their last task (`by` names the one that
    /// left last, made only if a mount namespace is among them): a mount
    /// namespace takes its mounts with it; each is settled later, and
    /// verified by a read where it matters.
    pub(super) fn after_move(
        &mut self,
        emptied: Emptied,
        by: impl Fn() -> Task,
        ts: u64,
        out: &mut Vec<Lifecycle>,
    ) {
        for k in emptied {
            if k.kind == NsKind::Mnt {
                self.mnt_gone(k, &by(), ts, out);
            }
            self.mark_ns(k, ts);
            if self.of_interest(k) {
                self.verify.want(k, ts);
            }
        }
    }
}
