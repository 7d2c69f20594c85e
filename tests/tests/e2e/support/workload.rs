//! Run `ns-workload` (this crate's binary) and read its ground truth;
//! and `unshare FLAG true`, the smallest namespace change.

use std::process::Command;

use serde::de::DeserializeOwned;
use tracer_tests::workload::{Changes, Clones, HandMadePod, Migrate, Steps};

fn run<T: DeserializeOwned>(args: &[&str]) -> T {
    let out = Command::new(env!("CARGO_BIN_EXE_ns-workload"))
        .args(args)
        .output()
        .expect("run the workload");
    assert!(
        out.status.success(),
        "workload failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "workload report ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

/// Clone, unshare, setns, exec, exit: what it did, step by step.
pub fn steps() -> Steps {
    run(&[])
}

/// A pause and two containers made by hand.
pub fn hand_made_pod() -> HandMadePod {
    run(&["pod"])
}

/// clone3, a refused clone, nested pid namespaces.
pub fn clones() -> Clones {
    run(&["clones"])
}

/// A thread's unshares while it is moved between CPUs.
pub fn migrate() -> Migrate {
    run(&["migrate"])
}

/// unshare and setns of every shape, with /proc's namespaces around each.
pub fn changes() -> Changes {
    run(&["changes"])
}

/// `unshare FLAG true` (util-linux), e.g. `-n`; its pid once it exited.
pub fn unshare_true(flag: &str) -> u32 {
    let mut c = Command::new("unshare")
        .args([flag, "true"])
        .spawn()
        .expect("run unshare (util-linux)");
    let pid = c.id();
    assert!(c.wait().expect("wait for unshare").success());
    pid
}
