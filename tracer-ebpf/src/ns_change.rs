//! unshare and setns: the namespaces before the call are kept at entry,
//! one record with both states leaves at exit.

use aya_ebpf::{
    helpers::{bpf_get_smp_processor_id, generated::bpf_map_lookup_percpu_elem},
    macros::tracepoint,
    programs::TracePointContext,
};
use aya_log_ebpf::warn;
use tracer_common::{Kind, NsChangeEvent, Stat, syscall};

use crate::{
    PENDING, PENDING_CPU, PENDING_SLOTS, Pending, SCRATCH, SYSCALL_ARG0, SYSCALL_ARG1, SYSCALL_RET,
    emit::{Gate, count, ctx_arg, current_tid, emit},
    task::{Task, copy_ns, is_self, read_ns, remember_host_nsproxy, reread_ns},
    visitor,
};

#[tracepoint]
pub fn sys_enter_unshare(ctx: TracePointContext) -> u32 {
    if crate::task::idle_unless_self() {
        return 0;
    }
    let flags = ctx_arg::<u64>(&ctx, SYSCALL_ARG0);
    remember_ns_change(&ctx, flags, -1, syscall::UNSHARE);
    0
}

#[tracepoint]
pub fn sys_enter_setns(ctx: TracePointContext) -> u32 {
    if crate::task::idle() {
        return 0;
    }
    let fd = ctx_arg::<u64>(&ctx, SYSCALL_ARG0) as i32;
    let nstype = ctx_arg::<u64>(&ctx, SYSCALL_ARG1);
    remember_ns_change(&ctx, nstype, fd, syscall::SETNS);
    0
}

/// Store the arguments and the thread's namespaces before the call: in
/// this CPU's slot for the thread, unless another thread's call in flight
/// holds it (then in the LRU map, by thread id).
fn remember_ns_change(ctx: &TracePointContext, flags: u64, fd: i32, syscall: u32) {
    let tid = current_tid();
    if let Some(p) = PENDING_CPU.get_ptr_mut(tid % PENDING_SLOTS) {
        // SAFETY: a valid pointer to this CPU's slot. Programs do not nest
        // on a CPU, and other CPUs only touch the slot while it is in
        // flight for a thread that migrated (see `take_pending`).
        let slot = unsafe { &mut *p };
        if slot.in_flight == 0 || slot.tid == tid {
            fill_pending(slot, tid, flags, fd, syscall);
            return;
        }
    }
    // This thread's entry from an earlier call is rewritten in place.
    if let Some(p) = PENDING.get_ptr_mut(tid) {
        // SAFETY: a valid pointer into the map; the entry is this thread's.
        fill_pending(unsafe { &mut *p }, tid, flags, fd, syscall);
        return;
    }
    let Some(p) = SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: the map gave a valid, aligned pointer to this CPU's scratch
    // slot, used by one program at a time.
    let pending = unsafe { &mut *p };
    fill_pending(pending, tid, flags, fd, syscall);
    // By reference: a copy would take 144 of the stack's 512 bytes.
    let pending: &Pending = pending;
    if PENDING.insert(tid, pending, 0).is_err() {
        count(Stat::PendingFull);
        warn!(ctx, "pending map full: namespaces before the call are lost");
    }
}

#[inline(always)]
fn fill_pending(p: &mut Pending, tid: u32, flags: u64, fd: i32, syscall: u32) {
    p.flags = flags;
    p.fd = fd;
    p.syscall = syscall;
    p.in_flight = 1;
    p.tid = tid;
    read_ns(Task::current(), &mut p.ns_before);
}

/// Most CPUs a slot is looked for on when a thread migrated during its call.
const MAX_CPUS: u32 = 1024;

/// The thread's call in flight, marked done: in this CPU's slot (the common
/// case), in another CPU's (the call slept and the thread migrated), or in
/// the LRU map. Every sys_enter program is attached after its sys_exit
/// program, so a slot in flight always belongs to a call whose exit is to
/// come: it cannot be stale.
#[inline(always)]
fn take_pending(tid: u32) -> Option<&'static mut Pending> {
    let key = tid % PENDING_SLOTS;
    let mine = |p: *mut Pending| {
        // SAFETY: a valid pointer to a slot of the per-CPU array or an LRU
        // entry; a slot in flight for this thread is written by nobody else.
        let p = unsafe { &mut *p };
        (p.in_flight != 0 && p.tid == tid).then_some(p)
    };
    if let Some(p) = PENDING_CPU.get_ptr_mut(key).and_then(mine) {
        return Some(p);
    }
    let this_cpu = smp_processor_id();
    let mut cpu = 0;
    while cpu < MAX_CPUS {
        if cpu != this_cpu {
            // SAFETY: the helper checks the map, key and CPU; null past the last CPU.
            let p = unsafe {
                bpf_map_lookup_percpu_elem(
                    (&raw const PENDING_CPU).cast_mut().cast(),
                    (&raw const key).cast(),
                    cpu,
                )
            };
            if p.is_null() {
                break;
            }
            if let Some(p) = mine(p.cast()) {
                return Some(p);
            }
        }
        cpu += 1;
    }
    PENDING.get_ptr_mut(tid).and_then(mine)
}

#[tracepoint]
pub fn sys_exit_unshare(ctx: TracePointContext) -> u32 {
    if crate::task::idle_unless_self() {
        return 0;
    }
    ns_change_exit(&ctx, Kind::Unshare);
    0
}

#[tracepoint]
pub fn sys_exit_setns(ctx: TracePointContext) -> u32 {
    if crate::task::idle() {
        return 0;
    }
    ns_change_exit(&ctx, Kind::Setns);
    0
}

fn ns_change_exit(ctx: &TracePointContext, kind: Kind) {
    let Some(pending) = take_pending(current_tid()) else {
        count(Stat::PendingMissing);
        return;
    };
    let ret = ctx_arg::<i64>(ctx, SYSCALL_RET);
    let task = Task::current();
    if kind == Kind::Setns && ret == 0 {
        visitor::after_setns(ctx, task, pending.flags, &pending.ns_before);
    }
    emit(
        ctx,
        Gate::Always,
        kind as u32,
        task,
        |e: &mut NsChangeEvent| {
            copy_ns(&mut e.ns, &pending.ns_before);
            // A failed call changed nothing.
            if ret == 0 {
                reread_ns(task, &mut e.ns, pending.flags);
            }
            if kind == Kind::Unshare && ret == 0 && pending.flags == 0 && is_self(e.hdr.tgid) {
                remember_host_nsproxy(task);
            }
            e.flags = pending.flags;
            e.fd = pending.fd;
            e.syscall = pending.syscall;
            e.ret = ret;
            copy_ns(&mut e.ns_before, &pending.ns_before);
        },
    );
    // Only now, once read: a slot of another CPU is free for its threads again.
    pending.in_flight = 0;
}

#[inline(always)]
fn smp_processor_id() -> u32 {
    // SAFETY: a helper without arguments.
    unsafe { bpf_get_smp_processor_id() }
}
