//! A lifecycle step as one readable line.

use super::cause::killed_by;
use super::dur;
use crate::clock::Clock;
use crate::report::{NsKind, Step, StepWhat};

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
                "pid {} exit {exit}{}{}",
                pause.pid,
                killed_by(killed.as_ref()),
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
        StepWhat::SandboxEnded { lived_for_ns } => (
            "END",
            lived_for_ns
                .map(|d| format!("sandbox lived {}", dur(d)))
                .unwrap_or_else(|| "sandbox ended".into()),
        ),
    }
}

fn joined(step: &Step) -> String {
    let StepWhat::ContainerJoined {
        container,
        container_id: _,
        task,
        argv,
        joined,
        missing,
        joined_ns,
        after_pause_ns,
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
    if !missing.is_empty() {
        t += &format!("  PARTIAL: not in {}", kinds(missing));
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
    let outcome = match exit {
        Some(code) => format!("exit {code}{}", killed_by(killed.as_ref())),
        None => format!("moved out by {how}"),
    };
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
