//! The whole pipeline on a made-up pod: lifecycle lines in both formats,
//! and a recording that replays to the same report.

use std::collections::BTreeSet;

use super::*;
use crate::decode::{Event, encode};
use crate::record::{Frame, Reader, Writer};
use crate::render::{Format, renderer};
use crate::testkit::{
    self, Feed, HOST, Maker, PAUSE_NS, POD, app_container, app_ns, runc, runtime_makes_netns,
};
use tracer_common::{CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS};

const CLOCK: Clock = Clock {
    realtime_minus_boottime_ns: 1_700_000_000_000_000_000,
};

/// Feeds a pipeline with each event's bytes, as the ring buffer would.
struct Live<R: Write> {
    make: Maker,
    p: Pipeline<Vec<u8>, R>,
}

impl<R: Write> Feed for Live<R> {
    fn maker(&mut self) -> &mut Maker {
        &mut self.make
    }
    fn feed(&mut self, ev: Event) {
        self.p.event(&encode(&ev)).unwrap();
        // As live: settled right after each event (no /proc read here).
        self.p.settle().unwrap();
    }
}

fn model() -> Model {
    let mut m = Model::new();
    let init = testkit::snapshot(1, 0, "systemd", &["/sbin/init"], HOST);
    m.seed(&[init], &HOST.set(), 0);
    m
}

fn live<R: Write>(format: Format, view: View, recorder: Option<Writer<R>>) -> Live<R> {
    let out = Output {
        render: renderer(format, CLOCK),
        sink: Vec::new(),
        view,
    };
    let source = Source {
        clock: CLOCK,
        supported: (1 << tracer_common::NS_COUNT) - 1,
        live: false,
    };
    Live {
        make: Maker::new(1_000_000_000, 1_000_000),
        p: Pipeline::new(model(), source, out, recorder),
    }
}

/// containerd's pod: its thread makes the netns, runc the pause; an app
/// container, an exec session into it; then all of it ends.
fn containerd_pod(w: &mut impl Feed) {
    runtime_makes_netns(w, (501, 500), "containerd", POD);
    let pause = runc(
        w,
        710,
        &[(
            CLONE_NEWNET,
            testkit::Spaces {
                net: POD.net,
                ..HOST
            },
        )],
        Some((
            CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID,
            POD,
        )),
        &["/pause"],
        "pause",
    );
    let app = app_container(w, 810, POD, &["/bin/app", "--serve"]);
    let app_spaces = app_ns(POD, 810);
    let e1 = testkit::Spaces {
        net: POD.net,
        ..HOST
    };
    let e2 = testkit::Spaces {
        ipc: POD.ipc,
        uts: POD.uts,
        ..e1
    };
    let e3 = testkit::Spaces {
        mnt: app_spaces.mnt,
        pfc: app_spaces.pfc,
        ..e2
    };
    let joins = [
        (CLONE_NEWNET, e1),
        (0, e2),
        (CLONE_NEWNS | CLONE_NEWPID, e3),
    ];
    let sh = runc(w, 910, &joins, None, &["/bin/sh"], "sh");
    w.exit(sh, "sh", 0, app_spaces);
    w.exit(app, "app", 3 << 8, app_spaces);
    w.exit(pause, "pause", 9, PAUSE_NS);
}

fn lines(out: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(out)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Each line, parsed as JSON.
fn json_lines(out: &[u8]) -> Vec<serde_json::Value> {
    lines(out)
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn lifecycle_json_lines_carry_their_documented_fields() {
    let mut w = live::<io::Sink>(Format::Json, View::Pods, None);
    containerd_pod(&mut w);
    let steps = json_lines(&w.p.out.sink);
    let fields = |event: &str| -> &[&str] {
        match event {
            "namespace_created" => &["kind", "inum", "by", "syscall"],
            "pause_started" => &["pause", "argv"],
            "container_joined" => &[
                "container",
                "task",
                "argv",
                "joined",
                "missing",
                "joined_ns",
            ],
            "exec_joined" => &["container", "task", "argv"],
            "left" => &["container", "task", "exec_session", "exit", "how"],
            "pause_exited" => &["pause", "exit"],
            "namespace_empty" => &["kind", "inum", "pinned_by"],
            "sandbox_ended" => &["last_holder"],
            "pin_added" | "pin_removed" => &["kind", "inum", "path", "mnt_ns", "by", "how"],
            "leak" => &["kind", "inum", "path", "mnt_ns", "holder", "made"],
            other => panic!("undocumented event {other}"),
        }
    };
    let mut seen = BTreeSet::new();
    for s in &steps {
        let event = s["event"].as_str().unwrap();
        seen.insert(event.to_string());
        let mut want: BTreeSet<&str> = ["type", "time", "sandbox", "pod", "ts_ns", "event"].into();
        want.extend(fields(event));
        let got: BTreeSet<&str> = s.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(got, want, "{s}");
        assert_eq!(s["type"], "lifecycle");
        assert_eq!(s["sandbox"], 1);
        if let Some(c) = s.get("container") {
            assert_eq!(c, "c1", "containers by their report name: {s}");
        }
    }
    assert_eq!(seen.len(), 8, "{seen:?}");
    let pause = steps
        .iter()
        .find(|s| s["event"] == "pause_started")
        .unwrap();
    assert_eq!(pause["pause"]["pid"], 711);
    assert_eq!(
        pause["time"],
        CLOCK.rfc3339(pause["ts_ns"].as_u64().unwrap()).to_string()
    );
}

#[test]
fn lifecycle_text_lines_give_the_context() {
    let mut w = live::<io::Sink>(Format::Text, View::Pods, None);
    containerd_pod(&mut w);
    let text = lines(&w.p.out.sink);
    let line = |tag: &str| -> &str {
        text.iter()
            .find(|l| l.split_whitespace().nth(1) == Some(tag))
            .unwrap_or_else(|| panic!("no {tag} in {text:#?}"))
    };
    assert!(line("NS-NEW").contains("#1 net 200"), "{text:#?}");
    let pause = line("PAUSE");
    assert!(pause.contains("pid 711 /pause  (+"), "{pause}");
    assert!(
        pause.ends_with("after its namespaces)  forked by 710 runc:[1:CHILD]"),
        "{pause}"
    );
    let join = line("JOIN");
    assert!(
        join.contains("container c1 pid 811 /bin/app --serve  joined"),
        "{join}"
    );
    assert!(
        join.contains("(setns→exec") && join.contains("after pause)"),
        "{join}"
    );
    assert!(line("EXEC-END").contains("exec in c1 pid 911 exit 0 after"));
    assert!(line("LEAVE").contains("container c1 pid 811 exit 3 after"));
    assert!(line("PAUSE-END").contains("pid 711 exit 137 after"));
    assert!(line("END").contains("sandbox lived"));
    assert!(line("NS-EMPTY").contains("nothing pins it: freed"));
}

/// A pod whose app and pause exits were lost: their pids came back on the host.
fn lost_exits(w: &mut impl Feed) -> (u32, u32) {
    let pause = testkit::runc_pause(w);
    let app = app_container(w, 810, POD, &["/app"]);
    w.fork(1, app, "bash", testkit::SIGCHLD, HOST, HOST);
    w.fork(1, pause, "bash", testkit::SIGCHLD, HOST, HOST);
    (pause, app)
}

#[test]
fn a_lost_exit_reads_as_lost() {
    let mut w = live::<io::Sink>(Format::Text, View::Pods, None);
    let (pause, app) = lost_exits(&mut w);
    let text = lines(&w.p.out.sink);
    let line = |tag: &str| -> &str {
        text.iter()
            .find(|l| l.split_whitespace().nth(1) == Some(tag))
            .unwrap_or_else(|| panic!("no {tag} in {text:#?}"))
    };
    let leave = line("LEAVE");
    assert!(
        leave.contains(&format!("pid {app} gone, exit not seen (events lost")),
        "{leave}"
    );
    let end = line("PAUSE-END");
    assert!(
        end.contains(&format!("pid {pause} gone, exit not seen")),
        "{end}"
    );
    line("END");

    let mut w = live::<io::Sink>(Format::Json, View::Pods, None);
    lost_exits(&mut w);
    let steps = json_lines(&w.p.out.sink);
    let step = |event: &str| {
        steps
            .iter()
            .find(|s| s["event"] == event)
            .unwrap_or_else(|| panic!("no {event} in {steps:#?}"))
    };
    let left = step("left");
    assert_eq!(
        (&left["exit"], &left["how"]),
        (&serde_json::Value::Null, &"lost".into())
    );
    assert_eq!(step("pause_exited")["exit"], serde_json::Value::Null);
}

fn recorder() -> Writer<Vec<u8>> {
    let header = crate::record::Header {
        tool_version: "test".into(),
        byte_order: crate::record::ByteOrder::NATIVE,
        kernel: "test".into(),
        host: "test".into(),
        boot_id: "test".into(),
        realtime_minus_boottime_ns: CLOCK.realtime_minus_boottime_ns,
        started_boot_ns: 0,
        supported_ns: (1 << tracer_common::NS_COUNT) - 1,
        host_ns_inum: HOST.set().inum,
        host_ns_id: HOST.set().id,
        snapshot: vec![testkit::snapshot(1, 0, "systemd", &["/sbin/init"], HOST)],
    };
    Writer::new(Vec::new(), &header)
}

/// `tracer report` of a recording, as JSON.
fn replay(recording: &[u8]) -> Vec<u8> {
    let (header, mut reader) = Reader::open(recording).unwrap();
    let mut m = Model::new();
    m.seed(&header.snapshot, &header.host_ns(), header.started_boot_ns);
    let out = Output {
        render: renderer(Format::Json, header.clock()),
        sink: Vec::new(),
        view: View::Quiet,
    };
    let source = Source {
        clock: header.clock(),
        supported: header.supported_ns,
        live: false,
    };
    let mut replay: Pipeline<Vec<u8>, io::Sink> = Pipeline::new(m, source, out, None);
    while let Some(frame) = reader.next_frame().unwrap() {
        match frame {
            Frame::Event(bytes) => replay.event(&bytes).unwrap(),
            Frame::Note(bytes) => replay
                .note(&serde_json::from_slice(&bytes).unwrap())
                .unwrap(),
            Frame::End(_) => {}
        }
    }
    replay.finish(&[]).unwrap().0
}

#[test]
fn a_recording_replays_to_the_same_report() {
    let mut w = live(Format::Json, View::Quiet, Some(recorder()));
    containerd_pod(&mut w);
    let (live_out, recording) = w.p.finish(&[]).unwrap();
    let recording = recording.unwrap().unwrap();
    let replay_out = replay(&recording);
    let live_lines = lines(&live_out);
    assert!(
        live_lines[0].starts_with("{\"type\":\"report\""),
        "{live_lines:?}"
    );
    assert!(live_lines[0].contains("\"sandboxes\":[{\"sandbox\":1,"));
    assert_eq!(live_lines, lines(&replay_out));
}

/// A CNI plugin's visitor record carries its whole environment: the
/// recording keeps its CNI command, and no other variable of it.
#[test]
fn a_recording_keeps_of_a_visitors_environment_only_its_cni_command() {
    let mut w = live(Format::Json, View::Quiet, Some(recorder()));
    runtime_makes_netns(&mut w, (501, 500), "containerd", POD);
    let inside = testkit::visitors::in_netns(POD);
    let Event::Visitor(v) = w.make.visitor(
        (601, 600),
        "bridge",
        &["/opt/cni/bin/bridge"],
        Some(Some("ADD")),
        &inside.set(),
    ) else {
        unreachable!()
    };
    let env = b"PATH=/bin\0CNI_COMMAND=ADD\0API_TOKEN=s3cret\0";
    let mut raw = tracer_common::VisitorEvent {
        hdr: v.hdr,
        args_len: v.args_len,
        env_len: env.len() as u32,
        ns: v.ns,
        args: v.args,
        env: [0; tracer_common::ENV_LEN],
    };
    raw.env[..env.len()].copy_from_slice(env);
    let bytes = &tracer_common::as_bytes(&raw)[..tracer_common::VISITOR_FIXED + env.len()];
    w.p.event(bytes).unwrap();
    testkit::visitors::cni_plugin(&mut w, (601, 600), "bridge", POD);
    containerd_pod(&mut w);
    let (live_out, recording) = w.p.finish(&[]).unwrap();
    let recording = recording.unwrap().unwrap();
    let has = |s: &[u8]| recording.windows(s.len()).any(|w| w == s);
    assert!(has(b"CNI_COMMAND=ADD\0"), "the CNI command is recorded");
    assert!(
        !has(b"s3cret") && !has(b"PATH=/bin"),
        "other variables are not"
    );
    let report = lines(&replay(&recording));
    assert_eq!(lines(&live_out), report);
    assert!(
        report[0].contains("\"cni\":{\"command\":\"ADD\",\"from\":\"environ\"}"),
        "{}",
        report[0]
    );
}
