//! The kernel↔userspace ABI: every record the eBPF programs write into the
//! ring buffer, the globals userspace patches in before load, and the names
//! both sides use for maps and programs.
//!
//! Every record starts with a [`Header`] whose `kind` is one of [`Kind`]; a
//! kind number, once published, is never reused for another layout. All
//! structs are `#[repr(C)]`, padded explicitly and checked for size at
//! compile time, so the two sides cannot drift apart silently.
#![no_std]

use core::mem::size_of;

/// Ring buffer that carries every event record.
pub const EVENTS_MAP: &str = "EVENTS";
/// Per-CPU counters, indexed by [`Stat`].
pub const STATS_MAP: &str = "STATS";
/// Per-thread syscall arguments and namespaces kept between sys_enter and sys_exit.
pub const PENDING_MAP: &str = "PENDING";
/// Global holding the BTF-derived [`Offsets`].
pub const OFFSETS_GLOBAL: &str = "OFFSETS";
/// Global holding the in-kernel [`Filter`].
pub const FILTER_GLOBAL: &str = "FILTER";
/// One-slot array: the tracer's own `nsproxy` pointer (see [`Filter::self_tgid`]).
pub const HOST_NSPROXY_MAP: &str = "HOST_NSPROXY";
/// Default ring buffer size in bytes (a power of two, a multiple of the page size).
pub const EVENTS_BYTES: u32 = 1 << 22;
/// Threads that can be inside a traced syscall at once.
pub const PENDING_ENTRIES: u32 = 16384;

/// Every program: (program name in the object, tracepoint category, tracepoint name, raw).
/// Raw tracepoints take no category.
pub const PROGRAMS: &[Probe] = &[
    Probe::syscall("sys_enter_clone"),
    Probe::syscall("sys_exit_clone"),
    Probe::syscall("sys_enter_clone3"),
    Probe::syscall("sys_exit_clone3"),
    Probe::syscall("sys_enter_unshare"),
    Probe::syscall("sys_exit_unshare"),
    Probe::syscall("sys_enter_setns"),
    Probe::syscall("sys_exit_setns"),
    Probe::raw("sched_process_fork"),
    Probe::tracepoint("sched", "sched_process_exec"),
    Probe::raw("sched_process_exit"),
];

/// One probe: the program of that name attaches to the named tracepoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Name of the program in the object file (the Rust function name).
    pub program: &'static str,
    /// Tracepoint category for classic tracepoints, `None` for raw ones.
    pub category: Option<&'static str>,
    /// Tracepoint name.
    pub name: &'static str,
}

impl Probe {
    const fn syscall(name: &'static str) -> Self {
        Self {
            program: name,
            category: Some("syscalls"),
            name,
        }
    }
    const fn tracepoint(category: &'static str, name: &'static str) -> Self {
        Self {
            program: name,
            category: Some(category),
            name,
        }
    }
    const fn raw(name: &'static str) -> Self {
        Self {
            program: name,
            category: None,
            name,
        }
    }
}

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

    /// Bit of this slot in a namespace mask (e.g. [`ForkEvent::changed`]).
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

/// Record kinds. Numbers are part of the ABI and of recordings: never reuse one.
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

/// Counters in [`STATS_MAP`], one slot per [`Stat`] on every CPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Stat {
    /// `bpf_ringbuf_reserve` failed: the event was lost.
    RingbufFull = 0,
    /// clone3's `clone_args.flags` could not be read from user memory.
    ReadFailed = 1,
    /// The per-thread pending map was full at sys_enter: before-state lost.
    PendingFull = 2,
    /// A sys_exit without its sys_enter (tracer started mid-syscall).
    PendingMissing = 3,
    /// fork/exec/exit of host tasks, kept in the kernel by the [`Filter`].
    Filtered = 4,
}
pub const STAT_COUNT: u32 = 5;

pub const COMM_LEN: usize = 16;
pub const FILENAME_LEN: usize = 256;
pub const ARGS_LEN: usize = 256;

/// Start of every record.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// A [`Kind`] number.
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

/// A task's namespaces: the inode number (what `/proc/<pid>/ns/*` shows;
/// reused by the kernel once freed) and, where the kernel has it, the 64-bit
/// `ns_common.ns_id` that is never reused (0 where absent).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
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

/// A new task. The header describes the child; `caller_*` the task that
/// called clone (not always the parent: `CLONE_PARENT` and threads).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ForkEvent {
    pub hdr: Header,
    pub caller_pid: u32,
    pub caller_tgid: u32,
    /// Clone flags seen at sys_enter (0 if the syscall was not seen: fork, vfork, kernel).
    pub flags: u64,
    /// A [`syscall`] number.
    pub syscall: u32,
    /// [`Ns`] bits where the child's namespace differs from the caller's:
    /// what this clone really created.
    pub changed: u32,
    /// The child's namespaces as it starts.
    pub ns: NsSet,
}

/// A successful exec. `filename` and `args` are NUL-padded; `args` holds the
/// NUL-separated argv, truncated to [`ARGS_LEN`].
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NsChangeEvent {
    pub hdr: Header,
    /// unshare/clone flags, or setns' nstype.
    pub flags: u64,
    /// setns' fd; -1 otherwise.
    pub fd: i32,
    /// A [`syscall`] number.
    pub syscall: u32,
    /// The syscall's return value (negative errno on failure).
    pub ret: i64,
    pub ns_before: NsSet,
    pub ns: NsSet,
}

/// Offsets inside kernel structs, resolved from BTF at start-up and patched
/// into the programs as the [`OFFSETS_GLOBAL`] global. [`ABSENT`] marks a
/// member this kernel does not have.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Offsets {
    pub task_pid: u32,
    pub task_tgid: u32,
    pub task_real_parent: u32,
    pub task_comm: u32,
    pub task_nsproxy: u32,
    pub task_thread_pid: u32,
    pub task_real_cred: u32,
    pub task_signal: u32,
    pub task_exit_code: u32,
    pub task_mm: u32,
    /// `signal_struct.live` (atomic_t): 0 once the last thread is exiting.
    pub signal_live: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    /// Offset in `struct nsproxy` of each slot's pointer; [`ABSENT`] for the
    /// slots reached another way (pid, user) or missing on this kernel.
    pub nsproxy: [u32; NS_COUNT],
    /// Offset of the `struct ns_common` inside each slot's namespace struct.
    pub ns_common: [u32; NS_COUNT],
    pub ns_common_inum: u32,
    /// `ns_common.ns_id` (u64), [`ABSENT`] on kernels without it.
    pub ns_common_ns_id: u32,
    pub pid_level: u32,
    pub pid_numbers: u32,
    pub upid_size: u32,
    pub upid_ns: u32,
    pub cred_user_ns: u32,
    pub _pad: u32,
}

/// An offset the running kernel does not have.
pub const ABSENT: u32 = u32::MAX;

/// The in-kernel filter: fork, exec and exit of a task whose net, ipc,
/// uts, pid and pid_for_children namespaces are all the host's never leave
/// the kernel (a pod's tasks always have at least one of their own).
/// Namespace changes always do.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Filter {
    /// 0: send everything (`--all`).
    pub enabled: u32,
    pub host_net: u32,
    pub host_ipc: u32,
    pub host_uts: u32,
    pub host_pid: u32,
    /// The tracer's own pid when it lives in the host's namespaces and the
    /// root pid namespace (0 otherwise): its self-test `unshare(0)` then
    /// stores its `nsproxy` in [`HOST_NSPROXY_MAP`], a fast path for the
    /// filter (most host tasks share that very nsproxy; it cannot be freed
    /// and reused while the tracer holds it).
    pub self_tgid: u32,
}

impl Filter {
    pub const fn off() -> Self {
        Self {
            enabled: 0,
            host_net: 0,
            host_ipc: 0,
            host_uts: 0,
            host_pid: 0,
            self_tgid: 0,
        }
    }
}

impl Offsets {
    pub const fn zeroed() -> Self {
        Self {
            task_pid: ABSENT,
            task_tgid: ABSENT,
            task_real_parent: ABSENT,
            task_comm: ABSENT,
            task_nsproxy: ABSENT,
            task_thread_pid: ABSENT,
            task_real_cred: ABSENT,
            task_signal: ABSENT,
            task_exit_code: ABSENT,
            task_mm: ABSENT,
            signal_live: ABSENT,
            mm_arg_start: ABSENT,
            mm_arg_end: ABSENT,
            nsproxy: [ABSENT; NS_COUNT],
            ns_common: [ABSENT; NS_COUNT],
            ns_common_inum: ABSENT,
            ns_common_ns_id: ABSENT,
            pid_level: ABSENT,
            pid_numbers: ABSENT,
            upid_size: ABSENT,
            upid_ns: ABSENT,
            cred_user_ns: ABSENT,
            _pad: 0,
        }
    }
}

// Sizes are the ABI: a change here is a new record kind, not an edit.
const _: () = assert!(size_of::<Header>() == 56);
const _: () = assert!(size_of::<NsSet>() == 112);
const _: () = assert!(size_of::<ForkEvent>() == 56 + 24 + 112);
const _: () = assert!(size_of::<ExecEvent>() == 56 + 8 + 112 + 512);
const _: () = assert!(size_of::<ExitEvent>() == 56 + 8 + 112);
const _: () = assert!(size_of::<NsChangeEvent>() == 56 + 24 + 224);
const _: () = assert!(size_of::<Offsets>() == 4 * (13 + 2 * NS_COUNT + 8));
const _: () = assert!(size_of::<Filter>() == 24);

/// Marker for records whose every bit pattern is a valid value, so a
/// length-checked byte copy gives a sound value.
///
/// # Safety
/// Implement only for `#[repr(C)]` structs of integers and integer arrays
/// without implicit padding.
pub unsafe trait Plain: Copy + 'static {}
unsafe impl Plain for Header {}
unsafe impl Plain for NsSet {}
unsafe impl Plain for ForkEvent {}
unsafe impl Plain for ExecEvent {}
unsafe impl Plain for ExitEvent {}
unsafe impl Plain for NsChangeEvent {}
unsafe impl Plain for Offsets {}
unsafe impl Plain for Filter {}

#[cfg(feature = "user")]
mod user {
    unsafe impl aya::Pod for super::Offsets {}
    unsafe impl aya::Pod for super::Filter {}
}
