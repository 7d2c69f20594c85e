//! Podman for the `pods` workload, with this machine's quirks (see
//! DESIGN.md): a containers.conf of our own and a busybox image made
//! locally (no registry is reachable).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

use super::host::unpin_command;

/// The image the end-to-end tests use too (same name, same content).
const IMAGE: &str = "localhost/tracer-tests-busybox";
const BUSYBOX: &str = "/bin/busybox";
const CONTAINERS_CONF: &str = "# Written by cargo xtask bench (this machine's podman quirks).
[containers]
default_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]

[engine]
cgroup_manager = \"cgroupfs\"
events_logger = \"file\"
";

pub struct Podman {
    conf: PathBuf,
}

impl Podman {
    /// Write the containers.conf into `dir`; make the busybox image if missing.
    pub fn setup(dir: &Path) -> Result<Podman> {
        match Command::new("podman").arg("--version").output() {
            Ok(o) if o.status.success() => {}
            Ok(o) => bail!(
                "podman --version failed ({}); the pods workload is n/a",
                o.status
            ),
            Err(e) => bail!("podman is not installed ({e}); the pods workload is n/a"),
        }
        let podman = Podman {
            conf: dir.join("containers.conf"),
        };
        fs::write(&podman.conf, CONTAINERS_CONF).context("write containers.conf")?;
        let exists = podman
            .cmd()
            .args(["image", "exists", IMAGE])
            .status()
            .context("cannot run podman")?;
        if !exists.success() {
            podman
                .import_busybox(&dir.join("busybox-rootfs"))
                .context("making the busybox image for the pods workload")?;
        }
        Ok(podman)
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        c.env("CONTAINERS_CONF", &self.conf).stdin(Stdio::null());
        // Podman, conmon and runc use every CPU, as they would on a node.
        unpin_command(&mut c);
        c
    }

    fn run(&self, args: &[&str]) -> Result<String> {
        let out = self
            .cmd()
            .args(args)
            .output()
            .context("cannot run podman")?;
        if !out.status.success() {
            bail!(
                "podman {} failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// A rootfs of busybox-static and its applet links, imported as IMAGE.
    fn import_busybox(&self, scratch: &Path) -> Result<()> {
        let rootfs = scratch.join("rootfs");
        let _ = fs::remove_dir_all(scratch);
        for d in ["bin", "dev", "proc", "sys", "tmp", "etc"] {
            fs::create_dir_all(rootfs.join(d)).context("create the rootfs")?;
        }
        fs::copy(BUSYBOX, rootfs.join("bin/busybox"))
            .with_context(|| format!("copy {BUSYBOX} (install busybox-static)"))?;
        let list = Command::new(BUSYBOX)
            .arg("--list")
            .output()
            .context("busybox --list")?;
        for applet in String::from_utf8_lossy(&list.stdout).lines().map(str::trim) {
            if !applet.is_empty() && applet != "busybox" && !applet.contains('/') {
                std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet))
                    .with_context(|| format!("link applet {applet}"))?;
            }
        }
        let tar = scratch.join("rootfs.tar");
        crate::command::run(
            Command::new("tar")
                .arg("-C")
                .arg(&rootfs)
                .arg("-cf")
                .arg(&tar)
                .arg("."),
        )?;
        let tar = tar.to_string_lossy().into_owned();
        self.run(&[
            "import",
            "--quiet",
            "--change",
            "ENV=PATH=/bin",
            &tar,
            IMAGE,
        ])?;
        let _ = fs::remove_dir_all(scratch);
        Ok(())
    }

    /// One pod: create + start (the infra container), one short container
    /// in it, stop, remove. A failed pod is removed before the error returns.
    pub fn one_pod(&self, name: &str) -> Result<()> {
        let result = self.pod_steps(name);
        if result.is_err() {
            let _ = self
                .cmd()
                .args(["pod", "rm", "-f", "-i", "-t", "0", name])
                .output();
        }
        result.with_context(|| format!("pod {name}"))
    }

    fn pod_steps(&self, name: &str) -> Result<()> {
        self.run(&["pod", "create", "--name", name])?;
        self.run(&["pod", "start", name])?;
        self.run(&["run", "--rm", "--pod", name, IMAGE, "true"])?;
        self.run(&["pod", "stop", "-t", "1", name])?;
        self.run(&["pod", "rm", "-f", "-t", "0", name])?;
        Ok(())
    }
}
