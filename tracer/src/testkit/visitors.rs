//! Visitors of a pod as the kernel shows them: CNI plugins (a Go plugin
//! enters the netns on a locked thread and goes back), `nsenter`, `ip
//! netns exec`, dockerd's thread and its `exe set-ipv6` re-exec.

use tracer_common::{CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWUTS};

use super::runtime::{Feed, SIGCHLD};
use super::spaces::{HOST, Spaces};
use crate::decode::Event;

/// The host's namespaces with `pod`'s netns: what a plugin's thread is in.
pub fn in_netns(pod: Spaces) -> Spaces {
    Spaces {
        net: pod.net,
        ..HOST
    }
}

/// A CNI plugin `comm` (pid `pid`): its thread `tid` enters `pod`'s netns,
/// works there and goes back; then the process exits on the host (an exit
/// the in-kernel filter keeps back).
pub fn cni_plugin(w: &mut impl Feed, (tid, pid): (u32, u32), comm: &str, pod: Spaces) {
    let inside = in_netns(pod);
    w.ns_change(true, (tid, pid), comm, CLONE_NEWNET, HOST, inside);
    w.ns_change(true, (tid, pid), comm, CLONE_NEWNET, inside, HOST);
    w.exit(pid, comm, 0, HOST);
}

/// A thread `tid` of process `pid` exits in `ns` (not the last of its process).
pub fn thread_exit(w: &mut impl Feed, (tid, pid): (u32, u32), comm: &str, ns: Spaces) {
    let Event::Exit(mut e) = w.maker().exit(tid, comm, 0, &ns.set()) else {
        return;
    };
    e.hdr.tgid = pid;
    e.group_dead = 0;
    w.feed(Event::Exit(e));
}

/// `nsenter -t <pause> -n -i -u -- ARGV` as pid `pid`: setns ipc, uts,
/// net (util-linux's order), then exec in place — still in the host's
/// mount namespace. Returns the namespaces it runs in.
pub fn nsenter(w: &mut impl Feed, pid: u32, pod: Spaces, argv: &[&str]) -> Spaces {
    let j1 = Spaces {
        ipc: pod.ipc,
        ..HOST
    };
    let j2 = Spaces { uts: pod.uts, ..j1 };
    let j3 = Spaces { net: pod.net, ..j2 };
    w.fork(1, pid, "bash", SIGCHLD, HOST, HOST);
    w.setns(pid, "nsenter", CLONE_NEWIPC, HOST, j1);
    w.setns(pid, "nsenter", CLONE_NEWUTS, j1, j2);
    w.setns(pid, "nsenter", CLONE_NEWNET, j2, j3);
    w.exec(pid, argv[0], argv[0], argv, j3);
    j3
}

/// `nsenter -t <pause> -n -p -- ARGV`: with `-p`, nsenter forks what it
/// runs (`child`) into the pid namespace it entered, and waits for it.
/// Returns the child's namespaces.
pub fn nsenter_pid(w: &mut impl Feed, pid: u32, child: u32, pod: Spaces, argv: &[&str]) -> Spaces {
    let j1 = Spaces {
        net: pod.net,
        ..HOST
    };
    let j2 = Spaces { pfc: pod.pfc, ..j1 };
    w.setns(pid, "nsenter", CLONE_NEWNET, HOST, j1);
    w.setns(pid, "nsenter", CLONE_NEWPID, j1, j2);
    let inside = Spaces { pid: pod.pfc, ..j2 };
    w.fork(pid, child, "nsenter", SIGCHLD, j2, inside);
    w.exec(child, argv[0], argv[0], argv, inside);
    inside
}

/// `ip netns exec NAME ARGV` as pid `pid`: setns into the named netns,
/// unshare a mount namespace of its own (`mnt`) to remount /sys, exec in
/// place. Returns the namespaces it runs in.
pub fn ip_netns_exec(w: &mut impl Feed, pid: u32, netns: u32, mnt: u32, argv: &[&str]) -> Spaces {
    let j = Spaces { net: netns, ..HOST };
    let own = Spaces { mnt, ..j };
    w.fork(1, pid, "bash", SIGCHLD, HOST, HOST);
    w.setns(pid, "ip", CLONE_NEWNET, HOST, j);
    w.unshare(pid, "ip", CLONE_NEWNS, j, own);
    w.exec(pid, argv[0], argv[0], argv, own);
    own
}

/// dockerd's thread `tid` enters the sandbox's netns and goes back (a
/// netlink handle), then its re-exec `exe set-ipv6` (pid `exe`) does the same.
pub fn dockerd_visits(w: &mut impl Feed, (tid, pid): (u32, u32), exe: u32, pod: Spaces) {
    let inside = in_netns(pod);
    w.ns_change(true, (tid, pid), "dockerd", CLONE_NEWNET, HOST, inside);
    w.ns_change(true, (tid, pid), "dockerd", CLONE_NEWNET, inside, HOST);
    w.setns(exe, "exe", CLONE_NEWNET, HOST, inside);
    w.exit(exe, "exe", 0, inside);
}
