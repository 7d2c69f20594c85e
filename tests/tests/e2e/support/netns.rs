//! Holders of a pod's netns other than its tasks, with real tools:
//! `ip netns add / exec / del`, the private-propagation leak (a process that entered
//! a mount namespace of its own after the pin existed keeps a copy of it;
//! the runtime's host unmount does not reach that copy), and `nsenter`
//! visitors into a pod.
//!
//! What iproute2 6.1 does (strace): `ip netns add` makes /run/netns a
//! shared mount (`mount("", "/run/netns", MS_REC|MS_SHARED)`),
//! `unshare(CLONE_NEWNET)`, `mount("/proc/self/ns/net", "/run/netns/<name>",
//! MS_BIND)`, `setns` back (containerd's sequence); `ip netns exec` does
//! `setns(CLONE_NEWNET)`, `unshare(CLONE_NEWNS)`, makes / rslave,
//! `umount2("/sys", MNT_DETACH)` and mounts a fresh sysfs (an unmount that is
//! no pin removal), then execs; `ip netns del` does `umount2(MNT_DETACH)` and
//! `unlink`.
//!
//! Kernel fact this relies on (checked here, Linux 6.18): unlinking the pin
//! *file* detaches the copies in other mount namespaces too (since 3.18), so
//! `ip netns del` (umount + unlink) leaks nothing; a runtime that only
//! unmounts (or whose unlink fails) leaves the copy alive. The leak scenario
//! therefore unmounts only, and unlinks after its holder is gone.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::Duration;

use super::crio_pod::REMOVE_GAP;
use super::host::{
    Scratch, Window, boot_ns, ns_inum, nsfs_mount_in, pin_inum, pin_ns_id, umount_detach, uuid,
    wait_for,
};
use super::procfs::past_exec;
use super::runc::{CtrTruth, Runc, Running, Spec};

fn run_timed(cmd: &mut Command) -> (u32, Window) {
    let ((pid, out), w) = Window::around(|| {
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
        (child.id(), child.wait_with_output())
    });
    let out = out.unwrap_or_else(|e| panic!("wait for {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    (pid, w)
}

/// How the runtime dropped the pin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Removal {
    /// `ip netns del`: umount2(MNT_DETACH) and unlink, by an `ip` process.
    IpNetnsDel,
    /// umount2(MNT_DETACH) by us, the file left in place (a runtime whose
    /// cleanup stopped half-way): what lets a private copy leak.
    UmountOnly,
}

/// A named netns pinned at `/run/netns/<name>` by `ip netns add`.
pub struct IpNetns {
    pub name: String,
    pub path: PathBuf,
    pub inum: u64,
    pub id: Option<u64>,
    /// The `ip` process: it unshared the netns and made the pin.
    pub add_pid: u32,
    pub added: Window,
    /// Who dropped the pin (an `ip` pid, or ours) and when.
    pub removed: Option<(u32, Window)>,
    unlinked: bool,
}

impl IpNetns {
    pub fn add(prefix: &str) -> IpNetns {
        let name = format!("{prefix}-{}-{}", std::process::id(), &uuid()[..8]);
        let (add_pid, added) = run_timed(Command::new("ip").args(["netns", "add", &name]));
        let path = PathBuf::from("/run/netns").join(&name);
        let mut n = IpNetns {
            name,
            inum: 0,
            id: None,
            add_pid,
            added,
            removed: None,
            unlinked: false,
            path,
        };
        let root = nsfs_mount_in("self", &n.path)
            .unwrap_or_else(|| panic!("{} is not an nsfs mount", n.path.display()));
        n.inum = pin_inum(&n.path);
        assert_eq!(root, format!("net:[{}]", n.inum));
        assert_ne!(n.inum, ns_inum("self", "net").expect("our netns"));
        n.id = pin_ns_id(&n.path);
        n
    }

    /// `ip netns exec NAME ARGS…` in the background: a visitor (it setns
    /// into the netns, unshares a mount namespace to remount /sys, execs).
    pub fn exec(&self, args: &[&str]) -> Visitor {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).args(args);
        Visitor::spawn(cmd, args, self.inum)
    }

    /// `ip netns del NAME`.
    pub fn del(&mut self) {
        let (pid, w) = run_timed(Command::new("ip").args(["netns", "del", &self.name]));
        self.removed = Some((pid, w));
        self.unlinked = true;
        assert!(nsfs_mount_in("self", &self.path).is_none());
        assert!(
            !self.path.exists(),
            "ip netns del left {}",
            self.path.display()
        );
    }

    /// Only `umount2(MNT_DETACH)` on the host, by us; the file stays.
    pub fn umount_only(&mut self) {
        let (r, w) = Window::around(|| umount_detach(&self.path));
        r.unwrap_or_else(|e| panic!("{e}"));
        self.removed = Some((std::process::id(), w));
        assert!(nsfs_mount_in("self", &self.path).is_none());
    }

    /// Remove the (unmounted) pin file.
    pub fn unlink(&mut self) {
        fs::remove_file(&self.path)
            .unwrap_or_else(|e| panic!("remove {}: {e}", self.path.display()));
        self.unlinked = true;
    }
}

impl Drop for IpNetns {
    fn drop(&mut self) {
        if self.unlinked {
            return;
        }
        if nsfs_mount_in("self", &self.path).is_some()
            && let Err(e) = umount_detach(&self.path)
        {
            eprintln!("cleanup: {e}");
        }
        // Unlinking also detaches copies in other mount namespaces.
        let _ = fs::remove_file(&self.path);
    }
}

/// A process in a private mount namespace of its own made after the pin
/// existed: `unshare -m --propagation private sleep SECS`.
pub struct Holder {
    child: Option<Child>,
    pub pid: u32,
    pub mnt: u64,
}

impl Holder {
    pub fn private_copy(secs: u32) -> Holder {
        let host_mnt = ns_inum("self", "mnt").expect("our mnt ns");
        let child = Command::new("unshare")
            .args(["-m", "--propagation", "private", "sleep", &secs.to_string()])
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run unshare -m: {e}"));
        let pid = child.id();
        let mut h = Holder {
            child: Some(child),
            pid,
            mnt: 0,
        };
        // unshare execs sleep in place: same pid, its own mount namespace.
        h.mnt = wait_for("the holder to exec sleep", Duration::from_secs(5), || {
            let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            let mnt = ns_inum(&pid.to_string(), "mnt").ok()?;
            (comm.trim() == "sleep" && mnt != host_mnt && past_exec(pid)).then_some(mnt)
        });
        h
    }

    /// The namespace (`net:[X]`) `path` holds in the holder's mount namespace.
    pub fn holds(&self, path: &Path) -> Option<String> {
        nsfs_mount_in(&self.pid.to_string(), path)
    }

    /// Kill it; the window spans its exit.
    pub fn stop(&mut self) -> Window {
        let mut child = self.child.take().expect("a running holder");
        let (st, w) = Window::around(|| {
            let _ = child.kill();
            child.wait()
        });
        st.unwrap_or_else(|e| panic!("wait for holder: {e}"));
        w
    }
}

impl Drop for Holder {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A visitor: a task that enters a pod's namespaces without being a container.
pub struct Visitor {
    child: Option<Child>,
    pub pid: u32,
    /// What it runs after entering (its argv after exec).
    pub argv: Vec<String>,
    pub started: Window,
}

/// A visitor's ground truth once it exited.
#[derive(Clone, Debug)]
pub struct VisitTruth {
    pub pid: u32,
    pub argv: Vec<String>,
    pub started: Window,
    pub ended: Window,
    pub exit: i32,
}

impl Visitor {
    /// Spawn and wait until it is inside (its netns is `netns`) and exec'd.
    fn spawn(mut cmd: Command, argv: &[&str], netns: u64) -> Visitor {
        let ((child, pid), started) = Window::around(|| {
            let child = cmd
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
            let pid = child.id();
            let want = argv.first().copied().unwrap_or_default().to_string();
            wait_for(
                "the visitor to enter and exec",
                Duration::from_secs(5),
                || {
                    let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
                    let net = ns_inum(&pid.to_string(), "net").ok()?;
                    (comm.trim() == want && net == netns && past_exec(pid)).then_some(())
                },
            );
            (child, pid)
        });
        Visitor {
            child: Some(child),
            pid,
            argv: argv.iter().map(|a| (*a).to_string()).collect(),
            started,
        }
    }

    /// Wait for it to finish by itself.
    pub fn wait(mut self) -> VisitTruth {
        let mut child = self.child.take().expect("a running visitor");
        let from_ns = boot_ns();
        let st = child.wait().expect("wait for the visitor");
        let ended = Window {
            from_ns,
            to_ns: boot_ns(),
        };
        VisitTruth {
            pid: self.pid,
            argv: self.argv.clone(),
            started: self.started,
            ended,
            exit: st.code().unwrap_or(-1),
        }
    }
}

impl Drop for Visitor {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `nsenter -t TARGET -n -i -u -- sleep SECS`: a visitor into a pod's
/// net, ipc and uts (it stays in the host's mount namespace).
pub fn nsenter_visit(target: u32, secs: &str) -> Visitor {
    let netns = ns_inum(&target.to_string(), "net").expect("the target's netns");
    let mut cmd = Command::new("nsenter");
    cmd.args([
        "-t",
        &target.to_string(),
        "-n",
        "-i",
        "-u",
        "--",
        "sleep",
        secs,
    ]);
    Visitor::spawn(cmd, &["sleep", secs], netns)
}

// ---- the scenarios ---------------------------------------------------------------

/// How long the leak's holder outlives the host unmount: past the 5 s grace
/// issue 8 suggests for a LEAK verdict, so the verdict falls inside the trace.
pub const LEAK_HOLD: Duration = Duration::from_millis(6_500);

/// Ground truth of a pod on an `ip netns` netns.
#[derive(Debug)]
pub struct NetnsPodTruth {
    pub path: PathBuf,
    pub inum: u64,
    pub id: Option<u64>,
    pub add_pid: u32,
    pub added: Window,
    /// The pause (joins the netns by path, makes ipc/uts/mnt/pid): what
    /// makes it a pod for the tracer.
    pub pause: CtrTruth,
    /// `ip netns exec NAME sleep 0.3` while the pod ran (a CNI plugin's part).
    pub visit: VisitTruth,
    pub removal: Removal,
    /// Who dropped the host pin and when.
    pub remover_pid: u32,
    pub removed: Window,
    pub holder: Option<HolderTruth>,
    /// Our mount namespace (the host's).
    pub host_mnt: u64,
}

#[derive(Debug)]
pub struct HolderTruth {
    pub pid: u32,
    pub comm: String,
    pub mnt: u64,
    /// Its copy of the pin was there after the host unmount (checked).
    pub held_after_removal: bool,
    pub exited: Window,
}

/// `ip netns add` → a pause joining it (runc) → `ip netns exec` visitor →
/// [leak: a private-propagation holder enters] → the pause stops →
/// [`REMOVE_GAP`] later `ip netns del` (or, for the leak, at once the host
/// unmount only; the holder lives [`LEAK_HOLD`] longer, then exits, then
/// the file goes).
pub fn ip_netns_pod(leak: bool) -> NetnsPodTruth {
    let scratch = Scratch::new();
    let mut netns = IpNetns::add("tracer-netns");
    let mut runc = Runc::new(&scratch.dir);
    let spec = Spec::new("POD", "sandbox", &["/pause"]).joining("net", netns.path.clone());
    let pause: Running = runc.create_and_start(&spec);
    let visit = netns.exec(&["sleep", "0.3"]).wait();
    assert_eq!(visit.exit, 0, "ip netns exec … sleep failed");
    let mut holder = leak.then(|| Holder::private_copy(30));
    if let Some(h) = &holder {
        assert_eq!(
            h.holds(&netns.path),
            Some(format!("net:[{}]", netns.inum)),
            "the holder's mount namespace has no copy of the pin"
        );
    }
    let pause = runc.kill(pause, "TERM", 0);
    let removal = if leak {
        // At once, as a runtime that unmounts right after the pod stops:
        // whatever reads the pins late sees the host pin gone already.
        netns.umount_only();
        Removal::UmountOnly
    } else {
        thread::sleep(REMOVE_GAP);
        netns.del();
        Removal::IpNetnsDel
    };
    let (remover_pid, removed) = netns.removed.expect("the pin was removed");
    let holder = holder.as_mut().map(|h| {
        // Still alive through the copy: stat in the holder's root.
        let held_after_removal = h.holds(&netns.path) == Some(format!("net:[{}]", netns.inum))
            && pin_inum(&PathBuf::from(format!(
                "/proc/{}/root{}",
                h.pid,
                netns.path.display()
            ))) == netns.inum;
        thread::sleep(LEAK_HOLD);
        let exited = h.stop();
        HolderTruth {
            pid: h.pid,
            comm: "sleep".to_string(),
            mnt: h.mnt,
            held_after_removal,
            exited,
        }
    });
    if leak {
        netns.unlink();
    }
    NetnsPodTruth {
        path: netns.path.clone(),
        inum: netns.inum,
        id: netns.id,
        add_pid: netns.add_pid,
        added: netns.added,
        pause,
        visit,
        removal,
        remover_pid,
        removed,
        holder,
        host_mnt: ns_inum("self", "mnt").expect("our mnt ns"),
    }
}
