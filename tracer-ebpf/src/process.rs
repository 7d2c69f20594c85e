//! exec and exit, kept in the kernel for host tasks by the filter.

use aya_ebpf::{
    EbpfContext,
    helpers::bpf_probe_read_kernel_str_bytes,
    macros::{btf_tracepoint, tracepoint},
    programs::{BtfTracePointContext, TracePointContext},
};
use tracer_common::{ExecEvent, ExitEvent, Kind};

use crate::{
    emit::{Gate, arg, emit, wake_reader},
    task::{Task, inits_pid_ns, read_args, read_exit, read_ns},
};

/// `__data_loc char[] filename` in `sched:sched_process_exec`.
const EXEC_FILENAME_LOC: usize = 8;
const EXEC_OLD_PID: usize = 16;

#[tracepoint]
pub fn sched_process_exec(ctx: TracePointContext) -> u32 {
    if crate::task::idle() {
        return 0;
    }
    let task = Task::current();
    emit(
        &ctx,
        Gate::UnlessHost(task),
        Kind::Exec as u32,
        task,
        |e: &mut ExecEvent| {
            read_ns(task, &mut e.ns);
            e.old_pid = arg::<u32>(&ctx, EXEC_OLD_PID).unwrap_or(0);
            // An unreadable name stays empty, which userspace shows as unread.
            e.filename[0] = 0;
            if let Some(loc) = arg::<u32>(&ctx, EXEC_FILENAME_LOC) {
                // The low 16 bits of a __data_loc are the offset in the record.
                let src = (ctx.as_ptr() as *const u8).wrapping_add((loc & 0xffff) as usize);
                // SAFETY: the helper checks the kernel source itself and
                // writes at most `filename.len()` bytes.
                let _ = unsafe { bpf_probe_read_kernel_str_bytes(src, &mut e.filename) };
            }
            e.args_len = read_args(task, &mut e.args);
        },
    );
    // A container or pause starting: userspace reads its bundle for its
    // name, which a container that lives a few milliseconds takes with it,
    // and prints the step. Wake it now, not at its next timer tick.
    if inits_pid_ns(task) {
        wake_reader();
    }
    0
}

/// `sched_process_exit(struct task_struct *p, bool group_dead)`, typed
/// (BTF), run by the exiting task itself: `p` is the current task, taken
/// from the arguments (no helper call on every exit on the node).
#[btf_tracepoint(function = "sched_process_exit")]
pub fn sched_process_exit(ctx: BtfTracePointContext) -> u32 {
    if crate::task::idle() {
        return 0;
    }
    let task = Task(ctx.arg::<*const u8>(0));
    emit(
        &ctx,
        Gate::UnlessHost(task),
        Kind::Exit as u32,
        task,
        |e: &mut ExitEvent| {
            read_ns(task, &mut e.ns);
            let (code, group_dead) = read_exit(task);
            e.exit_code = code;
            e.group_dead = group_dead as u32;
        },
    );
    0
}
