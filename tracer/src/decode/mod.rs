//! Kernel records → typed events: pure, bounds-checked, never panics.
//!
//! The first stage after the ring buffer (or a recording): [`decode`]
//! turns one record's bytes into an [`Event`]; nothing here does I/O.
//!
//! A new record kind: its struct and `Kind` number in `tracer-common`, a
//! variant of [`Event`] and its arm in [`decode`] — with its own helpers in
//! a sibling module here (one `mod` line) — then its handler in `model`.

mod cause;
mod event;
pub mod flags;
pub mod mount;
mod ns;
mod strings;
mod visitor;

pub use cause::Cause;
pub use event::{DecodeError, Event, Who, caller, decode, decode_reusing, encode};
pub use mount::{MountEvent, MountPath, PinSource, ProcTask};
pub use ns::{Unread, ns_in_mask, supported_slots};
pub use strings::{argv, argv_truncated, c_bytes, c_str, c_str_ref, filename_truncated};
pub use visitor::{Visitor, cni_command};
