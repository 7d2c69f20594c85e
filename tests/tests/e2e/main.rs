//! End-to-end tests: the real eBPF programs on the running kernel, driven
//! by real workloads, checked against ground truth from /proc and from the
//! runtimes themselves. Root; run by `cargo xtask test` (which builds the
//! tracer and passes it in `TRACER_BIN`).
//!
//! One crate, one module per area; the shared harness is in `support/`,
//! compiled once. A new area is a module here and one `mod` line below.

mod support;

mod containerd;
mod cri_names;
mod crio;
mod docker;
mod ground_truth;
mod holders;
mod image;
mod metrics;
mod pipeline;
mod pod_deaths;
mod podman_harness;
mod podman_pods;
mod reliability;
mod running_at_start;
mod sandbox;
mod solo;
mod timeline;
mod userns_pods;
