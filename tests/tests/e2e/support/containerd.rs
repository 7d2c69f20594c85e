//! A private containerd for the CRI tests: its own root, state, socket,
//! runc root, CNI config (a bridge of its own on a private subnet, no
//! gateway, no masquerade: nothing leaves the machine) and a sandbox image
//! built here from a static pause. Killed and cleaned up on drop, also
//! when the test panics.
//!
//! What containerd needs on these machines (see DESIGN.md): the runc v2
//! shim with `SystemdCgroup = false` (PID 1 is not systemd),
//! `restrict_oom_score_adj = true` (root lacks CAP_SYS_RESOURCE, so runc
//! could not lower oom_score_adj), the overlayfs snapshotter, no registry.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::cri::{Cri, PodSpec};

/// Debian packages the containerd tests need (installed by the test when
/// missing; `protobuf-compiler` is needed earlier, to build the CRI client).
pub const PACKAGES: &[&str] = &[
    "containerd",
    "containernetworking-plugins",
    "protobuf-compiler",
    "busybox-static",
    "gcc",
    "libc6-dev",
    "iproute2",
];

/// The sandbox image (`sandbox_image`): a static pause built by [`build_images`].
pub const PAUSE_IMAGE: &str = "localhost/tracer-e2e/pause:1";
/// Debian's busybox-static with its applet links; `PATH=/bin`.
pub const BUSYBOX_IMAGE: &str = "localhost/tracer-e2e/busybox:1";

/// Where Debian's containernetworking-plugins put the CNI plugins.
const CNI_BIN_DIR: &str = "/usr/lib/cni";

/// A pause like Kubernetes' own: sleeps until SIGTERM or SIGINT (then exits
/// 0) and reaps children, as pid 1 of a shared pid namespace must. The
/// Docker harness builds its pause from the same source.
pub const PAUSE_C: &str = r#"
#include <signal.h>
#include <sys/wait.h>
static volatile sig_atomic_t done;
static void stop(int s) { (void)s; done = 1; }
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
    sigset_t block, old;
    struct sigaction sa = {0};
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &old);
    sa.sa_handler = stop;
    sigaction(SIGTERM, &sa, 0);
    sigaction(SIGINT, &sa, 0);
    sa.sa_handler = reap;
    sa.sa_flags = SA_NOCLDSTOP;
    sigaction(SIGCHLD, &sa, 0);
    while (!done) sigsuspend(&old);
    return 0;
}
"#;

fn is_installed(package: &str) -> bool {
    Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", package])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.starts_with(b"install ok installed"))
}

fn apt_get_install(packages: &[&str]) -> bool {
    Command::new("apt-get")
        .args(["install", "-y", "--no-install-recommends"])
        .args(["-o", "DPkg::Lock::Timeout=300"])
        .args(packages)
        .env("DEBIAN_FRONTEND", "noninteractive")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Install what [`PACKAGES`] lists and is missing (apt-get, as root), or
/// fail saying exactly what to install.
pub fn ensure_installed() -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .copied()
        .filter(|p| !is_installed(p))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let line = format!("apt-get install {}", missing.join(" "));
    if !Path::new("/usr/bin/apt-get").exists() {
        bail!("the containerd tests need Debian packages that are missing: {line}");
    }
    eprintln!("containerd tests: installing {}", missing.join(" "));
    if !apt_get_install(&missing) {
        let updated = Command::new("apt-get")
            .args(["update", "-o", "DPkg::Lock::Timeout=300"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !updated || !apt_get_install(&missing) {
            bail!("could not install the containerd tests' packages: {line} failed");
        }
    }
    Ok(())
}

fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {:?}", cmd.get_program()))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn write(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

/// A blob in an OCI layout: written under its digest, described for a manifest.
fn blob(layout: &Path, media_type: &str, bytes: &[u8]) -> Result<serde_json::Value> {
    let digest = format!("{:x}", Sha256::digest(bytes));
    let path = layout.join("blobs/sha256").join(&digest);
    fs::write(&path, bytes).with_context(|| format!("write {}", path.display()))?;
    Ok(json!({"mediaType": media_type, "digest": format!("sha256:{digest}"), "size": bytes.len()}))
}

/// An OCI image archive of one uncompressed layer made from `rootfs`, named
/// `name` (the `io.containerd.image.name` annotation `ctr import` reads).
fn oci_archive(rootfs: &Path, name: &str, config: serde_json::Value, out: &Path) -> Result<()> {
    let work = out.with_extension("d");
    let layout = work.join("oci");
    fs::create_dir_all(layout.join("blobs/sha256"))
        .with_context(|| format!("mkdir {}", layout.display()))?;
    let layer_tar = work.join("layer.tar");
    run(Command::new("tar")
        .args([
            "--owner=0",
            "--group=0",
            "--numeric-owner",
            "--sort=name",
            "--mtime=@0",
        ])
        .arg("-C")
        .arg(rootfs)
        .arg("-cf")
        .arg(&layer_tar)
        .arg("."))?;
    let layer = fs::read(&layer_tar).with_context(|| format!("read {}", layer_tar.display()))?;
    let layer_desc = blob(&layout, "application/vnd.oci.image.layer.v1.tar", &layer)?;
    let image_config = json!({
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [layer_desc["digest"]]},
    });
    let config_desc = blob(
        &layout,
        "application/vnd.oci.image.config.v1+json",
        image_config.to_string().as_bytes(),
    )?;
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config_desc,
        "layers": [layer_desc],
    });
    let mut manifest_desc = blob(
        &layout,
        "application/vnd.oci.image.manifest.v1+json",
        manifest.to_string().as_bytes(),
    )?;
    let tag = name.rsplit(':').next().unwrap_or("latest");
    manifest_desc["annotations"] = json!({
        "io.containerd.image.name": name,
        "org.opencontainers.image.ref.name": tag,
    });
    let index = json!({"schemaVersion": 2, "manifests": [manifest_desc]});
    write(&layout.join("index.json"), &index.to_string())?;
    write(
        &layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    run(Command::new("tar")
        .arg("-C")
        .arg(&layout)
        .arg("-cf")
        .arg(out)
        .arg("."))?;
    fs::remove_dir_all(&work).with_context(|| format!("rm -r {}", work.display()))
}

/// The two image archives: (pause, busybox).
pub struct ImageArchives {
    pub pause: PathBuf,
    pub busybox: PathBuf,
}

/// Build both images under `dir`: no registry, no network.
pub fn build_images(dir: &Path) -> Result<ImageArchives> {
    let pause_root = dir.join("pause-rootfs");
    fs::create_dir_all(&pause_root).with_context(|| format!("mkdir {}", pause_root.display()))?;
    let src = dir.join("pause.c");
    write(&src, PAUSE_C)?;
    run(Command::new("gcc")
        .args(["-static", "-O2", "-s", "-o"])
        .arg(pause_root.join("pause"))
        .arg(&src))
    .context("compile the static pause (needs gcc and libc6-dev)")?;
    let pause = dir.join("pause-image.tar");
    oci_archive(
        &pause_root,
        PAUSE_IMAGE,
        json!({"Entrypoint": ["/pause"]}),
        &pause,
    )?;

    let bb_root = dir.join("busybox-rootfs");
    let bin = bb_root.join("bin");
    fs::create_dir_all(&bin).with_context(|| format!("mkdir {}", bin.display()))?;
    let busybox = bin.join("busybox");
    fs::copy("/bin/busybox", &busybox).context("copy /bin/busybox (busybox-static)")?;
    fs::set_permissions(&busybox, fs::Permissions::from_mode(0o755))
        .with_context(|| format!("chmod {}", busybox.display()))?;
    // The applets from the original: exec'ing the fresh copy races with
    // other tests' forks, which may still hold it open for writing (ETXTBSY).
    for applet in run(Command::new("/bin/busybox").arg("--list"))?.lines() {
        let applet = applet.trim();
        if !applet.is_empty() && applet != "busybox" {
            symlink("busybox", bin.join(applet))
                .with_context(|| format!("link applet {applet}"))?;
        }
    }
    let busybox_tar = dir.join("busybox-image.tar");
    oci_archive(
        &bb_root,
        BUSYBOX_IMAGE,
        json!({"Env": ["PATH=/bin"], "Cmd": ["sh"]}),
        &busybox_tar,
    )?;
    Ok(ImageArchives {
        pause,
        busybox: busybox_tar,
    })
}

/// A running containerd of our own.
pub struct Containerd {
    /// Everything of this instance lives here (removed on drop).
    pub dir: PathBuf,
    pub socket: PathBuf,
    /// The CNI bridge (deleted on drop).
    pub bridge: String,
    #[allow(dead_code, reason = "the CNI subnet, for a check on the pod's IP")]
    pub subnet: String,
    child: Child,
    log: PathBuf,
    /// Pod cgroups the kubelet would remove (rmdir'ed on drop).
    cgroup_parents: Vec<String>,
}

impl Containerd {
    /// Write the config and the CNI conflist, start containerd, wait until
    /// CRI says RuntimeReady and NetworkReady, import both images.
    pub fn start(images: &ImageArchives) -> Result<Containerd> {
        let id = std::process::id();
        let dir = std::env::temp_dir().join(format!("tracer-cri-{id}"));
        // A previous run of this pid that died: start clean.
        let _ = fs::remove_dir_all(&dir);
        let cni = dir.join("cni");
        fs::create_dir_all(&cni).with_context(|| format!("mkdir {}", cni.display()))?;
        // Bridge names have at most 15 bytes.
        let bridge = format!("trcri{:x}", id);
        // A private /24 that only this bridge knows: no gateway on the host,
        // no route to it, no masquerade.
        let subnet = format!("10.213.{}.0/24", id % 256);
        let socket = dir.join("containerd.sock");
        let conflist = json!({
            "cniVersion": "1.0.0",
            "name": format!("tracer-e2e-{id}"),
            "plugins": [{
                "type": "bridge",
                "bridge": bridge,
                "isGateway": false,
                "ipMasq": false,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": subnet}]],
                    "dataDir": dir.join("ipam"),
                },
            }],
        });
        write(&cni.join("10-tracer-e2e.conflist"), &conflist.to_string())?;
        let config = dir.join("config.toml");
        write(&config, &config_toml(&dir, &socket))?;
        let log = dir.join("containerd.log");
        let log_file =
            fs::File::create(&log).with_context(|| format!("create {}", log.display()))?;
        let mut cmd = Command::new("containerd");
        cmd.arg("--config")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().context("dup the log file")?)
            .stderr(log_file);
        // SAFETY: prctl is async-signal-safe. Should the test process die
        // without unwinding (abort, SIGKILL), containerd goes too.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            })
        };
        let child = cmd
            .spawn()
            .context("start containerd (apt-get install containerd)")?;
        let mut ctrd = Containerd {
            dir,
            socket,
            bridge,
            subnet,
            child,
            log,
            cgroup_parents: Vec::new(),
        };
        ctrd.wait_serving(Duration::from_secs(20))?;
        let cri = ctrd.cri()?;
        cri.wait_ready(Duration::from_secs(20))
            .with_context(|| ctrd.log_tail())?;
        for archive in [&images.pause, &images.busybox] {
            ctrd.import(archive)?;
        }
        for image in [PAUSE_IMAGE, BUSYBOX_IMAGE] {
            cri.image_id(image).with_context(|| ctrd.log_tail())?;
        }
        Ok(ctrd)
    }

    /// The containerd daemon's pid (its threads make the pods' netns).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn cri(&self) -> Result<Cri> {
        Cri::connect(&self.socket)
    }

    /// A pod as the kubelet (cgroupfs driver) describes a BestEffort one.
    /// Its cgroup is removed on drop, as the kubelet would.
    pub fn pod(&mut self, namespace: &str, name: &str, uid: &str) -> PodSpec {
        let cgroup_parent = format!("/kubepods/besteffort/pod{uid}");
        self.cgroup_parents.push(cgroup_parent.clone());
        PodSpec {
            namespace: namespace.into(),
            name: name.into(),
            uid: uid.into(),
            attempt: 0,
            cgroup_parent,
            log_directory: self
                .dir
                .join("pods")
                .join(format!("{namespace}_{name}_{uid}")),
        }
    }

    /// `ctr -n k8s.io images import`: where CRI looks for images.
    pub fn import(&self, archive: &Path) -> Result<()> {
        run(Command::new("ctr")
            .arg("--address")
            .arg(&self.socket)
            .args([
                "-n",
                "k8s.io",
                "images",
                "import",
                "--snapshotter",
                "overlayfs",
            ])
            .arg(archive))
        .with_context(|| self.log_tail())
        .map(|_| ())
    }

    /// The end of containerd's log, for error messages.
    pub fn log_tail(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(30);
        let mut s = format!("containerd log ({}), last lines:\n", self.log.display());
        for l in &lines[from..] {
            let _ = writeln!(s, "  {l}");
        }
        s
    }

    fn wait_serving(&mut self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        while !self.socket.exists() {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!("containerd exited with {status}\n{}", self.log_tail());
            }
            if Instant::now() > deadline {
                bail!(
                    "containerd made no socket within {within:?}\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Shims this containerd started (they outlive it: daemonised).
    fn shims(&self) -> Vec<i32> {
        let needle = self.socket.to_string_lossy().into_owned();
        let Ok(dir) = fs::read_dir("/proc") else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| {
                let cmdline = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let cmdline = String::from_utf8_lossy(&cmdline);
                cmdline.starts_with("/usr/bin/containerd-shim") && cmdline.contains(&needle)
            })
            .collect()
    }

    /// Mount points under our directory (overlay rootfs, shm), deepest first.
    fn mounts_below(&self) -> Vec<String> {
        let prefix = format!("{}/", self.dir.display());
        let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mut points: Vec<String> = text
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| p.starts_with(&prefix))
            .map(String::from)
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        points
    }
}

fn config_toml(dir: &Path, socket: &Path) -> String {
    let d = dir.display();
    let s = socket.display();
    format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = [
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
]

[grpc]
  address = "{s}"

[ttrpc]
  address = "{s}.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  # A random port: several containerds may run at once.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "{d}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{d}/cni"
"#
    )
}

/// rmdir `parent` in every cgroup hierarchy (v1 controllers and v2).
fn remove_cgroup(parent: &str) {
    let text = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    for l in text.lines() {
        let Some((left, right)) = l.split_once(" - ") else {
            continue;
        };
        if !right.starts_with("cgroup ") && !right.starts_with("cgroup2 ") {
            continue;
        }
        if let Some(point) = left.split(' ').nth(4) {
            let _ = fs::remove_dir(format!("{point}{parent}"));
        }
    }
}

impl Drop for Containerd {
    fn drop(&mut self) {
        // Pods left by a failed test: CNI DEL, unmount the netns, stop shims.
        if let Ok(cri) = self.cri() {
            match cri.remove_all() {
                Ok(0) => {}
                Ok(n) => eprintln!("containerd clean-up: removed {n} leftover sandbox(es)"),
                Err(e) => eprintln!("containerd clean-up: {e:#}"),
            }
        }
        let pid = self.child.id() as libc::pid_t;
        // SAFETY: signalling our own child, not yet reaped.
        unsafe { libc::kill(pid, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(5);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        for shim in self.shims() {
            eprintln!("containerd clean-up: killing leftover shim {shim}");
            // SAFETY: a shim our containerd started, found by its socket.
            unsafe { libc::kill(shim, libc::SIGKILL) };
        }
        for point in self.mounts_below() {
            if let Ok(c) = std::ffi::CString::new(point.as_str()) {
                // SAFETY: a valid C string; MNT_DETACH cannot block.
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        for parent in &self.cgroup_parents {
            remove_cgroup(parent);
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .stderr(Stdio::null())
            .status();
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("containerd clean-up: rm -r {}: {e}", self.dir.display());
        }
    }
}
