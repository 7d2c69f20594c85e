//! Small files the kernel makes as they are read (/proc): read in a
//! buffer big enough for most of them at once — two `read`s, where
//! `std::fs::read` also asks their size (a `statx`, and it says 0) and
//! then reads in pieces growing from 32 bytes. Read as events come (pods'
//! cgroups, mountinfo, visitors' command lines), so the syscalls count.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

/// The first buffer: mountinfo of a busy node, a long environment.
const FIRST: usize = 16 << 10;

/// The whole file's bytes.
pub fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; FIRST];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(2 * len, 0);
        }
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    Ok(buf)
}

/// The whole file as text (an error if it is not UTF-8, as `std::fs::read_to_string`).
pub fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    String::from_utf8(read(path)?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_std_reads() {
        for p in [
            "/proc/self/mountinfo",
            // Not status: a test thread starting meanwhile changes it.
            "/proc/self/environ",
            "/proc/self/cmdline",
        ] {
            assert_eq!(read(p).unwrap(), std::fs::read(p).unwrap(), "{p}");
        }
        let dir = std::env::temp_dir().join(format!("tracer-file-{}", std::process::id()));
        let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(&dir, &big).unwrap();
        assert_eq!(read(&dir).unwrap(), big);
        std::fs::remove_file(&dir).unwrap();
        assert!(read("/proc/no-such-file").is_err());
    }
}
