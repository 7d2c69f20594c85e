//! `tracer report FILE`: rebuild the report of a recorded run, offline
//! and without root, through the same pipeline a live run uses.
//!
//! Replay equals live: an undecodable record is counted and reported
//! (`decode_error`) and the replay goes on. A damaged frame or a run cut
//! short is an error naming its byte; with `--lenient`, damaged frames are
//! skipped and counted, and what the file holds is reported.

use std::convert::Infallible;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::Path;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::model::{Model, Note};
use crate::pipeline::{Output, Pipeline, Source, View};
use crate::record::{FrameKind, Reader, RecordError, Skipped};
use crate::render::{Format, renderer};
use crate::report::Selector;
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
    /// The next frame (its payload: `self.reader.payload()`); `Ok(None)`
    /// at the end of what can be read, with the reason it stopped early
    /// (or a fatal error) as `Err`.
    fn next(&mut self) -> Result<Option<FrameKind>, String> {
        loop {
            let err = match self.reader.next_kind() {
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

/// Frames as the reading thread hands them over: their payloads one
/// after another, and each frame's kind, byte offset in the file and
/// payload end in `bytes`.
#[derive(Default)]
struct Batch {
    bytes: Vec<u8>,
    frames: Vec<(FrameKind, u64, usize)>,
}

/// Payload bytes per batch, and batches read ahead: about 1 MiB in flight.
const BATCH_BYTES: usize = 256 << 10;
const BATCHES_AHEAD: usize = 4;

/// Where reading stopped: the problem there (none at a clean end, or
/// when the replay stopped taking frames), and what it skipped.
struct ReadEnd {
    problem: Option<String>,
    skipped: Skipped,
    first_damage: Option<String>,
}

impl<R: Read> Frames<R> {
    /// Hand every frame to `take` (its kind, byte offset and payload)
    /// until the end, a problem, or `take` says to stop (`false`).
    fn each<E>(
        mut self,
        mut take: impl FnMut(FrameKind, u64, &[u8]) -> Result<bool, E>,
    ) -> Result<ReadEnd, E> {
        let problem = loop {
            let at = self.reader.offset();
            match self.next() {
                Ok(Some(kind)) => {
                    if !take(kind, at, self.reader.payload())? {
                        break None;
                    }
                }
                Ok(None) => break None,
                Err(p) => break Some(p),
            }
        };
        Ok(ReadEnd {
            problem,
            skipped: self.skipped,
            first_damage: self.first_damage,
        })
    }

    /// Read every frame into batches of `batch_bytes` sent to `to`
    /// (emptied ones come back on `back` for reuse), until the end, a
    /// problem, or `to`'s receiver is gone.
    fn send_all(self, batch_bytes: usize, to: SyncSender<Batch>, back: Receiver<Batch>) -> ReadEnd {
        let mut batch = Batch::default();
        let Ok(end) = self.each(|kind, at, payload| -> Result<bool, Infallible> {
            batch.bytes.extend_from_slice(payload);
            batch.frames.push((kind, at, batch.bytes.len()));
            if batch.bytes.len() < batch_bytes {
                return Ok(true);
            }
            let next = back.try_recv().unwrap_or_default();
            Ok(to.send(std::mem::replace(&mut batch, next)).is_ok())
        });
        if !batch.frames.is_empty() {
            let _ = to.send(batch);
        }
        end
    }
}

/// How frames reach the decoder and the model.
#[derive(Clone, Copy, Debug)]
enum Reading {
    /// Read by this thread between frames: on one CPU, a reading thread
    /// only adds a copy of every byte and a switch per batch (7 % more
    /// CPU for the bench's recording).
    Inline,
    /// Read ahead on a thread of its own, in batches of this many payload
    /// bytes. Reading, framing and checksums are a seventh of a replay's
    /// work: with a second CPU they run beside the decoding and the model.
    Ahead(usize),
}

impl Reading {
    /// Ahead where this process may use more than one CPU.
    fn for_this_machine() -> Reading {
        match std::thread::available_parallelism() {
            Ok(n) if n.get() > 1 => Reading::Ahead(BATCH_BYTES),
            _ => Reading::Inline,
        }
    }
}

/// How to replay.
#[derive(Clone, Debug)]
pub struct Options {
    pub format: Format,
    /// Where the report goes: a file (`--html`, `--perfetto`), else stdout.
    pub to: Option<PathBuf>,
    /// Every event first, as the live raw view shows it.
    pub raw: bool,
    /// Report what a damaged or cut-short recording holds instead of failing.
    pub lenient: bool,
    pub retention: Duration,
    /// Tell that story (`--pod`, `--netns`) instead of the report.
    pub focus: Option<Selector>,
}

pub fn run(path: &Path, opts: Options) -> Result<()> {
    let name = path.display().to_string();
    // The reader buffers (large reads, each byte copied once).
    let input = open(path)?;
    let out = BufWriter::with_capacity(1 << 16, sink(opts.to.as_deref())?);
    replay(&name, input, out, opts, &mut |w| {
        eprintln!("tracer: warning: {w}")
    })
}

/// Replay the recording `input` (named `name` in messages) into `out`;
/// each warning goes to `warn` (a lenient replay goes on after them).
pub fn replay<R: Read + Send, W: Write>(
    name: &str,
    input: R,
    out: W,
    opts: Options,
    warn: &mut dyn FnMut(String),
) -> Result<()> {
    let replayed = replay_reading(name, input, out, opts, warn, Reading::for_this_machine());
    // A reader that went away (`tracer report F --raw | head`) ends the
    // replay quietly, as it ends a live run's output.
    match replayed {
        Err(e) if broken_pipe(&e) => Ok(()),
        r => r,
    }
}

fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// [`replay`], its frames read as `reading` says (tests check that it
/// changes nothing).
fn replay_reading<R: Read + Send, W: Write>(
    name: &str,
    input: R,
    out: W,
    opts: Options,
    warn: &mut dyn FnMut(String),
    reading: Reading,
) -> Result<()> {
    let lenient = opts.lenient;
    let to = opts.to.clone();
    let (header, reader, header_damage) =
        Reader::open_lenient(input).with_context(|| name.to_string())?;
    if let Some(e) = header_damage {
        if !lenient {
            bail!("{name}: {e} (--lenient reports what it holds)");
        }
        warn(format!("{name}: {e}; reading it anyway"));
    }
    if reader.version() < 2 {
        warn(format!(
            "{name}: format version {} has no checksums: damage in it cannot be told from data",
            reader.version()
        ));
    }
    let mut model = Model::new();
    model.retention_ns = opts.retention.as_nanos().try_into().unwrap_or(u64::MAX);
    model.seed(&header.snapshot, &header.host_ns(), header.started_boot_ns);
    let clock = header.clock();
    let out = Output {
        render: renderer(opts.format, clock),
        sink: out,
        view: if opts.raw { View::Raw } else { View::Quiet },
    };
    let source = Source {
        clock,
        supported: header.supported_ns,
        live: false,
    };
    let mut pipeline: Pipeline<_, std::io::Sink> = Pipeline::new(model, source, out, None);
    if let Some(sel) = opts.focus.clone() {
        pipeline.focus(sel);
    }
    let frames = Frames {
        name: name.to_string(),
        reader,
        lenient,
        skipped: Skipped::default(),
        first_damage: None,
    };
    let mut bad_notes = 0u64;
    let mut frame = |kind: FrameKind, at: u64, bytes: &[u8]| -> Result<Option<String>> {
        match kind {
            // Undecodable records are counted and reported, as live.
            FrameKind::Event => pipeline.event(bytes)?,
            FrameKind::Note => match serde_json::from_slice::<Note>(bytes) {
                Ok(n) => pipeline.note(&n)?,
                Err(e) if lenient => {
                    bad_notes += 1;
                    if bad_notes == 1 {
                        warn(format!(
                            "{name}: byte {at}: a note this tracer cannot read ({e}): skipped"
                        ));
                    }
                }
                Err(e) => return Ok(Some(format!("{name}: byte {at}: bad note: {e}"))),
            },
            FrameKind::End => {
                // The live run's final counters: drops are part of the report.
                if let Ok(st) = serde_json::from_slice::<Stats>(bytes) {
                    pipeline.set_kernel_stats(st.kernel);
                }
            }
        }
        Ok(None)
    };
    let mut stopped = None;
    let end = match reading {
        Reading::Inline => frames.each(|kind, at, payload| -> Result<bool> {
            stopped = frame(kind, at, payload)?;
            Ok(stopped.is_none())
        })?,
        Reading::Ahead(batch_bytes) => std::thread::scope(|s| -> Result<ReadEnd> {
            let (to, batches) = sync_channel::<Batch>(BATCHES_AHEAD);
            let (back, emptied) = std::sync::mpsc::channel();
            let reading = std::thread::Builder::new()
                .name("replay-read".into())
                .spawn_scoped(s, move || frames.send_all(batch_bytes, to, emptied))
                .context("cannot start the thread that reads the recording")?;
            'batches: for mut batch in batches.iter() {
                let mut start = 0;
                for &(kind, at, end) in &batch.frames {
                    stopped = frame(kind, at, &batch.bytes[start..end])?;
                    if stopped.is_some() {
                        break 'batches;
                    }
                    start = end;
                }
                batch.bytes.clear();
                batch.frames.clear();
                let _ = back.send(batch);
            }
            // Stops the reading thread if the replay stopped first.
            drop(batches);
            reading
                .join()
                .map_err(|_| anyhow::anyhow!("the thread reading {name} panicked"))
        })?,
    };
    // A problem met while replaying comes before any the reader met further on.
    let problem = stopped.or(end.problem);
    let Skipped {
        frames: skipped,
        bytes,
    } = end.skipped;
    if skipped > 0
        && let Some(first) = &end.first_damage
    {
        warn(format!(
            "{skipped} damaged frame(s) ({bytes} bytes) skipped; the first: {first}"
        ));
    }
    if bad_notes > 1 {
        warn(format!("{bad_notes} unreadable notes skipped in all"));
    }
    if let Some(p) = problem {
        if !lenient {
            bail!("{p} (--lenient reports what came before)");
        }
        warn(format!("{p}; reporting what came before"));
    }
    pipeline.finish(&[])?;
    if let Some(to) = &to {
        eprintln!("tracer: wrote {}", to.display());
    }
    Ok(())
}

/// The report's destination: the file `to` (see [`super::private_file`]), else stdout.
fn sink(to: Option<&Path>) -> Result<Box<dyn Write>> {
    Ok(match to {
        Some(p) => Box::new(super::private_file(p)?),
        None => Box::new(std::io::stdout().lock()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cmd::bench_recording;
    use crate::record::{Frame, Writer};
    use crate::testkit::synthetic::Workload;

    fn replayed(bytes: &[u8], lenient: bool) -> (Result<String>, Vec<String>) {
        replayed_in(bytes, lenient, Reading::Ahead(BATCH_BYTES))
    }

    fn replayed_in(bytes: &[u8], lenient: bool, reading: Reading) -> (Result<String>, Vec<String>) {
        let mut out = Vec::new();
        let mut warnings = Vec::new();
        let opts = Options {
            format: Format::Json,
            to: None,
            raw: false,
            lenient,
            retention: Duration::from_secs(3600),
            focus: None,
        };
        let r = replay_reading(
            "r.trace",
            bytes,
            &mut out,
            opts,
            &mut |w| warnings.push(w),
            reading,
        );
        (
            r.map(|()| String::from_utf8_lossy(&out).into_owned()),
            warnings,
        )
    }

    fn synthetic() -> Vec<u8> {
        synthetic_of(300)
    }

    fn synthetic_of(events: u64) -> Vec<u8> {
        let path = std::env::temp_dir().join(format!(
            "tracer-replay-{}-{}.trace",
            std::process::id(),
            crate::clock::boot_now_ns()
        ));
        let load = Workload {
            sandboxes: 3,
            events,
            live: 2,
        };
        bench_recording::write(&path, load).unwrap();
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(&path).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "a recording is private");
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        bytes
    }

    /// `bytes` written again frame by frame, `insert` called before each
    /// event (numbered from 1) to add frames of its own.
    fn rewritten(bytes: &[u8], mut insert: impl FnMut(&mut Writer<Vec<u8>>, u64)) -> Vec<u8> {
        let (header, mut r) = Reader::open(bytes).unwrap();
        let mut w = Writer::new(Vec::new(), &header);
        let mut n = 0;
        while let Some(f) = r.next_frame().unwrap() {
            match f {
                Frame::Event(b) => {
                    n += 1;
                    insert(&mut w, n);
                    w.event(&b);
                }
                Frame::Note(b) => w.note(&serde_json::from_slice::<serde_json::Value>(&b).unwrap()),
                Frame::End(_) => {}
            }
        }
        w.end(&Stats::default()).unwrap()
    }

    /// Output whose reader went away (`| head`) stops the replay without
    /// an error; another failed write is one.
    #[test]
    fn a_reader_that_went_away_ends_the_replay_quietly() {
        struct Failing(std::io::ErrorKind);
        impl Write for Failing {
            fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
                Err(self.0.into())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let bytes = synthetic();
        let opts = |raw| Options {
            format: Format::Json,
            to: None,
            raw,
            lenient: false,
            retention: Duration::from_secs(3600),
            focus: None,
        };
        for raw in [false, true] {
            let gone = Failing(std::io::ErrorKind::BrokenPipe);
            replay("r.trace", &bytes[..], gone, opts(raw), &mut |_| {}).unwrap();
            let full = Failing(std::io::ErrorKind::StorageFull);
            let r = replay("r.trace", &bytes[..], full, opts(raw), &mut |_| {});
            assert!(r.is_err(), "raw {raw}");
        }
    }

    /// A live run counts a record it cannot decode and goes on; so does
    /// a replay (it used to stop there).
    #[test]
    fn an_undecodable_record_is_counted_and_the_replay_goes_on() {
        let good = synthetic();
        let with_junk = rewritten(&good, |w, n| {
            if n == 10 {
                w.event(&[0xff; 7]); // no record of ours
            }
        });
        let (out, warnings) = replayed(&with_junk, false);
        let out = out.unwrap();
        assert!(warnings.is_empty(), "{warnings:?}");
        assert!(out.contains("\"type\":\"decode_error\""), "{out}");
        assert!(out.contains("\"decode_errors\":1"), "{out}");
        // The same report as without the junk, but for the counters.
        let (clean, _) = replayed(&good, false);
        let sandboxes = |s: &str| {
            s.lines()
                .find(|l| l.contains("\"type\":\"report\""))
                .map(|l| l[..l.find("\"stats\"").unwrap_or(l.len())].to_string())
        };
        assert_eq!(sandboxes(&out), sandboxes(&clean.unwrap()));
    }

    #[test]
    fn a_damaged_frame_is_named_strictly_and_skipped_leniently() {
        let mut bytes = synthetic();
        let at = bytes.len() / 2;
        bytes[at] ^= 0x20;
        let (strict, _) = replayed(&bytes, false);
        let e = format!("{:#}", strict.unwrap_err());
        assert!(
            e.contains("r.trace: byte ") && e.contains("--lenient"),
            "{e}"
        );
        let (lenient, warnings) = replayed(&bytes, true);
        assert!(lenient.unwrap().contains("\"type\":\"report\""));
        assert!(
            warnings.iter().any(|w| w.starts_with("1 damaged frame(s)")),
            "{warnings:?}"
        );
    }

    /// Replays of `bytes` with frames read inline, and ahead in batches
    /// of a frame, of 4 KiB and of the usual size: the same report, error
    /// and warnings.
    fn same_in_every_batch_size(bytes: &[u8], lenient: bool) -> (Result<String>, Vec<String>) {
        let flat = |(r, w): (Result<String>, Vec<String>)| (r.map_err(|e| format!("{e:#}")), w);
        let usual = flat(replayed(bytes, lenient));
        for reading in [Reading::Inline, Reading::Ahead(1), Reading::Ahead(4096)] {
            assert_eq!(
                flat(replayed_in(bytes, lenient, reading)),
                usual,
                "{reading:?}"
            );
        }
        (usual.0.map_err(|e| anyhow::anyhow!(e)), usual.1)
    }

    /// The reading thread hands frames over in batches: a recording of
    /// many batches, whole, damaged or cut short, replays as one would.
    #[test]
    fn frames_read_ahead_in_batches_replay_as_read_one_by_one() {
        let good = synthetic_of(3000);
        assert!(
            good.len() > 4 * 4096,
            "{} bytes: too few batches",
            good.len()
        );
        let (out, warnings) = same_in_every_batch_size(&good, false);
        assert!(out.unwrap().contains("\"type\":\"report\""));
        assert!(warnings.is_empty(), "{warnings:?}");

        let mut damaged = good.clone();
        let at = damaged.len() * 3 / 4;
        damaged[at] ^= 0x20;
        let (strict, _) = same_in_every_batch_size(&damaged, false);
        assert!(format!("{:#}", strict.unwrap_err()).contains("r.trace: byte "));
        let (lenient, warnings) = same_in_every_batch_size(&damaged, true);
        assert!(lenient.unwrap().contains("\"type\":\"report\""));
        assert!(
            warnings.iter().any(|w| w.starts_with("1 damaged frame(s)")),
            "{warnings:?}"
        );

        let cut = &good[..good.len() * 2 / 3];
        let (strict, _) = same_in_every_batch_size(cut, false);
        let e = format!("{:#}", strict.unwrap_err());
        assert!(e.contains("r.trace: ") && e.contains("--lenient"), "{e}");
        let (lenient, warnings) = same_in_every_batch_size(cut, true);
        assert!(lenient.unwrap().contains("\"type\":\"report\""));
        assert!(
            warnings
                .iter()
                .any(|w| w.contains("reporting what came before")),
            "{warnings:?}"
        );
    }

    /// A note this tracer cannot read stops a strict replay where it is,
    /// whatever the reading thread has read ahead (it must not hang).
    #[test]
    fn a_bad_note_far_into_a_recording_stops_the_replay_there() {
        let mut junk_at = 0;
        let bytes = rewritten(&synthetic_of(3000), |w, n| {
            if n == 1000 {
                junk_at = w.offset();
                w.note(&serde_json::json!({"no": "note of ours"}));
            }
        });
        let (strict, _) = same_in_every_batch_size(&bytes, false);
        let e = format!("{:#}", strict.unwrap_err());
        assert!(
            e.contains(&format!("r.trace: byte {junk_at}: bad note")),
            "{e}"
        );
        let (lenient, warnings) = same_in_every_batch_size(&bytes, true);
        assert!(lenient.unwrap().contains("\"type\":\"report\""));
        assert!(
            warnings
                .iter()
                .any(|w| w.contains(&format!("byte {junk_at}: a note this tracer cannot read"))),
            "{warnings:?}"
        );
    }
}
