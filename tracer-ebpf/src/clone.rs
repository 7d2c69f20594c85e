//! clone/clone3: the flags at entry, a failed namespace-making clone at
//! exit, and every new task at `sched_process_fork`.

use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_probe_read_user},
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
};
use aya_log_ebpf::warn;
use tracer_common::{CLONE_NEW_MASK, ForkEvent, Kind, NsChangeEvent, RET_UNREAD, Stat, syscall};

use crate::{
    CLONES, CloneArgs, SCRATCH, SYSCALL_ARG0, SYSCALL_RET,
    emit::{Gate, arg, count, current_tid, emit},
    task::{Task, copy_ns, filter_enabled, read_ns},
};

#[tracepoint]
pub fn sys_enter_clone(ctx: TracePointContext) -> u32 {
    // x86_64 clone(flags, newsp, parent_tid, child_tid, tls): flags first.
    let flags = arg::<u64>(&ctx, SYSCALL_ARG0).unwrap_or(0);
    remember_clone(flags, syscall::CLONE);
    0
}

#[tracepoint]
pub fn sys_enter_clone3(ctx: TracePointContext) -> u32 {
    // clone3(struct clone_args *uargs, size_t size): flags is the first u64.
    let flags = arg::<u64>(&ctx, SYSCALL_ARG0).and_then(|uargs| {
        // SAFETY: the helper checks the user address itself.
        unsafe { bpf_probe_read_user(uargs as *const u64) }.ok()
    });
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
    let ret = arg::<i64>(ctx, SYSCALL_RET).unwrap_or(RET_UNREAD);
    // The new child returns through here too, with 0: it has no entry.
    if ret == 0 {
        return;
    }
    let tid = current_tid();
    let Some(args) = CLONES.get_ptr(tid).map(|p| {
        // SAFETY: a valid pointer into the map; only this thread writes its entry.
        unsafe { *p }
    }) else {
        return;
    };
    let _ = CLONES.remove(tid);
    if ret >= 0 || args.flags & CLONE_NEW_MASK == 0 {
        return;
    }
    let task = Task::current();
    emit(
        ctx,
        Gate::Always,
        Kind::CloneFailed as u32,
        task,
        |e: &mut NsChangeEvent| {
            read_ns(task, &mut e.ns);
            copy_ns(&mut e.ns_before, &e.ns);
            e.flags = args.flags;
            e.fd = -1;
            e.syscall = args.syscall;
            e.ret = ret;
        },
    );
}

/// A new task. `args[0]` is the task that called clone, `args[1]` the child.
#[raw_tracepoint(tracepoint = "sched_process_fork")]
pub fn sched_process_fork(ctx: RawTracePointContext) -> u32 {
    let caller = Task(ctx.arg::<*const u8>(0));
    let child = Task(ctx.arg::<*const u8>(1));
    let clone = CLONES.get_ptr(current_tid()).map(|p| {
        // SAFETY: a valid pointer into the map; only this thread writes its entry.
        unsafe { *p }
    });
    // A host task forking in the host's namespaces stays in the kernel;
    // a clone that asked for new namespaces never does.
    let new_ns = clone.is_some_and(|c| c.flags & CLONE_NEW_MASK != 0);
    let gate = if new_ns {
        Gate::Always
    } else {
        Gate::UnlessHost(child)
    };
    emit(&ctx, gate, Kind::Fork as u32, child, |e: &mut ForkEvent| {
        read_ns(child, &mut e.ns);
        let caller_ids = bpf_get_current_pid_tgid();
        e.caller_pid = caller_ids as u32;
        e.caller_tgid = (caller_ids >> 32) as u32;
        let (flags, syscall) = match clone {
            Some(c) => (c.flags, c.syscall),
            None => (0, syscall::UNKNOWN),
        };
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
    });
    0
}
