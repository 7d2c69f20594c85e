//! `tracer`: a pod sandbox lifecycle tracer for Kubernetes nodes, as a
//! library of stages (the `tracer` binary is its command line).
//!
//! One event's way, folder by folder:
//!
//! ```text
//! kernel/    load and attach the eBPF programs (BTF offsets, self-test)
//!    │ ring buffer bytes (or a recording's frames, record.rs)
//! pipeline/  the spine: for each record …
//!    ├─ decode/   bytes → Event (pure, bounds-checked)
//!    ├─ model/    Event → namespaces, sandboxes, containers; Lifecycle steps
//!    ├─ host/     /proc and /sys: start-up walk, cgroups, pins (enrichment)
//!    ├─ report/   Lifecycle → Step; at the end, Model → Report (+ anomalies)
//!    └─ render/   Event, Step, Report → text or JSON lines (one trait)
//! metrics/   `--metrics`: OpenMetrics counters fed by the pipeline, served over HTTP
//! cmd/       watch, record, replay (`tracer report`), bench-recording
//! testkit/   events and runtime scenarios made by hand (tests, benches)
//! ```
//!
//! Renderers see only decoded events, [`report::Step`]s and the
//! [`report::Report`], never the model; what /proc tells is read by
//! `host` and enters the model as notes before a step leaves the pipeline.

#![deny(clippy::undocumented_unsafe_blocks)]

pub mod clock;
pub mod cmd;
pub mod decode;
pub mod host;
pub mod kernel;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod record;
pub mod render;
pub mod report;
pub mod stats;
pub mod testkit;
