//! A real podman pod (catatonit infra, a container that exits with 3, two
//! long-running ones, an exec session) traced with `tracer record`, and the
//! report checked against podman's own view (`podman inspect`,
//! `/proc/<pid>/ns`) and against the test's own clock. Then the recording
//! is read back by an unprivileged `tracer report` (it must give the very
//! same report) and, cut in half, must fail loudly (or, with `--lenient`,
//! report what came before).

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;

use crate::support::clock::{MS, S, timed};
use crate::support::json::{Container, Lifecycle, Lines, Sandbox, Step};
use crate::support::podman::{ContainerTruth, Podman};
use crate::support::procfs::ns_inodes;
use crate::support::tracer::{Tracer, tracer_unprivileged};
use crate::support::unique_name;

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// A `*_ns` the report must have, as i64 (podman's clock is i64).
fn ns(v: Option<u64>, what: &str) -> i64 {
    let v = v.unwrap_or_else(|| panic!("no {what}"));
    i64::try_from(v).unwrap_or_else(|_| panic!("{what}: {v} out of range"))
}

/// The `N` of "byte N" in a message.
fn byte_offset(msg: &str) -> Option<u64> {
    let rest = &msg[msg.find("byte ")? + 5..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A container's join and leave against podman's StartedAt/FinishedAt.
/// The first setns comes ~28 ms before StartedAt (runc create's remaining
/// setup + runc start); FinishedAt is stamped with the coarse clock and can
/// read a few ms before the exit.
fn assert_times_match(c: &Container, truth: &ContainerTruth, offset: i64) {
    let (started, finished) = truth.lifetime_ns();
    let joined = ns(c.joined_ns, "joined_ns") + offset;
    let d = started - joined;
    assert!(
        0 < d && d < S,
        "{}: StartedAt {started} - joined {joined} = {d} ns, not in (0, 1 s): {c:?}",
        truth.name
    );
    let left = ns(c.left_ns, "left_ns") + offset;
    assert!(
        (finished - left).abs() < S && left <= finished + 10 * MS,
        "{}: left {left} vs FinishedAt {finished} ({} ns): {c:?}",
        truth.name,
        left - finished
    );
}

#[test]
fn a_podman_pod_is_traced_as_podman_sees_it() {
    let pm = Podman::setup();
    let trace = std::env::temp_dir().join(format!("{}.trace", unique_name("podman-pods")));
    let trace_s = trace.to_str().expect("a UTF-8 temp dir").to_string();
    // --duration: a safety net, should the test die with the tracer running.
    let tracer = Tracer::start_cmd(&["record", "-o", &trace_s, "--duration", "120"]);

    // ---- the workload ---------------------------------------------------
    let name = unique_name("pods");
    let pod = pm.pod(&name);
    // `podman pod start` itself makes the netns: run it here to know its pid.
    let (start_pid, w_start) = timed(|| {
        let child = pm
            .cmd()
            .args(["pod", "start", &name])
            .spawn()
            .expect("run podman pod start");
        let pid = child.id();
        let out = child.wait_with_output().expect("wait for podman pod start");
        assert!(
            out.status.success(),
            "podman pod start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        pid
    });
    let pt = pod.inspect();
    assert_eq!(pt.id, pod.id);
    let infra = pm.inspect_container(&pt.infra_container_id);
    assert!(
        infra.is_infra && infra.running && infra.pid > 0,
        "{infra:?}"
    );
    let infra_ns = ns_inodes(infra.pid);
    assert_eq!(infra.netns_inode, Some(infra_ns["net"]), "{infra:?}");

    let exit3_name = format!("{name}-exit3");
    let (exit3, w_exit3) = timed(|| pm.run_to_exit(&name, &exit3_name, &["sh", "-c", "exit 3"]));
    assert_eq!(exit3.code, 3);
    let app_names = [format!("{name}-a"), format!("{name}-b")];
    let mut app_ids = Vec::new();
    let mut w_apps = Vec::new();
    for n in &app_names {
        // The window ends once the entrypoint has exec'd (see `wait_exec`).
        let (id, w) = timed(|| {
            let id = pm.run_detached(&name, n, &["sleep", "1000"]);
            pm.wait_exec(&id, "sleep");
            id
        });
        app_ids.push(id);
        w_apps.push(w);
    }
    let apps: Vec<ContainerTruth> = app_ids.iter().map(|id| pm.inspect_container(id)).collect();
    for app in &apps {
        assert!(app.running && app.pid > 0, "{app:?}");
        let ns = ns_inodes(app.pid);
        for k in ["net", "ipc", "uts"] {
            assert_eq!(ns[k], infra_ns[k], "{}: {k}", app.name);
        }
    }
    let (out, w_exec) = timed(|| pm.exec(&app_names[0], &["sh", "-c", "echo hi"]));
    assert!(out.status.success(), "exec: {out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "hi");

    let ((), w_stop) = timed(|| pod.stop());
    let infra_after = pm.inspect_container(&infra.id);
    let exit3_after = pm.inspect_container(&exit3.id);
    let apps_after: Vec<ContainerTruth> =
        app_ids.iter().map(|id| pm.inspect_container(id)).collect();
    assert_eq!(exit3_after.exit_code, 3, "{exit3_after:?}");
    for c in &apps_after {
        assert_eq!((c.pid, c.exit_code), (0, 137), "SIGKILLed: {c:?}");
    }
    assert_eq!(infra_after.pid, 0, "{infra_after:?}");
    let pod_id = pod.id.clone();
    pod.remove();
    let lines = tracer.stop();

    // ---- the live run ---------------------------------------------------
    lines.assert_lossless();
    let report = lines.report();
    let offset = report.realtime_minus_boottime_ns;
    let ours: Vec<&Sandbox> = report
        .sandboxes
        .iter()
        .filter(|s| s.pod.as_deref() == Some(pod_id.as_str()))
        .collect();
    assert_eq!(ours.len(), 1, "sandboxes of pod {pod_id}: {ours:?}");
    let sb = ours[0];
    assert!(!sb.existing, "{sb:?}");
    let cgroup = sb.cgroup.as_ref().expect("the sandbox's cgroup");
    assert_eq!(cgroup.runtime.as_deref(), Some("podman"), "{sb:?}");
    assert_eq!(cgroup.pod_uid.as_deref(), Some(pod_id.as_str()), "{sb:?}");
    assert_eq!(
        cgroup.container_id.as_deref(),
        Some(infra.id.as_str()),
        "{sb:?}"
    );

    // The pause: catatonit, forked by the runc stage 1 that made ipc/uts.
    let pause = sb.pause();
    assert_eq!(pause.pid, infra.pid, "{pause:?}");
    assert_eq!(pause.argv, argv(&["/catatonit", "-P"]));
    w_start.assert_contains(pause.forked_ns.expect("forked_ns"), "pause forked");
    w_start.assert_contains(pause.started_ns.expect("started_ns"), "pause started");
    w_stop.assert_contains(pause.exited_ns.expect("exited_ns"), "pause exited");
    assert_eq!(pause.exit, Some(infra_after.exit_code), "{pause:?}");
    let stage1 = pause.forked_by.as_ref().expect("forked_by").pid;

    // Its namespaces: the infra's; net made by `podman pod start`.
    for kind in ["net", "ipc", "uts"] {
        let ns = sb.namespace(kind);
        assert_eq!(
            ns.inum, infra_ns[kind],
            "{kind}: {ns:?} vs the infra's /proc/{}/ns",
            infra.pid
        );
        assert!(!ns.existing, "{ns:?}");
        let created = ns.created.as_ref().expect("created");
        assert_eq!(created.syscall, "unshare", "{kind}: {ns:?}");
        w_start.assert_contains(created.ts_ns, &format!("{kind} created"));
        if kind == "net" {
            assert_eq!(created.comm, "podman", "{ns:?}");
            assert_eq!(created.pid, start_pid, "{ns:?}");
        } else {
            assert_eq!(created.pid, stage1, "{kind}: {ns:?} vs {pause:?}");
        }
    }
    assert_eq!(
        Some(sb.namespace("net").inum),
        infra.netns_inode,
        "the SandboxKey's inode"
    );

    // The containers, in the order the test started them.
    let containers = &sb.containers;
    assert_eq!(containers.len(), 3, "{containers:?}");
    let label = |c: &Container| -> &'static str {
        if c.pid == apps[0].pid {
            "a"
        } else if c.pid == apps[1].pid {
            "b"
        } else if c.argv == argv(&["sh", "-c", "exit 3"]) {
            "exit3"
        } else {
            panic!("a container the test did not start: {c:?}")
        }
    };
    let mut by_join: Vec<&Container> = containers.iter().collect();
    by_join.sort_by_key(|c| ns(c.joined_ns, "joined_ns"));
    let order: Vec<&str> = by_join.iter().map(|c| label(c)).collect();
    assert_eq!(order, ["exit3", "a", "b"], "{containers:?}");
    let (ce, ca, cb) = (by_join[0], by_join[1], by_join[2]);

    let all_three = [
        (ce, &exit3_after, w_exit3, w_exit3),
        (ca, &apps_after[0], w_apps[0], w_stop),
        (cb, &apps_after[1], w_apps[1], w_stop),
    ];
    for (c, truth, w_join, w_leave) in all_three {
        let who = &truth.name;
        let joined: BTreeSet<&str> = c.joined.iter().map(String::as_str).collect();
        assert_eq!(
            joined,
            BTreeSet::from(["ipc", "net", "uts"]),
            "{who}: {c:?}"
        );
        assert!(c.missing.is_empty(), "{who}: {c:?}");
        assert!(!c.existing, "{who}: {c:?}");
        // The short-lived one may exit before its cgroup is read.
        let cg = c.cgroup.as_ref().and_then(|g| g.container_id.as_deref());
        if !std::ptr::eq(c, ce) || cg.is_some() {
            assert_eq!(cg, Some(truth.id.as_str()), "{who}: {c:?}");
        }
        assert_eq!(c.exit, Some(truth.exit_code), "{who}: {c:?}");
        w_join.assert_contains(c.joined_ns.expect("joined_ns"), &format!("{who} joined"));
        w_join.assert_contains(c.started_ns.expect("started_ns"), &format!("{who} started"));
        w_leave.assert_contains(c.left_ns.expect("left_ns"), &format!("{who} left"));
        assert_times_match(c, truth, offset);
    }
    assert_eq!(ce.argv, argv(&["sh", "-c", "exit 3"]));
    assert_eq!(ce.exit, Some(3));
    for (c, truth) in [(ca, &apps[0]), (cb, &apps[1])] {
        assert_eq!(c.pid, truth.pid, "{c:?}");
        assert_eq!(c.argv, argv(&["sleep", "1000"]), "{c:?}");
        assert_eq!(c.exit, Some(137), "{c:?}");
    }

    // One exec session, into `a`.
    let execs: Vec<(&Container, _)> = containers
        .iter()
        .flat_map(|c| c.execs.iter().map(move |e| (c, e)))
        .collect();
    assert_eq!(execs.len(), 1, "{execs:?}");
    let (on, ex) = execs[0];
    assert!(
        std::ptr::eq(on, ca),
        "the exec session is not on {}: {on:?}",
        app_names[0]
    );
    assert_eq!(ex.argv, argv(&["sh", "-c", "echo hi"]), "{ex:?}");
    assert_eq!(ex.exit, Some(0), "{ex:?}");
    w_exec.assert_contains(ex.started_ns, "exec started");
    w_exec.assert_contains(ex.left_ns.expect("left_ns"), "exec left");

    // The lifecycle lines said so as it happened.
    let life: Vec<&Lifecycle> = lines
        .lifecycle()
        .filter(|l| l.pod.as_deref() == Some(pod_id.as_str()))
        .collect();
    for l in &life {
        assert_eq!(l.sandbox, sb.sandbox, "{l:?}");
    }
    let started: Vec<&Step> = life
        .iter()
        .map(|l| &l.step)
        .filter(|s| matches!(s, Step::PauseStarted { .. }))
        .collect();
    assert_eq!(started.len(), 1, "{life:?}");
    let Step::PauseStarted {
        pause: started_pause,
        argv: started_argv,
    } = started[0]
    else {
        unreachable!("filtered on PauseStarted")
    };
    assert_eq!(started_pause.pid, infra.pid);
    assert_eq!(started_pause.comm, "catatonit");
    assert_eq!(started_argv, &argv(&["/catatonit", "-P"]));
    let joined: Vec<u32> = life
        .iter()
        .filter_map(|l| match &l.step {
            Step::ContainerJoined { task } => Some(task.pid),
            _ => None,
        })
        .collect();
    assert_eq!(joined.len(), 3, "{life:?}");
    assert_eq!(joined[1..], [apps[0].pid, apps[1].pid], "{life:?}");

    // ---- the recording, read back by nobody -----------------------------
    fs::set_permissions(&trace, fs::Permissions::from_mode(0o644)).expect("chmod the recording");
    let out = tracer_unprivileged(&["report", &trace_s, "--json"]);
    assert!(
        out.status.success(),
        "tracer report as nobody: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let offline = Lines::from_output(&out.stdout);
    assert_eq!(
        offline.report_json(),
        lines.report_json(),
        "the report of the recording differs from the live one"
    );

    // ---- the recording cut in the middle --------------------------------
    let bytes = fs::read(&trace).expect("read the recording");
    // Cut in the middle of the frames, past the header (magic, version,
    // header length, then the header with the start-up /proc walk).
    let header_end = 16 + u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize;
    assert!(bytes.len() > header_end + 100, "the recording has frames");
    let cut_len = header_end + (bytes.len() - header_end) / 2;
    let cut = trace.with_extension("cut.trace");
    fs::write(&cut, &bytes[..cut_len]).expect("write the cut recording");
    fs::set_permissions(&cut, fs::Permissions::from_mode(0o644)).expect("chmod the cut copy");
    let cut_s = cut.to_str().expect("UTF-8").to_string();
    let strict = tracer_unprivileged(&["report", &cut_s, "--json"]);
    let err = String::from_utf8_lossy(&strict.stderr);
    assert!(
        !strict.status.success(),
        "a truncated recording was accepted: {err}"
    );
    let at = byte_offset(&err).unwrap_or_else(|| panic!("no \"byte N\" in the error: {err}"));
    assert!(
        at <= cut_len as u64,
        "byte {at} is past the cut at {cut_len}: {err}"
    );
    let lenient = tracer_unprivileged(&["report", &cut_s, "--json", "--lenient"]);
    assert!(
        lenient.status.success(),
        "--lenient failed: {}",
        String::from_utf8_lossy(&lenient.stderr)
    );
    // One report (typed: with its list of sandboxes) of what came before the cut.
    Lines::from_output(&lenient.stdout).report();

    for f in [&trace, &cut] {
        let _ = fs::remove_file(f);
    }
}
