//! Globals userspace patches into the programs before load.

use bytemuck::{Pod, Zeroable};

use crate::NS_COUNT;

/// Offsets inside kernel structs, resolved from BTF at start-up and patched
/// into the programs as the [`crate::OFFSETS_GLOBAL`] global. [`ABSENT`]
/// marks a member this kernel does not have.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct Offsets {
    pub task_pid: u32,
    pub task_tgid: u32,
    pub task_real_parent: u32,
    pub task_comm: u32,
    pub task_nsproxy: u32,
    pub task_thread_pid: u32,
    pub task_real_cred: u32,
    pub task_signal: u32,
    pub task_exit_code: u32,
    pub task_mm: u32,
    /// `signal_struct.live` (atomic_t): 0 once the last thread is exiting.
    pub signal_live: u32,
    pub mm_arg_start: u32,
    pub mm_arg_end: u32,
    /// `mm_struct.env_start` / `env_end`: a visitor's environment.
    pub mm_env_start: u32,
    pub mm_env_end: u32,
    /// Offset in `struct nsproxy` of each slot's pointer; [`ABSENT`] for the
    /// slots reached another way (pid, user) or missing on this kernel.
    pub nsproxy: [u32; NS_COUNT],
    /// Offset of the `struct ns_common` inside each slot's namespace struct.
    pub ns_common: [u32; NS_COUNT],
    pub ns_common_inum: u32,
    /// `ns_common.ns_id` (u64), [`ABSENT`] on kernels without it.
    pub ns_common_ns_id: u32,
    pub pid_level: u32,
    pub pid_numbers: u32,
    pub upid_size: u32,
    pub upid_ns: u32,
    pub upid_nr: u32,
    pub cred_user_ns: u32,
    /// `struct pt_regs` members holding the syscall number and its first
    /// argument as saved at entry (x86_64 `orig_ax`, `di`; arm64
    /// `syscallno`, `orig_x0`): a fork's clone flags, read at
    /// `sched_process_fork` without a program on every clone's entry.
    pub regs_syscall_nr: u32,
    pub regs_arg0: u32,
    /// This architecture's numbers for clone and clone3 ([`ABSENT`]: unknown).
    pub nr_clone: u32,
    pub nr_clone3: u32,
}

/// An offset the running kernel does not have.
pub const ABSENT: u32 = u32::MAX;

impl Offsets {
    /// Every offset [`ABSENT`] (not zero: the name is older than the
    /// meaning); the value compiled into the object until userspace patches it.
    pub const fn zeroed() -> Self {
        Self::all_absent()
    }

    /// Every offset [`ABSENT`].
    pub const fn all_absent() -> Self {
        Self {
            task_pid: ABSENT,
            task_tgid: ABSENT,
            task_real_parent: ABSENT,
            task_comm: ABSENT,
            task_nsproxy: ABSENT,
            task_thread_pid: ABSENT,
            task_real_cred: ABSENT,
            task_signal: ABSENT,
            task_exit_code: ABSENT,
            task_mm: ABSENT,
            signal_live: ABSENT,
            mm_arg_start: ABSENT,
            mm_arg_end: ABSENT,
            mm_env_start: ABSENT,
            mm_env_end: ABSENT,
            nsproxy: [ABSENT; NS_COUNT],
            ns_common: [ABSENT; NS_COUNT],
            ns_common_inum: ABSENT,
            ns_common_ns_id: ABSENT,
            pid_level: ABSENT,
            pid_numbers: ABSENT,
            upid_size: ABSENT,
            upid_ns: ABSENT,
            upid_nr: ABSENT,
            cred_user_ns: ABSENT,
            regs_syscall_nr: ABSENT,
            regs_arg0: ABSENT,
            nr_clone: ABSENT,
            nr_clone3: ABSENT,
        }
    }
}

/// The in-kernel filter: fork, exec and exit of a task whose net, ipc,
/// uts, mnt, pid and pid_for_children namespaces are all the host's never
/// leave the kernel (a pod's tasks always have at least one of their own;
/// a task in a mount namespace of its own may hold a copy of a pin, and
/// its exit takes that copy away). Namespace changes and mount records
/// always do.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct Filter {
    /// 0: send everything (`--all`).
    pub enabled: u32,
    pub host_net: u32,
    pub host_ipc: u32,
    pub host_uts: u32,
    pub host_pid: u32,
    /// The host's mount namespace (0: not compared, every mount namespace passes as the host's).
    pub host_mnt: u32,
    /// Not 0: every program returns at once (unshare's but for the
    /// tracer's own calls, its self-test; see `self_tgid`): the bench's
    /// floor, what running any program at these tracepoints costs
    /// (`--debug-idle-programs`).
    pub idle: u32,
    /// The tracer's own pid when it lives in the host's namespaces and the
    /// root pid namespace (0 otherwise): its self-test `unshare(0)` then
    /// stores its `nsproxy` in [`crate::HOST_NSPROXY_MAP`], a fast path for
    /// the filter (most host tasks share that very nsproxy; it cannot be
    /// freed and reused while the tracer holds it).
    pub self_tgid: u32,
}

impl Filter {
    pub const fn off() -> Self {
        Self {
            enabled: 0,
            host_net: 0,
            host_ipc: 0,
            host_uts: 0,
            host_pid: 0,
            host_mnt: 0,
            idle: 0,
            self_tgid: 0,
        }
    }
}

const _: () = assert!(size_of::<Offsets>() == 4 * (15 + 2 * NS_COUNT + 12));
const _: () = assert!(size_of::<Filter>() == 32);

#[cfg(feature = "user")]
mod user {
    // SAFETY: `Offsets` derives `bytemuck::Pod`, which proves at compile time
    // that it is `repr(C)`, has no padding and accepts every bit pattern:
    // exactly what `aya::Pod` asks of a global's type.
    unsafe impl aya::Pod for super::Offsets {}
    // SAFETY: as above; `Filter` derives `bytemuck::Pod`.
    unsafe impl aya::Pod for super::Filter {}
}
