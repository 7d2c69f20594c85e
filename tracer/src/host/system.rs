//! Facts about the system and the tracer's own process.

use std::fs;

fn read_trimmed(path: &str) -> Option<String> {
    fs::read_to_string(path).ok().map(|s| s.trim().to_string())
}

/// The running kernel's release (`uname -r`).
pub fn kernel_release() -> String {
    read_trimmed("/proc/sys/kernel/osrelease").unwrap_or_else(|| "unknown".into())
}

pub fn hostname() -> String {
    read_trimmed("/proc/sys/kernel/hostname").unwrap_or_default()
}

/// This boot's random id: recordings from the same boot share it.
pub fn boot_id() -> String {
    procfs::sys::kernel::random::boot_id()
        .map(|id| id.trim().to_string())
        .unwrap_or_default()
}

fn own_status() -> Option<procfs::process::Status> {
    procfs::process::Process::myself().ok()?.status().ok()
}

/// Effective capabilities of this process (0 when unreadable).
pub fn effective_caps() -> u64 {
    own_status().map_or(0, |s| s.capeff)
}

/// Does this process live in the root pid namespace (one `NSpid`)?
pub fn in_root_pid_ns() -> bool {
    own_status()
        .and_then(|s| s.nspid)
        .is_some_and(|ids| ids.len() == 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_facts_are_read() {
        assert_eq!(boot_id().len(), 36, "a UUID");
        assert!(!kernel_release().is_empty() && kernel_release() != "unknown");
        // The tests run as root here: CAP_SYS_ADMIN (21) is effective.
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } == 0 {
            assert_ne!(effective_caps() & (1 << 21), 0);
        }
        assert!(in_root_pid_ns(), "the tests run in the root pid namespace");
    }
}
