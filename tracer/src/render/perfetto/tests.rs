//! The trace-event JSON, checked as ui.perfetto.dev reads it.

use std::collections::BTreeMap;

use serde_json::Value;

use super::*;
use crate::render::timeline::tests::{nest, sample_report};

fn trace(r: &Report) -> Value {
    let mut out = Vec::new();
    write(&mut out, r).unwrap();
    assert!(out.ends_with(b"\n"));
    serde_json::from_slice(&out).unwrap()
}

fn events(v: &Value) -> &Vec<Value> {
    v["traceEvents"].as_array().unwrap()
}

fn us(v: &Value) -> f64 {
    v.as_f64().unwrap()
}

#[test]
fn processes_and_threads_are_named_and_ordered() {
    let r = sample_report();
    let v = trace(&r);
    let ev = events(&v);
    let meta = |name: &str| -> Vec<&Value> {
        ev.iter()
            .filter(|e| e["ph"] == "M" && e["name"] == name)
            .collect()
    };
    let procs = meta("process_name");
    assert_eq!(procs.len(), 2);
    assert_eq!(procs[0]["pid"], 1);
    assert_eq!(procs[0]["args"]["name"], r.sandboxes[0].label.as_str());
    assert_eq!(meta("process_sort_index").len(), 2);
    let threads = meta("thread_name");
    let tids: std::collections::BTreeSet<u64> =
        threads.iter().map(|t| t["tid"].as_u64().unwrap()).collect();
    assert_eq!(tids.len(), threads.len(), "thread ids are unique");
    assert!(tids.iter().all(|&t| t > 2), "no thread id is a process id");
    assert!(
        threads
            .iter()
            .any(|t| t["args"]["name"] == "pause 711 /catatonit -P")
    );
    assert_eq!(meta("thread_sort_index").len(), threads.len());
    assert_eq!(v["displayTimeUnit"], "ms");
}

#[test]
fn slices_nest_per_track_and_times_are_microseconds() {
    let r = sample_report();
    let v = trace(&r);
    let start = v["otherData"]["start_boottime_ns"].as_u64().unwrap();
    // (pid, tid) → (start µs, end µs, name) of every slice and instant.
    type Slice<'a> = (f64, f64, &'a str);
    let mut tracks: BTreeMap<(u64, u64), Vec<Slice>> = BTreeMap::new();
    for e in events(&v) {
        let key = || (e["pid"].as_u64().unwrap(), e["tid"].as_u64().unwrap());
        match e["ph"].as_str().unwrap() {
            "X" => {
                let (ts, dur) = (us(&e["ts"]), us(&e["dur"]));
                assert!(ts >= 0.0 && dur >= 0.0, "{e}");
                tracks
                    .entry(key())
                    .or_default()
                    .push((ts, ts + dur, e["name"].as_str().unwrap()));
            }
            "i" => {
                assert_eq!(e["s"], "t");
                let ts = us(&e["ts"]);
                tracks
                    .entry(key())
                    .or_default()
                    .push((ts, ts, e["name"].as_str().unwrap()));
            }
            _ => {}
        }
    }
    assert!(!tracks.is_empty());
    for (key, slices) in &tracks {
        for (i, a) in slices.iter().enumerate() {
            for b in &slices[i + 1..] {
                // Compared in ns, as importers round them.
                let ns =
                    |s: &(f64, f64, &str)| ((s.0 * 1e3).round() as u64, (s.1 * 1e3).round() as u64);
                assert!(
                    nest(ns(a), ns(b)),
                    "{a:?} and {b:?} overlap on track {key:?}"
                );
            }
        }
    }
    // The pause's exec, in µs since the start.
    let p = r.sandboxes[0].pause.as_ref().unwrap();
    let exec_us = (p.started_ns.unwrap() - start) as f64 / 1000.0;
    let running = events(&v)
        .iter()
        .find(|e| e["ph"] == "X" && e["name"] == "running" && e["cat"] == "pause")
        .unwrap();
    assert!(
        (us(&running["ts"]) - exec_us).abs() < 1e-6,
        "{running} vs {exec_us}"
    );
    let d = (p.exited_ns.unwrap() - p.started_ns.unwrap()) as f64 / 1000.0;
    assert!((us(&running["dur"]) - d).abs() < 1e-6);
}

#[test]
fn flows_are_paired_and_inside_slices_of_their_tracks() {
    let v = trace(&sample_report());
    let ev = events(&v);
    let mut ends: BTreeMap<u64, Vec<&Value>> = BTreeMap::new();
    for e in ev.iter().filter(|e| e["ph"] == "s" || e["ph"] == "f") {
        ends.entry(e["id"].as_u64().unwrap()).or_default().push(e);
    }
    assert_eq!(ends.len(), 4 + 3, "creators → pause → containers, per pod");
    for (id, pair) in &ends {
        assert_eq!(pair.len(), 2, "flow {id}");
        assert_eq!(
            (pair[0]["ph"].as_str(), pair[1]["ph"].as_str()),
            (Some("s"), Some("f"))
        );
        assert_eq!(pair[1]["bp"], "e");
        assert!(us(&pair[0]["ts"]) <= us(&pair[1]["ts"]));
        for e in pair {
            let inside = ev.iter().any(|x| {
                x["ph"] == "X"
                    && x["pid"] == e["pid"]
                    && x["tid"] == e["tid"]
                    && us(&x["ts"]) <= us(&e["ts"])
                    && us(&e["ts"]) <= us(&x["ts"]) + us(&x["dur"])
            });
            assert!(
                inside,
                "flow {id} end outside every slice of its track: {e}"
            );
        }
    }
}
