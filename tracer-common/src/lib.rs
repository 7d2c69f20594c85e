//! The kernel↔userspace ABI: every record the eBPF programs write into the
//! ring buffer, the globals userspace patches in before load, and the names
//! both sides use for maps and programs.
//!
//! Every record starts with a [`Header`] whose `kind` is one of [`Kind`] or
//! [`MountKind`]; a kind number, once published, is never reused for
//! another layout. All structs are `#[repr(C)]`, padded explicitly and
//! derive [`bytemuck::Pod`], which proves at compile time that they have no
//! hidden padding and accept every bit pattern; their sizes are asserted
//! too, so the two sides cannot drift apart silently.
#![no_std]

mod cause;
mod config;
mod mount;
mod ns;
mod probe;
mod record;
mod stat;

pub use bytemuck::{Pod, Zeroable};

pub use cause::{
    CAUSE_PROGRAMS, CGROUP_PATH_LEN, CauseKind, CgroupEvent, FATAL_SIGNALS, OomEvent,
    SIGNAL_IGNORED, SignalEvent, fatal_signal,
};
pub use config::{ABSENT, Filter, Offsets};
pub use mount::{
    MOUNT_PROGRAMS, MountEvent, MountKind, NO_FD, PATH_LEN, PIN_HEAD_LEN, mount_flags,
    open_tree_flags, path, pin_candidate, umount_flags,
};
pub use ns::{
    CLONE_NEW_MASK, CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID,
    CLONE_NEWTIME, CLONE_NEWUSER, CLONE_NEWUTS, NS_COUNT, Ns, NsSet,
};
pub use probe::{Attach, CLONE_FAILURE_PROGRAMS, PROGRAMS, Probe};
pub use record::{
    ARGS_LEN, COMM_LEN, ENV_LEN, ENV_UNREAD, ExecEvent, ExitEvent, FILENAME_LEN, ForkEvent, Header,
    Kind, NsChangeEvent, Plain, RET_UNREAD, Record, VISITOR_FIXED, VisitorEvent, as_bytes, read,
    syscall,
};
pub use stat::{STAT_COUNT, Stat};

/// Ring buffer that carries every event record.
pub const EVENTS_MAP: &str = "EVENTS";
/// Per-CPU counters, indexed by [`Stat`].
pub const STATS_MAP: &str = "STATS";
/// Per-thread syscall arguments and namespaces kept between sys_enter and sys_exit.
pub const PENDING_MAP: &str = "PENDING";
/// Per-thread mount-call arguments kept between sys_enter and sys_exit.
pub const MOUNT_PENDING_MAP: &str = "MOUNT_PENDING";
/// Global holding the BTF-derived [`Offsets`].
pub const OFFSETS_GLOBAL: &str = "OFFSETS";
/// Global holding the in-kernel [`Filter`].
pub const FILTER_GLOBAL: &str = "FILTER";
/// One-slot array: the tracer's own `nsproxy` pointer (see [`Filter::self_tgid`]).
pub const HOST_NSPROXY_MAP: &str = "HOST_NSPROXY";
/// One-slot array: when the reader was last woken or last looked at the
/// ring (boot-time ns; 0: at once for the next record). See [`QUIET_WAKE_NS`].
pub const LAST_WAKE_MAP: &str = "LAST_WAKE";
/// Default ring buffer size in bytes (a power of two, a multiple of the page size).
pub const EVENTS_BYTES: u32 = 1 << 22;
/// A record that comes this long after the reader was last woken (for a
/// quiet spell or at the ring's mark) or last looked ([`LAST_WAKE_MAP`])
/// wakes it at once. The reader drains the ring on a timer of the same
/// period while records come, noting each look, and sleeps long when a
/// tick finds none, noting 0: a record is thus either woken for, or
/// follows a wakeup or a look by less than one period, and is read within it.
/// 100 ms, not 50: a pod's CPU is mostly these wakeups, ~100 µs each on cold
/// caches; what cannot wait wakes the reader at once (`wake_reader`).
pub const QUIET_WAKE_NS: u64 = 100_000_000;
/// Global holding how many bytes wait in the ring before the reader is
/// woken ([`wakeup_bytes`] of its size).
pub const WAKEUP_GLOBAL: &str = "WAKEUP_BYTES";

/// Bytes waiting in a ring of `ring_bytes` before the reader is woken: a
/// thirty-second, 128 KiB for the default ring. Each wakeup costs the
/// reader ~50 µs (context switch, epoll) whatever it drains: at 64 KiB a
/// fork+exit storm woke it 124 times, at 128 KiB 66. At 256 KiB (50) the
/// larger batches overflowed the output queue of an `--all` storm written
/// to a file in 3 of 8 runs (1 of 8 here, 1 of 14 at 64 KiB).
pub const fn wakeup_bytes(ring_bytes: u32) -> u64 {
    (ring_bytes / 32) as u64
}
/// Threads that can be inside a traced syscall at once.
pub const PENDING_ENTRIES: u32 = 16384;

#[cfg(test)]
mod tests;
