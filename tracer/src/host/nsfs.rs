//! Paths that name a namespace here: nsfs files (a pin such as
//! `/run/netns/cni-…`, or `/proc/<pid>/ns/net`), whose inode is the
//! namespace's.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// nsfs's magic number (linux/magic.h), as statfs reports it.
const NSFS_MAGIC: i64 = 0x6e73_6673;

/// The namespace inode `path` names, if it is an nsfs file here.
pub fn inode(path: &Path) -> Option<u32> {
    if !is_nsfs(path) {
        return None;
    }
    u32::try_from(std::fs::metadata(path).ok()?.ino()).ok()
}

fn is_nsfs(path: &Path) -> bool {
    let Ok(c) = CString::new(path.as_os_str().as_bytes()) else {
        return false;
    };
    let mut st = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: `c` is a NUL-terminated path and `st` a buffer of the size statfs writes.
    if unsafe { libc::statfs(c.as_ptr(), st.as_mut_ptr()) } != 0 {
        return false;
    }
    // SAFETY: statfs returned 0, so it filled `st`.
    let st = unsafe { st.assume_init() };
    // f_type is i64 on x86_64 glibc, u64 on musl, another integer
    // elsewhere; every filesystem magic fits in 32 bits.
    #[allow(clippy::unnecessary_cast)]
    let f_type = st.f_type as i64;
    f_type == NSFS_MAGIC
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_netns_file_is_nsfs_and_a_plain_file_is_not() {
        let ino = std::fs::metadata("/proc/self/ns/net").map(|m| m.ino()).ok();
        assert_eq!(inode(Path::new("/proc/self/ns/net")).map(u64::from), ino);
        assert_eq!(inode(Path::new("/proc/self/status")), None);
        assert_eq!(inode(Path::new("/no/such/path")), None);
    }
}
