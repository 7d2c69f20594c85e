//! Text that came from the kernel or a file (argv, comm, filenames, paths,
//! cgroup and pod names, anything read from a recording) is written to a
//! terminal: every control character in it is shown, never sent. An argv
//! of `\e[2J\e]0;pwned\a` would otherwise clear the screen and retitle it.

use std::borrow::Cow;
use std::fmt::Write;

/// Characters a terminal acts on: C0 and C1 controls, DEL, and the
/// bidirectional overrides and isolates that reorder what is shown.
fn hostile(c: char) -> bool {
    c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// `s` with each control character written out: `\n`, `\t`, `\r`,
/// `\x1b`, `\u{202e}`. Borrowed when there is none (the usual case).
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s.chars().any(hostile) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if hostile(c) && (c as u32) < 0x100 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if hostile(c) => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_shown_not_sent() {
        let evil = "\u{1b}[2J\u{1b}]0;pwned\u{7}x\u{9b}31m\u{7f}\u{202e}gnp.exe\ttab\nline";
        let shown = escape(evil);
        assert_eq!(
            shown,
            "\\x1b[2J\\x1b]0;pwned\\x07x\\x9b31m\\x7f\\u{202e}gnp.exe\\ttab\\nline"
        );
        assert!(!shown.chars().any(hostile));
    }

    #[test]
    fn plain_text_is_borrowed_as_is() {
        for s in [
            "/pause",
            "sleep 100",
            "pod 0123456789aé",
            "namespaces→pause 3µs",
            "",
        ] {
            assert!(matches!(escape(s), Cow::Borrowed(b) if b == s));
        }
    }
}
