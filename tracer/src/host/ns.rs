//! Namespaces as /proc shows them: nsfs inodes and `NS_GET_ID` ids, and
//! which namespaces are the host's.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;

use tracer_common::{NS_COUNT, Ns, NsSet};

/// `NS_GET_ID` (Linux 6.18+): the never-reused 64-bit id of an nsfs file's namespace.
/// The request's C type is glibc's `unsigned long` but musl's `int`
/// (`libc::Ioctl`): the same 32 bits either way.
const NS_GET_ID: libc::Ioctl = ((2u32 << 30) | (8 << 16) | (0xb7 << 8) | 0x0d) as libc::Ioctl;

/// The namespaces of `dir` (`/proc/<pid>`, `/proc/thread-self`) as an `NsSet`.
pub fn ns_set(dir: &str) -> NsSet {
    let (inum, id) = read_ns(|name| File::open(format!("{dir}/ns/{name}")).ok());
    NsSet { inum, _pad: 0, id }
}

/// Inode numbers and ids of the nsfs files `open` opens by name
/// (`/proc/<pid>/ns/<name>`), in `Ns::ALL` order.
pub fn read_ns(open: impl Fn(&str) -> Option<File>) -> ([u32; NS_COUNT], [u64; NS_COUNT]) {
    let mut inum = [0; NS_COUNT];
    let mut id = [0; NS_COUNT];
    for ns in Ns::ALL {
        let Some(file) = open(ns.proc_name()) else {
            continue;
        };
        if let Ok(meta) = file.metadata() {
            inum[ns as usize] = u32::try_from(meta.ino()).unwrap_or(0);
        }
        id[ns as usize] = ns_get_id(&file).unwrap_or(0);
    }
    (inum, id)
}

/// The inode of an nsfs file (`/proc/<tid>/ns/mnt`), if it can be read.
pub fn inode(path: &str) -> Option<u32> {
    std::fs::metadata(path)
        .ok()
        .and_then(|m| u32::try_from(m.ino()).ok())
}

/// `NS_GET_ID` on an nsfs file; `None` on kernels without it (ENOTTY).
pub fn ns_get_id(file: &File) -> Option<u64> {
    let mut id: u64 = 0;
    // SAFETY: a valid fd and a valid u64 out-pointer, which is what NS_GET_ID writes.
    let rc = unsafe { libc::ioctl(file.as_raw_fd(), NS_GET_ID, &mut id) };
    (rc == 0).then_some(id)
}

/// The host's namespaces: pid 1's, or — where pid 1's are hidden (inside
/// some sandboxes even root cannot read them) — the tracer's own. The one
/// rule for the in-kernel filter and the model alike.
pub fn host_namespaces(pid1: &NsSet, own: &NsSet) -> NsSet {
    let readable = |s: &&NsSet| s.inum[Ns::Net as usize] != 0;
    *Some(pid1).filter(readable).unwrap_or(own)
}

/// [`host_namespaces`] of this machine, now. Where pid 1's are hidden,
/// kthreadd's (pid 2: kernel threads live in the initial namespaces) come
/// before the tracer's own, which in a container are not the node's.
pub fn read_host_namespaces() -> NsSet {
    let of = |pid: &str| ns_set(&super::root::proc_path(pid).to_string_lossy());
    let comm = std::fs::read_to_string(super::root::proc_path("2/comm")).unwrap_or_default();
    let kthreadd = if comm.trim_end() == "kthreadd" {
        of("2")
    } else {
        NsSet::default()
    };
    let own = ns_set("/proc/self");
    host_namespaces(&of("1"), &host_namespaces(&kthreadd, &own))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ns_set_reads_our_own_namespaces() {
        let ns = ns_set("/proc/self");
        for n in [Ns::Mnt, Ns::Net, Ns::Pid, Ns::User, Ns::Uts, Ns::Ipc] {
            assert_ne!(ns.inum[n as usize], 0, "{n:?}");
        }
    }

    #[test]
    fn host_namespaces_fall_back_to_our_own_when_pid_1_is_hidden() {
        let hidden = NsSet::default();
        let mut me = crate::testkit::numbered(500);
        me.inum[Ns::Net as usize] = 555;
        assert_eq!(host_namespaces(&hidden, &me).inum[Ns::Net as usize], 555);
        let visible = crate::testkit::numbered(100);
        assert_eq!(
            host_namespaces(&visible, &me).inum[Ns::Net as usize],
            visible.inum[Ns::Net as usize]
        );
    }
}
