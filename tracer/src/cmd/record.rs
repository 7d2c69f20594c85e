//! `tracer record -o FILE`: a live run (see [`super::watch`]) that also
//! writes everything it fed its model to a recording.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use anyhow::{Context, Result};
use tracer_common::NsSet;

use crate::host::proc::ProcSnapshot;
use crate::host::system;
use crate::pipeline::Source;
use crate::record::{ByteOrder, Header, Writer};

pub type Recorder = Writer<BufWriter<File>>;

/// Create the file before anything is loaded: a bad path fails fast.
pub fn create(path: &Path) -> Result<File> {
    File::create(path).with_context(|| format!("cannot create the recording {}", path.display()))
}

/// Start the recording: the header with this host's identity and the
/// state at start (`snapshot`, the host's namespaces).
pub fn start(
    file: File,
    kernel: &str,
    source: &Source,
    started_boot_ns: u64,
    host: &NsSet,
    snapshot: Vec<ProcSnapshot>,
) -> Result<Recorder> {
    let header = Header {
        tool_version: env!("CARGO_PKG_VERSION").into(),
        byte_order: ByteOrder::NATIVE,
        kernel: kernel.into(),
        host: system::hostname(),
        boot_id: system::boot_id(),
        realtime_minus_boottime_ns: source.clock.realtime_minus_boottime_ns,
        started_boot_ns,
        supported_ns: source.supported,
        host_ns_inum: host.inum,
        host_ns_id: host.id,
        snapshot,
    };
    Writer::new(BufWriter::with_capacity(1 << 20, file), &header).context("writing the recording")
}
