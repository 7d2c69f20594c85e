//! Which program attaches where.

/// The namespace programs. The mount programs are listed apart, in
/// [`crate::MOUNT_PROGRAMS`]; the loader attaches both.
///
/// No program runs at a clone's entry: `sched_process_fork` reads the
/// clone flags from the registers the syscall saved. A refused clone's
/// programs are apart, in [`CLONE_FAILURE_PROGRAMS`].
///
/// In attach order: each sys_exit program before its sys_enter program, so
/// that every call the enter half sees is finished by the exit half (the
/// per-CPU pending slots rely on it). The pairs come last (the loader
/// attaches the mount programs before these): a call in flight between the
/// two halves' attaches ends with no entry seen, and the loader forgets
/// those right after the last attach (they began before the trace).
pub const PROGRAMS: &[Probe] = &[
    Probe::btf("sched_process_fork"),
    Probe::tracepoint("sched", "sched_process_exec"),
    Probe::btf("sched_process_exit"),
    Probe::syscall("sys_exit_unshare"),
    Probe::syscall("sys_enter_unshare"),
    Probe::syscall("sys_exit_setns"),
    Probe::syscall("sys_enter_setns"),
];

/// A refused namespace-making clone (`clone_failed`), seen at the
/// syscall's exit: two runs per fork on the node (parent and child), 29 %
/// of a fork+exit's BPF time, for records that only the raw view, the
/// metrics and recordings show (no pod step is made of them). Attached
/// only for those.
pub const CLONE_FAILURE_PROGRAMS: &[Probe] = &[
    Probe::syscall("sys_exit_clone"),
    Probe::syscall("sys_exit_clone3"),
];

/// How a program attaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attach {
    /// A classic tracepoint of this category (its record as context).
    Tracepoint(&'static str),
    /// A BTF tracepoint (`tp_btf`): typed arguments, read with plain loads.
    Btf,
}

/// One probe: the program of that name attaches to the named tracepoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Probe {
    /// Name of the program in the object file (the Rust function name).
    pub program: &'static str,
    pub attach: Attach,
    /// Tracepoint name.
    pub name: &'static str,
}

impl Probe {
    /// A `syscalls:` tracepoint; the program bears the tracepoint's name.
    pub const fn syscall(name: &'static str) -> Self {
        Self::tracepoint("syscalls", name)
    }

    pub const fn tracepoint(category: &'static str, name: &'static str) -> Self {
        Self {
            program: name,
            attach: Attach::Tracepoint(category),
            name,
        }
    }

    /// A BTF tracepoint; the program bears the tracepoint's name.
    pub const fn btf(name: &'static str) -> Self {
        Self {
            program: name,
            attach: Attach::Btf,
            name,
        }
    }
}
