//! Raw events through both renderers.

use tracer_common::{NS_COUNT, Ns};

use super::*;
use crate::testkit::samples;

const ALL: u32 = (1 << NS_COUNT) - 1;

fn clock() -> Clock {
    Clock {
        realtime_minus_boottime_ns: 1_700_000_000_000_000_000,
    }
}

fn rendered(r: &mut dyn Render<Vec<u8>>, ev: &Event, supported: u32) -> String {
    let mut out = Vec::new();
    r.event(&mut out, ev, Unread::of(ev, supported)).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.ends_with('\n') && text.matches('\n').count() == 1,
        "{text}"
    );
    text
}

/// The event's JSON line, parsed back (it must be exactly one valid line).
fn json(ev: &Event, supported: u32) -> serde_json::Value {
    serde_json::from_str(&rendered(&mut Json::new(clock()), ev, supported)).unwrap()
}

fn text_line(ev: &Event, supported: u32) -> String {
    rendered(&mut Text::new(clock()), ev, supported)
        .trim_end()
        .to_string()
}

#[test]
fn json_lines_carry_type_and_kind_fields() {
    for ev in samples() {
        let v = json(&ev, ALL);
        assert_eq!(v["type"], "event");
        assert_eq!(v["event"], ev.name());
        assert_eq!(v["tid"], ev.who().tid);
        assert_eq!(v["ns"]["net"], ev.ns().inum[Ns::Net as usize]);
        assert_eq!(v["ns_id"]["net"], ev.ns().id[Ns::Net as usize]);
    }
}

/// One renderer keeps the text of recent namespace sets, flags and
/// seconds: whatever it remembers, each line is the one a fresh renderer
/// writes (more sets and flags than it keeps, seconds going back and forth,
/// odd names).
#[test]
fn json_lines_do_not_depend_on_what_came_before() {
    let mut evs = Vec::new();
    for i in 0..40u32 {
        for mut ev in samples() {
            let base = 4_026_531_000 + (i % 13) * 16;
            match &mut ev {
                Event::Fork(e) => {
                    // A task's fields, one at a time unlike those of the
                    // fork just before.
                    evs.push(Event::Fork(*e));
                    match i % 6 {
                        0 => e.hdr.pid += 1,
                        1 => e.hdr.tgid += 1,
                        2 => e.hdr.ppid += 1,
                        3 => e.hdr.cgroup_id += 1,
                        4 => e.hdr.comm[0] = b'X',
                        _ => {}
                    }
                    e.flags ^= u64::from(i % 11) << 8;
                    e.ns = crate::testkit::numbered(base);
                    e.hdr.ts_ns = u64::from(i % 3) * 1_000_000_000 + u64::from(i) * 7;
                }
                Event::Unshare(e) | Event::Setns(e) => {
                    e.ns_before = crate::testkit::numbered(base + 1);
                    e.ns.id = [0; NS_COUNT];
                }
                Event::Exec(e) => {
                    e.hdr.comm[..4].copy_from_slice(if i % 2 == 0 {
                        b"a\"\x01\xff"
                    } else {
                        b"ok\0\0"
                    });
                }
                _ => {}
            }
            evs.push(ev);
        }
    }
    let mut kept = Json::new(clock());
    for ev in &evs {
        let fresh = rendered(&mut Json::new(clock()), ev, ALL);
        assert_eq!(rendered(&mut kept, ev, ALL), fresh);
    }
}

#[test]
fn json_unshare_names_flags_and_changes() {
    let ev = samples()[3].clone();
    let Event::Unshare(e) = &ev else {
        unreachable!()
    };
    let v = json(&ev, ALL);
    assert_eq!(v["flag_names"], serde_json::json!(["CLONE_NEWNET"]));
    // Every slot differs in the sample, so every slot is "changed".
    assert_eq!(v["changed"].as_array().unwrap().len(), NS_COUNT);
    assert_eq!(v["ns_before"]["net"], e.ns_before.inum[Ns::Net as usize]);
    assert_eq!(v["ret"], 0);
    assert!(v.get("fd").is_none());
}

/// A setns or unshare names, before the call, only the slots it changed:
/// the rest are `ns`'s. Together they give back the whole set before.
#[test]
fn json_ns_before_holds_only_what_changed() {
    let Event::Unshare(sample) = samples()[3].clone() else {
        unreachable!()
    };
    // A setns into another netns and uts namespace, and one refused.
    let mut moved = sample;
    moved.syscall = tracer_common::syscall::SETNS;
    moved.ns = moved.ns_before;
    for slot in [Ns::Net, Ns::Uts] {
        moved.ns.inum[slot as usize] += 7;
        moved.ns.id[slot as usize] += 7;
    }
    let mut refused = sample;
    refused.ns = refused.ns_before;
    refused.ret = -1;
    for (e, changed) in [(moved, vec!["uts", "net"]), (refused, vec![])] {
        let v = json(&Event::Setns(e), ALL);
        assert_eq!(v["changed"], serde_json::json!(changed));
        for (key, after_key, before) in [
            ("ns_before", "ns", e.ns_before.inum.map(u64::from)),
            ("ns_id_before", "ns_id", e.ns_before.id),
        ] {
            let map = v[key].as_object().unwrap();
            let names: Vec<&str> = map.keys().map(String::as_str).collect();
            let mut want = changed.clone();
            want.sort();
            assert_eq!(names, want, "{key}: {v}");
            for slot in Ns::ALL {
                let name = slot.proc_name();
                let was = map.get(name).unwrap_or(&v[after_key][name]);
                assert_eq!(was, before[slot as usize], "{key}.{name}: {v}");
            }
        }
    }
}

#[test]
fn text_lines_say_what_changed() {
    let evs = samples();
    let fork = text_line(&evs[0], ALL);
    assert!(fork.contains("FORK"), "{fork}");
    assert!(fork.contains("via clone SIGCHLD|CLONE_NEWNET"), "{fork}");
    assert!(fork.contains("new net=4026533005"), "{fork}");
    let exec = text_line(&evs[1], ALL);
    assert!(exec.contains("/pause  [/pause -P]"), "{exec}");
    let exit = text_line(&evs[2], ALL);
    assert!(exit.contains("exit 1"), "{exit}");
    let setns = text_line(&evs[4], ALL);
    assert!(
        setns.contains("fd=5 CLONE_NEWNET ret=-22 (EINVAL)"),
        "{setns}"
    );
    assert!(setns.contains("net 4026531005→4026532005"), "{setns}");
    assert!(!setns.contains("unread"), "{setns}");
}

#[test]
fn zero_fields_are_reported_unread_where_the_kernel_has_them() {
    let Event::Exit(mut e) = samples()[2].clone() else {
        unreachable!()
    };
    e.ns.inum[Ns::Net as usize] = 0;
    e.ns.inum[Ns::Time as usize] = 0;
    let ev = Event::Exit(e);
    let no_time = ALL & !Ns::Time.bit();
    assert!(text_line(&ev, no_time).ends_with("(unread: net)"));
    let v = json(&ev, ALL);
    assert_eq!(v["unread"], serde_json::json!(["net", "time"]));
}

/// Cgroup ids come from a recording as any text: a report of ids that are
/// short or not ASCII renders (it used to slice bytes and panic).
#[test]
fn a_report_of_odd_cgroup_ids_renders() {
    use crate::model::Note;
    use crate::report::{CgroupIds, build};
    use crate::testkit::{Driver, POD, app_container, runc_pause};

    let mut w = Driver::new();
    let pause = runc_pause(&mut w);
    let app = app_container(&mut w, 810, POD, &["/app"]);
    let ids = |pod: &str, container: Option<&str>| CgroupIds {
        pod_uid: Some(pod.into()),
        container_id: container.map(Into::into),
        ..CgroupIds::default()
    };
    w.m.note(&Note::Cgroup {
        pid: pause,
        ids: ids("0123456789aé-pod", None),
    });
    w.m.note(&Note::Cgroup {
        pid: app,
        ids: ids("p", Some("0123456789aé-container")),
    });
    let report = build(&w.m, &Stats::default(), &clock());
    let mut out = Vec::new();
    Text::new(clock()).report(&mut out, &report).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("Sandbox #1 pod 0123456789aé"), "{text}");
    assert!(text.contains(" 0123456789aé "), "{text}");
}

/// The report's text: a header line, then per sandbox its label, the
/// namespaces and containers as tables with aligned columns.
#[test]
fn the_report_reads_as_tables() {
    use crate::report::build;
    use crate::testkit::{Driver, Feed, PAUSE_NS, POD, app_container, app_ns, runc_pause};

    let mut w = Driver::new();
    let pause = runc_pause(&mut w);
    let app = app_container(&mut w, 810, POD, &["/app", "--serve"]);
    w.exit(app, "app", 3 << 8, app_ns(POD, 810));
    w.exit(pause, "pause", 9, PAUSE_NS);
    let report = build(&w.m, &Stats::default(), &clock());
    let mut out = Vec::new();
    Text::new(clock()).report(&mut out, &report).unwrap();
    let text = String::from_utf8(out).unwrap();
    println!("{text}");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "=== report: 1 sandbox(es), 0 events ===");
    assert_eq!(lines[3], "Sandbox #1 net 200");
    let ns_head = lines[4];
    assert!(ns_head.starts_with("  namespaces   kind"), "{text}");
    // Columns line up: each namespace's inode under "inode".
    let inode_at = ns_head.find("inode").unwrap();
    let net = lines
        .iter()
        .find(|l| l.trim_start().starts_with("net "))
        .unwrap();
    assert_eq!(net.find("200"), Some(inode_at), "{text}");
    let c_head = lines
        .iter()
        .position(|l| l.starts_with("  containers"))
        .unwrap();
    assert!(lines[c_head + 1].contains(" c1 ") && lines[c_head + 1].ends_with("/app --serve"));
    assert!(
        text.contains("  pause        pid 711 /pause  forked"),
        "{text}"
    );
    assert!(text.contains("  durations    namespaces→pause"), "{text}");
    assert!(
        lines.iter().all(|l| l.trim_end() == *l),
        "no trailing spaces"
    );
}

/// An argv, comm or filename is the process's to choose: in text, its
/// control characters are shown (`\x1b`), never sent to the terminal.
#[test]
fn text_never_carries_a_control_character_from_the_kernel() {
    use crate::report::build;
    use crate::testkit::{Driver, Feed, PAUSE_NS, POD, app_container, app_ns, runc_pause};

    const EVIL: &str = "\u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}1m";
    let clean = |text: &str| {
        assert!(
            !text.chars().any(|c| c != '\n' && c.is_control()),
            "{text:?}"
        );
        assert!(text.contains("\\x1b[2J\\x1b]0;pwned\\x07"), "{text:?}");
    };

    let Event::Exec(mut e) = samples()[1].clone() else {
        unreachable!()
    };
    let args = format!("/bin/app\0{EVIL}\0");
    e.args[..args.len()].copy_from_slice(args.as_bytes());
    e.args_len = args.len() as u32;
    e.filename[..EVIL.len()].copy_from_slice(EVIL.as_bytes());
    e.hdr.comm[..4].copy_from_slice(b"\x1b[2J");
    clean(&text_line(&Event::Exec(e), ALL));

    let mut w = Driver::new();
    let pause = runc_pause(&mut w);
    let app = app_container(&mut w, 810, POD, &["/app", EVIL]);
    w.exit(app, "app", 3 << 8, app_ns(POD, 810));
    w.exit(pause, "pause", 9, PAUSE_NS);
    let report = build(&w.m, &Stats::default(), &clock());
    let mut out = Vec::new();
    Text::new(clock()).report(&mut out, &report).unwrap();
    clean(&String::from_utf8(out).unwrap());
}

#[test]
fn cause_records_render_as_one_line_each_with_their_fields() {
    let causes = crate::testkit::cause_samples();
    let v = json(&causes[0], ALL);
    assert_eq!(
        (&v["event"], &v["signal"], &v["signal_name"]),
        (
            &serde_json::json!("signal"),
            &serde_json::json!(9),
            &serde_json::json!("SIGKILL")
        )
    );
    assert_eq!(
        (&v["pid"], &v["comm"]),
        (&serde_json::json!(900), &serde_json::json!("runc"))
    );
    assert_eq!(
        (&v["target_pid"], &v["target_comm"], &v["group"]),
        (
            &serde_json::json!(4242),
            &serde_json::json!("pause"),
            &serde_json::json!(true)
        )
    );
    let v = json(&causes[1], ALL);
    assert_eq!(
        (&v["victim_pid"], &v["victim_comm"]),
        (&serde_json::json!(4243), &serde_json::json!("stress"))
    );
    let v = json(&causes[2], ALL);
    assert_eq!(
        (&v["id"], &v["path"]),
        (
            &serde_json::json!(13648),
            &serde_json::json!("/kubepods/besteffort/podu/c0ffee")
        )
    );
    let lines: Vec<String> = causes.iter().map(|ev| text_line(ev, ALL)).collect();
    assert!(
        lines[0].contains("SIGNAL") && lines[0].contains("SIGKILL to 4242 pause (group)"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("victim 4243 stress"), "{}", lines[1]);
    assert!(
        lines[2].contains("cgroup 13648 /kubepods/besteffort/podu/c0ffee"),
        "{}",
        lines[2]
    );
}
