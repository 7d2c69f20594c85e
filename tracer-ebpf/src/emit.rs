//! The one way a record leaves the kernel — filter → count → reserve →
//! fill → submit — and the counters every program shares.

use aya_ebpf::{EbpfContext, helpers::bpf_get_current_pid_tgid, programs::TracePointContext};
use aya_log_ebpf::warn;
use tracer_common::{QUIET_WAKE_NS, Record, Stat};

use crate::{
    EVENTS, LAST_WAKE, STATS,
    task::{Task, fill_header, filtered_out, global},
};

/// Add one to a per-CPU counter.
#[inline(always)]
pub fn count(stat: Stat) {
    if let Some(slot) = STATS.get_ptr_mut(stat as u32) {
        // SAFETY: the map gave a valid, aligned pointer to this CPU's slot;
        // no other writer runs on this CPU while this program does.
        unsafe { *slot += 1 };
    }
}

/// A field of the tracepoint's record at `offset` (see its `format` file
/// under /sys/kernel/tracing/events/), or `None` — counted — when it
/// cannot be read. Callers choose the stand-in.
#[inline(always)]
pub fn arg<T: Copy>(ctx: &TracePointContext, offset: usize) -> Option<T> {
    // SAFETY: `T` is a plain integer or pointer-sized value, valid for every
    // bit pattern; the helper behind `read_at` checks the source itself.
    match unsafe { ctx.read_at::<T>(offset) } {
        Ok(v) => Some(v),
        Err(_) => {
            count(Stat::ArgReadFailed);
            None
        }
    }
}

/// A field of a classic tracepoint's record at `offset`, loaded directly
/// from the context (the verifier checks the bounds; no helper call): for
/// the hot syscall programs, whose fields are always there.
#[inline(always)]
pub fn ctx_arg<T: Copy>(ctx: &TracePointContext, offset: usize) -> T {
    // SAFETY: `offset` is a constant inside the record (its `format`
    // file), aligned for `T`, which is a plain integer type; the verifier
    // refuses a context load out of bounds.
    unsafe { core::ptr::read_volatile((ctx.as_ptr() as *const u8).add(offset).cast::<T>()) }
}

/// The current thread id (the kernel's `pid`).
#[inline(always)]
pub fn current_tid() -> u32 {
    bpf_get_current_pid_tgid() as u32
}

/// The current thread group id (userspace's pid).
#[inline(always)]
pub fn current_tgid() -> u32 {
    (bpf_get_current_pid_tgid() >> 32) as u32
}

/// Whether the in-kernel [`tracer_common::Filter`] may keep a record in the kernel.
pub enum Gate {
    /// Namespace changes and mounts: always sent.
    Always,
    /// fork/exec/exit: kept in the kernel (and counted as filtered) when
    /// this task lives entirely in the host's namespaces.
    UnlessHost(Task),
}

/// Wake the reader only once this much is waiting (set by the loader from
/// the ring's size, `tracer_common::wakeup_bytes`): userspace also drains
/// the ring on a short timer, so a wakeup per event (a syscall and a
/// context switch each) is not needed for a steady trickle.
#[unsafe(no_mangle)]
static WAKEUP_BYTES: u64 = tracer_common::wakeup_bytes(tracer_common::EVENTS_BYTES);
const BPF_RB_NO_WAKEUP: u64 = 1;
const BPF_RB_FORCE_WAKEUP: u64 = 2;
const BPF_RB_AVAIL_DATA: u64 = 0;
/// The ring's own header before each record.
const RINGBUF_HDR: u64 = 8;

/// Wake the reader once, with the record that takes the waiting data over
/// [`WAKEUP_BYTES`]. The reader drains the ring to empty before it sleeps,
/// so the records after it need no wakeup of their own: one per event
/// while the reader lags (a forced wakeup is an irq_work, ~1 µs) made a
/// namespace-change storm 3× dearer in the kernel. `size` is this record's.
///
/// Also wake it for the first record after a quiet spell ([`QUIET_WAKE_NS`]
/// since the last wakeup of either kind or the reader's last look at the
/// ring, which it notes in `LAST_WAKE` while its drain timer runs; `ts`
/// being this record's time): an idle reader sleeps long instead of
/// polling, and a flow that the timer or the mark keeps up with gets no
/// wakeup of this kind. Two CPUs may both wake it at such a moment: one
/// wakeup too many.
#[inline(always)]
fn wakeup(size: u64, ts: u64) -> u64 {
    let waiting = EVENTS.query(BPF_RB_AVAIL_DATA);
    let this = (size + RINGBUF_HDR + 7) & !7;
    let at = global(&WAKEUP_BYTES);
    let crossed = waiting >= at && waiting < at + this;
    // A racing write from another CPU at worst adds a wakeup; the reader
    // looks at the ring once more after it writes 0 (see the tracer's
    // `watch::Looks`). Saturating: a record stamped before another CPU's
    // wakeup or the reader's look (submitted after it) wakes no one.
    let last = LAST_WAKE.get_ptr_mut(0);
    // SAFETY: the map gave a valid, aligned pointer to its one slot.
    let quiet = last.is_some_and(|l| ts.saturating_sub(unsafe { *l }) >= QUIET_WAKE_NS);
    if !(crossed || quiet) {
        return BPF_RB_NO_WAKEUP;
    }
    if let Some(l) = last {
        // SAFETY: as above.
        unsafe { *l = ts };
    }
    BPF_RB_FORCE_WAKEUP
}

/// Wake the reader now, without a record: a discarded 8-byte entry with
/// `BPF_RB_FORCE_WAKEUP`. For events whose userspace follow-up cannot wait
/// for the next timer tick (a container's bundle, read at its first exec).
#[inline(always)]
pub fn wake_reader() {
    if let Some(entry) = EVENTS.reserve::<u64>(0) {
        entry.discard(BPF_RB_FORCE_WAKEUP);
        count(Stat::Wakeups);
    }
}

/// Send `record`, built in a map (a variable-length record, too large for
/// the stack), by copy: waking the reader at once when `now`, else as
/// [`wakeup`] decides. A full ring is counted and logged.
#[inline(always)]
pub fn output<C: EbpfContext>(ctx: &C, record: &[u8], ts: u64, now: bool) {
    let flags = if now {
        BPF_RB_FORCE_WAKEUP
    } else {
        wakeup(record.len() as u64, ts)
    };
    if EVENTS.output::<[u8]>(record, flags).is_err() {
        count(Stat::RingbufFull);
        warn!(ctx, "ring buffer full: event lost");
    } else if now {
        count(Stat::Wakeups);
    }
}

/// Send one record: unless `gate` keeps it in the kernel, reserve it in the
/// ring buffer (a full ring is counted and logged, never silent), fill its
/// header from `task`, let `fill` write the rest in place, and submit.
#[inline(always)]
pub fn emit<T: Record, C: EbpfContext>(
    ctx: &C,
    gate: Gate,
    kind: u32,
    task: Task,
    fill: impl FnOnce(&mut T),
) {
    match gate {
        Gate::Always => send(ctx, kind, task, fill),
        Gate::UnlessHost(t) if filtered_out(t) => count(Stat::Filtered),
        Gate::UnlessHost(_) => send_apart(ctx, kind, task, fill),
    }
}

/// [`send`], out of line, for records the filter mostly keeps in the
/// kernel. A program whose frame reaches 64 bytes runs on a private
/// per-CPU stack whose lines are cold when it starts (~80 ns more per
/// filtered fork, `bpf_stats`); a record's frame kept apart leaves the
/// filtered path on the kernel's own stack, which is in the cache.
#[inline(never)]
pub fn send_apart<T: Record, C: EbpfContext>(
    ctx: &C,
    kind: u32,
    task: Task,
    fill: impl FnOnce(&mut T),
) {
    send(ctx, kind, task, fill);
}

/// Reserve, fill and submit one record.
#[inline(always)]
fn send<T: Record, C: EbpfContext>(ctx: &C, kind: u32, task: Task, fill: impl FnOnce(&mut T)) {
    let Some(mut entry) = EVENTS.reserve::<T>(0) else {
        count(Stat::RingbufFull);
        warn!(ctx, "ring buffer full: event lost");
        return;
    };
    // SAFETY: the kernel handed out `size_of::<T>()` bytes, 8-byte aligned
    // (enough for every record), that only this entry uses until it is
    // submitted below. They hold bytes of earlier records or the zeroes
    // the ring was created with, and `T: Pod` accepts any bytes, so a
    // `&mut T` to them is a valid value (bytes a record leaves unwritten,
    // such as a string's tail after its NUL, are documented as unspecified).
    let record = unsafe { &mut *entry.as_mut_ptr() };
    fill_header(record.header_mut(), kind, task);
    fill(record);
    let ts = record.header().ts_ns;
    entry.submit(wakeup(size_of::<T>() as u64, ts));
}
