//! Temporary entry for the containerd-over-CRI end-to-end test until the
//! one e2e crate (`tests/tests/e2e/main.rs`) takes its files: run with
//! `cargo xtask test -- containerd` (root; builds the tracer first).

mod common;

#[path = "e2e/support/containerd.rs"]
pub mod support_containerd;
#[path = "e2e/support/cri.rs"]
pub mod support_cri;

/// The layout the e2e crate will have: `crate::support::{containerd, cri}`.
mod support {
    pub use super::support_containerd as containerd;
    pub use super::support_cri as cri;
}

#[path = "e2e/containerd.rs"]
mod containerd;
