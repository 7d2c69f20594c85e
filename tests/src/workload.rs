//! The ground truth `ns-workload` prints on stdout (one JSON object): what
//! it did, to whom, and the namespaces `/proc/<pid>/ns` showed at each step.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Namespace inodes by `/proc/<pid>/ns` name (`net` → 4026532177, ...).
pub type NsInodes = BTreeMap<String, u64>;

/// `ns-workload` (no argument): clone, unshare, setns, exec, exit.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Steps {
    /// The workload's own pid: it unshares and setns's itself.
    pub pid: u32,
    pub ns_start: NsInodes,
    /// CLONE_NEW* flags of the clone.
    pub clone_flags: u64,
    pub clone_child: u32,
    pub clone_child_ns: NsInodes,
    pub unshare_flags: u64,
    pub ns_after_unshare: NsInodes,
    pub setns_fd: i32,
    pub setns_nstype: u64,
    pub ns_after_setns: NsInodes,
    pub exec_pid: u32,
    pub exec_path: String,
    pub exec_status: i32,
    /// The clone child's wait status.
    pub clone_child_status: i32,
}

/// `ns-workload pod`: a pod made by hand.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HandMadePod {
    pub pause_pid: u32,
    pub pause_path: String,
    pub pause_ns: NsInodes,
    /// CLOCK_BOOTTIME just before the pause was spawned.
    pub pause_from_ns: u64,
    /// Shell-style exit status of the pause.
    pub pause_exit: i32,
    pub containers: Vec<HandMadeContainer>,
}

/// One "container" of [`HandMadePod`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct HandMadeContainer {
    pub pid: u32,
    pub argv: Vec<String>,
    /// CLOCK_BOOTTIME around its spawn: its joins fall inside. Its exec
    /// may not: `spawn()` returns once the exec closed the CLOEXEC pipe,
    /// which is before the kernel's exec tracepoint fires.
    pub spawn_from_ns: u64,
    pub spawn_to_ns: u64,
    /// CLOCK_BOOTTIME once `wait()` reaped it: after its exec and exit.
    pub reaped_ns: u64,
    /// Shell-style exit status.
    pub exit: i32,
    pub ns: NsInodes,
}

/// `ns-workload clones`: the kernel-side reads the hot programs make
/// without syscall-entry programs or helper calls.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Clones {
    /// The workload's own pid (the caller of every clone).
    pub pid: u32,
    /// A clone3(CLONE_NEWUTS|CLONE_NEWIPC) child, its flags and namespaces.
    pub clone3_child: u32,
    pub clone3_flags: u64,
    pub clone3_child_ns: NsInodes,
    /// A namespace-making clone the kernel refused: its flags and errno.
    pub failed_flags: u64,
    pub failed_errno: i32,
    /// Tasks nested in pid namespaces, one per level (1 = the first new one).
    pub nested: Vec<NestedPid>,
}

/// One task of [`Clones::nested`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NestedPid {
    /// Its pid as the host sees it.
    pub pid: u32,
    pub level: u32,
    /// Its own pid namespace's inode (`/proc/<pid>/ns/pid`).
    pub pid_ns: u64,
}

/// `ns-workload migrate`: a thread unshares its network namespace over and
/// over while the main thread moves it between CPUs, so that some calls
/// end on another CPU than they began on.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Migrate {
    /// The unsharing thread's id.
    pub tid: u32,
    /// Its netns before the first unshare, then after each one.
    pub nets: Vec<u64>,
    /// CPUs it was moved between (at least 2 for migrations to happen).
    pub cpus: usize,
    /// Its `se.nr_migrations` from /proc during the unshares.
    pub migrations: u64,
}

/// `ns-workload changes`: unshare and setns of every shape, in order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Changes {
    /// The workload's pid; it makes every call from its main thread.
    pub pid: u32,
    pub calls: Vec<NsCall>,
}

/// One unshare or setns and what `/proc/self/ns` showed around it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct NsCall {
    pub syscall: String,
    /// unshare's flags, setns's nstype.
    pub flags: u64,
    /// setns's descriptor (-1 for unshare).
    pub fd: i32,
    /// 0 or -errno.
    pub ret: i64,
    pub before: NsInodes,
    pub after: NsInodes,
}
