//! One module per command: `watch` (the default), `record` (watch and
//! write a recording), `replay` (`tracer report FILE`), `bench_recording`
//! (hidden: a synthetic recording for the replay benchmark).

pub mod bench_recording;
pub mod record;
pub mod replay;
mod ticker;
pub mod watch;
