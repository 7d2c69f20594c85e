//! The recording format: everything a live run fed its model, so that
//! `tracer report FILE` rebuilds the same report elsewhere, without root.
//!
//! Layout (the file's own integers are little-endian), format version 2:
//! ```text
//! magic "SBXTRACE" | u32 version | u32 header length | u32 header crc | header (JSON)
//! frames: u16 kind | u16 reserved (0) | u32 length | u32 crc | payload
//!   kind 1: a kernel event, the ring buffer's bytes as they came
//!   kind 2: a note (JSON): what userspace learned beside the events
//!   kind 3: the end (JSON): the final counters; absent if the run was cut short
//! ```
//! The header's crc (CRC-32, ISO-HDLC) covers the version, the length and
//! the JSON; a frame's covers its kind, reserved field, length and payload:
//! a damaged frame is an error naming its offset, never a different report.
//! Version 1 (read, no longer written) is the same without the crc fields.
//!
//! An event's payload is the kernel's record unchanged: in the recording
//! machine's native byte order, which the header's `byte_order` names. A
//! reader of the other byte order refuses the file rather than misread it.
//! Every error names the byte offset where the file stopped making sense.
//!
//! A hostile file cannot make the reader allocate much: the header is at
//! most [`MAX_HEADER`] bytes holding at most [`MAX_HEADER_STRINGS`] strings,
//! a frame at most [`MAX_FRAME`] bytes, and buffers grow only as data comes.

use std::fmt;
use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};

use tracer_common::NsSet;

use crate::clock::Clock;
use crate::host::proc::ProcSnapshot;

pub const MAGIC: &[u8; 8] = b"SBXTRACE";
/// The version written; versions 1 and 2 are read.
pub const VERSION: u32 = 2;
const FRAME_EVENT: u16 = 1;
const FRAME_NOTE: u16 = 2;
const FRAME_END: u16 = 3;
/// No frame is larger: kernel records are < 1 KiB, notes a few KiB.
pub const MAX_FRAME: u32 = 1 << 20;
/// No header is larger: the start-up walk of a busy node is a few MiB.
pub const MAX_HEADER: u32 = 64 << 20;
/// Strings in a header (each a 24-byte `String` once parsed, whatever its
/// length in the file): a node of 30,000 processes holds ~500,000.
pub const MAX_HEADER_STRINGS: usize = 4 << 20;
/// Bytes checksummed while looking for the next good frame after damage,
/// over the whole file: bounds the time a hostile file can take.
const RESYNC_BUDGET: u64 = 1 << 30;
/// How much of the input is asked for at once (at least).
const READ_CHUNK: usize = 256 << 10;
/// The writer hands its buffer to the file beyond this (and every flush).
const WRITE_CHUNK: usize = 1 << 20;

/// Byte order of the kernel records in a recording.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ByteOrder {
    /// Also what recordings from before the field hold: the eBPF
    /// programs are built for little-endian kernels only (bpfel).
    #[default]
    Little,
    Big,
}

impl ByteOrder {
    /// This machine's.
    pub const NATIVE: ByteOrder = if cfg!(target_endian = "big") {
        ByteOrder::Big
    } else {
        ByteOrder::Little
    };
}

/// Where and how a recording was made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub tool_version: String,
    /// Byte order of the event payloads (the recording machine's).
    #[serde(default)]
    pub byte_order: ByteOrder,
    pub kernel: String,
    pub host: String,
    pub boot_id: String,
    /// Wall clock minus CLOCK_BOOTTIME at the start: converts event times.
    pub realtime_minus_boottime_ns: i128,
    /// CLOCK_BOOTTIME when the start-up /proc walk was taken.
    pub started_boot_ns: u64,
    /// Namespace slots the kernel has (a mask of `Ns` bits).
    pub supported_ns: u32,
    /// The host's namespaces (inodes and ids, in `Ns::ALL` order).
    pub host_ns_inum: [u32; tracer_common::NS_COUNT],
    pub host_ns_id: [u64; tracer_common::NS_COUNT],
    /// The start-up /proc walk: processes that ran before the trace.
    pub snapshot: Vec<ProcSnapshot>,
}

impl Header {
    pub fn clock(&self) -> Clock {
        Clock {
            realtime_minus_boottime_ns: self.realtime_minus_boottime_ns,
        }
    }

    pub fn host_ns(&self) -> NsSet {
        NsSet {
            inum: self.host_ns_inum,
            _pad: 0,
            id: self.host_ns_id,
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Frame {
    Event(Vec<u8>),
    Note(Vec<u8>),
    End(Vec<u8>),
}

/// What a frame holds; its payload is [`Reader::payload`] (read without a copy).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    Event,
    Note,
    End,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error("not a tracer recording (no SBXTRACE magic at byte 0)")]
    Magic,
    #[error(
        "recording format version {0} is newer than this tracer reads ({VERSION}): update the tracer"
    )]
    Version(u32),
    #[error(
        "recorded on a {recorded:?}-endian machine: its kernel records cannot be read on this {here:?}-endian one"
    )]
    ByteOrder {
        recorded: ByteOrder,
        here: ByteOrder,
    },
    /// The file makes no sense at `offset` (damage, or not written by us).
    #[error("byte {offset}: {what}")]
    At { offset: u64, what: String },
    /// The file ends inside the piece that starts at `offset` (a run cut short).
    #[error("byte {offset}: truncated {what}: the file ends at byte {end}, {missing} bytes short")]
    Truncated {
        offset: u64,
        what: &'static str,
        end: u64,
        missing: u64,
    },
    #[error("reading the recording: {0}")]
    Io(#[from] io::Error),
}

fn at(offset: u64, what: impl Into<String>) -> RecordError {
    RecordError::At {
        offset,
        what: what.into(),
    }
}

#[inline]
fn le16(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}

#[inline]
fn le32(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

/// Strings in a JSON text, at most (each takes two quotes).
fn strings(json: &[u8]) -> usize {
    json.iter().filter(|&&b| b == b'"').count() / 2
}

fn crc(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

/// A reader's frame checksums: the CPU's fastest CRC-32 is picked once,
/// not per frame.
#[derive(Clone)]
struct FrameCrc(crc32fast::Hasher);

impl FrameCrc {
    fn new() -> Self {
        Self(crc32fast::Hasher::new())
    }

    /// The checksum of a frame's head (without its crc field) and payload.
    #[inline]
    fn frame(&self, head: &[u8], payload: &[u8]) -> u32 {
        let mut h = self.0.clone();
        h.update(head);
        h.update(payload);
        h.finalize()
    }
}

/// A write to the recording failed: where, and why. Once it happened
/// nothing more is written (the frames after it could not be trusted).
#[derive(Debug)]
pub struct WriteFailure {
    /// The byte of the file the failed write was to put first.
    pub offset: u64,
    pub error: io::Error,
}

impl fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "writing byte {} failed: {}", self.offset, self.error)
    }
}

impl std::error::Error for WriteFailure {}

/// Writes a recording through its own buffer, so that a failure is known
/// to the byte; never returns an error mid-run (see [`Writer::failure`]).
pub struct Writer<W: Write> {
    out: W,
    buf: Vec<u8>,
    /// Bytes handed to `out` so far: the file offset of `buf[0]`.
    flushed: u64,
    failure: Option<WriteFailure>,
}

impl<W: Write> Writer<W> {
    /// Start a recording with its header (buffered: see [`Writer::flush`]).
    pub fn new(out: W, header: &Header) -> Self {
        let mut w = Self {
            out,
            buf: Vec::with_capacity(WRITE_CHUNK),
            flushed: 0,
            failure: None,
        };
        match serde_json::to_vec(header) {
            // What a reader would refuse is never written.
            Ok(json) if json.len() > MAX_HEADER as usize || strings(&json) > MAX_HEADER_STRINGS => {
                w.failure = Some(WriteFailure {
                    offset: 0,
                    error: io::Error::other(format!(
                        "the start-up walk is {} bytes in {} strings, more than a recording holds ({MAX_HEADER} bytes, {MAX_HEADER_STRINGS} strings)",
                        json.len(),
                        strings(&json)
                    )),
                })
            }
            Ok(json) => {
                let len = u32::try_from(json.len()).unwrap_or(u32::MAX);
                let version = VERSION.to_le_bytes();
                let len = len.to_le_bytes();
                w.buf.extend_from_slice(MAGIC);
                w.buf.extend_from_slice(&version);
                w.buf.extend_from_slice(&len);
                w.buf
                    .extend_from_slice(&crc(&[&version, &len, &json]).to_le_bytes());
                w.buf.extend_from_slice(&json);
            }
            Err(e) => {
                w.failure = Some(WriteFailure {
                    offset: 0,
                    error: io::Error::other(e),
                })
            }
        }
        w
    }

    fn frame(&mut self, kind: u16, payload: &[u8]) {
        if self.failure.is_some() {
            return;
        }
        let Some(len) = u32::try_from(payload.len())
            .ok()
            .filter(|&l| l <= MAX_FRAME)
        else {
            self.failure = Some(WriteFailure {
                offset: self.offset(),
                error: io::Error::other(format!("a frame of {} bytes", payload.len())),
            });
            return;
        };
        let mut head = [0u8; 8];
        head[..2].copy_from_slice(&kind.to_le_bytes());
        head[4..].copy_from_slice(&len.to_le_bytes());
        self.buf.extend_from_slice(&head);
        self.buf
            .extend_from_slice(&crc(&[&head, payload]).to_le_bytes());
        self.buf.extend_from_slice(payload);
        if self.buf.len() >= WRITE_CHUNK {
            self.write_buf();
        }
    }

    /// Hand the buffer to `out`, counting every byte that got there.
    fn write_buf(&mut self) {
        let mut done = 0;
        while done < self.buf.len() {
            match self.out.write(&self.buf[done..]) {
                Ok(0) => {
                    self.fail(done, io::ErrorKind::WriteZero.into());
                    return;
                }
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.fail(done, e);
                    return;
                }
            }
        }
        self.flushed += done as u64;
        self.buf.clear();
    }

    fn fail(&mut self, done: usize, error: io::Error) {
        self.failure = Some(WriteFailure {
            offset: self.flushed + done as u64,
            error,
        });
        self.buf = Vec::new();
    }

    pub fn event(&mut self, bytes: &[u8]) {
        self.frame(FRAME_EVENT, bytes);
    }

    pub fn note<T: Serialize>(&mut self, note: &T) {
        match serde_json::to_vec(note) {
            Ok(json) => self.frame(FRAME_NOTE, &json),
            Err(e) if self.failure.is_none() => {
                self.failure = Some(WriteFailure {
                    offset: self.offset(),
                    error: io::Error::other(e),
                })
            }
            Err(_) => {}
        }
    }

    /// Everything so far to the file (the live run does it every second, so
    /// that a crash loses at most the last second).
    pub fn flush(&mut self) {
        if self.failure.is_some() {
            return;
        }
        self.write_buf();
        if self.failure.is_none()
            && let Err(e) = self.out.flush()
        {
            self.fail(0, e);
        }
    }

    /// Bytes of the recording so far (written or buffered).
    pub fn offset(&self) -> u64 {
        self.flushed + self.buf.len() as u64
    }

    /// The first write that failed, if any.
    pub fn failure(&self) -> Option<&WriteFailure> {
        self.failure.as_ref()
    }

    /// The closing frame: without it, a reader knows the run was cut short.
    pub fn end<T: Serialize>(mut self, stats: &T) -> Result<W, WriteFailure> {
        match serde_json::to_vec(stats) {
            Ok(json) => self.frame(FRAME_END, &json),
            Err(e) if self.failure.is_none() => {
                self.failure = Some(WriteFailure {
                    offset: self.offset(),
                    error: io::Error::other(e),
                })
            }
            Err(_) => {}
        }
        self.flush();
        match self.failure {
            Some(f) => Err(f),
            None => Ok(self.out),
        }
    }
}

/// What a lenient reader stepped over.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Damaged frames (bad checksum, kind or length) left out.
    pub frames: u64,
    /// Bytes they took.
    pub bytes: u64,
}

pub struct Reader<R: Read> {
    input: R,
    /// Read ahead: `buf[pos..end]` is the file from `offset` on; past
    /// `end`, room for the next read (filled once, reused).
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    /// The last frame's payload: `buf[payload.0..payload.1]`.
    payload: (usize, usize),
    offset: u64,
    eof: bool,
    version: u32,
    ended: bool,
    resync_budget: u64,
    crc: FrameCrc,
}

impl<R: Read> Reader<R> {
    /// Check the magic, version and header checksum; read the header.
    pub fn open(input: R) -> Result<(Header, Self), RecordError> {
        let (header, reader, damage) = Self::open_lenient(input)?;
        match damage {
            Some(e) => Err(e),
            None => Ok((header, reader)),
        }
    }

    /// As [`Reader::open`], but a header whose checksum fails is still
    /// used when its JSON makes sense; the mismatch comes back beside it.
    pub fn open_lenient(input: R) -> Result<(Header, Self, Option<RecordError>), RecordError> {
        let mut r = Self {
            input,
            buf: Vec::new(),
            pos: 0,
            end: 0,
            payload: (0, 0),
            offset: 0,
            eof: false,
            version: 0,
            ended: false,
            resync_budget: RESYNC_BUDGET,
            crc: FrameCrc::new(),
        };
        if r.fill(16)? < 16 || r.ahead()[..8] != MAGIC[..] {
            return Err(RecordError::Magic);
        }
        let pre = r.ahead();
        let version = le32(pre, 8);
        if version > VERSION || version == 0 {
            return Err(RecordError::Version(version));
        }
        let len = le32(pre, 12);
        let head = if version >= 2 { 20 } else { 16 };
        if len > MAX_HEADER {
            return Err(at(
                12,
                format!("header length {len} is implausible (at most {MAX_HEADER})"),
            ));
        }
        let need = head + len as usize;
        r.require(need, "header")?;
        let bytes = &r.ahead()[..need];
        let json = &bytes[head..];
        let mut damage = None;
        if version >= 2 && le32(bytes, 16) != crc(&[&bytes[8..12], &bytes[12..16], json]) {
            damage = Some(at(16, "header checksum mismatch: the header is damaged"));
        }
        let strings = strings(json);
        if strings > MAX_HEADER_STRINGS {
            return Err(at(
                head as u64,
                format!(
                    "the header holds {strings} strings, more than any node's start-up walk ({MAX_HEADER_STRINGS}): refusing to read it"
                ),
            ));
        }
        let header: Header = serde_json::from_slice(json).map_err(|e| {
            at(
                head as u64 + e.column().saturating_sub(1) as u64,
                format!("bad header JSON: {e}"),
            )
        })?;
        if header.byte_order != ByteOrder::NATIVE {
            return Err(RecordError::ByteOrder {
                recorded: header.byte_order,
                here: ByteOrder::NATIVE,
            });
        }
        r.consume(need);
        r.version = version;
        Ok((header, r, damage))
    }

    /// The unconsumed bytes read so far.
    fn ahead(&self) -> &[u8] {
        &self.buf[self.pos..self.end]
    }

    /// Read until `n` bytes are ahead or the file ends; how many are ahead.
    /// The unread rest moves to the front (less than a frame); the room
    /// after it is reused, not cleared: each byte is copied once.
    fn fill(&mut self, n: usize) -> io::Result<usize> {
        if self.end - self.pos >= n {
            return Ok(self.end - self.pos);
        }
        if self.pos > 0 {
            self.buf.copy_within(self.pos..self.end, 0);
            self.end -= self.pos;
            self.pos = 0;
            self.payload = (0, 0);
        }
        while self.end < n && !self.eof {
            let have = self.end;
            if have == self.buf.len() {
                // Grow with what came, never to a length the file only claims.
                let want = (n - have).max(READ_CHUNK).min(READ_CHUNK.max(have));
                self.buf.resize(have + want, 0);
            }
            match self.input.read(&mut self.buf[have..]) {
                Ok(0) => self.eof = true,
                Ok(got) => self.end += got,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end)
    }

    /// `n` bytes ahead, or the piece of that name is cut short.
    fn require(&mut self, n: usize, what: &'static str) -> Result<(), RecordError> {
        let got = self.fill(n)?;
        if got < n {
            return Err(RecordError::Truncated {
                offset: self.offset,
                what,
                end: self.offset + got as u64,
                missing: (n - got) as u64,
            });
        }
        Ok(())
    }

    fn consume(&mut self, n: usize) {
        self.pos += n;
        self.offset += n as u64;
    }

    /// Byte offset of the next frame.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Did the file close with an end frame?
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The format version of the file.
    pub fn version(&self) -> u32 {
        self.version
    }

    fn frame_head(&self) -> usize {
        if self.version >= 2 { 12 } else { 8 }
    }

    /// The next frame, `None` at a clean end of file.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, RecordError> {
        Ok(self.next_kind()?.map(|kind| {
            let payload = self.payload().to_vec();
            match kind {
                FrameKind::Event => Frame::Event(payload),
                FrameKind::Note => Frame::Note(payload),
                FrameKind::End => Frame::End(payload),
            }
        }))
    }

    /// The payload of the frame [`Reader::next_kind`] gave last (until
    /// the next call).
    pub fn payload(&self) -> &[u8] {
        &self.buf[self.payload.0..self.payload.1]
    }

    /// As [`Reader::next_frame`], the payload left in the reader's buffer
    /// ([`Reader::payload`]): no allocation per frame.
    pub fn next_kind(&mut self) -> Result<Option<FrameKind>, RecordError> {
        self.payload = (0, 0);
        let start = self.offset;
        let head = self.frame_head();
        // Most frames are read ahead already: no call to read more then.
        if self.end - self.pos < head {
            if self.fill(head)? == 0 {
                return Ok(None);
            }
            self.require(head, "frame header")?;
        }
        let b = self.ahead();
        let (kind, reserved, len) = (le16(b, 0), le16(b, 2), le32(b, 4));
        if !matches!(kind, FRAME_EVENT | FRAME_NOTE | FRAME_END) {
            return Err(at(start, format!("unknown frame kind {kind}")));
        }
        if self.ended {
            return Err(at(start, "data after the end frame"));
        }
        if self.version >= 2 && reserved != 0 {
            return Err(at(
                start + 2,
                format!("frame reserved field is {reserved}, not 0"),
            ));
        }
        if len > MAX_FRAME {
            return Err(at(start + 4, format!("frame length {len} is implausible")));
        }
        let total = head + len as usize;
        if self.end - self.pos < total {
            self.require(total, "frame")?;
        }
        let b = &self.ahead()[..total];
        if self.version >= 2 && le32(b, 8) != self.crc.frame(&b[..8], &b[12..]) {
            return Err(at(start, "frame checksum mismatch: the frame is damaged"));
        }
        self.payload = (self.pos + head, self.pos + total);
        self.consume(total);
        Ok(Some(match kind {
            FRAME_EVENT => FrameKind::Event,
            FRAME_NOTE => FrameKind::Note,
            _ => {
                self.ended = true;
                FrameKind::End
            }
        }))
    }

    /// Can [`Reader::skip_damage`] find the next good frame (checksums
    /// make frames recognisable: version 2 on)?
    pub fn can_skip(&self) -> bool {
        self.version >= 2 && !self.ended
    }

    /// After an [`RecordError::At`] from [`Reader::next_frame`]: step to
    /// the next frame whose checksum holds (or to the end of the file);
    /// how many bytes were stepped over. Fails once the whole file's
    /// search budget is spent.
    pub fn skip_damage(&mut self) -> Result<u64, RecordError> {
        let start = self.offset;
        let head = self.frame_head();
        loop {
            self.consume(1.min(self.ahead().len()));
            let got = self.fill(head)?;
            if got < head {
                self.consume(got);
                return Ok(self.offset - start);
            }
            let b = self.ahead();
            let (kind, reserved, len) = (le16(b, 0), le16(b, 2), le32(b, 4));
            if !matches!(kind, FRAME_EVENT | FRAME_NOTE | FRAME_END)
                || reserved != 0
                || len > MAX_FRAME
            {
                continue;
            }
            let total = head + len as usize;
            if self.fill(total)? < total {
                continue;
            }
            let b = &self.ahead()[..total];
            let good = le32(b, 8) == self.crc.frame(&b[..8], &b[12..]);
            self.resync_budget = self.resync_budget.saturating_sub(total as u64);
            if good {
                return Ok(self.offset - start);
            }
            if self.resync_budget == 0 {
                return Err(at(
                    start,
                    "too much damage: no good frame found after it within the search budget",
                ));
            }
        }
    }
}

/// Every frame of a recording the way `tracer report --lenient` reads it:
/// damaged frames skipped and counted, a cut-short tail dropped. The first
/// problem comes back beside what was read (the fuzz target's entry, and tests').
pub fn read_lenient(bytes: &[u8]) -> Result<(Header, Vec<Frame>, Skipped), RecordError> {
    let (header, mut r, _) = Reader::open_lenient(bytes)?;
    let mut frames = Vec::new();
    let mut skipped = Skipped::default();
    loop {
        match r.next_frame() {
            Ok(Some(f)) => frames.push(f),
            Ok(None) | Err(RecordError::Truncated { .. }) => break,
            Err(RecordError::At { .. }) if r.can_skip() => {
                skipped.frames += 1;
                skipped.bytes += r.skip_damage()?;
            }
            Err(e) => return Err(e),
        }
    }
    Ok((header, frames, skipped))
}

#[cfg(test)]
mod tests;
