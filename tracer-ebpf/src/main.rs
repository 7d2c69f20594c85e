//! eBPF side of the tracer: one small program per tracepoint.
//!
//! Namespaces belong to threads, so sys_enter/sys_exit pairs are matched per
//! thread id: the enter half stores arguments (and, for unshare/setns, the
//! namespaces before the call) in a map, the exit half emits one record with
//! both states. Every record leaves through [`emit::emit`]: filtered, then
//! reserved in the ring buffer and filled in place; a failed reservation is
//! counted in `STATS`, never dropped silently.
//!
//! Lint with the target's own flags (the crate is outside the workspace):
//! `cargo +nightly clippy --release --target bpfel-unknown-none -Z build-std=core --target-dir ../target/ebpf -- -D warnings`
#![no_std]
#![no_main]

mod cause;
mod clone;
mod emit;
mod mount;
mod ns_change;
mod process;
mod task;
mod visitor;

use aya_ebpf::{
    bindings::BPF_F_MMAPABLE,
    macros::map,
    maps::{Array, LruHashMap, PerCpuArray, RingBuf},
};
use tracer_common::{EVENTS_BYTES, NsSet, PENDING_ENTRIES, STAT_COUNT};

#[map]
static EVENTS: RingBuf = RingBuf::with_byte_size(EVENTS_BYTES, 0);

#[map]
static STATS: PerCpuArray<u64> = PerCpuArray::with_max_entries(STAT_COUNT, 0);

/// unshare/setns in flight, in the entering CPU's slot `tid % PENDING_SLOTS`,
/// written in place at entry and only marked done at exit. A per-CPU array
/// lookup is a few inlined instructions; a hash lookup cost ~50 ns, four
/// per unshare+setns pair. See `ns_change` for migration and collisions.
#[map]
static PENDING_CPU: PerCpuArray<Pending> = PerCpuArray::with_max_entries(PENDING_SLOTS, 0);

/// The rare call whose CPU slot another thread's call in flight holds, by
/// thread id. Entries are rewritten in place, never removed; threads that
/// are gone leave theirs behind, so an LRU (it never evicts one just touched).
#[map]
static PENDING: LruHashMap<u32, Pending> = LruHashMap::with_max_entries(PENDING_ENTRIES, 0);

/// Slots per CPU of [`PENDING_CPU`]: two threads collide only when both are
/// in an unshare/setns that entered on the same CPU, with tids equal mod this.
const PENDING_SLOTS: u32 = 64;

/// When a record last woke the reader, at the mark or after a quiet spell,
/// or when the reader last looked (it writes here through a mapping of the
/// map's memory, no syscall; see `emit::wakeup`).
#[map]
static LAST_WAKE: Array<u64> = Array::with_max_entries(1, BPF_F_MMAPABLE);

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
    /// 1 from the syscall's entry to its exit.
    in_flight: u32,
    /// The thread whose call this is (slots are shared by tid % PENDING_SLOTS).
    tid: u32,
    ns_before: NsSet,
}

/// Offset of the first syscall argument in a `syscalls:sys_enter_*` record
/// (after the common header and `__syscall_nr`; each argument takes 8
/// bytes), and of `ret` in `sys_exit_*`.
const SYSCALL_ARG0: usize = 16;
const SYSCALL_ARG1: usize = 24;
const SYSCALL_RET: usize = 16;

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
