//! clone/clone3: every new task at `sched_process_fork`, and a failed
//! namespace-making clone at the syscall's exit. The clone flags are read
//! from the registers saved at syscall entry, so no program runs when a
//! clone starts.

use aya_ebpf::{
    helpers::bpf_get_current_pid_tgid,
    macros::{btf_tracepoint, tracepoint},
    programs::{BtfTracePointContext, TracePointContext},
};
use tracer_common::{CLONE_NEW_MASK, ForkEvent, Kind, NsChangeEvent, Stat};

use crate::{
    SCRATCH, SYSCALL_RET,
    emit::{Gate, count, ctx_arg, emit, send_apart},
    task::{Task, clone_call, copy_ns, filtered_out, ns_differ, read_ns},
};

#[tracepoint]
pub fn sys_exit_clone(ctx: TracePointContext) -> u32 {
    if crate::task::idle() {
        return 0;
    }
    clone_exit(&ctx);
    0
}

#[tracepoint]
pub fn sys_exit_clone3(ctx: TracePointContext) -> u32 {
    if crate::task::idle() {
        return 0;
    }
    clone_exit(&ctx);
    0
}

/// A failed namespace-creating clone gets its own record (a success is
/// reported by `sched_process_fork`; the new child returns here with 0).
#[inline(always)]
fn clone_exit(ctx: &TracePointContext) {
    let ret = ctx_arg::<i64>(ctx, SYSCALL_RET);
    if ret >= 0 {
        return;
    }
    let task = Task::current();
    let (flags, syscall) = clone_call(task);
    if flags & CLONE_NEW_MASK == 0 {
        return;
    }
    emit(
        ctx,
        Gate::Always,
        Kind::CloneFailed as u32,
        task,
        |e: &mut NsChangeEvent| {
            read_ns(task, &mut e.ns);
            copy_ns(&mut e.ns_before, &e.ns);
            e.flags = flags;
            e.fd = -1;
            e.syscall = syscall;
            e.ret = ret;
        },
    );
}

/// A new task: `sched_process_fork(struct task_struct *parent, struct
/// task_struct *child)`, typed (BTF), run by the caller.
#[btf_tracepoint(function = "sched_process_fork")]
pub fn sched_process_fork(ctx: BtfTracePointContext) -> u32 {
    if crate::task::idle() {
        return 0;
    }
    let caller = Task(ctx.arg::<*const u8>(0));
    let child = Task(ctx.arg::<*const u8>(1));
    // A host task forking in the host's namespaces stays in the kernel;
    // a clone that made namespaces never does.
    if filtered_out(child) && !ns_differ(caller, child) {
        count(Stat::Filtered);
        return 0;
    }
    send_apart(
        &ctx,
        Kind::Fork as u32,
        child,
        |e: &mut ForkEvent| {
            read_ns(child, &mut e.ns);
            let caller_ids = bpf_get_current_pid_tgid();
            e.caller_pid = caller_ids as u32;
            e.caller_tgid = (caller_ids >> 32) as u32;
            let (flags, syscall) = clone_call(Task::current());
            e.flags = flags;
            e.syscall = syscall;
            // What the clone really created: compare with the caller's own namespaces.
            e.changed = match SCRATCH.get_ptr_mut(0) {
                Some(scratch) => {
                    // SAFETY: the map gave a valid, aligned pointer to this
                    // CPU's scratch slot, used by one program at a time.
                    let before = unsafe { &mut (*scratch).ns_before };
                    read_ns(caller, before);
                    e.ns.diff(before)
                }
                None => 0,
            };
        },
    );
    0
}
