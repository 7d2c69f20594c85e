//! `tracer report FILE`: rebuild the report of a recorded run, offline
//! and without root, through the same pipeline a live run uses.
//!
//! Replay equals live: an undecodable record is counted and reported
//! (`decode_error`) and the replay goes on. A damaged frame or a run cut
//! short is an error naming its byte; with `--lenient`, damaged frames are
//! skipped and counted, and what the file holds is reported.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::model::{Model, Note};
use crate::pipeline::{Output, Pipeline, Source, View};
use crate::record::{Frame, Reader, RecordError, Skipped};
use crate::render::{Format, renderer};
use crate::stats::Stats;

/// Open a recording; anything but a regular file is refused at once (a
/// FIFO or a terminal would block, a device would never end).
pub fn open(path: &Path) -> Result<File> {
    let name = path.display();
    // Non-blocking: opening a FIFO without a writer would wait forever.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .with_context(|| format!("cannot open {name}"))?;
    let t = file
        .metadata()
        .with_context(|| format!("cannot stat {name}"))?
        .file_type();
    if !t.is_file() {
        let what = if t.is_dir() {
            "a directory"
        } else if t.is_fifo() {
            "a FIFO"
        } else if t.is_char_device() || t.is_block_device() {
            "a device"
        } else if t.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        };
        bail!(
            "{name} is {what}: `tracer report` reads recordings from regular files (save a stream to a file first)"
        );
    }
    Ok(file)
}

/// The frames of a recording, with what was wrong with it: damaged frames
/// stepped over (lenient) and the first problem.
struct Frames<R: Read> {
    name: String,
    reader: Reader<R>,
    lenient: bool,
    skipped: Skipped,
    /// The first damage seen (lenient: the frames were skipped).
    first_damage: Option<String>,
}

impl<R: Read> Frames<R> {
    /// The next frame; `Ok(None)` at the end of what can be read, with
    /// the reason it stopped early (or a fatal error) as `Err`.
    fn next(&mut self) -> Result<Option<Frame>, String> {
        loop {
            let err = match self.reader.next_frame() {
                Ok(Some(f)) => return Ok(Some(f)),
                Ok(None) if self.reader.ended() => return Ok(None),
                Ok(None) => {
                    return Err(format!(
                        "{}: ends at byte {} without its end frame: the recording was cut short",
                        self.name,
                        self.reader.offset()
                    ));
                }
                Err(e) => e,
            };
            let text = format!("{}: {err}", self.name);
            let damage = matches!(err, RecordError::At { .. });
            if !(self.lenient && damage && self.reader.can_skip()) {
                return Err(text);
            }
            if self.first_damage.is_none() {
                self.first_damage = Some(text);
            }
            self.skipped.frames += 1;
            match self.reader.skip_damage() {
                Ok(n) => self.skipped.bytes += n,
                Err(e) => return Err(format!("{}: {e}", self.name)),
            }
        }
    }
}

pub fn run(path: &Path, format: Format, lenient: bool, retention: Duration) -> Result<()> {
    let name = path.display().to_string();
    let file = open(path)?;
    let (header, reader, header_damage) =
        Reader::open_lenient(std::io::BufReader::with_capacity(1 << 20, file))
            .with_context(|| name.clone())?;
    if let Some(e) = header_damage {
        if !lenient {
            bail!("{name}: {e} (--lenient reports what it holds)");
        }
        eprintln!("tracer: warning: {name}: {e}; reading it anyway");
    }
    let mut model = Model::new();
    model.retention_ns = retention.as_nanos().try_into().unwrap_or(u64::MAX);
    model.seed(&header.snapshot, &header.host_ns(), header.started_boot_ns);
    let clock = header.clock();
    let out = Output {
        render: renderer(format, clock),
        sink: BufWriter::with_capacity(1 << 16, std::io::stdout().lock()),
        view: View::Quiet,
    };
    let source = Source {
        clock,
        supported: header.supported_ns,
        live: false,
    };
    let mut pipeline: Pipeline<_, std::io::Sink> = Pipeline::new(model, source, out, None);
    let mut frames = Frames {
        name: name.clone(),
        reader,
        lenient,
        skipped: Skipped::default(),
        first_damage: None,
    };
    let mut bad_notes = 0u64;

    let problem = loop {
        let at = frames.reader.offset();
        let frame = match frames.next() {
            Ok(Some(f)) => f,
            Ok(None) => break None,
            Err(p) => break Some(p),
        };
        match frame {
            // Undecodable records are counted and reported, as live.
            Frame::Event(bytes) => pipeline.event(&bytes)?,
            Frame::Note(bytes) => match serde_json::from_slice::<Note>(&bytes) {
                Ok(n) => pipeline.note(&n)?,
                Err(e) if lenient => {
                    bad_notes += 1;
                    if bad_notes == 1 {
                        eprintln!(
                            "tracer: warning: {name}: byte {at}: a note this tracer cannot read ({e}): skipped"
                        );
                    }
                }
                Err(e) => break Some(format!("{name}: byte {at}: bad note: {e}")),
            },
            Frame::End(bytes) => {
                // The live run's final counters: drops are part of the report.
                if let Ok(st) = serde_json::from_slice::<Stats>(&bytes) {
                    pipeline.set_kernel_stats(st.kernel);
                }
            }
        }
    };
    let Skipped {
        frames: skipped,
        bytes,
    } = frames.skipped;
    if skipped > 0
        && let Some(first) = &frames.first_damage
    {
        eprintln!(
            "tracer: warning: {skipped} damaged frame(s) ({bytes} bytes) skipped; the first: {first}"
        );
    }
    if bad_notes > 1 {
        eprintln!("tracer: warning: {bad_notes} unreadable notes skipped in all");
    }
    if let Some(p) = problem {
        if !lenient {
            bail!("{p} (--lenient reports what came before)");
        }
        eprintln!("tracer: warning: {p}; reporting what came before");
    }
    pipeline.finish(&[])?;
    Ok(())
}
