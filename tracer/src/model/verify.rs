//! The verification read: when a namespace of interest loses its last
//! task or one of its pins, mountinfo of one task per mount namespace that
//! may hold a pin of it says which pins really are left. Mount namespaces
//! made after a pin inherit a copy that no mount call shows; unlinking a
//! pin file detaches its copies without one. The model asks
//! ([`Model::wanted_mounts`]), the host reads (live runs only), and what
//! was read comes back as a [`Note::Mounts`](super::Note::Mounts) —
//! recorded, so a replay gives the same ledger.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::mount::Unresolved;
use super::ns::{NsKey, NsKind};
use super::pin::{Gone, Pin, PinGone, same_mount_point};
use super::{Lifecycle, Model, Task};

/// A namespace as notes name it: kind, inode and, where the kernel has
/// them, its never-reused id (0 otherwise).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NsRef {
    pub kind: NsKind,
    pub inum: u32,
    #[serde(default)]
    pub id: u64,
}

/// One nsfs bind mount in a mountinfo table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nsfs {
    pub kind: NsKind,
    pub inum: u32,
    pub path: String,
}

/// What one mount namespace's mountinfo showed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MntRead {
    pub mnt: NsRef,
    /// The task whose mountinfo was read (none for the host's: the tracer's own).
    pub pid: Option<u32>,
    pub comm: Option<String>,
    /// Its nsfs mounts of the namespaces asked about, and at the mount
    /// points asked about.
    pub nsfs: Vec<Nsfs>,
}

/// The note: the namespaces verified, and every mount namespace read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mounts {
    /// The time of the event that asked.
    pub ts_ns: u64,
    /// When mountinfo was read (CLOCK_BOOTTIME; up to a drain period after
    /// the event): a pin not found was gone by then — unless an unmount
    /// the tracer has yet to process says when and by whom.
    #[serde(default)]
    pub read_ns: u64,
    pub targets: Vec<NsRef>,
    pub read: Vec<MntRead>,
}

/// A mount namespace to read, and tasks in it to read it through (none
/// for the host's: the tracer reads its own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MntToRead {
    pub mnt: NsRef,
    pub host: bool,
    pub tids: Vec<u32>,
}

/// What the model wants read after an event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountsWanted {
    pub ts_ns: u64,
    /// Namespaces whose nsfs mounts to list.
    pub targets: Vec<NsRef>,
    /// Mount points whose nsfs mount to list whatever it pins, by mount
    /// namespace inode (pins whose namespace the model could not name).
    pub paths: Vec<(u32, String)>,
    pub mnts: Vec<MntToRead>,
}

/// Mount namespaces read at most per verification (besides the host's
/// and those of unresolved pins).
const MNTS_READ: usize = 32;
/// Tasks tried per mount namespace.
const TIDS_TRIED: usize = 3;

/// A pin a read did not find: gone by `by_ns`, unless an unmount (still
/// in the ring buffer when the read was made) comes first.
#[derive(Clone, Debug)]
pub(super) struct Vanishing {
    k: NsKey,
    mnt: NsKey,
    path: String,
    by_ns: u64,
}

/// What the events since the last request asked to verify.
#[derive(Debug, Default)]
pub(super) struct Verify {
    ts_ns: u64,
    targets: BTreeSet<NsKey>,
    /// (mount namespace, mount point, the tid that mounted it).
    paths: Vec<(NsKey, String, u32)>,
}

impl Verify {
    pub fn want(&mut self, k: NsKey, ts: u64) {
        self.targets.insert(k);
        self.ts_ns = self.ts_ns.max(ts);
    }

    pub fn path(&mut self, mnt: NsKey, path: &str, tid: u32, ts: u64) {
        self.paths.push((mnt, path.to_string(), tid));
        self.ts_ns = self.ts_ns.max(ts);
    }

    pub fn clear(&mut self) {
        if !self.is_empty() {
            *self = Verify::default();
        }
    }

    fn is_empty(&self) -> bool {
        self.targets.is_empty() && self.paths.is_empty()
    }
}

impl Model {
    fn ns_ref(&self, k: NsKey) -> NsRef {
        NsRef {
            kind: k.kind,
            inum: k.inum,
            id: self.ns.info.get(&k).map(|i| i.id).unwrap_or(0),
        }
    }

    /// Whether a read could find a pin of `k`: it has or had one in the
    /// ledger, or it is older than the trace or its creation went unseen.
    /// One made during the trace that never had a pin has none: every
    /// nsfs mount, and every copy of one (a later mount namespace's,
    /// propagation's), starts from a mount the events showed.
    fn may_be_pinned(&self, k: &NsKey) -> bool {
        self.ns
            .info
            .get(k)
            .is_none_or(|i| !i.pins.is_empty() || i.existing || i.created.is_none())
    }

    /// What to read now, if the last event asked for a verification (taken:
    /// asked once). Namespaces no read could find a pin of are not asked
    /// about (reading mountinfo is most of what a pod's end costs), unless
    /// pins wait for a read to name their namespace.
    pub fn wanted_mounts(&mut self) -> Option<MountsWanted> {
        if self.verify.is_empty() {
            return None;
        }
        let mut v = std::mem::take(&mut self.verify);
        if self.unresolved.is_empty() {
            v.targets.retain(|k| self.may_be_pinned(k));
            if v.is_empty() {
                return None;
            }
        }
        let host = self.ns.host.get(&NsKind::Mnt).copied();
        // A copy can only be in a mount namespace made after the pin (or
        // after the namespace, when no pin's time is known).
        let since = v
            .targets
            .iter()
            .filter_map(|k| {
                let info = self.ns.info.get(k)?;
                info.pins
                    .iter()
                    .filter_map(Pin::since)
                    .min()
                    .or(info.created.as_ref().map(|c| c.ts_ns))
            })
            .min();
        let path_mnts: BTreeSet<NsKey> = v.paths.iter().map(|(m, ..)| *m).collect();
        // The newest first: copies are made after the pin.
        let others: Vec<NsKey> = self
            .ns
            .mnts_in_use_newest_first()
            .take_while(|(made, _)| since.is_none_or(|s| *made >= s))
            .filter(|(_, k)| Some(*k) != host && !path_mnts.contains(k))
            .take(MNTS_READ)
            .map(|(_, k)| k)
            .collect();
        #[cfg(test)]
        self.check_mnts_index(since, host, &path_mnts, &others);
        let mut mnts: Vec<MntToRead> = host
            .filter(|h| !path_mnts.contains(h))
            .map(|h| MntToRead {
                mnt: self.ns_ref(h),
                host: true,
                tids: Vec::new(),
            })
            .into_iter()
            .collect();
        // Their tasks, in one scan of the table's sets.
        let mut members = self
            .ns
            .members_of(&path_mnts.iter().chain(&others).copied().collect());
        for m in path_mnts {
            let callers = v.paths.iter().filter(|(pm, ..)| *pm == m).map(|p| p.2);
            let tids = members.remove(&m).unwrap_or_default();
            mnts.push(self.mnt_to_read(m, host, callers.chain(tids)));
        }
        for m in others {
            let tids = members.remove(&m).unwrap_or_default();
            mnts.push(self.mnt_to_read(m, host, tids.into_iter()));
        }
        Some(MountsWanted {
            ts_ns: v.ts_ns,
            targets: v.targets.iter().map(|k| self.ns_ref(*k)).collect(),
            paths: v.paths.into_iter().map(|(m, p, _)| (m.inum, p)).collect(),
            mnts,
        })
    }

    /// The index gives what the scan of every namespace gave before it.
    #[cfg(test)]
    fn check_mnts_index(
        &self,
        since: Option<u64>,
        host: Option<NsKey>,
        path_mnts: &BTreeSet<NsKey>,
        picked: &[NsKey],
    ) {
        assert_eq!(
            self.ns.mnts_in_use_indexed(),
            &self.ns.mnts_in_use_scanned()
        );
        let mut scanned: Vec<(u64, NsKey)> = self
            .ns
            .mnts_in_use_scanned()
            .into_iter()
            .filter(|(made, k)| {
                Some(*k) != host && !path_mnts.contains(k) && since.is_none_or(|s| *made >= s)
            })
            .collect();
        scanned.sort_by(|a, b| b.cmp(a));
        scanned.truncate(MNTS_READ);
        let scanned: Vec<NsKey> = scanned.into_iter().map(|(_, k)| k).collect();
        assert_eq!(picked, &scanned[..]);
    }

    /// Mount namespace `m`, read through the first of `candidates` (callers,
    /// then its tasks ascending).
    fn mnt_to_read(
        &self,
        m: NsKey,
        host: Option<NsKey>,
        candidates: impl Iterator<Item = u32>,
    ) -> MntToRead {
        let info = self.ns.info.get(&m);
        // The first TIDS_TRIED of them, a repeat next to itself once.
        let mut tids: Vec<u32> = Vec::with_capacity(TIDS_TRIED);
        for tid in candidates {
            if tids.len() == TIDS_TRIED {
                break;
            }
            if tids.last() != Some(&tid) {
                tids.push(tid);
            }
        }
        MntToRead {
            mnt: NsRef {
                kind: m.kind,
                inum: m.inum,
                id: info.map(|i| i.id).unwrap_or(0),
            },
            host: Some(m) == host,
            tids,
        }
    }

    /// The namespace of this kind and inode alive now: the one seen last
    /// (an inode is reused only once its namespace is freed; ids order
    /// nothing, so never the largest id).
    fn alive_key(&mut self, kind: NsKind, inum: u32) -> NsKey {
        let seen = |i: &super::ns::NsInfo| {
            (
                i.freed_ns.is_none(),
                i.created.as_ref().map_or(i.first_seen_ns, |c| c.ts_ns),
            )
        };
        self.ns
            .info
            .iter()
            .filter(|(k, _)| k.kind == kind && k.inum == inum)
            .max_by_key(|(k, i)| (seen(i), **k))
            .map(|(k, _)| *k)
            .unwrap_or_else(|| self.ns.key(kind, inum, 0, false))
    }

    fn key_of(&mut self, r: NsRef) -> NsKey {
        if r.id != 0 {
            NsKey {
                kind: r.kind,
                inum: r.inum,
                ident: r.id,
            }
        } else {
            self.ns.key(r.kind, r.inum, 0, false)
        }
    }

    /// Apply a verification read: pins it found that the ledger lacks are
    /// added (inherited copies, pins made unseen), pins it did not find in
    /// a mount namespace it read are gone; unresolved pins get their namespace.
    pub(super) fn apply_mounts(&mut self, m: &Mounts, out: &mut Vec<Lifecycle>) {
        let ts = m.ts_ns;
        let host = self.ns.host.get(&NsKind::Mnt).copied();
        let unresolved = std::mem::take(&mut self.unresolved);
        for read in &m.read {
            let mnt = self.key_of(read.mnt);
            let holder = read
                .pid
                .map(|p| Task::new(p, read.comm.clone().unwrap_or_default()));
            for u in unresolved.iter().filter(|u| u.mnt == mnt) {
                self.resolved(u, read, out);
            }
            for t in &m.targets {
                let k = self.key_of(*t);
                if !self.ns.info.contains_key(&k) {
                    continue;
                }
                let found: Vec<&str> = read
                    .nsfs
                    .iter()
                    .filter(|n| n.kind == t.kind && n.inum == t.inum)
                    .map(|n| n.path.as_str())
                    .collect();
                let anchor = Some(mnt) == host;
                let when = (ts, m.read_ns);
                self.reconcile(k, mnt, &found, holder.as_ref(), anchor, when, out);
            }
        }
    }

    fn resolved(&mut self, u: &Unresolved, read: &MntRead, out: &mut Vec<Lifecycle>) {
        let Some(n) = read
            .nsfs
            .iter()
            .find(|n| same_mount_point(&n.path, &u.path))
        else {
            return;
        };
        let k = self.alive_key(n.kind, n.inum);
        let pin = Pin {
            path: u.path.clone(),
            mnt: u.mnt,
            made: Some(u.made.clone()),
            removed: None,
            holder: None,
            found_ns: None,
            leak_ns: None,
            anchor: true,
        };
        self.add_pin(k, pin, u.how, u.made.ts_ns, out);
    }

    /// One namespace's pins in one mount namespace against what its
    /// mountinfo showed (`found`: mount points).
    #[allow(clippy::too_many_arguments)]
    fn reconcile(
        &mut self,
        k: NsKey,
        mnt: NsKey,
        found: &[&str],
        holder: Option<&Task>,
        anchor: bool,
        (ts, read_ns): (u64, u64),
        out: &mut Vec<Lifecycle>,
    ) {
        let Some(info) = self.ns.info.get_mut(&k) else {
            return;
        };
        let mut unmatched: Vec<usize> = info
            .pins
            .iter()
            .enumerate()
            .filter(|(_, p)| p.live() && p.mnt == mnt)
            .map(|(i, _)| i)
            .collect();
        let mut new = Vec::new();
        for &path in found {
            let hit = unmatched
                .iter()
                .position(|&i| info.pins[i].path == path)
                .or_else(|| {
                    unmatched
                        .iter()
                        .position(|&i| same_mount_point(&info.pins[i].path, path))
                });
            match hit {
                Some(j) => {
                    let i = unmatched.remove(j);
                    if info.pins[i].holder.is_none() {
                        info.pins[i].holder = holder.cloned();
                    }
                }
                None => new.push(path.to_string()),
            }
        }
        for i in unmatched {
            let path = info.pins[i].path.clone();
            self.vanishing.push(Vanishing {
                k,
                mnt,
                path,
                by_ns: read_ns.max(ts),
            });
        }
        for path in new {
            let pin = Pin {
                path,
                mnt,
                made: None,
                removed: None,
                holder: holder.cloned(),
                found_ns: Some(ts),
                leak_ns: None,
                anchor,
            };
            self.add_pin(k, pin, "found", ts, out);
        }
    }

    /// Pins a read did not find are gone once trace time is past the read
    /// and no unmount of theirs came first.
    pub(super) fn expire_vanishing(&mut self, now: u64, out: &mut Vec<Lifecycle>) {
        if self.vanishing.is_empty() {
            return;
        }
        let (due, wait): (Vec<Vanishing>, Vec<Vanishing>) = std::mem::take(&mut self.vanishing)
            .into_iter()
            .partition(|v| v.by_ns < now);
        self.vanishing = wait;
        for v in due {
            let Some(i) = self.ns.info.get(&v.k).and_then(|info| {
                info.pins
                    .iter()
                    .position(|p| p.live() && p.mnt == v.mnt && p.path == v.path)
            }) else {
                continue;
            };
            let end = PinGone {
                ts_ns: v.by_ns,
                pid: None,
                comm: None,
                how: Gone::Vanished,
            };
            self.pin_gone(v.k, i, end, out);
        }
    }

    /// The earliest time a vanished pin is due.
    pub(super) fn next_vanishing(&self) -> Option<u64> {
        self.vanishing.iter().map(|v| v.by_ns + 1).min()
    }

    /// A recording's `Note::Pins` (before the ledger): pins of a namespace
    /// in the tracer's mount namespace, found when it emptied.
    pub(super) fn apply_old_pins(
        &mut self,
        kind: NsKind,
        inum: u32,
        paths: &[String],
        out: &mut Vec<Lifecycle>,
    ) {
        let Some(host) = self.ns.host.get(&NsKind::Mnt).copied() else {
            return;
        };
        let k = self.alive_key(kind, inum);
        let ts = self.now_ns;
        for path in paths {
            let known = self.ns.info.get(&k).is_some_and(|i| {
                i.live_pins()
                    .any(|p| p.mnt == host && same_mount_point(&p.path, path))
            });
            if !known {
                let pin = Pin {
                    path: path.clone(),
                    mnt: host,
                    made: None,
                    removed: None,
                    holder: None,
                    found_ns: Some(ts),
                    leak_ns: None,
                    anchor: true,
                };
                self.add_pin(k, pin, "found", ts, out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::NsKind;
    use crate::testkit::{
        Driver, Feed, MountTables, PAUSE_NS, POD, runc_pause, runtime_pins_netns,
    };

    fn read_kinds(w: &Driver) -> Vec<Vec<NsKind>> {
        w.notes
            .iter()
            .map(|n| n.targets.iter().map(|t| t.kind).collect())
            .collect()
    }

    /// A pod made during the trace: its namespaces that never had a pin
    /// are not read for when they empty; a pinned one is.
    #[test]
    fn only_namespaces_that_may_be_pinned_are_read() {
        let mut w = Driver::filtered();
        w.tables = Some(MountTables::default());
        let pause = runc_pause(&mut w);
        w.exit(pause, "pause", 0, PAUSE_NS);
        assert!(w.m.sandboxes[0].ended_ns.is_some());
        assert!(w.notes.is_empty(), "{:?}", w.notes);

        let mut w = Driver::filtered();
        w.tables = Some(MountTables::default());
        runtime_pins_netns(&mut w, (601, 600), "podman", POD, "/run/netns/netns-u");
        let before = w.notes.len();
        let pause = runc_pause(&mut w);
        w.exit(pause, "pause", 0, PAUSE_NS);
        let reads = &read_kinds(&w)[before..];
        assert!(!reads.is_empty());
        assert!(reads.iter().all(|r| r == &[NsKind::Net]), "{reads:?}");
    }
}
