//! Raw events as JSON lines, written by hand (schema: docs/json.md).

use std::io::{self, Write};

use tracer_common::{NS_COUNT, Ns, NsSet};

use crate::clock::Clock;
use crate::decode::flags::{self, syscall_name};
use crate::decode::mount::flag_names;
use crate::decode::{
    Event, MountPath, Unread, argv, argv_truncated, c_str_ref, caller, filename_truncated,
    ns_in_mask,
};

fn has_ids(ns: &NsSet) -> bool {
    ns.id[..NS_COUNT].iter().any(|&i| i != 0)
}

/// One raw event as a JSON line (schema: docs/json.md), written by hand:
/// this runs for every event with `--raw --json`, and serde's generic path
/// (escaping every key, building strings) cost more than all the rest.
/// Fields that do not apply to a kind are left out.
pub fn write_event_json<W: Write>(
    w: &mut W,
    ev: &Event,
    unread: Unread,
    clock: &Clock,
) -> io::Result<()> {
    let h = ev.header();
    let who = ev.who();
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
    num!("pid", who.pid);
    num!("tid", who.tid);
    num!("ppid", h.ppid);
    w.write_all(b",\"comm\":")?;
    json_str(w, &c_str_ref(&h.comm))?;
    num!("cgroup_id", h.cgroup_id);
    if !unread.is_empty() {
        w.write_all(b",\"unread\":")?;
        name_list(w, unread.names())?;
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
            let by = caller(e);
            num!("caller_pid", by.pid);
            num!("caller_tid", by.tid);
            w.write_all(b",\"changed\":")?;
            name_list(w, ns_in_mask(e.changed).map(Ns::proc_name))?;
        }
        Event::Exec(e) => {
            w.write_all(b",\"filename\":")?;
            json_str(w, &c_str_ref(&e.filename))?;
            w.write_all(b",\"argv\":")?;
            serde_json::to_writer(&mut *w, &argv(e))?;
            let cut = |b| if b { "true" } else { "false" };
            write!(
                w,
                ",\"argv_truncated\":{},\"filename_truncated\":{}",
                cut(argv_truncated(e)),
                cut(filename_truncated(e))
            )?;
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
        Event::Mount(m) => {
            num!("flags", m.flags);
            w.write_all(b",\"flag_names\":")?;
            let names = flag_names(m.kind, m.flags);
            name_list(w, names.iter().map(String::as_str))?;
            match m.ret {
                Some(r) => num!("ret", r),
                None => w.write_all(b",\"ret\":null")?,
            }
            if let Some(fd) = m.from_fd {
                num!("from_fd", fd);
            }
            if let Some(fd) = m.to_fd {
                num!("to_fd", fd);
            }
            mount_path(w, "source", &m.source)?;
            mount_path(w, "target", &m.target)?;
        }
        Event::Cause(c) => super::cause::fields(w, c)?,
    }
    ns_maps(w, "ns", "ns_id", ev.ns())?;
    if let Event::Unshare(e) | Event::Setns(e) | Event::CloneFailed(e) = ev {
        ns_maps(w, "ns_before", "ns_id_before", &e.ns_before)?;
    }
    w.write_all(b"}\n")
}

/// `,"source":"…"` (with `source_truncated`/`source_unread` when so).
fn mount_path<W: Write>(w: &mut W, key: &str, p: &Option<MountPath>) -> io::Result<()> {
    let Some(p) = p else { return Ok(()) };
    write!(w, ",\"{key}\":")?;
    json_str(w, &p.path)?;
    if p.truncated {
        write!(w, ",\"{key}_truncated\":true")?;
    }
    if p.unread {
        write!(w, ",\"{key}_unread\":true")?;
    }
    Ok(())
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
