//! What the end-to-end crate's workload binaries and its tests share: the
//! ground truth `ns-workload` prints, one type used by both sides, so the
//! report written and the report read cannot drift apart.

pub mod workload;
