//! Cause records as the words of a raw event's line.

use crate::decode::{Cause, c_str};
use crate::report::{Kill, signal_name};

/// `SIGKILL to 4242 pause (group)`, `victim 4242 stress`, `cgroup 123 /kubepods/…`.
pub fn words(c: &Cause) -> String {
    match c {
        Cause::Signal(e) => format!(
            "{} to {} {}{} code={} result={}",
            signal_name(i32::try_from(e.sig).unwrap_or(0)),
            e.target_tgid,
            c_str(&e.target_comm),
            if e.group != 0 { " (group)" } else { "" },
            e.code,
            e.result
        ),
        Cause::Oom(e) => format!("victim {} {}", e.victim_tgid, c_str(&e.victim_comm)),
        Cause::CgroupMkdir(e) => format!("cgroup {} {}", e.id, c_str(&e.path)),
    }
}

/// `SIGKILL from 4242 runc`, `OOM-killed, invoked by 4242 stress`.
pub fn kill(k: &Kill) -> String {
    if k.oom {
        format!("OOM-killed, invoked by {} {}", k.by.pid, k.by.comm)
    } else {
        format!("{} from {} {}", signal_name(k.signal), k.by.pid, k.by.comm)
    }
}

/// ` (SIGKILL from 4242 runc)`, or nothing.
pub fn killed_by(k: Option<&Kill>) -> String {
    k.map(|k| format!(" ({})", kill(k))).unwrap_or_default()
}
