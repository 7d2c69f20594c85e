//! The nsfs mounts of the tracer's own mount namespace (the host's),
//! looked at again only when the kernel says the table changed. An open
//! mountinfo polls with `POLLPRI` once any mount in its namespace came,
//! went or moved since the last poll (propagated mounts, and the detaching
//! an unlinked mount point does, included). A pod's end asks about ten
//! times.
//!
//! A change is read with [`statmount`] where the kernel has it: only the
//! mounts not seen before, and the nsfs ones again (a move keeps a mount's
//! id), instead of every mount's mountinfo line (a millisecond for a
//! thousand). The first read checks the listing against mountinfo itself
//! (every mount counted, the same nsfs mounts) and keeps to mountinfo's
//! text where they differ.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::os::fd::AsRawFd;
use std::sync::Mutex;

use rustc_hash::FxHashMap;

use super::pins::{nsfs_mount, nsfs_mounts};
use super::statmount::{self, NSFS_MAGIC};
use crate::model::Nsfs;

const PATH: &str = "/proc/self/mountinfo";

struct Kept {
    /// Polled for changes; read only where the listing is not used.
    file: File,
    /// Mount ids seen by the listing, and whether each is an nsfs mount;
    /// `None`: the text is read.
    listed: Option<FxHashMap<u64, bool>>,
    nsfs: Vec<Nsfs>,
}

static OWN: Mutex<Option<Kept>> = Mutex::new(None);

/// `f` of the nsfs mounts of the tracer's own mount namespace, as they are now.
pub fn with_own<T>(f: impl FnOnce(&[Nsfs]) -> T) -> io::Result<T> {
    let mut own = OWN
        .lock()
        .map_err(|_| io::Error::other("the mountinfo cache was poisoned"))?;
    match own.as_mut() {
        Some(kept) if !changed(&kept.file)? => {}
        Some(kept) => kept.reread()?,
        None => *own = Some(Kept::open()?),
    }
    Ok(f(own.as_ref().map_or(&[], |k| k.nsfs.as_slice())))
}

impl Kept {
    fn open() -> io::Result<Kept> {
        // Opened before it is read: a change between the two is polled
        // next time.
        let mut file = File::open(PATH)?;
        let text = read_text(&mut file)?;
        let from_text = nsfs_mounts(&text);
        let mut seen = FxHashMap::default();
        let listed = listed(&mut seen).ok().filter(|nsfs| {
            let lines = text.lines().filter(|l| !l.is_empty()).count();
            seen.len() == lines && sorted(nsfs) == sorted(&from_text)
        });
        let (listed, nsfs) = match listed {
            Some(nsfs) => (Some(seen), nsfs),
            None => (None, from_text),
        };
        Ok(Kept { file, listed, nsfs })
    }

    fn reread(&mut self) -> io::Result<()> {
        if let Some(seen) = &mut self.listed {
            match listed(seen) {
                Ok(nsfs) => {
                    self.nsfs = nsfs;
                    return Ok(());
                }
                // The text from now on: it needs no capability.
                Err(_) => self.listed = None,
            }
        }
        self.nsfs = nsfs_mounts(&read_text(&mut self.file)?);
        Ok(())
    }
}

/// The nsfs mounts the listing shows now; `seen` (mount id: nsfs or not)
/// is updated to it. A mount known not to be nsfs is not looked at again.
fn listed(seen: &mut FxHashMap<u64, bool>) -> io::Result<Vec<Nsfs>> {
    let ids = statmount::list()?;
    let mut now = FxHashMap::with_capacity_and_hasher(ids.len(), Default::default());
    let mut nsfs = Vec::new();
    let mut buf = Vec::new();
    for id in ids {
        // A new mount's paths are rendered only if it is nsfs; a known
        // nsfs mount's again, for a move. Gone since the listing: skipped.
        match seen.get(&id) {
            Some(true) => {}
            Some(false) => {
                now.insert(id, false);
                continue;
            }
            None => match statmount::magic(id, &mut buf)? {
                Some(NSFS_MAGIC) => {}
                Some(_) => {
                    now.insert(id, false);
                    continue;
                }
                None => continue,
            },
        }
        let Some(m) = statmount::stat(id, &mut buf)? else {
            continue;
        };
        now.insert(id, true);
        nsfs.extend(nsfs_mount(&m.root, m.point));
    }
    *seen = now;
    Ok(nsfs)
}

/// Comparable whatever the order: (kind, inode, path), sorted.
fn sorted(v: &[Nsfs]) -> Vec<(&'static str, u32, &str)> {
    let mut v: Vec<_> = v
        .iter()
        .map(|n| (n.kind.name(), n.inum, n.path.as_str()))
        .collect();
    v.sort();
    v
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

fn read_text(file: &mut File) -> io::Result<String> {
    file.rewind()?;
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_kept_mounts_are_what_mountinfo_shows() {
        let read = || nsfs_mounts(&std::fs::read_to_string(PATH).unwrap());
        for _ in 0..2 {
            let own = with_own(<[Nsfs]>::to_vec).unwrap();
            assert_eq!(sorted(&own), sorted(&read()));
        }
    }

    /// On this kernel (6.18) the first read takes to the listing: it
    /// agrees with mountinfo (a disagreement keeps to the text, silently).
    #[test]
    fn the_listing_is_taken_where_the_kernel_has_it() {
        // SAFETY: a plain geteuid.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: statmount needs CAP_SYS_ADMIN");
            return;
        }
        let kept = Kept::open().unwrap();
        assert!(kept.listed.is_some(), "mountinfo and the listing disagree");
    }

    fn cstr(s: &str) -> std::ffi::CString {
        std::ffi::CString::new(s).unwrap()
    }

    fn mount(src: &str, dst: &str, ty: Option<&str>, flags: libc::c_ulong) {
        let (src, dst, ty) = (cstr(src), cstr(dst), ty.map(cstr));
        let ty = ty.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
        // SAFETY: NUL-terminated strings that outlive the call.
        let r = unsafe { libc::mount(src.as_ptr(), dst.as_ptr(), ty, flags, std::ptr::null()) };
        assert_eq!(r, 0, "mount {dst:?}: {}", io::Error::last_os_error());
    }

    /// `f` in a thread of its own in a mount namespace of its own, private:
    /// nothing done in it reaches the test process's. Needs root.
    fn in_own_mount_namespace(f: impl FnOnce() + Send + 'static) {
        // SAFETY: a plain geteuid.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("skipped: needs root to make a mount namespace");
            return;
        }
        std::thread::spawn(|| {
            // SAFETY: no pointers; this thread's own mount namespace.
            let r = unsafe { libc::unshare(libc::CLONE_NEWNS | libc::CLONE_FS) };
            assert_eq!(r, 0, "{}", io::Error::last_os_error());
            mount("none", "/", None, libc::MS_REC | libc::MS_PRIVATE);
            f();
        })
        .join()
        .unwrap();
    }

    /// The listing finds what this thread's mountinfo shows, through more
    /// mounts than one listing call returns, a mount point with a space,
    /// a moved pin and a removed one; and it counts every mount.
    #[test]
    fn the_listing_finds_the_nsfs_mounts_mountinfo_shows() {
        let top = std::env::temp_dir().join(format!("tracer-listmount-{}", std::process::id()));
        std::fs::create_dir_all(&top).unwrap();
        let dir = top.to_str().unwrap().to_string();
        in_own_mount_namespace(move || {
            // The host's own pins (`ip netns add`) came along with the copy.
            let host_pins =
                nsfs_mounts(&std::fs::read_to_string("/proc/thread-self/mountinfo").unwrap()).len();
            mount("none", &dir, Some("tmpfs"), 0);
            let stack = format!("{dir}/stack");
            std::fs::create_dir(&stack).unwrap();
            for _ in 0..1100 {
                mount("none", &stack, Some("tmpfs"), 0);
            }
            let pins = [
                format!("{dir}/net pin"),
                format!("{dir}/uts"),
                format!("{dir}/moved"),
            ];
            for p in &pins {
                std::fs::write(p, "").unwrap();
            }
            mount("/proc/thread-self/ns/net", &pins[0], None, libc::MS_BIND);
            mount("/proc/thread-self/ns/uts", &pins[1], None, libc::MS_BIND);
            let mut seen = FxHashMap::default();
            let check = |seen: &mut FxHashMap<u64, bool>, nsfs: usize| {
                let text = std::fs::read_to_string("/proc/thread-self/mountinfo").unwrap();
                let got = listed(seen).expect("listmount/statmount on Linux 6.8+");
                assert_eq!(sorted(&got), sorted(&nsfs_mounts(&text)));
                assert_eq!(got.len(), host_pins + nsfs);
                assert_eq!(seen.len(), text.lines().count(), "every mount counted");
                got
            };
            let got = check(&mut seen, 2);
            assert!(
                got.iter()
                    .any(|n| n.kind == crate::model::NsKind::Net && n.path == pins[0])
            );
            mount(&pins[1], &pins[2], None, libc::MS_MOVE);
            let got = check(&mut seen, 2);
            assert!(
                got.iter().any(|n| n.path == pins[2]),
                "a move is seen: {got:?}"
            );
            // SAFETY: a NUL-terminated path that outlives the call.
            assert_eq!(unsafe { libc::umount2(cstr(&pins[0]).as_ptr(), 0) }, 0);
            check(&mut seen, 1);
        });
        // Empty outside the namespace, whose mounts went with its thread.
        let _ = std::fs::remove_dir(&top);
    }

    /// A mount in a mount namespace of our own (a thread that unshares
    /// it: the test process's own namespace stays as it was) is polled.
    #[test]
    fn a_change_is_polled_and_none_is_not() {
        in_own_mount_namespace(|| {
            // This thread's, not the process's (/proc/self is the leader's).
            let file = File::open("/proc/thread-self/mountinfo").unwrap();
            assert!(!changed(&file).unwrap());
            let dir = std::env::temp_dir().join(format!("tracer-mountinfo-{}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            let dir = dir.to_str().unwrap();
            mount("none", dir, Some("tmpfs"), 0);
            assert!(changed(&file).unwrap());
            assert!(!changed(&file).unwrap(), "once per change");
            // SAFETY: a NUL-terminated path that outlives the call.
            unsafe { libc::umount2(cstr(dir).as_ptr(), libc::MNT_DETACH) };
            assert!(changed(&file).unwrap());
            let _ = std::fs::remove_dir(dir);
        });
    }
}
