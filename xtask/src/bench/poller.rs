//! The /proc-polling peer (`xtask bench-poller`): the other way a user
//! answers "which namespaces and containers came and went" — an
//! `lsns`-style loop. Every interval it walks `/proc/<pid>` (processes, as
//! `lsns` does, not threads), `readlink`s its seven `ns/*` links and reads
//! its `cgroup` file, keeps the set of namespaces (kind, inode) and of
//! cgroup sets, and prints one JSON line per namespace or cgroup set that
//! appeared or went since the previous walk. The first walk is the
//! baseline; `{"type":"ready","t_ns":...}` follows it. On SIGINT (or SIGTERM) it prints
//! `{"type":"stats","final":true,...}` and ends.
//!
//! Written to be cheap: one reused path buffer, `readlink(2)` into a stack
//! buffer, a cgroup set copied only when it is new.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::child::{install_interrupt_handler, interrupted};

/// The namespaces `lsns` lists (less `time`), by their `/proc/<pid>/ns` names.
pub const KINDS: [&str; 7] = ["net", "mnt", "pid", "uts", "ipc", "user", "cgroup"];
const NS_LINKS: [&str; 7] = [
    "ns/net",
    "ns/mnt",
    "ns/pid",
    "ns/uts",
    "ns/ipc",
    "ns/user",
    "ns/cgroup",
];

/// CLOCK_BOOTTIME in ns: the clock of the tracer's `ts_ns`.
pub fn boottime_ns() -> u64 {
    // SAFETY: a zeroed timespec and a valid out-pointer.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// One line the poller prints per change.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Notice {
    /// A namespace no process was in at the previous walk.
    New {
        kind: String,
        inum: u64,
        /// CLOCK_BOOTTIME at the end of the walk that found it.
        t_ns: u64,
        /// The first process found in it, and its name.
        pid: u32,
        comm: String,
    },
    /// A namespace no process is in any more.
    Gone {
        kind: String,
        inum: u64,
        t_ns: u64,
    },
    /// A `/proc/<pid>/cgroup` content no process had at the previous walk
    /// (how /proc pollers tell a new container).
    NewCgroup {
        cgroup: String,
        t_ns: u64,
        pid: u32,
    },
    GoneCgroup {
        cgroup: String,
        t_ns: u64,
    },
}

/// The poller's last line.
#[derive(Serialize, Deserialize, Debug, Default, Clone, PartialEq)]
pub struct PollerStats {
    /// Notices printed.
    pub events: u64,
    pub scans: u64,
    /// Processes in the last walk.
    pub processes: u64,
    pub scan_us_median: f64,
    pub scan_us_max: f64,
}

/// One walk's result: namespaces and cgroup sets, each with a process in it.
#[derive(Default)]
struct Walk {
    ns: HashMap<(u8, u64), u32>,
    cgroups: HashMap<Vec<u8>, u32>,
    processes: u64,
}

/// Reused buffers of the walk.
struct Walker {
    path: Vec<u8>,
    file: Vec<u8>,
}

impl Walker {
    /// `/proc/<pid>/<rest>` as a NUL-terminated path in `self.path`.
    fn set_path(&mut self, pid: &[u8], rest: &str) {
        self.path.clear();
        self.path.extend_from_slice(b"/proc/");
        self.path.extend_from_slice(pid);
        self.path.push(b'/');
        self.path.extend_from_slice(rest.as_bytes());
        self.path.push(0);
    }

    /// The inode in a `net:[4026531840]` link, if the process is still there.
    fn ns_inode(&mut self, pid: &[u8], kind: &str) -> Option<u64> {
        self.set_path(pid, kind);
        let mut buf = [0u8; 64];
        // SAFETY: a NUL-terminated path and a buffer of the length given.
        let n = unsafe {
            libc::readlink(
                self.path.as_ptr().cast(),
                buf.as_mut_ptr().cast(),
                buf.len(),
            )
        };
        let text = buf.get(..usize::try_from(n).ok()?)?;
        let open = memchr::memchr(b'[', text)?;
        let digits = text.get(open + 1..text.len().checked_sub(1)?)?;
        std::str::from_utf8(digits).ok()?.parse().ok()
    }

    fn walk(&mut self, into: &mut Walk) -> Result<()> {
        into.ns.clear();
        into.cgroups.clear();
        into.processes = 0;
        for entry in fs::read_dir("/proc").context("read /proc")?.flatten() {
            let name = entry.file_name();
            let pid_bytes = name.as_encoded_bytes();
            let Some(pid) = std::str::from_utf8(pid_bytes)
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            into.processes += 1;
            for (k, rest) in NS_LINKS.iter().enumerate() {
                if let Some(inum) = self.ns_inode(pid_bytes, rest) {
                    into.ns.entry((k as u8, inum)).or_insert(pid);
                }
            }
            self.set_path(pid_bytes, "cgroup");
            self.path.pop();
            self.file.clear();
            let path = std::ffi::OsStr::from_bytes(&self.path);
            if File::open(path)
                .and_then(|mut f| f.read_to_end(&mut self.file))
                .is_ok()
                && !into.cgroups.contains_key(self.file.as_slice())
            {
                into.cgroups.insert(self.file.clone(), pid);
            }
        }
        Ok(())
    }
}

fn comm(pid: u32) -> String {
    fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|s| s.trim_end().to_string())
        .unwrap_or_default()
}

/// What changed from `old` to `new`, as notices stamped `t_ns`.
fn changes(old: &Walk, new: &Walk, t_ns: u64) -> Vec<Notice> {
    let mut out = Vec::new();
    for (&(k, inum), &pid) in &new.ns {
        if !old.ns.contains_key(&(k, inum)) {
            out.push(Notice::New {
                kind: KINDS[usize::from(k)].to_string(),
                inum,
                t_ns,
                pid,
                comm: comm(pid),
            });
        }
    }
    for &(k, inum) in old.ns.keys() {
        if !new.ns.contains_key(&(k, inum)) {
            out.push(Notice::Gone {
                kind: KINDS[usize::from(k)].to_string(),
                inum,
                t_ns,
            });
        }
    }
    for (set, &pid) in &new.cgroups {
        if !old.cgroups.contains_key(set) {
            out.push(Notice::NewCgroup {
                cgroup: String::from_utf8_lossy(set).trim_end().to_string(),
                t_ns,
                pid,
            });
        }
    }
    for set in old.cgroups.keys() {
        if !new.cgroups.contains_key(set) {
            out.push(Notice::GoneCgroup {
                cgroup: String::from_utf8_lossy(set).trim_end().to_string(),
                t_ns,
            });
        }
    }
    out
}

/// Poll every `interval` until SIGINT/SIGTERM.
pub fn run(interval: Duration) -> Result<()> {
    install_interrupt_handler();
    let mut walker = Walker {
        path: Vec::with_capacity(64),
        file: Vec::with_capacity(512),
    };
    let (mut old, mut new) = (Walk::default(), Walk::default());
    walker.walk(&mut old)?;
    let out = std::io::stdout();
    let mut out = BufWriter::new(out.lock());
    writeln!(
        out,
        r#"{{"type":"ready","interval_ms":{},"t_ns":{},"namespaces":{},"processes":{}}}"#,
        interval.as_millis(),
        boottime_ns(),
        old.ns.len(),
        old.processes
    )?;
    out.flush()?;
    let mut stats = PollerStats::default();
    let mut scan_us = Vec::new();
    let mut next = Instant::now() + interval;
    while !interrupted() {
        let now = Instant::now();
        if next > now {
            std::thread::sleep(next - now);
        }
        // Fixed rate; a walk longer than the interval is followed at once.
        next = (next + interval).max(Instant::now());
        if interrupted() {
            break;
        }
        let t0 = Instant::now();
        walker.walk(&mut new)?;
        let t_ns = boottime_ns();
        scan_us.push(t0.elapsed().as_secs_f64() * 1e6);
        let notices = changes(&old, &new, t_ns);
        for n in &notices {
            serde_json::to_writer(&mut out, n)?;
            out.write_all(b"\n")?;
        }
        if !notices.is_empty() {
            out.flush()?;
        }
        stats.events += notices.len() as u64;
        stats.scans += 1;
        stats.processes = new.processes;
        std::mem::swap(&mut old, &mut new);
    }
    stats.scan_us_max = scan_us.iter().copied().fold(0.0, f64::max);
    stats.scan_us_median = super::results::median(&mut scan_us).unwrap_or(0.0);
    let mut line = serde_json::to_value(&stats)?;
    if let Some(o) = line.as_object_mut() {
        o.insert("type".into(), "stats".into());
        o.insert("final".into(), true.into());
    }
    writeln!(out, "{line}")?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_namespaces_and_cgroup() {
        let mut w = Walker {
            path: Vec::new(),
            file: Vec::new(),
        };
        let me = std::process::id().to_string();
        let net = w.ns_inode(me.as_bytes(), "ns/net");
        let meta = fs::metadata("/proc/self/ns/net").ok();
        let want = meta.map(|m| std::os::unix::fs::MetadataExt::ino(&m));
        assert!(net.is_some());
        assert_eq!(net, want);
        assert_eq!(w.ns_inode(b"0", "ns/net"), None);
        let mut walk = Walk::default();
        assert!(w.walk(&mut walk).is_ok());
        assert!(walk.processes > 0);
        let mine = std::process::id();
        assert!(walk.ns.len() >= KINDS.len());
        assert!(!walk.cgroups.is_empty());
        assert!(walk.ns.values().any(|&p| p <= mine));
    }

    #[test]
    fn changes_both_ways() {
        let mut a = Walk::default();
        let mut b = Walk::default();
        a.ns.insert((0, 10), 1);
        a.ns.insert((0, 11), 1);
        b.ns.insert((0, 11), 1);
        b.ns.insert((3, 12), 2);
        b.cgroups.insert(b"0::/x\n".to_vec(), 2);
        let mut c = changes(&a, &b, 7);
        c.iter_mut().for_each(|n| {
            if let Notice::New { comm, .. } = n {
                comm.clear();
            }
        });
        assert_eq!(c.len(), 3);
        assert!(c.contains(&Notice::New {
            kind: "uts".into(),
            inum: 12,
            t_ns: 7,
            pid: 2,
            comm: String::new()
        }));
        assert!(c.contains(&Notice::Gone {
            kind: "net".into(),
            inum: 10,
            t_ns: 7
        }));
        assert!(c.contains(&Notice::NewCgroup {
            cgroup: "0::/x".into(),
            t_ns: 7,
            pid: 2
        }));
    }
}
