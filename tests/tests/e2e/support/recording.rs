//! What a recording (`tracer record -o FILE`) holds beside the kernel's
//! events: its notes. The layout (tracer/src/record.rs): magic, version,
//! header length, (version 2: header crc,) header, then frames `u16 kind |
//! u16 0 | u32 length | (version 2: u32 crc |) payload`, kind 2 a JSON note.

use std::fs;
use std::path::Path;

use serde_json::Value;

const MAGIC: &[u8; 8] = b"SBXTRACE";
const FRAME_NOTE: u16 = 2;

/// Every note of the recording at `path`, in order, as JSON.
pub fn notes(path: &Path) -> Vec<Value> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert_eq!(
        bytes.get(..8),
        Some(&MAGIC[..]),
        "{} is no recording",
        path.display()
    );
    let u32_at = |at: usize| -> usize {
        let b: [u8; 4] = bytes[at..at + 4].try_into().expect("4 bytes");
        u32::from_le_bytes(b) as usize
    };
    // Version 2 adds a crc after the header's length and each frame's.
    let crc = match u32_at(8) {
        1 => 0,
        2 => 4,
        v => panic!("{}: recording version {v}", path.display()),
    };
    let mut at = 16 + crc + u32_at(12);
    let frame = 8 + crc;
    let mut out = Vec::new();
    while at + frame <= bytes.len() {
        let kind = u16::from_le_bytes([bytes[at], bytes[at + 1]]);
        let len = u32_at(at + 4);
        let payload = bytes
            .get(at + frame..at + frame + len)
            .unwrap_or_else(|| panic!("a frame at byte {at} runs past the end"));
        if kind == FRAME_NOTE {
            out.push(
                serde_json::from_slice(payload)
                    .unwrap_or_else(|e| panic!("a note at byte {at} is not JSON: {e}")),
            );
        }
        at += frame + len;
    }
    out
}
