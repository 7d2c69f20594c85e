//! `cargo xtask test`: the system packages the tests need, the unit tests
//! (no root), then the end-to-end crate built as the user and run as root
//! against the tracer just built.

use std::process::Command;

use anyhow::{Result, bail};

use crate::command::{is_root, run};
use crate::setup::{self, Job};
use crate::{build, image, toolchain};

/// The end-to-end tests that run the container image (`cargo xtask image`).
const IMAGE_TESTS: [&str; 2] = [
    "image::a_daemonset_like_container_traces_a_pod_made_outside_it",
    "image::podman_kube_play_runs_the_daemonsets_pod_template_as_far_as_podman_goes",
];

/// The end-to-end module whose tests need the machine to themselves (they
/// count the tracer's wakeups, or time it after a quiet spell, which other
/// tests' pods fill): run after the others, one at a time.
const SOLO: &str = "solo::";

/// libtest's options that take the next argument as their value (`--skip X`).
const VALUED: [&str; 7] = [
    "--skip",
    "--test-threads",
    "--format",
    "--color",
    "--logfile",
    "--shuffle-seed",
    "-Z",
];

/// The harness `args` in pieces: an option with its value, if it takes
/// one as the next argument (`--skip X`), or a test filter alone.
fn pieces(args: &[String]) -> Vec<&[String]> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < args.len() {
        let n = if VALUED.contains(&args[i].as_str()) {
            2
        } else {
            1
        };
        let end = (i + n).min(args.len());
        out.push(&args[i..end]);
        i = end;
    }
    out
}

/// The test filters among the harness `args`: neither an option nor an
/// option's value.
fn filters(args: &[String]) -> Vec<&str> {
    pieces(args)
        .into_iter()
        .map(|p| p[0].as_str())
        .filter(|a| !a.starts_with('-'))
        .collect()
}

/// The harness runs for `args`: with no test named, everything but
/// [`SOLO`], then [`SOLO`] one test at a time (whatever `--test-threads`
/// said); else `args` as given.
fn phases(args: &[String]) -> Vec<Vec<String>> {
    if !filters(args).is_empty() {
        return vec![args.to_vec()];
    }
    let mut rest = args.to_vec();
    rest.extend(["--skip", SOLO].map(String::from));
    let mut solo: Vec<String> = pieces(args)
        .into_iter()
        .filter(|p| p[0] != "--test-threads" && !p[0].starts_with("--test-threads="))
        .flatten()
        .cloned()
        .collect();
    solo.extend([SOLO, "--test-threads=1"].map(String::from));
    vec![rest, solo]
}

/// Whether the harness `args` may select an image test (libtest runs the
/// tests whose path contains a filter): the image costs a static build.
fn image_tests_selected(args: &[String]) -> bool {
    let filters = filters(args);
    filters.is_empty()
        || filters
            .iter()
            .any(|f| IMAGE_TESTS.iter().any(|t| t.contains(f)))
}

pub fn run_tests(unit_only: bool, args: &[String]) -> Result<()> {
    setup::ensure(if unit_only { Job::Build } else { Job::Test })?;
    let obj = build::ebpf()?;
    run(build::cargo(&obj).args(["test", "--workspace", "--exclude", "tracer-tests"]))?;
    if unit_only {
        return Ok(());
    }
    let bin = build::tracer(&obj)?;
    let image = if image_tests_selected(args) {
        Some(image::image()?)
    } else {
        None
    };
    if !is_root() && Command::new("sudo").arg("-n").arg("true").status().is_err() {
        bail!("the end-to-end tests need root: run `cargo xtask test` as root or install sudo");
    }
    // Build as the user, run the test binaries as root.
    for phase in phases(args) {
        let mut c = build::cargo(&obj);
        c.args(["test", "--release", "--package", "tracer-tests", "--"])
            .args(&phase)
            .env("TRACER_BIN", &bin);
        if let Some(image) = &image {
            c.env("TRACER_IMAGE", image);
        }
        if !is_root() {
            c.env(
                format!("CARGO_TARGET_{}_RUNNER", toolchain::host_triple_env()?),
                "sudo -E",
            );
        }
        run(&mut c)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_solo_tests_run_last_and_alone_unless_tests_are_named() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            phases(&a(&[])),
            [a(&["--skip", "solo::"]), a(&["solo::", "--test-threads=1"])]
        );
        assert_eq!(
            phases(&a(&["--nocapture"])),
            [
                a(&["--nocapture", "--skip", "solo::"]),
                a(&["--nocapture", "solo::", "--test-threads=1"])
            ]
        );
        assert_eq!(
            phases(&a(&["podman", "--nocapture"])),
            [a(&["podman", "--nocapture"])]
        );
        // An option's value is no test's name.
        assert_eq!(
            phases(&a(&["--skip", "podman"])),
            [
                a(&["--skip", "podman", "--skip", "solo::"]),
                a(&["--skip", "podman", "solo::", "--test-threads=1"])
            ]
        );
        // The solo phase runs one test at a time, whatever was asked.
        assert_eq!(
            phases(&a(&["--test-threads", "4"]))[1],
            a(&["solo::", "--test-threads=1"])
        );
        assert_eq!(
            phases(&a(&["--test-threads=4", "--nocapture"]))[1],
            a(&["--nocapture", "solo::", "--test-threads=1"])
        );
    }

    #[test]
    fn the_image_is_built_only_when_its_tests_may_run() {
        let a = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(image_tests_selected(&a(&[])));
        assert!(image_tests_selected(&a(&["--nocapture"])));
        assert!(image_tests_selected(&a(&["image"])));
        assert!(image_tests_selected(&a(&["image::a_daemonset"])));
        assert!(image_tests_selected(&a(&["podman_kube_play"])));
        assert!(!image_tests_selected(&a(&["timeline"])));
        assert!(!image_tests_selected(&a(&["podman_pods", "--nocapture"])));
        assert!(image_tests_selected(&a(&["--skip", "timeline"])));
    }
}
