//! eBPF side of the tracer: one small program per tracepoint.
//!
//! Namespaces belong to threads, so sys_enter/sys_exit pairs are matched per
//! thread id: the enter half stores arguments (and, for unshare/setns, the
//! namespaces before the call) in a map, the exit half emits one record with
//! both states. Every record is reserved in the ring buffer and filled in
//! place; a failed reservation is counted in `STATS`, never dropped silently.
#![no_std]
#![no_main]

mod task;

use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_probe_read_kernel_str_bytes,
        bpf_probe_read_user,
    },
    macros::{map, raw_tracepoint, tracepoint},
    maps::{Array, HashMap, PerCpuArray, RingBuf},
    programs::{RawTracePointContext, TracePointContext},
    EbpfContext,
};
use aya_log_ebpf::warn;
use tracer_common::{
    syscall, ExecEvent, ExitEvent, ForkEvent, Kind, NsChangeEvent, NsSet, Stat, CLONE_NEW_MASK,
    EVENTS_BYTES, PENDING_ENTRIES, STAT_COUNT,
};

use crate::task::{
    copy_ns, fill_header, filter_enabled, filtered_out, is_self, read_args, read_exit, read_ns,
    remember_host_nsproxy, Task,
};

#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_BYTES, 0);

#[map]
static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(STAT_COUNT, 0);

/// unshare/setns in flight, by thread id. Every entry is removed at the
/// syscall's exit, so a plain hash (cheaper than an LRU) cannot fill up.
#[map]
static PENDING: HashMap<u32, Pending> = HashMap::with_max_entries(PENDING_ENTRIES, 0);

/// clone/clone3 in flight, by thread id: read at `sched_process_fork`.
#[map]
static CLONES: HashMap<u32, CloneArgs> = HashMap::with_max_entries(PENDING_ENTRIES, 0);

/// The tracer's own nsproxy, a fast path for the filter (see `Filter::self_tgid`).
#[map]
static HOST_NSPROXY: Array<u64> = Array::with_max_entries(1, 0);

/// Per-CPU room to build a `Pending` (too large for the 512-byte stack with the rest).
#[map]
static SCRATCH: PerCpuArray<Pending> = PerCpuArray::with_max_entries(1, 0);

#[repr(C)]
#[derive(Clone, Copy)]
struct Pending {
    flags: u64,
    fd: i32,
    syscall: u32,
    ns_before: NsSet,
}

#[repr(C)]
#[derive(Clone, Copy)]
struct CloneArgs {
    flags: u64,
    syscall: u32,
    _pad: u32,
}

/// Offset of the first syscall argument in a `syscalls:sys_enter_*` record
/// (after the common header and `__syscall_nr`), and of `ret` in `sys_exit_*`.
const SYSCALL_ARG0: usize = 16;
const SYSCALL_ARG1: usize = 24;
const SYSCALL_RET: usize = 16;
/// `__data_loc char[] filename` in `sched:sched_process_exec`.
const EXEC_FILENAME_LOC: usize = 8;
const EXEC_OLD_PID: usize = 16;

fn count(stat: Stat) {
    if let Some(slot) = STATS.get_ptr_mut(stat as u32) {
        // Per-CPU slot: no other writer while this program runs on this CPU.
        unsafe { *slot += 1 };
    }
}

/// Wake the reader only once this much is waiting: userspace also drains
/// the ring on a short timer, so a wakeup per event (a syscall and a
/// context switch each) is not needed for a steady trickle.
const WAKEUP_BYTES: u64 = 64 * 1024;
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;

fn wakeup() -> u64 {
    if EVENTS.query(BPF_RB_AVAIL_DATA) >= WAKEUP_BYTES {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    }
}

fn current_tid() -> u32 {
    bpf_get_current_pid_tgid() as u32
}

/// A full ring buffer: count it and say so where logging is on.
fn lost<C: EbpfContext>(ctx: &C) {
    count(Stat::RingbufFull);
    warn!(ctx, "ring buffer full: event lost");
}

// ---- clone / clone3 -------------------------------------------------------

#[tracepoint]
pub fn sys_enter_clone(ctx: TracePointContext) -> u32 {
    // x86_64 clone(flags, newsp, parent_tid, child_tid, tls): flags first.
    let flags = unsafe { ctx.read_at::<u64>(SYSCALL_ARG0) }.unwrap_or(0);
    remember_clone(flags, syscall::CLONE);
    0
}

#[tracepoint]
pub fn sys_enter_clone3(ctx: TracePointContext) -> u32 {
    // clone3(struct clone_args *uargs, size_t size): flags is the first u64.
    let flags = unsafe { ctx.read_at::<u64>(SYSCALL_ARG0) }
        .ok()
        .and_then(|uargs| unsafe { bpf_probe_read_user(uargs as *const u64) }.ok());
    match flags {
        Some(flags) => remember_clone(flags, syscall::CLONE3),
        None => {
            count(Stat::ReadFailed);
            warn!(&ctx, "clone3: could not read clone_args.flags");
            remember_clone(0, syscall::CLONE3);
        }
    }
    0
}

fn remember_clone(flags: u64, syscall: u32) {
    // With the filter on, only what the model needs: clones that make
    // namespaces (every fork pays for this program, so it must be cheap).
    if flags & CLONE_NEW_MASK == 0 && filter_enabled() {
        return;
    }
    let args = CloneArgs {
        flags,
        syscall,
        _pad: 0,
    };
    if CLONES.insert(current_tid(), args, 0).is_err() {
        count(Stat::PendingFull);
    }
}

#[tracepoint]
pub fn sys_exit_clone(ctx: TracePointContext) -> u32 {
    clone_exit(&ctx);
    0
}

#[tracepoint]
pub fn sys_exit_clone3(ctx: TracePointContext) -> u32 {
    clone_exit(&ctx);
    0
}

/// Forget the clone; a failed namespace-creating clone gets its own record
/// (a success is reported by `sched_process_fork`).
fn clone_exit(ctx: &TracePointContext) {
    let ret = unsafe { ctx.read_at::<i64>(SYSCALL_RET) }.unwrap_or(0);
    // The new child returns through here too, with 0: it has no entry.
    if ret == 0 {
        return;
    }
    let tid = current_tid();
    let Some(args) = (unsafe { CLONES.get(tid) }).copied() else {
        return;
    };
    let _ = CLONES.remove(tid);
    if ret >= 0 || args.flags & CLONE_NEW_MASK == 0 {
        return;
    }
    let Some(mut entry) = EVENTS.reserve::<NsChangeEvent>(0) else {
        return lost(ctx);
    };
    let e = entry.as_mut_ptr();
    let task = Task::current();
    unsafe {
        fill_header(&mut (*e).hdr, Kind::CloneFailed, task);
        read_ns(task, &mut (*e).ns);
        copy_ns(&mut (*e).ns_before, &(*e).ns);
        (*e).flags = args.flags;
        (*e).fd = -1;
        (*e).syscall = args.syscall;
        (*e).ret = ret;
    }
    entry.submit(wakeup());
}

/// A new task. `args[0]` is the task that called clone, `args[1]` the child.
#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_process_fork(ctx: RawTracePointContext) -> u32 {
    let caller = Task(ctx.arg::<*const u8>(0));
    let child = Task(ctx.arg::<*const u8>(1));
    let clone = unsafe { CLONES.get(current_tid()) }.copied();
    // A host task forking in the host's namespaces stays in the kernel;
    // a clone that asked for new namespaces never does.
    let new_ns = clone.is_some_and(|c| c.flags & CLONE_NEW_MASK != 0);
    if !new_ns && filtered_out(child) {
        count(Stat::Filtered);
        return 0;
    }

    let Some(mut entry) = EVENTS.reserve::<ForkEvent>(0) else {
        lost(&ctx);
        return 0;
    };
    let e = entry.as_mut_ptr();
    unsafe {
        fill_header(&mut (*e).hdr, Kind::Fork, child);
        read_ns(child, &mut (*e).ns);
        let (caller_pid, caller_tgid) = bpf_get_current_pid_tgid_split();
        (*e).caller_pid = caller_pid;
        (*e).caller_tgid = caller_tgid;
        let (flags, syscall) = match clone {
            Some(c) => (c.flags, c.syscall),
            None => (0, syscall::UNKNOWN),
        };
        (*e).flags = flags;
        (*e).syscall = syscall;
        // What the clone really created: compare with the caller's own namespaces.
        match SCRATCH.get_ptr_mut(0) {
            Some(scratch) => {
                read_ns(caller, &mut (*scratch).ns_before);
                (*e).changed = (*e).ns.diff(&(*scratch).ns_before);
            }
            None => (*e).changed = 0,
        }
    }
    entry.submit(wakeup());
    0
}

fn bpf_get_current_pid_tgid_split() -> (u32, u32) {
    let v = bpf_get_current_pid_tgid();
    (v as u32, (v >> 32) as u32)
}

// ---- exec / exit ----------------------------------------------------------

#[tracepoint]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    let task = Task::current();
    if filtered_out(task) {
        count(Stat::Filtered);
        return 0;
    }
    let Some(mut entry) = EVENTS.reserve::<ExecEvent>(0) else {
        lost(&ctx);
        return 0;
    };
    let e = entry.as_mut_ptr();
    unsafe {
        fill_header(&mut (*e).hdr, Kind::Exec, task);
        read_ns(task, &mut (*e).ns);
        (*e).old_pid = ctx.read_at::<u32>(EXEC_OLD_PID).unwrap_or(0);
        (*e).filename[0] = 0;
        let loc = ctx.read_at::<u32>(EXEC_FILENAME_LOC).unwrap_or(0);
        let src = (ctx.as_ptr() as *const u8).add((loc & 0xffff) as usize);
        // On failure the name stays empty, which userspace shows as unread.
        let _ = bpf_probe_read_kernel_str_bytes(src, &mut (*e).filename);
        (*e).args_len = read_args(task, &mut (*e).args);
    }
    entry.submit(wakeup());
    0
}

#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn sched_process_exit(ctx: RawTracePointContext) -> u32 {
    let task = Task::current();
    if filtered_out(task) {
        count(Stat::Filtered);
        return 0;
    }
    let Some(mut entry) = EVENTS.reserve::<ExitEvent>(0) else {
        lost(&ctx);
        return 0;
    };
    let e = entry.as_mut_ptr();
    unsafe {
        fill_header(&mut (*e).hdr, Kind::Exit, task);
        read_ns(task, &mut (*e).ns);
        let (code, group_dead) = read_exit(task);
        (*e).exit_code = code;
        (*e).group_dead = group_dead as u32;
    }
    entry.submit(wakeup());
    0
}

// ---- unshare / setns ------------------------------------------------------

#[tracepoint]
pub fn sys_enter_unshare(ctx: TracePointContext) -> u32 {
    let flags = unsafe { ctx.read_at::<u64>(SYSCALL_ARG0) }.unwrap_or(0);
    remember_ns_change(&ctx, flags, -1, syscall::UNSHARE);
    0
}

#[tracepoint]
pub fn sys_enter_setns(ctx: TracePointContext) -> u32 {
    let fd = unsafe { ctx.read_at::<u64>(SYSCALL_ARG0) }.unwrap_or(u64::MAX) as i32;
    let nstype = unsafe { ctx.read_at::<u64>(SYSCALL_ARG1) }.unwrap_or(0);
    remember_ns_change(&ctx, nstype, fd, syscall::SETNS);
    0
}

/// Store the arguments and the thread's namespaces before the call.
fn remember_ns_change(ctx: &TracePointContext, flags: u64, fd: i32, syscall: u32) {
    let Some(p) = SCRATCH.get_ptr_mut(0) else {
        return;
    };
    unsafe {
        (*p).flags = flags;
        (*p).fd = fd;
        (*p).syscall = syscall;
        read_ns(Task::current(), &mut (*p).ns_before);
    }
    if PENDING.insert(current_tid(), unsafe { &*p }, 0).is_err() {
        count(Stat::PendingFull);
        warn!(ctx, "pending map full: namespaces before the call are lost");
    }
}

#[tracepoint]
pub fn sys_exit_unshare(ctx: TracePointContext) -> u32 {
    ns_change_exit(&ctx, Kind::Unshare);
    0
}

#[tracepoint]
pub fn sys_exit_setns(ctx: TracePointContext) -> u32 {
    ns_change_exit(&ctx, Kind::Setns);
    0
}

fn ns_change_exit(ctx: &TracePointContext, kind: Kind) {
    let tid = current_tid();
    let Some(pending) = PENDING.get_ptr(tid) else {
        count(Stat::PendingMissing);
        return;
    };
    let ret = unsafe { ctx.read_at::<i64>(SYSCALL_RET) }.unwrap_or(0);
    let Some(mut entry) = EVENTS.reserve::<NsChangeEvent>(0) else {
        let _ = PENDING.remove(tid);
        return lost(ctx);
    };
    let e = entry.as_mut_ptr();
    let task = Task::current();
    unsafe {
        fill_header(&mut (*e).hdr, kind, task);
        read_ns(task, &mut (*e).ns);
        if kind == Kind::Unshare && ret == 0 && (*pending).flags == 0 && is_self((*e).hdr.tgid) {
            remember_host_nsproxy(task);
        }
        (*e).flags = (*pending).flags;
        (*e).fd = (*pending).fd;
        (*e).syscall = (*pending).syscall;
        (*e).ret = ret;
        copy_ns(&mut (*e).ns_before, &(*pending).ns_before);
    }
    entry.submit(wakeup());
    let _ = PENDING.remove(tid);
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
