//! Loss counters: the kernel's per-CPU ones, and userspace's own.

use std::os::fd::{AsFd, AsRawFd};

use aya::Ebpf;
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

/// One program's run statistics (kept by the kernel only while
/// `sysctl kernel.bpf_stats_enabled=1`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgStat {
    pub name: String,
    pub run_count: u64,
    pub run_time_ns: u64,
}

/// `run_cnt` and `run_time_ns` of a BPF program fd, from /proc/self/fdinfo.
fn fdinfo_counts(text: &str) -> (u64, u64) {
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0)
    };
    (field("run_cnt:"), field("run_time_ns:"))
}

/// Every program's statistics; empty when the kernel keeps none.
pub fn programs(ebpf: &Ebpf) -> Vec<ProgStat> {
    let mut v: Vec<ProgStat> = ebpf
        .programs()
        .filter_map(|(name, prog)| {
            let fd = prog.fd().ok()?.as_fd().as_raw_fd();
            let text = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).ok()?;
            let (run_count, run_time_ns) = fdinfo_counts(&text);
            Some(ProgStat {
                name: name.to_string(),
                run_count,
                run_time_ns,
            })
        })
        .collect();
    if v.iter().all(|p| p.run_count == 0) {
        v.clear();
    }
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_run_counters_are_read() {
        let text = "pos:\t0\nflags:\t02000002\nprog_type:\t5\nprog_jited:\t1\nrun_time_ns:\t123456\nrun_cnt:\t42\n";
        assert_eq!(fdinfo_counts(text), (42, 123456));
        assert_eq!(fdinfo_counts("garbage"), (0, 0));
    }
}
