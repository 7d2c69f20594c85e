//! Names for clone/unshare flags, setns' nstype, the syscalls and their errnos.

use std::borrow::Cow;

use tracer_common::{
    CLONE_NEWCGROUP, CLONE_NEWIPC, CLONE_NEWNET, CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWTIME,
    CLONE_NEWUSER, CLONE_NEWUTS, syscall,
};

/// The new task's parent is the caller's parent (runc's stage 2 is forked so).
pub const CLONE_PARENT: u64 = 0x0000_8000;

const NAMES: &[(u64, &str)] = &[
    (CLONE_NEWTIME, "CLONE_NEWTIME"),
    (0x0000_0100, "CLONE_VM"),
    (0x0000_0200, "CLONE_FS"),
    (0x0000_0400, "CLONE_FILES"),
    (0x0000_0800, "CLONE_SIGHAND"),
    (0x0000_1000, "CLONE_PIDFD"),
    (0x0000_2000, "CLONE_PTRACE"),
    (0x0000_4000, "CLONE_VFORK"),
    (CLONE_PARENT, "CLONE_PARENT"),
    (0x0001_0000, "CLONE_THREAD"),
    (CLONE_NEWNS, "CLONE_NEWNS"),
    (0x0004_0000, "CLONE_SYSVSEM"),
    (0x0008_0000, "CLONE_SETTLS"),
    (0x0010_0000, "CLONE_PARENT_SETTID"),
    (0x0020_0000, "CLONE_CHILD_CLEARTID"),
    (0x0040_0000, "CLONE_DETACHED"),
    (0x0080_0000, "CLONE_UNTRACED"),
    (0x0100_0000, "CLONE_CHILD_SETTID"),
    (CLONE_NEWCGROUP, "CLONE_NEWCGROUP"),
    (CLONE_NEWUTS, "CLONE_NEWUTS"),
    (CLONE_NEWIPC, "CLONE_NEWIPC"),
    (CLONE_NEWUSER, "CLONE_NEWUSER"),
    (CLONE_NEWPID, "CLONE_NEWPID"),
    (CLONE_NEWNET, "CLONE_NEWNET"),
    (0x8000_0000, "CLONE_IO"),
    (0x1_0000_0000, "CLONE_CLEAR_SIGHAND"),
    (0x2_0000_0000, "CLONE_INTO_CGROUP"),
];

/// `clone`, `clone3`, `unshare`, `setns` — or `fork` when the entry was not
/// seen (fork, vfork, kernel threads, and clones the filter let through).
pub fn syscall_name(s: u32) -> &'static str {
    match s {
        syscall::CLONE => "clone",
        syscall::CLONE3 => "clone3",
        syscall::UNSHARE => "unshare",
        syscall::SETNS => "setns",
        _ => "fork",
    }
}

/// `EPERM`, `ENOSPC`, … for the errnos namespace and mount calls return
/// (`ret` negative, as the kernel gives it).
pub fn errno_name(ret: i64) -> Option<&'static str> {
    Some(match -ret {
        1 => "EPERM",
        2 => "ENOENT",
        9 => "EBADF",
        11 => "EAGAIN",
        12 => "ENOMEM",
        16 => "EBUSY",
        22 => "EINVAL",
        28 => "ENOSPC",
        38 => "ENOSYS",
        87 => "EUSERS",
        _ => return None,
    })
}

/// `clone()` keeps the exit signal in the low byte (CSIGNAL), where clone3
/// and unshare have CLONE_NEWTIME.
const CSIGNAL: u64 = 0xff;

/// `flags` as the given syscall reads them: (its exit signal, the other
/// bits). Only `clone()` (or a clone whose call was not seen) has a signal.
pub fn split_signal(flags: u64, syscall: u32) -> (u64, u64) {
    if syscall == syscall::CLONE || syscall == syscall::UNKNOWN {
        (flags & CSIGNAL, flags & !CSIGNAL)
    } else {
        (0, flags)
    }
}

/// Names of the flags set in `flags` as the given syscall reads them, in
/// bit order; bits without a name come last as hex, and clone()'s exit
/// signal as `SIG<n>` (SIGCHLD for 17). Known names are not allocated.
pub fn names(flags: u64, syscall: u32) -> Vec<Cow<'static, str>> {
    let (sig, mut rest) = split_signal(flags, syscall);
    let mut out = Vec::new();
    match sig {
        0 => {}
        17 => out.push(Cow::Borrowed("SIGCHLD")),
        n => out.push(Cow::Owned(format!("SIG{n}"))),
    }
    for &(bit, name) in NAMES {
        if rest & bit != 0 {
            out.push(Cow::Borrowed(name));
            rest &= !bit;
        }
    }
    if rest != 0 {
        out.push(Cow::Owned(format!("{rest:#x}")));
    }
    out
}

/// `A|B|C`, or `0` for no flags.
pub fn render(flags: u64, syscall: u32) -> String {
    let n = names(flags, syscall);
    if n.is_empty() {
        "0".into()
    } else {
        n.join("|")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_flags_are_named() {
        assert_eq!(
            names(CLONE_NEWNET | CLONE_NEWIPC, syscall::UNSHARE),
            ["CLONE_NEWIPC", "CLONE_NEWNET"]
        );
        assert_eq!(
            render(CLONE_NEWNET | CLONE_NEWIPC, syscall::UNSHARE),
            "CLONE_NEWIPC|CLONE_NEWNET"
        );
    }

    #[test]
    fn clone_low_byte_is_the_exit_signal_not_newtime() {
        // fork() from glibc: CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD.
        assert_eq!(
            render(0x0120_0011, syscall::CLONE),
            "SIGCHLD|CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID"
        );
        // The same bit 0x80 is CLONE_NEWTIME for unshare and clone3.
        assert_eq!(render(CLONE_NEWTIME, syscall::UNSHARE), "CLONE_NEWTIME");
        assert_eq!(render(CLONE_NEWTIME, syscall::CLONE3), "CLONE_NEWTIME");
        assert_eq!(render(0x80, syscall::CLONE), "SIG128");
    }

    #[test]
    fn unknown_bits_are_kept_as_hex() {
        assert_eq!(
            render(0x40_0000_0000 | CLONE_NEWNET, syscall::UNSHARE),
            "CLONE_NEWNET|0x4000000000"
        );
        assert_eq!(render(0, syscall::UNSHARE), "0");
    }
}
