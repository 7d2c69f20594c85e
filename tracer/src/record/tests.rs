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

fn header_len() -> usize {
    20 + serde_json::to_vec(&header()).unwrap().len()
}

fn sample() -> Vec<u8> {
    let mut w = Writer::new(Vec::new(), &header());
    w.event(&[1, 2, 3]);
    w.note(&serde_json::json!({"note": "x"}));
    w.event(&[4; 200]);
    w.end(&serde_json::json!({"events": 2})).unwrap()
}

/// Frame offsets of [`sample`]: each starts where the one before ended.
fn frame_starts() -> Vec<usize> {
    let note = serde_json::to_vec(&serde_json::json!({"note": "x"}))
        .unwrap()
        .len();
    let first = header_len();
    vec![
        first,
        first + 15,
        first + 15 + 12 + note,
        first + 15 + 12 + note + 212,
    ]
}

fn read_all(bytes: &[u8]) -> Result<(Header, Vec<Frame>, bool), RecordError> {
    let (h, mut r) = Reader::open(bytes)?;
    let mut frames = Vec::new();
    while let Some(f) = r.next_frame()? {
        frames.push(f);
    }
    Ok((h, frames, r.ended()))
}

/// A version-1 file (no checksums), as tracers before version 2 wrote it.
fn sample_v1() -> Vec<u8> {
    let json = serde_json::to_vec(&header()).unwrap();
    let mut b = MAGIC.to_vec();
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(&(json.len() as u32).to_le_bytes());
    b.extend_from_slice(&json);
    for (kind, payload) in [(1u16, &[1u8, 2, 3][..]), (3, b"{\"events\":1}")] {
        b.extend_from_slice(&kind.to_le_bytes());
        b.extend_from_slice(&0u16.to_le_bytes());
        b.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        b.extend_from_slice(payload);
    }
    b
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
    assert_eq!(
        frame_starts()[3] + 12 + b"{\"events\":2}".len(),
        sample().len()
    );
}

#[test]
fn version_1_recordings_still_read() {
    let (h, frames, ended) = read_all(&sample_v1()).unwrap();
    assert_eq!(h, header());
    assert_eq!(frames[0], Frame::Event(vec![1, 2, 3]));
    assert!(ended);
}

#[test]
fn every_truncation_is_an_error_naming_a_byte_or_a_cut_short_run() {
    let full = sample();
    for cut in 0..full.len() {
        match read_all(&full[..cut]) {
            Ok((_, _, ended)) => {
                // Only cuts at frame boundaries read cleanly, and then the end is missing.
                assert!(!ended, "cut at {cut} read as complete");
                assert!(cut >= header_len());
                assert!(frame_starts().contains(&cut), "cut {cut}");
            }
            Err(RecordError::Magic) => assert!(cut < 16),
            Err(RecordError::Truncated { offset, end, .. }) => {
                assert_eq!(end, cut as u64);
                assert!(offset <= cut as u64, "cut {cut}: offset {offset}");
            }
            Err(e) => panic!("cut {cut}: unexpected {e}"),
        }
    }
}

#[test]
fn corruption_is_named_with_its_offset() {
    let mut bad = sample();
    let first_frame = header_len();
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
    junk_header[24] = b'!';
    assert!(
        matches!(read_all(&junk_header), Err(RecordError::At { what, .. }) if what.contains("header")),
    );
}

/// Of 878 single-byte flips inside frames, 7.7 % used to give a different
/// report without a word: now every flip anywhere is an error.
#[test]
fn every_single_byte_flip_is_an_error_never_a_different_recording() {
    let good = sample();
    for i in 8..good.len() {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut bad = good.clone();
            bad[i] ^= mask;
            if let Ok((h, frames, ended)) = read_all(&bad) {
                panic!("byte {i} ^ {mask:#x} read cleanly: {h:?} {frames:?} {ended}");
            }
        }
    }
}

#[test]
fn a_damaged_frame_names_its_offset_and_lenient_reading_skips_only_it() {
    let starts = frame_starts();
    for (frame, byte) in [(1, 15), (2, 100), (0, 4), (2, 6)] {
        // A payload byte, and length bytes (the next frame must be found again).
        let mut bad = sample();
        bad[starts[frame] + byte] ^= 0x40;
        match read_all(&bad) {
            Err(RecordError::At { offset, what }) => {
                assert!(
                    what.contains("checksum") || what.contains("implausible"),
                    "{what}"
                );
                assert!(
                    (starts[frame]..starts[frame] + 8).contains(&(offset as usize)),
                    "frame {frame} at {}, error at {offset}",
                    starts[frame]
                );
            }
            Err(RecordError::Truncated { .. }) => assert!(byte < 8, "a length byte"),
            other => panic!("frame {frame} byte {byte}: {other:?}"),
        }
        let (_, frames, skipped) = read_lenient(&bad).unwrap();
        assert_eq!(skipped.frames, 1, "frame {frame} byte {byte}");
        let good = read_all(&sample()).unwrap().1;
        let mut want = good.clone();
        want.remove(frame);
        assert_eq!(frames, want, "frame {frame} byte {byte}");
    }
}

#[test]
fn lenient_reading_keeps_a_run_cut_short_mid_frame() {
    let full = sample();
    let starts = frame_starts();
    let (_, frames, skipped) = read_lenient(&full[..starts[2] + 5]).unwrap();
    assert_eq!(frames.len(), 2);
    assert_eq!(skipped, Skipped::default());
}

#[test]
fn other_files_and_future_versions_are_refused_clearly() {
    assert!(matches!(
        read_all(b"{\"type\":\"ready\"}\n"),
        Err(RecordError::Magic)
    ));
    assert!(matches!(read_all(b""), Err(RecordError::Magic)));
    let mut future = sample();
    future[8..12].copy_from_slice(&3u32.to_le_bytes());
    let Err(e) = read_all(&future) else {
        panic!("read a future version")
    };
    assert!(e.to_string().contains("version 3 is newer"), "{e}");
}

#[test]
fn data_after_the_end_is_corruption() {
    let mut bytes = sample();
    bytes.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
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
    );
    w.event(&[1, 2, 3]);
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

/// A crafted header of 80 M empty argv strings took 2.1 GB before its
/// error: a header is refused by its string count before it is parsed.
#[test]
fn a_header_of_millions_of_empty_strings_is_refused_before_parsing() {
    let strings = MAX_HEADER_STRINGS + 1;
    let mut json = serde_json::to_string(&header()).unwrap();
    let proc_start =
        "\"snapshot\":[{\"pid\":1,\"ppid\":0,\"start_boot_ns\":0,\"comm\":\"x\",\"argv\":[";
    let mut argv = String::with_capacity(strings * 3);
    for i in 0..strings {
        argv.push_str(if i == 0 { "\"\"" } else { ",\"\"" });
    }
    let tail = "],\"exe\":null,\"ns_inum\":[0,0,0,0,0,0,0,0,0],\"ns_id\":[0,0,0,0,0,0,0,0,0],\"cgroup\":null}]";
    json = json.replace("\"snapshot\":[]", &format!("{proc_start}{argv}{tail}"));
    let version = 2u32.to_le_bytes();
    let len = (json.len() as u32).to_le_bytes();
    let mut b = MAGIC.to_vec();
    b.extend_from_slice(&version);
    b.extend_from_slice(&len);
    b.extend_from_slice(&crc(&[&version, &len, json.as_bytes()]).to_le_bytes());
    b.extend_from_slice(json.as_bytes());
    let Err(RecordError::At { offset, what }) = read_all(&b) else {
        panic!("parsed a header of {strings} strings")
    };
    assert_eq!(offset, 20);
    assert!(what.contains("strings"), "{what}");
}

#[test]
fn a_claimed_length_beyond_the_file_allocates_only_what_is_there() {
    // A 4 GiB header length is refused outright; a plausible one in a
    // short file is a truncation, read without a buffer of the claimed size.
    let mut b = sample();
    b[12..16].copy_from_slice(&(MAX_HEADER - 1).to_le_bytes());
    b.truncate(100);
    let Err(RecordError::Truncated { what, end, .. }) = read_all(&b) else {
        panic!("read a short header")
    };
    assert_eq!((what, end), ("header", 100));
    b[12..16].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(matches!(
        read_all(&b),
        Err(RecordError::At { offset: 12, .. })
    ));
}

/// A sink that takes `room` bytes, then says the disk is full.
struct Full {
    room: usize,
    got: Vec<u8>,
}

impl Write for Full {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.room == 0 {
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        let n = buf.len().min(self.room).min(7); // short writes, too
        self.room -= n;
        self.got.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_failed_write_names_its_byte_and_stops_the_writing() {
    let room = header_len() + 20;
    let mut w = Writer::new(
        Full {
            room,
            got: Vec::new(),
        },
        &header(),
    );
    w.event(&[1, 2, 3]);
    w.flush();
    assert!(w.failure().is_none());
    w.event(&[4; 200]);
    w.flush();
    let f = w.failure().expect("the disk is full");
    assert_eq!(f.offset, room as u64);
    assert_eq!(f.error.raw_os_error(), Some(libc::ENOSPC));
    assert!(f.to_string().contains(&format!("byte {room}")), "{f}");
    w.event(&[5; 10]); // ignored from now on
    let Err(f) = w.end(&serde_json::json!({})) else {
        panic!("ended a failed recording")
    };
    assert_eq!(f.offset, room as u64);
}

#[test]
fn the_writer_buffers_until_flushed() {
    let mut w = Writer::new(Vec::new(), &header());
    w.event(&[1, 2, 3]);
    assert_eq!(w.offset(), (header_len() + 15) as u64);
    assert!(w.out.is_empty(), "nothing written before a flush");
    w.flush();
    assert_eq!(w.out.len(), header_len() + 15);
    // What was flushed reads back, without its end.
    let (_, frames, ended) = read_all(&w.out).unwrap();
    assert_eq!((frames.len(), ended), (1, false));
}

/// Reads like a file, and remembers the largest buffer it was handed.
struct Spy<'a> {
    data: &'a [u8],
    largest: usize,
}

impl Read for Spy<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.largest = self.largest.max(buf.len());
        let n = buf.len().min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn buffers_grow_with_the_data_not_with_the_claimed_lengths() {
    let mut b = sample();
    b[12..16].copy_from_slice(&(MAX_HEADER - 1).to_le_bytes());
    b.truncate(100);
    let mut spy = Spy {
        data: &b,
        largest: 0,
    };
    assert!(Reader::open(&mut spy).is_err());
    assert!(
        spy.largest <= 2 * READ_CHUNK,
        "asked for {} bytes",
        spy.largest
    );

    let mut b = sample();
    let first = header_len();
    b[first + 4..first + 8].copy_from_slice(&(MAX_FRAME - 1).to_le_bytes());
    let mut spy = Spy {
        data: &b,
        largest: 0,
    };
    let (_, mut r) = Reader::open(&mut spy).unwrap();
    assert!(r.next_frame().is_err());
    assert!(
        r.input.largest <= 2 * READ_CHUNK,
        "asked for {} bytes",
        r.input.largest
    );
}

#[test]
fn what_a_reader_would_refuse_is_never_written() {
    let mut w = Writer::new(Vec::new(), &header());
    w.event(&vec![0; MAX_FRAME as usize + 1]);
    let f = w.failure().expect("an oversized frame");
    assert_eq!(f.offset, header_len() as u64);
    let mut big = header();
    big.kernel = "k".repeat(MAX_HEADER as usize);
    let w = Writer::new(Vec::new(), &big);
    let f = w.failure().expect("an oversized header");
    assert!(f.to_string().contains("start-up walk"), "{f}");
}

/// Hands out at most `step` bytes per read: frames straddle every read.
struct Trickle<'a> {
    data: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.data.len()).min(self.step);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// The reader reuses its buffer (the unread rest moved to the front, the
/// room after it not cleared) and leaves payloads in it: frames of every
/// size, across reads of any size and past several buffer refills, read
/// back exactly as written.
#[test]
fn payloads_read_in_place_match_what_was_written_whatever_the_reads() {
    let payloads: Vec<Vec<u8>> = (0..1600u32)
        .map(|i| (0..(i * 37 % 1500)).map(|j| (i ^ j) as u8).collect())
        .collect();
    let mut w = Writer::new(Vec::new(), &header());
    for p in &payloads {
        w.event(p);
    }
    let bytes = w.end(&serde_json::json!({"events": 1600})).unwrap();
    assert!(bytes.len() > 4 * READ_CHUNK, "spans several refills");
    for step in [7, 4096, READ_CHUNK - 3, usize::MAX] {
        let input = Trickle { data: &bytes, step };
        let (_, mut r) = Reader::open(input).unwrap();
        for (i, p) in payloads.iter().enumerate() {
            assert_eq!(r.next_kind().unwrap(), Some(FrameKind::Event), "frame {i}");
            assert_eq!(r.payload(), &p[..], "frame {i}, reads of {step}");
        }
        assert_eq!(r.next_kind().unwrap(), Some(FrameKind::End));
        assert_eq!(r.next_kind().unwrap(), None);
        assert!(r.ended());
    }
}
