//! `tracer bench-recording` (hidden): a synthetic recording for the replay
//! benchmark — many pods made the way runc makes them (see the model's
//! fixtures), each with a pause, two containers and busy work inside,
//! `live` of them running at once.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::{Context, Result};
use tracer_common::{
    CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS, Kind, NS_COUNT, Ns, NsSet,
};

use crate::decode::{Event, encode};
use crate::record::{self, Writer};
use crate::testkit::make::Maker;

const HOST: u32 = 4_026_531_800;
const SIGCHLD: u64 = 17;
const CLONE_PARENT: u64 = 0x8000;

struct Gen {
    make: Maker,
    out: Writer<BufWriter<File>>,
    written: u64,
}

fn host() -> NsSet {
    let mut n = NsSet::default();
    for i in 0..NS_COUNT {
        n.inum[i] = HOST + i as u32;
        n.id[i] = 1 + i as u64;
    }
    n
}

/// `base` with the given slots replaced by namespace number `nr`'s.
fn with(base: NsSet, slots: &[Ns], nr: u32) -> NsSet {
    let mut n = base;
    for &s in slots {
        n.inum[s as usize] = HOST + 1000 + nr;
        n.id[s as usize] = 1000 + u64::from(nr);
    }
    n
}

impl Gen {
    fn put(&mut self, ev: Event) -> Result<()> {
        self.written += 1;
        Ok(self.out.event(&encode(&ev))?)
    }

    fn fork(
        &mut self,
        caller: u32,
        child: u32,
        name: &str,
        flags: u64,
        ns: NsSet,
        caller_ns: NsSet,
    ) -> Result<()> {
        let ev = self.make.fork(caller, child, name, flags, &caller_ns, &ns);
        self.put(ev)
    }

    fn change(
        &mut self,
        kind: Kind,
        pid: u32,
        name: &str,
        flags: u64,
        before: NsSet,
        ns: NsSet,
    ) -> Result<()> {
        let ev = self
            .make
            .ns_change(kind == Kind::Setns, pid, pid, name, flags, &before, &ns);
        self.put(ev)
    }

    fn exec(&mut self, pid: u32, name: &str, argv: &[&str], ns: NsSet) -> Result<()> {
        let ev = self.make.exec(pid, name, argv[0], argv, &ns);
        self.put(ev)
    }

    fn exit(&mut self, pid: u32, name: &str, status: u32, ns: NsSet) -> Result<()> {
        let ev = self.make.exit(pid, name, status, &ns);
        self.put(ev)
    }
}

/// The namespaces and pids of pod `i`.
struct Pod {
    pause: u32,
    pod_ns: NsSet,
    containers: [(u32, NsSet); 2],
}

fn pod_of(i: u32) -> Pod {
    let pid = 100_000 + i * 64;
    let nr = i * 16;
    let net = with(host(), &[Ns::Net], nr);
    let pod_ns = with(
        with(with(net, &[Ns::Ipc], nr + 1), &[Ns::Uts], nr + 2),
        &[Ns::Mnt],
        nr + 3,
    );
    let pod_ns = with(pod_ns, &[Ns::Pid, Ns::PidForChildren], nr + 4);
    let container = |k: u32| {
        let base = NsSet {
            inum: pod_ns.inum,
            _pad: 0,
            id: pod_ns.id,
        };
        with(
            with(base, &[Ns::Mnt], nr + 5 + k),
            &[Ns::Pid, Ns::PidForChildren],
            nr + 7 + k,
        )
    };
    Pod {
        pause: pid + 2,
        pod_ns,
        containers: [(pid + 11, container(0)), (pid + 21, container(1))],
    }
}

/// Start pod `i`: netns by "podman", the pause by runc, two containers.
fn start(g: &mut Gen, i: u32) -> Result<()> {
    let p = pod_of(i);
    let base = 100_000 + i * 64;
    let h = host();
    let net = with(h, &[Ns::Net], i * 16);
    g.change(Kind::Unshare, base, "podman", CLONE_NEWNET, h, net)?;
    g.change(Kind::Setns, base, "podman", CLONE_NEWNET, net, h)?;
    // Pause: stage 1 joins the netns, unshares the rest, forks stage 2.
    let s1 = base + 1;
    g.change(Kind::Setns, s1, "runc:[1:CHILD]", CLONE_NEWNET, h, net)?;
    let s1_ns = NsSet {
        inum: p.pod_ns.inum,
        _pad: 0,
        id: p.pod_ns.id,
    };
    let mut s1_after = s1_ns;
    s1_after.inum[Ns::Pid as usize] = h.inum[Ns::Pid as usize];
    s1_after.id[Ns::Pid as usize] = h.id[Ns::Pid as usize];
    g.change(
        Kind::Unshare,
        s1,
        "runc:[1:CHILD]",
        CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID,
        net,
        s1_after,
    )?;
    g.fork(
        s1,
        p.pause,
        "runc:[1:CHILD]",
        CLONE_PARENT | SIGCHLD,
        p.pod_ns,
        s1_after,
    )?;
    g.exit(s1, "runc:[1:CHILD]", 0, s1_after)?;
    g.exec(p.pause, "catatonit", &["/catatonit", "-P"], p.pod_ns)?;
    for (k, &(pid, ns)) in p.containers.iter().enumerate() {
        let s1 = pid - 1;
        let mut cur = h;
        for slot in [Ns::Ipc, Ns::Uts, Ns::Net] {
            let mut next = cur;
            next.inum[slot as usize] = p.pod_ns.inum[slot as usize];
            next.id[slot as usize] = p.pod_ns.id[slot as usize];
            g.change(
                Kind::Setns,
                s1,
                "runc:[1:CHILD]",
                slot.clone_flag(),
                cur,
                next,
            )?;
            cur = next;
        }
        let mut after = cur;
        for slot in [Ns::Mnt, Ns::PidForChildren] {
            after.inum[slot as usize] = ns.inum[slot as usize];
            after.id[slot as usize] = ns.id[slot as usize];
        }
        g.change(
            Kind::Unshare,
            s1,
            "runc:[1:CHILD]",
            CLONE_NEWNS | CLONE_NEWPID,
            cur,
            after,
        )?;
        g.fork(s1, pid, "runc:[1:CHILD]", CLONE_PARENT | SIGCHLD, ns, after)?;
        g.exit(s1, "runc:[1:CHILD]", 0, after)?;
        let argv: &[&str] = if k == 0 {
            &["/app", "--serve"]
        } else {
            &["/sidecar"]
        };
        g.exec(pid, "app", argv, ns)?;
    }
    Ok(())
}

/// Busy work inside pod `i`'s first container: a fork, exec and exit.
fn work(g: &mut Gen, i: u32, n: u32) -> Result<()> {
    let p = pod_of(i);
    let (parent, ns) = p.containers[0];
    let child = parent + 30 + (n % 30);
    g.fork(parent, child, "app", SIGCHLD, ns, ns)?;
    g.exec(child, "sh", &["/bin/sh", "-c", "true"], ns)?;
    g.exit(child, "sh", 0, ns)
}

fn stop(g: &mut Gen, i: u32) -> Result<()> {
    let p = pod_of(i);
    for &(pid, ns) in &p.containers {
        g.exit(pid, "app", 137, ns)?;
    }
    g.exit(p.pause, "catatonit", 0, p.pod_ns)
}

/// Write a recording of `sandboxes` pods, about `events` events in all,
/// with up to `live` pods running at once.
pub fn write(path: &Path, sandboxes: u32, events: u64, live: u32) -> Result<u64> {
    let file = File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
    let h = host();
    let header = record::Header {
        tool_version: env!("CARGO_PKG_VERSION").into(),
        kernel: "synthetic".into(),
        host: "synthetic".into(),
        boot_id: "synthetic".into(),
        realtime_minus_boottime_ns: 1_700_000_000_000_000_000,
        started_boot_ns: 1,
        supported_ns: (1 << NS_COUNT) - 1,
        host_ns_inum: h.inum,
        host_ns_id: h.id,
        snapshot: Vec::new(),
    };
    let mut g = Gen {
        // 1 ms apart: a million events span a quarter of an hour, like a busy node.
        make: Maker::new(1_000, 1_000_000),
        out: Writer::new(BufWriter::with_capacity(1 << 20, file), &header)?,
        written: 0,
    };
    let sandboxes = sandboxes.max(1);
    let live = live.clamp(1, sandboxes);
    // Each pod costs 24 events to start and stop; the rest is busy work.
    let per_pod = (events / u64::from(sandboxes))
        .saturating_sub(24)
        .div_ceil(3);
    for i in 0..sandboxes {
        start(&mut g, i)?;
        for n in 0..per_pod {
            work(&mut g, i, n as u32)?;
        }
        if i >= live {
            stop(&mut g, i - live)?;
        }
    }
    for i in sandboxes.saturating_sub(live)..sandboxes {
        stop(&mut g, i)?;
    }
    let written = g.written;
    g.out.end(&crate::stats::Stats {
        events: written,
        ..Default::default()
    })?;
    Ok(written)
}
