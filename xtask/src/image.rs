//! `cargo xtask image`: the static tracer of `cargo xtask dist` in a
//! container image made `FROM scratch` (nothing but the binary), built
//! with podman as `localhost/tracer:<version>` (and `:latest`). How a node
//! runs it: deploy/daemonset.yaml and deploy/README.md.

use std::fs;

use anyhow::{Context, Result};

use crate::command::{output, run, workspace};
use crate::dist;

pub const NAME: &str = "localhost/tracer";

/// `HOST_PROC`: where the DaemonSet mounts the node's /proc.
const CONTAINERFILE: &str = r#"# Written by `cargo xtask image`: the static tracer, nothing else.
FROM scratch
COPY tracer /tracer
ENV HOST_PROC=/host/proc
# Prometheus metrics (`--metrics`), as deploy/daemonset.yaml serves them.
EXPOSE 9464
ENTRYPOINT ["/tracer"]
CMD ["--json", "--metrics", "0.0.0.0:9464"]
"#;

/// Build the image; its tag.
pub fn image() -> Result<String> {
    let bin = dist::dist()?;
    let ctx = workspace().join("target/image");
    if ctx.exists() {
        fs::remove_dir_all(&ctx).with_context(|| format!("cannot clear {}", ctx.display()))?;
    }
    fs::create_dir_all(&ctx)?;
    fs::copy(&bin, ctx.join("tracer"))?;
    fs::write(ctx.join("Containerfile"), CONTAINERFILE)?;
    let version = env!("CARGO_PKG_VERSION");
    let tag = format!("{NAME}:{version}");
    let mut c = std::process::Command::new("podman");
    c.args(["build", "--quiet", "--tag", &tag, "--tag"])
        .arg(format!("{NAME}:latest"))
        .args([
            "--label",
            &format!("org.opencontainers.image.version={version}"),
            "--label",
            "org.opencontainers.image.title=tracer",
            "--label",
            "org.opencontainers.image.description=Pod sandbox lifecycle tracer (eBPF)",
        ])
        .arg("--file")
        .arg(ctx.join("Containerfile"))
        .arg(&ctx);
    run(&mut c).context("podman build failed (is podman installed? `apt-get install podman`)")?;
    let size = output(std::process::Command::new("podman").args([
        "image",
        "inspect",
        "--format",
        "{{.Size}}",
        &tag,
    ]))?;
    let mib = size.trim().parse::<f64>().unwrap_or(0.0) / (1024.0 * 1024.0);
    println!("image: {tag} ({mib:.1} MiB); run it as deploy/README.md says");
    Ok(tag)
}
