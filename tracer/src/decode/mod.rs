//! Kernel records → typed events.

pub mod event;
pub mod flags;

pub use event::*;
