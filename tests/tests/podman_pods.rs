//! End-to-end: a real podman pod (catatonit infra, a container that exits
//! with 3, two long-running ones, an exec session) traced with `tracer
//! record`, and the report checked against podman's own view (`podman
//! inspect`, `/proc/<pid>/ns`) and against the test's own clock. Then the
//! recording is read back by an unprivileged `tracer report` (it must give
//! the very same report) and, cut in half, must fail loudly (or, with
//! `--lenient`, report what came before). Needs root and podman.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

use common::podman::{ContainerTruth, Podman, ns_inodes, unique_name};
use common::{Tracer, assert_lossless, tracer_bin};
use serde_json::Value;

const MS: i64 = 1_000_000;
const S: i64 = 1_000_000_000;
/// `nobody`/`nogroup`.
const NOBODY: u32 = 65534;

/// CLOCK_BOOTTIME in ns: the clock of the tracer's `*_ns` fields.
fn boottime_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    assert_eq!(r, 0, "clock_gettime(CLOCK_BOOTTIME)");
    ts.tv_sec * S + ts.tv_nsec
}

/// The CLOCK_BOOTTIME interval a podman command ran in: whatever the
/// kernel did for it has a timestamp inside.
#[derive(Clone, Copy, Debug)]
struct Window {
    from: i64,
    to: i64,
}

impl Window {
    fn assert_contains(&self, ts: i64, what: &str) {
        assert!(
            (self.from..=self.to).contains(&ts),
            "{what}: {ts} is outside the podman call's window {self:?}"
        );
    }
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, Window) {
    let from = boottime_ns();
    let t = f();
    (
        t,
        Window {
            from,
            to: boottime_ns(),
        },
    )
}

fn num(v: &Value, key: &str) -> i64 {
    v[key]
        .as_i64()
        .unwrap_or_else(|| panic!("no number {key:?} in {v}"))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {v}"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("not a string: {s}"))
                .to_string()
        })
        .collect()
}

fn argv(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// The one namespace of this kind in the sandbox.
fn namespace<'a>(sb: &'a Value, kind: &str) -> &'a Value {
    let all: Vec<&Value> = sb["namespaces"]
        .as_array()
        .unwrap_or_else(|| panic!("no namespaces: {sb}"))
        .iter()
        .filter(|n| n["kind"] == kind)
        .collect();
    assert_eq!(all.len(), 1, "{kind} namespaces of the sandbox: {all:?}");
    all[0]
}

/// Run `tracer ARGS` as nobody:nogroup (std drops root's groups too).
fn tracer_unprivileged(args: &[&str]) -> Output {
    Command::new(tracer_bin())
        .args(args)
        .current_dir("/")
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .expect("run the tracer as nobody")
}

fn json_lines(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn the_report(lines: &[Value]) -> &Value {
    let r: Vec<&Value> = lines.iter().filter(|v| v["type"] == "report").collect();
    assert_eq!(r.len(), 1, "report lines: {r:?}");
    r[0]
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
fn assert_times_match(c: &Value, truth: &ContainerTruth, offset: i64) {
    let (started, finished) = truth.lifetime_ns();
    let joined = num(c, "joined_ns") + offset;
    let d = started - joined;
    assert!(
        0 < d && d < S,
        "{}: StartedAt {started} - joined {joined} = {d} ns, not in (0, 1 s): {c}",
        truth.name
    );
    let left = num(c, "left_ns") + offset;
    assert!(
        (finished - left).abs() < S && left <= finished + 10 * MS,
        "{}: left {left} vs FinishedAt {finished} ({} ns): {c}",
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
        let (id, w) = timed(|| pm.run_detached(&name, n, &["sleep", "1000"]));
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
    assert_lossless(&lines);
    let report = the_report(&lines);
    let offset = num(report, "realtime_minus_boottime_ns");
    let ours: Vec<&Value> = report["sandboxes"]
        .as_array()
        .expect("sandboxes")
        .iter()
        .filter(|s| s["pod"] == pod_id.as_str())
        .collect();
    assert_eq!(ours.len(), 1, "sandboxes of pod {pod_id}: {ours:?}");
    let sb = ours[0];
    assert_eq!(sb["existing"], false, "{sb}");
    assert_eq!(sb["cgroup"]["runtime"], "podman", "{sb}");
    assert_eq!(sb["cgroup"]["pod_uid"], pod_id.as_str(), "{sb}");
    assert_eq!(sb["cgroup"]["container_id"], infra.id.as_str(), "{sb}");

    // The pause: catatonit, forked by the runc stage 1 that made ipc/uts.
    let pause = &sb["pause"];
    assert_eq!(num(pause, "pid"), i64::from(infra.pid), "{pause}");
    assert_eq!(strings(&pause["argv"]), argv(&["/catatonit", "-P"]));
    w_start.assert_contains(num(pause, "forked_ns"), "pause forked");
    w_start.assert_contains(num(pause, "started_ns"), "pause started");
    w_stop.assert_contains(num(pause, "exited_ns"), "pause exited");
    assert_eq!(
        num(pause, "exit"),
        i64::from(infra_after.exit_code),
        "{pause}"
    );
    let stage1 = num(&pause["forked_by"], "pid");

    // Its namespaces: the infra's; net made by `podman pod start`.
    for kind in ["net", "ipc", "uts"] {
        let ns = namespace(sb, kind);
        assert_eq!(
            ns["inum"].as_u64(),
            Some(infra_ns[kind]),
            "{kind}: {ns} vs the infra's /proc/{}/ns",
            infra.pid
        );
        assert_eq!(ns["existing"], false, "{ns}");
        let created = &ns["created"];
        assert_eq!(text(created, "syscall"), "unshare", "{kind}: {ns}");
        w_start.assert_contains(num(created, "ts_ns"), &format!("{kind} created"));
        if kind == "net" {
            assert_eq!(text(created, "comm"), "podman", "{ns}");
            assert_eq!(num(created, "pid"), i64::from(start_pid), "{ns}");
        } else {
            assert_eq!(num(created, "pid"), stage1, "{kind}: {ns} vs {pause}");
        }
    }
    assert_eq!(
        namespace(sb, "net")["inum"].as_u64(),
        infra.netns_inode,
        "the SandboxKey's inode"
    );

    // The containers, in the order the test started them.
    let containers = sb["containers"].as_array().expect("containers");
    assert_eq!(containers.len(), 3, "{containers:?}");
    let label = |c: &Value| -> &'static str {
        let pid = num(c, "pid");
        if pid == i64::from(apps[0].pid) {
            "a"
        } else if pid == i64::from(apps[1].pid) {
            "b"
        } else if strings(&c["argv"]) == argv(&["sh", "-c", "exit 3"]) {
            "exit3"
        } else {
            panic!("a container the test did not start: {c}")
        }
    };
    let mut by_join: Vec<&Value> = containers.iter().collect();
    by_join.sort_by_key(|c| num(c, "joined_ns"));
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
        let joined: BTreeSet<String> = strings(&c["joined"]).into_iter().collect();
        assert_eq!(
            joined,
            BTreeSet::from(["ipc", "net", "uts"].map(String::from)),
            "{who}: {c}"
        );
        assert!(strings(&c["missing"]).is_empty(), "{who}: {c}");
        assert_eq!(c["existing"], false, "{who}: {c}");
        let cg = &c["cgroup"]["container_id"];
        if !std::ptr::eq(c, ce) || !cg.is_null() {
            assert_eq!(cg, truth.id.as_str(), "{who}: {c}");
        }
        assert_eq!(num(c, "exit"), i64::from(truth.exit_code), "{who}: {c}");
        w_join.assert_contains(num(c, "joined_ns"), &format!("{who} joined"));
        w_join.assert_contains(num(c, "started_ns"), &format!("{who} started"));
        w_leave.assert_contains(num(c, "left_ns"), &format!("{who} left"));
        assert_times_match(c, truth, offset);
    }
    assert_eq!(strings(&ce["argv"]), argv(&["sh", "-c", "exit 3"]));
    assert_eq!(num(ce, "exit"), 3);
    for (c, truth) in [(ca, &apps[0]), (cb, &apps[1])] {
        assert_eq!(num(c, "pid"), i64::from(truth.pid), "{c}");
        assert_eq!(strings(&c["argv"]), argv(&["sleep", "1000"]), "{c}");
        assert_eq!(num(c, "exit"), 137, "{c}");
    }

    // One exec session, into `a`.
    let execs: Vec<(&Value, &Value)> = containers
        .iter()
        .flat_map(|c| {
            c["execs"]
                .as_array()
                .expect("execs")
                .iter()
                .map(move |e| (c, e))
        })
        .collect();
    assert_eq!(execs.len(), 1, "{execs:?}");
    let (on, ex) = execs[0];
    assert_eq!(on, ca, "the exec session is not on {}", app_names[0]);
    assert_eq!(strings(&ex["argv"]), argv(&["sh", "-c", "echo hi"]), "{ex}");
    assert_eq!(num(ex, "exit"), 0, "{ex}");
    w_exec.assert_contains(num(ex, "started_ns"), "exec started");
    w_exec.assert_contains(num(ex, "left_ns"), "exec left");

    // The lifecycle lines said so as it happened.
    let life: Vec<&Value> = lines
        .iter()
        .filter(|v| v["type"] == "lifecycle" && v["pod"] == pod_id.as_str())
        .collect();
    for l in &life {
        assert_eq!(l["sandbox"], sb["sandbox"], "{l}");
    }
    let of = |event: &str| -> Vec<&Value> {
        life.iter()
            .copied()
            .filter(|l| l["event"] == event)
            .collect()
    };
    let started = of("pause_started");
    assert_eq!(started.len(), 1, "{life:?}");
    assert_eq!(num(&started[0]["pause"], "pid"), i64::from(infra.pid));
    let joined: Vec<i64> = of("container_joined")
        .iter()
        .map(|l| num(&l["task"], "pid"))
        .collect();
    assert_eq!(joined.len(), 3, "{life:?}");
    assert_eq!(
        joined[1..],
        [i64::from(apps[0].pid), i64::from(apps[1].pid)],
        "{life:?}"
    );

    // ---- the recording, read back by nobody -----------------------------
    fs::set_permissions(&trace, fs::Permissions::from_mode(0o644)).expect("chmod the recording");
    let out = tracer_unprivileged(&["report", &trace_s, "--json"]);
    assert!(
        out.status.success(),
        "tracer report as nobody: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let offline = json_lines(&out.stdout);
    assert_eq!(
        the_report(&offline),
        report,
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
    let partial = json_lines(&lenient.stdout);
    assert!(the_report(&partial)["sandboxes"].is_array(), "{partial:?}");

    for f in [&trace, &cut] {
        let _ = fs::remove_file(f);
    }
}
