//! Clocks: the tracer's (CLOCK_BOOTTIME), the wall clock, and RFC 3339
//! timestamps as runtimes print them.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub const MS: i64 = 1_000_000;
pub const S: i64 = 1_000_000_000;

/// CLOCK_BOOTTIME in ns: the clock of the tracer's `*_ns` fields.
pub fn boottime_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    assert_eq!(r, 0, "clock_gettime(CLOCK_BOOTTIME)");
    ts.tv_sec * S + ts.tv_nsec
}

/// The current wall-clock time in Unix ns (to compare with runtimes' times).
pub fn now_unix_ns() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(d.as_nanos()).expect("time fits i64")
}

/// The CLOCK_BOOTTIME interval a command ran in: whatever the kernel did
/// for it has a timestamp inside.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    pub from: i64,
    pub to: i64,
}

impl Window {
    pub fn assert_contains(&self, ts: u64, what: &str) {
        let ts = i64::try_from(ts).unwrap_or_else(|_| panic!("{what}: {ts} out of range"));
        assert!(
            (self.from..=self.to).contains(&ts),
            "{what}: {ts} is outside the command's window {self:?}"
        );
    }
}

/// Run `f`; its result and the window it ran in.
pub fn timed<T>(f: impl FnOnce() -> T) -> (T, Window) {
    let from = boottime_ns();
    let t = f();
    (
        t,
        Window {
            from,
            to: boottime_ns(),
        },
    )
}

/// An RFC 3339 timestamp as Go's `time.RFC3339Nano` writes it
/// (`2026-11-28T07:33:09.946303039Z`; 0 to 9 fraction digits, `Z` or
/// `±hh:mm`) in ns since the Unix epoch. `i128`: Go's zero time (year 1)
/// does not fit an `i64`.
pub fn rfc3339_ns(s: &str) -> Result<i128, String> {
    // `time` reads any number of fraction digits; Go never writes more
    // than 9, and more would be another format.
    if let Some((_, frac)) = s.split_once('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 9 {
            return Err(format!("fraction of {digits} digits"));
        }
    }
    OffsetDateTime::parse(s, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp_nanos)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::rfc3339_ns;

    const S: i128 = 1_000_000_000;

    #[test]
    fn parses_go_timestamps() {
        assert_eq!(rfc3339_ns("1970-01-01T00:00:00Z"), Ok(0));
        // What podman 4.3 prints here (9 digits, `Z`).
        assert_eq!(
            rfc3339_ns("2026-11-28T07:33:09.946303039Z"),
            Ok(1_795_851_189 * S + 946_303_039)
        );
        // Go's RFC3339Nano drops trailing zeros of the fraction.
        assert_eq!(
            rfc3339_ns("2026-11-28T07:33:10.0618044Z"),
            Ok(1_795_851_190 * S + 61_804_400)
        );
        assert_eq!(
            rfc3339_ns("2026-11-28T07:33:10.5Z"),
            Ok(1_795_851_190 * S + 500_000_000)
        );
        // Offsets.
        assert_eq!(
            rfc3339_ns("2026-11-28T07:33:09.946303039+00:00"),
            rfc3339_ns("2026-11-28T07:33:09.946303039Z")
        );
        assert_eq!(
            rfc3339_ns("2026-11-28T09:03:09.1+01:30"),
            rfc3339_ns("2026-11-28T07:33:09.1Z")
        );
        assert_eq!(
            rfc3339_ns("2026-11-27T23:33:09-08:00"),
            rfc3339_ns("2026-11-28T07:33:09Z")
        );
        // Leap days and year ends.
        assert_eq!(rfc3339_ns("2000-03-01T00:00:00Z"), Ok(951_868_800 * S));
        assert_eq!(rfc3339_ns("2024-02-29T12:00:00Z"), Ok(1_709_208_000 * S));
        assert_eq!(
            rfc3339_ns("1999-12-31T23:59:59.999999999Z"),
            Ok(946_684_800 * S - 1)
        );
        // Go's zero time (year 1): "never", e.g. FinishedAt of a running container.
        assert_eq!(rfc3339_ns("0001-01-01T00:00:00Z"), Ok(-62_135_596_800 * S));
    }

    #[test]
    fn rejects_what_is_not_rfc3339() {
        for bad in [
            "",
            "2026-11-28",
            "2026-11-28T07:33:09",
            "2026-11-28T07:33:09.Z",
            "2026-11-28T07:33:09.1234567890Z",
            "2026-13-28T07:33:09Z",
            "2026-02-29T07:33:09Z",
            "2026-11-28T24:33:09Z",
            "2026-11-28T07:33:09+0100",
            "2026-11-28T07:33:09 UTC",
            "2026-11-28T07:33:09.12x4Z",
            "+026-11-28T07:33:09Z",
        ] {
            assert!(rfc3339_ns(bad).is_err(), "accepted {bad:?}");
        }
    }
}
