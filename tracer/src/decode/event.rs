//! Decoded kernel events, and the pure, bounds-checked decoder that makes
//! them from ring-buffer (or recorded) bytes.

use tracer_common::{
    CauseKind, ExecEvent, ExitEvent, ForkEvent, Header, Kind, MountKind, NO_FD, NsChangeEvent,
    NsSet, PATH_LEN, Plain, RET_UNREAD, path,
};

use super::cause::{self, Cause};
use super::mount::{MountDecodeError, MountEvent, MountPath, decode_mount};
use super::visitor::{self, Visitor};

/// One record from the kernel, checked and typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Fork(ForkEvent),
    /// Boxed: four times the size of the others, and rarer.
    Exec(Box<ExecEvent>),
    Exit(ExitEvent),
    Unshare(NsChangeEvent),
    Setns(NsChangeEvent),
    CloneFailed(NsChangeEvent),
    /// A bind mount that may pin a namespace, or an unmount (boxed: it
    /// carries two paths).
    Mount(Box<MountEvent>),
    /// A fatal signal, an OOM victim, a new cgroup (see [`Cause`]).
    Cause(Cause),
    /// What a task that entered another netns by setns runs as, just
    /// before that setns (boxed: its argv).
    Visitor(Box<Visitor>),
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record of {len} bytes is shorter than the {need}-byte header")]
    ShortHeader { len: usize, need: usize },
    #[error("unknown event kind {0}")]
    UnknownKind(u32),
    #[error("{kind:?} record is {len} bytes, expected {need}")]
    BadLength { kind: Kind, len: usize, need: usize },
    #[error(transparent)]
    Mount(#[from] MountDecodeError),
    #[error("{kind:?} record is {len} bytes, expected {need}")]
    BadCauseLength {
        kind: CauseKind,
        len: usize,
        need: usize,
    },
}

/// `buf` is exactly one `T`: its size, or the error naming both.
fn check_len<T: Plain>(kind: Kind, buf: &[u8]) -> Result<usize, DecodeError> {
    let need = size_of::<T>();
    if buf.len() != need {
        return Err(DecodeError::BadLength {
            kind,
            len: buf.len(),
            need,
        });
    }
    Ok(need)
}

/// Copy a `T` out of exactly `size_of::<T>()` bytes.
fn read<T: Plain>(kind: Kind, buf: &[u8]) -> Result<T, DecodeError> {
    check_len::<T>(kind, buf)?;
    // SAFETY: the length is checked and `Plain` types accept every bit pattern.
    Ok(unsafe { std::ptr::read_unaligned(buf.as_ptr().cast::<T>()) })
}

/// Copy a `T` out of exactly `size_of::<T>()` bytes into `spare`'s box, or
/// a new one.
fn read_boxed<T: Plain>(
    kind: Kind,
    buf: &[u8],
    spare: &mut Option<Box<T>>,
) -> Result<Box<T>, DecodeError> {
    let need = check_len::<T>(kind, buf)?;
    let mut b = spare.take().unwrap_or_else(|| Box::new(T::zeroed()));
    // SAFETY: the length is checked, `b` is a valid `T` of exactly `need`
    // bytes, and `Plain` types accept every bit pattern.
    unsafe {
        std::ptr::copy_nonoverlapping(buf.as_ptr(), (&mut *b as *mut T).cast::<u8>(), need);
    }
    Ok(b)
}

/// Decode one record. Never panics: any byte string gives an event or an error.
pub fn decode(buf: &[u8]) -> Result<Event, DecodeError> {
    decode_reusing(buf, &mut None)
}

/// [`decode`], an exec record copied into `spare` when it holds a box (an
/// earlier exec's, handed back): a stream of records allocates none for
/// them, and copies each once.
pub fn decode_reusing(
    buf: &[u8],
    spare: &mut Option<Box<ExecEvent>>,
) -> Result<Event, DecodeError> {
    let need = size_of::<Header>();
    let raw_kind = match buf.get(..4) {
        Some(b) if buf.len() >= need => u32::from_ne_bytes([b[0], b[1], b[2], b[3]]),
        _ => {
            return Err(DecodeError::ShortHeader {
                len: buf.len(),
                need,
            });
        }
    };
    if let Ok(kind) = CauseKind::try_from(raw_kind) {
        return cause::decode(kind, buf).map(Event::Cause);
    }
    let kind = match Kind::try_from(raw_kind) {
        Ok(k) => k,
        Err(other) => {
            let mk = MountKind::try_from(other).map_err(DecodeError::UnknownKind)?;
            return Ok(Event::Mount(Box::new(decode_mount(mk, buf)?)));
        }
    };
    Ok(match kind {
        Kind::Fork => Event::Fork(read(kind, buf)?),
        Kind::Exec => Event::Exec(read_boxed(kind, buf, spare)?),
        Kind::Exit => Event::Exit(read(kind, buf)?),
        Kind::Unshare => Event::Unshare(read(kind, buf)?),
        Kind::Setns => Event::Setns(read(kind, buf)?),
        Kind::CloneFailed => Event::CloneFailed(read(kind, buf)?),
        Kind::Visitor => Event::Visitor(Box::new(visitor::decode(buf)?)),
    })
}

/// The record's bytes as the kernel writes them (tests, synthetic recordings).
pub fn encode(ev: &Event) -> Vec<u8> {
    fn bytes<T: Plain>(v: &T) -> Vec<u8> {
        // SAFETY: `Plain` types have no padding bytes; reading them as bytes is defined.
        unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), size_of::<T>()) }.to_vec()
    }
    match ev {
        Event::Fork(e) => bytes(e),
        Event::Exec(e) => bytes(e.as_ref()),
        Event::Exit(e) => bytes(e),
        Event::Unshare(e) | Event::Setns(e) | Event::CloneFailed(e) => bytes(e),
        Event::Mount(m) => bytes(&encode_mount(m)),
        Event::Cause(c) => c.bytes(),
        Event::Visitor(v) => v.bytes(),
    }
}

/// The kernel's record of a decoded mount event (paths as their UTF-8 bytes).
fn encode_mount(m: &MountEvent) -> tracer_common::MountEvent {
    let mut e = tracer_common::MountEvent {
        hdr: m.hdr,
        flags: m.flags,
        ret: m.ret.unwrap_or(RET_UNREAD),
        from_fd: m.from_fd.unwrap_or(NO_FD),
        to_fd: m.to_fd.unwrap_or(NO_FD),
        source_len: 0,
        target_len: 0,
        path_flags: 0,
        _pad: 0,
        ns: m.ns,
        source: [0; PATH_LEN],
        target: [0; PATH_LEN],
    };
    let put = |p: &Option<MountPath>, buf: &mut [u8; PATH_LEN], cut: u32, unread: u32| {
        let Some(p) = p else { return (0, 0) };
        let b = p.path.as_bytes();
        let n = b.len().min(PATH_LEN - 1);
        buf[..n].copy_from_slice(&b[..n]);
        let flags = if p.truncated { cut } else { 0 } | if p.unread { unread } else { 0 };
        (n as u32, flags)
    };
    let (sl, sf) = put(
        &m.source,
        &mut e.source,
        path::SOURCE_TRUNCATED,
        path::SOURCE_UNREAD,
    );
    let (tl, tf) = put(
        &m.target,
        &mut e.target,
        path::TARGET_TRUNCATED,
        path::TARGET_UNREAD,
    );
    e.source_len = sl;
    e.target_len = tl;
    e.path_flags = sf | tf;
    e
}

/// A task as userspace names it. The kernel's `pid` (and so
/// [`Header::pid`]) is the thread id; its `tgid` is what userspace calls
/// the pid.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Who {
    pub tid: u32,
    pub pid: u32,
}

impl Who {
    /// The task a record's header describes.
    pub fn of(h: &Header) -> Self {
        Self {
            tid: h.pid,
            pid: h.tgid,
        }
    }
}

/// Who called clone for a fork (not always the parent: `CLONE_PARENT`, threads).
pub fn caller(e: &ForkEvent) -> Who {
    Who {
        tid: e.caller_pid,
        pid: e.caller_tgid,
    }
}

impl Event {
    /// The task the event is about (for a fork, the child).
    pub fn who(&self) -> Who {
        Who::of(self.header())
    }

    /// CLOCK_BOOTTIME of the event, in ns.
    pub fn ts_ns(&self) -> u64 {
        self.header().ts_ns
    }

    pub fn header(&self) -> &Header {
        match self {
            Event::Fork(e) => &e.hdr,
            Event::Exec(e) => &e.hdr,
            Event::Exit(e) => &e.hdr,
            Event::Unshare(e) | Event::Setns(e) | Event::CloneFailed(e) => &e.hdr,
            Event::Mount(m) => &m.hdr,
            Event::Cause(c) => c.header(),
            Event::Visitor(v) => &v.hdr,
        }
    }

    /// The task's namespaces after the event.
    pub fn ns(&self) -> &NsSet {
        match self {
            Event::Fork(e) => &e.ns,
            Event::Exec(e) => &e.ns,
            Event::Exit(e) => &e.ns,
            Event::Unshare(e) | Event::Setns(e) | Event::CloneFailed(e) => &e.ns,
            Event::Mount(m) => &m.ns,
            Event::Cause(c) => c.ns(),
            Event::Visitor(v) => &v.ns,
        }
    }

    /// Short lower-case name, as in JSON's `event` field.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Fork(_) => "fork",
            Event::Exec(_) => "exec",
            Event::Exit(_) => "exit",
            Event::Unshare(_) => "unshare",
            Event::Setns(_) => "setns",
            Event::CloneFailed(_) => "clone_failed",
            Event::Mount(m) => match m.kind {
                MountKind::Mount => "mount",
                MountKind::Umount => "umount",
                MountKind::OpenTree => "open_tree",
                MountKind::MoveMount => "move_mount",
            },
            Event::Cause(c) => c.name(),
            Event::Visitor(_) => "visitor",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::samples;

    #[test]
    fn every_kind_round_trips() {
        for ev in samples() {
            let bytes = encode(&ev);
            assert_eq!(decode(&bytes).as_ref(), Ok(&ev), "{}", ev.name());
        }
    }

    /// A box handed back is reused, and what it held is overwritten.
    #[test]
    fn a_spare_box_takes_the_next_exec() {
        let execs: Vec<Event> = samples()
            .into_iter()
            .filter(|e| matches!(e, Event::Exec(_)))
            .collect();
        let Some(Event::Exec(first)) = execs.first().cloned() else {
            unreachable!()
        };
        let mut other = *first;
        other.args_len = 3;
        other.filename[0] ^= 1;
        other.hdr.pid += 1;
        let mut spare = None;
        for ev in [
            Event::Exec(first),
            Event::Exec(Box::new(other)),
            execs[0].clone(),
        ] {
            let got = decode_reusing(&encode(&ev), &mut spare);
            assert_eq!(got.as_ref(), Ok(&ev));
            assert!(spare.is_none(), "the spare box went into the event");
            let Ok(Event::Exec(b)) = got else {
                unreachable!()
            };
            let at: *const ExecEvent = &*b;
            spare = Some(b);
            let again = decode_reusing(&encode(&ev), &mut spare);
            let Ok(Event::Exec(b)) = again else {
                unreachable!()
            };
            assert!(std::ptr::eq(at, &*b), "the spare box was reused");
            spare = Some(b);
        }
        let mut short = encode(&execs[0]);
        short.pop();
        assert!(decode_reusing(&short, &mut spare).is_err());
        assert!(spare.is_some(), "a bad record leaves the spare box");
    }

    #[test]
    fn truncated_records_are_errors() {
        for ev in samples() {
            let bytes = encode(&ev);
            for cut in [0, 3, 4, size_of::<Header>() - 1] {
                assert!(matches!(
                    decode(&bytes[..cut]),
                    Err(DecodeError::ShortHeader { .. })
                ));
            }
            let short = &bytes[..bytes.len() - 1];
            assert!(
                matches!(decode(short), Err(DecodeError::BadLength { len, need, .. }
                    | DecodeError::Mount(MountDecodeError::BadLength { len, need, .. })) if need == len + 1),
                "{}",
                ev.name()
            );
            let mut long = bytes.clone();
            long.push(0);
            assert!(matches!(
                decode(&long),
                Err(DecodeError::BadLength { .. }
                    | DecodeError::Mount(MountDecodeError::BadLength { .. }))
            ));
        }
    }

    #[test]
    fn unknown_kinds_are_errors() {
        let mut bytes = encode(&samples()[0]);
        for kind in [0u32, 15, 1000, u32::MAX] {
            bytes[..4].copy_from_slice(&kind.to_ne_bytes());
            assert_eq!(decode(&bytes), Err(DecodeError::UnknownKind(kind)));
        }
    }

    #[test]
    fn garbage_never_panics() {
        // A deterministic pseudo-random byte soup of every length up to 1 KiB.
        let mut x: u32 = 0x1234_5678;
        let mut buf = Vec::new();
        for len in 0..1024 {
            buf.clear();
            for _ in 0..len {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                buf.push(x as u8);
            }
            // Half the time, give it a real kind so the length checks run.
            if len >= 4 && len % 2 == 0 {
                buf[..4].copy_from_slice(&(1 + (len as u32 % 10)).to_ne_bytes());
            }
            let _ = decode(&buf);
        }
    }
}
