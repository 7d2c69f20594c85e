//! Namespace slots in records: masks, the slots this kernel has, and what
//! the kernel could not read.

use tracer_common::{ABSENT, Ns, Offsets};

use super::Event;

/// Namespace slots whose bit is set in `mask`.
pub fn ns_in_mask(mask: u32) -> impl Iterator<Item = Ns> {
    Ns::ALL.into_iter().filter(move |ns| mask & ns.bit() != 0)
}

/// Mask of the namespace slots this kernel has, from the BTF offsets.
pub fn supported_slots(o: &Offsets) -> u32 {
    Ns::ALL
        .into_iter()
        .filter(|&ns| {
            let reached = matches!(ns, Ns::Pid | Ns::User) || o.nsproxy[ns as usize] != ABSENT;
            reached && o.ns_common[ns as usize] != ABSENT
        })
        .fold(0, |m, ns| m | ns.bit())
}

/// What the kernel could not read for one event (it leaves such fields 0,
/// which no real inode or pid is): namespace slots, and the task's
/// identity. Worked out once per event, without allocating.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Unread {
    /// [`Ns`] bits of the slots left 0.
    slots: u32,
    task: bool,
}

impl Unread {
    /// `supported` is [`supported_slots`]: slots this kernel lacks are not unread.
    pub fn of(ev: &Event, supported: u32) -> Self {
        let ns = ev.ns();
        let slots = ns_in_mask(supported)
            .filter(|&n| ns.inum[n as usize] == 0)
            .fold(0, |m, n| m | n.bit());
        Self {
            slots,
            task: ev.who().tid == 0,
        }
    }

    pub fn is_empty(self) -> bool {
        self.slots == 0 && !self.task
    }

    /// Namespace names in slot order, then `task`.
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        ns_in_mask(self.slots)
            .map(Ns::proc_name)
            .chain(self.task.then_some("task"))
    }
}
