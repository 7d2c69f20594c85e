//! Counters: what the kernel lost or kept back, what userspace could not
//! decode or read, and the programs' run times.

use serde::{Deserialize, Serialize};

/// Sums over all CPUs of the kernel's counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KernelStats {
    /// Events lost because the ring buffer was full.
    pub ringbuf_full: u64,
    /// clone3 calls whose flags could not be read from user memory.
    pub read_failed: u64,
    /// sys_enter state not stored: the per-thread map was full.
    pub pending_full: u64,
    /// sys_exit without its sys_enter (tracer started mid-call).
    pub pending_missing: u64,
    /// Host tasks' fork/exec/exit the filter kept in the kernel (not lost).
    pub filtered: u64,
    /// Tracepoint arguments that could not be read (a stand-in went out instead).
    #[serde(default)]
    pub arg_read_failed: u64,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// Records received from the kernel.
    pub events: u64,
    /// Records that did not decode (reported one by one as well).
    pub decode_errors: u64,
    /// Events with a field the kernel could not read (their `unread`).
    pub unread: u64,
    pub kernel: KernelStats,
}

/// One program's run statistics (kept by the kernel only while
/// `sysctl kernel.bpf_stats_enabled=1`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgStat {
    pub name: String,
    pub run_count: u64,
    pub run_time_ns: u64,
}
