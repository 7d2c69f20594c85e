//! Real runc (Debian's `runc` 1.1) driven as CRI-O drives it: bundles with
//! a busybox-static rootfs and a static `/pause` (compiled here with
//! `cc -static`; the tracer knows a pause by that name), `config.json`
//! written here, whose `linux.namespaces` join namespace paths (pins, or
//! `/run/netns/<name>`) and make the rest anew. The infra is `runc create` +
//! `runc start`; containers run in the foreground (`runc run --pid-file`),
//! holding their status as conmon would; `runc kill`, `runc delete`, and
//! every container deleted (forcibly) on drop.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::{Value, json};

use super::host::{Window, boot_ns, hex_id, ns_inum, ns_map, pin_inum, run_ok, uuid, wait_for};
use super::pins::PIN_KINDS;
use super::procfs::past_exec;

// ---- the rootfs: busybox-static and a static pause --------------------------

const BUSYBOX: &str = "/bin/busybox";

/// A pause as the kubelet's: sleeps until a signal; SIGTERM/SIGINT end it
/// with status 0 (so its exit is known without being its parent); reaps.
const PAUSE_C: &str = r#"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
static void stop(int s) { (void)s; _exit(0); }
static void reap(int s) { (void)s; while (waitpid(-1, 0, WNOHANG) > 0) {} }
int main(void) {
    signal(SIGINT, stop);
    signal(SIGTERM, stop);
    signal(SIGCHLD, reap);
    for (;;) pause();
}
"#;

/// The static pause binary, compiled once per checkout (atomically renamed
/// into place, so parallel tests share it).
pub fn pause_binary() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("crio-harness");
    fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let bin = dir.join("pause");
    if bin.exists() {
        return bin;
    }
    let tag = format!("{}-{}", std::process::id(), &uuid()[..8]);
    let src = dir.join(format!("pause-{tag}.c"));
    let tmp = dir.join(format!("pause-{tag}"));
    fs::write(&src, PAUSE_C).unwrap_or_else(|e| panic!("write {}: {e}", src.display()));
    let out = Command::new("cc")
        .args(["-static", "-O2", "-o"])
        .arg(&tmp)
        .arg(&src)
        .output()
        .unwrap_or_else(|e| panic!("cannot run cc (install gcc and libc6-dev): {e}"));
    let _ = fs::remove_file(&src);
    assert!(
        out.status.success(),
        "cc -static pause.c failed (is libc6-dev installed?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    fs::rename(&tmp, &bin).unwrap_or_else(|e| panic!("rename to {}: {e}", bin.display()));
    bin
}

/// A read-only rootfs shared by every bundle of a pod: busybox-static with
/// the few applets used, `/pause`, and the mount points runc needs.
pub fn make_rootfs(dir: &Path) -> PathBuf {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: install Debian's busybox-static"
    );
    let rootfs = dir.join("rootfs");
    for d in ["bin", "dev", "proc", "sys", "tmp", "etc"] {
        let p = rootfs.join(d);
        fs::create_dir_all(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
    }
    fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap_or_else(|e| panic!("copy {BUSYBOX}: {e}"));
    for applet in ["sh", "sleep", "true"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
            .unwrap_or_else(|e| panic!("symlink {applet}: {e}"));
    }
    fs::copy(pause_binary(), rootfs.join("pause")).unwrap_or_else(|e| panic!("copy pause: {e}"));
    rootfs
}
// ---- runc -------------------------------------------------------------------

/// What a bundle runs and which namespaces it joins by path (`/proc/<pid>/ns`
/// names: `net`, `ipc`, `uts`, `pid`); every other pod kind is made anew.
#[derive(Clone, Debug)]
pub struct Spec {
    pub args: Vec<String>,
    pub join: Vec<(&'static str, PathBuf)>,
    /// `sandbox` (the infra) or `container`, as CRI-O's annotations say.
    pub role: &'static str,
    pub name: String,
}

impl Spec {
    pub fn new(name: &str, role: &'static str, args: &[&str]) -> Spec {
        Spec {
            args: args.iter().map(|a| (*a).to_string()).collect(),
            join: Vec::new(),
            role,
            name: name.to_string(),
        }
    }

    pub fn joining(mut self, kind: &'static str, path: PathBuf) -> Spec {
        self.join.push((kind, path));
        self
    }
}

/// OCI type of a `/proc/<pid>/ns` name.
fn oci_type(kind: &str) -> &str {
    match kind {
        "net" => "network",
        "mnt" => "mount",
        other => other,
    }
}

/// A container as ground truth.
#[derive(Clone, Debug)]
pub struct CtrTruth {
    pub name: String,
    pub id: String,
    pub pid: u32,
    pub argv: Vec<String>,
    /// `/proc/<pid>/ns` while it ran.
    pub ns: BTreeMap<String, u64>,
    /// From the runtime's first step (`runc create`/`run`) to its pid known.
    pub started: Window,
    /// From when it could first exit (its sleep done, or the kill sent) to
    /// when the runtime saw it gone.
    pub exited: Window,
    /// Shell-style exit status (code, or 128 + signal).
    pub exit: i32,
}

/// A container started in the foreground (`runc run`), as conmon would
/// hold it: its status comes back when it exits.
pub struct Running {
    pub name: String,
    pub id: String,
    pub pid: u32,
    pub argv: Vec<String>,
    pub ns: BTreeMap<String, u64>,
    pub started: Window,
    child: Option<Child>,
    err_file: PathBuf,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// runc with its own state root, cgroups under a CRI-O-like pod parent
/// (`/kubepods/besteffort/pod<uid>/crio-<id>`, cgroupfs driver).
pub struct Runc {
    root: PathBuf,
    bundles: PathBuf,
    rootfs: PathBuf,
    pub pod_uid: String,
    pub sandbox_id: String,
    /// Created and not yet deleted: deleted (forcibly) on drop.
    live: Vec<String>,
}

impl Runc {
    pub fn new(scratch: &Path) -> Runc {
        let root = scratch.join("runc");
        let bundles = scratch.join("bundles");
        for d in [&root, &bundles] {
            fs::create_dir_all(d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
        }
        Runc {
            root,
            bundles,
            rootfs: make_rootfs(scratch),
            pod_uid: uuid(),
            sandbox_id: hex_id(),
            live: Vec::new(),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("runc");
        c.arg("--root").arg(&self.root);
        c
    }

    fn cgroup_parent(&self) -> String {
        format!("/kubepods/besteffort/pod{}", self.pod_uid)
    }

    /// Write `<bundles>/<id>/config.json` for `spec`.
    fn bundle(&self, id: &str, spec: &Spec) -> PathBuf {
        let dir = self.bundles.join(id);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
        let mut namespaces = vec![json!({"type": "pid"}), json!({"type": "mount"})];
        for kind in PIN_KINDS {
            match spec.join.iter().find(|(k, _)| *k == kind) {
                Some((_, p)) => namespaces.push(json!({"type": oci_type(kind), "path": p})),
                None => namespaces.push(json!({"type": oci_type(kind)})),
            }
        }
        if let Some((_, p)) = spec.join.iter().find(|(k, _)| *k == "pid") {
            namespaces[0] = json!({"type": "pid", "path": p});
        }
        let caps = ["CAP_KILL", "CAP_NET_BIND_SERVICE"];
        let config = json!({
            "ociVersion": "1.0.2",
            "process": {
                "terminal": false,
                "user": {"uid": 0, "gid": 0},
                "args": spec.args,
                "env": ["PATH=/bin"],
                "cwd": "/",
                "capabilities": {"bounding": caps, "effective": caps, "permitted": caps},
                "noNewPrivileges": true
            },
            "root": {"path": self.rootfs, "readonly": true},
            "mounts": [
                {"destination": "/proc", "type": "proc", "source": "proc"},
                {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
                 "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
                {"destination": "/sys", "type": "sysfs", "source": "sysfs",
                 "options": ["nosuid", "noexec", "nodev", "ro"]}
            ],
            "annotations": {
                "io.kubernetes.cri-o.ContainerType": spec.role,
                "io.kubernetes.cri-o.SandboxID": self.sandbox_id,
                "io.kubernetes.container.name": spec.name,
                "io.kubernetes.pod.name": "tracer-crio-way",
                "io.kubernetes.pod.namespace": "tracer-tests",
                "io.kubernetes.pod.uid": self.pod_uid
            },
            "linux": {
                "cgroupsPath": format!("{}/crio-{id}", self.cgroup_parent()),
                "namespaces": namespaces,
                "maskedPaths": ["/proc/kcore", "/proc/keys", "/sys/firmware"],
                "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"]
            }
        });
        let text = serde_json::to_string_pretty(&config).expect("config.json serialises");
        fs::write(dir.join("config.json"), text)
            .unwrap_or_else(|e| panic!("write {}/config.json: {e}", dir.display()));
        dir
    }

    /// `runc state ID` as JSON.
    pub fn state(&self, id: &str) -> Value {
        let out = run_ok(self.cmd().args(["state", id]));
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("runc state {id}: {e}: {out}"))
    }

    fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Check what the container really joined: pod kinds by path are the
    /// pins', mnt and pid its own.
    fn namespaces_of(pid: u32, spec: &Spec) -> BTreeMap<String, u64> {
        let ns = ns_map(pid).unwrap_or_else(|e| panic!("namespaces of {pid}: {e}"));
        for (kind, path) in &spec.join {
            assert_eq!(
                ns[*kind],
                pin_inum(path),
                "pid {pid} is not in {} of {}",
                kind,
                path.display()
            );
        }
        let host_mnt = ns_inum("self", "mnt").expect("our mnt ns");
        assert_ne!(ns["mnt"], host_mnt, "pid {pid} shares our mount namespace");
        ns
    }

    /// CRI-O's infra container: `runc create` (stage 1 joins the paths,
    /// unshares the rest, stage 2 waits) then `runc start` (exec).
    pub fn create_and_start(&mut self, spec: &Spec) -> Running {
        let id = hex_id();
        let bundle = self.bundle(&id, spec);
        let err_file = bundle.join("runc.err");
        let (pid, started) = Window::around(|| {
            let err = fs::File::create(&err_file).expect("create runc.err");
            self.live.push(id.clone());
            let st = self
                .cmd()
                .args(["create", "--bundle"])
                .arg(&bundle)
                .arg(&id)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err)
                .status()
                .expect("run runc create");
            assert!(st.success(), "runc create: {}", read_lossy(&err_file));
            run_ok(self.cmd().args(["start", &id]));
            let pid = self.state(&id)["pid"]
                .as_u64()
                .and_then(|p| u32::try_from(p).ok())
                .unwrap_or_else(|| panic!("runc state {id} has no pid"));
            exec_done(pid);
            pid
        });
        Running {
            name: spec.name.clone(),
            id,
            pid,
            argv: spec.args.clone(),
            ns: Self::namespaces_of(pid, spec),
            started,
            child: None,
            err_file,
        }
    }

    /// A container as `runc run --pid-file` in the foreground; returns once
    /// its pid is known (it is running its entrypoint).
    pub fn run(&mut self, spec: &Spec) -> Running {
        let id = hex_id();
        let bundle = self.bundle(&id, spec);
        let err_file = bundle.join("runc.err");
        let pid_file = bundle.join("pid");
        let ((child, pid), started) = Window::around(|| {
            let err = fs::File::create(&err_file).expect("create runc.err");
            self.live.push(id.clone());
            let mut child = self
                .cmd()
                .args(["run", "--bundle"])
                .arg(&bundle)
                .arg("--pid-file")
                .arg(&pid_file)
                .arg(&id)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(err)
                .spawn()
                .expect("spawn runc run");
            let pid = wait_for("runc run's pid file", Duration::from_secs(10), || {
                if let Ok(Some(st)) = child.try_wait() {
                    panic!("runc run exited early ({st}): {}", read_lossy(&err_file));
                }
                fs::read_to_string(&pid_file)
                    .ok()?
                    .trim()
                    .parse::<u32>()
                    .ok()
            });
            // runc writes the pid file before stage 2 execs the entrypoint.
            exec_done(pid);
            (child, pid)
        });
        let ns = Self::namespaces_of(pid, spec);
        Running {
            name: spec.name.clone(),
            id,
            pid,
            argv: spec.args.clone(),
            ns,
            started,
            child: Some(child),
            err_file,
        }
    }

    /// Wait for a foreground container to exit by itself; `earliest` is when
    /// it could first have exited.
    pub fn wait_exit(&mut self, mut r: Running, earliest: u64) -> CtrTruth {
        let mut child = r.child.take().expect("a foreground container");
        let st = child.wait().expect("wait for runc run");
        let to_ns = boot_ns();
        let exit = st
            .code()
            .unwrap_or_else(|| panic!("runc run killed: {st}: {}", read_lossy(&r.err_file)));
        self.forget(&r.id);
        CtrTruth {
            name: r.name.clone(),
            id: r.id.clone(),
            pid: r.pid,
            argv: r.argv.clone(),
            ns: r.ns.clone(),
            started: r.started,
            exited: Window {
                from_ns: earliest,
                to_ns,
            },
            exit,
        }
    }

    /// `runc kill ID SIG`, then wait until it is gone (foreground: runc run
    /// returns its status; the infra: `runc state` says stopped).
    /// `exit_if_detached` is the status a detached one exits with (our
    /// pause: 0 on SIGTERM), as nobody here is its parent.
    pub fn kill(&mut self, mut r: Running, sig: &str, exit_if_detached: i32) -> CtrTruth {
        let from_ns = boot_ns();
        run_ok(self.cmd().args(["kill", &r.id, sig]));
        let exit = match r.child.take() {
            Some(mut child) => {
                let st = child.wait().expect("wait for runc run");
                self.forget(&r.id);
                st.code()
                    .unwrap_or_else(|| panic!("runc run killed: {st}: {}", read_lossy(&r.err_file)))
            }
            None => {
                wait_for("the container to stop", Duration::from_secs(10), || {
                    (self.status(&r.id) == "stopped").then_some(())
                });
                self.delete(&r.id);
                exit_if_detached
            }
        };
        let to_ns = boot_ns();
        CtrTruth {
            name: r.name.clone(),
            id: r.id.clone(),
            pid: r.pid,
            argv: r.argv.clone(),
            ns: r.ns.clone(),
            started: r.started,
            exited: Window { from_ns, to_ns },
            exit,
        }
    }

    /// `runc delete ID` (stopped containers only).
    pub fn delete(&mut self, id: &str) {
        run_ok(self.cmd().args(["delete", id]));
        self.forget(id);
    }

    /// `runc run` in the foreground deletes its container itself once it exits.
    fn forget(&mut self, id: &str) {
        self.live.retain(|l| l != id);
    }
}

/// Wait until runc's stage 2 (`runc:[2:INIT]`) has exec'd the entrypoint
/// and is past that exec.
fn exec_done(pid: u32) {
    wait_for("the container to exec", Duration::from_secs(5), || {
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (!comm.starts_with("runc") && past_exec(pid)).then_some(())
    });
}

fn read_lossy(p: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = fs::File::open(p) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

impl Drop for Runc {
    fn drop(&mut self) {
        for id in std::mem::take(&mut self.live) {
            let _ = self.cmd().args(["kill", &id, "KILL"]).output();
            match self.cmd().args(["delete", "--force", &id]).output() {
                Ok(o) if o.status.success() => {}
                Ok(o) => eprintln!(
                    "cleanup: runc delete --force {id}: {}",
                    String::from_utf8_lossy(&o.stderr)
                ),
                Err(e) => eprintln!("cleanup: runc delete --force {id}: {e}"),
            }
        }
        // runc removes the containers' cgroups; the pod's parent is ours.
        let parent = self.cgroup_parent();
        if let Ok(dirs) = fs::read_dir("/sys/fs/cgroup") {
            for d in dirs.flatten() {
                let p = d.path().join(parent.trim_start_matches('/'));
                if p.exists()
                    && let Err(e) = fs::remove_dir(&p)
                {
                    eprintln!("cleanup: rmdir {}: {e}", p.display());
                }
            }
        }
    }
}
