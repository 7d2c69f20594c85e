//! Namespace slots, their `CLONE_NEW*` flags, and a task's namespace set.

use bytemuck::{Pod, Zeroable};

/// Namespace slots, in the order every [`NsSet`] stores them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(usize)]
pub enum Ns {
    Mnt = 0,
    Uts = 1,
    Ipc = 2,
    /// The pid namespace the task itself lives in (`/proc/<pid>/ns/pid`).
    Pid = 3,
    /// Where the task's future children go (`/proc/<pid>/ns/pid_for_children`).
    PidForChildren = 4,
    Net = 5,
    User = 6,
    Cgroup = 7,
    Time = 8,
}

pub const NS_COUNT: usize = 9;

impl Ns {
    pub const ALL: [Ns; NS_COUNT] = [
        Ns::Mnt,
        Ns::Uts,
        Ns::Ipc,
        Ns::Pid,
        Ns::PidForChildren,
        Ns::Net,
        Ns::User,
        Ns::Cgroup,
        Ns::Time,
    ];

    /// The name `/proc/<pid>/ns/` uses for this namespace.
    pub const fn proc_name(self) -> &'static str {
        match self {
            Ns::Mnt => "mnt",
            Ns::Uts => "uts",
            Ns::Ipc => "ipc",
            Ns::Pid => "pid",
            Ns::PidForChildren => "pid_for_children",
            Ns::Net => "net",
            Ns::User => "user",
            Ns::Cgroup => "cgroup",
            Ns::Time => "time",
        }
    }

    /// The `CLONE_NEW*` flag that creates this kind of namespace.
    pub const fn clone_flag(self) -> u64 {
        match self {
            Ns::Mnt => CLONE_NEWNS,
            Ns::Uts => CLONE_NEWUTS,
            Ns::Ipc => CLONE_NEWIPC,
            Ns::Pid | Ns::PidForChildren => CLONE_NEWPID,
            Ns::Net => CLONE_NEWNET,
            Ns::User => CLONE_NEWUSER,
            Ns::Cgroup => CLONE_NEWCGROUP,
            Ns::Time => CLONE_NEWTIME,
        }
    }

    /// Bit of this slot in a namespace mask (e.g. [`crate::ForkEvent::changed`]).
    pub const fn bit(self) -> u32 {
        1 << (self as usize)
    }
}

pub const CLONE_NEWTIME: u64 = 0x0000_0080;
pub const CLONE_NEWNS: u64 = 0x0002_0000;
pub const CLONE_NEWCGROUP: u64 = 0x0200_0000;
pub const CLONE_NEWUTS: u64 = 0x0400_0000;
pub const CLONE_NEWIPC: u64 = 0x0800_0000;
pub const CLONE_NEWUSER: u64 = 0x1000_0000;
pub const CLONE_NEWPID: u64 = 0x2000_0000;
pub const CLONE_NEWNET: u64 = 0x4000_0000;
/// Every flag that makes a new namespace.
pub const CLONE_NEW_MASK: u64 = CLONE_NEWTIME
    | CLONE_NEWNS
    | CLONE_NEWCGROUP
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWUSER
    | CLONE_NEWPID
    | CLONE_NEWNET;

/// A task's namespaces: the inode number (what `/proc/<pid>/ns/*` shows;
/// reused by the kernel once freed) and, where the kernel has it, the 64-bit
/// `ns_common.ns_id` that is never reused (0 where absent).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Pod, Zeroable)]
pub struct NsSet {
    pub inum: [u32; NS_COUNT],
    pub _pad: u32,
    pub id: [u64; NS_COUNT],
}

impl NsSet {
    /// Mask of [`Ns`] bits whose inode differs between `self` and `other`.
    pub fn diff(&self, other: &NsSet) -> u32 {
        let mut mask = 0;
        let mut i = 0;
        while i < NS_COUNT {
            if self.inum[i] != other.inum[i] || self.id[i] != other.id[i] {
                mask |= 1 << i;
            }
            i += 1;
        }
        mask
    }
}

const _: () = assert!(size_of::<NsSet>() == 112);
