//! `cargo xtask run`: build as the user, run the tracer as root.

use anyhow::{Context, Result};

use crate::build;
use crate::command::privileged;

/// Build, then run the tracer with `args`; its exit code becomes ours, so
/// that Ctrl-C ends both cleanly.
pub fn run(args: &[String]) -> Result<()> {
    let bin = build::all()?;
    let status = privileged(&bin)
        .args(args)
        .status()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    std::process::exit(status.code().unwrap_or(1));
}
