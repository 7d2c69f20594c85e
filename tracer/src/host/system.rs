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
    read_trimmed("/proc/sys/kernel/random/boot_id").unwrap_or_default()
}

fn own_status_field(key: &str) -> Option<String> {
    let status = fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .map(|v| v.trim().to_string())
}

/// Effective capabilities of this process (0 when unreadable).
pub fn effective_caps() -> u64 {
    own_status_field("CapEff:")
        .and_then(|v| u64::from_str_radix(&v, 16).ok())
        .unwrap_or(0)
}

/// Does this process live in the root pid namespace (one `NSpid`)?
pub fn in_root_pid_ns() -> bool {
    own_status_field("NSpid:").is_some_and(|v| v.split_whitespace().count() == 1)
}
