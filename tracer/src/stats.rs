//! Counters: what the kernel lost or kept back, what userspace could not
//! decode or read, and the programs' run times.

use serde::{Deserialize, Serialize};
use tracer_common::Stat;

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
    /// Tracepoint arguments that could not be read (a stand-in was sent).
    #[serde(default)]
    pub arg_read_failed: u64,
}

impl KernelStats {
    /// One counter by its kernel slot.
    pub fn get(&self, s: Stat) -> u64 {
        match s {
            Stat::RingbufFull => self.ringbuf_full,
            Stat::ReadFailed => self.read_failed,
            Stat::PendingFull => self.pending_full,
            Stat::PendingMissing => self.pending_missing,
            Stat::Filtered => self.filtered,
            Stat::ArgReadFailed => self.arg_read_failed,
        }
    }

    /// Did a loss counter move since `before`? (`filtered` is no loss.)
    pub fn lost_more_than(&self, before: &KernelStats) -> bool {
        Stat::ALL
            .iter()
            .any(|&s| s.is_loss() && self.get(s) != before.get(s))
    }
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
    /// Lines of live output not written: stdout did not keep up.
    #[serde(default)]
    pub output_dropped: u64,
}

/// One program's run statistics (kept by the kernel only while
/// `sysctl kernel.bpf_stats_enabled=1`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgStat {
    pub name: String,
    pub run_count: u64,
    pub run_time_ns: u64,
}
