//! Events made by hand, for tests, benches and synthetic recordings.

pub mod make;
mod samples;

pub use samples::{numbered, samples};
