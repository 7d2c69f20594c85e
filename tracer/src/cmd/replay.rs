//! `tracer report FILE`: rebuild the report of a recorded run, offline
//! and without root, through the same pipeline a live run uses.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::decode::decode;
use crate::model::{Model, Note};
use crate::pipeline::{Output, Pipeline, Source, View};
use crate::record::{Frame, Reader};
use crate::render::{Format, renderer};
use crate::stats::Stats;

/// Replay `path`; the report goes to stdout, or to the file `to`.
pub fn run(
    path: &Path,
    format: Format,
    to: Option<&Path>,
    lenient: bool,
    retention: Duration,
) -> Result<()> {
    let name = path.display().to_string();
    let file = File::open(path).with_context(|| format!("cannot open {name}"))?;
    let (header, mut reader) =
        Reader::open(BufReader::with_capacity(1 << 20, file)).with_context(|| name.clone())?;
    let mut model = Model::new();
    model.retention_ns = retention.as_nanos().try_into().unwrap_or(u64::MAX);
    model.seed(&header.snapshot, &header.host_ns(), header.started_boot_ns);
    let clock = header.clock();
    let out = Output {
        render: renderer(format, clock),
        sink: BufWriter::with_capacity(1 << 16, sink(to)?),
        view: View::Quiet,
    };
    let source = Source {
        clock,
        supported: header.supported_ns,
        live: false,
    };
    let mut pipeline: Pipeline<_, std::io::Sink> = Pipeline::new(model, source, out, None);

    let problem = loop {
        let at = reader.offset();
        let frame = match reader.next_frame() {
            Ok(Some(f)) => f,
            Ok(None) => break (!reader.ended()).then(|| {
                format!(
                    "{name}: ends at byte {at} without its end frame: the recording was cut short"
                )
            }),
            Err(e) => break Some(format!("{name}: {e}")),
        };
        match frame {
            Frame::Event(bytes) => {
                if let Err(e) = decode(&bytes) {
                    break Some(format!("{name}: byte {}: undecodable event: {e}", at + 8));
                }
                pipeline.event(&bytes)?;
            }
            Frame::Note(bytes) => match serde_json::from_slice::<Note>(&bytes) {
                Ok(n) => pipeline.note(&n)?,
                Err(e) => break Some(format!("{name}: byte {}: bad note: {e}", at + 8)),
            },
            Frame::End(bytes) => {
                // The live run's final counters: drops are part of the report.
                if let Ok(st) = serde_json::from_slice::<Stats>(&bytes) {
                    pipeline.set_kernel_stats(st.kernel);
                }
            }
        }
    };
    if let Some(p) = problem {
        if !lenient {
            bail!("{p} (--lenient reports what came before)");
        }
        eprintln!("tracer: warning: {p}; reporting what came before");
    }
    pipeline.finish(&[])?;
    if let Some(to) = to {
        eprintln!("tracer: wrote {}", to.display());
    }
    Ok(())
}

fn sink(to: Option<&Path>) -> Result<Box<dyn Write>> {
    Ok(match to {
        Some(p) => {
            Box::new(File::create(p).with_context(|| format!("cannot create {}", p.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    })
}
