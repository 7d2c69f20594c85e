use super::*;

fn header(kind: u32) -> Header {
    Header {
        kind,
        _reserved: 0,
        ts_ns: 123,
        cgroup_id: 7,
        pid: 10,
        tgid: 9,
        ppid: 1,
        _pad: 0,
        comm: *b"mount\0\0\0\0\0\0\0\0\0\0\0",
    }
}

#[test]
fn records_round_trip_through_bytes_at_any_alignment() {
    let mut e = MountEvent::zeroed();
    e.hdr = header(MountKind::Mount as u32);
    e.ret = -16;
    e.source[..17].copy_from_slice(b"/proc/self/ns/net");
    e.source_len = 17;
    let bytes = as_bytes(&e);
    assert_eq!(bytes.len(), size_of::<MountEvent>());
    // Ring-buffer and file bytes need not be aligned: shift by one.
    let mut shifted = [0u8; size_of::<MountEvent>() + 1];
    shifted[1..].copy_from_slice(bytes);
    assert_eq!(read::<MountEvent>(&shifted[1..]), Some(e));
    assert_eq!(read::<MountEvent>(&bytes[..bytes.len() - 1]), None);
    assert_eq!(read::<MountEvent>(&shifted), None);
    assert_eq!(read::<Header>(&bytes[..size_of::<Header>()]), Some(e.hdr));
}

#[test]
fn kinds_never_share_a_number() {
    for n in 0..64u32 {
        let old = Kind::try_from(n).is_ok();
        let mount = MountKind::try_from(n).is_ok();
        let cause = CauseKind::try_from(n).is_ok();
        assert!(
            u32::from(old) + u32::from(mount) + u32::from(cause) <= 1,
            "kind {n} in two enums"
        );
        if let Ok(k) = MountKind::try_from(n) {
            assert_eq!(k as u32, n);
        }
        if let Ok(k) = Kind::try_from(n) {
            assert_eq!(k as u32, n);
        }
    }
    assert_eq!(Kind::try_from(14), Ok(Kind::Visitor));
    assert_eq!(MountKind::try_from(7), Ok(MountKind::Mount));
    assert_eq!(MountKind::try_from(10), Ok(MountKind::MoveMount));
    assert_eq!(MountKind::try_from(11), Err(11));
}

#[test]
fn stats_have_distinct_names_in_slot_order() {
    for (i, s) in Stat::ALL.iter().enumerate() {
        assert_eq!(*s as usize, i);
        for t in &Stat::ALL[i + 1..] {
            assert_ne!(s.name(), t.name());
        }
    }
    assert_eq!(Stat::ArgReadFailed.name(), "arg_read_failed");
    assert!(!Stat::Filtered.is_loss());
    assert!(!Stat::Wakeups.is_loss());
}

#[test]
fn mount_programs_are_apart_from_the_attached_ones() {
    for p in MOUNT_PROGRAMS {
        assert!(!PROGRAMS.contains(p), "{}", p.program);
        assert_eq!(p.attach, Attach::Tracepoint("syscalls"));
    }
    assert_eq!(MOUNT_PROGRAMS.len(), 8);
}

#[test]
fn clone_failure_programs_are_apart_from_the_attached_ones() {
    for p in CLONE_FAILURE_PROGRAMS {
        assert!(
            !PROGRAMS.contains(p) && !MOUNT_PROGRAMS.contains(p),
            "{}",
            p.program
        );
    }
}

#[test]
fn unshare_and_setns_exits_attach_before_their_enters() {
    // The per-CPU pending slots hold only calls whose exit is to come.
    let at = |name: &str| {
        PROGRAMS
            .iter()
            .position(|p| p.program == name)
            .unwrap_or_else(|| panic!("{name} is not attached"))
    };
    for (exit, enter) in [
        ("sys_exit_unshare", "sys_enter_unshare"),
        ("sys_exit_setns", "sys_enter_setns"),
    ] {
        assert!(at(exit) < at(enter), "{enter} before {exit}");
        // Last, so that the loader forgets the calls caught between the
        // halves right after the final attach.
        assert!(
            at(exit) >= PROGRAMS.len() - 4,
            "{exit} is not among the last"
        );
    }
}

#[test]
fn all_absent_is_what_zeroed_always_meant() {
    assert_eq!(Offsets::zeroed(), Offsets::all_absent());
    assert_eq!(Offsets::all_absent().task_pid, ABSENT);
    assert_eq!(<Offsets as Zeroable>::zeroed().task_pid, 0);
}

#[test]
fn pin_candidates_are_task_proc_entries_and_relative_paths() {
    let head = |p: &'static str| &p.as_bytes()[..p.len().min(PIN_HEAD_LEN)];
    for yes in [
        "/proc/self/ns/net",
        "/proc/thread-self/ns/ipc",
        "/proc/4242/task/4243/ns/net",
        "/proc/1/ns/mnt",
        "/proc/self/fd/7",
        "/proc/self/exe",
        "net",
        "",
    ] {
        assert!(pin_candidate(head(yes)), "{yes}");
    }
    for no in [
        "/proc/sys",
        "/proc/sysrq-trigger",
        "/proc/asound",
        "/proc/bus",
        "/proc/",
        "/proc",
        "/etc/hostname",
        "/run/netns/x",
        "/var/lib/containers/storage/overlay",
    ] {
        assert!(!pin_candidate(head(no)), "{no}");
    }
}

#[test]
fn cause_kinds_follow_the_mount_kinds_and_fatal_signals_are_the_killing_ones() {
    for k in [
        CauseKind::Signal,
        CauseKind::OomVictim,
        CauseKind::CgroupMkdir,
    ] {
        assert_eq!(CauseKind::try_from(k as u32), Ok(k));
        assert!(Kind::try_from(k as u32).is_err() && MountKind::try_from(k as u32).is_err());
    }
    assert_eq!(CauseKind::try_from(14), Err(14));
    for p in CAUSE_PROGRAMS {
        assert!(
            !PROGRAMS.contains(p)
                && !MOUNT_PROGRAMS.contains(p)
                && !CLONE_FAILURE_PROGRAMS.contains(p),
            "{}",
            p.program
        );
    }
    for sig in [1, 2, 6, 9, 11, 15] {
        assert!(fatal_signal(sig), "{sig}");
    }
    // SIGCHLD, SIGCONT, SIGSTOP, SIGALRM, SIGWINCH, real-time, nonsense.
    for sig in [0, 14, 17, 18, 19, 28, 34, 64, 1000] {
        assert!(!fatal_signal(sig), "{sig}");
    }
}
