//! The kernel side, seen from userspace: BTF offsets, pre-flight checks,
//! load and attach, the start-up self-test, and the kernel's counters.

pub mod btf;
pub mod counters;
pub mod loader;
pub mod selftest;
pub mod tracefs;
pub mod wake_slot;

pub use loader::{Info, Loaded, Options, load};
