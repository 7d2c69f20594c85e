//! `tracer`: a pod sandbox lifecycle tracer for Kubernetes nodes.
//!
//! Pipeline: `kernel` (BTF offsets, load, attach) → ring buffer →
//! `pipeline` (decode → `model` → enrich from `host`) → `report` / `render`,
//! driven live by `cmd::watch` or from a file by `cmd::replay` (`record` format).

pub mod clock;
pub mod cmd;
pub mod decode;
pub mod host;
pub mod kernel;
pub mod model;
pub mod pipeline;
pub mod record;
pub mod render;
pub mod report;
pub mod stats;
pub mod testkit;
