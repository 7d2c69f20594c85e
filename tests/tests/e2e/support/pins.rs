//! CRI-O's `pinns` step, reproduced with util-linux 2.38 `unshare
//! --net=FILE --ipc=FILE --uts=FILE true` (traced with strace: one process
//! does `unshare(CLONE_NEWIPC|CLONE_NEWNET|CLONE_NEWUTS)`, then
//! `mount("/proc/<its pid>/ns/<type>", FILE, NULL, MS_BIND)` per kind, and
//! exits), and the pins' removal at pod removal (`umount2(MNT_DETACH)`,
//! unlink), as CRI-O does.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use super::host::{Window, ns_inum, nsfs_mount_in, pin_inum, pin_ns_id, umount_detach, uuid};

/// The pod kinds CRI-O's pinns makes, by `/proc/<pid>/ns` name.
pub const PIN_KINDS: [&str; 3] = ["net", "ipc", "uts"];

/// One pinned namespace, as ground truth.
#[derive(Clone, Debug)]
pub struct PinTruth {
    /// `net`, `ipc` or `uts`.
    pub kind: &'static str,
    pub path: PathBuf,
    pub inum: u64,
    /// `NS_GET_ID` of the pin; `None` on kernels without it.
    pub id: Option<u64>,
    /// Around its `umount2` (MNT_DETACH); `None` while mounted.
    pub removed: Option<Window>,
}

/// The pod's pins, made like CRI-O's `pinns`, unmounted as at pod removal.
pub struct Pins {
    /// The `unshare` process: it made the namespaces and mounted them.
    pub creator_pid: u32,
    /// Around the whole `unshare --net=… --ipc=… --uts=… true` run.
    pub created: Window,
    pub pins: Vec<PinTruth>,
}

impl Pins {
    /// `<dir>/{net,ipc,uts}ns/<uuid>`, as CRI-O's `/var/run/{net,ipc,uts}ns/<uuid>`.
    pub fn create(dir: &Path) -> Pins {
        let id = uuid();
        let mut cmd = Command::new("unshare");
        let mut paths = Vec::new();
        for kind in PIN_KINDS {
            let d = dir.join(format!("{kind}ns"));
            fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
            let p = d.join(&id);
            // pinns creates the file, then mounts onto it.
            fs::File::create(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
            let mut arg = std::ffi::OsString::from(format!("--{kind}="));
            arg.push(&p);
            cmd.arg(arg);
            paths.push((kind, p));
        }
        cmd.arg("true").stdin(Stdio::null());
        let (out, created) = Window::around(|| {
            let child = cmd
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run unshare (util-linux): {e}"));
            let pid = child.id();
            (pid, child.wait_with_output())
        });
        let (creator_pid, out) = out;
        let out = out.unwrap_or_else(|e| panic!("wait for unshare: {e}"));
        // A guard before the check: a half-made set is unmounted too.
        let mut pins = Pins {
            creator_pid,
            created,
            pins: paths
                .iter()
                .map(|(kind, p)| PinTruth {
                    kind,
                    path: p.clone(),
                    inum: 0,
                    id: None,
                    removed: None,
                })
                .collect(),
        };
        assert!(
            out.status.success(),
            "unshare --net/--ipc/--uts=FILE failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let host_net = ns_inum("self", "net").expect("our netns");
        for pin in &mut pins.pins {
            let root = nsfs_mount_in("self", &pin.path)
                .unwrap_or_else(|| panic!("{} is not an nsfs mount", pin.path.display()));
            pin.inum = pin_inum(&pin.path);
            assert_eq!(
                root,
                format!("{}:[{}]", pin.kind, pin.inum),
                "mountinfo and stat disagree on {}",
                pin.path.display()
            );
            pin.id = pin_ns_id(&pin.path);
        }
        assert_ne!(pins.inum("net"), host_net, "the pinned netns is the host's");
        pins
    }

    pub fn get(&self, kind: &str) -> &PinTruth {
        self.pins
            .iter()
            .find(|p| p.kind == kind)
            .unwrap_or_else(|| panic!("no {kind} pin"))
    }

    pub fn inum(&self, kind: &str) -> u64 {
        self.get(kind).inum
    }

    pub fn path(&self, kind: &str) -> PathBuf {
        self.get(kind).path.clone()
    }

    /// CRI-O at pod removal: unmount each pin (MNT_DETACH) and remove its
    /// file, in pinns' order; checks our mountinfo no longer has them.
    pub fn remove(&mut self) {
        for pin in &mut self.pins {
            if pin.removed.is_some() {
                continue;
            }
            let (r, w) = Window::around(|| umount_detach(&pin.path));
            r.unwrap_or_else(|e| panic!("{e}"));
            pin.removed = Some(w);
            fs::remove_file(&pin.path)
                .unwrap_or_else(|e| panic!("remove {}: {e}", pin.path.display()));
            assert!(
                nsfs_mount_in("self", &pin.path).is_none(),
                "{} still mounted after umount",
                pin.path.display()
            );
        }
    }
}

impl Drop for Pins {
    fn drop(&mut self) {
        for pin in &self.pins {
            if pin.removed.is_none() {
                if nsfs_mount_in("self", &pin.path).is_some()
                    && let Err(e) = umount_detach(&pin.path)
                {
                    eprintln!("cleanup: {e}");
                }
                let _ = fs::remove_file(&pin.path);
            }
        }
    }
}
