//! unshare and setns: the namespaces before the call are kept at entry,
//! one record with both states leaves at exit.

use aya_ebpf::{macros::tracepoint, programs::TracePointContext};
use aya_log_ebpf::warn;
use tracer_common::{CLONE_NEWNET, Kind, NsChangeEvent, Stat, syscall};

use crate::{
    PENDING, Pending, SCRATCH, SYSCALL_ARG0, SYSCALL_ARG1, SYSCALL_RET,
    emit::{Gate, count, ctx_arg, current_tid, emit, wake_reader},
    task::{Task, copy_ns, is_self, read_ns, remember_host_nsproxy},
};

#[tracepoint]
pub fn sys_enter_unshare(ctx: TracePointContext) -> u32 {
    let flags = ctx_arg::<u64>(&ctx, SYSCALL_ARG0);
    remember_ns_change(&ctx, flags, -1, syscall::UNSHARE);
    0
}

#[tracepoint]
pub fn sys_enter_setns(ctx: TracePointContext) -> u32 {
    let fd = ctx_arg::<u64>(&ctx, SYSCALL_ARG0) as i32;
    let nstype = ctx_arg::<u64>(&ctx, SYSCALL_ARG1);
    remember_ns_change(&ctx, nstype, fd, syscall::SETNS);
    0
}

/// Store the arguments and the thread's namespaces before the call.
fn remember_ns_change(ctx: &TracePointContext, flags: u64, fd: i32, syscall: u32) {
    let tid = current_tid();
    // This thread's entry from an earlier call is rewritten in place.
    if let Some(p) = PENDING.get_ptr_mut(tid) {
        // SAFETY: a valid pointer into the map; the entry is this thread's.
        fill_pending(unsafe { &mut *p }, flags, fd, syscall);
        return;
    }
    let Some(p) = SCRATCH.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: the map gave a valid, aligned pointer to this CPU's scratch
    // slot, used by one program at a time.
    let pending = unsafe { &mut *p };
    fill_pending(pending, flags, fd, syscall);
    // By reference: a copy would take 144 of the stack's 512 bytes.
    let pending: &Pending = pending;
    if PENDING.insert(tid, pending, 0).is_err() {
        count(Stat::PendingFull);
        warn!(ctx, "pending map full: namespaces before the call are lost");
    }
}

#[inline(always)]
fn fill_pending(p: &mut Pending, flags: u64, fd: i32, syscall: u32) {
    p.flags = flags;
    p.fd = fd;
    p.syscall = syscall;
    p.in_flight = 1;
    p._pad = 0;
    read_ns(Task::current(), &mut p.ns_before);
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
    let Some(pending) = PENDING.get_ptr_mut(tid) else {
        count(Stat::PendingMissing);
        return;
    };
    // SAFETY: a valid pointer into the map; the entry is this thread's,
    // written at its sys_enter and by no other thread.
    let pending = unsafe { &mut *pending };
    if pending.in_flight == 0 {
        count(Stat::PendingMissing);
        return;
    }
    pending.in_flight = 0;
    let ret = ctx_arg::<i64>(ctx, SYSCALL_RET);
    let task = Task::current();
    emit(
        ctx,
        Gate::Always,
        kind as u32,
        task,
        |e: &mut NsChangeEvent| {
            read_ns(task, &mut e.ns);
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
    // A task entering a netns by setns may be a CNI plugin that lives a few
    // milliseconds: userspace reads its CNI_COMMAND from /proc, so wake it
    // now rather than at its next timer tick.
    if kind == Kind::Setns && ret == 0 && (pending.flags == 0 || pending.flags & CLONE_NEWNET != 0)
    {
        wake_reader();
    }
}
