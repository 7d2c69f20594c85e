//! Facts of the host that the holder scenarios take as ground truth: the
//! tracer's clock (CLOCK_BOOTTIME) around each step, namespaces from
//! `/proc/<pid>/ns`, nsfs mounts from `/proc/<pid>/mountinfo`, `NS_GET_ID`
//! of a pin, and a scratch directory under /run removed on drop.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

// ---- clock, ids, /proc ----------------------------------------------------

/// CLOCK_BOOTTIME in ns: the clock of the tracer's `*_ns` fields.
pub fn boot_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-pointer to a timespec.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &raw mut ts) };
    assert_eq!(r, 0, "clock_gettime(CLOCK_BOOTTIME)");
    u64::try_from(ts.tv_sec).expect("boot time is positive") * 1_000_000_000
        + u64::try_from(ts.tv_nsec).expect("ns are positive")
}

/// A span of CLOCK_BOOTTIME around a step: the step happened inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub from_ns: u64,
    pub to_ns: u64,
}

impl Window {
    /// Time `f`.
    pub fn around<T>(f: impl FnOnce() -> T) -> (T, Window) {
        let from_ns = boot_ns();
        let v = f();
        (
            v,
            Window {
                from_ns,
                to_ns: boot_ns(),
            },
        )
    }

    pub fn contains(&self, t: u64) -> bool {
        self.from_ns <= t && t <= self.to_ns
    }

    /// `t` inside, or at most `slack_ns` after the end (for what the tracer
    /// may stamp when it notices, e.g. from an exit event it waits for).
    pub fn contains_late(&self, t: u64, slack_ns: u64) -> bool {
        self.from_ns <= t && t <= self.to_ns + slack_ns
    }
}

/// A fresh random UUID from the kernel.
pub fn uuid() -> String {
    fs::read_to_string("/proc/sys/kernel/random/uuid")
        .expect("read /proc/sys/kernel/random/uuid")
        .trim()
        .to_string()
}

/// A 64-hex-digit id, as CRI-O names containers and sandboxes.
pub fn hex_id() -> String {
    format!("{}{}", uuid(), uuid()).replace('-', "")
}

/// `net:[4026532177]` → 4026532177.
pub fn parse_ns_link(s: &str) -> Option<u64> {
    let open = s.find(":[")?;
    s[open + 2..].strip_suffix(']')?.parse().ok()
}

/// Inode of `/proc/<pid>/ns/<name>` (`self` for ours).
pub fn ns_inum(pid: &str, name: &str) -> Result<u64, String> {
    let p = format!("/proc/{pid}/ns/{name}");
    let t = fs::read_link(&p).map_err(|e| format!("{p}: {e}"))?;
    parse_ns_link(&t.to_string_lossy()).ok_or_else(|| format!("{p} -> {}", t.display()))
}

/// The namespaces a pod cares about, by `/proc/<pid>/ns` name.
pub const NS_OF_INTEREST: [&str; 5] = ["net", "ipc", "uts", "mnt", "pid"];

pub fn ns_map(pid: u32) -> Result<BTreeMap<String, u64>, String> {
    NS_OF_INTEREST
        .iter()
        .map(|n| Ok(((*n).to_string(), ns_inum(&pid.to_string(), n)?)))
        .collect()
}

/// Inode of the namespace an nsfs file (a pin) holds: `stat` of the mount
/// point gives the nsfs inode, which is the namespace's.
pub fn pin_inum(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    fs::metadata(path)
        .unwrap_or_else(|e| panic!("stat {}: {e}", path.display()))
        .ino()
}

/// `NS_GET_ID` (Linux 6.18+): the 64-bit never-reused id of a namespace
/// file's namespace; `None` on kernels without the ioctl.
pub fn pin_ns_id(path: &Path) -> Option<u64> {
    const NS_GET_ID: libc::c_ulong = (2 << 30) | (8 << 16) | (0xb7 << 8) | 0x0d;
    let f = fs::File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut id: u64 = 0;
    // SAFETY: a valid fd and a valid u64 out-pointer, which is what NS_GET_ID writes.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_ID, &raw mut id) };
    (r == 0).then_some(id)
}

/// nsfs mounts in a mountinfo text: (mount point, `net:[X]` root).
pub fn nsfs_mounts(mountinfo: &str) -> Vec<(String, String)> {
    mountinfo
        .lines()
        .filter_map(|line| {
            let (pre, post) = line.split_once(" - ")?;
            (post.split(' ').next()? == "nsfs").then_some(())?;
            let mut f = pre.split(' ');
            let root = f.nth(3)?.to_string();
            Some((f.next()?.to_string(), root))
        })
        .collect()
}

/// Is `path` an nsfs mount in the mount namespace of `pid` (`self` for ours)?
/// Returns the namespace (`net:[X]`) it holds there.
pub fn nsfs_mount_in(pid: &str, path: &Path) -> Option<String> {
    let mi = fs::read_to_string(format!("/proc/{pid}/mountinfo")).ok()?;
    let want = path.to_string_lossy();
    nsfs_mounts(&mi)
        .into_iter()
        .find(|(mp, _)| *mp == want)
        .map(|(_, root)| root)
}

/// Poll `f` every few ms until it gives a value, or fail after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let t0 = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            t0.elapsed() < timeout,
            "timed out after {timeout:?}: {what}"
        );
        thread::sleep(Duration::from_millis(3));
    }
}

/// `umount2(path, MNT_DETACH)`: how CRI-O and containerd drop a pin.
pub fn umount_detach(path: &Path) -> Result<(), String> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: a valid NUL-terminated path.
    let r = unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
    if r == 0 {
        Ok(())
    } else {
        Err(format!(
            "umount2({}, MNT_DETACH): {}",
            path.display(),
            std::io::Error::last_os_error()
        ))
    }
}

pub fn run_ok(cmd: &mut Command) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

// ---- scratch directory ------------------------------------------------------

/// `/run/tracer-test-<pid>-<uuid8>`: rootfs, bundles, runc's state, pins.
/// Removed when dropped (after the guards that unmount inside it).
pub struct Scratch {
    pub dir: PathBuf,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = PathBuf::from(format!(
            "/run/tracer-test-{}-{}",
            std::process::id(),
            &uuid()[..8]
        ));
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        Scratch { dir }
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("cleanup: remove {}: {e}", self.dir.display());
        }
    }
}
