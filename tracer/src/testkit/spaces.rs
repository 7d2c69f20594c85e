//! A task's namespaces in a few numbers: the one `NsSet` builder of the
//! tests, scenarios and synthetic recordings.

use tracer_common::{NS_COUNT, Ns, NsSet};

/// Namespaces of a task: net, ipc, uts, mnt, pid, pid_for_children by
/// inode; user, cgroup and time are the host's (105, 106, 107) everywhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Spaces {
    pub net: u32,
    pub ipc: u32,
    pub uts: u32,
    pub mnt: u32,
    pub pid: u32,
    pub pfc: u32,
}

/// The host's namespaces.
pub const HOST: Spaces = Spaces {
    net: 100,
    ipc: 101,
    uts: 102,
    mnt: 103,
    pid: 104,
    pfc: 104,
};

impl Spaces {
    /// As the kernel reports them, with an `ns_id` per namespace
    /// (unique per inode, as on kernels that have ids).
    pub fn set(self) -> NsSet {
        let mut n = NsSet::default();
        n.inum[Ns::Net as usize] = self.net;
        n.inum[Ns::Ipc as usize] = self.ipc;
        n.inum[Ns::Uts as usize] = self.uts;
        n.inum[Ns::Mnt as usize] = self.mnt;
        n.inum[Ns::Pid as usize] = self.pid;
        n.inum[Ns::PidForChildren as usize] = self.pfc;
        n.inum[Ns::User as usize] = 105;
        n.inum[Ns::Cgroup as usize] = 106;
        n.inum[Ns::Time as usize] = 107;
        for i in 0..NS_COUNT {
            n.id[i] = u64::from(n.inum[i]) + 10_000;
        }
        n
    }
}
