//! Live output of raw kernel events: one readable line per event, or one
//! JSON object per line (schema in docs/json.md). Every JSON line has a
//! `type`: `ready`, `event`, `decode_error`, `stats`.

use std::borrow::Cow;
use std::io::{self, Write};

use serde::Serialize;
use serde::ser::SerializeMap;
use tracer_common::{NS_COUNT, Ns, NsSet};

use crate::clock::{Clock, Rfc3339};
use crate::event::{Event, argv, c_str, c_str_ref, ns_in_mask, unread};
use crate::flags;
use crate::stats::{ProgStat, Stats};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Text,
    Json,
}

pub struct Printer<W: Write> {
    out: W,
    format: Format,
    clock: Clock,
    /// Namespace slots this kernel has (see [`crate::event::supported_slots`]).
    supported: u32,
}

/// Namespace inode numbers (or ids) by `/proc/<pid>/ns` name; zeros left out.
struct NsMap<'a> {
    ns: &'a NsSet,
    ids: bool,
}

impl Serialize for NsMap<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        for ns in Ns::ALL {
            let i = ns as usize;
            if self.ids {
                if self.ns.id[i] != 0 {
                    m.serialize_entry(ns.proc_name(), &self.ns.id[i])?;
                }
            } else if self.ns.inum[i] != 0 {
                m.serialize_entry(ns.proc_name(), &self.ns.inum[i])?;
            }
        }
        m.end()
    }
}

/// Namespace names of a mask, serialised as a list without a `Vec`.
struct NsNames(u32);

impl Serialize for NsNames {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(ns_in_mask(self.0).map(Ns::proc_name))
    }
}

fn has_ids(ns: &NsSet) -> bool {
    ns.id[..NS_COUNT].iter().any(|&i| i != 0)
}

fn syscall_name(s: u32) -> &'static str {
    use tracer_common::syscall::*;
    match s {
        CLONE => "clone",
        CLONE3 => "clone3",
        UNSHARE => "unshare",
        SETNS => "setns",
        _ => "fork",
    }
}

/// A JSON `event` line. Fields that do not apply to a kind are left out.
#[derive(Serialize)]
struct JsonEvent<'a> {
    #[serde(rename = "type")]
    ty: &'static str,
    event: &'static str,
    time: Rfc3339,
    ts_ns: u64,
    pid: u32,
    tid: u32,
    ppid: u32,
    comm: Cow<'a, str>,
    cgroup_id: u64,
    /// Fields the kernel could not read (left 0): namespace names, "task".
    #[serde(skip_serializing_if = "Vec::is_empty")]
    unread: Vec<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    syscall: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flags: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flag_names: Option<Vec<Cow<'static, str>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    fd: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ret: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caller_pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caller_tid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    filename: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    argv: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    old_tid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exit_code: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    group_dead: Option<bool>,
    /// Namespaces that differ from before (the caller's, for fork).
    #[serde(skip_serializing_if = "Option::is_none")]
    changed: Option<NsNames>,
    ns: NsMap<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ns_id: Option<NsMap<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ns_before: Option<NsMap<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ns_id_before: Option<NsMap<'a>>,
}

impl<'a> JsonEvent<'a> {
    fn new(ev: &'a Event, clock: &Clock, supported: u32) -> Self {
        let h = ev.header();
        let ns = ev.ns();
        let mut j = JsonEvent {
            ty: "event",
            event: ev.name(),
            time: clock.rfc3339(h.ts_ns),
            ts_ns: h.ts_ns,
            pid: h.tgid,
            tid: h.pid,
            ppid: h.ppid,
            comm: c_str_ref(&h.comm),
            cgroup_id: h.cgroup_id,
            unread: unread(ev, supported),
            syscall: None,
            flags: None,
            flag_names: None,
            fd: None,
            ret: None,
            caller_pid: None,
            caller_tid: None,
            filename: None,
            argv: None,
            old_tid: None,
            exit_code: None,
            group_dead: None,
            changed: None,
            ns: NsMap { ns, ids: false },
            ns_id: has_ids(ns).then_some(NsMap { ns, ids: true }),
            ns_before: None,
            ns_id_before: None,
        };
        match ev {
            Event::Fork(e) => {
                j.syscall = Some(syscall_name(e.syscall));
                j.flags = Some(e.flags);
                j.flag_names = Some(flags::names(e.flags, e.syscall));
                j.caller_pid = Some(e.caller_tgid);
                j.caller_tid = Some(e.caller_pid);
                j.changed = Some(NsNames(e.changed));
            }
            Event::Exec(e) => {
                j.filename = Some(c_str_ref(&e.filename));
                j.argv = Some(argv(e));
                j.old_tid = Some(e.old_pid);
            }
            Event::Exit(e) => {
                j.exit_code = Some(e.exit_code);
                j.group_dead = Some(e.group_dead != 0);
            }
            Event::Unshare(e) | Event::Setns(e) | Event::CloneFailed(e) => {
                j.syscall = Some(syscall_name(e.syscall));
                j.flags = Some(e.flags);
                j.flag_names = Some(flags::names(e.flags, e.syscall));
                if matches!(ev, Event::Setns(_)) {
                    j.fd = Some(e.fd);
                }
                j.ret = Some(e.ret);
                j.changed = Some(NsNames(e.ns.diff(&e.ns_before)));
                j.ns_before = Some(NsMap {
                    ns: &e.ns_before,
                    ids: false,
                });
                j.ns_id_before = has_ids(&e.ns_before).then_some(NsMap {
                    ns: &e.ns_before,
                    ids: true,
                });
            }
        }
        j
    }
}

/// `-22 (EINVAL)` for the errnos namespace syscalls return.
fn errno(ret: i64) -> String {
    let name = match -ret {
        1 => "EPERM",
        2 => "ENOENT",
        9 => "EBADF",
        11 => "EAGAIN",
        12 => "ENOMEM",
        22 => "EINVAL",
        28 => "ENOSPC",
        87 => "EUSERS",
        _ => return ret.to_string(),
    };
    format!("{ret} ({name})")
}

/// `net 4026531840→4026532301 uts …` for every slot in `mask`.
fn ns_changes(before: &NsSet, after: &NsSet, mask: u32) -> String {
    ns_in_mask(mask)
        .map(|ns| {
            let i = ns as usize;
            format!("{} {}→{}", ns.proc_name(), before.inum[i], after.inum[i])
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn ns_values(ns: &NsSet, mask: u32) -> String {
    ns_in_mask(mask)
        .map(|n| format!("{}={}", n.proc_name(), ns.inum[n as usize]))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Wait status to words: `exit 0`, `killed by signal 9`.
fn exit_words(code: u32) -> String {
    let sig = code & 0x7f;
    if sig == 0 {
        format!("exit {}", (code >> 8) & 0xff)
    } else {
        format!("killed by signal {sig}")
    }
}

/// One human-readable line (no newline).
pub fn text_line(ev: &Event, clock: &Clock, supported: u32) -> String {
    let h = ev.header();
    let who = if h.pid == h.tgid {
        format!("{}", h.tgid)
    } else {
        format!("{}:{}", h.tgid, h.pid)
    };
    let what = match ev {
        Event::Fork(e) => {
            let new = if e.changed == 0 {
                String::new()
            } else {
                format!("  new {}", ns_values(&e.ns, e.changed))
            };
            let caller = if e.caller_tgid == e.caller_pid {
                format!("{}", e.caller_tgid)
            } else {
                format!("{}:{}", e.caller_tgid, e.caller_pid)
            };
            format!(
                "by {caller} via {} {}{new}",
                syscall_name(e.syscall),
                flags::render(e.flags, e.syscall)
            )
        }
        Event::Exec(e) => format!("{}  [{}]", c_str(&e.filename), argv(e).join(" ")),
        Event::Exit(e) => {
            let scope = if e.group_dead != 0 { "" } else { " (thread)" };
            format!("{}{scope}", exit_words(e.exit_code))
        }
        Event::Unshare(e) | Event::Setns(e) | Event::CloneFailed(e) => {
            let fd = if matches!(ev, Event::Setns(_)) {
                format!("fd={} ", e.fd)
            } else {
                String::new()
            };
            let changed = e.ns.diff(&e.ns_before);
            let changes = if changed == 0 {
                String::new()
            } else {
                format!("  {}", ns_changes(&e.ns_before, &e.ns, changed))
            };
            format!(
                "{fd}{} ret={}{changes}",
                flags::render(e.flags, e.syscall),
                errno(e.ret)
            )
        }
    };
    let missing = unread(ev, supported);
    let failed = if missing.is_empty() {
        String::new()
    } else {
        format!("  (unread: {})", missing.join(","))
    };
    format!(
        "{} {:<12} {:<9} {:<16} {what}{failed}",
        clock.hms(h.ts_ns),
        ev.name().to_uppercase(),
        who,
        c_str(&h.comm)
    )
}

impl<W: Write> Printer<W> {
    pub fn new(out: W, format: Format, clock: Clock, supported: u32) -> Self {
        Self {
            out,
            format,
            clock,
            supported,
        }
    }

    pub fn event(&mut self, ev: &Event) -> io::Result<()> {
        match self.format {
            Format::Text => writeln!(self.out, "{}", text_line(ev, &self.clock, self.supported)),
            Format::Json => {
                serde_json::to_writer(
                    &mut self.out,
                    &JsonEvent::new(ev, &self.clock, self.supported),
                )?;
                self.out.write_all(b"\n")
            }
        }
    }

    /// A record that could not be decoded: reported, counted, not fatal.
    pub fn decode_error(&mut self, err: &crate::event::DecodeError, len: usize) -> io::Result<()> {
        match self.format {
            Format::Text => writeln!(self.out, "# undecodable record ({len} bytes): {err}"),
            Format::Json => {
                let line = serde_json::json!({"type": "decode_error", "error": err.to_string(), "len": len});
                writeln!(self.out, "{line}")
            }
        }
    }

    /// The programs are attached and the self-test passed.
    pub fn ready(&mut self, info: &crate::loader::Info) -> io::Result<()> {
        match self.format {
            Format::Text => writeln!(
                self.out,
                "# tracing {} probes (kernel {}, ns_id {}, {}); Ctrl-C to stop",
                info.probes,
                info.kernel,
                if info.ns_id { "yes" } else { "no" },
                if info.filter {
                    "host tasks filtered in the kernel"
                } else {
                    "all tasks"
                }
            ),
            Format::Json => {
                let line = serde_json::json!({
                    "type": "ready",
                    "version": env!("CARGO_PKG_VERSION"),
                    "kernel": info.kernel,
                    "probes": info.probes,
                    "ns_id": info.ns_id,
                    "filter": info.filter,
                    "pid": std::process::id(),
                });
                writeln!(self.out, "{line}")
            }
        }?;
        self.out.flush()
    }

    /// Loss counters: on change while live, and once at the end.
    /// Loss counters: on change while live, and once at the end (`last`),
    /// with the programs' run times where the kernel keeps them.
    pub fn stats(&mut self, s: &Stats, last: bool, programs: &[ProgStat]) -> io::Result<()> {
        match self.format {
            Format::Text => {
                writeln!(
                    self.out,
                    "# {}events {}, dropped {} (ring buffer full), undecodable {}, with unread fields {}, syscall state lost {}",
                    if last { "done: " } else { "" },
                    s.events,
                    s.kernel.ringbuf_full,
                    s.decode_errors,
                    s.unread + s.kernel.read_failed,
                    s.kernel.pending_full + s.kernel.pending_missing
                )?;
                for p in programs.iter().filter(|p| p.run_count > 0) {
                    writeln!(
                        self.out,
                        "# bpf {}: {} runs, {} ns/run",
                        p.name,
                        p.run_count,
                        p.run_time_ns / p.run_count
                    )?;
                }
            }
            Format::Json => {
                let mut v = serde_json::to_value(s).map_err(io::Error::other)?;
                if let Some(o) = v.as_object_mut() {
                    o.insert("type".into(), "stats".into());
                    o.insert("final".into(), last.into());
                    if !programs.is_empty() {
                        o.insert(
                            "programs".into(),
                            serde_json::to_value(programs).map_err(io::Error::other)?,
                        );
                    }
                }
                writeln!(self.out, "{v}")?;
            }
        }
        self.out.flush()
    }

    pub fn supported(&self) -> u32 {
        self.supported
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// A value as one JSON line, written straight out (a report can be large).
    pub fn json<T: Serialize>(&mut self, v: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, v)?;
        self.out.write_all(b"\n")
    }

    /// A line made elsewhere (pod lifecycle, report).
    pub fn line(&mut self, line: &str) -> io::Result<()> {
        writeln!(self.out, "{line}")
    }

    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tests::samples;

    const ALL: u32 = (1 << NS_COUNT) - 1;

    fn clock() -> Clock {
        Clock {
            realtime_minus_boottime_ns: 1_700_000_000_000_000_000,
        }
    }

    #[test]
    fn json_lines_carry_type_and_kind_fields() {
        for ev in samples() {
            let mut p = Printer::new(Vec::new(), Format::Json, clock(), ALL);
            p.event(&ev).unwrap();
            let line = String::from_utf8(p.out).unwrap();
            assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
            let v: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(v["type"], "event");
            assert_eq!(v["event"], ev.name());
            assert_eq!(v["tid"], ev.header().pid);
            assert_eq!(v["ns"]["net"], ev.ns().inum[Ns::Net as usize]);
            assert_eq!(v["ns_id"]["net"], ev.ns().id[Ns::Net as usize]);
        }
    }

    #[test]
    fn json_unshare_names_flags_and_changes() {
        let ev = samples()[3].clone();
        let Event::Unshare(e) = &ev else {
            unreachable!()
        };
        let v: serde_json::Value =
            serde_json::to_value(JsonEvent::new(&ev, &clock(), ALL)).unwrap();
        assert_eq!(v["flag_names"], serde_json::json!(["CLONE_NEWNET"]));
        // Every slot differs in the sample, so every slot is "changed".
        assert_eq!(v["changed"].as_array().unwrap().len(), NS_COUNT);
        assert_eq!(v["ns_before"]["net"], e.ns_before.inum[Ns::Net as usize]);
        assert_eq!(v["ret"], 0);
        assert!(v.get("fd").is_none());
    }

    #[test]
    fn text_lines_say_what_changed() {
        let evs = samples();
        let fork = text_line(&evs[0], &clock(), ALL);
        assert!(fork.contains("FORK"), "{fork}");
        assert!(fork.contains("via clone SIGCHLD|CLONE_NEWNET"), "{fork}");
        assert!(fork.contains("new net=4026533005"), "{fork}");
        let exec = text_line(&evs[1], &clock(), ALL);
        assert!(exec.contains("/pause  [/pause -P]"), "{exec}");
        let exit = text_line(&evs[2], &clock(), ALL);
        assert!(exit.contains("exit 1"), "{exit}");
        let setns = text_line(&evs[4], &clock(), ALL);
        assert!(
            setns.contains("fd=5 CLONE_NEWNET ret=-22 (EINVAL)"),
            "{setns}"
        );
        assert!(setns.contains("net 4026531005→4026532005"), "{setns}");
        assert!(!setns.contains("unread"), "{setns}");
    }

    #[test]
    fn zero_fields_are_reported_unread_where_the_kernel_has_them() {
        let Event::Exit(mut e) = samples()[2].clone() else {
            unreachable!()
        };
        e.ns.inum[Ns::Net as usize] = 0;
        e.ns.inum[Ns::Time as usize] = 0;
        let ev = Event::Exit(e);
        let no_time = ALL & !Ns::Time.bit();
        assert!(text_line(&ev, &clock(), no_time).ends_with("(unread: net)"));
        let v = serde_json::to_value(JsonEvent::new(&ev, &clock(), ALL)).unwrap();
        assert_eq!(v["unread"], serde_json::json!(["net", "time"]));
    }
}
