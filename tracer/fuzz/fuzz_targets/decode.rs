//! Any byte string as one kernel record: decoded (bounds-checked, never a
//! panic) and, when it decodes, rendered as a raw event in both formats.

#![no_main]

use libfuzzer_sys::fuzz_target;
use tracer::clock::Clock;
use tracer::decode::{Unread, decode};
use tracer::render::{Format, renderer};

fuzz_target!(|data: &[u8]| {
    let Ok(ev) = decode(data) else { return };
    let clock = Clock {
        realtime_minus_boottime_ns: 1_700_000_000_000_000_000,
    };
    for format in [Format::Text, Format::Json] {
        let mut r = renderer::<std::io::Sink>(format, clock);
        let _ = r.event(&mut std::io::sink(), &ev, Unread::of(&ev, u32::MAX));
    }
});
