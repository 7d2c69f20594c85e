//! Cause records: why a pause or container died and where its cgroup is.
//! A fatal signal generated for a task outside the host's namespaces (who
//! sent it), the OOM killer's victim, and each new cgroup v2 directory
//! (its id and path, so that a task gone before userspace looked is still
//! placed in its container).

use bytemuck::{Pod, Zeroable};

use crate::{Header, NsSet, Probe};

/// The cause programs, attached beside [`crate::PROGRAMS`] but optional:
/// a kernel without one of these tracepoints still traces, without causes.
pub const CAUSE_PROGRAMS: &[Probe] = &[
    Probe::btf("signal_generate"),
    Probe::btf("mark_victim"),
    Probe::tracepoint("cgroup", "cgroup_mkdir"),
];

/// Record kinds of the cause programs, numbered after
/// [`crate::MountKind`]'s (never reuse one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum CauseKind {
    /// A fatal signal for a task outside the host ([`SignalEvent`]).
    Signal = 11,
    /// The OOM killer chose a victim outside the host ([`OomEvent`]).
    OomVictim = 12,
    /// A cgroup v2 directory was made ([`CgroupEvent`]).
    CgroupMkdir = 13,
}

impl TryFrom<u32> for CauseKind {
    type Error = u32;
    fn try_from(v: u32) -> Result<Self, u32> {
        Ok(match v {
            11 => CauseKind::Signal,
            12 => CauseKind::OomVictim,
            13 => CauseKind::CgroupMkdir,
            other => return Err(other),
        })
    }
}

/// Signals whose default action ends the process (`SIG_KILL_MASK` and
/// `SIG_KERNEL_COREDUMP_MASK` less the timer and I/O ones a program arms
/// for itself): bit `n` for signal `n`. Only these leave the kernel.
pub const FATAL_SIGNALS: u64 = bits(&[
    1,  // SIGHUP
    2,  // SIGINT
    3,  // SIGQUIT
    4,  // SIGILL
    5,  // SIGTRAP
    6,  // SIGABRT
    7,  // SIGBUS
    8,  // SIGFPE
    9,  // SIGKILL
    10, // SIGUSR1
    11, // SIGSEGV
    12, // SIGUSR2
    13, // SIGPIPE
    15, // SIGTERM
    16, // SIGSTKFLT
    24, // SIGXCPU
    25, // SIGXFSZ
    30, // SIGPWR
    31, // SIGSYS
]);

const fn bits(sigs: &[u32]) -> u64 {
    let mut m = 0;
    let mut i = 0;
    while i < sigs.len() {
        m |= 1 << sigs[i];
        i += 1;
    }
    m
}

/// Is `sig` one of [`FATAL_SIGNALS`]?
#[inline(always)]
pub fn fatal_signal(sig: u32) -> bool {
    sig < 64 && FATAL_SIGNALS & (1 << sig) != 0
}

/// `result` of `signal:signal_generate`: the kernel ignored the signal
/// (no record is sent for those).
pub const SIGNAL_IGNORED: u32 = 1;

/// A fatal signal generated for a task outside the host's namespaces. The
/// header describes the sender (the task running when it was generated:
/// `kill(2)`'s caller, or the faulting task itself).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct SignalEvent {
    pub hdr: Header,
    /// The target thread's id, and its thread group's.
    pub target_pid: u32,
    pub target_tgid: u32,
    pub sig: u32,
    /// `si_code`: 0 `SI_USER` (kill), 0x80 `SI_KERNEL`, -6 `SI_TKILL`, …
    pub code: i32,
    /// 1 when sent to the whole thread group.
    pub group: u32,
    /// `TRACE_SIGNAL_*`: 0 delivered, 2 already pending, …
    pub result: u32,
    pub target_comm: [u8; 16],
    /// The target's namespaces.
    pub ns: NsSet,
}

/// The OOM killer's victim, outside the host's namespaces. The header
/// describes the task whose allocation invoked the killer.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct OomEvent {
    pub hdr: Header,
    pub victim_pid: u32,
    pub victim_tgid: u32,
    pub victim_comm: [u8; 16],
    /// The victim's namespaces.
    pub ns: NsSet,
}

/// Bytes kept of a cgroup path, NUL included (a systemd-driver container
/// path is under 200).
pub const CGROUP_PATH_LEN: usize = 512;

/// A cgroup v2 directory was made. The header describes the task that
/// made it (runc, systemd).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct CgroupEvent {
    pub hdr: Header,
    /// The cgroup's id: what `bpf_get_current_cgroup_id` gives its tasks.
    pub id: u64,
    /// Depth below the root (a top-level cgroup is 1).
    pub level: u32,
    pub _pad: u32,
    /// The maker's namespaces.
    pub ns: NsSet,
    /// The path below the cgroup2 root, NUL-terminated; bytes after the NUL
    /// are unspecified.
    pub path: [u8; CGROUP_PATH_LEN],
}

const _: () = assert!(size_of::<SignalEvent>() == 56 + 24 + 16 + 112);
const _: () = assert!(size_of::<OomEvent>() == 56 + 8 + 16 + 112);
const _: () = assert!(size_of::<CgroupEvent>() == 56 + 16 + 112 + CGROUP_PATH_LEN);
