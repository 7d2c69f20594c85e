//! A task's cgroup from its cgroup v2 id, as every record's header carries
//! it (`bpf_get_current_cgroup_id`): for a task gone before userspace could
//! read its `/proc/<pid>/cgroup` (a container that lives a millisecond).
//!
//! The id is the cgroup directory's kernfs id, which is also its file
//! handle on the cgroup2 mount: `open_by_handle_at` (root's
//! CAP_DAC_READ_SEARCH) opens the directory straight away, no walk.
//! runc puts containers in the unified hierarchy too on hybrid hosts, at
//! the same path as in v1.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::OnceLock;

use super::cgroup::{CgroupIds, parse_path};

/// kernfs' file handle type (`FILEID_KERNFS`): the 64-bit id.
const FILEID_KERNFS: i32 = 0xfe;

/// The cgroup2 mount: an open directory fd on it and its path.
struct Mount {
    fd: OwnedFd,
    path: PathBuf,
}

fn mount() -> Option<&'static Mount> {
    static MOUNT: OnceLock<Option<Mount>> = OnceLock::new();
    MOUNT
        .get_or_init(|| {
            let info = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
            let path = cgroup2_mount(&info)?;
            let c = CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
            // SAFETY: a valid C string; the fd returned is ours to own.
            let fd = unsafe {
                libc::open(
                    c.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
                )
            };
            if fd < 0 {
                return None;
            }
            // SAFETY: a fresh fd from open, owned by nobody else.
            let fd = unsafe { OwnedFd::from_raw_fd(fd) };
            Some(Mount { fd, path })
        })
        .as_ref()
}

/// The mount point of the cgroup2 file system in a mountinfo text
/// (`/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on hybrid hosts).
pub fn cgroup2_mount(mountinfo: &str) -> Option<PathBuf> {
    mountinfo.lines().find_map(|l| {
        let (left, right) = l.split_once(" - ")?;
        (right.split(' ').next()? == "cgroup2").then_some(())?;
        left.split(' ').nth(4).map(PathBuf::from)
    })
}

/// `struct file_handle` with its 8 bytes of handle.
#[repr(C)]
struct Handle {
    bytes: u32,
    ty: i32,
    id: u64,
}

/// The cgroup v2 path (`/kubepods/besteffort/pod…/<id>`) of a cgroup id;
/// `None` once the cgroup is removed, without cgroup2 or without privilege.
pub fn path_of(id: u64) -> Option<String> {
    // 0: unread; 1: the root, which names nothing.
    if id <= 1 {
        return None;
    }
    let m = mount()?;
    let mut h = Handle {
        bytes: 8,
        ty: FILEID_KERNFS,
        id,
    };
    // SAFETY: `h` is a file_handle with 8 bytes of handle after its header,
    // valid for the call; the fd returned is ours to own.
    let fd = unsafe {
        libc::open_by_handle_at(
            m.fd.as_raw_fd(),
            (&mut h as *mut Handle).cast::<libc::file_handle>(),
            libc::O_PATH | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return None;
    }
    // SAFETY: a fresh fd from open_by_handle_at, owned by nobody else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let full = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).ok()?;
    let rel = full.strip_prefix(&m.path).ok()?;
    Some(format!("/{}", rel.display()))
}

/// What the cgroup of this id says about a pod and container.
pub fn read(id: u64) -> Option<CgroupIds> {
    path_of(id).map(|p| parse_path(&p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cgroup2_mount_is_found_on_hybrid_and_unified_hosts() {
        let hybrid = "\
35 25 0:30 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
36 35 0:31 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate
37 35 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory";
        assert_eq!(
            cgroup2_mount(hybrid),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let unified = "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw";
        assert_eq!(
            cgroup2_mount(unified),
            Some(PathBuf::from("/sys/fs/cgroup"))
        );
        assert_eq!(cgroup2_mount("37 35 0:32 / /x rw - cgroup cgroup rw"), None);
        assert_eq!(cgroup2_mount("garbage"), None);
    }

    /// The id `name_to_handle_at` gives for a cgroup directory.
    fn id_of(dir: &std::path::Path) -> u64 {
        let c = CString::new(dir.as_os_str().as_encoded_bytes()).expect("path");
        let mut h = Handle {
            bytes: 8,
            ty: 0,
            id: 0,
        };
        let mut mount_id = 0;
        // SAFETY: valid C string and a handle with room for 8 bytes.
        let r = unsafe {
            libc::name_to_handle_at(
                libc::AT_FDCWD,
                c.as_ptr(),
                (&mut h as *mut Handle).cast::<libc::file_handle>(),
                &mut mount_id,
                0,
            )
        };
        assert_eq!(r, 0, "name_to_handle_at {}", dir.display());
        assert_eq!((h.bytes, h.ty), (8, FILEID_KERNFS));
        h.id
    }

    /// A cgroup made here, by its id, then gone (as root, like the tracer:
    /// making a cgroup and opening a handle need privilege).
    #[test]
    fn an_id_gives_back_its_path_until_the_cgroup_is_removed() {
        // SAFETY: no arguments.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!(
                "not root: open_by_handle_at needs CAP_DAC_READ_SEARCH; checked by the e2e tests"
            );
            return;
        }
        let m = mount().expect("a cgroup2 mount on this host");
        let name = format!("tracer-unit-{}", std::process::id());
        let dir = m.path.join(&name).join("kid");
        std::fs::create_dir_all(&dir).expect("mkdir a cgroup");
        let id = id_of(&dir);
        let found = path_of(id);
        let _ = std::fs::remove_dir(&dir);
        let _ = std::fs::remove_dir(m.path.join(&name));
        assert_eq!(found, Some(format!("/{name}/kid")));
        assert_eq!(path_of(id), None, "a removed cgroup has no path");
        assert_eq!(path_of(0), None);
        assert_eq!(path_of(u64::MAX), None);
    }
}
