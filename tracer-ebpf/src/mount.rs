//! Mount calls that may pin a namespace, and every unmount.
//!
//! The enter half keeps the arguments (user pointers, flags) per thread;
//! the exit half, with the return value known and the paths faulted in by
//! the kernel, filters and emits one [`MountEvent`]. The cost on other
//! mounts stays near zero: a mount without `MS_BIND` (or a remount) stops
//! at one flag test, a bind mount of any other absolute source at one
//! short string read; `move_mount` is followed only from an fd a
//! reported `open_tree` returned.

use aya_ebpf::{
    helpers::{bpf_probe_read_user, bpf_probe_read_user_str_bytes},
    macros::{map, tracepoint},
    maps::{HashMap, LruHashMap},
    programs::TracePointContext,
};
use tracer_common::{
    MountEvent, MountKind, NO_FD, PATH_LEN, PIN_HEAD_LEN, RET_UNREAD, Stat,
    mount_flags::{MS_BIND, MS_REMOUNT},
    open_tree_flags::OPEN_TREE_CLONE,
    path, pin_candidate,
};

use crate::{
    SYSCALL_ARG0, SYSCALL_ARG1, SYSCALL_RET,
    emit::{Gate, arg, count, current_tgid, current_tid, emit},
    task::{Task, read_ns},
};

const SYSCALL_ARG2: usize = SYSCALL_ARG1 + 8;
const SYSCALL_ARG3: usize = SYSCALL_ARG2 + 8;
const SYSCALL_ARG4: usize = SYSCALL_ARG3 + 8;

/// Mount calls in flight, by thread id; every entry is removed at exit.
#[map]
static MOUNT_PENDING: HashMap<u32, MountCall> = HashMap::with_max_entries(1024, 0);

/// fds of reported `open_tree` clones, by `tgid << 32 | fd`, so that the
/// `move_mount` attaching one is reported too. LRU: a clone closed without
/// being moved is forgotten in time; a stale entry costs one extra record.
#[map]
static CLONED_TREES: LruHashMap<u64, u32> = LruHashMap::with_max_entries(1024, 0);

#[repr(C)]
#[derive(Clone, Copy)]
struct MountCall {
    /// A [`MountKind`] number.
    kind: u32,
    from_fd: i32,
    to_fd: i32,
    _pad: u32,
    flags: u64,
    /// User pointers; 0 where the call has no such path.
    source: u64,
    target: u64,
}

fn remember(call: MountCall) {
    if MOUNT_PENDING.insert(current_tid(), call, 0).is_err() {
        count(Stat::PendingFull);
    }
}

/// A pointer argument (0 when unreadable, which reads as "no path").
fn ptr_arg(ctx: &TracePointContext, offset: usize) -> u64 {
    arg::<u64>(ctx, offset).unwrap_or(0)
}

/// An `int` fd argument (the record slot is a full register).
fn fd_arg(ctx: &TracePointContext, offset: usize) -> i32 {
    arg::<u64>(ctx, offset).map_or(NO_FD, |v| v as i32)
}

/// mount(dev_name, dir_name, type, flags, data): bind mounts only.
#[tracepoint]
pub fn sys_enter_mount(ctx: TracePointContext) -> u32 {
    if crate::task::idle() {
        return 0;
    }
    let flags = arg::<u64>(&ctx, SYSCALL_ARG3).unwrap_or(0);
    if flags & MS_BIND == 0 || flags & MS_REMOUNT != 0 {
        return 0;
    }
    remember(MountCall {
        kind: MountKind::Mount as u32,
        from_fd: NO_FD,
        to_fd: NO_FD,
        _pad: 0,
        flags,
        source: ptr_arg(&ctx, SYSCALL_ARG0),
        target: ptr_arg(&ctx, SYSCALL_ARG1),
    });
    0
}

/// umount2(name, flags): all of them; whether the target was a pin is
/// userspace's to know.
#[tracepoint]
pub fn sys_enter_umount(ctx: TracePointContext) -> u32 {
    if crate::task::idle() {
        return 0;
    }
    remember(MountCall {
        kind: MountKind::Umount as u32,
        from_fd: NO_FD,
        to_fd: NO_FD,
        _pad: 0,
        flags: arg::<u64>(&ctx, SYSCALL_ARG1).map_or(0, |v| u64::from(v as u32)),
        source: 0,
        target: ptr_arg(&ctx, SYSCALL_ARG0),
    });
    0
}

/// open_tree(dfd, filename, flags): only clones make a new mount.
#[tracepoint]
pub fn sys_enter_open_tree(ctx: TracePointContext) -> u32 {
    if crate::task::idle() {
        return 0;
    }
    let flags = arg::<u64>(&ctx, SYSCALL_ARG2).map_or(0, |v| u64::from(v as u32));
    if flags & OPEN_TREE_CLONE == 0 {
        return 0;
    }
    remember(MountCall {
        kind: MountKind::OpenTree as u32,
        from_fd: fd_arg(&ctx, SYSCALL_ARG0),
        to_fd: NO_FD,
        _pad: 0,
        flags,
        source: ptr_arg(&ctx, SYSCALL_ARG1),
        target: 0,
    });
    0
}

/// move_mount(from_dfd, from_path, to_dfd, to_path, flags): only from a
/// reported clone.
#[tracepoint]
pub fn sys_enter_move_mount(ctx: TracePointContext) -> u32 {
    if crate::task::idle() {
        return 0;
    }
    let from_fd = fd_arg(&ctx, SYSCALL_ARG0);
    if CLONED_TREES
        .get_ptr(tree_key(current_tgid(), from_fd))
        .is_none()
    {
        return 0;
    }
    remember(MountCall {
        kind: MountKind::MoveMount as u32,
        from_fd,
        to_fd: fd_arg(&ctx, SYSCALL_ARG2),
        _pad: 0,
        flags: arg::<u64>(&ctx, SYSCALL_ARG4).map_or(0, |v| u64::from(v as u32)),
        source: ptr_arg(&ctx, SYSCALL_ARG1),
        target: ptr_arg(&ctx, SYSCALL_ARG3),
    });
    0
}

#[tracepoint]
pub fn sys_exit_mount(ctx: TracePointContext) -> u32 {
    if crate::task::idle() {
        return 0;
    }
    mount_exit(&ctx);
    0
}

#[tracepoint]
pub fn sys_exit_umount(ctx: TracePointContext) -> u32 {
    if crate::task::idle() {
        return 0;
    }
    mount_exit(&ctx);
    0
}

#[tracepoint]
pub fn sys_exit_open_tree(ctx: TracePointContext) -> u32 {
    if crate::task::idle() {
        return 0;
    }
    mount_exit(&ctx);
    0
}

#[tracepoint]
pub fn sys_exit_move_mount(ctx: TracePointContext) -> u32 {
    if crate::task::idle() {
        return 0;
    }
    mount_exit(&ctx);
    0
}

fn tree_key(tgid: u32, fd: i32) -> u64 {
    (u64::from(tgid) << 32) | u64::from(fd as u32)
}

fn mount_exit(ctx: &TracePointContext) {
    let tid = current_tid();
    // No entry: a call the enter half did not keep (or one that began
    // before the tracer), not a loss.
    let Some(call) = MOUNT_PENDING.get_ptr(tid).map(|p| {
        // SAFETY: a valid pointer into the map; only this thread writes its entry.
        unsafe { *p }
    }) else {
        return;
    };
    let _ = MOUNT_PENDING.remove(tid);
    let kind = call.kind;
    let from_source = kind == MountKind::Mount as u32 || kind == MountKind::OpenTree as u32;
    if from_source && !source_may_pin(call.source) {
        return;
    }
    let ret = arg::<i64>(ctx, SYSCALL_RET).unwrap_or(RET_UNREAD);
    if kind == MountKind::OpenTree as u32 && ret >= 0 {
        let _ = CLONED_TREES.insert(tree_key(current_tgid(), ret as i32), 0, 0);
    } else if kind == MountKind::MoveMount as u32 && ret == 0 {
        let _ = CLONED_TREES.remove(tree_key(current_tgid(), call.from_fd));
    }
    let task = Task::current();
    emit(ctx, Gate::Always, kind, task, |e: &mut MountEvent| {
        read_ns(task, &mut e.ns);
        e.flags = call.flags;
        e.ret = ret;
        e.from_fd = call.from_fd;
        e.to_fd = call.to_fd;
        e._pad = 0;
        let source = read_path(call.source, &mut e.source);
        let target = read_path(call.target, &mut e.target);
        e.source_len = source.len;
        e.target_len = target.len;
        e.path_flags = source.flags(path::SOURCE_TRUNCATED, path::SOURCE_UNREAD)
            | target.flags(path::TARGET_TRUNCATED, path::TARGET_UNREAD);
    });
}

/// Could a mount from this source pin a namespace? Decided by
/// [`pin_candidate`] on the path's first bytes; no path at all cannot, and
/// a source unreadable here is kept (userspace sees it unread).
#[inline(always)]
fn source_may_pin(ptr: u64) -> bool {
    if ptr == 0 {
        return false;
    }
    // The head and the NUL the helper always writes.
    let mut head = [0u8; PIN_HEAD_LEN + 1];
    // SAFETY: the helper checks the user source itself and writes at most
    // `head.len()` bytes into it.
    match unsafe { bpf_probe_read_user_str_bytes(ptr as *const u8, &mut head) } {
        Ok(s) => pin_candidate(s),
        Err(_) => true,
    }
}

struct PathRead {
    len: u32,
    truncated: bool,
    unread: bool,
}

impl PathRead {
    fn flags(&self, truncated: u32, unread: u32) -> u32 {
        (if self.truncated { truncated } else { 0 }) | (if self.unread { unread } else { 0 })
    }
}

/// Copy a NUL-terminated path from user memory into `out` (bytes after its
/// NUL are left as they were). No pointer is an empty path, not a failure.
#[inline(always)]
fn read_path(ptr: u64, out: &mut [u8; PATH_LEN]) -> PathRead {
    out[0] = 0;
    if ptr == 0 {
        return PathRead {
            len: 0,
            truncated: false,
            unread: false,
        };
    }
    let src = ptr as *const u8;
    // SAFETY: the helper checks the user source itself and writes at most
    // `PATH_LEN` bytes, NUL included, into `out`.
    match unsafe { bpf_probe_read_user_str_bytes(src, out) } {
        Ok(s) => {
            let len = s.len();
            // A full buffer holds PATH_LEN - 1 bytes: the next one says
            // whether the path went on.
            let truncated = len == PATH_LEN - 1 && {
                // SAFETY: the helper checks the user address itself.
                let next = unsafe { bpf_probe_read_user::<u8>(src.wrapping_add(PATH_LEN - 1)) };
                next.is_ok_and(|b| b != 0)
            };
            PathRead {
                len: len as u32,
                truncated,
                unread: false,
            }
        }
        Err(_) => PathRead {
            len: 0,
            truncated: false,
            unread: true,
        },
    }
}
