//! Kernel events made by hand, and the runtimes' ways of making pods as
//! sequences of them: one set of scenarios for the model's tests, the
//! report's tests, the pipeline bench and synthetic recordings.
//!
//! Compiled into the library (not only under `cfg(test)`): the hidden
//! `tracer bench-recording` command and `benches/` use it. Nothing on the
//! event path calls it.

mod cause;
mod driver;
pub mod make;
mod runtime;
mod samples;
mod spaces;
pub mod synthetic;
pub mod visitors;

pub use cause::cause_samples;
pub use driver::{Driver, Fed, MountTables, snapshot};
pub use make::Maker;
pub use runtime::{
    APP, CLONE_PARENT, Feed, PAUSE_NS, POD, SIGCHLD, app_container, app_ns, docker_container,
    podman_pause, runc, runc_pause, runtime_makes_netns, runtime_pins_netns,
};
pub use samples::{mount_samples, numbered, samples};
pub use spaces::{HOST, Spaces};
