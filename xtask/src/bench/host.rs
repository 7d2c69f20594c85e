//! The machine under the bench: CPUs and pinning, what /proc says about a
//! process (memory, CPU time, BPF programs it holds), other tracers, and a
//! sysctl set for the length of a pass.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

/// CPUs online (not our affinity, which pinning narrows).
pub fn cpu_count() -> usize {
    // SAFETY: no pointers.
    let n = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    usize::try_from(n).unwrap_or(1).max(1)
}

fn cpu_set(cpus: &[usize]) -> libc::cpu_set_t {
    // SAFETY: cpu_set_t is plain bits; CPU_SET stays within it for these small numbers.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for &c in cpus {
            libc::CPU_SET(c, &mut set);
        }
        set
    }
}

fn set_affinity(set: &libc::cpu_set_t) -> std::io::Result<()> {
    // SAFETY: a valid set of the size given, for this thread/process.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Pin this thread (and so every thread and child made from here on) to `cpus`.
pub fn pin_self(cpus: &[usize]) -> std::io::Result<()> {
    set_affinity(&cpu_set(cpus))
}

/// Run `cmd` on every CPU, whatever this harness is pinned to.
pub fn unpin_command(cmd: &mut Command) {
    pin_command(cmd, &(0..cpu_count()).collect::<Vec<_>>());
}

/// Run `cmd` on these CPUs (set between fork and exec).
pub fn pin_command(cmd: &mut Command, cpus: &[usize]) {
    let set = cpu_set(cpus);
    // SAFETY: sched_setaffinity is async-signal-safe.
    unsafe {
        cmd.pre_exec(move || set_affinity(&set));
    }
}

/// `/proc/loadavg`'s three averages.
pub fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub fn kernel_release() -> String {
    fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// A number in `/proc/<who>/status`: KiB for the `kB` fields (`VmHWM:`,
/// `VmRSS:`), a count for the others (`voluntary_ctxt_switches:`); `who`
/// is a pid or `self`.
pub fn status_number(who: &str, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{who}/status")).ok()?;
    let v = status.lines().find_map(|l| l.strip_prefix(field))?;
    v.trim().trim_end_matches("kB").trim().parse().ok()
}

/// This harness's own peak RSS.
pub fn own_peak_rss_mib() -> f64 {
    status_number("self", "VmHWM:").map_or(0.0, |kib| kib as f64 / 1024.0)
}

/// CPU time of a live process so far (every thread), in ns.
pub fn task_cpu_ns(pid: libc::pid_t) -> u64 {
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    dir.flatten()
        .filter_map(|t| fs::read_to_string(t.path().join("schedstat")).ok())
        .filter_map(|s| s.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

/// A BPF program's run counters (kept while `kernel.bpf_stats_enabled=1`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProgCounts {
    pub id: u64,
    pub run_count: u64,
    pub run_time_ns: u64,
}

/// The counters in one fdinfo file; `None` when the fd is no BPF program.
pub fn parse_prog_fdinfo(text: &str) -> Option<ProgCounts> {
    let field = |key: &str| -> Option<u64> {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
    };
    Some(ProgCounts {
        id: field("prog_id:")?,
        run_count: field("run_cnt:").unwrap_or(0),
        run_time_ns: field("run_time_ns:").unwrap_or(0),
    })
}

/// BPF programs held by `pid`, from its fdinfo (by id: fdinfo has no names).
pub fn prog_counts(pid: libc::pid_t) -> Result<Vec<ProgCounts>> {
    let dir = format!("/proc/{pid}/fdinfo");
    Ok(fs::read_dir(&dir)
        .with_context(|| format!("read {dir}"))?
        .flatten()
        .filter_map(|e| fs::read_to_string(e.path()).ok())
        .filter_map(|text| parse_prog_fdinfo(&text))
        .collect())
}

/// Processes named `tracer` or `bpftrace` (called while we run none): someone
/// else's tracer adds its own in-kernel cost to every configuration.
pub fn foreign_tracers() -> Vec<String> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|e| {
            let pid = e.file_name().to_str()?.parse::<u32>().ok()?;
            let comm = fs::read_to_string(e.path().join("comm")).ok()?;
            let comm = comm.trim();
            matches!(comm, "tracer" | "bpftrace").then(|| format!("{pid} {comm}"))
        })
        .collect()
}

/// Tracers still running from this checkout's binary (there should be none).
pub fn stray_tracers(tracer: &Path) -> Vec<String> {
    let pattern = tracer.to_string_lossy();
    Command::new("pgrep")
        .args(["-a", "-f", &pattern])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// A sysctl set for as long as this lives, then restored.
pub struct SysctlGuard {
    path: &'static str,
    old: String,
}

impl SysctlGuard {
    pub fn set(path: &'static str, value: &str) -> Result<SysctlGuard> {
        let old = fs::read_to_string(path).with_context(|| format!("read {path}"))?;
        fs::write(path, value).with_context(|| format!("write {path}"))?;
        Ok(SysctlGuard {
            path,
            old: old.trim().to_string(),
        })
    }
}

impl Drop for SysctlGuard {
    fn drop(&mut self) {
        if let Err(e) = fs::write(self.path, &self.old) {
            eprintln!(
                "bench: could not restore {} to {}: {e}",
                self.path, self.old
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_of_a_program_and_of_something_else() {
        let prog = "pos:\t0\nflags:\t02000002\nmnt_id:\t16\nino:\t1057\nprog_type:\t5\n\
                    prog_jited:\t1\nprog_tag:\t0123456789abcdef\nmemlock:\t4096\nprog_id:\t42\n\
                    run_time_ns:\t123456\nrun_cnt:\t789\nrecursion_misses:\t0\nverified_insns:\t99\n";
        assert_eq!(
            parse_prog_fdinfo(prog),
            Some(ProgCounts {
                id: 42,
                run_count: 789,
                run_time_ns: 123_456
            })
        );
        // Before bpf_stats were ever on, older kernels print no counters.
        assert_eq!(
            parse_prog_fdinfo("prog_id:\t7\n"),
            Some(ProgCounts {
                id: 7,
                run_count: 0,
                run_time_ns: 0
            })
        );
        let map = "pos:\t0\nflags:\t02000002\nmap_type:\t27\nmap_id:\t3\n";
        assert_eq!(parse_prog_fdinfo(map), None);
    }
}
