//! Start-up proof that the BTF offsets are right on this kernel: the
//! tracer's own thread calls `unshare(0)` (which changes nothing), and the
//! namespaces the kernel side read for it must equal `/proc/thread-self/ns/*`.

use std::time::{Duration, Instant};

use aya::maps::{MapData, RingBuf};
use tracer_common::{Ns, NsSet};

use crate::decode::{Event, Who, decode};
use crate::host::ns::ns_set;

#[derive(Debug, thiserror::Error)]
pub enum SelfTestError {
    #[error("self-test: unshare(0) failed: {0}")]
    Unshare(std::io::Error),
    #[error(
        "self-test: no event for the tracer's own unshare(0) within {0:?}: the programs are attached but deliver nothing (in a container: is it in the node's pid namespace, hostPID / --pid=host?)"
    )]
    NoEvent(Duration),
    #[error(
        "self-test: namespaces read in the kernel differ from /proc (wrong BTF offsets for this kernel? try --btf): {0}"
    )]
    Mismatch(String),
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
    // SAFETY: gettid takes no arguments.
    let tid = unsafe { libc::gettid() } as u32;
    // What came while the programs were attached, first: on a busy node
    // (or a slow start) it can fill the ring, and our record would be the
    // one dropped.
    while let Some(item) = ring.next() {
        backlog.push(item.to_vec());
    }
    // SAFETY: unshare takes flags only; with none it changes nothing.
    if unsafe { libc::unshare(0) } != 0 {
        return Err(SelfTestError::Unshare(std::io::Error::last_os_error()));
    }
    let proc = ns_set("/proc/thread-self");
    let timeout = Duration::from_secs(3);
    let start = Instant::now();
    while start.elapsed() < timeout {
        while let Some(item) = ring.next() {
            if let Ok(Event::Unshare(e)) = decode(&item)
                && Who::of(&e.hdr).tid == tid
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
    fn compare_names_every_mismatch() {
        let proc = ns_set("/proc/self");
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
