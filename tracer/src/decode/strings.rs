//! Text inside kernel records: NUL-padded names and the exec's argv, and
//! whether the record cut them short.

use std::borrow::Cow;

use tracer_common::{ARGS_LEN, ExecEvent, FILENAME_LEN};

/// Bytes up to the first NUL, as text.
pub fn c_str(bytes: &[u8]) -> String {
    c_str_ref(bytes).into_owned()
}

/// [`c_str`] without a copy when the bytes are valid UTF-8.
pub fn c_str_ref(bytes: &[u8]) -> Cow<'_, str> {
    lossy(c_bytes(bytes))
}

/// `String::from_utf8_lossy`, valid text checked a word at a time first:
/// the lossy scan goes byte by byte even through valid text (about 300
/// instructions for a comm, on every event that names its task).
fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// The bytes up to the first NUL (what [`c_str`] makes text of).
pub fn c_bytes(bytes: &[u8]) -> &[u8] {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    &bytes[..end]
}

/// Was argv longer than the record holds ([`ARGS_LEN`] bytes)? The
/// programs give the whole argv's length in `args_len`; recordings from
/// before that gave at most [`ARGS_LEN`], and a full record not ending in
/// NUL was cut there.
pub fn argv_truncated(e: &ExecEvent) -> bool {
    let len = e.args_len as usize;
    len > ARGS_LEN || (len == ARGS_LEN && e.args[ARGS_LEN - 1] != 0)
}

/// Did the file name fill the record ([`FILENAME_LEN`] − 1 bytes and its
/// NUL)? Then it was probably cut: the kernel copies at most that much.
pub fn filename_truncated(e: &ExecEvent) -> bool {
    e.filename[FILENAME_LEN - 1] == 0 && e.filename[FILENAME_LEN - 2] != 0
}

/// argv from an exec record: NUL-separated, `args_len` bytes long (at
/// most the record's [`ARGS_LEN`]).
pub fn argv(e: &ExecEvent) -> Vec<String> {
    split_args(&e.args, e.args_len)
}

/// NUL-separated arguments, the first `len` bytes of `args` (at most all).
pub fn split_args(args: &[u8], len: u32) -> Vec<String> {
    let len = (len as usize).min(args.len());
    let mut args: Vec<String> = args[..len]
        .split(|&b| b == 0)
        .map(|a| lossy(a).into_owned())
        .collect();
    // The final NUL leaves one empty piece behind.
    if args.last().is_some_and(String::is_empty) {
        args.pop();
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::Event;
    use crate::testkit::samples;

    /// Names the kernel gives: the fast path reads them as the lossy
    /// conversion does, and borrows valid ones.
    #[test]
    fn names_read_as_the_lossy_conversion_reads_them() {
        let names: [&[u8]; 7] = [
            b"",
            b"catatonit",
            b"runc:[2:INIT]\0\0\0",
            "caf\u{e9} \u{1f980}".as_bytes(),
            b"bad\xff\xfename",
            b"cut\xe2\x82",
            b"\xc3(",
        ];
        for n in names {
            assert_eq!(lossy(n), String::from_utf8_lossy(n), "{n:?}");
            let want = String::from_utf8_lossy(c_bytes(n)).into_owned();
            assert_eq!(c_str_ref(n), want);
            assert_eq!(
                matches!(c_str_ref(n), Cow::Borrowed(_)),
                std::str::from_utf8(c_bytes(n)).is_ok()
            );
        }
    }

    #[test]
    fn exec_strings_are_cut_at_nul_and_args_len() {
        let Event::Exec(e) = samples()[1].clone() else {
            unreachable!()
        };
        assert_eq!(c_str(&e.filename), "/pause");
        assert_eq!(argv(&e), ["/pause", "-P"]);
        let mut e2 = *e;
        e2.args_len = 7;
        assert_eq!(argv(&e2), ["/pause"]);
        e2.args_len = 9999; // cut short (or corrupt): clamped, not a panic
        assert_eq!(argv(&e2).first().map(String::as_str), Some("/pause"));
        assert!(argv_truncated(&e2));
    }

    #[test]
    fn cut_strings_say_so() {
        let Event::Exec(e) = samples()[1].clone() else {
            unreachable!()
        };
        assert!(!argv_truncated(&e) && !filename_truncated(&e));
        let mut long = *e;
        // The programs' way: the whole argv's length, its first 256 bytes.
        long.args = [b'a'; ARGS_LEN];
        long.args_len = 4000;
        assert!(argv_truncated(&long));
        // An older recording's way: a full record, no NUL at its end.
        long.args_len = ARGS_LEN as u32;
        assert!(argv_truncated(&long));
        long.args[ARGS_LEN - 1] = 0; // exactly 256 bytes, NUL-terminated
        assert!(!argv_truncated(&long));
        long.filename = [b'f'; FILENAME_LEN];
        long.filename[FILENAME_LEN - 1] = 0;
        assert!(filename_truncated(&long));
    }
}
