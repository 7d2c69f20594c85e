//! The kernel side's counters: per-CPU loss counters from the stats map,
//! and the programs' run statistics.

use aya::Ebpf;
use aya::maps::{MapData, PerCpuArray};
use tracer_common::Stat;

use crate::stats::{KernelStats, ProgStat};

/// Sums over all CPUs of the kernel's counters.
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
        arg_read_failed: sum(Stat::ArgReadFailed),
        wakeups: sum(Stat::Wakeups),
    }
}

/// Every program's run count and time (`bpf_prog_info`, kept by the kernel
/// only while `sysctl kernel.bpf_stats_enabled=1`); empty when it keeps none.
pub fn programs(ebpf: &Ebpf) -> Vec<ProgStat> {
    let mut v: Vec<ProgStat> = ebpf
        .programs()
        .filter_map(|(name, prog)| {
            let info = prog.info().ok()?;
            Some(ProgStat {
                name: name.to_string(),
                run_count: info.run_count(),
                run_time_ns: u64::try_from(info.run_time().as_nanos()).unwrap_or(u64::MAX),
            })
        })
        .collect();
    if v.iter().all(|p| p.run_count == 0) {
        v.clear();
    }
    v.sort_by(|a, b| a.name.cmp(&b.name));
    v
}
