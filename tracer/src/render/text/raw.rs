//! Raw events as readable lines: one per event.

use tracer_common::NsSet;

use crate::clock::Clock;
use crate::decode::flags::{self, syscall_name};
use crate::decode::mount::flag_names;
use crate::decode::{
    Event, MountEvent, MountPath, Unread, argv, argv_truncated, c_str, caller, filename_truncated,
    ns_in_mask,
};

/// `-22 (EINVAL)` for the errnos namespace syscalls return.
fn errno(ret: i64) -> String {
    match flags::errno_name(ret) {
        Some(name) => format!("{ret} ({name})"),
        None => ret.to_string(),
    }
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
pub fn text_line(ev: &Event, unread: Unread, clock: &Clock) -> String {
    let h = ev.header();
    let w = ev.who();
    let who = if w.tid == w.pid {
        format!("{}", w.pid)
    } else {
        format!("{}:{}", w.pid, w.tid)
    };
    let what = match ev {
        Event::Fork(e) => {
            let new = if e.changed == 0 {
                String::new()
            } else {
                format!("  new {}", ns_values(&e.ns, e.changed))
            };
            let by = caller(e);
            let caller = if by.pid == by.tid {
                format!("{}", by.pid)
            } else {
                format!("{}:{}", by.pid, by.tid)
            };
            format!(
                "by {caller} via {} {}{new}",
                syscall_name(e.syscall),
                flags::render(e.flags, e.syscall)
            )
        }
        Event::Exec(e) => {
            let cut = |b: bool| if b { "…" } else { "" };
            format!(
                "{}{}  [{}{}]",
                c_str(&e.filename),
                cut(filename_truncated(e)),
                argv(e).join(" "),
                cut(argv_truncated(e))
            )
        }
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
        Event::Mount(m) => mount_words(m),
        Event::Cause(c) => super::cause::words(c),
        Event::Visitor(v) => {
            let cni = v
                .cni_command
                .as_deref()
                .map(|c| format!("  CNI_COMMAND={c}"))
                .unwrap_or_default();
            let unread = if v.complete() {
                ""
            } else {
                "  (environment unread)"
            };
            format!("[{}]{cni}{unread}", v.argv().join(" "))
        }
    };
    let failed = if unread.is_empty() {
        String::new()
    } else {
        format!(
            "  (unread: {})",
            unread.names().collect::<Vec<_>>().join(",")
        )
    };
    format!(
        "{} {:<12} {:<9} {:<16} {what}{failed}",
        clock.hms(h.ts_ns),
        ev.name().to_uppercase(),
        who,
        c_str(&h.comm)
    )
}

/// A path as the caller gave it, escaped for a terminal; `…` when cut,
/// `(unread)` when the kernel could not read it.
fn shown(p: &Option<MountPath>) -> String {
    match p {
        None => String::new(),
        Some(p) if p.unread => "(unread)".into(),
        Some(p) => format!(
            "{}{}",
            p.path.escape_debug(),
            if p.truncated { "…" } else { "" }
        ),
    }
}

/// `/proc/self/ns/net → /run/netns/x MS_BIND mnt 4026531841 ret=0`.
fn mount_words(m: &MountEvent) -> String {
    let fd = |name: &str, fd: Option<i32>| fd.map(|f| format!(" {name}={f}")).unwrap_or_default();
    let flags = flag_names(m.kind, m.flags).join("|");
    let ret = m.ret.map_or("unread".to_string(), errno);
    let (src, dst) = (shown(&m.source), shown(&m.target));
    let paths = match (src.is_empty(), dst.is_empty()) {
        (true, _) => dst,
        (false, true) => src,
        (false, false) => format!("{src} → {dst}"),
    };
    format!(
        "{paths}{}{} {flags} mnt {} ret={ret}",
        fd("fd", m.from_fd),
        fd("to_fd", m.to_fd),
        m.mnt_ns().0
    )
}
