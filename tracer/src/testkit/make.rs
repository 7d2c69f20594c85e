//! Kernel event records made by hand, with rising timestamps: for the model's
//! runtime fixtures and for synthetic recordings.

use tracer_common::{
    ExecEvent, ExitEvent, ForkEvent, Header, Kind, MountKind, NsChangeEvent, NsSet,
    mount_flags::MS_BIND, open_tree_flags, syscall, umount_flags::MNT_DETACH,
};

use crate::decode::{Event, MountEvent, MountPath};

pub struct Maker {
    /// Timestamp of the last event made (CLOCK_BOOTTIME ns).
    pub ts_ns: u64,
    /// Time between two events.
    pub step_ns: u64,
}

fn comm(s: &str) -> [u8; 16] {
    let mut c = [0u8; 16];
    let n = s.len().min(15);
    c[..n].copy_from_slice(&s.as_bytes()[..n]);
    c
}

impl Maker {
    pub fn new(ts_ns: u64, step_ns: u64) -> Self {
        Self { ts_ns, step_ns }
    }

    fn hdr(&mut self, kind: Kind, tid: u32, tgid: u32, name: &str) -> Header {
        self.hdr_of(kind as u32, tid, tgid, name)
    }

    fn hdr_of(&mut self, kind: u32, tid: u32, tgid: u32, name: &str) -> Header {
        self.ts_ns += self.step_ns;
        Header {
            kind,
            _reserved: 0,
            ts_ns: self.ts_ns,
            cgroup_id: 0,
            pid: tid,
            tgid,
            ppid: 1,
            _pad: 0,
            comm: comm(name),
        }
    }

    /// `caller` (tid = pid) clones `child` with `flags`; the child starts in `ns`.
    pub fn fork(
        &mut self,
        caller: u32,
        child: u32,
        name: &str,
        flags: u64,
        caller_ns: &NsSet,
        ns: &NsSet,
    ) -> Event {
        Event::Fork(ForkEvent {
            hdr: self.hdr(Kind::Fork, child, child, name),
            caller_pid: caller,
            caller_tgid: caller,
            flags,
            syscall: syscall::CLONE,
            changed: ns.diff(caller_ns),
            ns: *ns,
        })
    }

    /// A successful `unshare(flags)` or `setns(5, flags)` by thread `tid` of `tgid`.
    #[allow(clippy::too_many_arguments)]
    pub fn ns_change(
        &mut self,
        setns: bool,
        tid: u32,
        tgid: u32,
        name: &str,
        flags: u64,
        before: &NsSet,
        after: &NsSet,
    ) -> Event {
        let kind = if setns { Kind::Setns } else { Kind::Unshare };
        let ev = NsChangeEvent {
            hdr: self.hdr(kind, tid, tgid, name),
            flags,
            fd: if setns { 5 } else { -1 },
            syscall: if setns {
                syscall::SETNS
            } else {
                syscall::UNSHARE
            },
            ret: 0,
            ns_before: *before,
            ns: *after,
        };
        if setns {
            Event::Setns(ev)
        } else {
            Event::Unshare(ev)
        }
    }

    pub fn exec(&mut self, pid: u32, name: &str, file: &str, argv: &[&str], ns: &NsSet) -> Event {
        let mut e = ExecEvent {
            hdr: self.hdr(Kind::Exec, pid, pid, name),
            old_pid: pid,
            args_len: 0,
            ns: *ns,
            filename: [0; 256],
            args: [0; 256],
        };
        let file = &file.as_bytes()[..file.len().min(255)];
        e.filename[..file.len()].copy_from_slice(file);
        let joined = argv.join("\0") + "\0";
        let n = joined.len().min(256);
        e.args[..n].copy_from_slice(&joined.as_bytes()[..n]);
        e.args_len = n as u32;
        Event::Exec(Box::new(e))
    }

    /// The kernel's visitor record of thread `tid` of `tgid` in `ns` (just
    /// after its setns): its argv, and its CNI command when `cni` is
    /// `Some` (`Some(None)`: an environment without one); `None`: the
    /// environment was not read whole.
    pub fn visitor(
        &mut self,
        (tid, tgid): (u32, u32),
        name: &str,
        argv: &[&str],
        cni: Option<Option<&str>>,
        ns: &NsSet,
    ) -> Event {
        let mut args = [0; tracer_common::ARGS_LEN];
        let joined = argv.join("\0") + "\0";
        let n = joined.len().min(args.len());
        args[..n].copy_from_slice(&joined.as_bytes()[..n]);
        Event::Visitor(Box::new(crate::decode::Visitor {
            hdr: self.hdr(Kind::Visitor, tid, tgid, name),
            ns: *ns,
            args_len: n as u32,
            args,
            env_whole: cni.is_some(),
            cni_command: cni.flatten().map(str::to_string),
        }))
    }

    /// The whole process exits with wait status `status`.
    pub fn exit(&mut self, pid: u32, name: &str, status: u32, ns: &NsSet) -> Event {
        Event::Exit(ExitEvent {
            hdr: self.hdr(Kind::Exit, pid, pid, name),
            exit_code: status,
            group_dead: 1,
            ns: *ns,
        })
    }
}

fn path(p: &str) -> Option<MountPath> {
    Some(MountPath {
        path: p.to_string(),
        truncated: false,
        unread: false,
    })
}

impl Maker {
    fn mount_event(
        &mut self,
        kind: MountKind,
        (tid, tgid): (u32, u32),
        name: &str,
        ns: &NsSet,
    ) -> MountEvent {
        MountEvent {
            kind,
            hdr: self.hdr_of(kind as u32, tid, tgid, name),
            ns: *ns,
            flags: 0,
            ret: Some(0),
            from_fd: None,
            to_fd: None,
            source: None,
            target: None,
        }
    }

    /// A successful `mount(source, target, MS_BIND)` by thread `tid` of `tgid`.
    pub fn bind_mount(
        &mut self,
        who: (u32, u32),
        name: &str,
        source: &str,
        target: &str,
        ns: &NsSet,
    ) -> Event {
        let e = MountEvent {
            flags: MS_BIND,
            source: path(source),
            target: path(target),
            ..self.mount_event(MountKind::Mount, who, name, ns)
        };
        Event::Mount(Box::new(e))
    }

    /// A successful `umount2(target, MNT_DETACH)`.
    pub fn umount(&mut self, who: (u32, u32), name: &str, target: &str, ns: &NsSet) -> Event {
        let e = MountEvent {
            flags: MNT_DETACH,
            target: path(target),
            ..self.mount_event(MountKind::Umount, who, name, ns)
        };
        Event::Mount(Box::new(e))
    }

    /// `open_tree(AT_FDCWD, source, OPEN_TREE_CLONE)` returning `fd`.
    pub fn open_tree(
        &mut self,
        who: (u32, u32),
        name: &str,
        source: &str,
        fd: i32,
        ns: &NsSet,
    ) -> Event {
        let e = MountEvent {
            flags: open_tree_flags::OPEN_TREE_CLONE,
            ret: Some(i64::from(fd)),
            from_fd: Some(-100),
            source: path(source),
            ..self.mount_event(MountKind::OpenTree, who, name, ns)
        };
        Event::Mount(Box::new(e))
    }

    /// `move_mount(fd, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH)`.
    pub fn move_mount(
        &mut self,
        who: (u32, u32),
        name: &str,
        fd: i32,
        target: &str,
        ns: &NsSet,
    ) -> Event {
        let e = MountEvent {
            flags: open_tree_flags::MOVE_MOUNT_F_EMPTY_PATH,
            from_fd: Some(fd),
            to_fd: Some(-100),
            source: path(""),
            target: path(target),
            ..self.mount_event(MountKind::MoveMount, who, name, ns)
        };
        Event::Mount(Box::new(e))
    }
}
