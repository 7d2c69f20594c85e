//! Who a sandbox is, as the report's text says it: its pod, its runtime,
//! and the attempts it follows or was followed by.

use crate::clock::Clock;
use crate::report::{SandboxReport, short};

/// `(label, text)` lines under a sandbox's heading.
pub fn lines(s: &SandboxReport, clock: &Clock) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let id = s.identity.as_ref();
    let mut pod = Vec::new();
    if let Some(name) = &s.pod_name {
        pod.push(name.clone());
    }
    if let Some(uid) = &s.pod {
        pod.push(format!("uid {uid}"));
    }
    if let Some(a) = id.and_then(|i| i.attempt) {
        pod.push(format!("attempt {a}"));
    }
    if let Some(sid) = id.map(|i| i.id.as_str()).filter(|i| !i.is_empty()) {
        pod.push(format!("sandbox {}", short(sid)));
    }
    if !pod.is_empty() {
        out.push(("pod", pod.join("  ")));
    }
    if let Some(rt) = &s.runtime {
        let from = id
            .map(|i| format!(" (from {})", i.source))
            .unwrap_or_default();
        out.push(("runtime", format!("{rt}{from}")));
    }
    if let Some(p) = &s.previous_attempt {
        let attempt = p
            .attempt
            .map(|a| format!(" (attempt {a})"))
            .unwrap_or_default();
        let pause = match (p.pause_exit, p.pause_exited_ns, &p.pause_killed) {
            (_, Some(ts), Some(k)) => format!(
                ", whose pause was killed at {} ({})",
                clock.hms(ts),
                super::cause::kill(k)
            ),
            (Some(code), Some(ts), None) => format!(
                ", whose pause {} at {}",
                crate::report::exit_words(code),
                clock.hms(ts)
            ),
            _ => String::new(),
        };
        out.push(("follows", format!("#{}{attempt}{pause}", p.sandbox)));
    }
    if let Some(n) = s.next_attempt {
        out.push(("re-created", format!("as #{n}")));
    }
    out
}
