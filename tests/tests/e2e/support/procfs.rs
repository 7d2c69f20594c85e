//! Ground truth from /proc: a process's namespaces and name.

use std::collections::BTreeMap;
use std::fs;
use std::time::Duration;

use super::host::wait_for;

/// The namespaces `/proc/<pid>/ns` lists.
pub const NS_NAMES: [&str; 10] = [
    "cgroup",
    "ipc",
    "mnt",
    "net",
    "pid",
    "pid_for_children",
    "time",
    "time_for_children",
    "user",
    "uts",
];

/// Inode numbers of `/proc/<pid>/ns/*` (`net` → 4026532177, ...), every
/// name the kernel has. Panics if the process is gone: record them while
/// it runs.
pub fn ns_inodes(pid: u32) -> BTreeMap<String, u64> {
    try_ns_inodes(pid).unwrap_or_else(|e| panic!("namespaces of pid {pid}: {e}"))
}

pub fn try_ns_inodes(pid: u32) -> Result<BTreeMap<String, u64>, String> {
    if pid == 0 {
        return Err("pid 0 (the container is not running)".into());
    }
    let mut m = BTreeMap::new();
    for name in NS_NAMES {
        let p = format!("/proc/{pid}/ns/{name}");
        match fs::read_link(&p) {
            Ok(target) => {
                let t = target.to_string_lossy();
                m.insert(
                    name.to_string(),
                    parse_ns_link(&t).ok_or_else(|| format!("{p} -> {t}"))?,
                );
            }
            // An older kernel without this namespace type.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && name != "net" => {}
            Err(e) => return Err(format!("{p}: {e}")),
        }
    }
    Ok(m)
}

/// `net:[4026532177]` → 4026532177.
pub fn parse_ns_link(s: &str) -> Option<u64> {
    let open = s.find(":[")?;
    s[open + 2..].strip_suffix(']')?.parse().ok()
}

/// A number in `/proc/<pid>/status` (its main thread's, for the counters):
/// KiB for the `kB` fields (`VmRSS:`), a count for the others
/// (`voluntary_ctxt_switches:`). Panics if the process or the field is gone.
pub fn status_number(pid: u32, field: &str) -> u64 {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_else(|e| panic!("status of {pid}: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no number {field} in the status of {pid}"))
}

/// `/proc/<pid>/comm`, trimmed.
pub fn comm(pid: u32) -> String {
    try_comm(pid).unwrap_or_else(|e| panic!("comm of {pid}: {e}"))
}

pub fn try_comm(pid: u32) -> std::io::Result<String> {
    Ok(fs::read_to_string(format!("/proc/{pid}/comm"))?
        .trim()
        .to_string())
}

/// Whether `pid` is past its exec, or gone. The kernel renames a task early
/// in `execve` (`begin_new_exec`) but fires `sched_process_exec`, the
/// tracer's stamp, only once the binary is loaded, microseconds later: a
/// new comm alone closes a window too early. Past means parked in a syscall
/// other than `execve` (`/proc/<pid>/syscall`, which says "running" while
/// the task is on a CPU).
pub fn past_exec(pid: u32) -> bool {
    let Ok(sc) = fs::read_to_string(format!("/proc/{pid}/syscall")) else {
        return true;
    };
    sc.split_whitespace()
        .next()
        .and_then(|nr| nr.parse::<i64>().ok())
        .is_some_and(|nr| nr != libc::SYS_execve && nr != libc::SYS_execveat)
}

/// Wait (up to 10 s) until `pid` runs `comm` and is past its exec.
pub fn wait_exec(pid: u32, comm: &str) {
    wait_for(
        &format!("pid {pid} to exec {comm}"),
        Duration::from_secs(10),
        || (try_comm(pid).is_ok_and(|c| c == comm) && past_exec(pid)).then_some(()),
    );
}

#[test]
fn parses_ns_links() {
    assert_eq!(parse_ns_link("net:[4026532177]"), Some(4_026_532_177));
    assert_eq!(
        parse_ns_link("pid_for_children:[4026531836]"),
        Some(4_026_531_836)
    );
    assert_eq!(parse_ns_link("net:4026532177"), None);
    assert_eq!(parse_ns_link("net:[x]"), None);
}
