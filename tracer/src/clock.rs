//! Kernel timestamps (CLOCK_BOOTTIME, from `bpf_ktime_get_boot_ns`) to wall-clock time.

use time::OffsetDateTime;

/// Wall-clock minus boot-clock, sampled once: converts any event timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clock {
    pub realtime_minus_boottime_ns: i128,
}

fn now_ns(clock: libc::clockid_t) -> i128 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid out-pointer.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

/// CLOCK_BOOTTIME now, the clock of the kernel's event timestamps.
pub fn boot_now_ns() -> u64 {
    u64::try_from(now_ns(libc::CLOCK_BOOTTIME)).unwrap_or(0)
}

impl Clock {
    pub fn sample() -> Self {
        // Read boot time between two wall readings and take their midpoint.
        let a = now_ns(libc::CLOCK_REALTIME);
        let b = now_ns(libc::CLOCK_BOOTTIME);
        let c = now_ns(libc::CLOCK_REALTIME);
        Self {
            realtime_minus_boottime_ns: (a + c) / 2 - b,
        }
    }

    pub fn wall_ns(&self, boot_ns: u64) -> i128 {
        i128::from(boot_ns) + self.realtime_minus_boottime_ns
    }

    pub fn wall(&self, boot_ns: u64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp_nanos(self.wall_ns(boot_ns))
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// `HH:MM:SS.micros` in UTC, for live lines.
    pub fn hms(&self, boot_ns: u64) -> String {
        let t = self.wall(boot_ns);
        format!(
            "{:02}:{:02}:{:02}.{:06}",
            t.hour(),
            t.minute(),
            t.second(),
            t.microsecond()
        )
    }

    /// RFC 3339 in UTC with nanoseconds, for JSON.
    pub fn rfc3339(&self, boot_ns: u64) -> String {
        self.wall(boot_ns)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_with_the_sampled_offset() {
        let c = Clock {
            realtime_minus_boottime_ns: 1_700_000_000_000_000_000,
        };
        assert_eq!(c.wall_ns(5), 1_700_000_000_000_000_005);
        assert_eq!(c.rfc3339(123_456_789), "2023-11-14T22:13:20.123456789Z");
        assert_eq!(c.hms(123_456_789), "22:13:20.123456");
    }

    #[test]
    fn sampled_clock_puts_now_near_now() {
        let c = Clock::sample();
        let wall = c.wall(boot_now_ns());
        let diff = (OffsetDateTime::now_utc() - wall).abs();
        assert!(diff < time::Duration::seconds(1), "{diff}");
    }
}
