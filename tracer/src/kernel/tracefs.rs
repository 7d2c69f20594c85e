//! tracefs, where tracepoint ids live: found where it is mounted, or
//! mounted by the tracer — which then unmounts it at the end, leaving the
//! node as it found it.
//!
//! Tracers on one node take turns through a lock file: finding or
//! mounting tracefs and attaching to it ([`Tracefs::find_or_mount`] until
//! the [`Tracefs`] is dropped) never overlaps another's unmount
//! ([`Unmount`]). Once attached, a tracer no longer needs tracefs.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

pub const TRACEFS: &str = "/sys/kernel/tracing";
pub const TRACEFS_DEBUGFS: &str = "/sys/kernel/debug/tracing";
/// In root's /run (not the world-writable /run/lock: anyone could hold it).
const LOCK: &str = "/run/sbx-tracer-tracefs.lock";
/// Longer than any start: a tracer stuck holding the lock is not waited for.
const LOCK_WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum TracefsError {
    #[error(
        "tracefs is mounted at {0} but this process cannot read it (the directory is root's, mode 0700): it needs CAP_DAC_READ_SEARCH (or to run as root)"
    )]
    Unreadable(&'static str),
    #[error(
        "tracefs is not mounted and mounting it at {TRACEFS} needs CAP_SYS_ADMIN: mount it (`mount -t tracefs nodev {TRACEFS}`) or give the tracer CAP_SYS_ADMIN"
    )]
    MountNeedsSysAdmin,
    #[error(
        "tracefs is not mounted and mounting it at {TRACEFS} failed ({0}): mount it with `mount -t tracefs nodev {TRACEFS}`"
    )]
    Mount(io::Error),
}

/// The lock that keeps starts and unmounts apart (none where /run is not
/// writable: then there is nothing to keep apart from).
struct Lock {
    _file: File,
}

impl Lock {
    fn take() -> Option<Lock> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(LOCK)
            .ok()?;
        let started = Instant::now();
        loop {
            // SAFETY: a valid open descriptor; no memory arguments.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                return Some(Lock { _file: file });
            }
            if started.elapsed() > LOCK_WAIT {
                log::warn!("{LOCK} stayed locked for {LOCK_WAIT:?}: going on without it");
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// tracefs for the start: held until the programs are attached.
pub struct Tracefs {
    pub path: &'static Path,
    /// The tracer mounted it: unmount it at the end.
    pub mounted: bool,
    _lock: Option<Lock>,
}

/// Is a tracefs mounted at `dir` (whether or not it can be read)?
fn mounted_at(dir: &str) -> bool {
    std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|m| {
        m.lines().any(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let fstype = f.iter().position(|&x| x == "-").and_then(|i| f.get(i + 1));
            f.get(4) == Some(&dir) && fstype == Some(&"tracefs")
        })
    })
}

impl Tracefs {
    /// Find tracefs, or mount it where nothing is mounted.
    pub fn find_or_mount() -> Result<Tracefs, TracefsError> {
        let lock = Lock::take();
        for dir in [TRACEFS, TRACEFS_DEBUGFS] {
            if Path::new(dir).join("events").is_dir() {
                return Ok(Tracefs {
                    path: Path::new(dir),
                    mounted: false,
                    _lock: lock,
                });
            }
        }
        for dir in [TRACEFS, TRACEFS_DEBUGFS] {
            if mounted_at(dir) {
                return Err(TracefsError::Unreadable(dir));
            }
        }
        let target = std::ffi::CString::new(TRACEFS).map_err(|e| TracefsError::Mount(e.into()))?;
        // SAFETY: valid NUL-terminated strings; no data argument.
        let rc = unsafe {
            libc::mount(
                c"nodev".as_ptr(),
                target.as_ptr(),
                c"tracefs".as_ptr(),
                0,
                std::ptr::null(),
            )
        };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return Err(match e.raw_os_error() {
                Some(libc::EPERM) => TracefsError::MountNeedsSysAdmin,
                _ => TracefsError::Mount(e),
            });
        }
        log::info!("mounted tracefs at {TRACEFS}");
        let fs = Tracefs {
            path: Path::new(TRACEFS),
            mounted: true,
            _lock: lock,
        };
        // Mounted, it is root's and 0700: a non-root user cannot go in.
        if !fs.path.join("events").is_dir() {
            drop(fs._lock);
            drop(Unmount(fs.path));
            return Err(TracefsError::Unreadable(TRACEFS));
        }
        Ok(fs)
    }

    /// What to unmount at the end, if the tracer mounted it.
    pub fn unmount_later(&self) -> Option<Unmount> {
        // Not `then_some`: it would make (and drop, so run) an Unmount always.
        if self.mounted {
            Some(Unmount(self.path))
        } else {
            None
        }
    }
}

/// Unmounts, when dropped, the tracefs the tracer mounted. A tracefs in
/// use (a file open in it) stays.
pub struct Unmount(&'static Path);

impl Unmount {
    pub fn path(&self) -> &'static Path {
        self.0
    }
}

impl Drop for Unmount {
    fn drop(&mut self) {
        let Ok(target) = std::ffi::CString::new(self.0.as_os_str().as_encoded_bytes()) else {
            return;
        };
        let _lock = Lock::take();
        // SAFETY: a valid NUL-terminated path; no other argument.
        if unsafe { libc::umount2(target.as_ptr(), 0) } != 0 {
            log::warn!(
                "could not unmount the tracefs mounted at {} at start: {}",
                self.0.display(),
                io::Error::last_os_error()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_name_their_mount_point_and_type() {
        // Whatever this machine has mounted: a tracefs found readable is mounted.
        if Path::new(TRACEFS).join("events").is_dir() {
            assert!(mounted_at(TRACEFS) || mounted_at(TRACEFS_DEBUGFS));
        }
        assert!(!mounted_at("/nonexistent"));
    }
}
