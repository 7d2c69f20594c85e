//! The `LAST_WAKE` slot the reader writes after each look at the ring (see
//! `watch::Looks`): mapped into the tracer's memory, so a look costs a
//! store, not a `bpf()` syscall (a fifth of the tracer's CPU in a trickle
//! of records, one every 10 ms).

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU64, Ordering};

use aya::maps::{Array, Map, MapData};
use memmap2::{MmapMut, MmapOptions};

/// One `u64` shared with the eBPF programs.
pub enum WakeSlot {
    /// The map's memory (`BPF_F_MMAPABLE`), written with plain stores.
    Mapped(MmapMut),
    /// Where mapping failed: a `bpf(BPF_MAP_UPDATE_ELEM)` per write.
    Syscall(Array<MapData, u64>),
}

impl WakeSlot {
    /// Map the array's one slot; fall back to the syscall (said once).
    pub fn new(map: Map) -> Result<WakeSlot, aya::maps::MapError> {
        if let Map::Array(data) = &map {
            // SAFETY: the kernel's programs write this memory too: it is
            // only ever accessed as one aligned AtomicU64 (see `set`).
            let mapped = unsafe { MmapOptions::new().len(8).map_mut(&data.fd().as_fd()) };
            match mapped {
                Ok(m) => return Ok(WakeSlot::Mapped(m)),
                Err(e) => log::warn!(
                    "cannot map the wakeup slot into memory ({e}): each look at the ring costs a syscall"
                ),
            }
        }
        Array::try_from(map).map(WakeSlot::Syscall)
    }

    /// Write the slot. A failed syscall write (never seen) leaves the last value.
    pub fn set(&mut self, v: u64) {
        match self {
            WakeSlot::Mapped(m) => {
                // SAFETY: a mapping is page-aligned and at least 8 bytes
                // long; AtomicU64 has u64's size and 8-byte alignment.
                let slot = unsafe { &*m.as_ptr().cast::<AtomicU64>() };
                slot.store(v, Ordering::Relaxed);
            }
            WakeSlot::Syscall(a) => {
                let _ = a.set(0, v, 0);
            }
        }
    }
}
