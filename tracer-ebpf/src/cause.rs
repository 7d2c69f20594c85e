//! Causes: fatal signals and OOM victims outside the host's namespaces
//! (who ended a pause or container), and each new cgroup v2 directory (so
//! that a task gone before userspace looked is still placed in its
//! container). Rare events: each costs a few reads.

use aya_ebpf::{
    EbpfContext,
    helpers::{bpf_probe_read_kernel, bpf_probe_read_kernel_str_bytes},
    macros::{btf_tracepoint, tracepoint},
    programs::{BtfTracePointContext, TracePointContext},
};
use tracer_common::{CauseKind, CgroupEvent, OomEvent, SIGNAL_IGNORED, SignalEvent, fatal_signal};

use crate::{
    emit::{Gate, arg, emit},
    task::{Task, read_ids, read_ns},
};

/// `SEND_SIG_NOINFO` and `SEND_SIG_PRIV`: no siginfo, a `kill` from
/// userspace (`SI_USER`) or the kernel (`SI_KERNEL`).
const SEND_SIG_PRIV: usize = 1;
const SI_USER: i32 = 0;
const SI_KERNEL: i32 = 0x80;
/// `kernel_siginfo.si_code`, after `si_signo` and `si_errno`.
const SI_CODE: usize = 8;

/// `signal_generate(int sig, struct kernel_siginfo *info, struct
/// task_struct *task, int group, int result)`: fatal signals, not ignored,
/// for tasks outside the host's namespaces.
#[btf_tracepoint(function = "signal_generate")]
pub fn signal_generate(ctx: BtfTracePointContext) -> u32 {
    if crate::task::idle() {
        return 0;
    }
    let sig = ctx.arg::<u64>(0) as u32;
    let result = ctx.arg::<u64>(4) as u32;
    if !fatal_signal(sig) || result == SIGNAL_IGNORED {
        return 0;
    }
    send_signal(&ctx, sig, result);
    0
}

/// The rest of [`signal_generate`], out of line: the signals it returns
/// early for (a SIGCHLD at every exit on the node) keep a frame small
/// enough for the kernel's stack (see `emit::send_apart`).
#[inline(never)]
fn send_signal(ctx: &BtfTracePointContext, sig: u32, result: u32) {
    let info = ctx.arg::<usize>(1);
    let target = Task(ctx.arg::<*const u8>(2));
    let group = ctx.arg::<u64>(3) as u32;
    emit(
        ctx,
        Gate::UnlessHost(target),
        CauseKind::Signal as u32,
        Task::current(),
        |e: &mut SignalEvent| {
            e.sig = sig;
            e.result = result;
            e.group = group;
            e.code = match info {
                0 => SI_USER,
                SEND_SIG_PRIV => SI_KERNEL,
                // SAFETY: the helper checks the kernel source itself.
                p => unsafe { bpf_probe_read_kernel((p + SI_CODE) as *const i32) }.unwrap_or(0),
            };
            let (pid, tgid, comm) = read_ids(target);
            e.target_pid = pid;
            e.target_tgid = tgid;
            e.target_comm = comm;
            read_ns(target, &mut e.ns);
        },
    );
}

/// `mark_victim(struct task_struct *task, ...)`: the OOM killer's victim,
/// outside the host's namespaces.
#[btf_tracepoint(function = "mark_victim")]
pub fn mark_victim(ctx: BtfTracePointContext) -> u32 {
    if crate::task::idle() {
        return 0;
    }
    let victim = Task(ctx.arg::<*const u8>(0));
    emit(
        &ctx,
        Gate::UnlessHost(victim),
        CauseKind::OomVictim as u32,
        Task::current(),
        |e: &mut OomEvent| {
            let (pid, tgid, comm) = read_ids(victim);
            e.victim_pid = pid;
            e.victim_tgid = tgid;
            e.victim_comm = comm;
            read_ns(victim, &mut e.ns);
        },
    );
    0
}

/// Offsets in `cgroup:cgroup_mkdir`'s record (its `format` file).
const MKDIR_ROOT: usize = 8;
const MKDIR_LEVEL: usize = 12;
const MKDIR_ID: usize = 16;
const MKDIR_PATH_LOC: usize = 24;

/// A cgroup directory made in the cgroup v2 hierarchy (hierarchy id 0;
/// v1 hierarchies have ids of their own and are left out).
#[tracepoint]
pub fn cgroup_mkdir(ctx: TracePointContext) -> u32 {
    if crate::task::idle() {
        return 0;
    }
    if arg::<i32>(&ctx, MKDIR_ROOT) != Some(0) {
        return 0;
    }
    let maker = Task::current();
    emit(
        &ctx,
        Gate::Always,
        CauseKind::CgroupMkdir as u32,
        maker,
        |e: &mut CgroupEvent| {
            read_ns(maker, &mut e.ns);
            e.id = arg::<u64>(&ctx, MKDIR_ID).unwrap_or(0);
            e.level = arg::<u32>(&ctx, MKDIR_LEVEL).unwrap_or(0);
            e._pad = 0;
            e.path[0] = 0;
            if let Some(loc) = arg::<u32>(&ctx, MKDIR_PATH_LOC) {
                // The low 16 bits of a __data_loc are the offset in the record.
                let src = (ctx.as_ptr() as *const u8).wrapping_add((loc & 0xffff) as usize);
                // SAFETY: the helper checks the kernel source itself and
                // writes at most `path.len()` bytes.
                let _ = unsafe { bpf_probe_read_kernel_str_bytes(src, &mut e.path) };
            }
        },
    );
    0
}
