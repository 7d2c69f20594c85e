//! Start-up proof that the BTF offsets are right on this kernel: the
//! tracer's own thread calls `unshare(0)` (which changes nothing), and the
//! namespaces the kernel side read for it must equal `/proc/thread-self/ns/*`.

use std::os::fd::AsRawFd;
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use aya::maps::{MapData, RingBuf};
use tracer_common::{Ns, NsSet};

use crate::event::{Event, decode};

#[derive(Debug, thiserror::Error)]
pub enum SelfTestError {
    #[error("self-test: unshare(0) failed: {0}")]
    Unshare(std::io::Error),
    #[error(
        "self-test: no event for the tracer's own unshare(0) within {0:?}: the programs are attached but deliver nothing"
    )]
    NoEvent(Duration),
    #[error(
        "self-test: namespaces read in the kernel differ from /proc (wrong BTF offsets for this kernel? try --btf): {0}"
    )]
    Mismatch(String),
}

/// `NS_GET_ID` (Linux 6.18+): the never-reused 64-bit id of an nsfs file's namespace.
const NS_GET_ID: libc::c_ulong = (2 << 30) | (8 << 16) | (0xb7 << 8) | 0x0d;

/// A thread's namespaces as /proc shows them: inode numbers, and ids where
/// the kernel answers `NS_GET_ID`; 0 where the kernel has no such namespace.
pub fn proc_ns(path_prefix: &str) -> NsSet {
    let mut ns = NsSet::default();
    for n in Ns::ALL {
        let Ok(f) = std::fs::File::open(format!("{path_prefix}/{}", n.proc_name())) else {
            continue;
        };
        if let Ok(md) = f.metadata() {
            ns.inum[n as usize] = u32::try_from(md.ino()).unwrap_or(0);
        }
        let mut id: u64 = 0;
        // SAFETY: a valid fd and a valid u64 out-pointer; kernels without the ioctl fail it.
        if unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_ID, &mut id) } == 0 {
            ns.id[n as usize] = id;
        }
    }
    ns
}

/// Differences between what the kernel side read and /proc, as text. Ids
/// are compared where both sides have them.
pub fn compare(kernel: &NsSet, proc: &NsSet) -> Option<String> {
    let mut diffs = Vec::new();
    for n in Ns::ALL {
        let i = n as usize;
        if proc.inum[i] != 0 && kernel.inum[i] != proc.inum[i] {
            diffs.push(format!(
                "{}: kernel read inode {}, /proc says {}",
                n.proc_name(),
                kernel.inum[i],
                proc.inum[i]
            ));
        }
        if proc.id[i] != 0 && kernel.id[i] != 0 && kernel.id[i] != proc.id[i] {
            diffs.push(format!(
                "{}: kernel read ns_id {}, NS_GET_ID says {}",
                n.proc_name(),
                kernel.id[i],
                proc.id[i]
            ));
        }
    }
    (!diffs.is_empty()).then(|| diffs.join("; "))
}

/// Run the check. Records read meanwhile that belong to others are kept in
/// `backlog`, in order, for the caller to process: nothing is lost.
pub fn run(ring: &mut RingBuf<MapData>, backlog: &mut Vec<Vec<u8>>) -> Result<(), SelfTestError> {
    // SAFETY: plain syscalls without pointers.
    let tid = unsafe { libc::gettid() } as u32;
    if unsafe { libc::unshare(0) } != 0 {
        return Err(SelfTestError::Unshare(std::io::Error::last_os_error()));
    }
    let proc = proc_ns("/proc/thread-self/ns");
    let timeout = Duration::from_secs(3);
    let start = Instant::now();
    while start.elapsed() < timeout {
        while let Some(item) = ring.next() {
            if let Ok(Event::Unshare(e)) = decode(&item)
                && e.hdr.pid == tid
                && e.flags == 0
            {
                if let Some(diff) = compare(&e.ns, &proc) {
                    return Err(SelfTestError::Mismatch(diff));
                }
                if e.ns != e.ns_before {
                    return Err(SelfTestError::Mismatch(
                        "unshare(0) reported a namespace change".into(),
                    ));
                }
                return Ok(());
            }
            backlog.push(item.to_vec());
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    Err(SelfTestError::NoEvent(timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proc_ns_reads_our_own_namespaces() {
        let ns = proc_ns("/proc/self/ns");
        for n in [Ns::Mnt, Ns::Net, Ns::Pid, Ns::User, Ns::Uts, Ns::Ipc] {
            assert_ne!(ns.inum[n as usize], 0, "{n:?}");
        }
    }

    #[test]
    fn compare_names_every_mismatch() {
        let proc = proc_ns("/proc/self/ns");
        assert_eq!(compare(&proc, &proc), None);
        let mut wrong = proc;
        wrong.inum[Ns::Net as usize] += 1;
        let msg = compare(&wrong, &proc).unwrap();
        assert!(msg.starts_with("net: kernel read inode"), "{msg}");
        assert!(!msg.contains("uts"), "{msg}");
        // Kernels with NS_GET_ID (6.18+) also get their ids compared.
        if proc.id[Ns::Uts as usize] != 0 {
            let mut wrong_id = proc;
            wrong_id.id[Ns::Uts as usize] = 999_999;
            let msg = compare(&wrong_id, &proc).unwrap();
            assert!(msg.starts_with("uts: kernel read ns_id 999999"), "{msg}");
        }
    }
}
