//! The state at start: one pass over `/proc`, so that namespaces and
//! containers created before the tracer attached are known too.
//!
//! Only thread-group leaders (`/proc/<pid>`) are read, each through its
//! directory's fd (`procfs`), so all its files are one process's. A process
//! may exit while it is read: such processes are skipped, as the race is
//! normal and not an error. The parsers are ours: `procfs`' own ones panic
//! on a truncated `stat` and drop empty or non-UTF-8 arguments.

use std::io::Read;

use procfs::process::Process;

use tracer_common::NS_COUNT;

use super::cgroup::{self, CgroupIds};
use super::ns::read_ns;

/// One process as `/proc` showed it during the scan.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ProcSnapshot {
    pub pid: u32,
    pub ppid: u32,
    /// Process start, CLOCK_BOOTTIME ns (the clock of the kernel's events),
    /// at the clock-tick resolution /proc gives.
    pub start_boot_ns: u64,
    pub comm: String,
    /// Empty for kernel threads.
    pub argv: Vec<String>,
    /// `None` when unreadable (kernel threads).
    pub exe: Option<String>,
    /// nsfs inode numbers in `Ns::ALL` order; 0 where missing.
    pub ns_inum: [u32; NS_COUNT],
    /// `NS_GET_ID` ids in `Ns::ALL` order; 0 where the kernel has no such ioctl.
    pub ns_id: [u64; NS_COUNT],
    pub cgroup: Option<CgroupIds>,
}

/// Every process in `/proc`, sorted by pid.
pub fn scan() -> Vec<ProcSnapshot> {
    let Ok(all) = procfs::process::all_processes_with_root(super::root::proc_root()) else {
        return Vec::new();
    };
    let hz = clock_ticks_per_sec();
    let mut all: Vec<ProcSnapshot> = all
        .filter_map(Result::ok)
        .filter_map(|p| snapshot_of(&p, hz))
        .collect();
    all.sort_unstable_by_key(|p| p.pid);
    all
}

/// The thread group (userspace's pid) of thread `tid`, from its status.
pub fn tgid_of(tid: u32) -> Option<u32> {
    let status = super::file::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Tgid:"))
        .and_then(|v| v.trim().parse().ok())
}

/// One process; `None` if it is gone (or went while it was read).
#[cfg(test)]
pub fn snapshot(pid: u32) -> Option<ProcSnapshot> {
    let p = Process::new_with_root(super::root::proc_path(pid.to_string())).ok()?;
    snapshot_of(&p, clock_ticks_per_sec())
}

/// A file of the process, read through its directory's fd: every file
/// read is the same process's, even if its pid is reused meanwhile.
fn read(p: &Process, name: &str) -> Option<Vec<u8>> {
    let mut bytes = Vec::new();
    p.open_relative(name).ok()?.read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

fn read_stat(p: &Process) -> Option<Stat> {
    parse_stat(&String::from_utf8_lossy(&read(p, "stat")?))
}

fn snapshot_of(p: &Process, hz: u64) -> Option<ProcSnapshot> {
    let pid = u32::try_from(p.pid()).ok()?;
    let stat = read_stat(p)?;
    let (ns_inum, ns_id) = read_ns(|name| p.open_relative(format!("ns/{name}")).ok());
    let snap = ProcSnapshot {
        pid,
        ppid: stat.ppid,
        start_boot_ns: ticks_to_ns(stat.start_ticks, hz),
        comm: read(p, "comm")
            .map(|c| parse_comm(&c))
            .unwrap_or_else(|| stat.comm.clone()),
        argv: read(p, "cmdline")
            .map(|b| parse_cmdline(&b))
            .unwrap_or_default(),
        exe: p.exe().ok().map(|e| e.to_string_lossy().into_owned()),
        ns_inum,
        ns_id,
        cgroup: read(p, "cgroup").map(|c| cgroup::parse_proc_cgroup(&String::from_utf8_lossy(&c))),
    };
    still_there(p, &stat).then_some(snap)
}

/// Whether what was read belongs to one live process: not a reused pid
/// (same start time), and not one that exited mid-read, which leaves empty
/// fields behind (already a zombie at the start is kept: that is its state).
fn still_there(p: &Process, before: &Stat) -> bool {
    read_stat(p).is_some_and(|after| {
        after.start_ticks == before.start_ticks && (!after.is_dead() || before.is_dead())
    })
}

/// What the scan needs from `/proc/<pid>/stat`.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Stat {
    comm: String,
    state: char,
    ppid: u32,
    /// Field 22, `starttime`: clock ticks after boot.
    start_ticks: u64,
}

impl Stat {
    fn is_dead(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses `/proc/<pid>/stat`. The comm may hold spaces and parentheses, so
/// it ends at the LAST `)`; the fields after it are space-separated.
fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text.get(open + 1..close)?;
    // Fields 3.. (state onwards); field N is at index N - 3.
    let fields: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let mut state = fields.first()?.chars();
    let (Some(state), None) = (state.next(), state.next()) else {
        return None;
    };
    Some(Stat {
        comm: comm.to_owned(),
        state,
        ppid: fields.get(4 - 3)?.parse().ok()?,
        start_ticks: fields.get(22 - 3)?.parse().ok()?,
    })
}

/// Clock ticks to ns, without overflow; saturates far beyond any uptime.
fn ticks_to_ns(ticks: u64, hz: u64) -> u64 {
    let ns = u128::from(ticks) * 1_000_000_000;
    ns.checked_div(u128::from(hz))
        .map_or(0, |ns| u64::try_from(ns).unwrap_or(u64::MAX))
}

/// Clock ticks per second (`_SC_CLK_TCK`); Linux's USER_HZ is 100 should it ever fail.
fn clock_ticks_per_sec() -> u64 {
    Some(procfs::ticks_per_second())
        .filter(|&hz| hz > 0)
        .unwrap_or(100)
}

/// `/proc/<pid>/comm` without its newline (other whitespace is part of the name).
fn parse_comm(bytes: &[u8]) -> String {
    let comm = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    String::from_utf8_lossy(comm).into_owned()
}

/// `/proc/<pid>/cmdline`: NUL-terminated arguments (empty arguments kept).
pub(crate) fn parse_cmdline(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|&b| b == 0)
        .map(|arg| String::from_utf8_lossy(arg).into_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::MetadataExt;
    use std::process::{Command, Stdio};
    use tracer_common::Ns;

    /// pid 2 on this project's test machine.
    const KTHREADD_STAT: &str = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 22 0 0 \
        18446744073709551615 0 0 0 0 0 0 0 2147483647 0 1 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n";

    fn stat_line(comm: &str, ppid: u32, start: u64) -> String {
        format!(
            "4242 ({comm}) S {ppid} 4242 4242 0 -1 4194560 1 2 3 4 5 6 7 8 20 0 1 0 {start} 1000 10 0\n"
        )
    }

    fn boottime_ns() -> u64 {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: a valid clock id and out-pointer.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
        assert_eq!(rc, 0);
        u64::try_from(ts.tv_sec).unwrap() * 1_000_000_000 + u64::try_from(ts.tv_nsec).unwrap()
    }

    #[test]
    fn parses_a_real_kernel_thread_stat() {
        let stat = parse_stat(KTHREADD_STAT).unwrap();
        assert_eq!(
            stat,
            Stat {
                comm: "kthreadd".into(),
                state: 'S',
                ppid: 0,
                start_ticks: 22
            }
        );
    }

    #[test]
    fn comm_with_spaces_and_parentheses_ends_at_the_last_paren() {
        let stat = parse_stat(&stat_line("my (weird) comm", 17, 12345)).unwrap();
        assert_eq!(stat.comm, "my (weird) comm");
        assert_eq!((stat.ppid, stat.start_ticks), (17, 12345));
        // A comm that imitates the fields after it.
        let stat = parse_stat(&stat_line("a) S 99 (b", 7, 8)).unwrap();
        assert_eq!(
            (stat.comm.as_str(), stat.ppid, stat.start_ticks),
            ("a) S 99 (b", 7, 8)
        );
        let stat = parse_stat(&stat_line(")", 3, 4)).unwrap();
        assert_eq!((stat.comm.as_str(), stat.ppid), (")", 3));
        let stat = parse_stat(&stat_line("", 3, 4)).unwrap();
        assert_eq!(stat.comm, "");
    }

    #[test]
    fn malformed_stat_is_none() {
        let good = stat_line("x", 1, 2);
        assert!(parse_stat(&good).is_some());
        for bad in [
            "",
            "4242",
            "4242 x) S 1",   // no '('
            "4242 (x S 1 2", // no ')'
            ") 4242 (x",     // ')' before '('
            "4242 (x)",      // no fields
            "4242 (x) S",    // no ppid
            "4242 (x) S notanumber 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
            "4242 (x) SS 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
            "4242 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0", // stops before starttime
            "4242 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5",
        ] {
            assert_eq!(parse_stat(bad), None, "{bad:?}");
        }
        // Truncated at every char boundary: never a panic.
        for end in (0..good.len()).filter(|&i| good.is_char_boundary(i)) {
            let _ = parse_stat(&good[..end]);
        }
    }

    #[test]
    fn dead_states() {
        let mut stat = parse_stat(&stat_line("x", 1, 2)).unwrap();
        assert!(!stat.is_dead());
        stat.state = 'Z';
        assert!(stat.is_dead());
    }

    #[test]
    fn ticks_convert_to_ns() {
        assert_eq!(ticks_to_ns(22, 100), 220_000_000);
        assert_eq!(ticks_to_ns(1, 1000), 1_000_000);
        assert_eq!(ticks_to_ns(3, 300), 10_000_000);
        assert_eq!(ticks_to_ns(u64::MAX, 100), u64::MAX);
        assert_eq!(ticks_to_ns(5, 0), 0);
    }

    #[test]
    fn cmdline_splits_on_nul() {
        assert_eq!(parse_cmdline(b"sleep\x00100\x00"), ["sleep", "100"]);
        assert_eq!(parse_cmdline(b"a b\x00\x00c\x00"), ["a b", "", "c"]);
        // Processes that rewrite their title may drop the NULs.
        assert_eq!(
            parse_cmdline(b"nginx: worker process"),
            ["nginx: worker process"]
        );
        assert_eq!(parse_cmdline(b"\xff\x00"), ["\u{fffd}"]);
        assert!(parse_cmdline(b"").is_empty());
    }

    #[test]
    fn clock_ticks_are_positive() {
        assert!(clock_ticks_per_sec() > 0);
    }

    #[test]
    fn scan_finds_init_and_itself_in_pid_order() {
        let t = std::time::Instant::now();
        let all = scan();
        eprintln!("scan: {} processes in {:?}", all.len(), t.elapsed());
        assert!(
            all.windows(2).all(|w| w[0].pid < w[1].pid),
            "sorted, no duplicates"
        );
        assert!(all.iter().any(|p| p.pid == 1));
        assert!(all.iter().any(|p| p.pid == std::process::id()));
    }

    #[test]
    fn own_snapshot_matches_the_process() {
        let me = snapshot(std::process::id()).unwrap();
        // SAFETY: getppid has no preconditions.
        assert_eq!(me.ppid, u32::try_from(unsafe { libc::getppid() }).unwrap());
        assert_eq!(me.argv, std::env::args().collect::<Vec<_>>());
        let exe = std::env::current_exe().unwrap();
        assert_eq!(me.exe.as_deref(), exe.to_str());
        let comm = fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(me.comm, comm.trim_end());
        assert!(me.cgroup.is_some());
    }

    #[test]
    fn own_namespaces_match_proc_self() {
        let me = snapshot(std::process::id()).unwrap();
        for ns in Ns::ALL {
            let path = format!("/proc/self/ns/{}", ns.proc_name());
            let want = fs::metadata(&path).map_or(0, |m| u32::try_from(m.ino()).unwrap());
            assert_eq!(me.ns_inum[ns as usize], want, "{path}");
            assert_ne!(want, 0, "{path} exists on this kernel");
        }
        // Same namespaces, same ids (0 on kernels without NS_GET_ID).
        let file = fs::File::open("/proc/self/ns/net").unwrap();
        assert_eq!(
            me.ns_id[Ns::Net as usize],
            crate::host::ns::ns_get_id(&file).unwrap_or(0)
        );
    }

    #[test]
    fn ns_get_id_works_on_this_kernel() {
        let release = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut parts = release
            .trim()
            .split(['.', '-'])
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let version = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if version < (6, 18) {
            return;
        }
        let me = snapshot(std::process::id()).unwrap();
        assert!(me.ns_id.iter().all(|&id| id != 0), "{:?}", me.ns_id);
        // The pid namespace and the one for children are the same one here.
        assert_eq!(
            me.ns_id[Ns::Pid as usize],
            me.ns_id[Ns::PidForChildren as usize]
        );
        // Different namespace types never share an id.
        assert_ne!(me.ns_id[Ns::Net as usize], me.ns_id[Ns::Mnt as usize]);
    }

    #[test]
    fn own_start_time_is_recent_on_the_boot_clock() {
        let me = snapshot(std::process::id()).unwrap();
        let now = boottime_ns();
        let tick = 1_000_000_000 / clock_ticks_per_sec();
        assert!(
            me.start_boot_ns <= now + tick,
            "started {} after now {}",
            me.start_boot_ns,
            now
        );
        assert!(
            now - me.start_boot_ns < 30_000_000_000,
            "started {} ns ago",
            now - me.start_boot_ns
        );
    }

    #[test]
    fn kernel_threads_have_no_argv_and_no_exe() {
        let all = scan();
        let Some(kthreadd) = all.iter().find(|p| p.pid == 2 && p.comm == "kthreadd") else {
            eprintln!("kthreadd not visible (a pid namespace?): skipped");
            return;
        };
        assert_eq!(kthreadd.ppid, 0);
        let kthreads: Vec<_> = all.iter().filter(|p| p.pid == 2 || p.ppid == 2).collect();
        assert!(kthreads.len() > 1, "kthreadd has children");
        for k in kthreads {
            assert!(k.argv.is_empty(), "{k:?}");
            assert_eq!(k.exe, None, "{k:?}");
        }
        // A user process next to them does have both. (Not pid 1: on the
        // test machine its exe and ns links are denied even to root.)
        let me = all.iter().find(|p| p.pid == std::process::id()).unwrap();
        assert!(!me.argv.is_empty() && me.exe.is_some(), "{me:?}");
    }

    #[test]
    fn child_is_seen_and_then_gone() {
        let mut child = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        // Until it execs, the child is a copy of this test binary.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let snap = loop {
            let snap = snapshot(pid).unwrap();
            // exec sets comm before the new argv is readable: wait for both.
            if (!snap.argv.is_empty() && snap.comm == "sleep")
                || std::time::Instant::now() > deadline
            {
                break snap;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        assert_eq!(snap.ppid, std::process::id());
        assert_eq!(snap.argv, ["sleep", "30"]);
        assert!(
            snap.exe.as_deref().is_some_and(|e| e.ends_with("/sleep")),
            "{:?}",
            snap.exe
        );
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(snapshot(pid), None);
    }

    #[test]
    fn missing_pid_is_none() {
        assert_eq!(snapshot(u32::MAX), None);
    }

    #[test]
    fn serializes_round_trip() {
        let me = snapshot(std::process::id()).unwrap();
        let json = serde_json::to_string(&me).unwrap();
        assert_eq!(serde_json::from_str::<ProcSnapshot>(&json).unwrap(), me);
    }
}
