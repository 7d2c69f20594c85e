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

/// The harness runs for `args`: with no test named, everything but
/// [`SOLO`], then [`SOLO`] one test at a time; else `args` as given.
fn phases(args: &[String]) -> Vec<Vec<String>> {
    if args.iter().any(|a| !a.starts_with('-')) {
        return vec![args.to_vec()];
    }
    let with = |extra: &[&str]| {
        let mut v = args.to_vec();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    vec![with(&["--skip", SOLO]), with(&[SOLO, "--test-threads=1"])]
}

/// Whether the harness `args` may select an image test (libtest runs the
/// tests whose path contains a filter): the image costs a static build.
fn image_tests_selected(args: &[String]) -> bool {
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    filters.is_empty()
        || filters
            .iter()
            .any(|f| IMAGE_TESTS.iter().any(|t| t.contains(f.as_str())))
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
    }
}
