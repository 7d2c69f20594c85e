//! One event of every kind, with every field set: for decoder round trips
//! and renderer tests.

use tracer_common::{
    CLONE_NEWNET, ExecEvent, ExitEvent, ForkEvent, Header, Kind, NS_COUNT, Ns, NsChangeEvent,
    NsSet, syscall,
};

use crate::decode::Event;

fn header(kind: Kind, pid: u32) -> Header {
    let mut comm = [0u8; 16];
    comm[..4].copy_from_slice(b"runc");
    Header {
        kind: kind as u32,
        _reserved: 0,
        ts_ns: 1_000_000 + u64::from(pid),
        cgroup_id: 7,
        pid,
        tgid: pid,
        ppid: 1,
        _pad: 0,
        comm,
    }
}

/// Every slot set: inodes `base`, `base + 1`, … and ids `base * 100 + slot`.
pub fn numbered(base: u32) -> NsSet {
    let mut ns = NsSet::default();
    for i in 0..NS_COUNT {
        ns.inum[i] = base + i as u32;
        ns.id[i] = u64::from(base) * 100 + i as u64;
    }
    ns
}

/// One event of every kind, in the order of [`tracer_common::Kind`]:
/// fork, exec (`/pause -P`), exit, unshare (net), setns (failed), clone_failed.
pub fn samples() -> Vec<Event> {
    let mut exec = ExecEvent {
        hdr: header(Kind::Exec, 42),
        old_pid: 42,
        args_len: 0,
        ns: numbered(4_026_531_000),
        filename: [0; 256],
        args: [0; 256],
    };
    exec.filename[..6].copy_from_slice(b"/pause");
    exec.args[..10].copy_from_slice(b"/pause\0-P\0");
    exec.args_len = 10;
    let change = NsChangeEvent {
        hdr: header(Kind::Unshare, 43),
        flags: CLONE_NEWNET,
        fd: -1,
        syscall: syscall::UNSHARE,
        ret: 0,
        ns_before: numbered(4_026_531_000),
        ns: numbered(4_026_532_000),
    };
    vec![
        Event::Fork(ForkEvent {
            hdr: header(Kind::Fork, 44),
            caller_pid: 40,
            caller_tgid: 40,
            flags: CLONE_NEWNET | 17,
            syscall: syscall::CLONE,
            changed: Ns::Net.bit(),
            ns: numbered(4_026_533_000),
        }),
        Event::Exec(Box::new(exec)),
        Event::Exit(ExitEvent {
            hdr: header(Kind::Exit, 45),
            exit_code: 256,
            group_dead: 1,
            ns: numbered(4_026_531_000),
        }),
        Event::Unshare(change),
        Event::Setns(NsChangeEvent {
            hdr: header(Kind::Setns, 46),
            fd: 5,
            syscall: syscall::SETNS,
            ret: -22,
            ..change
        }),
        Event::CloneFailed(NsChangeEvent {
            hdr: header(Kind::CloneFailed, 47),
            ret: -1,
            syscall: syscall::CLONE3,
            ..change
        }),
    ]
}
