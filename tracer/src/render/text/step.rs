//! A lifecycle step as one readable line.

use super::cause::killed_by;
use super::dur;
use crate::clock::Clock;
use crate::model::Holder;
use crate::report::{NsKind, Step, StepWhat, Task};

fn kinds(k: &[NsKind]) -> String {
    k.iter().map(|k| k.name()).collect::<Vec<_>>().join(",")
}

fn after(ns: Option<u64>) -> String {
    ns.map(|d| format!(" after {}", dur(d))).unwrap_or_default()
}

/// `07:43:35.411192 PAUSE      #1 pod 026b5dec75cd      pid 2985 …` (no newline).
pub fn line(step: &Step, clock: &Clock) -> String {
    let (tag, text) = what(step);
    format!(
        "{} {tag:<10} {:<24} {text}",
        clock.hms(step.ts_ns),
        step.label
    )
}

/// The tag and the words of a step.
fn what(step: &Step) -> (&'static str, String) {
    match &step.what {
        StepWhat::NamespaceCreated {
            kind,
            inum,
            by,
            syscall,
        } => (
            "NS-NEW",
            format!(
                "{} {inum} created by {} {} via {syscall}",
                kind.name(),
                by.pid,
                by.comm
            ),
        ),
        StepWhat::PauseStarted {
            pause,
            argv,
            after_namespaces_ns,
            forked_by,
        } => {
            let mut t = format!("pid {} {}", pause.pid, argv.join(" "));
            if let Some(d) = after_namespaces_ns {
                t += &format!("  (+{} after its namespaces)", dur(*d));
            }
            if let Some(by) = forked_by {
                t += &format!("  forked by {} {}", by.pid, by.comm);
            }
            ("PAUSE", t)
        }
        StepWhat::SandboxWithoutPause { by } => (
            "SANDBOX",
            format!(
                "no pause process: pinned namespaces joined by {} {}",
                by.pid, by.comm
            ),
        ),
        StepWhat::ContainerJoined { .. } => ("JOIN", joined(step)),
        StepWhat::ExecJoined {
            container,
            task,
            argv,
            ..
        } => (
            "EXEC",
            format!("into {container} pid {} {}", task.pid, argv.join(" ")),
        ),
        StepWhat::Left { exec_session, .. } => {
            let tag = if *exec_session { "EXEC-END" } else { "LEAVE" };
            (tag, left(step))
        }
        StepWhat::PauseExited {
            pause,
            exit,
            killed,
            ran_for_ns,
        } => (
            "PAUSE-END",
            format!(
                "pid {} {}{}",
                pause.pid,
                outcome(*exit, "lost", killed.as_ref()),
                after(*ran_for_ns)
            ),
        ),
        StepWhat::NamespaceEmpty {
            kind,
            inum,
            pinned_by,
        } => ("NS-EMPTY", emptied(*kind, *inum, pinned_by)),
        StepWhat::SandboxRunning { pause, containers } => {
            ("RUNNING", running(pause.as_ref(), containers))
        }
        StepWhat::SandboxEnded {
            lived_for_ns,
            last_holder,
        } => {
            let mut t = lived_for_ns
                .map(|d| format!("sandbox lived {}", dur(d)))
                .unwrap_or_else(|| "sandbox ended".into());
            if let Some(h) = last_holder {
                t += &format!("; last holder: {}", holder(h));
            }
            ("END", t)
        }
        StepWhat::PinAdded {
            kind,
            inum,
            path,
            mnt_ns,
            by,
            how,
        } => {
            let by = match by {
                Some(t) => format!("by {} {} ({how})", t.pid, t.comm),
                None => format!("({how}: made unseen, or copied into that mount namespace)"),
            };
            (
                "PIN",
                format!(
                    "{} {inum} pinned at {} in mnt {mnt_ns} {by}",
                    kind.name(),
                    path.escape_debug()
                ),
            )
        }
        StepWhat::PinRemoved {
            kind,
            inum,
            path,
            mnt_ns,
            by,
            how,
        } => (
            "UNPIN",
            format!(
                "{} {inum} pin {} in mnt {mnt_ns} gone: {}{}",
                kind.name(),
                path.escape_debug(),
                how.name(),
                by_task(by.as_ref())
            ),
        ),
        StepWhat::Visit(v) => ("VISIT", super::visits::line(v, false)),
        StepWhat::VisitLeft(v) => ("VISIT-END", super::visits::line(v, true)),
        StepWhat::Leak {
            kind,
            inum,
            path,
            mnt_ns,
            holder,
            made,
            ..
        } => {
            let made = made
                .as_ref()
                .map(|m| format!("; pin made by {} {}", m.pid, m.comm))
                .unwrap_or_default();
            (
                "LEAK",
                format!(
                    "{} {inum} still pinned at {} in mnt {mnt_ns}{} after its pod's last task{made}",
                    kind.name(),
                    path.escape_debug(),
                    holder
                        .as_ref()
                        .map(|t| format!(" (pid {} {})", t.pid, t.comm))
                        .unwrap_or_default(),
                ),
            )
        }
    }
}

fn by_task(t: Option<&Task>) -> String {
    t.map(|t| format!(" by {} {}", t.pid, t.comm))
        .unwrap_or_default()
}

/// `pin /run/netns/x (mnt 4026531841)`, `pause 4242 pause`.
pub fn holder(h: &Holder) -> String {
    match (&h.path, h.pid) {
        (Some(p), _) => format!(
            "{} {}{}",
            h.kind,
            p.escape_debug(),
            h.mnt_ns.map(|m| format!(" (mnt {m})")).unwrap_or_default()
        ),
        (None, Some(pid)) => format!("{} {pid} {}", h.kind, h.comm.as_deref().unwrap_or("")),
        (None, None) => h.kind.to_string(),
    }
}

fn joined(step: &Step) -> String {
    let StepWhat::ContainerJoined {
        container,
        container_id: _,
        task,
        argv,
        joined,
        partial,
        joined_ns,
        after_pause_ns,
        ..
    } = &step.what
    else {
        return String::new();
    };
    let mut t = format!(
        "container {container} pid {} {}  joined {}",
        task.pid,
        argv.join(" "),
        kinds(joined)
    );
    if !partial.is_empty() {
        t += &format!("  PARTIAL: not in {}", kinds(partial));
    }
    if let Some(d) = step.ts_ns.checked_sub(*joined_ns) {
        t += &format!("  (setns→exec {})", dur(d));
    }
    if let Some(d) = after_pause_ns {
        t += &format!("  (+{} after pause)", dur(*d));
    }
    t
}

fn left(step: &Step) -> String {
    let StepWhat::Left {
        container,
        container_id: _,
        task,
        exec_session,
        exit,
        how,
        killed,
        ran_for_ns,
    } = &step.what
    else {
        return String::new();
    };
    let outcome = outcome(*exit, how, killed.as_ref());
    let what = if *exec_session {
        "exec in"
    } else {
        "container"
    };
    format!(
        "{what} {container} pid {} {outcome}{}",
        task.pid,
        after(*ran_for_ns)
    )
}

/// How a task ended: its exit status, a move out (`how`), or an exit
/// that was lost.
fn outcome(exit: Option<i32>, how: &str, killed: Option<&crate::model::Kill>) -> String {
    match exit {
        Some(code) => format!("exit {code}{}", killed_by(killed)),
        None if how == "lost" => format!(
            "gone, exit not seen (events lost; its pid came back){}",
            killed_by(killed)
        ),
        None => format!("moved out by {how}"),
    }
}

fn running(pause: Option<&crate::report::Task>, containers: &[String]) -> String {
    let pause = match pause {
        Some(p) => format!("pause pid {} {}", p.pid, p.comm),
        None => "no pause".into(),
    };
    let containers = if containers.is_empty() {
        "no containers".into()
    } else {
        format!("containers {}", containers.join(", "))
    };
    format!("{pause}, {containers} (running before the trace)")
}

fn emptied(kind: NsKind, inum: u32, pinned_by: &[String]) -> String {
    let pin = if pinned_by.is_empty() {
        "nothing pins it: freed".to_string()
    } else {
        format!("still pinned by {}", pinned_by.join(", "))
    };
    format!("{} {inum} has no tasks left; {pin}", kind.name())
}
