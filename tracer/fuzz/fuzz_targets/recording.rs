//! Any byte string as a recording, through `tracer report` as a user runs
//! it — strictly, then leniently (damaged frames skipped), in both formats:
//! no panic, no hang, no allocation beyond the reader's bounds.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use tracer::cmd::replay::{Options, replay};
use tracer::render::Format;

fuzz_target!(|data: &[u8]| {
    for (lenient, format) in [(false, Format::Json), (true, Format::Text)] {
        let opts = Options {
            format,
            lenient,
            retention: Duration::from_secs(300),
        };
        let _ = replay("fuzz", data, std::io::sink(), opts, &mut |_| {});
    }
});
