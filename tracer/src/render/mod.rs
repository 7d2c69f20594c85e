//! Output formats.

mod raw;

pub use raw::*;
