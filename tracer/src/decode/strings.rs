//! Text inside kernel records: NUL-padded names and the exec's argv.

use tracer_common::ExecEvent;

/// Bytes up to the first NUL, as text.
pub fn c_str(bytes: &[u8]) -> String {
    c_str_ref(bytes).into_owned()
}

/// [`c_str`] without a copy when the bytes are valid UTF-8.
pub fn c_str_ref(bytes: &[u8]) -> std::borrow::Cow<'_, str> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end])
}

/// argv from an exec record: NUL-separated, `args_len` bytes long.
pub fn argv(e: &ExecEvent) -> Vec<String> {
    let len = (e.args_len as usize).min(e.args.len());
    let mut args: Vec<String> = e.args[..len]
        .split(|&b| b == 0)
        .map(|a| String::from_utf8_lossy(a).into_owned())
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
        e2.args_len = 9999; // corrupt length: clamped, not a panic
        assert_eq!(argv(&e2).first().map(String::as_str), Some("/pause"));
    }
}
