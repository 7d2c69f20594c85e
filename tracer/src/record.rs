//! The recording format: everything a live run fed its model, so that
//! `tracer report FILE` rebuilds the same report elsewhere, without root.
//!
//! Layout (the file's own integers are little-endian):
//! ```text
//! magic "SBXTRACE" | u32 format version | u32 header length | header (JSON)
//! frames: u16 kind | u16 reserved (0) | u32 length | payload
//!   kind 1: a kernel event, the ring buffer's bytes as they came
//!   kind 2: a note (JSON): what userspace learned beside the events
//!   kind 3: the end (JSON): the final counters; absent if the run was cut short
//! ```
//! An event's payload is the kernel's record unchanged: in the recording
//! machine's native byte order, which the header's `byte_order` names. A
//! reader of the other byte order refuses the file rather than misread it.
//! Every error names the byte offset where the file stopped making sense.

use std::io::{self, BufRead, Read, Write};

use serde::{Deserialize, Serialize};

use tracer_common::NsSet;

use crate::clock::Clock;
use crate::host::proc::ProcSnapshot;

pub const MAGIC: &[u8; 8] = b"SBXTRACE";
pub const VERSION: u32 = 1;
const FRAME_EVENT: u16 = 1;
const FRAME_NOTE: u16 = 2;
const FRAME_END: u16 = 3;
/// No frame is larger: kernel records are < 1 KiB, notes a few KiB.
const MAX_FRAME: u32 = 1 << 20;
const MAX_HEADER: u32 = 256 << 20;

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
    #[error("byte {offset}: {what}")]
    At { offset: u64, what: String },
    #[error("reading the recording: {0}")]
    Io(#[from] io::Error),
}

fn at(offset: u64, what: impl Into<String>) -> RecordError {
    RecordError::At {
        offset,
        what: what.into(),
    }
}

pub struct Writer<W: Write> {
    out: W,
}

impl<W: Write> Writer<W> {
    pub fn new(mut out: W, header: &Header) -> io::Result<Self> {
        let json = serde_json::to_vec(header).map_err(io::Error::other)?;
        let len = u32::try_from(json.len()).map_err(io::Error::other)?;
        out.write_all(MAGIC)?;
        out.write_all(&VERSION.to_le_bytes())?;
        out.write_all(&len.to_le_bytes())?;
        out.write_all(&json)?;
        Ok(Self { out })
    }

    fn frame(&mut self, kind: u16, payload: &[u8]) -> io::Result<()> {
        let len = u32::try_from(payload.len()).map_err(io::Error::other)?;
        self.out.write_all(&kind.to_le_bytes())?;
        self.out.write_all(&0u16.to_le_bytes())?;
        self.out.write_all(&len.to_le_bytes())?;
        self.out.write_all(payload)
    }

    pub fn event(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.frame(FRAME_EVENT, bytes)
    }

    pub fn note<T: Serialize>(&mut self, note: &T) -> io::Result<()> {
        let json = serde_json::to_vec(note).map_err(io::Error::other)?;
        self.frame(FRAME_NOTE, &json)
    }

    /// The closing frame: without it, a reader knows the run was cut short.
    pub fn end<T: Serialize>(mut self, stats: &T) -> io::Result<W> {
        let json = serde_json::to_vec(stats).map_err(io::Error::other)?;
        self.frame(FRAME_END, &json)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

pub struct Reader<R: BufRead> {
    input: R,
    offset: u64,
    ended: bool,
}

/// Read exactly `buf.len()` bytes starting at file offset `offset`;
/// `Ok(false)` on a clean end before the first byte. A short read is an
/// error at `start`, the beginning of the piece it belongs to.
fn fill<R: Read>(
    r: &mut R,
    buf: &mut [u8],
    start: u64,
    offset: u64,
    what: &str,
) -> Result<bool, RecordError> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) if got == 0 && offset == start => return Ok(false),
            Ok(0) => {
                let end = offset + got as u64;
                return Err(at(
                    start,
                    format!(
                        "truncated {what}: the file ends at byte {end}, {} bytes short",
                        buf.len() - got
                    ),
                ));
            }
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

impl<R: BufRead> Reader<R> {
    /// Check the magic and version, read the header.
    pub fn open(mut input: R) -> Result<(Header, Self), RecordError> {
        let mut pre = [0u8; 16];
        if !fill(&mut input, &mut pre, 0, 0, "file header")? {
            return Err(RecordError::Magic);
        }
        if &pre[..8] != MAGIC {
            return Err(RecordError::Magic);
        }
        let version = u32::from_le_bytes([pre[8], pre[9], pre[10], pre[11]]);
        if version > VERSION || version == 0 {
            return Err(RecordError::Version(version));
        }
        let len = u32::from_le_bytes([pre[12], pre[13], pre[14], pre[15]]);
        if len > MAX_HEADER {
            return Err(at(12, format!("header length {len} is implausible")));
        }
        let mut json = vec![0u8; len as usize];
        fill(&mut input, &mut json, 0, 16, "header")?;
        let header: Header = serde_json::from_slice(&json).map_err(|e| {
            at(
                16 + e.column().saturating_sub(1) as u64,
                format!("bad header JSON: {e}"),
            )
        })?;
        if header.byte_order != ByteOrder::NATIVE {
            return Err(RecordError::ByteOrder {
                recorded: header.byte_order,
                here: ByteOrder::NATIVE,
            });
        }
        Ok((
            header,
            Self {
                input,
                offset: 16 + u64::from(len),
                ended: false,
            },
        ))
    }

    /// Byte offset of the next frame.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// Did the file close with an end frame?
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The next frame, `None` at a clean end of file.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, RecordError> {
        let start = self.offset;
        let mut head = [0u8; 8];
        if !fill(&mut self.input, &mut head, start, start, "frame header")? {
            return Ok(None);
        }
        let kind = u16::from_le_bytes([head[0], head[1]]);
        let len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]);
        if !matches!(kind, FRAME_EVENT | FRAME_NOTE | FRAME_END) {
            return Err(at(start, format!("unknown frame kind {kind}")));
        }
        if self.ended {
            return Err(at(start, "data after the end frame"));
        }
        if len > MAX_FRAME {
            return Err(at(start + 4, format!("frame length {len} is implausible")));
        }
        let mut payload = vec![0u8; len as usize];
        fill(&mut self.input, &mut payload, start, start + 8, "frame")?;
        self.offset = start + 8 + u64::from(len);
        Ok(Some(match kind {
            FRAME_EVENT => Frame::Event(payload),
            FRAME_NOTE => Frame::Note(payload),
            _ => {
                self.ended = true;
                Frame::End(payload)
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header {
            tool_version: "0.1.0".into(),
            byte_order: ByteOrder::NATIVE,
            kernel: "6.18".into(),
            host: "node-1".into(),
            boot_id: "b".into(),
            realtime_minus_boottime_ns: 1_700_000_000_000_000_000,
            started_boot_ns: 5,
            supported_ns: 0x1ff,
            host_ns_inum: [1; 9],
            host_ns_id: [2; 9],
            snapshot: Vec::new(),
        }
    }

    fn sample() -> Vec<u8> {
        let mut w = Writer::new(Vec::new(), &header()).unwrap();
        w.event(&[1, 2, 3]).unwrap();
        w.note(&serde_json::json!({"note": "x"})).unwrap();
        w.event(&[4; 200]).unwrap();
        w.end(&serde_json::json!({"events": 2})).unwrap()
    }

    fn read_all(bytes: &[u8]) -> Result<(Header, Vec<Frame>, bool), RecordError> {
        let (h, mut r) = Reader::open(bytes)?;
        let mut frames = Vec::new();
        while let Some(f) = r.next_frame()? {
            frames.push(f);
        }
        Ok((h, frames, r.ended()))
    }

    #[test]
    fn round_trip() {
        let (h, frames, ended) = read_all(&sample()).unwrap();
        assert_eq!(h, header());
        assert_eq!(frames.len(), 4);
        assert_eq!(frames[0], Frame::Event(vec![1, 2, 3]));
        assert_eq!(frames[2], Frame::Event(vec![4; 200]));
        assert!(matches!(frames[3], Frame::End(_)));
        assert!(ended);
    }

    #[test]
    fn every_truncation_is_an_error_naming_a_byte_or_a_cut_short_run() {
        let full = sample();
        let header_end = 16 + serde_json::to_vec(&header()).unwrap().len();
        for cut in 0..full.len() {
            match read_all(&full[..cut]) {
                Ok((_, _, ended)) => {
                    // Only cuts at frame boundaries read cleanly, and then the end is missing.
                    assert!(!ended, "cut at {cut} read as complete");
                    assert!(cut >= header_end);
                }
                Err(RecordError::Magic) => assert!(cut < 16),
                Err(RecordError::At { offset, what }) => {
                    assert!(
                        offset <= cut as u64,
                        "cut {cut}: offset {offset} past the end ({what})"
                    );
                    assert!(
                        what.contains("truncated") || what.contains("header"),
                        "{what}"
                    );
                }
                Err(e) => panic!("cut {cut}: unexpected {e}"),
            }
        }
    }

    #[test]
    fn corruption_is_named_with_its_offset() {
        let mut bad = sample();
        let first_frame = 16 + serde_json::to_vec(&header()).unwrap().len();
        bad[first_frame] = 9; // unknown frame kind
        let Err(RecordError::At { offset, what }) = read_all(&bad) else {
            panic!("accepted a corrupt frame")
        };
        assert_eq!(offset, first_frame as u64);
        assert_eq!(what, "unknown frame kind 9");

        let mut huge = sample();
        huge[first_frame + 4..first_frame + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(
            matches!(read_all(&huge), Err(RecordError::At { what, .. }) if what.contains("implausible"))
        );

        let mut junk_header = sample();
        junk_header[20] = b'!';
        assert!(
            matches!(read_all(&junk_header), Err(RecordError::At { what, .. }) if what.contains("bad header JSON"))
        );
    }

    #[test]
    fn other_files_and_future_versions_are_refused_clearly() {
        assert!(matches!(
            read_all(b"{\"type\":\"ready\"}\n"),
            Err(RecordError::Magic)
        ));
        assert!(matches!(read_all(b""), Err(RecordError::Magic)));
        let mut future = sample();
        future[8..12].copy_from_slice(&2u32.to_le_bytes());
        let Err(e) = read_all(&future) else {
            panic!("read a future version")
        };
        assert!(e.to_string().contains("version 2 is newer"), "{e}");
    }

    #[test]
    fn data_after_the_end_is_corruption() {
        let mut bytes = sample();
        bytes.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0]);
        assert!(
            matches!(read_all(&bytes), Err(RecordError::At { what, .. }) if what.contains("after the end"))
        );
    }

    #[test]
    fn recordings_of_the_other_byte_order_are_refused() {
        let other = match ByteOrder::NATIVE {
            ByteOrder::Little => ByteOrder::Big,
            ByteOrder::Big => ByteOrder::Little,
        };
        let mut w = Writer::new(
            Vec::new(),
            &Header {
                byte_order: other,
                ..header()
            },
        )
        .unwrap();
        w.event(&[1, 2, 3]).unwrap();
        let bytes = w.end(&serde_json::json!({})).unwrap();
        let Err(e) = read_all(&bytes) else {
            panic!("read a recording of the other byte order")
        };
        assert!(matches!(e, RecordError::ByteOrder { .. }), "{e}");
        assert!(e.to_string().contains("-endian machine"), "{e}");
    }

    #[test]
    fn recordings_from_before_the_byte_order_field_are_little_endian() {
        let mut json = serde_json::to_value(header()).unwrap();
        json.as_object_mut().unwrap().remove("byte_order");
        let old: Header = serde_json::from_value(json).unwrap();
        assert_eq!(old.byte_order, ByteOrder::Little);
    }
}
