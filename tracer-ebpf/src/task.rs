//! Reads from `struct task_struct` and what hangs off it, through member
//! offsets that userspace resolved from the running kernel's BTF.
//!
//! Rust eBPF has no CO-RE relocations, so every offset comes from the
//! `OFFSETS` global; a member the kernel lacks is `ABSENT` and its value 0.

use aya_ebpf::helpers::{
    bpf_get_current_cgroup_id, bpf_get_current_task, bpf_ktime_get_boot_ns,
    bpf_probe_read_kernel, bpf_probe_read_kernel_buf, bpf_probe_read_user_buf,
};
use tracer_common::{
    Header, Kind, Ns, NsSet, Offsets, ABSENT, ARGS_LEN, NS_COUNT, READ_FAILED_TASK,
};

#[unsafe(no_mangle)]
static OFFSETS: Offsets = Offsets::zeroed();

/// One field of the patched offsets. The volatile read keeps the compiler
/// from folding in the placeholder value compiled into the object.
macro_rules! off {
    ($field:ident) => {
        unsafe { core::ptr::read_volatile(&raw const OFFSETS.$field) }
    };
    ($field:ident[$i:expr]) => {
        unsafe { core::ptr::read_volatile(&raw const OFFSETS.$field[$i]) }
    };
}

#[derive(Clone, Copy)]
pub struct Task(pub *const u8);

impl Task {
    pub fn current() -> Self {
        Task(unsafe { bpf_get_current_task() } as *const u8)
    }
}

/// Read a `T` at `base + off`; `None` when the member is absent or the read faults.
#[inline(always)]
fn read<T>(base: *const u8, off: u32) -> Option<T> {
    if off == ABSENT || base.is_null() {
        return None;
    }
    unsafe { bpf_probe_read_kernel(base.wrapping_add(off as usize) as *const T) }.ok()
}

/// Fill the header from `task`. Returns the [`Header::read_failed`] bits.
#[inline(always)]
pub fn fill_header(hdr: &mut Header, kind: Kind, task: Task) -> u32 {
    hdr.kind = kind as u32;
    hdr.ts_ns = unsafe { bpf_ktime_get_boot_ns() };
    hdr.cgroup_id = unsafe { bpf_get_current_cgroup_id() };
    hdr._pad = 0;
    let t = task.0;
    let pid = read::<u32>(t, off!(task_pid));
    let tgid = read::<u32>(t, off!(task_tgid));
    let ppid = read::<*const u8>(t, off!(task_real_parent))
        .and_then(|parent| read::<u32>(parent, off!(task_tgid)));
    hdr.pid = pid.unwrap_or(0);
    hdr.tgid = tgid.unwrap_or(0);
    hdr.ppid = ppid.unwrap_or(0);
    let comm_off = off!(task_comm);
    let comm_ok = comm_off != ABSENT
        && unsafe { bpf_probe_read_kernel_buf(t.wrapping_add(comm_off as usize), &mut hdr.comm) }
            .is_ok();
    if !comm_ok {
        hdr.comm = [0; 16];
    }
    if pid.is_none() || tgid.is_none() || ppid.is_none() || !comm_ok {
        READ_FAILED_TASK
    } else {
        0
    }
}

/// Read all of `task`'s namespaces into `out`. Returns a mask of the slots
/// whose read failed (their values are 0). Slots this kernel lacks (no
/// time namespaces, no `ns_id`) are 0 without counting as failures.
#[inline(always)]
pub fn read_ns(task: Task, out: &mut NsSet) -> u32 {
    let t = task.0;
    let nsproxy = read::<*const u8>(t, off!(task_nsproxy)).unwrap_or(core::ptr::null());
    let inum_off = off!(ns_common_inum);
    let id_off = off!(ns_common_ns_id);
    out._pad = 0;
    let mut failed = 0;
    let mut i = 0;
    while i < NS_COUNT {
        out.inum[i] = 0;
        out.id[i] = 0;
        let ns_ptr = if i == Ns::Pid as usize {
            own_pid_ns(t)
        } else if i == Ns::User as usize {
            read::<*const u8>(t, off!(task_real_cred))
                .and_then(|cred| read::<*const u8>(cred, off!(cred_user_ns)))
        } else {
            let member = off!(nsproxy[i]);
            if member == ABSENT {
                i += 1;
                continue;
            }
            read::<*const u8>(nsproxy, member)
        };
        let common = off!(ns_common[i]);
        match ns_ptr {
            Some(ns) if !ns.is_null() && common != ABSENT => {
                let base = ns.wrapping_add(common as usize);
                match read::<u32>(base, inum_off) {
                    Some(inum) => out.inum[i] = inum,
                    None => failed |= 1 << i,
                }
                if id_off != ABSENT {
                    match read::<u64>(base, id_off) {
                        Some(id) => out.id[i] = id,
                        None => failed |= 1 << i,
                    }
                }
            }
            _ => failed |= 1 << i,
        }
        i += 1;
    }
    failed
}

/// The pid namespace a task itself lives in:
/// `task->thread_pid->numbers[task->thread_pid->level].ns`.
#[inline(always)]
fn own_pid_ns(t: *const u8) -> Option<*const u8> {
    let pid = read::<*const u8>(t, off!(task_thread_pid))?;
    let level = read::<u32>(pid, off!(pid_level))?;
    // Nesting is limited to 32 levels by the kernel; keep the verifier sure of it.
    let level = level & 31;
    let numbers = off!(pid_numbers);
    let upid_size = off!(upid_size);
    let upid_ns = off!(upid_ns);
    if numbers == ABSENT || upid_size == ABSENT || upid_ns == ABSENT {
        return None;
    }
    read::<*const u8>(pid, numbers + level * upid_size + upid_ns)
}

/// `task->exit_code`, and whether the thread group is dead (`signal->live == 0`).
#[inline(always)]
pub fn read_exit(task: Task) -> Option<(u32, bool)> {
    let t = task.0;
    let code = read::<u32>(t, off!(task_exit_code))?;
    let signal = read::<*const u8>(t, off!(task_signal))?;
    let live = read::<i32>(signal, off!(signal_live))?;
    Some((code, live == 0))
}

/// Copy the new program's argv (NUL-separated) from its stack. Returns the
/// number of bytes copied, `None` on a failed read.
#[inline(always)]
pub fn read_args(task: Task, out: &mut [u8; ARGS_LEN]) -> Option<u32> {
    let mm = read::<*const u8>(task.0, off!(task_mm))?;
    let start = read::<u64>(mm, off!(mm_arg_start))?;
    let end = read::<u64>(mm, off!(mm_arg_end))?;
    if end <= start {
        return Some(0);
    }
    let mut len = (end - start) as usize;
    if len > ARGS_LEN {
        len = ARGS_LEN;
    }
    // Bounds the verifier can follow: 1..=ARGS_LEN.
    let len = ((len - 1) & (ARGS_LEN - 1)) + 1;
    unsafe { bpf_probe_read_user_buf(start as *const u8, &mut out[..len]) }.ok()?;
    Some(len as u32)
}
