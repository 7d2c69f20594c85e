//! Everything read from /proc and /sys.

pub mod cgroup;
pub mod pins;
pub mod proc;
