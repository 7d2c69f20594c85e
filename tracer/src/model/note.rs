//! Notes: what userspace learned beside the kernel's events (cgroups,
//! mountinfo reads, the time), fed to the model live and from recordings
//! alike. Steps a note causes are told at the next [`Model::settle`].

use super::{Model, Note};
use crate::host::cgroup::CgroupIds;

impl Model {
    /// Feed a note (cgroup ids, pins, time) learned beside the kernel events.
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
                let mut out = Vec::new();
                self.apply_old_pins(*kind, *inum, paths, &mut out);
                self.pending.steps.extend(out);
            }
            Note::Mounts(m) => {
                let mut out = Vec::new();
                self.apply_mounts(m, &mut out);
                self.pending.steps.extend(out);
            }
            Note::Time { ts_ns } => {
                self.now_ns = self.now_ns.max(*ts_ns);
                let mut out = Vec::new();
                self.expire_vanishing(*ts_ns, &mut out);
                self.pending.steps.extend(out);
            }
            Note::Identity(i) => self.names.add(i),
            Note::Visitor {
                pid,
                argv,
                cni_command,
            } => self
                .visits
                .noted(*pid, argv, cni_command.as_deref(), self.now_ns),
        }
    }
}
