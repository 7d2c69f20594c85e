//! The kernel side seen from userspace: BTF offsets, load and attach, self-test.

pub mod btf;
pub mod loader;
pub mod selftest;
