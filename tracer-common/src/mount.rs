//! Mount records: the bind mounts that may pin a namespace (`mount` with
//! `MS_BIND`, `open_tree` with `OPEN_TREE_CLONE` + `move_mount`) and every
//! `umount2`, each with its return value and the caller's namespaces (the
//! mount namespace is where the pin lives).
//!
//! The kernel keeps only candidates ([`pin_candidate`]): a source under a
//! task's /proc entry (the nsfs paths `.../[task/<tid>/]ns/<type>`,
//! `.../fd/N`, but also runc's `/proc/self/exe` binds) or a relative one;
//! userspace decides what was pinned.
//! A pin made from another pin's path (`mount --bind /run/netns/a b`) is not
//! seen here; reading mountinfo finds it.

use bytemuck::{Pod, Zeroable};

use crate::{Header, NsSet, Probe};

/// The mount programs, listed apart from [`crate::PROGRAMS`] (the loader
/// attaches both): a loader that does not decode [`MountEvent`]s leaves
/// these out, and aya loads programs by name, so unattached ones cost nothing.
pub const MOUNT_PROGRAMS: &[Probe] = &[
    Probe::syscall("sys_enter_mount"),
    Probe::syscall("sys_exit_mount"),
    // umount2(2): the kernel names its tracepoints after the old umount.
    Probe::syscall("sys_enter_umount"),
    Probe::syscall("sys_exit_umount"),
    Probe::syscall("sys_enter_open_tree"),
    Probe::syscall("sys_exit_open_tree"),
    Probe::syscall("sys_enter_move_mount"),
    Probe::syscall("sys_exit_move_mount"),
];

/// Record kinds of [`MountEvent`]s, numbered after [`crate::Kind`]'s (never
/// reuse one). A separate enum so that code matching every `Kind` keeps
/// compiling until it decodes these too.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum MountKind {
    /// `mount(2)` with `MS_BIND` (not a remount) and a candidate source.
    Mount = 7,
    /// `umount2(2)`, any target and flags.
    Umount = 8,
    /// `open_tree(2)` with `OPEN_TREE_CLONE` and a candidate source: a
    /// detached copy of the mount, attached later by `move_mount`.
    OpenTree = 9,
    /// `move_mount(2)` from an fd that a reported `open_tree` returned.
    MoveMount = 10,
}

impl TryFrom<u32> for MountKind {
    type Error = u32;
    fn try_from(v: u32) -> Result<Self, u32> {
        Ok(match v {
            7 => MountKind::Mount,
            8 => MountKind::Umount,
            9 => MountKind::OpenTree,
            10 => MountKind::MoveMount,
            other => return Err(other),
        })
    }
}

/// Bytes kept of each path, NUL included: longer paths are cut and flagged.
pub const PATH_LEN: usize = 256;

/// Bytes of a source path that [`pin_candidate`] looks at.
pub const PIN_HEAD_LEN: usize = 8;

/// Can a mount from a source starting with `head` (its first
/// [`PIN_HEAD_LEN`] bytes or all of a shorter path) pin a namespace? Yes
/// for a task's entries under /proc — `/proc/<pid>/`, `/proc/self/`,
/// `/proc/thread-self/` (nsfs files, `fd/N`) — and for relative or empty
/// paths (resolved against a dfd or the cwd); no for any other absolute
/// path, runc's `/proc/sys`-style read-only binds among them. The eBPF
/// side decides with this before it builds a record.
#[inline(always)]
pub fn pin_candidate(head: &[u8]) -> bool {
    match head {
        [b'/', b'p', b'r', b'o', b'c', b'/', next, ..] => {
            next.is_ascii_digit() || head.starts_with(b"/proc/se") || head.starts_with(b"/proc/th")
        }
        [b'/', ..] => false,
        _ => true,
    }
}

/// `from_fd`/`to_fd` of a call that takes no such fd.
pub const NO_FD: i32 = -1;

/// Bits of [`MountEvent::path_flags`].
pub mod path {
    /// `source` holds only the first `PATH_LEN - 1` bytes of a longer path.
    pub const SOURCE_TRUNCATED: u32 = 1 << 0;
    /// `target` holds only the first `PATH_LEN - 1` bytes of a longer path.
    pub const TARGET_TRUNCATED: u32 = 1 << 1;
    /// The source path could not be read from user memory (empty).
    pub const SOURCE_UNREAD: u32 = 1 << 2;
    /// The target path could not be read from user memory (empty).
    pub const TARGET_UNREAD: u32 = 1 << 3;
}

/// `mount(2)` flags the programs and decoders look at.
pub mod mount_flags {
    pub const MS_REMOUNT: u64 = 0x20;
    pub const MS_BIND: u64 = 0x1000;
    pub const MS_MOVE: u64 = 0x2000;
    pub const MS_REC: u64 = 0x4000;
}

/// `umount2(2)` flags.
pub mod umount_flags {
    pub const MNT_FORCE: u64 = 1;
    pub const MNT_DETACH: u64 = 2;
    pub const MNT_EXPIRE: u64 = 4;
    pub const UMOUNT_NOFOLLOW: u64 = 8;
}

/// `open_tree(2)` and `move_mount(2)` flags.
pub mod open_tree_flags {
    pub const OPEN_TREE_CLONE: u64 = 1;
    pub const AT_EMPTY_PATH: u64 = 0x1000;
    pub const AT_RECURSIVE: u64 = 0x8000;
    pub const MOVE_MOUNT_F_EMPTY_PATH: u64 = 0x4;
}

/// One mount call, at its return. Per kind:
///
/// | kind | `source` | `target` | `from_fd` | `to_fd` | `flags` | `ret` |
/// |---|---|---|---|---|---|---|
/// | Mount | source path | mount point | -1 | -1 | mount flags | 0 / -errno |
/// | Umount | empty | mount point | -1 | -1 | umount2 flags | 0 / -errno |
/// | OpenTree | path | empty | dfd | -1 | open_tree flags | new fd / -errno |
/// | MoveMount | from path (often empty) | to path | from_dfd | to_dfd | move_mount flags | 0 / -errno |
///
/// Paths are read from the caller's memory at the syscall's exit (the
/// kernel has faulted them in by then): `*_len` bytes, then a NUL; the
/// bytes after it are unspecified (left over in the ring buffer). Relative
/// paths are relative to the fd or the caller's cwd.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct MountEvent {
    pub hdr: Header,
    /// The call's flags (see the table).
    pub flags: u64,
    /// The return value; [`crate::RET_UNREAD`] if it could not be read.
    pub ret: i64,
    pub from_fd: i32,
    pub to_fd: i32,
    /// Bytes of `source` before its NUL (at most `PATH_LEN - 1`).
    pub source_len: u32,
    /// Bytes of `target` before its NUL (at most `PATH_LEN - 1`).
    pub target_len: u32,
    /// [`path`] bits.
    pub path_flags: u32,
    pub _pad: u32,
    /// The caller's namespaces; `ns.inum[Ns::Mnt]`/`ns.id[Ns::Mnt]` is the
    /// mount namespace the mount was made in or removed from.
    pub ns: NsSet,
    pub source: [u8; PATH_LEN],
    pub target: [u8; PATH_LEN],
}

const _: () = assert!(size_of::<MountEvent>() == 56 + 40 + 112 + 2 * PATH_LEN);
