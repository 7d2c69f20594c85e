//! Live output of raw kernel events: one readable line per event, or one
//! JSON object per line (schema in docs/json.md). Every JSON line has a
//! `type`: `ready`, `event`, `decode_error`, `stats`.

use std::io::{self, Write};

use serde::Serialize;
use tracer_common::{NS_COUNT, Ns, NsSet};

use crate::clock::Clock;
use crate::decode::flags;
use crate::decode::{Event, argv, c_str, c_str_ref, ns_in_mask, unread};
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
    /// Namespace slots this kernel has (see [`crate::decode::supported_slots`]).
    supported: u32,
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

/// One raw event as a JSON line (schema: docs/json.md), written by hand:
/// this runs for every event with `--raw --json`, and serde's generic path
/// (escaping every key, building strings) cost more than all the rest.
/// Fields that do not apply to a kind are left out.
fn write_event_json<W: Write>(
    w: &mut W,
    ev: &Event,
    clock: &Clock,
    supported: u32,
) -> io::Result<()> {
    let h = ev.header();
    let mut n = itoa::Buffer::new();
    macro_rules! num {
        ($key:literal, $v:expr) => {{
            w.write_all(concat!(",\"", $key, "\":").as_bytes())?;
            w.write_all(n.format($v).as_bytes())?;
        }};
    }
    w.write_all(b"{\"type\":\"event\",\"event\":\"")?;
    w.write_all(ev.name().as_bytes())?;
    w.write_all(b"\",\"time\":\"")?;
    w.write_all(&clock.rfc3339(h.ts_ns).bytes())?;
    w.write_all(b"\"")?;
    num!("ts_ns", h.ts_ns);
    num!("pid", h.tgid);
    num!("tid", h.pid);
    num!("ppid", h.ppid);
    w.write_all(b",\"comm\":")?;
    json_str(w, &c_str_ref(&h.comm))?;
    num!("cgroup_id", h.cgroup_id);
    let missing = unread(ev, supported);
    if !missing.is_empty() {
        w.write_all(b",\"unread\":")?;
        name_list(w, missing.iter().copied())?;
    }
    let flags = |w: &mut W, flags: u64, syscall: u32| -> io::Result<()> {
        w.write_all(b",\"syscall\":\"")?;
        w.write_all(syscall_name(syscall).as_bytes())?;
        w.write_all(b"\",\"flags\":")?;
        w.write_all(itoa::Buffer::new().format(flags).as_bytes())?;
        w.write_all(b",\"flag_names\":")?;
        let names = flags::names(flags, syscall);
        name_list(w, names.iter().map(|n| n.as_ref()))
    };
    match ev {
        Event::Fork(e) => {
            flags(w, e.flags, e.syscall)?;
            num!("caller_pid", e.caller_tgid);
            num!("caller_tid", e.caller_pid);
            w.write_all(b",\"changed\":")?;
            name_list(w, ns_in_mask(e.changed).map(Ns::proc_name))?;
        }
        Event::Exec(e) => {
            w.write_all(b",\"filename\":")?;
            json_str(w, &c_str_ref(&e.filename))?;
            w.write_all(b",\"argv\":")?;
            serde_json::to_writer(&mut *w, &argv(e))?;
            num!("old_tid", e.old_pid);
        }
        Event::Exit(e) => {
            num!("exit_code", e.exit_code);
            w.write_all(if e.group_dead != 0 {
                b",\"group_dead\":true"
            } else {
                b",\"group_dead\":false"
            })?;
        }
        Event::Unshare(e) | Event::Setns(e) | Event::CloneFailed(e) => {
            flags(w, e.flags, e.syscall)?;
            if matches!(ev, Event::Setns(_)) {
                num!("fd", e.fd);
            }
            num!("ret", e.ret);
            w.write_all(b",\"changed\":")?;
            name_list(w, ns_in_mask(e.ns.diff(&e.ns_before)).map(Ns::proc_name))?;
        }
    }
    ns_maps(w, "ns", "ns_id", ev.ns())?;
    if let Event::Unshare(e) | Event::Setns(e) | Event::CloneFailed(e) = ev {
        ns_maps(w, "ns_before", "ns_id_before", &e.ns_before)?;
    }
    w.write_all(b"}\n")
}

/// A string, JSON-escaped.
fn json_str<W: Write>(w: &mut W, s: &str) -> io::Result<()> {
    Ok(serde_json::to_writer(w, s)?)
}

/// A list of names that need no escaping (namespace and flag names).
fn name_list<'n, W: Write>(w: &mut W, names: impl Iterator<Item = &'n str>) -> io::Result<()> {
    w.write_all(b"[")?;
    for (i, name) in names.enumerate() {
        w.write_all(if i == 0 { b"\"" } else { b",\"" })?;
        w.write_all(name.as_bytes())?;
        w.write_all(b"\"")?;
    }
    w.write_all(b"]")
}

/// `,"ns":{"mnt":…,…}` and, where the kernel has them, `,"ns_id":{…}`;
/// zeros (namespaces this kernel lacks) left out.
fn ns_maps<W: Write>(w: &mut W, key: &str, id_key: &str, ns: &NsSet) -> io::Result<()> {
    let mut n = itoa::Buffer::new();
    let mut map = |w: &mut W, key: &str, value: &dyn Fn(usize) -> u64| -> io::Result<()> {
        write!(w, ",\"{key}\":{{")?;
        let mut first = true;
        for slot in Ns::ALL {
            let v = value(slot as usize);
            if v == 0 {
                continue;
            }
            w.write_all(if first { b"\"" } else { b",\"" })?;
            first = false;
            w.write_all(slot.proc_name().as_bytes())?;
            w.write_all(b"\":")?;
            w.write_all(n.format(v).as_bytes())?;
        }
        w.write_all(b"}")
    };
    map(w, key, &|i| u64::from(ns.inum[i]))?;
    if has_ids(ns) {
        map(w, id_key, &|i| ns.id[i])?;
    }
    Ok(())
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
            Format::Json => write_event_json(&mut self.out, ev, &self.clock, self.supported),
        }
    }

    /// A record that could not be decoded: reported, counted, not fatal.
    pub fn decode_error(&mut self, err: &crate::decode::DecodeError, len: usize) -> io::Result<()> {
        match self.format {
            Format::Text => writeln!(self.out, "# undecodable record ({len} bytes): {err}"),
            Format::Json => {
                let line = serde_json::json!({"type": "decode_error", "error": err.to_string(), "len": len});
                writeln!(self.out, "{line}")
            }
        }
    }

    /// The programs are attached and the self-test passed.
    pub fn ready(&mut self, info: &crate::kernel::loader::Info) -> io::Result<()> {
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
    use crate::decode::event::tests::samples;

    const ALL: u32 = (1 << NS_COUNT) - 1;

    /// The event's JSON line, parsed back (it must be exactly one valid line).
    fn json(ev: &Event, supported: u32) -> serde_json::Value {
        let mut out = Vec::new();
        write_event_json(&mut out, ev, &clock(), supported).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(
            text.ends_with('\n') && text.matches('\n').count() == 1,
            "{text}"
        );
        serde_json::from_str(&text).unwrap()
    }

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
        let v = json(&ev, ALL);
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
        let v = json(&ev, ALL);
        assert_eq!(v["unread"], serde_json::json!(["net", "time"]));
    }
}
