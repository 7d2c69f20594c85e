//! A task that entered another netns by `setns` (a CNI plugin, `ip netns
//! exec`, `nsenter`): its argv and environment, read from its memory and
//! sent just before its setns record. Userspace learns the plugin's
//! `CNI_COMMAND` from them, instead of racing the plugin's exit to /proc:
//! such a record needs no wakeup of its own, unless a read failed or the
//! environment was cut (userspace then reads /proc, at once).

use aya_ebpf::{macros::map, maps::PerCpuArray, programs::TracePointContext};
use tracer_common::{
    CLONE_NEWNET, ENV_LEN, ENV_UNREAD, Kind, Ns, NsSet, VISITOR_FIXED, VisitorEvent,
};

use crate::{
    emit::output,
    task::{Task, fill_header, is_other_net, read_args, read_env, read_ns},
};

/// Per-CPU room to build a visitor record (4.5 KiB: far past the stack).
#[map]
static VISITOR: PerCpuArray<VisitorEvent> = PerCpuArray::with_max_entries(1, 0);

/// After a successful setns of type `flags` by `task`, from the namespaces
/// `before`: its visitor record, when the call entered a netns other than
/// the one it left and the host's, or was untyped (it may have).
#[inline(always)]
pub fn after_setns(ctx: &TracePointContext, task: Task, flags: u64, before: &NsSet) {
    if flags != 0 && flags & CLONE_NEWNET == 0 {
        return;
    }
    let Some(p) = VISITOR.get_ptr_mut(0) else {
        return;
    };
    // SAFETY: the map gave a valid, aligned pointer to this CPU's slot,
    // used by one program at a time; every bit pattern is a valid record.
    let v = unsafe { &mut *p };
    read_ns(task, &mut v.ns);
    let net = v.ns.inum[Ns::Net as usize];
    if flags != 0 && (net == before.inum[Ns::Net as usize] || !is_other_net(net)) {
        return;
    }
    fill_header(&mut v.hdr, Kind::Visitor as u32, task);
    v.args_len = read_args(task, &mut v.args);
    let (env_len, copied) = read_env(task, &mut v.env).unwrap_or((ENV_UNREAD, 0));
    v.env_len = env_len;
    // What userspace cannot learn from the record, it reads from /proc
    // while the task lives: wake it now.
    let whole = v.args_len != 0 && env_len as usize == copied;
    // `copied` is at most ENV_LEN: the record's own bytes.
    let len = VISITOR_FIXED + (copied & (2 * ENV_LEN - 1)).min(ENV_LEN);
    // SAFETY: `len` is at most the record's size, and `v` is a whole record.
    let bytes = unsafe { core::slice::from_raw_parts(p.cast::<u8>(), len) };
    output(ctx, bytes, v.hdr.ts_ns, !whole);
}
