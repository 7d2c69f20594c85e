//! What the end-to-end modules share, compiled once: the tracer runner and
//! its typed JSON, the workloads' ground truth, runtime drivers with their
//! own ground truth, clocks, /proc readers, a cross-process lock.
//!
//! A new runtime harness is one more module here (`pub mod containerd;`)
//! beside `podman`; a new test module is one `mod` line in `main.rs`.

pub mod checks;
pub mod clock;
pub mod containerd;
pub mod cri;
pub mod crio_pod;
pub mod docker;
pub mod host;
pub mod json;
pub mod lock;
pub mod netns;
pub mod pins;
pub mod pod_json;
pub mod podman;
pub mod procfs;
pub mod recording;
pub mod rootfs;
pub mod runc;
pub mod tracer;
pub mod workload;

use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

/// A name no other process or test uses: `PREFIX-<pid>-<n>-<time>` (pods,
/// containers, files: tests of other checkouts may run at the same time).
pub fn unique_name(prefix: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let t = clock::now_unix_ns() / 1_000_000 % 1_000_000;
    format!("{prefix}-{}-{n}-{t}", std::process::id())
}

/// A directory under cargo's target/tmp shared by every test process of
/// this checkout (made if missing): a harness's configuration, locks, scratch.
pub fn shared_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    fs::create_dir_all(&d).unwrap_or_else(|e| panic!("create {}: {e}", d.display()));
    d
}
