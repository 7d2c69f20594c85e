//! Per-CPU counters the programs keep in [`crate::STATS_MAP`].

/// Counters in [`crate::STATS_MAP`], one slot per [`Stat`] on every CPU.
/// Numbers are slots: append new ones, never renumber or reuse.
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
    /// fork/exec/exit of host tasks, kept in the kernel by the [`crate::Filter`].
    Filtered = 4,
    /// A tracepoint argument (`ctx.read_at`) could not be read; the record
    /// carries a stand-in (0, -1, or [`crate::RET_UNREAD`] for a return value).
    ArgReadFailed = 5,
    /// The reader woken at once, for what cannot wait for its next drain:
    /// a setns into another netns (a CNI plugin's /proc, read while it lives).
    Wakeups = 6,
}

/// Slots in [`crate::STATS_MAP`].
pub const STAT_COUNT: u32 = 7;

impl Stat {
    /// Every counter, in slot order.
    pub const ALL: [Stat; STAT_COUNT as usize] = [
        Stat::RingbufFull,
        Stat::ReadFailed,
        Stat::PendingFull,
        Stat::PendingMissing,
        Stat::Filtered,
        Stat::ArgReadFailed,
        Stat::Wakeups,
    ];

    /// The counter's name in userspace output (`stats.kernel.<name>` in JSON).
    pub const fn name(self) -> &'static str {
        match self {
            Stat::RingbufFull => "ringbuf_full",
            Stat::ReadFailed => "read_failed",
            Stat::PendingFull => "pending_full",
            Stat::PendingMissing => "pending_missing",
            Stat::Filtered => "filtered",
            Stat::ArgReadFailed => "arg_read_failed",
            Stat::Wakeups => "wakeups",
        }
    }

    /// True for counters of lost or degraded data; false for `filtered`,
    /// which counts events deliberately kept in the kernel, and `wakeups`.
    pub const fn is_loss(self) -> bool {
        !matches!(self, Stat::Filtered | Stat::Wakeups)
    }
}

// Every slot has its variant, in order.
const _: () = {
    let mut i = 0;
    while i < Stat::ALL.len() {
        assert!(Stat::ALL[i] as usize == i);
        i += 1;
    }
};
