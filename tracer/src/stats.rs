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
    /// Times a program woke the reader at once (not lost: the cost side).
    #[serde(default)]
    pub wakeups: u64,
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
            Stat::Wakeups => self.wakeups,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `-q` on a busy host printed a stats line a second: `filtered`
    /// moved, which is no loss (nor are `wakeups`). Only loss counters
    /// call for a line.
    #[test]
    fn only_a_loss_counter_calls_for_a_stats_line() {
        let before = KernelStats::default();
        let filtered = KernelStats {
            filtered: 1000,
            wakeups: 10,
            ..before
        };
        assert!(!filtered.lost_more_than(&before));
        for s in Stat::ALL.into_iter().filter(|s| s.is_loss()) {
            let mut k = before;
            match s {
                Stat::RingbufFull => k.ringbuf_full = 1,
                Stat::ReadFailed => k.read_failed = 1,
                Stat::PendingFull => k.pending_full = 1,
                Stat::PendingMissing => k.pending_missing = 1,
                Stat::ArgReadFailed => k.arg_read_failed = 1,
                Stat::Filtered | Stat::Wakeups => unreachable!(),
            }
            assert_eq!(k.get(s), 1, "{}", s.name());
            assert!(k.lost_more_than(&before), "{}", s.name());
        }
    }

    #[test]
    fn counters_serialise_under_their_kernel_names() {
        let v = serde_json::to_value(KernelStats::default()).unwrap();
        for s in Stat::ALL {
            assert!(v.get(s.name()).is_some(), "{}: {v}", s.name());
        }
        // Recordings from before `arg_read_failed` still read.
        let old: KernelStats = serde_json::from_str(
            r#"{"ringbuf_full":1,"read_failed":0,"pending_full":0,"pending_missing":0,"filtered":5}"#,
        )
        .unwrap();
        assert_eq!((old.ringbuf_full, old.arg_read_failed), (1, 0));
    }
}
