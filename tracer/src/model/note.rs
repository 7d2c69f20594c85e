//! Notes: what userspace learned beside the kernel's events (cgroups,
//! pins), fed to the model live and from recordings alike.

use super::{Model, Note};
use crate::host::cgroup::CgroupIds;

impl Model {
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
            Note::Identity(i) => self.names.add(i),
        }
    }
}
