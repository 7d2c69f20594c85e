//! `--pod` / `--netns` through the pipeline: only the named sandbox's
//! lines, its story at the end, and a replay that resolves each step after
//! the notes recorded for its event, as the live run did.

use super::*;
use crate::decode::{Event, encode};
use crate::host::cgroup::CgroupIds;
use crate::record::{Frame, Header, Reader, Writer};
use crate::render::{Format, renderer};
use crate::testkit::visitors::cni_plugin;
use crate::testkit::{self, Feed, HOST, Maker, POD, Spaces, runc};
use tracer_common::{CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS};

const CLOCK: Clock = Clock {
    realtime_minus_boottime_ns: 1_700_000_000_000_000_000,
};
const OTHER: Spaces = Spaces {
    net: 2200,
    ipc: 2202,
    uts: 2201,
    mnt: 2300,
    pid: 104,
    pfc: 2303,
};

struct Feeder<R: Write> {
    make: Maker,
    p: Pipeline<Vec<u8>, R>,
}

impl<R: Write> Feed for Feeder<R> {
    fn maker(&mut self) -> &mut Maker {
        &mut self.make
    }
    fn feed(&mut self, ev: Event) {
        self.p.event(&encode(&ev)).unwrap();
    }
}

fn header() -> Header {
    Header {
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
    }
}

fn pipeline<R: Write>(format: Format, view: View, rec: Option<Writer<R>>) -> Pipeline<Vec<u8>, R> {
    let h = header();
    let mut m = Model::new();
    m.seed(&h.snapshot, &h.host_ns(), 0);
    let out = Output {
        render: renderer(format, CLOCK),
        sink: Vec::new(),
        view,
    };
    let source = Source {
        clock: CLOCK,
        supported: h.supported_ns,
        live: false,
    };
    Pipeline::new(m, source, out, rec)
}

/// A pause of `pod` made by runc's stage 1 `s1` (all its namespaces).
fn pause(w: &mut impl Feed, s1: u32, pod: Spaces) -> u32 {
    let all = CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID;
    runc(w, s1, &[], Some((all, pod)), &["/pause"], "pause")
}

/// Two pods; the first's cgroup note follows its pause's exec (as a
/// live run records it); a CNI plugin visits the first.
fn two_pods<R: Write>(w: &mut Feeder<R>) {
    let p = pause(w, 710, POD);
    w.p.note(&Note::Cgroup {
        pid: p,
        ids: CgroupIds {
            runtime: None,
            pod_uid: Some("3f2a9c11-aaaa".into()),
            container_id: Some("abcdef012345".into()),
            qos: None,
        },
    })
    .unwrap();
    pause(w, 1710, OTHER);
    cni_plugin(w, (601, 600), "bridge", POD);
    cni_plugin(w, (621, 620), "bridge", OTHER);
}

fn json_lines(out: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_replayed_story_has_the_pods_steps_resolved_after_their_notes() {
    let rec = Writer::new(Vec::new(), &header());
    let mut w = Feeder {
        make: Maker::new(1_000_000_000, 1_000_000),
        p: pipeline(Format::Json, View::Quiet, Some(rec)),
    };
    two_pods(&mut w);
    let (_, recording) = w.p.finish(&[]).unwrap();
    let recording = recording.unwrap().unwrap();

    let (_, mut reader) = Reader::open(&recording[..]).unwrap();
    let mut replay: Pipeline<Vec<u8>, io::Sink> = pipeline(Format::Json, View::Quiet, None);
    // The pod uid is known only from the note after the pause's exec.
    replay.focus(Selector::Pod("3f2a9c".into()));
    while let Some(frame) = reader.next_frame().unwrap() {
        match frame {
            Frame::Event(bytes) => replay.event(&bytes).unwrap(),
            Frame::Note(bytes) => replay
                .note(&serde_json::from_slice(&bytes).unwrap())
                .unwrap(),
            Frame::End(_) => {}
        }
    }
    let (out, _) = replay.finish(&[]).unwrap();
    let lines = json_lines(&out);
    assert_eq!(lines.len(), 2, "the story and the final stats: {lines:?}");
    let story = &lines[0];
    assert_eq!(story["type"], "story");
    assert_eq!(story["selector"], "pod 3f2a9c");
    assert_eq!(story["sandboxes"].as_array().unwrap().len(), 1);
    let events: Vec<&str> = story["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["event"].as_str().unwrap())
        .collect();
    assert_eq!(events.first(), Some(&"namespace_created"), "{events:?}");
    assert!(events.contains(&"pause_started"), "{events:?}");
    assert_eq!(events.last(), Some(&"visit"), "{events:?}");
    for s in story["steps"].as_array().unwrap() {
        assert_eq!(s["sandbox"], 1, "{s}");
        assert_eq!(
            s["pod"], "3f2a9c11-aaaa",
            "resolved after the cgroup note: {s}"
        );
    }
    let net = story["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["kind"] == "net")
        .unwrap();
    assert_eq!(net["inum"], POD.net);
    assert_eq!(net["visitors"][0]["comm"], "bridge");
    assert_eq!(net["visitors"][0]["cni"]["command"], "ADD");
}

#[test]
fn live_lines_of_other_sandboxes_are_left_out() {
    let mut w: Feeder<io::Sink> = Feeder {
        make: Maker::new(1_000_000_000, 1_000_000),
        p: pipeline(Format::Text, View::Pods, None),
    };
    w.p.focus(Selector::netns(&OTHER.net.to_string()));
    two_pods(&mut w);
    let (out, _) = w.p.finish(&[]).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let steps: Vec<&str> = text.lines().take_while(|l| !l.is_empty()).collect();
    assert!(!steps.is_empty(), "{text}");
    assert!(
        steps.iter().all(|l| l.contains("#2 net 2200")),
        "only the second pod's lines: {text}"
    );
    assert!(steps.iter().any(|l| l.contains("VISIT")), "{text}");
    assert!(
        text.contains("=== story: netns 2200 — 1 namespace(s), 1 sandbox(es) ==="),
        "{text}"
    );
    assert!(text.contains("Namespace net 2200"), "{text}");
    assert!(text.contains("verdict"), "{text}");
    assert!(text.contains("Sandbox #2 net 2200"), "{text}");
    assert!(
        !text.contains("=== report"),
        "the story instead of the report: {text}"
    );
}
