//! Loss counters: the kernel's per-CPU ones, and userspace's own.

use aya::maps::{MapData, PerCpuArray};
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

pub fn read_kernel(map: &PerCpuArray<MapData, u64>) -> KernelStats {
    let sum = |stat: Stat| -> u64 {
        map.get(&(stat as u32), 0)
            .map(|per_cpu| per_cpu.iter().sum())
            .unwrap_or(0)
    };
    KernelStats {
        ringbuf_full: sum(Stat::RingbufFull),
        read_failed: sum(Stat::ReadFailed),
        pending_full: sum(Stat::PendingFull),
        pending_missing: sum(Stat::PendingMissing),
        filtered: sum(Stat::Filtered),
    }
}
