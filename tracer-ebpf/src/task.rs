//! Reads from `struct task_struct` and what hangs off it, through member
//! offsets that userspace resolved from the running kernel's BTF.
//!
//! Rust eBPF has no CO-RE relocations, so every offset comes from the
//! `OFFSETS` global; a member the kernel lacks is `ABSENT` and its value 0.

use aya_ebpf::helpers::{
    bpf_get_current_cgroup_id, bpf_get_current_task, bpf_ktime_get_boot_ns,
    bpf_probe_read_user_buf, generated as raw,
};
use tracer_common::{ABSENT, ARGS_LEN, Filter, Header, NS_COUNT, Ns, NsSet, Offsets};

#[unsafe(no_mangle)]
static OFFSETS: Offsets = Offsets::all_absent();

#[unsafe(no_mangle)]
static FILTER: Filter = Filter::off();

/// A global's value as userspace patched it before load. The volatile read
/// keeps the compiler from folding in the placeholder compiled into the object.
#[inline(always)]
pub fn global<T: Copy>(field: &T) -> T {
    // SAFETY: a shared reference is valid and aligned for a read; the
    // globals are only written by the loader, before any program runs.
    unsafe { core::ptr::read_volatile(field) }
}

/// One field of the patched offsets.
macro_rules! off {
    ($field:ident) => {
        global(&OFFSETS.$field)
    };
    ($field:ident[$i:expr]) => {
        global(&OFFSETS.$field[$i])
    };
}

#[derive(Clone, Copy)]
pub struct Task(pub *const u8);

impl Task {
    pub fn current() -> Self {
        // SAFETY: a helper without arguments, callable from any tracing program.
        Task(unsafe { bpf_get_current_task() } as *const u8)
    }
}

/// Read a `T` at `base + off`, 0 when the member is absent or the read
/// faults (the helper zeroes its destination on failure).
///
/// Deliberately branch-free on the result: a branch per read multiplies
/// the paths the verifier walks (2^27 for one namespace set). A pointer
/// that failed to read is 0, so reads through it fail and give 0 too, and
/// userspace reads a 0 inode or pid as "unread".
#[inline(always)]
fn read<T: Copy + Default>(base: *const u8, off: u32) -> T {
    let mut v = T::default();
    if off != ABSENT {
        // The verifier knows `off` (a frozen global), so this is no branch to it.
        // SAFETY: the destination is a local of exactly `size_of::<T>()`
        // bytes; the helper checks the (kernel) source itself and zeroes
        // the destination if it faults, and `T` is a plain integer type.
        unsafe {
            raw::bpf_probe_read_kernel(
                (&raw mut v).cast(),
                size_of::<T>() as u32,
                base.wrapping_add(off as usize).cast(),
            )
        };
    }
    v
}

fn read_ptr(base: *const u8, off: u32) -> *const u8 {
    read::<usize>(base, off) as *const u8
}

/// Fill the header from `task`.
#[inline(always)]
pub fn fill_header(hdr: &mut Header, kind: u32, task: Task) {
    hdr.kind = kind;
    hdr._reserved = 0;
    // SAFETY: helpers without arguments, callable from any tracing program.
    hdr.ts_ns = unsafe { bpf_ktime_get_boot_ns() };
    // SAFETY: as above.
    hdr.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    hdr._pad = 0;
    let t = task.0;
    hdr.pid = read::<u32>(t, off!(task_pid));
    hdr.tgid = read::<u32>(t, off!(task_tgid));
    hdr.ppid = read::<u32>(read_ptr(t, off!(task_real_parent)), off!(task_tgid));
    hdr.comm = read::<[u8; 16]>(t, off!(task_comm));
}

/// `task`'s thread id, thread group id and comm (0s where unreadable).
#[inline(always)]
pub fn read_ids(task: Task) -> (u32, u32, [u8; 16]) {
    let t = task.0;
    (
        read::<u32>(t, off!(task_pid)),
        read::<u32>(t, off!(task_tgid)),
        read::<[u8; 16]>(t, off!(task_comm)),
    )
}

/// Read all of `task`'s namespaces into `out`. A slot this kernel lacks
/// (no time namespaces, no `ns_id`) or whose read failed is 0.
#[inline(always)]
pub fn read_ns(task: Task, out: &mut NsSet) {
    let t = task.0;
    let nsproxy = read_ptr(t, off!(task_nsproxy));
    let inum_off = off!(ns_common_inum);
    let id_off = off!(ns_common_ns_id);
    out._pad = 0;
    let mut i = 0;
    while i < NS_COUNT {
        let ns = if i == Ns::Pid as usize {
            own_pid_ns(t)
        } else if i == Ns::User as usize {
            read_ptr(read_ptr(t, off!(task_real_cred)), off!(cred_user_ns))
        } else {
            read_ptr(nsproxy, off!(nsproxy[i]))
        };
        let common = off!(ns_common[i]);
        let base = ns.wrapping_add(common as usize);
        out.inum[i] = read::<u32>(base, inum_off);
        out.id[i] = read::<u64>(base, id_off);
        i += 1;
    }
}

/// The tracer itself, when it may serve as the filter's host reference.
#[inline(always)]
pub fn is_self(tgid: u32) -> bool {
    let me = global(&FILTER.self_tgid);
    me != 0 && me == tgid
}

/// Keep the tracer's nsproxy for the filter's fast path.
#[inline(always)]
pub fn remember_host_nsproxy(task: Task) {
    let nsproxy = read::<u64>(task.0, off!(task_nsproxy));
    if let Some(slot) = crate::HOST_NSPROXY.get_ptr_mut(0) {
        // SAFETY: the map gave a valid, aligned pointer to its one u64 slot;
        // a racing writer could only store the same value.
        unsafe { *slot = nsproxy };
    }
}

#[inline(always)]
pub fn filter_enabled() -> bool {
    global(&FILTER.enabled) != 0
}

/// Does the filter keep this task's fork/exec/exit in the kernel? True
/// when the filter is on and the task's net, ipc, uts, pid and
/// pid_for_children namespaces are all the host's.
#[inline(always)]
pub fn filtered_out(task: Task) -> bool {
    if !filter_enabled() {
        return false;
    }
    let t = task.0;
    let nsproxy = read_ptr(t, off!(task_nsproxy));
    // Fast path: the tracer's own nsproxy, shared by most host tasks, is
    // all host namespaces; then only the pid namespace is left to check
    // (the tracer's is the root one: level 0).
    let host = crate::HOST_NSPROXY.get(0).copied().unwrap_or(0);
    if host != 0 && nsproxy as u64 == host {
        return read::<u32>(read_ptr(t, off!(task_thread_pid)), off!(pid_level)) == 0;
    }
    let inum_off = off!(ns_common_inum);
    let inum_of = |slot: Ns| {
        let ns = read_ptr(nsproxy, off!(nsproxy[slot as usize]));
        read::<u32>(
            ns.wrapping_add(off!(ns_common[slot as usize]) as usize),
            inum_off,
        )
    };
    let host_mnt = global(&FILTER.host_mnt);
    inum_of(Ns::Net) == global(&FILTER.host_net)
        && inum_of(Ns::Ipc) == global(&FILTER.host_ipc)
        && inum_of(Ns::Uts) == global(&FILTER.host_uts)
        && inum_of(Ns::PidForChildren) == global(&FILTER.host_pid)
        && (host_mnt == 0 || inum_of(Ns::Mnt) == host_mnt)
        && read::<u32>(
            own_pid_ns(t).wrapping_add(off!(ns_common[Ns::Pid as usize]) as usize),
            inum_off,
        ) == global(&FILTER.host_pid)
}

/// The pid namespace a task itself lives in:
/// `task->thread_pid->numbers[task->thread_pid->level].ns`.
#[inline(always)]
fn own_pid_ns(t: *const u8) -> *const u8 {
    let pid = read_ptr(t, off!(task_thread_pid));
    // Nesting is limited to 32 levels by the kernel; keep the verifier sure of it.
    let level = read::<u32>(pid, off!(pid_level)) & 31;
    let at = off!(pid_numbers)
        .wrapping_add(level.wrapping_mul(off!(upid_size)))
        .wrapping_add(off!(upid_ns));
    read_ptr(pid, at)
}

/// `task->exit_code`, and whether the thread group is dead (`signal->live == 0`).
/// An unreadable `signal` reads as live: "group dead" is never claimed falsely.
#[inline(always)]
pub fn read_exit(task: Task) -> (u32, bool) {
    let t = task.0;
    let code = read::<u32>(t, off!(task_exit_code));
    let signal = read_ptr(t, off!(task_signal));
    let live = if signal.is_null() {
        1
    } else {
        read::<i32>(signal, off!(signal_live))
    };
    (code, live == 0)
}

/// Copy the new program's argv (NUL-separated) from its stack, its first
/// [`ARGS_LEN`] bytes. Returns the whole argv's length, so that userspace
/// knows when it was cut (0 when unreadable).
#[inline(always)]
pub fn read_args(task: Task, out: &mut [u8; ARGS_LEN]) -> u32 {
    let mm = read_ptr(task.0, off!(task_mm));
    let start = read::<u64>(mm, off!(mm_arg_start));
    let end = read::<u64>(mm, off!(mm_arg_end));
    if start == 0 || end <= start {
        return 0;
    }
    let whole = (end - start).min(u32::MAX as u64) as u32;
    let mut len = (end - start) as usize;
    if len > ARGS_LEN {
        len = ARGS_LEN;
    }
    // Bounds the verifier can follow: 1..=ARGS_LEN.
    let len = ((len - 1) & (ARGS_LEN - 1)) + 1;
    // SAFETY: the helper checks the user source itself; the destination
    // is a slice of `out`.
    match unsafe { bpf_probe_read_user_buf(start as *const u8, &mut out[..len]) } {
        Ok(()) => whole,
        Err(_) => 0,
    }
}

/// Copy a namespace set word by word. A plain assignment becomes a byte-wise
/// `memcpy` loop that the verifier walks byte by byte.
#[inline(always)]
pub fn copy_ns(dst: &mut NsSet, src: &NsSet) {
    const WORDS: usize = size_of::<NsSet>() / 8;
    let d = (dst as *mut NsSet).cast::<u64>();
    let s = (src as *const NsSet).cast::<u64>();
    let mut i = 0;
    while i < WORDS {
        // SAFETY: both point to a whole, 8-byte aligned NsSet of WORDS u64s,
        // and `i < WORDS`.
        unsafe { core::ptr::write_volatile(d.add(i), core::ptr::read_volatile(s.add(i))) };
        i += 1;
    }
}
