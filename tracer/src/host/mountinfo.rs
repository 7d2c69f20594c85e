//! The tracer's own mountinfo (its mount namespace: the host's), read
//! again only when the kernel says it changed. An open mountinfo polls
//! with `POLLPRI` once any mount in its namespace came, went or moved
//! since the last poll (propagated mounts, and the detaching an unlinked
//! mount point does, included): unchanged, the last text is still what a
//! read would give. A pod's end asked for it about ten times, a third of
//! a millisecond of reads for the same 22 lines.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::os::fd::AsRawFd;
use std::sync::Mutex;

const PATH: &str = "/proc/self/mountinfo";

struct Kept {
    file: File,
    text: String,
}

static OWN: Mutex<Option<Kept>> = Mutex::new(None);

/// `f` of the tracer's own mountinfo, as it is now.
pub fn with_own<T>(f: impl FnOnce(&str) -> T) -> io::Result<T> {
    let mut own = OWN
        .lock()
        .map_err(|_| io::Error::other("the mountinfo cache was poisoned"))?;
    match own.as_mut() {
        Some(kept) if !changed(&kept.file)? => {}
        Some(kept) => reread(kept)?,
        None => {
            // Opened before it is read: a change between the two is
            // polled next time.
            let mut kept = Kept {
                file: File::open(PATH)?,
                text: String::new(),
            };
            reread(&mut kept)?;
            *own = Some(kept);
        }
    }
    let text = own.as_ref().map_or("", |k| k.text.as_str());
    Ok(f(text))
}

/// Whether the mount namespace changed since the last poll (or the open).
fn changed(file: &File) -> io::Result<bool> {
    let mut p = libc::pollfd {
        fd: file.as_raw_fd(),
        events: libc::POLLPRI,
        revents: 0,
    };
    // SAFETY: one pollfd of ours, no waiting.
    let n = unsafe { libc::poll(&mut p, 1, 0) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(p.revents & (libc::POLLPRI | libc::POLLERR) != 0)
}

fn reread(kept: &mut Kept) -> io::Result<()> {
    kept.file.rewind()?;
    kept.text.clear();
    if let Err(e) = kept.file.read_to_string(&mut kept.text) {
        kept.text.clear();
        return Err(e);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_text_is_what_a_read_gives() {
        let read = || std::fs::read_to_string(PATH).unwrap();
        assert_eq!(with_own(str::to_string).unwrap(), read());
        assert_eq!(with_own(str::to_string).unwrap(), read());
    }

    /// A mount in a mount namespace of our own (a thread that unshares
    /// it: the test process's own namespace stays as it was) is polled.
    #[test]
    fn a_change_is_polled_and_none_is_not() {
        // SAFETY: a plain geteuid.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root to make a mount namespace");
            return;
        }
        std::thread::spawn(|| {
            // SAFETY: no pointers; this thread's own mount namespace.
            let r = unsafe { libc::unshare(libc::CLONE_NEWNS | libc::CLONE_FS) };
            assert_eq!(r, 0);
            // Private: nothing done here propagates to the host's.
            let root = std::ffi::CString::new("/").unwrap();
            // SAFETY: a NUL-terminated path that outlives the call; null for the rest.
            let r = unsafe {
                libc::mount(
                    std::ptr::null(),
                    root.as_ptr(),
                    std::ptr::null(),
                    libc::MS_REC | libc::MS_PRIVATE,
                    std::ptr::null(),
                )
            };
            assert_eq!(r, 0, "{}", io::Error::last_os_error());
            // This thread's, not the process's (/proc/self is the leader's).
            let file = File::open("/proc/thread-self/mountinfo").unwrap();
            assert!(!changed(&file).unwrap());
            let dir = std::env::temp_dir().join(format!("tracer-mountinfo-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let c = |s: &str| std::ffi::CString::new(s).unwrap();
            let (src, dst, ty) = (c("none"), c(dir.to_str().unwrap()), c("tmpfs"));
            // SAFETY: NUL-terminated strings that outlive the call.
            let r = unsafe {
                libc::mount(src.as_ptr(), dst.as_ptr(), ty.as_ptr(), 0, std::ptr::null())
            };
            assert_eq!(r, 0, "{}", io::Error::last_os_error());
            assert!(changed(&file).unwrap());
            assert!(!changed(&file).unwrap(), "once per change");
            // SAFETY: as above.
            unsafe { libc::umount2(dst.as_ptr(), libc::MNT_DETACH) };
            assert!(changed(&file).unwrap());
            let _ = std::fs::remove_dir(&dir);
        })
        .join()
        .unwrap();
    }
}
