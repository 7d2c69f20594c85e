//! The event loop's periodic wakeup, kept by the kernel (a timerfd).
//!
//! Waking up is what an idle tracer pays for (≈ 30 µs each in this VM,
//! most of it the switch from idle): one timerfd wakes exactly once a
//! period. Tokio's timers woke about twice as often here — a timer longer
//! than 64 ms wakes the runtime once more when its wheel level cascades,
//! and re-arming an interval writes the runtime's eventfd each time.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

pub struct Ticker {
    fd: AsyncFd<OwnedFd>,
}

impl Ticker {
    /// Ticks every `period` (CLOCK_MONOTONIC), the first one `period` from now.
    pub fn new(period: Duration) -> io::Result<Self> {
        // SAFETY: no pointers; the flags are valid.
        let raw = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if raw < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        arm(&fd, period)?;
        // SAFETY: the fd is owned here and never closed or replaced while registered.
        let fd = unsafe { AsyncFd::register_with_interest(fd, Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        Ok(Self { fd })
    }

    /// Tick every `period` from now on, the next one `period` from now.
    pub fn set_period(&mut self, period: Duration) -> io::Result<()> {
        arm(self.fd.get_ref(), period)
    }

    /// The next tick; how many periods passed since the last one (≥ 1: a
    /// late reader gets one tick for all it missed). Cancel-safe.
    pub async fn tick(&mut self) -> io::Result<u64> {
        loop {
            let mut guard = self.fd.readable().await?;
            match guard.try_io(|fd| {
                let mut n = 0u64;
                // SAFETY: reads 8 bytes into a u64 of ours.
                let r = unsafe {
                    libc::read(
                        fd.as_raw_fd(),
                        (&raw mut n).cast::<libc::c_void>(),
                        size_of::<u64>(),
                    )
                };
                if r == size_of::<u64>() as isize {
                    Ok(n)
                } else {
                    Err(io::Error::last_os_error())
                }
            }) {
                Ok(r) => {
                    // Read empty until the next expiry: not asked again
                    // (a read that says EAGAIN) before epoll says so.
                    if r.is_ok() {
                        guard.clear_ready();
                    }
                    return r;
                }
                Err(_would_block) => continue,
            }
        }
    }
}

/// Expire every `period` (CLOCK_MONOTONIC), the first one `period` from now.
fn arm(fd: &OwnedFd, period: Duration) -> io::Result<()> {
    let ts = libc::timespec {
        tv_sec: period.as_secs().try_into().unwrap_or(i32::MAX.into()),
        tv_nsec: libc::c_long::from(period.subsec_nanos()),
    };
    let spec = libc::itimerspec {
        it_interval: ts,
        it_value: ts,
    };
    // SAFETY: our timerfd, a valid itimerspec, no old value asked for.
    if unsafe { libc::timerfd_settime(fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[tokio::test]
    async fn ticks_once_a_period_and_counts_the_missed_ones() {
        let mut t = Ticker::new(Duration::from_millis(20)).unwrap();
        let start = Instant::now();
        assert_eq!(t.tick().await.unwrap(), 1);
        let first = start.elapsed();
        assert!(first >= Duration::from_millis(19), "{first:?}");
        std::thread::sleep(Duration::from_millis(70));
        let missed = t.tick().await.unwrap();
        assert!(missed >= 3, "{missed}");
        // A longer period: the next tick comes that much later.
        t.set_period(Duration::from_millis(60)).unwrap();
        let start = Instant::now();
        assert_eq!(t.tick().await.unwrap(), 1);
        let next = start.elapsed();
        assert!(next >= Duration::from_millis(59), "{next:?}");
    }
}
