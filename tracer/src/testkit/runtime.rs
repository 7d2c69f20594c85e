//! How runtimes make pods, as the kernel shows it (runc's nsexec,
//! containerd's CRI netns, podman, CRI-O's pinns): event sequences fed to
//! anything that takes events — the model in tests, a recording, a bench.

use tracer_common::{CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS};

use super::make::Maker;
use super::spaces::{HOST, Spaces};
use crate::decode::Event;
pub use crate::decode::flags::CLONE_PARENT;

/// clone()'s exit signal in its flags' low byte (as `fork()` passes it).
pub const SIGCHLD: u64 = libc::SIGCHLD as u64;

/// The pod of the fixtures: its net, ipc, uts; the pause's mnt and pid
/// namespace for its children. `pid` is the host's: stage 1 unshares pid
/// for its children only.
pub const POD: Spaces = Spaces {
    net: 200,
    ipc: 202,
    uts: 201,
    mnt: 300,
    pid: 104,
    pfc: 303,
};
/// The pause's own namespaces (pid 1 of the pod's pid namespace).
pub const PAUSE_NS: Spaces = Spaces { pid: 303, ..POD };
/// An app container of [`POD`] with a mount and pid namespace of its own.
pub const APP: Spaces = Spaces {
    mnt: 4810,
    pid: 5810,
    pfc: 5810,
    ..POD
};

/// Something that takes events, with a [`Maker`] for their times.
pub trait Feed {
    fn maker(&mut self) -> &mut Maker;
    fn feed(&mut self, ev: Event);

    /// `caller` (tid = pid) clones `child` with `flags`; the child starts in `ns`.
    fn fork(&mut self, caller: u32, child: u32, name: &str, flags: u64, from: Spaces, ns: Spaces) {
        let ev = self
            .maker()
            .fork(caller, child, name, flags, &from.set(), &ns.set());
        self.feed(ev);
    }

    /// A successful `unshare` or `setns` by thread `tid` of process `pid`.
    fn ns_change(
        &mut self,
        setns: bool,
        (tid, pid): (u32, u32),
        name: &str,
        flags: u64,
        before: Spaces,
        after: Spaces,
    ) {
        let ev = self
            .maker()
            .ns_change(setns, tid, pid, name, flags, &before.set(), &after.set());
        self.feed(ev);
    }

    fn unshare(&mut self, pid: u32, name: &str, flags: u64, before: Spaces, after: Spaces) {
        self.ns_change(false, (pid, pid), name, flags, before, after);
    }

    fn setns(&mut self, pid: u32, name: &str, nstype: u64, before: Spaces, after: Spaces) {
        self.ns_change(true, (pid, pid), name, nstype, before, after);
    }

    fn exec(&mut self, pid: u32, name: &str, file: &str, args: &[&str], ns: Spaces) {
        let ev = self.maker().exec(pid, name, file, args, &ns.set());
        self.feed(ev);
    }

    fn exit(&mut self, pid: u32, name: &str, status: u32, ns: Spaces) {
        let ev = self.maker().exit(pid, name, status, &ns.set());
        self.feed(ev);
    }

    /// Thread `tid` of `pid` bind-mounts `source` on `target` (a pin when
    /// the source is an nsfs path).
    fn bind_mount(
        &mut self,
        (tid, pid): (u32, u32),
        name: &str,
        source: &str,
        target: &str,
        ns: Spaces,
    ) {
        let ev = self
            .maker()
            .bind_mount((tid, pid), name, source, target, &ns.set());
        self.feed(ev);
    }

    /// `pid` unmounts `target` (MNT_DETACH).
    fn umount(&mut self, pid: u32, name: &str, target: &str, ns: Spaces) {
        let ev = self.maker().umount((pid, pid), name, target, &ns.set());
        self.feed(ev);
    }
}

/// runc creates a container: stage 1 (`runc:[1:CHILD]`, pid `s1`) setns'es
/// into `joins` (pairs of nstype and the namespaces after), unshares
/// `unshare` into `after`, clones stage 2 (`s1 + 1`, CLONE_PARENT) which
/// execs `argv`. Returns the stage-2 pid.
pub fn runc(
    w: &mut impl Feed,
    s1: u32,
    joins: &[(u64, Spaces)],
    unshare: Option<(u64, Spaces)>,
    argv: &[&str],
    comm: &str,
) -> u32 {
    let mut cur = HOST;
    let stage1 = "runc:[1:CHILD]";
    w.fork(s1 - 1, s1, stage1, CLONE_PARENT | SIGCHLD, HOST, HOST);
    for &(nstype, after) in joins {
        w.setns(s1, stage1, nstype, cur, after);
        cur = after;
    }
    if let Some((flags, after)) = unshare {
        w.unshare(s1, stage1, flags, cur, after);
        cur = after;
    }
    // Stage 2 lives in stage 1's pid_for_children.
    let s2_ns = Spaces {
        pid: cur.pfc,
        ..cur
    };
    w.fork(s1, s1 + 1, stage1, CLONE_PARENT | SIGCHLD, cur, s2_ns);
    w.exit(s1, stage1, 0, cur);
    w.exec(s1 + 1, comm, argv[0], argv, s2_ns);
    s1 + 1
}

/// runc alone makes the whole pod [`POD`] (dockershim's way): stage 1
/// (710) unshares net, mnt, uts, ipc and pid; stage 2 execs /pause.
/// Returns its pid.
pub fn runc_pause(w: &mut impl Feed) -> u32 {
    runc(
        w,
        710,
        &[],
        Some((
            CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID,
            POD,
        )),
        &["/pause"],
        "pause",
    )
}

/// A runtime's thread `tid` of `pid` makes `pod`'s netns and goes back to
/// the host's (containerd's CRI, podman; [`runtime_pins_netns`] with its
/// bind mount). Returns the host namespaces with that netns.
pub fn runtime_makes_netns(
    w: &mut impl Feed,
    (tid, pid): (u32, u32),
    comm: &str,
    pod: Spaces,
) -> Spaces {
    let t = Spaces {
        net: pod.net,
        ..HOST
    };
    w.ns_change(false, (tid, pid), comm, CLONE_NEWNET, HOST, t);
    w.ns_change(true, (tid, pid), comm, CLONE_NEWNET, t, HOST);
    t
}

/// The namespaces of an app container of `pod` whose stage 1 is `s1`:
/// the pod's net, ipc, uts and a mount and pid namespace of its own.
pub fn app_ns(pod: Spaces, s1: u32) -> Spaces {
    Spaces {
        mnt: 4000 + s1,
        pid: 5000 + s1,
        pfc: 5000 + s1,
        ..pod
    }
}

/// An app container's stage 1: join `pod`'s net, ipc, uts; unshare mnt
/// and pid. Returns its pid.
pub fn app_container(w: &mut impl Feed, s1: u32, pod: Spaces, argv: &[&str]) -> u32 {
    let own = app_ns(pod, s1);
    let j1 = Spaces {
        net: pod.net,
        ..HOST
    };
    let j2 = Spaces { ipc: pod.ipc, ..j1 };
    let j3 = Spaces { uts: pod.uts, ..j2 };
    let unshared = Spaces {
        mnt: own.mnt,
        pfc: own.pfc,
        ..j3
    };
    runc(
        w,
        s1,
        &[(CLONE_NEWNET, j1), (CLONE_NEWIPC, j2), (CLONE_NEWUTS, j3)],
        Some((CLONE_NEWNS | CLONE_NEWPID, unshared)),
        argv,
        "app",
    )
}

/// A Docker container's stage 1, as cri-dockerd asks for it
/// (`--net=container:<pause> --ipc=container:<pause>`; Docker has no
/// `--uts=container:`): join `pod`'s ipc and net, unshare mnt, uts and
/// pid. Returns its pid.
pub fn docker_container(w: &mut impl Feed, s1: u32, pod: Spaces, argv: &[&str]) -> u32 {
    let own = app_ns(pod, s1);
    let j1 = Spaces {
        ipc: pod.ipc,
        ..HOST
    };
    let j2 = Spaces { net: pod.net, ..j1 };
    let unshared = Spaces {
        mnt: own.mnt,
        pfc: own.pfc,
        uts: 6000 + s1,
        ..j2
    };
    runc(
        w,
        s1,
        &[(CLONE_NEWIPC, j1), (CLONE_NEWNET, j2)],
        Some((CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWPID, unshared)),
        argv,
        "app",
    )
}

/// A podman pod: `podman` = (tid, pid) of podman's thread that makes the
/// netns; runc's stage 1 `s1` joins it and makes the rest, its stage 2
/// execs `catatonit -P`. Returns the pause's pid.
pub fn podman_pause(w: &mut impl Feed, podman: (u32, u32), s1: u32, pod: Spaces) -> u32 {
    let t = runtime_makes_netns(w, podman, "podman", pod);
    runc(
        w,
        s1,
        &[(CLONE_NEWNET, t)],
        Some((
            CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWPID,
            pod,
        )),
        &["/catatonit", "-P"],
        "catatonit",
    )
}

/// [`runtime_makes_netns`] with the pin: between its unshare and its setns
/// back, the thread bind-mounts `/proc/<pid>/task/<tid>/ns/net` on `path`
/// (containerd's `/var/run/netns/cni-…`, podman's `/run/netns/netns-…`).
pub fn runtime_pins_netns(
    w: &mut impl Feed,
    (tid, pid): (u32, u32),
    comm: &str,
    pod: Spaces,
    path: &str,
) -> Spaces {
    let t = Spaces {
        net: pod.net,
        ..HOST
    };
    w.ns_change(false, (tid, pid), comm, CLONE_NEWNET, HOST, t);
    let source = format!("/proc/{pid}/task/{tid}/ns/net");
    w.bind_mount((tid, pid), comm, &source, path, t);
    w.ns_change(true, (tid, pid), comm, CLONE_NEWNET, t, HOST);
    t
}
