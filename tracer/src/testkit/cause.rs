//! Cause records made by hand: a fatal signal, an OOM victim, a new cgroup.

use tracer_common::{
    CGROUP_PATH_LEN, CauseKind, CgroupEvent, Header, NsSet, OomEvent, SignalEvent, Zeroable,
};

use super::make::Maker;
use super::samples::numbered;
use crate::decode::{Cause, Event};

fn comm(s: &str) -> [u8; 16] {
    let mut c = [0u8; 16];
    let n = s.len().min(15);
    c[..n].copy_from_slice(&s.as_bytes()[..n]);
    c
}

fn header(m: &mut Maker, kind: CauseKind, (pid, name): (u32, &str)) -> Header {
    m.ts_ns += m.step_ns;
    Header {
        kind: kind as u32,
        _reserved: 0,
        ts_ns: m.ts_ns,
        cgroup_id: 0,
        pid,
        tgid: pid,
        ppid: 1,
        _pad: 0,
        comm: comm(name),
    }
}

impl Maker {
    /// `by` sends fatal signal `sig` to process `target` (in `ns`).
    pub fn signal(&mut self, by: (u32, &str), target: (u32, &str), sig: u32, ns: &NsSet) -> Event {
        Event::Cause(Cause::Signal(SignalEvent {
            hdr: header(self, CauseKind::Signal, by),
            target_pid: target.0,
            target_tgid: target.0,
            sig,
            code: 0,
            group: 1,
            result: 0,
            target_comm: comm(target.1),
            ns: *ns,
        }))
    }

    /// `by`'s allocation made the OOM killer choose `victim` (in `ns`).
    pub fn oom(&mut self, by: (u32, &str), victim: (u32, &str), ns: &NsSet) -> Event {
        Event::Cause(Cause::Oom(OomEvent {
            hdr: header(self, CauseKind::OomVictim, by),
            victim_pid: victim.0,
            victim_tgid: victim.0,
            victim_comm: comm(victim.1),
            ns: *ns,
        }))
    }

    /// `by` (in `ns`) made the cgroup v2 directory `path` with id `id`.
    pub fn cgroup_mkdir(&mut self, by: (u32, &str), id: u64, path: &str, ns: &NsSet) -> Event {
        let mut e = CgroupEvent::zeroed();
        e.hdr = header(self, CauseKind::CgroupMkdir, by);
        e.ns = *ns;
        e.id = id;
        e.level = path.matches('/').count() as u32;
        let n = path.len().min(CGROUP_PATH_LEN - 1);
        e.path[..n].copy_from_slice(&path.as_bytes()[..n]);
        Event::Cause(Cause::CgroupMkdir(Box::new(e)))
    }
}

/// One cause record of every kind, every field set.
pub fn cause_samples() -> Vec<Event> {
    let mut m = Maker::new(2_000_000, 1_000);
    vec![
        m.signal((900, "runc"), (4242, "pause"), 9, &numbered(300)),
        m.oom((4243, "stress"), (4243, "stress"), &numbered(310)),
        m.cgroup_mkdir(
            (901, "runc:[2:INIT]"),
            13648,
            "/kubepods/besteffort/podu/c0ffee",
            &numbered(320),
        ),
    ]
}
