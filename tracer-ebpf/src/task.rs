//! Reads from `struct task_struct` and what hangs off it, through member
//! offsets that userspace resolved from the running kernel's BTF.
//!
//! Rust eBPF has no CO-RE relocations, so every offset comes from the
//! `OFFSETS` global; a member the kernel lacks is `ABSENT` and its value 0.
//!
//! Every task pointer here is BTF-typed (`bpf_get_current_task_btf()`, or a
//! `tp_btf` argument), so members are read with plain loads that the
//! verifier checks against the kernel's BTF at load time and turns into
//! fault-tolerant loads (a fault reads 0): no helper call per member. The
//! offsets come from a frozen read-only global, constants to the verifier.

use aya_ebpf::helpers::{
    bpf_get_current_cgroup_id, bpf_ktime_get_boot_ns, bpf_probe_read_kernel, bpf_probe_read_user,
    bpf_probe_read_user_buf, generated as raw,
};
use tracer_common::{
    ABSENT, ARGS_LEN, CLONE_NEW_MASK, ENV_LEN, Filter, Header, NS_COUNT, Ns, NsSet, Offsets,
    syscall,
};

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

/// A BTF-typed `struct task_struct *`.
#[derive(Clone, Copy)]
pub struct Task(pub *const u8);

impl Task {
    pub fn current() -> Self {
        // SAFETY: a helper without arguments, callable from any tracing
        // program; it returns the current task, never null.
        Task(unsafe { raw::bpf_get_current_task_btf() } as *const u8)
    }
}

/// Read a `T` at `base + off`: 0 when the member is absent. `base` must be
/// a BTF-typed pointer (or one read through such pointers): the verifier
/// checks that `off` lands on a member of `size_of::<T>()` bytes, and a
/// load that faults (a null pointer on the way) reads as 0.
///
/// Deliberately branch-free on the result: a branch per read multiplies
/// the paths the verifier walks. A pointer that read as 0 gives 0 for
/// every read through it, and userspace reads a 0 inode or pid as "unread".
#[inline(always)]
fn read<T: Copy + Default>(base: *const u8, off: u32) -> T {
    if off == ABSENT {
        // The verifier knows `off` (a frozen global): no branch at run time.
        return T::default();
    }
    // SAFETY: see above: the verifier checks the access against BTF and
    // makes it fault-tolerant; `T` is a plain integer or pointer type.
    unsafe { core::ptr::read_volatile(base.wrapping_add(off as usize).cast::<T>()) }
}

fn read_ptr(base: *const u8, off: u32) -> *const u8 {
    read::<usize>(base, off) as *const u8
}

/// `task->comm`, as two 8-byte loads (a 16-byte value is no single load).
#[inline(always)]
fn read_comm(t: *const u8) -> [u8; 16] {
    let off = off!(task_comm);
    let lo = read::<u64>(t, off);
    let hi = read::<u64>(t, off.wrapping_add(8));
    let mut comm = [0u8; 16];
    comm[..8].copy_from_slice(&lo.to_le_bytes());
    comm[8..].copy_from_slice(&hi.to_le_bytes());
    comm
}

/// Read a `T` through an untyped kernel address with the helper (the
/// rare paths whose offsets the verifier cannot know); 0 on a fault.
#[inline(always)]
fn read_kernel<T: Copy + Default>(addr: u64) -> T {
    // SAFETY: the helper checks the kernel source itself.
    unsafe { bpf_probe_read_kernel(addr as *const T) }.unwrap_or_default()
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
    hdr.comm = read_comm(t);
}

/// `task`'s thread id, thread group id and comm (0s where unreadable).
#[inline(always)]
pub fn read_ids(task: Task) -> (u32, u32, [u8; 16]) {
    let t = task.0;
    (
        read::<u32>(t, off!(task_pid)),
        read::<u32>(t, off!(task_tgid)),
        read_comm(t),
    )
}

/// Read all of `task`'s namespaces into `out`. A slot this kernel lacks
/// (no time namespaces, no `ns_id`) or whose read failed is 0.
#[inline(always)]
pub fn read_ns(task: Task, out: &mut NsSet) {
    let t = task.0;
    let nsproxy = read_ptr(t, off!(task_nsproxy));
    out._pad = 0;
    let mut i = 0;
    while i < NS_COUNT {
        (out.inum[i], out.id[i]) = read_slot(t, nsproxy, i);
        i += 1;
    }
}

/// Re-read, in `out` (the namespaces before a successful unshare or setns
/// with these `flags`), the slots that call may have changed: those its
/// `CLONE_NEW*` flags name, or all when it names none (`setns(fd, 0)`).
/// The kernel changes no other slot, and no other task changes this
/// one's namespaces. The task's own pid namespace never changes.
#[inline(always)]
pub fn reread_ns(task: Task, out: &mut NsSet, flags: u64) {
    let t = task.0;
    let nsproxy = read_ptr(t, off!(task_nsproxy));
    let any = flags & CLONE_NEW_MASK == 0;
    let mut i = 0;
    while i < NS_COUNT {
        if i != Ns::Pid as usize && (any || flags & Ns::ALL[i].clone_flag() != 0) {
            (out.inum[i], out.id[i]) = read_slot(t, nsproxy, i);
        }
        i += 1;
    }
}

/// Slot `i` of task `t` whose `nsproxy` was read.
#[inline(always)]
fn read_slot(t: *const u8, nsproxy: *const u8, i: usize) -> (u32, u64) {
    if i == Ns::Pid as usize {
        return own_pid_ns(t);
    }
    let ns = if i == Ns::User as usize {
        user_ns(t)
    } else {
        read_ptr(nsproxy, off!(nsproxy[i]))
    };
    ns_ids(ns, off!(ns_common[i]))
}

/// A namespace's inode number and 64-bit id from its struct (`ns`) and
/// the offset of the `ns_common` inside it.
#[inline(always)]
fn ns_ids(ns: *const u8, common: u32) -> (u32, u64) {
    if common == ABSENT {
        return (0, 0);
    }
    let base = ns.wrapping_add(common as usize);
    (
        read::<u32>(base, off!(ns_common_inum)),
        read::<u64>(base, off!(ns_common_ns_id)),
    )
}

/// `task->real_cred->user_ns`.
#[inline(always)]
fn user_ns(t: *const u8) -> *const u8 {
    read_ptr(read_ptr(t, off!(task_real_cred)), off!(cred_user_ns))
}

/// The ids of the pid namespace a task itself lives in:
/// `task->thread_pid->numbers[task->thread_pid->level].ns`; deeper than
/// [`own_upid`] reaches, through the helper.
#[inline(always)]
fn own_pid_ns(t: *const u8) -> (u32, u64) {
    let (pid, level) = thread_pid(t);
    match own_upid::<usize>(pid, level, off!(upid_ns)) {
        Some(ns) => ns_ids(ns as *const u8, off!(ns_common[Ns::Pid as usize])),
        None => deep_pid_ns(t, level),
    }
}

/// Whether `task` is pid 1 of a pid namespace other than the root one:
/// the init of a container or a pod's pause. Levels past [`own_upid`]'s
/// read as not.
#[inline(always)]
pub fn inits_pid_ns(task: Task) -> bool {
    let (pid, level) = thread_pid(task.0);
    level != 0 && own_upid::<u32>(pid, level, off!(upid_nr)) == Some(1)
}

/// `task->thread_pid` and its `level`.
#[inline(always)]
fn thread_pid(t: *const u8) -> (*const u8, u32) {
    let pid = read_ptr(t, off!(task_thread_pid));
    (pid, read::<u32>(pid, off!(pid_level)))
}

/// The member at offset `member` of `pid->numbers[level]`, the task's own
/// `struct upid`. The verifier checks typed loads only at offsets it
/// knows, so the levels pods use (host 0, a pod 1, a nested one 2) are
/// spelled out; `None` deeper.
#[inline(always)]
fn own_upid<T: Copy + Default>(pid: *const u8, level: u32, member: u32) -> Option<T> {
    let first = off!(pid_numbers).wrapping_add(member);
    let size = off!(upid_size);
    match level {
        0 => Some(read::<T>(pid, first)),
        1 => Some(read::<T>(pid, first.wrapping_add(size))),
        2 => Some(read::<T>(pid, first.wrapping_add(2 * size))),
        _ => None,
    }
}

/// [`own_pid_ns`] for levels past 2, with untyped reads.
#[inline(always)]
fn deep_pid_ns(t: *const u8, level: u32) -> (u32, u64) {
    let pid: u64 = read_kernel(t as u64 + off!(task_thread_pid) as u64);
    // Nesting is limited to 32 levels by the kernel; keep the verifier sure of it.
    let at = off!(pid_numbers) as u64
        + (level & 31) as u64 * off!(upid_size) as u64
        + off!(upid_ns) as u64;
    let ns: u64 = read_kernel(pid + at);
    let common = ns + off!(ns_common[Ns::Pid as usize]) as u64;
    let id_off = off!(ns_common_ns_id);
    let id = if id_off == ABSENT {
        0
    } else {
        read_kernel::<u64>(common + id_off as u64)
    };
    (read_kernel::<u32>(common + off!(ns_common_inum) as u64), id)
}

/// The tracer itself, when it may serve as the filter's host reference.
#[inline(always)]
pub fn is_self(tgid: u32) -> bool {
    let me = global(&FILTER.self_tgid);
    me != 0 && me == tgid
}

/// Is `inum` a network namespace other than the host's? (Any, when the
/// host's is unknown.)
#[inline(always)]
pub fn is_other_net(inum: u32) -> bool {
    inum != global(&FILTER.host_net)
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

/// The bench's floor (`Filter::idle`): return at once. Idle off, the
/// verifier knows the frozen global and drops the check's branch.
#[inline(always)]
pub fn idle() -> bool {
    global(&FILTER.idle) != 0
}

/// [`idle`], but for the tracer's own calls: its self-test's `unshare(0)`.
#[inline(always)]
pub fn idle_unless_self() -> bool {
    idle() && !is_self(crate::emit::current_tgid())
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
    let nsproxy = read::<u64>(t, off!(task_nsproxy));
    // Fast path: the tracer's own nsproxy, shared by most host tasks, is
    // all host namespaces. Its holders are in the root pid namespace too:
    // a task's own pid namespace is the pid_for_children of the nsproxy it
    // was cloned with (here the root one), and the one task that may have
    // made this nsproxy by unshare/setns had root as pid_for_children, which
    // only a task in the root pid namespace can have.
    let host = crate::HOST_NSPROXY.get(0).copied().unwrap_or(0);
    if host != 0 && nsproxy == host {
        return true;
    }
    let nsproxy = nsproxy as *const u8;
    let inum_of = |slot: Ns| {
        let ns = read_ptr(nsproxy, off!(nsproxy[slot as usize]));
        ns_ids(ns, off!(ns_common[slot as usize])).0
    };
    let host_mnt = global(&FILTER.host_mnt);
    inum_of(Ns::Net) == global(&FILTER.host_net)
        && inum_of(Ns::Ipc) == global(&FILTER.host_ipc)
        && inum_of(Ns::Uts) == global(&FILTER.host_uts)
        && inum_of(Ns::PidForChildren) == global(&FILTER.host_pid)
        && (host_mnt == 0 || inum_of(Ns::Mnt) == host_mnt)
        && own_pid_ns(t).0 == global(&FILTER.host_pid)
}

/// Whether `child` got namespaces of its own from its clone: another
/// `nsproxy` or another user namespace than `caller`'s. The kernel's state,
/// not the clone flags: it needs no program at the clone's entry.
#[inline(always)]
pub fn ns_differ(caller: Task, child: Task) -> bool {
    read::<u64>(caller.0, off!(task_nsproxy)) != read::<u64>(child.0, off!(task_nsproxy))
        || user_ns(caller.0) as u64 != user_ns(child.0) as u64
}

/// The clone flags and [`syscall`] of the clone or clone3 the current
/// task is in, from the registers saved at its syscall entry; `(0,
/// syscall::UNKNOWN)` for fork, vfork, kernel threads (no user registers)
/// and architectures whose registers userspace did not name.
#[inline(always)]
pub fn clone_call(task: Task) -> (u64, u32) {
    if read::<u64>(task.0, off!(task_mm)) == 0 {
        return (0, syscall::UNKNOWN);
    }
    // SAFETY: the helper takes a BTF task pointer, which `task` is.
    let regs = unsafe { raw::bpf_task_pt_regs(task.0 as *mut _) } as *const u8;
    let nr = read::<u32>(regs, off!(regs_syscall_nr));
    let arg0 = read::<u64>(regs, off!(regs_arg0));
    let (clone, clone3) = (off!(nr_clone), off!(nr_clone3));
    if clone != ABSENT && nr == clone {
        (arg0, syscall::CLONE)
    } else if clone3 != ABSENT && nr == clone3 {
        // clone3(struct clone_args *uargs, size_t size): flags is the first u64.
        // SAFETY: the helper checks the user address itself.
        let flags = unsafe { bpf_probe_read_user(arg0 as *const u64) }.unwrap_or(0);
        (flags, syscall::CLONE3)
    } else {
        (0, syscall::UNKNOWN)
    }
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
    read_mm_span(task, off!(mm_arg_start), off!(mm_arg_end), out).map_or(0, |(whole, _)| whole)
}

/// Copy the task's environment (NUL-separated), its first [`ENV_LEN`]
/// bytes: the whole environment's length and the bytes copied, or `None`
/// when unreadable.
#[inline(always)]
pub fn read_env(task: Task, out: &mut [u8; ENV_LEN]) -> Option<(u32, usize)> {
    read_mm_span(task, off!(mm_env_start), off!(mm_env_end), out)
}

/// Copy the user memory between two `mm_struct` members (the offsets
/// `start` and `end`: argv's bounds, or the environment's), its first `N`
/// bytes (a power of two). Returns the span's whole length and the bytes
/// copied; `None` when unreadable (no mm: a kernel thread; a page not
/// present, which a non-sleepable program cannot fault in).
#[inline(always)]
fn read_mm_span<const N: usize>(
    task: Task,
    start: u32,
    end: u32,
    out: &mut [u8; N],
) -> Option<(u32, usize)> {
    let mm = read_ptr(task.0, off!(task_mm));
    let start = read::<u64>(mm, start);
    let end = read::<u64>(mm, end);
    if start == 0 || end < start {
        return None;
    }
    if end == start {
        return Some((0, 0));
    }
    let whole = (end - start).min(u32::MAX as u64 - 1) as u32;
    let mut len = (end - start) as usize;
    if len > N {
        len = N;
    }
    // Bounds the verifier can follow: 1..=N.
    let len = ((len - 1) & (N - 1)) + 1;
    // SAFETY: the helper checks the user source itself; the destination
    // is a slice of `out`.
    match unsafe { bpf_probe_read_user_buf(start as *const u8, &mut out[..len]) } {
        Ok(()) => Some((whole, len)),
        Err(_) => None,
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
