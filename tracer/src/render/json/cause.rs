//! The fields of cause records in a raw event's JSON line.

use std::io::{self, Write};

use crate::decode::{Cause, c_str_ref};
use crate::report::signal_name;

/// `,"signal":9,"signal_name":"SIGKILL",…` after the common fields.
pub fn fields<W: Write>(w: &mut W, c: &Cause) -> io::Result<()> {
    let v = match c {
        Cause::Signal(e) => serde_json::json!({
            "signal": e.sig,
            "signal_name": signal_name(i32::try_from(e.sig).unwrap_or(0)),
            "code": e.code,
            "group": e.group != 0,
            "result": e.result,
            "target_pid": e.target_tgid,
            "target_tid": e.target_pid,
            "target_comm": c_str_ref(&e.target_comm),
        }),
        Cause::Oom(e) => serde_json::json!({
            "victim_pid": e.victim_tgid,
            "victim_tid": e.victim_pid,
            "victim_comm": c_str_ref(&e.victim_comm),
        }),
        Cause::CgroupMkdir(e) => serde_json::json!({
            "id": e.id,
            "level": e.level,
            "path": c_str_ref(&e.path),
        }),
    };
    // The object's members, spliced after the common ones.
    let text = serde_json::to_string(&v)?;
    let inner = text
        .strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or_default();
    if !inner.is_empty() {
        w.write_all(b",")?;
        w.write_all(inner.as_bytes())?;
    }
    Ok(())
}
