//! The pod-level view: lifecycle steps and the report.

mod build;

pub use build::*;
