//! Decoder of the kernel's mount records ([`tracer_common::MountEvent`]):
//! bind mounts that may pin a namespace, and unmounts. Pure and
//! bounds-checked: any bytes give an event or an error, never a panic.
//!
//! Paths are the caller's bytes, decoded lossily and escaped nowhere here
//! (renderers escape for their medium); `truncated` says a path was cut at
//! [`PATH_LEN`]` - 1` bytes.

use tracer_common::{Header, MountKind, NO_FD, Ns, NsSet, PATH_LEN, RET_UNREAD, path, read};

/// One mount call, checked and typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEvent {
    pub kind: MountKind,
    /// Who called, when (`hdr.pid` is the thread id, `hdr.tgid` the pid).
    pub hdr: Header,
    /// The caller's namespaces; the mount namespace is where the mount was
    /// made or removed ([`MountEvent::mnt_ns`]).
    pub ns: NsSet,
    /// The call's flags: mount flags, umount2 flags, open_tree or
    /// move_mount flags, by `kind`.
    pub flags: u64,
    /// The return value: 0 or -errno; open_tree's new fd. `None` when the
    /// kernel could not read it.
    pub ret: Option<i64>,
    /// open_tree's dfd, move_mount's from_dfd.
    pub from_fd: Option<i32>,
    /// move_mount's to_dfd.
    pub to_fd: Option<i32>,
    /// mount's source, open_tree's path, move_mount's from path (often empty).
    pub source: Option<MountPath>,
    /// mount's and umount's mount point, move_mount's to path.
    pub target: Option<MountPath>,
}

/// A path as the caller passed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountPath {
    pub path: String,
    /// Only the first `PATH_LEN - 1` bytes were kept.
    pub truncated: bool,
    /// The kernel could not read it from the caller's memory (`path` is empty).
    pub unread: bool,
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum MountDecodeError {
    #[error("{kind:?} record is {len} bytes, expected {need}")]
    BadLength {
        kind: MountKind,
        len: usize,
        need: usize,
    },
    #[error("{kind:?} record carries kind {found} in its header")]
    KindMismatch { kind: MountKind, found: u32 },
    #[error("{kind:?} record's {field} length {len} exceeds {max}")]
    BadPathLength {
        kind: MountKind,
        field: &'static str,
        len: u32,
        max: usize,
    },
}

/// Decode one mount record of `kind` (read from its header by the caller).
pub fn decode_mount(kind: MountKind, bytes: &[u8]) -> Result<MountEvent, MountDecodeError> {
    let need = size_of::<tracer_common::MountEvent>();
    let raw: tracer_common::MountEvent = read(bytes).ok_or(MountDecodeError::BadLength {
        kind,
        len: bytes.len(),
        need,
    })?;
    if raw.hdr.kind != kind as u32 {
        return Err(MountDecodeError::KindMismatch {
            kind,
            found: raw.hdr.kind,
        });
    }
    let path_of = |field: &'static str, bytes: &[u8; PATH_LEN], len: u32, cut: u32, unread: u32| {
        let max = PATH_LEN - 1;
        let text = bytes
            .get(..len as usize)
            .filter(|_| len as usize <= max)
            .ok_or(MountDecodeError::BadPathLength {
                kind,
                field,
                len,
                max,
            })?;
        Ok(MountPath {
            path: String::from_utf8_lossy(text).into_owned(),
            truncated: raw.path_flags & cut != 0,
            unread: raw.path_flags & unread != 0,
        })
    };
    let source = path_of(
        "source",
        &raw.source,
        raw.source_len,
        path::SOURCE_TRUNCATED,
        path::SOURCE_UNREAD,
    )?;
    let target = path_of(
        "target",
        &raw.target,
        raw.target_len,
        path::TARGET_TRUNCATED,
        path::TARGET_UNREAD,
    )?;
    let (source, target, from_fd, to_fd) = match kind {
        MountKind::Mount => (Some(source), Some(target), None, None),
        MountKind::Umount => (None, Some(target), None, None),
        MountKind::OpenTree => (Some(source), None, Some(raw.from_fd), None),
        MountKind::MoveMount => (
            Some(source),
            Some(target),
            Some(raw.from_fd),
            Some(raw.to_fd),
        ),
    };
    Ok(MountEvent {
        kind,
        hdr: raw.hdr,
        ns: raw.ns,
        flags: raw.flags,
        ret: (raw.ret != RET_UNREAD).then_some(raw.ret),
        from_fd: from_fd.filter(|&fd| fd != NO_FD),
        to_fd: to_fd.filter(|&fd| fd != NO_FD),
        source,
        target,
    })
}

impl MountEvent {
    /// The call succeeded (a known, non-negative return value).
    pub fn succeeded(&self) -> bool {
        self.ret.is_some_and(|r| r >= 0)
    }

    /// The mount namespace the call acted in: (inode, ns_id; 0 where the
    /// kernel has none).
    pub fn mnt_ns(&self) -> (u32, u64) {
        let i = Ns::Mnt as usize;
        (self.ns.inum[i], self.ns.id[i])
    }

    /// What the source names, when it is a path that can pin a namespace.
    pub fn pin_source(&self) -> Option<PinSource> {
        self.source.as_ref().and_then(|s| pin_source(&s.path))
    }

    /// The pinned namespace, when the source names one of the calling
    /// thread's own (`/proc/thread-self/ns/T`, `/proc/<pid>/task/<tid>/ns/T`
    /// or `/proc/<tid>/ns/T` with the caller's thread id, `/proc/self/ns/T`
    /// from the thread-group leader): then it is in the record itself, as
    /// (slot, inode, ns_id). `/proc/self` is the leader's view, so from any
    /// other thread (runtimes unshare in a locked thread) it is not the
    /// caller's namespace: `None`, resolve it from the model instead.
    pub fn callers_pinned_ns(&self) -> Option<(Ns, u32, u64)> {
        let PinSource::Ns { task, tid, ns } = self.pin_source()? else {
            return None;
        };
        let (me, leader) = (self.hdr.pid, self.hdr.tgid);
        let callers = match (task, tid) {
            (ProcTask::ThreadSelf, None) => true,
            (ProcTask::SelfProcess, None) => me == leader,
            (ProcTask::SelfProcess, Some(t)) => t == me,
            // /proc/<tid> of any thread shows that thread's namespaces.
            (ProcTask::Pid(p), None) => p == me,
            (ProcTask::Pid(_), Some(t)) => t == me,
            (ProcTask::ThreadSelf, Some(_)) => false,
        };
        callers.then(|| (ns, self.ns.inum[ns as usize], self.ns.id[ns as usize]))
    }
}

/// Names of the flags a mount call of `kind` was given, in bit order
/// (bits without a name as hex).
pub fn flag_names(kind: MountKind, flags: u64) -> Vec<String> {
    use tracer_common::{mount_flags as m, open_tree_flags as o, umount_flags as u};
    let table: &[(u64, &str)] = match kind {
        MountKind::Mount => &[
            (0x1, "MS_RDONLY"),
            (0x2, "MS_NOSUID"),
            (0x4, "MS_NODEV"),
            (0x8, "MS_NOEXEC"),
            (m::MS_REMOUNT, "MS_REMOUNT"),
            (m::MS_BIND, "MS_BIND"),
            (m::MS_MOVE, "MS_MOVE"),
            (m::MS_REC, "MS_REC"),
            (1 << 17, "MS_UNBINDABLE"),
            (1 << 18, "MS_PRIVATE"),
            (1 << 19, "MS_SLAVE"),
            (1 << 20, "MS_SHARED"),
        ],
        MountKind::Umount => &[
            (u::MNT_FORCE, "MNT_FORCE"),
            (u::MNT_DETACH, "MNT_DETACH"),
            (u::MNT_EXPIRE, "MNT_EXPIRE"),
            (u::UMOUNT_NOFOLLOW, "UMOUNT_NOFOLLOW"),
        ],
        MountKind::OpenTree => &[
            (o::OPEN_TREE_CLONE, "OPEN_TREE_CLONE"),
            (o::AT_EMPTY_PATH, "AT_EMPTY_PATH"),
            (o::AT_RECURSIVE, "AT_RECURSIVE"),
            (0x80000, "OPEN_TREE_CLOEXEC"),
        ],
        MountKind::MoveMount => &[
            (0x1, "MOVE_MOUNT_F_SYMLINKS"),
            (0x2, "MOVE_MOUNT_F_AUTOMOUNTS"),
            (o::MOVE_MOUNT_F_EMPTY_PATH, "MOVE_MOUNT_F_EMPTY_PATH"),
            (0x10, "MOVE_MOUNT_T_SYMLINKS"),
            (0x20, "MOVE_MOUNT_T_AUTOMOUNTS"),
            (0x40, "MOVE_MOUNT_T_EMPTY_PATH"),
        ],
    };
    let mut rest = flags;
    let mut out: Vec<String> = table
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|(bit, name)| {
            rest &= !bit;
            (*name).to_string()
        })
        .collect();
    if rest != 0 {
        out.push(format!("{rest:#x}"));
    }
    out
}

/// Whose `/proc` entry a path goes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProcTask {
    /// `/proc/<pid>`.
    Pid(u32),
    /// `/proc/self`: the caller's process.
    SelfProcess,
    /// `/proc/thread-self`: the calling thread.
    ThreadSelf,
}

/// A mount source that can pin a namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PinSource {
    /// `/proc/<task>[/task/<tid>]/ns/<type>`: that task's namespace of that type.
    Ns {
        task: ProcTask,
        tid: Option<u32>,
        ns: Ns,
    },
    /// `/proc/<task>[/task/<tid>]/fd/<n>`: whatever that fd holds (an nsfs
    /// file when a runtime opened the namespace first).
    Fd {
        task: ProcTask,
        tid: Option<u32>,
        fd: u32,
    },
}

/// Parse an nsfs or fd path under /proc. `time_for_children` and names
/// this tracer has no slot for give `None`.
pub fn pin_source(path: &str) -> Option<PinSource> {
    let rest = path.strip_prefix("/proc/")?;
    let mut parts = rest.split('/').filter(|p| !p.is_empty());
    let task = match parts.next()? {
        "self" => ProcTask::SelfProcess,
        "thread-self" => ProcTask::ThreadSelf,
        pid => ProcTask::Pid(number(pid)?),
    };
    let mut next = parts.next()?;
    let mut tid = None;
    if next == "task" && task != ProcTask::ThreadSelf {
        tid = Some(number(parts.next()?)?);
        next = parts.next()?;
    }
    let leaf = parts.next()?;
    if parts.next().is_some() {
        return None;
    }
    match next {
        "ns" => Ns::ALL
            .into_iter()
            .find(|n| n.proc_name() == leaf)
            .map(|ns| PinSource::Ns { task, tid, ns }),
        "fd" => Some(PinSource::Fd {
            task,
            tid,
            fd: number(leaf)?,
        }),
        _ => None,
    }
}

/// A decimal number as /proc writes it (no sign, no leading `+`).
fn number(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracer_common::{Zeroable, as_bytes, mount_flags::MS_BIND};

    fn raw(kind: MountKind) -> tracer_common::MountEvent {
        let mut e = tracer_common::MountEvent::zeroed();
        e.hdr.kind = kind as u32;
        e.hdr.pid = 101;
        e.hdr.tgid = 100;
        e.hdr.comm[..5].copy_from_slice(b"mount");
        e.ns.inum[Ns::Mnt as usize] = 4_026_531_840;
        e.ns.id[Ns::Mnt as usize] = 4;
        e.from_fd = NO_FD;
        e.to_fd = NO_FD;
        e
    }

    fn set(buf: &mut [u8; PATH_LEN], len: &mut u32, s: &[u8]) {
        buf[..s.len()].copy_from_slice(s);
        *len = s.len() as u32;
    }

    fn bind_mount() -> tracer_common::MountEvent {
        let mut e = raw(MountKind::Mount);
        e.flags = MS_BIND;
        set(&mut e.source, &mut e.source_len, b"/proc/self/ns/net");
        set(&mut e.target, &mut e.target_len, b"/run/netns/x");
        e
    }

    #[test]
    fn a_bind_mount_round_trips() {
        let e = bind_mount();
        let m = decode_mount(MountKind::Mount, as_bytes(&e)).expect("decodes");
        assert_eq!(m.kind, MountKind::Mount);
        assert_eq!(m.hdr, e.hdr);
        assert_eq!(m.flags, MS_BIND);
        assert_eq!(m.ret, Some(0));
        assert!(m.succeeded());
        assert_eq!(m.mnt_ns(), (4_026_531_840, 4));
        assert_eq!(m.from_fd, None);
        let source = m.source.as_ref().expect("mount has a source");
        assert_eq!(source.path, "/proc/self/ns/net");
        assert!(!source.truncated && !source.unread);
        assert_eq!(
            m.target.as_ref().map(|t| t.path.as_str()),
            Some("/run/netns/x")
        );
        assert_eq!(
            m.pin_source(),
            Some(PinSource::Ns {
                task: ProcTask::SelfProcess,
                tid: None,
                ns: Ns::Net
            })
        );
    }

    #[test]
    fn each_kind_keeps_only_its_own_fields() {
        let mut u = raw(MountKind::Umount);
        set(&mut u.target, &mut u.target_len, b"/run/netns/x");
        u.ret = -22;
        let m = decode_mount(MountKind::Umount, as_bytes(&u)).expect("decodes");
        assert_eq!((&m.source, m.ret, m.succeeded()), (&None, Some(-22), false));
        assert_eq!(m.target.map(|t| t.path), Some("/run/netns/x".to_string()));

        let mut o = raw(MountKind::OpenTree);
        o.from_fd = -100; // AT_FDCWD
        o.ret = 5;
        set(&mut o.source, &mut o.source_len, b"/proc/42/task/43/ns/ipc");
        let m = decode_mount(MountKind::OpenTree, as_bytes(&o)).expect("decodes");
        assert_eq!((m.from_fd, m.to_fd, &m.target), (Some(-100), None, &None));
        assert_eq!(
            m.pin_source(),
            Some(PinSource::Ns {
                task: ProcTask::Pid(42),
                tid: Some(43),
                ns: Ns::Ipc
            })
        );

        let mut mv = raw(MountKind::MoveMount);
        mv.from_fd = 5;
        mv.to_fd = -100;
        set(&mut mv.target, &mut mv.target_len, b"/run/netns/y");
        let m = decode_mount(MountKind::MoveMount, as_bytes(&mv)).expect("decodes");
        assert_eq!((m.from_fd, m.to_fd), (Some(5), Some(-100)));
        assert_eq!(m.source.map(|s| s.path), Some(String::new()));
    }

    #[test]
    fn wrong_lengths_are_errors() {
        let e = bind_mount();
        let bytes = as_bytes(&e);
        let need = bytes.len();
        for len in [0, 4, size_of::<Header>(), need - 1] {
            assert_eq!(
                decode_mount(MountKind::Mount, &bytes[..len]),
                Err(MountDecodeError::BadLength {
                    kind: MountKind::Mount,
                    len,
                    need
                })
            );
        }
        let mut long = bytes.to_vec();
        long.push(0);
        assert!(matches!(
            decode_mount(MountKind::Mount, &long),
            Err(MountDecodeError::BadLength { .. })
        ));
    }

    #[test]
    fn a_header_of_another_kind_is_an_error() {
        let e = bind_mount();
        assert_eq!(
            decode_mount(MountKind::Umount, as_bytes(&e)),
            Err(MountDecodeError::KindMismatch {
                kind: MountKind::Umount,
                found: 7
            })
        );
    }

    #[test]
    fn a_path_length_past_the_buffer_is_an_error() {
        for len in [PATH_LEN as u32, PATH_LEN as u32 + 1, u32::MAX] {
            let mut e = bind_mount();
            e.target_len = len;
            assert!(matches!(
                decode_mount(MountKind::Mount, as_bytes(&e)),
                Err(MountDecodeError::BadPathLength {
                    field: "target",
                    ..
                })
            ));
        }
    }

    #[test]
    fn cut_unread_and_odd_paths_are_kept_as_the_kernel_gave_them() {
        let mut e = bind_mount();
        e.source.fill(b'a');
        e.source_len = (PATH_LEN - 1) as u32;
        e.path_flags = path::SOURCE_TRUNCATED | path::TARGET_UNREAD;
        e.target_len = 0;
        let m = decode_mount(MountKind::Mount, as_bytes(&e)).expect("decodes");
        let (s, t) = (m.source.expect("source"), m.target.expect("target"));
        assert_eq!(
            (s.path.len(), s.truncated, s.unread),
            (PATH_LEN - 1, true, false)
        );
        assert_eq!((t.path.as_str(), t.truncated, t.unread), ("", false, true));

        // Not UTF-8, with an escape byte: replaced, never escaped here.
        let mut e = bind_mount();
        set(&mut e.target, &mut e.target_len, b"/tmp/\xff\x1b[2J");
        let m = decode_mount(MountKind::Mount, as_bytes(&e)).expect("decodes");
        assert_eq!(
            m.target.map(|t| t.path),
            Some("/tmp/\u{fffd}\u{1b}[2J".to_string())
        );
    }

    #[test]
    fn an_unread_return_value_is_none() {
        let mut e = bind_mount();
        e.ret = RET_UNREAD;
        let m = decode_mount(MountKind::Mount, as_bytes(&e)).expect("decodes");
        assert_eq!((m.ret, m.succeeded()), (None, false));
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u32 = 0x9e37_79b9;
        let mut buf = vec![0u8; size_of::<tracer_common::MountEvent>()];
        for round in 0..2000 {
            for b in buf.iter_mut() {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = x as u8;
            }
            // Half the time, a matching kind and short lengths, so decoding goes deep.
            if round % 2 == 0 {
                buf[..4].copy_from_slice(&7u32.to_ne_bytes());
                buf[80..84].copy_from_slice(&(x % 300).to_ne_bytes());
            }
            let _ = decode_mount(MountKind::Mount, &buf);
        }
    }

    #[test]
    fn the_callers_own_namespace_is_read_from_the_record() {
        let pinned = |source: &[u8], tid: u32, tgid: u32| {
            let mut e = bind_mount();
            e.source_len = 0;
            set(&mut e.source, &mut e.source_len, source);
            e.hdr.pid = tid;
            e.hdr.tgid = tgid;
            e.ns.inum[Ns::Net as usize] = 4_026_532_000;
            e.ns.id[Ns::Net as usize] = 77;
            decode_mount(MountKind::Mount, as_bytes(&e))
                .expect("decodes")
                .callers_pinned_ns()
        };
        let net = Some((Ns::Net, 4_026_532_000, 77));
        assert_eq!(pinned(b"/proc/self/ns/net", 100, 100), net);
        assert_eq!(pinned(b"/proc/thread-self/ns/net", 101, 100), net);
        assert_eq!(pinned(b"/proc/100/task/101/ns/net", 101, 100), net);
        assert_eq!(pinned(b"/proc/100/ns/net", 100, 100), net);
        // From a non-leader thread, /proc/self is the leader's namespace.
        assert_eq!(pinned(b"/proc/self/ns/net", 101, 100), None);
        assert_eq!(pinned(b"/proc/100/ns/net", 101, 100), None);
        assert_eq!(pinned(b"/proc/101/ns/net", 101, 100), net);
        // Another task's namespace, or not a namespace at all.
        assert_eq!(pinned(b"/proc/200/task/201/ns/net", 101, 100), None);
        assert_eq!(pinned(b"/proc/self/fd/3", 100, 100), None);
        assert_eq!(
            pinned(b"/proc/self/ns/uts", 100, 100).map(|(ns, ..)| ns),
            Some(Ns::Uts)
        );
    }

    #[test]
    fn pin_sources_are_parsed_strictly() {
        let ns = |task, tid, ns| Some(PinSource::Ns { task, tid, ns });
        assert_eq!(
            pin_source("/proc/self/ns/net"),
            ns(ProcTask::SelfProcess, None, Ns::Net)
        );
        assert_eq!(
            pin_source("/proc/thread-self/ns/uts"),
            ns(ProcTask::ThreadSelf, None, Ns::Uts)
        );
        assert_eq!(
            pin_source("/proc/7/task/9/ns/pid_for_children"),
            ns(ProcTask::Pid(7), Some(9), Ns::PidForChildren)
        );
        assert_eq!(
            pin_source("/proc/self/fd/12"),
            Some(PinSource::Fd {
                task: ProcTask::SelfProcess,
                tid: None,
                fd: 12
            })
        );
        for bad in [
            "/proc/self/ns",
            "/proc/self/ns/net/x",
            "/proc/self/ns/time_for_children",
            "/proc/+7/ns/net",
            "/proc/thread-self/task/3/ns/net",
            "/proc/self/fd/x",
            "/proc/self/cwd",
            "/run/netns/x",
            "proc/self/ns/net",
            "",
        ] {
            assert_eq!(pin_source(bad), None, "{bad}");
        }
    }
}
