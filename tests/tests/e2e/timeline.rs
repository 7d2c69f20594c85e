//! The timeline of a real podman pod: recorded, then drawn by `tracer
//! report --html` in headless Chromium (Debian's `chromium`) — the page's
//! DOM after its script ran must hold the sandbox, its pause and every
//! container as bars the browser gave a size, and a screenshot is taken —
//! and written by `tracer report --perfetto` as Chrome trace events, which
//! are checked as ui.perfetto.dev reads them: valid JSON, µs times that
//! match the report, slices that nest on every track, flows paired.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use crate::support::json::{Lines, Sandbox};
use crate::support::podman::Podman;
use crate::support::tracer::{Tracer, tracer_bin};
use crate::support::{shared_dir, unique_name};

/// `tracer ARGS`, which must succeed.
fn tracer(args: &[&str]) -> Output {
    let out = Command::new(tracer_bin())
        .args(args)
        .output()
        .expect("run the tracer");
    assert!(
        out.status.success(),
        "tracer {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Headless Chromium on `page` with `args` (`--dump-dom`, `--screenshot=…`),
/// its own profile directory (other tests may run a browser at the same time).
fn chromium(page: &Path, dir: &Path, args: &[&str]) -> Output {
    let profile = dir.join(unique_name("chromium-profile"));
    let out = Command::new("chromium")
        .args([
            "--headless",
            // Root cannot use Chromium's sandbox; the page is our own.
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1440,900",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap_or_else(|e| panic!("cannot run chromium (`cargo xtask test` installs it): {e}"));
    let _ = fs::remove_dir_all(&profile);
    assert!(
        out.status.success(),
        "chromium {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The attributes of every `<g class="row …">` element of the group `<g
/// class="group" … data-name="NAME">` in a serialised DOM.
fn rows_of(dom: &str, group_name: &str) -> Vec<BTreeMap<String, String>> {
    let key = format!("data-name=\"{group_name}\"");
    let start = dom
        .match_indices("<g class=\"group\"")
        .map(|(i, _)| i)
        .find(|&i| {
            dom[i..]
                .split('>')
                .next()
                .is_some_and(|tag| tag.contains(&key))
        })
        .unwrap_or_else(|| panic!("no group named {group_name} in the page"));
    let end = dom[start + 1..]
        .find("<g class=\"group\"")
        .map_or(dom.len(), |e| start + 1 + e);
    dom[start..end]
        .match_indices("<g class=\"row ")
        .map(|(i, _)| attributes(dom[start + i..].split('>').next().unwrap_or("")))
        .collect()
}

/// `name="value"` pairs of one start tag.
fn attributes(tag: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut rest = tag;
    while let Some(eq) = rest.find("=\"") {
        let name = rest[..eq].rsplit(' ').next().unwrap_or("").to_string();
        let after = &rest[eq + 2..];
        let Some(close) = after.find('"') else { break };
        out.insert(name, after[..close].to_string());
        rest = &after[close + 1..];
    }
    out
}

/// Width and height from a PNG's IHDR.
fn png_size(png: &[u8]) -> (u32, u32) {
    assert!(
        png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR",
        "not a PNG"
    );
    let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    (be(&png[16..20]), be(&png[20..24]))
}

fn us(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// A slice or instant: start and end in ns (as importers round µs), name.
type Slice = (u64, u64, String);

/// Every slice and instant of each (pid, tid) track.
fn tracks(events: &[Value]) -> BTreeMap<(u64, u64), Vec<Slice>> {
    let mut t: BTreeMap<(u64, u64), Vec<Slice>> = BTreeMap::new();
    let ns = |v: f64| (v * 1e3).round() as u64;
    for e in events {
        let (start, end) = match e["ph"].as_str() {
            Some("X") => (us(&e["ts"]), us(&e["ts"]) + us(&e["dur"])),
            Some("i") => (us(&e["ts"]), us(&e["ts"])),
            _ => continue,
        };
        let key = (
            e["pid"].as_u64().expect("a pid"),
            e["tid"].as_u64().expect("a tid"),
        );
        let name = e["name"].as_str().expect("a name").to_string();
        t.entry(key).or_default().push((ns(start), ns(end), name));
    }
    t
}

fn check_perfetto(trace: &Value, sb: &Sandbox, label: &str) {
    let events = trace["traceEvents"].as_array().expect("traceEvents");
    let start = trace["otherData"]["start_boottime_ns"]
        .as_u64()
        .expect("otherData.start_boottime_ns");
    // Our sandbox's process, by its name.
    let pid = events
        .iter()
        .find(|e| e["ph"] == "M" && e["name"] == "process_name" && e["args"]["name"] == label)
        .and_then(|e| e["pid"].as_u64())
        .unwrap_or_else(|| panic!("no process named {label}"));
    let threads: BTreeMap<u64, String> = events
        .iter()
        .filter(|e| e["ph"] == "M" && e["name"] == "thread_name" && e["pid"] == pid)
        .map(|e| {
            let tid = e["tid"].as_u64().expect("a tid");
            (tid, e["args"]["name"].as_str().expect("a name").to_string())
        })
        .collect();
    let pause = sb.pause();
    let pause_tid = threads
        .iter()
        .find(|(_, n)| n.starts_with(&format!("pause {} ", pause.pid)))
        .map(|(t, _)| *t)
        .unwrap_or_else(|| panic!("no pause track: {threads:?}"));
    for c in &sb.containers {
        assert!(
            threads
                .values()
                .any(|n| n.starts_with("container ") && n.contains(&c.argv.join(" "))),
            "no track for container {c:?}: {threads:?}"
        );
    }
    for kind in ["net", "ipc", "uts"] {
        let inum = sb.namespace(kind).inum;
        assert!(
            threads.values().any(|n| *n == format!("{kind} {inum}")),
            "no track for {kind} {inum}: {threads:?}"
        );
    }
    // Times are µs since the start: the pause's running slice starts at its exec.
    let exec = pause.started_ns.expect("the pause's exec");
    let running = events
        .iter()
        .find(|e| e["ph"] == "X" && e["tid"] == pause_tid && e["name"] == "running")
        .expect("the pause's running slice");
    let want = (exec - start) as f64 / 1000.0;
    assert!(
        (us(&running["ts"]) - want).abs() < 0.002,
        "pause running at {} µs, its exec at {want} µs",
        running["ts"]
    );
    // Every slice of every track nests.
    for (key, slices) in tracks(events) {
        for (i, a) in slices.iter().enumerate() {
            for b in &slices[i + 1..] {
                let nest = a.1 <= b.0
                    || b.1 <= a.0
                    || (a.0 <= b.0 && b.1 <= a.1)
                    || (b.0 <= a.0 && a.1 <= b.1);
                assert!(nest, "{a:?} and {b:?} overlap on track {key:?}");
            }
        }
    }
    // Flows come in pairs, start before they end, and sit inside slices.
    let mut flows: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for e in events.iter().filter(|e| e["ph"] == "s" || e["ph"] == "f") {
        flows
            .entry(e["id"].as_u64().expect("a flow id"))
            .or_default()
            .push(e);
    }
    let ours = flows
        .values()
        .filter(|p| p.iter().all(|e| e["pid"] == pid))
        .count();
    // podman's netns thread and runc's stage 1 → pause; pause → each container.
    assert!(
        ours >= 2 + sb.containers.len(),
        "{ours} flows for {} containers",
        sb.containers.len()
    );
    for (id, pair) in &flows {
        let phases: Vec<&str> = pair.iter().filter_map(|e| e["ph"].as_str()).collect();
        assert_eq!(phases, ["s", "f"], "flow {id}");
        assert!(
            us(&pair[0]["ts"]) <= us(&pair[1]["ts"]),
            "flow {id} runs backwards"
        );
        for e in pair {
            let inside = events.iter().any(|x| {
                x["ph"] == "X"
                    && x["pid"] == e["pid"]
                    && x["tid"] == e["tid"]
                    && us(&x["ts"]) <= us(&e["ts"])
                    && us(&e["ts"]) <= us(&x["ts"]) + us(&x["dur"])
            });
            assert!(inside, "flow {id}: {e} is in no slice of its track");
        }
    }
}

#[test]
fn a_podman_pod_is_drawn_in_chromium_and_in_perfetto() {
    let pm = Podman::setup();
    let dir = shared_dir("timeline");
    let trace = dir.join(format!("{}.trace", unique_name("pod")));
    let trace_s = trace.to_str().expect("UTF-8 path");
    let tracer_run = Tracer::start_cmd(&["record", "-o", trace_s, "--duration", "60"]);

    let name = unique_name("timeline");
    let pod = pm.pod(&name);
    pod.start();
    let web = pm.run_detached(&name, &format!("{name}-web"), &["sleep", "1000"]);
    pm.wait_exec(&web, "sleep");
    let side = pm.run_detached(&name, &format!("{name}-side"), &["sleep", "1000"]);
    pm.wait_exec(&side, "sleep");
    let out = pm.exec(&format!("{name}-web"), &["true"]);
    assert!(out.status.success(), "{out:?}");
    pod.stop();
    let pod_id = pod.id.clone();
    pod.remove();
    tracer_run.stop().assert_lossless();

    // The report, to know what must be drawn.
    let lines = Lines::from_output(&tracer(&["report", trace_s, "--json"]).stdout);
    let report = lines.report();
    let sb = report
        .sandboxes
        .iter()
        .find(|s| s.pod.as_deref() == Some(pod_id.as_str()))
        .unwrap_or_else(|| panic!("no sandbox for pod {pod_id}"));
    assert_eq!(sb.containers.len(), 2, "{sb:?}");
    let label = format!("#{} pod {}", sb.sandbox, &pod_id[..12]);

    // ---- Perfetto ------------------------------------------------------
    let json = dir.join(format!("{}.json", unique_name("pod")));
    tracer(&[
        "report",
        trace_s,
        "--perfetto",
        json.to_str().expect("UTF-8"),
    ]);
    let text = fs::read_to_string(&json).expect("read the Perfetto JSON");
    let perfetto: Value = serde_json::from_str(&text).expect("the Perfetto file is JSON");
    check_perfetto(&perfetto, sb, &label);

    // ---- HTML in Chromium ----------------------------------------------
    let html = dir.join(format!("{}.html", unique_name("pod")));
    tracer(&["report", trace_s, "--html", html.to_str().expect("UTF-8")]);
    let dom =
        String::from_utf8(chromium(&html, &dir, &["--dump-dom"]).stdout).expect("the DOM is UTF-8");
    // The page's script ran and measured what the browser drew.
    let drawn = dom
        .split("data-drawn=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .unwrap_or_else(|| panic!("the page's script did not run: no data-drawn"));
    let rows = rows_of(&dom, &label);
    let visible = |kind: &str, name_has: &str| {
        rows.iter().any(|r| {
            r.get("data-kind").map(String::as_str) == Some(kind)
                && r.get("data-name").is_some_and(|n| n.contains(name_has))
                && r.get("data-visible").map(String::as_str) == Some("1")
        })
    };
    assert!(
        visible("sandbox", "sandbox"),
        "no sandbox bar: {rows:?} ({drawn})"
    );
    let pause = sb.pause();
    assert!(
        visible("pause", &format!("pause {} /catatonit -P", pause.pid)),
        "no pause bar: {rows:?}"
    );
    for id in [&web, &side] {
        assert!(
            visible("container", &format!("container {}", &id[..12])),
            "no bar for container {id}: {rows:?}"
        );
    }
    assert!(visible("exec", "exec "), "no exec session bar: {rows:?}");
    assert!(visible("namespace", "net "), "no netns bar: {rows:?}");

    // A screenshot, zoomed on our sandbox (the `#t=` window), for people.
    let a = sb
        .namespaces
        .iter()
        .filter_map(|n| n.created.as_ref().map(|c| c.ts_ns))
        .min()
        .expect("a namespace created in the trace");
    let start = perfetto["otherData"]["start_boottime_ns"]
        .as_u64()
        .expect("start");
    let b = sb.ended_ns.expect("the sandbox ended");
    let png = PathBuf::from(format!("{}.png", html.display()));
    let zoomed = PathBuf::from(format!(
        "{}#t={},{}",
        html.display(),
        a.saturating_sub(start),
        b - start + 50_000_000
    ));
    chromium(&zoomed, &dir, &[&format!("--screenshot={}", png.display())]);
    let bytes = fs::read(&png).expect("the screenshot");
    assert_eq!(png_size(&bytes), (1440, 900));
    // A blank page compresses to a few KiB; a drawn timeline does not.
    assert!(bytes.len() > 30_000, "screenshot of {} bytes", bytes.len());
    eprintln!(
        "timeline: screenshot {} ({} bytes)",
        png.display(),
        bytes.len()
    );
    for f in [&trace, &json, &html] {
        let _ = fs::remove_file(f);
    }
}
