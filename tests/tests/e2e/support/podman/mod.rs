//! Drive real podman pods for end-to-end tests; read podman's own view of
//! them ([`inspect`]) as ground truth.
//!
//! Every podman call goes through [`Podman::cmd`], which points podman at a
//! containers.conf carrying this machine's quirks (see DESIGN.md, "Facts of
//! these machines"): without them runc fails to set rlimits.
//!
//! Names are shared with every other podman user of the machine (other
//! tests, other people): make them unique with [`super::unique_name`], and
//! own a pod through [`PodGuard`] so that it is removed even when a test panics.

mod inspect;

pub use inspect::{ContainerTruth, PodTruth};

use std::ffi::OsStr;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

use super::lock::FileLock;
use super::{procfs, rootfs, shared_dir, tracer::require_root};

/// The test image: Debian's busybox-static, imported by [`Podman::setup`].
pub const IMAGE: &str = "localhost/tracer-tests-busybox";

/// The containers.conf this machine needs.
const CONTAINERS_CONF: &str = r#"# Written by the tracer-tests podman harness.
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"#;

/// A handle on podman as configured for these tests. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Podman {
    /// The containers.conf given to every podman call.
    pub conf: PathBuf,
    /// The harness's directory (under cargo's target/tmp), shared by the
    /// processes of this checkout: the conf, the lock, import scratch.
    dir: PathBuf,
    /// The image containers run by default.
    pub image: String,
}

static SETUP: OnceLock<Podman> = OnceLock::new();

impl Podman {
    /// Write the containers.conf and make sure the busybox image exists.
    ///
    /// Safe to call from every test: once per process (a `OnceLock`), and
    /// the image import is serialised across processes with a file lock,
    /// so parallel tests and checkouts never import twice or see a
    /// half-made image. Fast once the image exists.
    pub fn setup() -> Podman {
        SETUP.get_or_init(Self::setup_once).clone()
    }

    fn setup_once() -> Podman {
        require_root();
        let dir = shared_dir("podman-harness");
        // One conf for every process, replaced atomically: a reader never
        // sees it half-written.
        let conf = dir.join("containers.conf");
        let tmp = dir.join(format!("containers.conf.{}", std::process::id()));
        fs::write(&tmp, CONTAINERS_CONF).unwrap_or_else(|e| panic!("write {}: {e}", tmp.display()));
        fs::rename(&tmp, &conf).unwrap_or_else(|e| panic!("install {}: {e}", conf.display()));
        let podman = Podman {
            conf,
            dir,
            image: IMAGE.to_string(),
        };
        let _lock = FileLock::acquire(&podman.dir.join("image.lock"));
        if !podman.image_exists(IMAGE) {
            podman.import_busybox(IMAGE);
        }
        podman
    }

    /// A podman command with this harness's containers.conf.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &self.conf)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c
    }

    /// Run podman with `args`; its output, whatever the exit status.
    pub fn output<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        self.cmd().args(args).output().unwrap_or_else(|e| {
            panic!("cannot run podman (is it installed? `cargo xtask test` installs it): {e}")
        })
    }

    /// `podman pod rm -f -t 0 NAME`, tried a few times: with a user
    /// namespace podman 4.3 sometimes fails to unlink the container's shm
    /// (EBUSY) while its mount is still going away; a second try removes it.
    pub fn rm_pod(&self, name: &str) {
        if self
            .output(&["pod", "rm", "-f", "-t", "0", name])
            .status
            .success()
        {
            return;
        }
        // Again, a pod half removed by the failed try being no error.
        let again = ["pod", "rm", "-f", "-i", "-t", "0", name];
        for _ in 0..3 {
            std::thread::sleep(std::time::Duration::from_millis(300));
            if self.output(&again).status.success() {
                return;
            }
        }
        self.run(&again);
    }

    /// Run podman with `args`, panic with its stderr unless it succeeds;
    /// its stdout, trimmed.
    pub fn run<S: AsRef<OsStr>>(&self, args: &[S]) -> String {
        let out = self.output(args);
        if !out.status.success() {
            panic!(
                "podman {} failed ({}):\n{}{}",
                show_args(args),
                out.status,
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout),
            );
        }
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn image_exists(&self, image: &str) -> bool {
        self.output(&["image", "exists", image]).status.success()
    }

    /// `podman import` a busybox rootfs as `image`.
    fn import_busybox(&self, image: &str) {
        // Scratch of this process (we hold the lock anyway).
        let scratch = self.dir.join(format!("import-{}", std::process::id()));
        let tar = rootfs::busybox_tar(&scratch);
        self.run(&[
            OsStr::new("import"),
            OsStr::new("--quiet"),
            OsStr::new("--change"),
            OsStr::new("ENV=PATH=/bin"),
            tar.as_os_str(),
            OsStr::new(image),
        ]);
        let _ = fs::remove_dir_all(&scratch);
        assert!(
            self.image_exists(image),
            "podman import said yes but {image} does not exist"
        );
    }

    // ---- pods ----------------------------------------------------------

    /// `podman pod create --name NAME`, owned by the returned guard:
    /// removed (forcefully) when the guard drops, panic or not.
    pub fn pod(&self, name: &str) -> PodGuard {
        let id = self.run(&["pod", "create", "--name", name]);
        PodGuard {
            podman: self.clone(),
            name: name.to_string(),
            id,
        }
    }

    // ---- containers ----------------------------------------------------

    /// `podman run -d --pod POD --name NAME IMAGE ARGS...`; the container id.
    pub fn run_detached(&self, pod: &str, name: &str, args: &[&str]) -> String {
        let mut a = vec!["run", "-d", "--pod", pod, "--name", name, &self.image];
        a.extend_from_slice(args);
        self.run(&a)
    }

    /// Wait until the container's pid 1 runs `comm`, past its exec
    /// ([`procfs::wait_exec`]): `podman run -d` returns once runc has told
    /// the container to exec its entrypoint, and the exec itself may come a
    /// moment later. Panics after 10 s.
    pub fn wait_exec(&self, id: &str, comm: &str) {
        procfs::wait_exec(self.inspect_container(id).pid, comm);
    }

    /// `podman run --pod POD --name NAME IMAGE ARGS...` in the foreground,
    /// for a container that exits by itself; its id and exit status. The
    /// container is kept (no `--rm`) so that it can still be inspected.
    pub fn run_to_exit(&self, pod: &str, name: &str, args: &[&str]) -> Exited {
        let mut a = vec!["run", "--pod", pod, "--name", name, &self.image];
        a.extend_from_slice(args);
        let out = self.output(&a);
        let code = out.status.code().unwrap_or(-1);
        // 125: podman itself failed; 126/127: the command could not run.
        if matches!(code, -1 | 125 | 126 | 127) {
            panic!(
                "podman {} failed ({}):\n{}",
                show_args(&a),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let id = self.run(&["container", "inspect", "--format", "{{.Id}}", name]);
        Exited {
            id,
            code,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        }
    }

    /// `podman exec CTR ARGS...`; its output, whatever the command's exit
    /// status (panics only when podman itself failed).
    pub fn exec(&self, ctr: &str, args: &[&str]) -> Output {
        let mut a = vec!["exec", ctr];
        a.extend_from_slice(args);
        let out = self.output(&a);
        if matches!(out.status.code(), None | Some(125..=127)) {
            panic!(
                "podman {} failed ({}):\n{}",
                show_args(&a),
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        out
    }
}

/// A pod that is removed (`pod rm -f`) when this guard drops.
pub struct PodGuard {
    podman: Podman,
    pub name: String,
    pub id: String,
}

impl PodGuard {
    /// `podman pod start`: starts the infra container (`catatonit -P`).
    pub fn start(&self) {
        self.podman.run(&["pod", "start", &self.name]);
    }

    /// `podman pod stop -t 1`. `sleep` as pid 1 of its pid namespace
    /// ignores SIGTERM, so podman's default 10 s wait would be wasted:
    /// after one second podman sends SIGKILL.
    pub fn stop(&self) {
        self.podman.run(&["pod", "stop", "-t", "1", &self.name]);
    }

    pub fn inspect(&self) -> PodTruth {
        self.podman.inspect_pod(&self.name)
    }

    /// `podman pod rm -f -t 0` now (and not again at drop); panics if podman fails.
    pub fn remove(mut self) {
        self.podman.rm_pod(&self.name);
        self.name.clear();
    }
}

impl Drop for PodGuard {
    fn drop(&mut self) {
        if self.name.is_empty() {
            return;
        }
        let out = self
            .podman
            .output(&["pod", "rm", "-f", "-i", "-t", "0", &self.name]);
        if !out.status.success() {
            // Never panic in drop (it may run during a panic): say it.
            eprintln!(
                "podman harness: could not remove pod {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// A container that ran to its end.
#[derive(Clone, Debug)]
pub struct Exited {
    pub id: String,
    /// The container's exit status, as `podman run` passes it on.
    pub code: i32,
    pub stdout: String,
}

fn show_args<S: AsRef<OsStr>>(args: &[S]) -> String {
    args.iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
