//! Raw events as JSON lines, written by hand (schema: docs/json.md).

use std::io::{self, Write};

use tracer_common::{NS_COUNT, Ns, NsSet};

use crate::clock::Clock;
use crate::decode::flags::{self, syscall_name};
use crate::decode::mount::flag_names;
use crate::decode::{
    Event, MountPath, Unread, argv_truncated, c_str_ref, caller, filename_truncated, ns_in_mask,
};

/// A cheap mix of a set's inodes and ids ([`Memo::get`] compares it first).
fn fingerprint(ns: &NsSet) -> u64 {
    (0..NS_COUNT).fold(0, |h: u64, i| {
        (h.rotate_left(5) ^ u64::from(ns.inum[i]) ^ ns.id[i]).wrapping_mul(0x517c_c1b7_2722_0a95)
    })
}

/// A cheap mix of a task's fields, its comm's first eight bytes included.
fn task_fingerprint(&(pid, tid, ppid, comm, cgroup): &TaskKey) -> u64 {
    let [a, b, c, d, e, f, g, h, ..] = comm;
    (u64::from(pid) << 32 | u64::from(tid))
        ^ u64::from(ppid).rotate_left(17)
        ^ u64::from_le_bytes([a, b, c, d, e, f, g, h])
        ^ cgroup.rotate_left(41)
}

fn has_ids(ns: &NsSet) -> bool {
    ns.id[..NS_COUNT].iter().any(|&i| i != 0)
}

/// Text already made for recent events, made again only when it differs:
/// most events come from tasks in the same few namespace sets, forks with
/// the same few flags, and within the same second.
#[derive(Default)]
pub struct Memos {
    /// `{…}` of the inodes and, where the kernel has ids, `{…}` of those,
    /// per set.
    ns: Memo<NsSet, 8>,
    /// `"name":value` of each slot's last inode and id: a set the memo
    /// has not seen (a new namespace's) differs from the last in a slot
    /// or two, the other fields' text is copied.
    fields: [[Field; NS_COUNT]; 2],
    /// `,"syscall":…,"flags":…,"flag_names":[…]` per flags and syscall.
    flags: Memo<(u64, u32), 8>,
    /// `,"pid":…,"tid":…,"ppid":…,"comm":…,"cgroup_id":…` per task: a
    /// storm's events, or a process's forks, come from the same few.
    task: Memo<TaskKey, 8>,
    /// `,"changed":[…]` per mask of slots: a storm changes the same one.
    changed: Memo<u32, 4>,
    /// As `fields`, for an unshare's or setns's slots before the call.
    before: [[Field; NS_COUNT]; 2],
    /// Where a map's text is put together (see [`map_text`]).
    scratch: Scratch,
    /// The wall-clock second last written, and its RFC 3339 text up to
    /// the fraction (`2026-11-28T07:29:16.`).
    second: Option<(i128, [u8; 20])>,
}

/// What a task's fields in a line are made of: pid, tid, ppid, comm, cgroup id.
type TaskKey = (u32, u32, u32, [u8; 16], u64);

/// The longest map member: `"pid_for_children":` and 20 digits.
const FIELD_BYTES: usize = 40;

/// The longest map: braces, and every member with its comma.
const MAP_BYTES: usize = 2 + NS_COUNT * (1 + FIELD_BYTES);

/// A map's text as [`map_text`] builds it: kept, not zeroed for each map.
struct Scratch(Box<[u8; MAP_BYTES]>);

impl Default for Scratch {
    fn default() -> Self {
        Self(Box::new([0; MAP_BYTES]))
    }
}

/// One map member's text, `"name":value`, and the value it was made for.
#[derive(Clone, Copy)]
struct Field {
    value: u64,
    len: u8,
    text: [u8; FIELD_BYTES],
}

impl Default for Field {
    fn default() -> Self {
        Self {
            value: 0,
            len: 0,
            text: [0; FIELD_BYTES],
        }
    }
}

impl Field {
    /// `"name":value`, made again only when the value changed.
    #[inline]
    fn text(&mut self, name: &str, value: u64) -> &[u8] {
        if self.len == 0 || self.value != value {
            let mut n = itoa::Buffer::new();
            let digits = n.format(value).as_bytes();
            let mut len = 0;
            for piece in [b"\"", name.as_bytes(), b"\":", digits] {
                self.text[len..len + piece.len()].copy_from_slice(piece);
                len += piece.len();
            }
            self.len = len as u8;
            self.value = value;
        }
        &self.text[..usize::from(self.len)]
    }
}

/// The text of the last `N` keys seen (a small ring: the keys repeat),
/// with a number its maker gives (where the text splits).
struct Memo<K, const N: usize> {
    slots: Vec<Slot<K>>,
    next: usize,
    /// The slot found or made last: looked at first (runs of one key).
    last: usize,
}

/// One key's text in a [`Memo`].
struct Slot<K> {
    /// The key's fingerprint, compared before the key.
    fp: u64,
    key: K,
    text: Vec<u8>,
    /// The maker's number.
    split: usize,
}

impl<K, const N: usize> Default for Memo<K, N> {
    fn default() -> Self {
        Self {
            slots: Vec::with_capacity(N),
            next: 0,
            last: 0,
        }
    }
}

impl<K: PartialEq, const N: usize> Memo<K, N> {
    /// The text for `key`, made by `make` unless it is among the last `N`
    /// (made into the oldest slot's buffer: no allocation once all are used).
    /// `fp` is a fingerprint of `key`, compared first: a namespace set is
    /// 112 bytes, and a storm's new set each time missed all eight.
    fn get(
        &mut self,
        key: K,
        fp: u64,
        make: impl FnOnce(&mut Vec<u8>) -> io::Result<usize>,
    ) -> io::Result<(&[u8], usize)> {
        let is = |s: &Slot<K>| s.fp == fp && s.key == key;
        let hit = match self.slots.get(self.last) {
            Some(slot) if is(slot) => Some(self.last),
            _ => self.slots.iter().position(is),
        };
        if let Some(i) = hit {
            self.last = i;
            let s = &self.slots[i];
            return Ok((&s.text, s.split));
        }
        let i = if self.slots.len() < N {
            self.slots.push(Slot {
                fp,
                key,
                text: Vec::with_capacity(512),
                split: 0,
            });
            self.slots.len() - 1
        } else {
            let i = self.next;
            self.next = (i + 1) % N;
            self.slots[i].fp = fp;
            self.slots[i].key = key;
            i
        };
        let s = &mut self.slots[i];
        s.text.clear();
        match make(&mut s.text) {
            Ok(n) => {
                s.split = n;
                self.last = i;
            }
            Err(e) => {
                // Never found again half made.
                self.slots.swap_remove(i);
                self.next = 0;
                return Err(e);
            }
        }
        let s = &self.slots[i];
        Ok((&s.text, s.split))
    }
}

impl Memos {
    /// `clock.rfc3339(ts_ns).bytes()`, the calendar part made once a second.
    fn time(&mut self, clock: &Clock, ts_ns: u64) -> [u8; 30] {
        let wall = clock.wall_ns(ts_ns);
        // In i64 where it fits (any time of this era): a division of
        // i128 is a call, most of this function's cost.
        let (sec, nanos) = match i64::try_from(wall) {
            Ok(w) => (
                i128::from(w.div_euclid(1_000_000_000)),
                i128::from(w.rem_euclid(1_000_000_000)),
            ),
            Err(_) => (
                wall.div_euclid(1_000_000_000),
                wall.rem_euclid(1_000_000_000),
            ),
        };
        match self.second {
            Some((s, prefix)) if s == sec => {
                let mut b = *b"0000-00-00T00:00:00.000000000Z";
                b[..20].copy_from_slice(&prefix);
                let mut v = nanos as u32;
                for d in b[20..29].iter_mut().rev() {
                    *d = b'0' + (v % 10) as u8;
                    v /= 10;
                }
                b
            }
            _ => {
                let b = clock.rfc3339(ts_ns).bytes();
                // Only a time the calendar could place (the whole second can).
                if time::OffsetDateTime::from_unix_timestamp_nanos(wall).is_ok() {
                    let mut prefix = [0u8; 20];
                    prefix.copy_from_slice(&b[..20]);
                    self.second = Some((sec, prefix));
                }
                b
            }
        }
    }
}

/// One raw event as a JSON line (schema: docs/json.md), written by hand:
/// this runs for every event with `--raw --json`, and serde's generic path
/// (escaping every key, building strings) cost more than all the rest.
/// Fields that do not apply to a kind are left out.
pub fn write_event_json<W: Write>(
    w: &mut W,
    ev: &Event,
    unread: Unread,
    clock: &Clock,
    memos: &mut Memos,
) -> io::Result<()> {
    let h = ev.header();
    let who = ev.who();
    let mut n = itoa::Buffer::new();
    macro_rules! num {
        ($key:literal, $v:expr) => {{
            w.write_all(concat!(",\"", $key, "\":").as_bytes())?;
            w.write_all(n.format($v).as_bytes())?;
        }};
    }
    w.write_all(b"{\"type\":\"event\",\"event\":\"")?;
    w.write_all(ev.name().as_bytes())?;
    w.write_all(b"\",\"time\":\"")?;
    w.write_all(&memos.time(clock, h.ts_ns))?;
    w.write_all(b"\"")?;
    num!("ts_ns", h.ts_ns);
    let task = (who.pid, who.tid, h.ppid, h.comm, h.cgroup_id);
    let (text, _) = memos.task.get(task, task_fingerprint(&task), |t| {
        let mut n = itoa::Buffer::new();
        for (key, v) in [
            (&b",\"pid\":"[..], who.pid),
            (b",\"tid\":", who.tid),
            (b",\"ppid\":", h.ppid),
        ] {
            t.extend_from_slice(key);
            t.extend_from_slice(n.format(v).as_bytes());
        }
        t.extend_from_slice(b",\"comm\":");
        comm_str(t, &h.comm)?;
        t.extend_from_slice(b",\"cgroup_id\":");
        t.extend_from_slice(n.format(h.cgroup_id).as_bytes());
        Ok(0)
    })?;
    w.write_all(text)?;
    if !unread.is_empty() {
        w.write_all(b",\"unread\":")?;
        name_list(w, unread.names())?;
    }
    let mut flags = |w: &mut W, flags: u64, syscall: u32| -> io::Result<()> {
        let fp = flags ^ u64::from(syscall);
        let (text, _) = memos.flags.get((flags, syscall), fp, |t| {
            t.extend_from_slice(b",\"syscall\":\"");
            t.extend_from_slice(syscall_name(syscall).as_bytes());
            t.extend_from_slice(b"\",\"flags\":");
            t.extend_from_slice(itoa::Buffer::new().format(flags).as_bytes());
            t.extend_from_slice(b",\"flag_names\":");
            let names = flags::names(flags, syscall);
            name_list(t, names.iter().map(|n| n.as_ref()))?;
            Ok(0)
        })?;
        w.write_all(text)
    };
    // An unshare's or setns's set before and what changed, written after `ns`.
    let mut before = None;
    match ev {
        Event::Fork(e) => {
            flags(w, e.flags, e.syscall)?;
            let by = caller(e);
            num!("caller_pid", by.pid);
            num!("caller_tid", by.tid);
            changed_names(w, &mut memos.changed, e.changed)?;
        }
        Event::Exec(e) => {
            w.write_all(b",\"filename\":")?;
            comm_str(w, &e.filename)?;
            w.write_all(b",\"argv\":")?;
            argv_list(w, &e.args, e.args_len)?;
            let cut = |b| if b { &b"true"[..] } else { &b"false"[..] };
            w.write_all(b",\"argv_truncated\":")?;
            w.write_all(cut(argv_truncated(e)))?;
            w.write_all(b",\"filename_truncated\":")?;
            w.write_all(cut(filename_truncated(e)))?;
            num!("old_tid", e.old_pid);
        }
        Event::Exit(e) => {
            num!("exit_code", e.exit_code);
            w.write_all(if e.group_dead != 0 {
                b",\"group_dead\":true"
            } else {
                b",\"group_dead\":false"
            })?;
        }
        Event::Unshare(e) | Event::Setns(e) | Event::CloneFailed(e) => {
            flags(w, e.flags, e.syscall)?;
            if matches!(ev, Event::Setns(_)) {
                num!("fd", e.fd);
            }
            num!("ret", e.ret);
            let changed = e.ns.diff(&e.ns_before);
            changed_names(w, &mut memos.changed, changed)?;
            before = Some((&e.ns_before, changed));
        }
        Event::Mount(m) => {
            num!("flags", m.flags);
            w.write_all(b",\"flag_names\":")?;
            let names = flag_names(m.kind, m.flags);
            name_list(w, names.iter().map(String::as_str))?;
            match m.ret {
                Some(r) => num!("ret", r),
                None => w.write_all(b",\"ret\":null")?,
            }
            if let Some(fd) = m.from_fd {
                num!("from_fd", fd);
            }
            if let Some(fd) = m.to_fd {
                num!("to_fd", fd);
            }
            mount_path(w, "source", &m.source)?;
            mount_path(w, "target", &m.target)?;
        }
        Event::Cause(c) => super::cause::fields(w, c)?,
        Event::Visitor(v) => {
            w.write_all(b",\"argv\":")?;
            argv_list(w, &v.args, v.args_len)?;
            w.write_all(b",\"cni_command\":")?;
            match &v.cni_command {
                Some(c) => json_str(w, c)?,
                None => w.write_all(b"null")?,
            }
            // Whether argv and the whole environment were read (else
            // a live run read /proc).
            w.write_all(if v.complete() {
                b",\"complete\":true"
            } else {
                b",\"complete\":false"
            })?;
        }
    }
    ns_maps(w, memos, ",\"ns\":", ",\"ns_id\":", ev.ns())?;
    if let Some((ns_before, changed)) = before {
        changed_maps(w, memos, ns_before, changed)?;
    }
    w.write_all(b"}\n")
}

/// `,"ns_before":{…}` and, where the kernel has ids, `,"ns_id_before":{…}`
/// of the slots that changed: the others are as in `ns`. Every slot again
/// made an unshare's or setns's line ~1 KiB, most of it repeated, and in a
/// storm of them the text was what the reader could not keep up with.
fn changed_maps<W: Write>(
    w: &mut W,
    memos: &mut Memos,
    before: &NsSet,
    changed: u32,
) -> io::Result<()> {
    let Memos {
        before: [inums, ids],
        scratch,
        ..
    } = memos;
    w.write_all(b",\"ns_before\":")?;
    w.write_all(map_text(scratch, inums, changed, |i| {
        u64::from(before.inum[i])
    }))?;
    if has_ids(before) {
        w.write_all(b",\"ns_id_before\":")?;
        w.write_all(map_text(scratch, ids, changed, |i| before.id[i]))?;
    }
    Ok(())
}

/// `,"source":"…"` (with `source_truncated`/`source_unread` when so).
fn mount_path<W: Write>(w: &mut W, key: &str, p: &Option<MountPath>) -> io::Result<()> {
    let Some(p) = p else { return Ok(()) };
    write!(w, ",\"{key}\":")?;
    json_str(w, &p.path)?;
    if p.truncated {
        write!(w, ",\"{key}_truncated\":true")?;
    }
    if p.unread {
        write!(w, ",\"{key}_unread\":true")?;
    }
    Ok(())
}

/// A string, JSON-escaped.
fn json_str<W: Write>(w: &mut W, s: &str) -> io::Result<()> {
    Ok(serde_json::to_writer(w, s)?)
}

/// A NUL-terminated name as a JSON string (as [`json_str`] of
/// [`c_str_ref`] writes it; plain ASCII, the usual case, straight out).
fn comm_str<W: Write>(w: &mut W, bytes: &[u8]) -> io::Result<()> {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let name = &bytes[..end];
    // A fold, not `all`: no branch per byte, and plain names (nearly all)
    // never exit early anyway (a fork+exec replay's raw JSON: −0.7 % of
    // its instructions, valgrind).
    let plain = name.iter().fold(true, |ok, &b| {
        ok & (b.wrapping_sub(0x20) < 0x5f) & (b != b'"') & (b != b'\\')
    });
    if plain {
        w.write_all(b"\"")?;
        w.write_all(name)?;
        w.write_all(b"\"")
    } else {
        json_str(w, &c_str_ref(bytes))
    }
}

/// argv from an exec record as a JSON list ([`crate::decode::argv`]'s
/// strings, written without collecting them).
/// NUL-separated arguments, the first `len` bytes of `args`.
fn argv_list<W: Write>(w: &mut W, args: &[u8], len: u32) -> io::Result<()> {
    let len = (len as usize).min(args.len());
    let mut args = args[..len].split(|&b| b == 0).peekable();
    w.write_all(b"[")?;
    let mut first = true;
    while let Some(a) = args.next() {
        // The final NUL leaves one empty piece behind.
        if a.is_empty() && args.peek().is_none() {
            break;
        }
        if !first {
            w.write_all(b",")?;
        }
        first = false;
        comm_str(w, a)?;
    }
    w.write_all(b"]")
}

/// `,"changed":["uts",…]`: the slots in `mask`.
fn changed_names<W: Write>(w: &mut W, memo: &mut Memo<u32, 4>, mask: u32) -> io::Result<()> {
    let (text, _) = memo.get(mask, u64::from(mask), |t| {
        t.extend_from_slice(b",\"changed\":");
        name_list(t, ns_in_mask(mask).map(Ns::proc_name))?;
        Ok(0)
    })?;
    w.write_all(text)
}

/// A list of names that need no escaping (namespace and flag names).
fn name_list<'n, W: Write>(w: &mut W, names: impl Iterator<Item = &'n str>) -> io::Result<()> {
    w.write_all(b"[")?;
    for (i, name) in names.enumerate() {
        w.write_all(if i == 0 { b"\"" } else { b",\"" })?;
        w.write_all(name.as_bytes())?;
        w.write_all(b"\"")?;
    }
    w.write_all(b"]")
}

/// `{"mnt":…,…}` of the non-zero values of the slots in `mask`, from
/// their fields' text, made in `scratch`. Each field's whole buffer is
/// copied (a copy of a constant size, inlined: not a call per field).
fn map_text<'s>(
    scratch: &'s mut Scratch,
    fields: &mut [Field; NS_COUNT],
    mask: u32,
    value: impl Fn(usize) -> u64,
) -> &'s [u8] {
    let buf = &mut *scratch.0;
    buf[0] = b'{';
    let mut at = 1;
    // The mask's bits, lowest first (an unshare's or setns's one slot in
    // one step, not nine).
    let mut left = mask & ((1 << NS_COUNT) - 1);
    while left != 0 {
        let i = left.trailing_zeros() as usize;
        left &= left - 1;
        let slot = Ns::ALL[i];
        let v = value(i);
        if v == 0 {
            continue;
        }
        if at > 1 {
            buf[at] = b',';
            at += 1;
        }
        let f = &mut fields[i];
        let len = f.text(slot.proc_name(), v).len();
        buf[at..at + FIELD_BYTES].copy_from_slice(&f.text);
        at += len;
    }
    buf[at] = b'}';
    &buf[..=at]
}

/// `,"ns":{"mnt":…,…}` and, where the kernel has them, `,"ns_id":{…}`;
/// zeros (namespaces this kernel lacks) left out. `key` and `id_key` are
/// written as given (`,"ns":`). The maps' text comes from `memos.ns`:
/// `{…}` of the inodes, then that of the ids (if any).
fn ns_maps<W: Write>(
    w: &mut W,
    memos: &mut Memos,
    key: &str,
    id_key: &str,
    ns: &NsSet,
) -> io::Result<()> {
    let Memos {
        ns: memo,
        fields: [inums, ids],
        scratch,
        ..
    } = memos;
    let all = (1 << NS_COUNT) - 1;
    let (text, split) = memo.get(*ns, fingerprint(ns), |t| {
        t.extend_from_slice(map_text(scratch, inums, all, |i| u64::from(ns.inum[i])));
        let split = t.len();
        if has_ids(ns) {
            t.extend_from_slice(map_text(scratch, ids, all, |i| ns.id[i]));
        }
        Ok(split)
    })?;
    let (inums, ids) = text.split_at(split.min(text.len()));
    w.write_all(key.as_bytes())?;
    w.write_all(inums)?;
    if !ids.is_empty() {
        w.write_all(id_key.as_bytes())?;
        w.write_all(ids)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain path writes exactly what serde_json writes for the name
    /// up to its NUL, at every byte where plain ends: controls, DEL,
    /// quote, backslash, non-ASCII, and invalid UTF-8.
    #[test]
    fn a_name_is_written_as_serde_json_writes_it() {
        let mut names: Vec<Vec<u8>> = (0u8..=255).map(|b| vec![b'a', b, b'z', 0, b'"']).collect();
        names.push(b"runc:[2:INIT]".to_vec());
        names.push(b"no-nul-at-all!!!".to_vec());
        names.push(b"\xff\xfe".to_vec());
        for name in names {
            let mut ours = Vec::new();
            comm_str(&mut ours, &name).unwrap();
            let want = serde_json::to_vec(&*c_str_ref(&name)).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&want),
                "{name:?}"
            );
        }
    }
}
