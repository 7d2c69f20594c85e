//! Lookups in the tracer's JSON lines (docs/json.md) for the holder
//! scenarios: the report, the sandbox holding a given namespace, its live
//! lines. Missing fields read as null, so a check on a field issue 8 adds
//! fails with what was there instead of panicking.

use serde_json::Value;

pub fn u(v: &Value) -> Option<u64> {
    v.as_u64()
}

/// The `report` line.
pub fn report(lines: &[Value]) -> &Value {
    lines
        .iter()
        .find(|l| l["type"] == "report")
        .expect("the tracer printed a report")
}

pub fn array(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

/// Sandboxes whose namespaces include `kind` with this inode (and this
/// `ns_id` where the kernel has them: inodes are reused).
pub fn sandboxes_holding<'a>(
    report: &'a Value,
    kind: &str,
    inum: u64,
    id: Option<u64>,
) -> Vec<&'a Value> {
    array(&report["sandboxes"])
        .iter()
        .filter(|s| {
            array(&s["namespaces"]).iter().any(|n| {
                n["kind"] == kind
                    && u(&n["inum"]) == Some(inum)
                    && id.is_none_or(|id| u(&n["id"]) == Some(id))
            })
        })
        .collect()
}

/// The sandbox's namespace of this kind (null when absent).
pub fn ns_of<'a>(sb: &'a Value, kind: &str) -> &'a Value {
    array(&sb["namespaces"])
        .iter()
        .find(|n| n["kind"] == kind)
        .unwrap_or(&Value::Null)
}

/// The live `lifecycle` lines of sandbox number `no`.
pub fn lifecycle_of<'a>(lines: &'a [Value], no: &Value) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l["type"] == "lifecycle" && &l["sandbox"] == no)
        .collect()
}

/// `namespace_empty` lines (any sandbox) for this namespace.
pub fn emptied_lines<'a>(lines: &'a [Value], kind: &str, inum: u64) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| {
            l["type"] == "lifecycle"
                && l["event"] == "namespace_empty"
                && l["kind"] == kind
                && u(&l["inum"]) == Some(inum)
        })
        .collect()
}

/// Does any `pid` field anywhere in `v` equal `pid`?
pub fn mentions_pid(v: &Value, pid: u32) -> bool {
    match v {
        Value::Object(o) => o
            .iter()
            .any(|(k, x)| (k == "pid" && u(x) == Some(u64::from(pid))) || mentions_pid(x, pid)),
        Value::Array(a) => a.iter().any(|x| mentions_pid(x, pid)),
        _ => false,
    }
}

/// The strings of a JSON array of strings.
pub fn strings(v: &Value) -> Vec<String> {
    array(v)
        .iter()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

// ---- issue 8: the shapes the holder ledger is expected to add ---------------
//
// Report, `sandboxes[].namespaces[]`:
//   `pins[]`    {`path`, `mnt_ns` (inode of the mount namespace the mount is
//               in), `made` {`ts_ns`, `pid`, `comm`} | null, `removed`
//               {`ts_ns`, `pid`, `comm`} | null}
//   `freed_ns`  no task and no pin left in any mount namespace | null
// Report, `sandboxes[]`:
//   `visitors[]`  {`pid`, `comm`, `argv`, `joined` [kinds], `entered_ns`,
//                 `left_ns`, `exit`}
//   `last_holder` {`kind`: "pin"|"pause"|"container", `path`, `mnt_ns` (pins),
//                 `pid`, `comm` (tasks)}: the holder whose going ended it
// Lifecycle `event`s (with `sandbox`, `ts_ns` as every lifecycle line):
//   `pin_added` / `pin_removed`  {`kind`, `inum`, `path`, `mnt_ns`, `by` {`pid`, `comm`}};
//                                a pin made before its sandbox is recognised is
//                                printed then, with its own `ts_ns` (as
//                                `namespace_created`)
//   `visit`                      {`task` {`pid`, `comm`}, `argv`, `joined`}
//   `leak`                       {`kind`, `inum`, `path`, `mnt_ns`,
//                                 `holder` {`pid`, `comm`}, `made` {`ts_ns`, `pid`, `comm`}}
//   `sandbox_ended`              + `last_holder` as in the report
// Sandbox `anomalies[]`: a LEAK is a text containing `LEAK`, the path, and
// `pid <holder pid>` with its command.

/// The entry of `pins[]` for this path in this mount namespace.
pub fn pin_entry<'a>(ns: &'a Value, path: &str, mnt_ns: u64) -> Option<&'a Value> {
    array(&ns["pins"])
        .iter()
        .find(|p| p["path"] == path && u(&p["mnt_ns"]) == Some(mnt_ns))
}

/// Lifecycle lines of sandbox `no` with this `event` (issue 8's new ones too).
pub fn steps<'a>(lines: &'a [Value], no: &Value, event: &str) -> Vec<&'a Value> {
    lifecycle_of(lines, no)
        .into_iter()
        .filter(|l| l["event"] == event)
        .collect()
}
