//! Re-created sandboxes ("Pod sandbox changed, it will be killed and
//! re-created"): sandboxes of one pod uid are attempts of that pod, each
//! linked to the one it followed and how that one ended.

use std::collections::BTreeMap;

use serde::Serialize;

use super::SandboxReport;
use crate::model::{Kill, Model};

/// What linking needs to know of one sandbox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Attempt {
    /// The pod's uid (a runtime's word, else the cgroup's).
    pub pod_uid: Option<String>,
    /// CRI's attempt number, where a runtime said it.
    pub attempt: Option<u32>,
    /// When it began as far as the trace saw (before the trace: its start).
    pub born_ns: u64,
}

/// For each sandbox, the index of the one of the same pod it followed:
/// by CRI's attempt where both have one, else by when they began.
pub fn link(all: &[Attempt]) -> Vec<Option<usize>> {
    let mut pods: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, a) in all.iter().enumerate() {
        if let Some(uid) = a.pod_uid.as_deref().filter(|u| !u.is_empty()) {
            pods.entry(uid).or_default().push(i);
        }
    }
    let mut before = vec![None; all.len()];
    for mut same in pods.into_values() {
        same.sort_by(|&x, &y| {
            let (a, b) = (&all[x], &all[y]);
            match (a.attempt, b.attempt) {
                (Some(p), Some(q)) if p != q => p.cmp(&q),
                _ => (a.born_ns, x).cmp(&(b.born_ns, y)),
            }
        });
        for w in same.windows(2) {
            before[w[1]] = Some(w[0]);
        }
    }
    before
}

/// The attempt a sandbox followed, and how that one ended (JSON
/// `previous_attempt`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PreviousAttempt {
    /// Its number in the report (1-based).
    pub sandbox: usize,
    pub attempt: Option<u32>,
    /// When it ended (its pause gone, every container left), if it did.
    pub ended_ns: Option<u64>,
    /// Its pause's exit: status, or 128 + the killing signal.
    pub pause_exit: Option<i32>,
    pub pause_exited_ns: Option<u64>,
    /// Who sent the signal its pause died of.
    pub pause_killed: Option<Kill>,
}

/// Link the report's sandboxes of one pod as attempts; a re-created
/// sandbox is an anomaly that says how its predecessor ended.
pub fn fill(m: &Model, reports: &mut [SandboxReport]) {
    let all: Vec<Attempt> = reports
        .iter()
        .map(|r| Attempt {
            pod_uid: r.pod.clone(),
            attempt: r.identity.as_ref().and_then(|i| i.attempt),
            born_ns: born(m, r),
        })
        .collect();
    for (i, before) in link(&all).into_iter().enumerate() {
        let Some(b) = before else { continue };
        let prev = &reports[b];
        let p = PreviousAttempt {
            sandbox: prev.sandbox,
            attempt: all[b].attempt,
            ended_ns: prev.ended_ns,
            pause_exit: prev.pause.as_ref().and_then(|p| p.exit),
            pause_exited_ns: prev.pause.as_ref().and_then(|p| p.exited_ns),
            pause_killed: prev.pause.as_ref().and_then(|p| p.killed.clone()),
        };
        reports[b].next_attempt = Some(reports[i].sandbox);
        let what = recreated(&p, all[i].attempt);
        reports[i].anomalies.push(what);
        reports[i].previous_attempt = Some(p);
    }
}

/// When a sandbox began, as far as the trace saw.
fn born(m: &Model, r: &SandboxReport) -> u64 {
    let sb = r.sandbox - 1;
    m.first_creation(sb)
        .or(r.pause.as_ref().and_then(|p| p.started_ns))
        .unwrap_or(r.detected_ns)
}

/// `re-created (attempt 1): #1 (attempt 0) ended with its pause killed by SIGKILL`.
pub fn recreated(p: &PreviousAttempt, attempt: Option<u32>) -> String {
    let n = |a: Option<u32>| a.map(|a| format!(" (attempt {a})")).unwrap_or_default();
    let how = match (p.pause_exit, p.ended_ns) {
        (Some(code), _) => format!(
            "ended with its pause {}{}",
            exit_words(code),
            p.pause_killed.as_ref().map(kill_words).unwrap_or_default()
        ),
        (None, Some(_)) => "ended".to_string(),
        (None, None) => "still ran".to_string(),
    };
    format!(
        "the pod's sandbox was re-created{}: #{}{} {how}",
        n(attempt),
        p.sandbox,
        n(p.attempt)
    )
}

/// ` from 4242 runc`, ` by the OOM killer (invoked by 4242 stress)`.
pub fn kill_words(k: &Kill) -> String {
    if k.oom {
        format!(" by the OOM killer (invoked by {} {})", k.by.pid, k.by.comm)
    } else {
        format!(" from {} {}", k.by.pid, k.by.comm)
    }
}

/// `exited 0`, `killed by SIGKILL`.
pub fn exit_words(status: i32) -> String {
    match status {
        129..=192 => format!("killed by {}", signal_name(status - 128)),
        s => format!("exited {s}"),
    }
}

/// `SIGKILL`, or `signal 42`.
pub fn signal_name(sig: i32) -> String {
    const NAMES: [&str; 16] = [
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
    ];
    usize::try_from(sig - 1)
        .ok()
        .and_then(|i| NAMES.get(i))
        .map(|s| s.to_string())
        .unwrap_or_else(|| format!("signal {sig}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(uid: Option<&str>, attempt: Option<u32>, born_ns: u64) -> Attempt {
        Attempt {
            pod_uid: uid.map(String::from),
            attempt,
            born_ns,
        }
    }

    #[test]
    fn sandboxes_of_one_pod_follow_each_other_by_attempt() {
        // Listed out of order: the report lists sandboxes as recognised.
        let all = [
            a(Some("u1"), Some(2), 30),
            a(Some("u1"), Some(0), 10),
            a(Some("u2"), Some(0), 15),
            a(Some("u1"), Some(1), 20),
        ];
        assert_eq!(link(&all), [Some(3), None, None, Some(1)]);
    }

    #[test]
    fn without_attempts_time_decides_and_other_pods_never_link() {
        let all = [
            a(Some("u1"), None, 50),
            a(None, None, 10),
            a(Some("u1"), None, 20),
            a(None, None, 30),
            a(Some(""), None, 40),
            a(Some("u1"), Some(3), 60),
        ];
        assert_eq!(link(&all), [Some(2), None, None, None, None, Some(0)]);
    }

    #[test]
    fn equal_attempts_and_times_keep_the_reports_order() {
        // A runtime that restarts the same attempt (or says 0 each time).
        let all = [a(Some("u"), Some(0), 5), a(Some("u"), Some(0), 5)];
        assert_eq!(link(&all), [None, Some(0)]);
        assert_eq!(link(&[]), Vec::<Option<usize>>::new());
    }

    #[test]
    fn how_the_previous_attempt_ended_in_words() {
        let p = PreviousAttempt {
            sandbox: 1,
            attempt: Some(0),
            ended_ns: Some(5),
            pause_exit: Some(137),
            pause_exited_ns: Some(5),
            pause_killed: Some(Kill {
                signal: 9,
                by: crate::model::Task::new(42, "runc"),
                ts_ns: 4,
                oom: false,
            }),
        };
        assert_eq!(
            recreated(&p, Some(1)),
            "the pod's sandbox was re-created (attempt 1): #1 (attempt 0) ended with its pause killed by SIGKILL from 42 runc"
        );
        let p = PreviousAttempt {
            attempt: None,
            pause_exit: Some(0),
            pause_killed: None,
            ..p
        };
        assert_eq!(
            recreated(&p, None),
            "the pod's sandbox was re-created: #1 ended with its pause exited 0"
        );
        assert_eq!(exit_words(143), "killed by SIGTERM");
        assert_eq!(exit_words(128 + 40), "killed by signal 40");
        assert_eq!(signal_name(0), "signal 0");
        assert_eq!(signal_name(-3), "signal -3");
    }
}
