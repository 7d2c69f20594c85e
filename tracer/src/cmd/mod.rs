//! One module per command.

pub mod bench_recording;
pub mod replay;
pub mod watch;
