//! Decoded kernel events, and the pure, bounds-checked decoder that makes
//! them from ring-buffer (or recorded) bytes.

use tracer_common::{
    ABSENT, ExecEvent, ExitEvent, ForkEvent, Header, Kind, Ns, NsChangeEvent, NsSet, Offsets, Plain,
};

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
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("record of {len} bytes is shorter than the {need}-byte header")]
    ShortHeader { len: usize, need: usize },
    #[error("unknown event kind {0}")]
    UnknownKind(u32),
    #[error("{kind:?} record is {len} bytes, expected {need}")]
    BadLength { kind: Kind, len: usize, need: usize },
}

/// Copy a `T` out of exactly `size_of::<T>()` bytes.
fn read<T: Plain>(kind: Kind, buf: &[u8]) -> Result<T, DecodeError> {
    let need = size_of::<T>();
    if buf.len() != need {
        return Err(DecodeError::BadLength {
            kind,
            len: buf.len(),
            need,
        });
    }
    // SAFETY: the length is checked and `Plain` types accept every bit pattern.
    Ok(unsafe { std::ptr::read_unaligned(buf.as_ptr().cast::<T>()) })
}

/// Decode one record. Never panics: any byte string gives an event or an error.
pub fn decode(buf: &[u8]) -> Result<Event, DecodeError> {
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
    let kind = Kind::try_from(raw_kind).map_err(DecodeError::UnknownKind)?;
    Ok(match kind {
        Kind::Fork => Event::Fork(read(kind, buf)?),
        Kind::Exec => Event::Exec(Box::new(read(kind, buf)?)),
        Kind::Exit => Event::Exit(read(kind, buf)?),
        Kind::Unshare => Event::Unshare(read(kind, buf)?),
        Kind::Setns => Event::Setns(read(kind, buf)?),
        Kind::CloneFailed => Event::CloneFailed(read(kind, buf)?),
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
    }
}

impl Event {
    pub fn header(&self) -> &Header {
        match self {
            Event::Fork(e) => &e.hdr,
            Event::Exec(e) => &e.hdr,
            Event::Exit(e) => &e.hdr,
            Event::Unshare(e) | Event::Setns(e) | Event::CloneFailed(e) => &e.hdr,
        }
    }

    /// The task's namespaces after the event.
    pub fn ns(&self) -> &NsSet {
        match self {
            Event::Fork(e) => &e.ns,
            Event::Exec(e) => &e.ns,
            Event::Exit(e) => &e.ns,
            Event::Unshare(e) | Event::Setns(e) | Event::CloneFailed(e) => &e.ns,
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
        }
    }
}

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

/// Namespace slots whose bit is set in `mask`.
pub fn ns_in_mask(mask: u32) -> impl Iterator<Item = Ns> {
    Ns::ALL.into_iter().filter(move |ns| mask & ns.bit() != 0)
}

/// Mask of the namespace slots this kernel has, from the BTF offsets.
pub fn supported_slots(o: &Offsets) -> u32 {
    Ns::ALL
        .into_iter()
        .filter(|&ns| {
            let reached = matches!(ns, Ns::Pid | Ns::User) || o.nsproxy[ns as usize] != ABSENT;
            reached && o.ns_common[ns as usize] != ABSENT
        })
        .fold(0, |m, ns| m | ns.bit())
}

/// What the kernel could not read for this event (it leaves such fields
/// 0, which no real inode or pid is): namespace names, and "task" for the
/// task's identity. `supported` is [`supported_slots`].
pub fn unread(ev: &Event, supported: u32) -> Vec<&'static str> {
    let ns = ev.ns();
    let mut v: Vec<&'static str> = ns_in_mask(supported)
        .filter(|&n| ns.inum[n as usize] == 0)
        .map(Ns::proc_name)
        .collect();
    if ev.header().pid == 0 {
        v.push("task");
    }
    v
}

#[cfg(test)]
pub mod tests {
    use super::*;
    use tracer_common::{CLONE_NEWNET, NS_COUNT, syscall};

    pub fn header(kind: Kind, pid: u32) -> Header {
        let mut comm = [0u8; 16];
        comm[..4].copy_from_slice(b"runc");
        Header {
            kind: kind as u32,
            _reserved: 0,
            ts_ns: 1_000_000 + u64::from(pid),
            cgroup_id: 7,
            pid,
            tgid: pid,
            ppid: 1,
            _pad: 0,
            comm,
        }
    }

    pub fn ns_set(base: u32) -> NsSet {
        let mut ns = NsSet::default();
        for i in 0..NS_COUNT {
            ns.inum[i] = base + i as u32;
            ns.id[i] = u64::from(base) * 100 + i as u64;
        }
        ns
    }

    pub fn samples() -> Vec<Event> {
        let mut exec = ExecEvent {
            hdr: header(Kind::Exec, 42),
            old_pid: 42,
            args_len: 0,
            ns: ns_set(4_026_531_000),
            filename: [0; 256],
            args: [0; 256],
        };
        exec.filename[..6].copy_from_slice(b"/pause");
        exec.args[..10].copy_from_slice(b"/pause\0-P\0");
        exec.args_len = 10;
        let change = NsChangeEvent {
            hdr: header(Kind::Unshare, 43),
            flags: CLONE_NEWNET,
            fd: -1,
            syscall: syscall::UNSHARE,
            ret: 0,
            ns_before: ns_set(4_026_531_000),
            ns: ns_set(4_026_532_000),
        };
        vec![
            Event::Fork(ForkEvent {
                hdr: header(Kind::Fork, 44),
                caller_pid: 40,
                caller_tgid: 40,
                flags: CLONE_NEWNET | 17,
                syscall: syscall::CLONE,
                changed: Ns::Net.bit(),
                ns: ns_set(4_026_533_000),
            }),
            Event::Exec(Box::new(exec)),
            Event::Exit(ExitEvent {
                hdr: header(Kind::Exit, 45),
                exit_code: 256,
                group_dead: 1,
                ns: ns_set(4_026_531_000),
            }),
            Event::Unshare(change),
            Event::Setns(NsChangeEvent {
                hdr: header(Kind::Setns, 46),
                fd: 5,
                syscall: syscall::SETNS,
                ret: -22,
                ..change
            }),
            Event::CloneFailed(NsChangeEvent {
                hdr: header(Kind::CloneFailed, 47),
                ret: -1,
                syscall: syscall::CLONE3,
                ..change
            }),
        ]
    }

    #[test]
    fn every_kind_round_trips() {
        for ev in samples() {
            let bytes = encode(&ev);
            assert_eq!(decode(&bytes).as_ref(), Ok(&ev), "{}", ev.name());
        }
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
                matches!(decode(short), Err(DecodeError::BadLength { len, need, .. }) if need == len + 1),
                "{}",
                ev.name()
            );
            let mut long = bytes.clone();
            long.push(0);
            assert!(matches!(decode(&long), Err(DecodeError::BadLength { .. })));
        }
    }

    #[test]
    fn unknown_kinds_are_errors() {
        let mut bytes = encode(&samples()[0]);
        for kind in [0u32, 7, 1000, u32::MAX] {
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
                buf[..4].copy_from_slice(&(1 + (len as u32 % 6)).to_ne_bytes());
            }
            let _ = decode(&buf);
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
        e2.args_len = 9999; // corrupt length: clamped, not a panic
        assert_eq!(argv(&e2).first().map(String::as_str), Some("/pause"));
    }
}
