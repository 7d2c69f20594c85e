//! `tracer bench-recording` (hidden): a synthetic recording for the replay
//! benchmark — the pods of [`crate::testkit::synthetic`], made the way runc and
//! podman make them.

use std::fs::File;
use std::path::Path;

use anyhow::{Context, Result};
use tracer_common::NS_COUNT;

use crate::decode::{Event, encode};
use crate::record::{self, Writer};
use crate::stats::Stats;
use crate::testkit::{Feed, HOST, Maker, synthetic};

/// Writes each event as a frame; the first error stops the writing.
struct ToFile {
    make: Maker,
    out: Writer<File>,
    written: u64,
}

impl Feed for ToFile {
    fn maker(&mut self) -> &mut Maker {
        &mut self.make
    }

    fn feed(&mut self, ev: Event) {
        self.out.event(&encode(&ev));
        self.written += 1;
    }
}

/// Write a recording of `load`; returns how many events it holds.
pub fn write(path: &Path, load: synthetic::Workload) -> Result<u64> {
    let file = super::private_file(path)?;
    let h = HOST.set();
    let header = record::Header {
        tool_version: env!("CARGO_PKG_VERSION").into(),
        byte_order: record::ByteOrder::NATIVE,
        kernel: "synthetic".into(),
        host: "synthetic".into(),
        boot_id: "synthetic".into(),
        realtime_minus_boottime_ns: 1_700_000_000_000_000_000,
        started_boot_ns: 1,
        supported_ns: (1 << NS_COUNT) - 1,
        host_ns_inum: h.inum,
        host_ns_id: h.id,
        snapshot: Vec::new(),
    };
    let mut w = ToFile {
        // 1 ms apart: a million events span a quarter of an hour, like a busy node.
        make: Maker::new(1_000, 1_000_000),
        out: Writer::new(file, &header),
        written: 0,
    };
    synthetic::run(&mut w, load);
    let written = w.written;
    w.out
        .end(&Stats {
            events: written,
            ..Default::default()
        })
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(written)
}
