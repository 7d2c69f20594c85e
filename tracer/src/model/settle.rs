//! What the facts of an event add up to, decided once the verification
//! read (if any) is in: each changed namespace's state (in use → empty but
//! pinned → freed), told only when it changes; each changed sandbox's end
//! (no pause, no container, no anchoring pin left: END, naming the holder
//! that went last); and leak verdicts (a pin still there a grace after the
//! sandbox's last task).
//!
//! Live, the pipeline settles right after an event and its notes; a replay
//! settles before the next event (or at the end), after the recorded
//! notes: the same order, so the same steps and report.

use super::ns::{NsKey, Shown};
use super::pin::{Pin, PinAct, same_mount_point};
use super::{Lifecycle, Model, What};

/// How long a pin may outlive its sandbox's last task before it is a leak
/// (trace time): runtimes unmount within milliseconds of the stop.
pub const LEAK_GRACE_NS: u64 = 5_000_000_000;

/// Namespaces and sandboxes an event changed, with the change's time;
/// and steps a note caused (told at the next settle).
#[derive(Debug, Default)]
pub(super) struct Pending {
    /// Marked as they come (a key may repeat): settled in key order, each
    /// once, at its latest time. A list keeps its room between events.
    ns: Vec<(NsKey, u64)>,
    sandboxes: Vec<(usize, u64)>,
    pub steps: Vec<Lifecycle>,
    /// Leak verdicts to look for again: a pin was added, or a sandbox
    /// joined the leak watch (or its last task went). Otherwise a watched
    /// sandbox past its deadline has every pin judged already, and the
    /// others wait for `leaks_due`: nothing to look at per event.
    leaks_changed: bool,
    /// The earliest deadline of a watched sandbox not past it at the last look.
    leaks_due: u64,
}

/// Each key of `marked` once, in key order, with its latest time (what a
/// map from key to the latest time would give).
fn latest_by_key<K: Ord + Copy>(marked: &mut [(K, u64)]) -> impl Iterator<Item = (K, u64)> + '_ {
    marked.sort_unstable();
    let mut i = 0;
    std::iter::from_fn(move || {
        let (k, mut ts) = *marked.get(i)?;
        i += 1;
        while let Some(&(k2, t2)) = marked.get(i)
            && k2 == k
        {
            ts = ts.max(t2);
            i += 1;
        }
        Some((k, ts))
    })
}

impl Model {
    pub(super) fn mark_ns(&mut self, k: NsKey, ts: u64) {
        self.pending.ns.push((k, ts));
    }

    pub(super) fn mark_sandbox(&mut self, sb: usize, ts: u64) {
        self.pending.sandboxes.push((sb, ts));
    }

    /// Would [`Model::settle`] look at anything? Most events leave nothing
    /// to settle: the pipeline asks before every event.
    #[inline]
    pub fn settle_due(&self) -> bool {
        !self.pending.steps.is_empty()
            || !self.pending.ns.is_empty()
            || !self.pending.sandboxes.is_empty()
            || !self.leak_watch.is_empty()
    }

    /// The states, ends and verdicts the facts so far add up to.
    pub fn settle(&mut self) -> Vec<Lifecycle> {
        let mut out = std::mem::take(&mut self.pending.steps);
        self.settle_marked(|p| &mut p.ns, Self::ns_state, &mut out);
        self.settle_marked(|p| &mut p.sandboxes, Self::sandbox_state, &mut out);
        if !self.leak_watch.is_empty() {
            self.check_leaks(&mut out);
        }
        out
    }

    /// Settle the keys marked in one of [`Pending`]'s lists with `state`,
    /// each once at its latest time. Most events mark nothing: cheap then.
    #[inline]
    fn settle_marked<K: Ord + Copy>(
        &mut self,
        list: fn(&mut Pending) -> &mut Vec<(K, u64)>,
        state: fn(&mut Self, K, u64, &mut Vec<Lifecycle>),
        out: &mut Vec<Lifecycle>,
    ) {
        if list(&mut self.pending).is_empty() {
            return;
        }
        let mut marked = std::mem::take(list(&mut self.pending));
        for (k, ts) in latest_by_key(&mut marked) {
            state(self, k, ts, out);
        }
        // Its room back, unless settling marked more (for the next time).
        let slot = list(&mut self.pending);
        if slot.is_empty() {
            marked.clear();
            *slot = marked;
        }
    }

    /// Something may make a leak verdict due before the next deadline.
    pub(super) fn leaks_changed(&mut self) {
        self.pending.leaks_changed = true;
    }

    /// A namespace without tasks is pinned or freed; a sandbox's is told
    /// so when that differs from what it was last told.
    fn ns_state(&mut self, k: NsKey, ts: u64, out: &mut Vec<Lifecycle>) {
        let sb = self.sandbox_holding(k);
        let Some(info) = self.ns.info.get_mut(&k) else {
            return;
        };
        if info.in_use() {
            return;
        }
        let state = if info.is_pinned() {
            info.freed_ns = None;
            Shown::Pinned(info.pinned_by())
        } else {
            info.freed_ns.get_or_insert(ts);
            Shown::Freed
        };
        let Some(sb) = sb else { return };
        if info.shown.as_ref() == Some(&state) {
            return;
        }
        info.shown = Some(state);
        let what = What::NamespaceEmpty {
            kind: k.kind,
            inum: k.inum,
        };
        out.push(Lifecycle::new(ts, sb, what));
        self.mark_sandbox(sb, ts);
    }

    /// Its pause and containers, and the pins of its namespaces: a sandbox
    /// ends when the last of its anchors is gone.
    fn sandbox_state(&mut self, sb: usize, ts: u64, out: &mut Vec<Lifecycle>) {
        let Some(s) = self.sandboxes.get(sb) else {
            return;
        };
        let pins: Vec<&Pin> =
            s.ns.values()
                .filter_map(|k| self.ns.info.get(k))
                .flat_map(|i| i.live_pins())
                .collect();
        let pinned = !pins.is_empty();
        let anchored = pins.iter().any(|p| p.anchor);
        let tasks = s.pause.as_ref().is_some_and(|p| p.exited_ns.is_none())
            || s.containers
                .iter()
                .any(|&c| self.containers[c].left_ns.is_none());
        let ended = s.ended_ns.is_some();
        if tasks && !ended {
            self.sandboxes[sb].tasks_gone_ns = None;
            self.leak_watch.remove(&sb);
            return;
        }
        if pinned {
            self.leak_watch.insert(sb);
            self.leaks_changed();
        } else {
            self.leak_watch.remove(&sb);
        }
        if ended {
            return;
        }
        let s = &mut self.sandboxes[sb];
        s.tasks_gone_ns.get_or_insert(ts);
        if !anchored {
            s.ended_ns = Some(ts);
            s.last_holder = s.last_gone.clone();
            out.push(Lifecycle::new(ts, sb, What::SandboxEnded));
        }
    }

    /// The earliest leak verdict not given yet (trace time), if any.
    pub fn next_verdict(&self) -> Option<u64> {
        self.leak_watch
            .iter()
            .filter_map(|&sb| {
                let s = self.sandboxes.get(sb)?;
                let unjudged =
                    s.ns.values()
                        .filter_map(|k| self.ns.info.get(k))
                        .flat_map(|i| i.live_pins())
                        .any(|p| p.leak_ns.is_none());
                unjudged.then(|| s.tasks_gone_ns.map(|t| t + LEAK_GRACE_NS))?
            })
            .min()
    }

    /// Is a verdict (or a pin a read did not find) due by `now` (trace time)?
    pub fn due(&self, now: u64) -> bool {
        self.next_verdict()
            .into_iter()
            .chain(self.next_vanishing())
            .any(|d| d <= now)
    }

    /// Pins still there a grace after their sandbox's last task: leaks.
    fn check_leaks(&mut self, out: &mut Vec<Lifecycle>) {
        let now = self.now_ns;
        let quiet = !self.pending.leaks_changed && now < self.pending.leaks_due;
        // Tests look anyway, and check that nothing was missed.
        #[cfg(test)]
        let told = out.len();
        #[cfg(not(test))]
        if quiet {
            return;
        }
        self.pending.leaks_changed = false;
        let mut due = u64::MAX;
        let watch: Vec<usize> = self.leak_watch.iter().copied().collect();
        for sb in watch {
            let Some(gone) = self.sandboxes.get(sb).and_then(|s| s.tasks_gone_ns) else {
                self.leak_watch.remove(&sb);
                continue;
            };
            let deadline = gone + LEAK_GRACE_NS;
            if now < deadline {
                due = due.min(deadline);
                continue;
            }
            let keys: Vec<NsKey> = self.sandboxes[sb].ns.values().copied().collect();
            for k in keys {
                let Some(info) = self.ns.info.get_mut(&k) else {
                    continue;
                };
                let origin = |pins: &[Pin], p: &Pin| -> Option<PinAct> {
                    p.made.clone().or_else(|| {
                        pins.iter()
                            .filter(|o| o.made.is_some() && same_mount_point(&o.path, &p.path))
                            .find_map(|o| o.made.clone())
                    })
                };
                let mut leaks = Vec::new();
                for i in 0..info.pins.len() {
                    let p = &info.pins[i];
                    if !p.live() || p.leak_ns.is_some() {
                        continue;
                    }
                    let at = deadline.max(p.since().unwrap_or(deadline));
                    let made = origin(&info.pins, p);
                    info.pins[i].leak_ns = Some(at);
                    leaks.push((at, info.pins[i].clone(), made));
                }
                for (at, pin, made) in leaks {
                    let what = What::Leak {
                        kind: k.kind,
                        inum: k.inum,
                        pin,
                        made,
                    };
                    out.push(Lifecycle::new(at, sb, what));
                }
            }
        }
        self.pending.leaks_due = due;
        #[cfg(test)]
        assert!(
            !quiet || out.len() == told,
            "a leak verdict came while nothing was due: {:?}",
            &out[told..]
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::latest_by_key;

    /// As a map from key to the latest time would give them.
    #[test]
    fn marks_settle_once_per_key_in_order_at_the_latest_time() {
        let mut x: u32 = 5;
        for len in 0..200 {
            let mut marked = Vec::new();
            let mut map: BTreeMap<u32, u64> = BTreeMap::new();
            for _ in 0..len {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let (k, ts) = ((x >> 16) % 13, u64::from(x >> 8) % 1000);
                marked.push((k, ts));
                let t = map.entry(k).or_insert(ts);
                *t = (*t).max(ts);
            }
            let got: Vec<(u32, u64)> = latest_by_key(&mut marked).collect();
            assert_eq!(got, map.into_iter().collect::<Vec<_>>());
        }
    }
}
