//! Which program attaches where.

/// The namespace programs. The mount programs are listed apart, in
/// [`crate::MOUNT_PROGRAMS`]; the loader attaches both.
pub const PROGRAMS: &[Probe] = &[
    Probe::syscall("sys_enter_clone"),
    Probe::syscall("sys_exit_clone"),
    Probe::syscall("sys_enter_clone3"),
    Probe::syscall("sys_exit_clone3"),
    Probe::syscall("sys_enter_unshare"),
    Probe::syscall("sys_exit_unshare"),
    Probe::syscall("sys_enter_setns"),
    Probe::syscall("sys_exit_setns"),
    Probe::raw("sched_process_fork"),
    Probe::tracepoint("sched", "sched_process_exec"),
    Probe::raw("sched_process_exit"),
];

/// One probe: the program of that name attaches to the named tracepoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Name of the program in the object file (the Rust function name).
    pub program: &'static str,
    /// Tracepoint category for classic tracepoints, `None` for raw ones.
    pub category: Option<&'static str>,
    /// Tracepoint name.
    pub name: &'static str,
}

impl Probe {
    /// A `syscalls:` tracepoint; the program bears the tracepoint's name.
    pub const fn syscall(name: &'static str) -> Self {
        Self {
            program: name,
            category: Some("syscalls"),
            name,
        }
    }

    pub const fn tracepoint(category: &'static str, name: &'static str) -> Self {
        Self {
            program: name,
            category: Some(category),
            name,
        }
    }

    /// A raw tracepoint (no category).
    pub const fn raw(name: &'static str) -> Self {
        Self {
            program: name,
            category: None,
            name,
        }
    }
}
