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
        let inum = &ev.ns().inum;
        // Most events have every slot: one test for all of them.
        let slots = if inum.iter().fold(1, |all, &i| all & u32::from(i != 0)) == 1 {
            0
        } else {
            // Slot `i` is bit `i` ([`Ns::bit`]).
            inum.iter()
                .enumerate()
                .fold(0, |m, (i, &inum)| m | (u32::from(inum == 0) << i))
                & supported
        };
        Self {
            slots,
            task: ev.header().pid == 0,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::samples;

    /// The one-pass mask names the slots a filter over [`Ns::ALL`] names,
    /// for every supported mask and zeroed slot.
    #[test]
    fn unread_slots_are_the_zeroed_supported_ones() {
        let Event::Fork(fork) = samples()[0].clone() else {
            unreachable!()
        };
        for zeroed in 0..1u32 << Ns::ALL.len() {
            let mut e = fork;
            for ns in ns_in_mask(zeroed) {
                e.ns.inum[ns as usize] = 0;
            }
            let ev = Event::Fork(e);
            for supported in [0, u32::MAX, 0b1_0101_0101, 0b0_1010_1010, zeroed] {
                let want: Vec<&str> = ns_in_mask(supported & zeroed).map(Ns::proc_name).collect();
                let got: Vec<&str> = Unread::of(&ev, supported).names().collect();
                assert_eq!(got, want, "zeroed {zeroed:b}, supported {supported:b}");
            }
        }
    }
}
