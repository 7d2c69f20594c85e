//! One namespace's or one sandbox's story, on demand (`--netns`,
//! `--pod`): which sandboxes and namespaces the question names, their
//! steps in time order as the live view printed them, and at the end
//! everything the model holds about them — creator, tasks inside now,
//! visitors, pins, and a verdict.

use std::path::Path;

use serde::Serialize;

use super::build::sandbox;
use super::visitors::{self, VisitorRow};
use super::{Creation, NsKind, Pin, SandboxReport, Step, Task};
use crate::clock::Clock;
use crate::host::nsfs;
use crate::model::Model;
use crate::model::ns::{NsInfo, NsKey};

/// Steps kept for one story: a long-lived pod with a busy exec loop
/// should not grow memory without bound.
const STEPS_CAP: usize = 10_000;

/// What the user asked about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Selector {
    /// `--pod ID`: a sandbox number (`#3`, or `3`: a number shorter than
    /// six digits), or a prefix of its pod uid or of its own container id
    /// (the runtime's sandbox id).
    Pod(String),
    /// `--netns INODE|PATH`: a network namespace by inode, or by a path
    /// that names it — a pin such as `/run/netns/cni-…`, or
    /// `/proc/<pid>/ns/net` — resolved by stat where it exists here, and by
    /// the pins the trace saw otherwise (a recording read elsewhere).
    Netns {
        inum: Option<u32>,
        path: Option<String>,
    },
}

impl Selector {
    /// The selector for `--netns VALUE`: an inode number, or a path.
    pub fn netns(value: &str) -> Selector {
        if let Ok(inum) = value.parse::<u32>() {
            return Selector::Netns {
                inum: Some(inum),
                path: None,
            };
        }
        let inum = nsfs::inode(Path::new(value));
        Selector::Netns {
            inum,
            path: Some(value.to_string()),
        }
    }

    /// `pod 3f2a…`, `netns 4026532301`, `netns /run/netns/x (4026532301)`.
    pub fn describe(&self) -> String {
        match self {
            Selector::Pod(id) => format!("pod {id}"),
            Selector::Netns {
                inum,
                path: Some(p),
            } => match inum {
                Some(i) => format!("netns {p} ({i})"),
                None => format!("netns {p}"),
            },
            Selector::Netns { inum, path: None } => {
                format!("netns {}", inum.map(|i| i.to_string()).unwrap_or_default())
            }
        }
    }

    /// Does this namespace answer the question? (`--pod` names sandboxes only.)
    pub fn matches_ns(&self, k: &NsKey, info: Option<&NsInfo>) -> bool {
        let Selector::Netns { inum, path } = self else {
            return false;
        };
        // A path matches any pin the trace saw at it, live or removed.
        k.kind == NsKind::Net
            && (inum.is_some_and(|i| i == k.inum)
                || path
                    .as_ref()
                    .is_some_and(|p| info.is_some_and(|i| i.pins.iter().any(|pin| pin.path == *p))))
    }

    /// Does this sandbox answer the question (now, as far as the model knows)?
    pub fn matches_sandbox(&self, m: &Model, sb: usize) -> bool {
        let Some(s) = m.sandboxes.get(sb) else {
            return false;
        };
        match self {
            Selector::Pod(id) => {
                // `#3`, or a short number, is a sandbox's number; anything
                // else (ids may begin with digits) a prefix of its ids.
                let number = id
                    .strip_prefix('#')
                    .or((id.len() < 6).then_some(id.as_str()));
                if let Some(n) = number.and_then(|n| n.parse::<usize>().ok()) {
                    return n == sb + 1;
                }
                let prefix = |v: Option<&String>| {
                    v.is_some_and(|v| !id.is_empty() && v.starts_with(id.as_str()))
                };
                s.cgroup
                    .as_ref()
                    .is_some_and(|c| prefix(c.pod_uid.as_ref()) || prefix(c.container_id.as_ref()))
            }
            Selector::Netns { .. } => s
                .namespaces()
                .any(|k| self.matches_ns(k, m.ns.info.get(k).map(|i| &**i))),
        }
    }
}

/// Steps of the story, gathered while the trace goes.
#[derive(Debug, Default)]
pub struct Gathered {
    pub steps: Vec<Step>,
    /// Steps past [`STEPS_CAP`]: counted, not kept.
    pub dropped: u64,
}

impl Gathered {
    pub fn push(&mut self, step: Step) {
        if self.steps.len() < STEPS_CAP {
            self.steps.push(step);
        } else {
            self.dropped += 1;
        }
    }
}

/// One namespace's ledger as the story tells it.
#[derive(Debug, PartialEq, Serialize)]
pub struct NsStory {
    pub kind: NsKind,
    pub inum: u32,
    #[serde(skip_serializing_if = "is_zero")]
    pub id: u64,
    pub created: Option<Creation>,
    pub existing: bool,
    pub first_seen_ns: u64,
    /// Threads inside at the end of the trace (tid, and its process's
    /// command where the model knows it).
    pub tasks: Vec<Task>,
    pub emptied_ns: Option<u64>,
    /// Paths of its live pins.
    pub pinned_by: Vec<String>,
    /// Its pins over time, in every mount namespace (as the report's).
    pub pins: Vec<Pin>,
    /// No task and no pin left.
    pub freed_ns: Option<u64>,
    /// Sandboxes that hold it (their numbers, as in the report).
    pub sandboxes: Vec<usize>,
    /// Visits of this namespace the model kept, with or without a sandbox.
    pub visitors: Vec<VisitorRow>,
    /// `in use`, `empty, pinned`, `freed`, `never seen with a task`.
    pub verdict: String,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// The answer (`type: story` in JSON).
#[derive(Debug, PartialEq, Serialize)]
pub struct Story {
    #[serde(rename = "type")]
    pub ty: &'static str,
    pub realtime_minus_boottime_ns: i128,
    /// The question, as the user put it.
    pub selector: String,
    pub namespaces: Vec<NsStory>,
    pub sandboxes: Vec<SandboxReport>,
    /// Its steps in the order the live view printed them.
    #[serde(skip)]
    pub steps: Vec<Step>,
    pub steps_not_kept: u64,
}

impl Story {
    pub fn clock(&self) -> Clock {
        Clock {
            realtime_minus_boottime_ns: self.realtime_minus_boottime_ns,
        }
    }
}

/// The story of what `sel` names, from the model at the end of the trace.
pub fn build(m: &Model, sel: &Selector, gathered: Gathered, clock: &Clock) -> Story {
    let sandboxes: Vec<usize> = m
        .sandboxes
        .ids()
        .filter(|&sb| sel.matches_sandbox(m, sb))
        .collect();
    let mut keys: Vec<NsKey> =
        m.ns.info
            .iter()
            .filter(|(k, i)| sel.matches_ns(k, Some(i)))
            .map(|(k, _)| *k)
            .collect();
    // A sandbox asked for by `--pod` brings its namespaces along.
    if matches!(sel, Selector::Pod(_)) {
        for &sb in &sandboxes {
            keys.extend(m.sandboxes[sb].namespaces().copied());
        }
    }
    keys.sort_by_key(|k| {
        let i = m.ns.info.get(k);
        (i.map(|i| i.first_seen_ns), *k)
    });
    keys.dedup();
    Story {
        ty: "story",
        realtime_minus_boottime_ns: clock.realtime_minus_boottime_ns,
        selector: sel.describe(),
        namespaces: keys.iter().map(|k| ns_story(m, k)).collect(),
        sandboxes: sandboxes.iter().map(|&sb| sandbox(m, sb, clock)).collect(),
        steps: gathered.steps,
        steps_not_kept: gathered.dropped,
    }
}

/// In use, empty but pinned (a leak when judged so), freed.
fn verdict(tasks: &[Task], pins: &[Pin], gone: Option<u64>) -> String {
    if !tasks.is_empty() {
        return format!("in use: {} task(s) inside", tasks.len());
    }
    let live: Vec<&Pin> = pins.iter().filter(|p| p.live()).collect();
    if live.is_empty() {
        return match gone {
            Some(_) => "freed: no task and no pin left".to_string(),
            None => "no task seen inside".to_string(),
        };
    }
    let held: Vec<String> = live
        .iter()
        .map(|p| {
            let holder = p
                .holder
                .as_ref()
                .map(|t| format!(", pid {} {}", t.pid, t.comm))
                .unwrap_or_default();
            format!("{} (mnt {}{holder})", p.path, p.mnt.inum)
        })
        .collect();
    let leak = if live.iter().any(|p| p.leak_ns.is_some()) {
        "LEAK: "
    } else {
        ""
    };
    format!("{leak}no task, still pinned by {}", held.join(", "))
}

fn ns_story(m: &Model, k: &NsKey) -> NsStory {
    let info = m.ns.info.get(k);
    let tasks: Vec<Task> =
        m.ns.members(k)
            .into_iter()
            .map(|tid| Task::new(tid, m.comm_of(tid).unwrap_or_default()))
            .collect();
    let sandboxes: Vec<usize> = m
        .sandboxes
        .values()
        .filter(|s| s.namespaces().any(|n| n == k))
        .map(|s| s.id + 1)
        .collect();
    let pinned_by = info.map(|i| i.pinned_by()).unwrap_or_default();
    let pins = info.map(|i| i.pins.clone()).unwrap_or_default();
    let emptied_ns = info.and_then(|i| i.emptied_ns);
    let freed_ns = info.and_then(|i| i.freed_ns);
    let verdict = verdict(&tasks, &pins, freed_ns.or(emptied_ns));
    NsStory {
        kind: k.kind,
        inum: k.inum,
        id: info.map(|i| i.id).unwrap_or(0),
        created: info.and_then(|i| i.created.clone()),
        existing: info.is_some_and(|i| i.existing),
        first_seen_ns: info.map(|i| i.first_seen_ns).unwrap_or(0),
        tasks,
        emptied_ns,
        pinned_by,
        pins,
        freed_ns,
        sandboxes,
        visitors: m
            .visits
            .of_namespace(k)
            .map(|v| visitors::row(m, v))
            .collect(),
        verdict,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host::cgroup::CgroupIds;
    use crate::model::Note;
    use crate::testkit::visitors::{cni_plugin, nsenter};
    use crate::testkit::{Driver, Feed, PAUSE_NS, POD, Spaces, app_container, runc_pause};

    const OTHER: Spaces = Spaces {
        net: 2200,
        ipc: 2202,
        uts: 2201,
        mnt: 2300,
        pid: 104,
        pfc: 2303,
    };

    /// Two pods (POD by runc 710, OTHER by runc 1710), a visitor into the first.
    fn two_pods() -> Driver {
        let mut w = Driver::new();
        let pause = runc_pause(&mut w);
        w.m.note(&Note::Cgroup {
            pid: pause,
            ids: CgroupIds {
                runtime: None,
                pod_uid: Some("3f2a9c11-0000".into()),
                container_id: Some("abcdef012345".into()),
                qos: None,
            },
        });
        crate::testkit::runc(
            &mut w,
            1710,
            &[],
            Some((
                tracer_common::CLONE_NEWNET
                    | tracer_common::CLONE_NEWNS
                    | tracer_common::CLONE_NEWUTS
                    | tracer_common::CLONE_NEWIPC
                    | tracer_common::CLONE_NEWPID,
                OTHER,
            )),
            &["/pause"],
            "pause",
        );
        app_container(&mut w, 810, POD, &["/app"]);
        let ns = nsenter(&mut w, 4000, POD, &["ip", "addr"]);
        w.exit(4000, "ip", 0, ns);
        w
    }

    #[test]
    fn pods_are_named_by_number_uid_or_sandbox_id() {
        let w = two_pods();
        let hits = |id: &str| -> Vec<usize> {
            let sel = Selector::Pod(id.into());
            w.m.sandboxes
                .ids()
                .filter(|&sb| sel.matches_sandbox(&w.m, sb))
                .collect()
        };
        assert_eq!(hits("1"), [0]);
        assert_eq!(hits("#2"), [1]);
        assert_eq!(hits("3f2a"), [0]);
        assert_eq!(hits("abcdef"), [0]);
        assert!(hits("zzz").is_empty());
        assert!(hits("").is_empty(), "an empty id names nothing");
        assert!(hits("3").is_empty(), "a short number is a sandbox number");
    }

    #[test]
    fn a_netns_by_inode_or_by_a_pin_path_the_trace_saw() {
        let mut w = two_pods();
        let sel = Selector::netns("2200");
        assert_eq!(
            sel,
            Selector::Netns {
                inum: Some(2200),
                path: None
            }
        );
        let sb: Vec<usize> =
            w.m.sandboxes
                .ids()
                .filter(|&sb| sel.matches_sandbox(&w.m, sb))
                .collect();
        assert_eq!(sb, [1]);
        // A path that does not exist here (a recording read elsewhere):
        // matched through the pins the trace recorded.
        let sel = Selector::netns("/run/netns/not-here-cni-1234");
        assert_eq!(sel.describe(), "netns /run/netns/not-here-cni-1234");
        assert!(!sel.matches_sandbox(&w.m, 0));
        w.m.note(&Note::Pins {
            kind: NsKind::Net,
            inum: POD.net,
            paths: vec!["/run/netns/not-here-cni-1234".into()],
        });
        assert!(sel.matches_sandbox(&w.m, 0));
        assert!(!sel.matches_sandbox(&w.m, 1));
    }

    #[test]
    fn a_path_that_names_a_namespace_here_is_resolved_by_stat() {
        use std::os::unix::fs::MetadataExt;
        let ino = std::fs::metadata("/proc/self/ns/net").map(|m| m.ino());
        let sel = Selector::netns("/proc/self/ns/net");
        let Selector::Netns { inum, .. } = sel else {
            panic!("not a netns selector")
        };
        assert_eq!(inum.map(u64::from), ino.ok());
        // A file that is no namespace gives no inode.
        let Selector::Netns { inum, .. } = Selector::netns("/proc/self/status") else {
            panic!("not a netns selector")
        };
        assert_eq!(inum, None);
    }

    #[test]
    fn the_story_of_a_netns_has_its_creator_tasks_visitors_and_verdict() {
        let mut w = two_pods();
        let clock = Clock {
            realtime_minus_boottime_ns: 0,
        };
        let s = build(&w.m, &Selector::netns("200"), Gathered::default(), &clock);
        assert_eq!(s.sandboxes.len(), 1);
        assert_eq!(s.sandboxes[0].sandbox, 1);
        assert_eq!(s.namespaces.len(), 1);
        let n = &s.namespaces[0];
        assert_eq!((n.kind, n.inum), (NsKind::Net, 200));
        assert_eq!(n.created.as_ref().map(|c| c.pid), Some(710));
        assert_eq!(n.sandboxes, [1]);
        let tids: Vec<u32> = n.tasks.iter().map(|t| t.pid).collect();
        assert_eq!(tids, [711, 811], "the pause and the app");
        assert!(n.verdict.starts_with("in use: 2 task"), "{}", n.verdict);
        assert_eq!(n.visitors.len(), 1);
        assert_eq!(n.visitors[0].argv, ["ip", "addr"]);
        // The pod stops; a CNI DEL comes through its pin afterwards.
        w.exit(811, "app", 0, crate::testkit::app_ns(POD, 810));
        w.exit(711, "pause", 9, PAUSE_NS);
        w.m.note(&Note::Pins {
            kind: NsKind::Net,
            inum: POD.net,
            paths: vec!["/run/netns/cni-1".into()],
        });
        cni_plugin(&mut w, (601, 600), "bridge", POD);
        let s = build(&w.m, &Selector::netns("200"), Gathered::default(), &clock);
        let n = &s.namespaces[0];
        assert!(n.tasks.is_empty());
        assert_eq!(
            n.verdict,
            "no task, still pinned by /run/netns/cni-1 (mnt 103)"
        );
        assert_eq!(n.pins.len(), 1);
        assert_eq!(n.visitors.len(), 2);
        let cni = n.visitors[1].cni.as_ref().map(|c| c.command.as_str());
        assert_eq!(cni, Some("DEL"));
        // Nothing answers: an empty story that says so.
        let none = build(&w.m, &Selector::netns("999"), Gathered::default(), &clock);
        assert!(none.namespaces.is_empty() && none.sandboxes.is_empty());
    }

    #[test]
    fn the_story_of_a_pod_brings_its_namespaces() {
        let w = two_pods();
        let clock = Clock {
            realtime_minus_boottime_ns: 0,
        };
        let s = build(
            &w.m,
            &Selector::Pod("3f2a".into()),
            Gathered::default(),
            &clock,
        );
        assert_eq!(s.sandboxes.len(), 1);
        let kinds: Vec<NsKind> = s.namespaces.iter().map(|n| n.kind).collect();
        assert!(
            kinds.contains(&NsKind::Net) && kinds.contains(&NsKind::Ipc),
            "{kinds:?}"
        );
        assert!(s.namespaces.iter().all(|n| n.sandboxes == [1]));
        assert_eq!(s.sandboxes[0].visitors.len(), 1);
    }

    #[test]
    fn gathered_steps_are_bounded() {
        let mut g = Gathered::default();
        let step = Step {
            ts_ns: 1,
            sandbox: 1,
            label: "#1".into(),
            pod: None,
            pod_name: None,
            what: crate::report::StepWhat::SandboxEnded {
                lived_for_ns: None,
                last_holder: None,
            },
        };
        for _ in 0..STEPS_CAP + 5 {
            g.push(step.clone());
        }
        assert_eq!((g.steps.len(), g.dropped), (STEPS_CAP, 5));
    }
}
