//! The workloads: fixed counts of operations, each verified (bench-workload),
//! and the podman pod churn driven from here.

use super::*;

// ---- workloads ------------------------------------------------------------------

pub(super) struct Sample {
    pub(super) ops: u64,
    pub(super) seconds: f64,
}

pub(super) fn run_workload(ctx: &Ctx, w: &Workload, ops: u64, round: usize) -> Result<Sample> {
    match w.kind {
        Kind::Bin => run_bin_workload(ctx, w.name, ops),
        Kind::Pods => pod_churn(ctx, ops, round),
    }
}

pub(super) fn run_bin_workload(ctx: &Ctx, name: &str, ops: u64) -> Result<Sample> {
    let bin = &ctx.opts.workload;
    let mut cmd = Command::new(bin);
    if ctx.pinned {
        pin_command(&mut cmd, &[WORKLOAD_CPU]);
    }
    let out = cmd
        .args([name, &ops.to_string()])
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    if !out.status.success() {
        bail!(
            "{} {name} {ops} failed ({}): {}",
            bin.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(text.trim())
        .with_context(|| format!("{name}: not one JSON line: {text:?}"))?;
    let done = v["ops"].as_u64().context("workload line without ops")?;
    let seconds = v["seconds"]
        .as_f64()
        .context("workload line without seconds")?;
    if done != ops || seconds <= 0.0 {
        bail!("{name}: asked for {ops} ops, it reports {done} in {seconds} s");
    }
    Ok(Sample { ops, seconds })
}

pub(super) fn podman(ctx: &Ctx) -> Command {
    let mut c = Command::new("podman");
    c.env("CONTAINERS_CONF", &ctx.podman_conf)
        .stdin(Stdio::null());
    // Podman, conmon and runc use every CPU, as they would on a node.
    pin_command(&mut c, &(0..cpu_count()).collect::<Vec<_>>());
    c
}

pub(super) fn podman_run(ctx: &Ctx, args: &[&str]) -> Result<String> {
    let out = podman(ctx)
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

/// Write the containers.conf this machine needs; make the busybox image if missing.
pub(super) fn setup_podman(ctx: &Ctx) -> Result<()> {
    if let Some(why) = check_tool("podman", &["--version"]) {
        bail!("{why}; the pods workload is n/a");
    }
    fs::write(&ctx.podman_conf, CONTAINERS_CONF).context("write containers.conf")?;
    let exists = podman(ctx)
        .args(["image", "exists", PODMAN_IMAGE])
        .status()
        .context("cannot run podman")?;
    if !exists.success() {
        import_busybox(ctx).context("making the busybox image for the pods workload")?;
    }
    Ok(())
}

/// A rootfs of busybox-static and its applet links, imported as PODMAN_IMAGE.
pub(super) fn import_busybox(ctx: &Ctx) -> Result<()> {
    let scratch = ctx.opts.out_dir.join("busybox-rootfs");
    let rootfs = scratch.join("rootfs");
    let _ = fs::remove_dir_all(&scratch);
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
    crate::run(
        Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    )?;
    let tar = tar.to_string_lossy().into_owned();
    podman_run(
        ctx,
        &[
            "import",
            "--quiet",
            "--change",
            "ENV=PATH=/bin",
            &tar,
            PODMAN_IMAGE,
        ],
    )?;
    let _ = fs::remove_dir_all(&scratch);
    Ok(())
}

/// Per pod: create + start (the infra container), run one short container
/// in it, stop, remove. A failed pod is removed before the error returns.
pub(super) fn pod_churn(ctx: &Ctx, pods: u64, round: usize) -> Result<Sample> {
    let start = Instant::now();
    for i in 0..pods {
        let name = format!("tracer-bench-{}-{round}-{i}", std::process::id());
        let result = one_pod(ctx, &name);
        if result.is_err() {
            let _ = podman(ctx)
                .args(["pod", "rm", "-f", "-i", "-t", "0", &name])
                .output();
        }
        result.with_context(|| format!("pod {name}"))?;
    }
    Ok(Sample {
        ops: pods,
        seconds: start.elapsed().as_secs_f64(),
    })
}

pub(super) fn one_pod(ctx: &Ctx, name: &str) -> Result<()> {
    podman_run(ctx, &["pod", "create", "--name", name])?;
    podman_run(ctx, &["pod", "start", name])?;
    podman_run(ctx, &["run", "--rm", "--pod", name, PODMAN_IMAGE, "true"])?;
    podman_run(ctx, &["pod", "stop", "-t", "1", name])?;
    podman_run(ctx, &["pod", "rm", "-f", "-t", "0", name])?;
    Ok(())
}
