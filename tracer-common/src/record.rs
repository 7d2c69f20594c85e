//! The namespace records: their kinds, the common header, and the safe
//! byte↔record conversions both sides use.

use bytemuck::{Pod, Zeroable};

use crate::{CgroupEvent, MountEvent, NsSet, OomEvent, SignalEvent};

/// Record kinds of the namespace programs. Numbers are part of the ABI and
/// of recordings: never reuse one. The mount programs' kinds continue the
/// numbering in [`crate::MountKind`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Kind {
    /// A new task ([`ForkEvent`]), from `sched_process_fork`.
    Fork = 1,
    /// A successful exec ([`ExecEvent`]), from `sched_process_exec`.
    Exec = 2,
    /// A task exits ([`ExitEvent`]), from `sched_process_exit`.
    Exit = 3,
    /// `unshare` returned ([`NsChangeEvent`]).
    Unshare = 4,
    /// `setns` returned ([`NsChangeEvent`]).
    Setns = 5,
    /// `clone`/`clone3` with `CLONE_NEW*` flags failed ([`NsChangeEvent`]).
    CloneFailed = 6,
    /// What a task that `setns`ed into another netns runs as
    /// ([`VisitorEvent`]), sent just before that setns record.
    Visitor = 14,
}

impl TryFrom<u32> for Kind {
    type Error = u32;
    fn try_from(v: u32) -> Result<Self, u32> {
        Ok(match v {
            1 => Kind::Fork,
            2 => Kind::Exec,
            3 => Kind::Exit,
            4 => Kind::Unshare,
            5 => Kind::Setns,
            6 => Kind::CloneFailed,
            14 => Kind::Visitor,
            other => return Err(other),
        })
    }
}

/// Which syscall made a task or changed namespaces.
pub mod syscall {
    /// Not seen at entry (fork/vfork, kernel threads).
    pub const UNKNOWN: u32 = 0;
    pub const CLONE: u32 = 1;
    pub const CLONE3: u32 = 2;
    pub const UNSHARE: u32 = 3;
    pub const SETNS: u32 = 4;
}

/// A syscall's return value that could not be read from its tracepoint
/// (counted in [`crate::Stat::ArgReadFailed`]); never a real return value.
pub const RET_UNREAD: i64 = i64::MIN;

pub const COMM_LEN: usize = 16;
pub const FILENAME_LEN: usize = 256;
pub const ARGS_LEN: usize = 256;
/// Most bytes of a visitor's environment sent (a power of two: the
/// programs bound a copy's length with it). A CNI plugin's is 0.3–2 KiB.
pub const ENV_LEN: usize = 4096;

/// Start of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct Header {
    /// A [`Kind`] or [`crate::MountKind`] number.
    pub kind: u32,
    /// Reserved, 0. (A failed kernel read leaves its field 0: userspace
    /// tells "unread" from an inode or pid of 0, which never occurs.)
    pub _reserved: u32,
    /// `bpf_ktime_get_boot_ns()`: CLOCK_BOOTTIME in nanoseconds.
    pub ts_ns: u64,
    /// cgroup v2 id of the task (0 where only cgroup v1 is mounted).
    pub cgroup_id: u64,
    /// Thread id (the kernel's `pid`), in the initial pid namespace.
    pub pid: u32,
    /// Thread group id (userspace's "pid").
    pub tgid: u32,
    /// Thread group id of the real parent.
    pub ppid: u32,
    pub _pad: u32,
    pub comm: [u8; COMM_LEN],
}

/// A new task. The header describes the child; `caller_*` the task that
/// called clone (not always the parent: `CLONE_PARENT` and threads).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct ForkEvent {
    pub hdr: Header,
    pub caller_pid: u32,
    pub caller_tgid: u32,
    /// Clone flags seen at sys_enter (0 if the syscall was not seen: fork, vfork, kernel).
    pub flags: u64,
    /// A [`syscall`] number.
    pub syscall: u32,
    /// [`crate::Ns`] bits where the child's namespace differs from the
    /// caller's: what this clone really created.
    pub changed: u32,
    /// The child's namespaces as it starts.
    pub ns: NsSet,
}

/// A successful exec. `filename` and `args` are NUL-padded; `args` holds the
/// NUL-separated argv, truncated to [`ARGS_LEN`]; `args_len` is the whole
/// argv's length (more than [`ARGS_LEN`] when it was cut; recordings made
/// before this held at most [`ARGS_LEN`]).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct ExecEvent {
    pub hdr: Header,
    /// Thread id before exec (differs from `hdr.pid` when a non-leader thread execs).
    pub old_pid: u32,
    pub args_len: u32,
    pub ns: NsSet,
    pub filename: [u8; FILENAME_LEN],
    pub args: [u8; ARGS_LEN],
}

/// A task (thread) exits.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct ExitEvent {
    pub hdr: Header,
    /// `task->exit_code`: wait status (exit status << 8, or the signal).
    pub exit_code: u32,
    /// 1 when this was the last thread of its group.
    pub group_dead: u32,
    pub ns: NsSet,
}

/// `unshare`, `setns` or a failed namespace-creating `clone`: arguments,
/// result and the thread's namespaces before and after.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct NsChangeEvent {
    pub hdr: Header,
    /// unshare/clone flags, or setns' nstype.
    pub flags: u64,
    /// setns' fd; -1 otherwise.
    pub fd: i32,
    /// A [`syscall`] number.
    pub syscall: u32,
    /// The syscall's return value (negative errno on failure; [`RET_UNREAD`]
    /// if the tracepoint could not be read).
    pub ret: i64,
    pub ns_before: NsSet,
    pub ns: NsSet,
}

/// A task that entered another network namespace by `setns` (a CNI
/// plugin, `ip netns exec`, `nsenter`, a runtime's child), as it runs: its
/// command line and environment, read from its memory at that setns, for
/// userspace to learn its `CNI_COMMAND` without racing its exit through
/// /proc. Variable length: the first [`VISITOR_FIXED`] bytes, then
/// `min(env_len, ENV_LEN)` bytes of the NUL-separated environment, or none
/// when it could not be read.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct VisitorEvent {
    pub hdr: Header,
    /// The whole argv's length, as [`ExecEvent::args_len`] (0: unreadable).
    pub args_len: u32,
    /// The whole environment's length; [`ENV_UNREAD`] when it could not
    /// be read. More than [`ENV_LEN`]: the environment sent was cut.
    pub env_len: u32,
    /// The task's namespaces after the setns.
    pub ns: NsSet,
    /// NUL-separated argv, truncated to [`ARGS_LEN`].
    pub args: [u8; ARGS_LEN],
    pub env: [u8; ENV_LEN],
}

/// [`VisitorEvent::env_len`] of an environment the kernel could not read.
pub const ENV_UNREAD: u32 = u32::MAX;
/// The bytes of a [`VisitorEvent`] before its environment: always sent.
pub const VISITOR_FIXED: usize = size_of::<VisitorEvent>() - ENV_LEN;

// Sizes are the ABI: a change here is a new record kind, not an edit.
const _: () = assert!(size_of::<Header>() == 56);
const _: () = assert!(size_of::<ForkEvent>() == 56 + 24 + 112);
const _: () = assert!(size_of::<ExecEvent>() == 56 + 8 + 112 + 512);
const _: () = assert!(size_of::<ExitEvent>() == 56 + 8 + 112);
const _: () = assert!(size_of::<NsChangeEvent>() == 56 + 24 + 224);
const _: () = assert!(VISITOR_FIXED == 56 + 8 + 112 + 256);

/// A record that starts with a [`Header`]: what the eBPF side's one emit
/// path fills, whatever the record.
pub trait Record: Pod {
    fn header(&self) -> &Header;
    fn header_mut(&mut self) -> &mut Header;
}

macro_rules! records {
    ($($t:ty),*) => {$(
        impl Record for $t {
            fn header(&self) -> &Header {
                &self.hdr
            }
            fn header_mut(&mut self) -> &mut Header {
                &mut self.hdr
            }
        }
    )*};
}
records!(
    ForkEvent,
    ExecEvent,
    ExitEvent,
    NsChangeEvent,
    VisitorEvent,
    MountEvent,
    SignalEvent,
    OomEvent,
    CgroupEvent
);

/// A record (or any [`Pod`] value) from exactly `size_of::<T>()` bytes, at
/// any alignment; `None` when the length differs.
pub fn read<T: Pod>(bytes: &[u8]) -> Option<T> {
    bytemuck::try_pod_read_unaligned(bytes).ok()
}

/// The bytes of a record as the kernel writes them.
pub fn as_bytes<T: Pod>(v: &T) -> &[u8] {
    bytemuck::bytes_of(v)
}

/// Records whose every bit pattern is a valid value. Kept for userspace
/// code written against the old hand-checked marker; every [`Pod`] type is
/// `Plain`, so the padding check is now the compiler's. Prefer [`read`] and
/// [`as_bytes`] to raw pointer copies.
pub trait Plain: Pod {}
impl<T: Pod> Plain for T {}
