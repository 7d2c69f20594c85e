//! One event of every kind, with every field set: for decoder round trips
//! and renderer tests.

use tracer_common::{
    CLONE_NEWNET, ExecEvent, ExitEvent, ForkEvent, Header, Kind, MountKind, NS_COUNT, Ns,
    NsChangeEvent, NsSet, mount_flags::MS_BIND, open_tree_flags, syscall, umount_flags::MNT_DETACH,
};

use crate::decode::{Event, MountEvent, MountPath};

fn header(kind: Kind, pid: u32) -> Header {
    header_of(kind as u32, pid)
}

fn header_of(kind: u32, pid: u32) -> Header {
    let mut comm = [0u8; 16];
    comm[..4].copy_from_slice(b"runc");
    Header {
        kind,
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

fn path(p: &str) -> Option<MountPath> {
    Some(MountPath {
        path: p.to_string(),
        truncated: false,
        unread: false,
    })
}

/// One mount record of each [`MountKind`]: `ip netns add`'s bind mount, its
/// unmount, and an `open_tree` clone moved into place.
pub fn mount_samples() -> Vec<Event> {
    let m = |kind: MountKind, pid: u32| MountEvent {
        kind,
        hdr: header_of(kind as u32, pid),
        ns: numbered(4_026_531_000),
        flags: 0,
        ret: Some(0),
        from_fd: None,
        to_fd: None,
        source: None,
        target: None,
    };
    let mount = MountEvent {
        flags: MS_BIND,
        source: path("/proc/self/ns/net"),
        target: path("/run/netns/x"),
        ..m(MountKind::Mount, 50)
    };
    let umount = MountEvent {
        flags: MNT_DETACH,
        ret: Some(-16),
        target: path("/run/netns/x"),
        ..m(MountKind::Umount, 51)
    };
    let open_tree = MountEvent {
        flags: open_tree_flags::OPEN_TREE_CLONE,
        ret: Some(7),
        from_fd: Some(-100),
        source: path("/proc/52/task/53/ns/uts"),
        ..m(MountKind::OpenTree, 52)
    };
    let move_mount = MountEvent {
        flags: open_tree_flags::MOVE_MOUNT_F_EMPTY_PATH,
        from_fd: Some(7),
        to_fd: Some(-100),
        source: path(""),
        target: Some(MountPath {
            path: "/var/run/utsns/\u{1b}[2J".to_string(),
            truncated: true,
            unread: false,
        }),
        ..m(MountKind::MoveMount, 52)
    };
    [mount, umount, open_tree, move_mount]
        .into_iter()
        .map(|e| Event::Mount(Box::new(e)))
        .collect()
}

/// One event of every kind, in the order of [`tracer_common::Kind`] and
/// [`MountKind`]: fork, exec (`/pause -P`), exit, unshare (net), setns
/// (failed), clone_failed, then [`mount_samples`].
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
        super::Maker::new(1_000, 1).visitor(
            (48, 47),
            "bridge",
            &["/opt/cni/bin/bridge"],
            Some(Some("ADD")),
            &numbered(4_026_532_000),
        ),
    ]
    .into_iter()
    .chain(mount_samples())
    .collect()
}
