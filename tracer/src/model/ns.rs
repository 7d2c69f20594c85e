//! The namespace table: every namespace the trace met, who created it and
//! which tasks are in it now.
//!
//! A namespace is named by its kind and the kernel's 64-bit `ns_id` where
//! the kernel has one (never reused). Without it, inode numbers are reused
//! once a namespace is freed, so a creation event seen for an inode already
//! in the table starts a new generation: two namespaces that shared an inode
//! never merge.

use std::collections::{BTreeMap, BTreeSet};

// Fx: these maps are keyed by kernel ids on every event; SipHash's
// flooding resistance buys nothing here and cost 6 % of the CPU.
use rustc_hash::FxHashMap as HashMap;

use serde::{Deserialize, Serialize};
use tracer_common::{NS_COUNT, Ns, NsSet};

use super::pin::Pin;

/// Namespace kinds as identities: `pid_for_children` is a pid namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NsKind {
    Mnt,
    Uts,
    Ipc,
    Pid,
    Net,
    User,
    Cgroup,
    Time,
}

impl NsKind {
    pub fn of(slot: Ns) -> NsKind {
        match slot {
            Ns::Mnt => NsKind::Mnt,
            Ns::Uts => NsKind::Uts,
            Ns::Ipc => NsKind::Ipc,
            Ns::Pid | Ns::PidForChildren => NsKind::Pid,
            Ns::Net => NsKind::Net,
            Ns::User => NsKind::User,
            Ns::Cgroup => NsKind::Cgroup,
            Ns::Time => NsKind::Time,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            NsKind::Mnt => "mnt",
            NsKind::Uts => "uts",
            NsKind::Ipc => "ipc",
            NsKind::Pid => "pid",
            NsKind::Net => "net",
            NsKind::User => "user",
            NsKind::Cgroup => "cgroup",
            NsKind::Time => "time",
        }
    }

    /// The slot a task's own namespace of this kind is in.
    pub fn slot(self) -> Ns {
        match self {
            NsKind::Mnt => Ns::Mnt,
            NsKind::Uts => Ns::Uts,
            NsKind::Ipc => Ns::Ipc,
            NsKind::Pid => Ns::Pid,
            NsKind::Net => Ns::Net,
            NsKind::User => Ns::User,
            NsKind::Cgroup => Ns::Cgroup,
            NsKind::Time => Ns::Time,
        }
    }
}

/// One namespace's identity: kind + `ns_id`, or kind + inode + generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NsKey {
    pub kind: NsKind,
    pub inum: u32,
    /// `ns_id` where the kernel has it, else the inode's generation in this trace.
    pub ident: u64,
}

/// Who made a namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Creation {
    pub ts_ns: u64,
    pub pid: u32,
    pub tid: u32,
    pub comm: String,
    /// `unshare`, `clone`, `clone3`.
    pub syscall: &'static str,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NsInfo {
    pub kind: NsKind,
    pub inum: u32,
    pub id: u64,
    pub created: Option<Creation>,
    /// Seen in the start-up /proc walk: older than the trace.
    pub existing: bool,
    pub first_seen_ns: u64,
    /// Thread ids in it now (tracked for non-host namespaces only).
    pub members: Members,
    /// When the last member left (members went from some to none).
    pub emptied_ns: Option<u64>,
    /// Its bind mounts (nsfs) over time, in every mount namespace: the
    /// holder ledger's pins (see [`super::pin`]).
    pub pins: Vec<Pin>,
    /// When it was freed: no task and no pin left.
    pub freed_ns: Option<u64>,
    /// The last state a lifecycle step told (empty but pinned, or freed):
    /// a step is emitted only when it changes.
    pub shown: Option<Shown>,
    /// The sandbox it is a pod (net, ipc, uts) or pid namespace of, until
    /// that sandbox is folded into the summary. Kept here, not in an index
    /// beside the table: the retention scan reads it with the rest.
    pub sandbox: Option<usize>,
}

impl NsInfo {
    /// When it was made, as far as the trace knows: its creation, else 0
    /// for one older than the trace, else when it was first seen.
    pub fn made_ns(&self) -> u64 {
        match &self.created {
            Some(c) => c.ts_ns,
            None if self.existing => 0,
            None => self.first_seen_ns,
        }
    }
}

/// Thread ids, ascending, in a sorted vector: a namespace holds a few
/// tasks (a container's), and every fork and exit inserts or removes one;
/// a vector does that without a tree's nodes. Emptied, it lets go of its
/// memory, so idle namespaces keep none.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Members(Vec<u32>);

impl Members {
    /// Add `tid`; false if it was in already.
    pub fn insert(&mut self, tid: u32) -> bool {
        match self.0.binary_search(&tid) {
            Ok(_) => false,
            Err(i) => {
                self.0.insert(i, tid);
                true
            }
        }
    }

    /// Take `tid` out; false if it was not in.
    pub fn remove(&mut self, tid: &u32) -> bool {
        let Ok(i) = self.0.binary_search(tid) else {
            return false;
        };
        self.0.remove(i);
        if self.0.is_empty() {
            self.0 = Vec::new();
        }
        true
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// In ascending order.
    pub fn iter(&self) -> std::slice::Iter<'_, u32> {
        self.0.iter()
    }
}

/// A namespace's state as lifecycle steps tell it (in use is not told:
/// joins and leaves are).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Shown {
    /// No task; these paths still pin it.
    Pinned(Vec<String>),
    /// No task, no pin.
    Freed,
}

/// The host's namespace of each kind: looked up on every event, so an
/// array by kind rather than a map.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostNs([Option<NsKey>; 8]);

impl HostNs {
    pub fn get(&self, kind: &NsKind) -> Option<&NsKey> {
        self.0[*kind as usize].as_ref()
    }

    pub fn insert(&mut self, kind: NsKind, k: NsKey) {
        self.0[kind as usize] = Some(k);
    }
}

impl From<BTreeMap<NsKind, NsKey>> for HostNs {
    fn from(m: BTreeMap<NsKind, NsKey>) -> Self {
        let mut h = HostNs::default();
        for (kind, k) in m {
            h.insert(kind, k);
        }
        h
    }
}

#[cfg(test)]
impl std::ops::Index<&NsKind> for HostNs {
    type Output = NsKey;

    fn index(&self, kind: &NsKind) -> &NsKey {
        self.get(kind).expect("a host namespace of this kind")
    }
}

#[derive(Default)]
pub struct NsTable {
    /// Boxed: a bucket of 24 bytes instead of 216, so the table's spare
    /// capacity costs little (a replay of 10 000 pods peaked at 40 MiB, not 49).
    pub info: HashMap<NsKey, Box<NsInfo>>,
    /// Current generation of an inode, per kind (inode-only kernels).
    generation: HashMap<(NsKind, u32), u64>,
    /// The host's namespaces (pid 1's at start).
    pub host: HostNs,
    /// Mount namespaces with members, by ([`NsInfo::made_ns`], key): the
    /// verification read picks the newest without scanning every
    /// namespace. Kept by [`NsTable::move_task`], [`NsTable::created`]
    /// and [`NsTable::mark_existing`], the only writers of what it orders by.
    mnt_in_use: BTreeSet<(u64, NsKey)>,
}

impl NsTable {
    /// The key for a namespace seen in an event; `fresh` when the event
    /// created it (starts a new generation on inode-only kernels).
    pub fn key(&mut self, kind: NsKind, inum: u32, id: u64, fresh: bool) -> NsKey {
        let ident = if id != 0 {
            id
        } else {
            let g = self.generation.entry((kind, inum)).or_insert(0);
            if fresh
                && self.info.contains_key(&NsKey {
                    kind,
                    inum,
                    ident: *g,
                })
            {
                *g += 1;
            }
            *g
        };
        NsKey { kind, inum, ident }
    }

    /// Key of the namespace of `kind` in `set` (a task's own, not pid_for_children).
    pub fn key_in(&mut self, set: &NsSet, kind: NsKind) -> Option<NsKey> {
        let slot = kind.slot() as usize;
        (set.inum[slot] != 0).then(|| self.key(kind, set.inum[slot], set.id[slot], false))
    }

    pub fn is_host(&self, k: &NsKey) -> bool {
        self.host.get(&k.kind) == Some(k)
    }

    /// Look up or add a namespace first seen at `ts`.
    pub fn touch(&mut self, k: NsKey, ts: u64) -> &mut NsInfo {
        self.info.entry(k).or_insert_with(|| {
            Box::new(NsInfo {
                kind: k.kind,
                inum: k.inum,
                id: 0,
                created: None,
                existing: false,
                first_seen_ns: ts,
                members: Members::default(),
                emptied_ns: None,
                pins: Vec::new(),
                freed_ns: None,
                shown: None,
                sandbox: None,
            })
        })
    }

    /// Record a creation (a fresh key must come from [`NsTable::key`] with `fresh`).
    pub fn created(&mut self, k: NsKey, id: u64, c: Creation) {
        let ts = c.ts_ns;
        let info = self.touch(k, ts);
        info.id = id;
        if info.created.is_none() && !info.existing {
            // Seen in use before its creation event: it moves in the index.
            let was = info.made_ns();
            info.created = Some(c);
            let now = info.made_ns();
            self.reindex(k, was, now);
        }
    }

    /// A namespace the start-up walk found: older than the trace.
    pub fn mark_existing(&mut self, k: NsKey, id: u64, ts: u64) {
        let info = self.touch(k, ts);
        info.id = id;
        let was = info.made_ns();
        info.existing = true;
        let now = info.made_ns();
        self.reindex(k, was, now);
    }

    /// `k`'s time in [`NsTable::mnt_in_use`] went from `was` to `now`.
    fn reindex(&mut self, k: NsKey, was: u64, now: u64) {
        if was != now && self.mnt_in_use.remove(&(was, k)) {
            self.mnt_in_use.insert((now, k));
        }
    }

    /// Mount namespaces with members, newest made first.
    pub fn mnts_in_use_newest_first(&self) -> impl Iterator<Item = (u64, NsKey)> + '_ {
        self.mnt_in_use.iter().rev().copied()
    }

    /// Move thread `tid` from the namespaces in `before` to those in
    /// `after` (either may be absent), tracking non-host namespaces only.
    /// Returns the namespaces that just lost their last member.
    pub fn move_task(
        &mut self,
        tid: u32,
        before: Option<&NsSet>,
        after: Option<&NsSet>,
        ts: u64,
    ) -> Vec<NsKey> {
        let mut emptied = Vec::new();
        match (before, after) {
            // A new task, or one gone (most moves): every namespace of the
            // set moves, as the slots below would find, without comparing.
            (None, Some(set)) | (Some(set), None) => {
                let coming = after.is_some();
                for (slot, kind) in OWN_SLOTS {
                    let inum = set.inum[slot];
                    if inum == 0 {
                        continue;
                    }
                    let k = self.key(kind, inum, set.id[slot], false);
                    if self.is_host(&k) {
                        continue;
                    }
                    if coming {
                        self.enter(k, set.id[slot], tid, ts);
                    } else {
                        self.leave(k, tid, ts, &mut emptied);
                    }
                }
                return emptied;
            }
            _ => {}
        }
        for (slot, kind) in OWN_SLOTS {
            let (was_inum, was_id) = before.map_or((0, 0), |s| (s.inum[slot], s.id[slot]));
            let (inum, id) = after.map_or((0, 0), |s| (s.inum[slot], s.id[slot]));
            // The same inode and id are the same namespace (or none).
            if was_inum == inum && was_id == id {
                continue;
            }
            let old = (was_inum != 0).then(|| self.key(kind, was_inum, was_id, false));
            let new = (inum != 0).then(|| self.key(kind, inum, id, false));
            if old == new {
                continue;
            }
            // The host's namespaces have no members to leave: entering
            // skips them, and the host is known before any task moves.
            if let Some(k) = old
                && !self.is_host(&k)
            {
                self.leave(k, tid, ts, &mut emptied);
            }
            if let Some(k) = new
                && !self.is_host(&k)
            {
                self.enter(k, id, tid, ts);
            }
        }
        emptied
    }

    /// Thread `tid` left `k`: noted in `emptied` if it was the last.
    #[inline(always)]
    fn leave(&mut self, k: NsKey, tid: u32, ts: u64, emptied: &mut Vec<NsKey>) {
        if let Some(info) = self.info.get_mut(&k)
            && info.members.remove(&tid)
            && info.members.is_empty()
        {
            info.emptied_ns = Some(ts);
            if k.kind == NsKind::Mnt {
                let made = info.made_ns();
                self.mnt_in_use.remove(&(made, k));
            }
            emptied.push(k);
        }
    }

    /// Thread `tid` entered `k` (not the host's; `id` as the event gave it).
    #[inline(always)]
    fn enter(&mut self, k: NsKey, id: u64, tid: u32, ts: u64) {
        let info = self.touch(k, ts);
        info.id = id;
        let first = info.members.insert(tid) && info.members.len() == 1;
        info.emptied_ns = None;
        // Entered after we said it was freed: something we could
        // not see held it (an open fd): not freed after all.
        info.freed_ns = None;
        if first && k.kind == NsKind::Mnt {
            let made = info.made_ns();
            self.mnt_in_use.insert((made, k));
        }
    }
}

/// A task's own namespace slots (not pid_for_children, where its children
/// go), in [`Ns::ALL`] order, with their kinds.
const OWN_SLOTS: [(usize, NsKind); 8] = [
    (Ns::Mnt as usize, NsKind::Mnt),
    (Ns::Uts as usize, NsKind::Uts),
    (Ns::Ipc as usize, NsKind::Ipc),
    (Ns::Pid as usize, NsKind::Pid),
    (Ns::Net as usize, NsKind::Net),
    (Ns::User as usize, NsKind::User),
    (Ns::Cgroup as usize, NsKind::Cgroup),
    (Ns::Time as usize, NsKind::Time),
];

impl NsTable {
    /// Keep only the namespaces `keep` wants; inode generations of the
    /// dropped ones go with them.
    #[cfg(test)]
    pub fn prune(&mut self, mut keep: impl FnMut(&NsKey, &NsInfo) -> bool) {
        self.info.retain(|k, i| keep(k, i));
        self.forgot();
    }

    /// Drop these namespaces (as [`NsTable::prune`] does those it keeps not).
    pub fn forget(&mut self, keys: impl IntoIterator<Item = NsKey>) {
        for k in keys {
            self.info.remove(&k);
        }
        self.forgot();
    }

    /// Namespaces were dropped: inode generations and the index of mount
    /// namespaces in use no longer name them.
    fn forgot(&mut self) {
        let info = &self.info;
        self.generation
            .retain(|&(kind, inum), &mut ident| info.contains_key(&NsKey { kind, inum, ident }));
        self.mnt_in_use.retain(|(_, k)| info.contains_key(k));
    }

    /// [`NsTable::mnt_in_use`] as a scan of every namespace finds it
    /// (tests check the index against it).
    #[cfg(test)]
    pub fn mnts_in_use_scanned(&self) -> BTreeSet<(u64, NsKey)> {
        self.info
            .iter()
            .filter(|(k, i)| k.kind == NsKind::Mnt && !i.members.is_empty())
            .map(|(k, i)| (i.made_ns(), *k))
            .collect()
    }

    #[cfg(test)]
    pub fn mnts_in_use_indexed(&self) -> &BTreeSet<(u64, NsKey)> {
        &self.mnt_in_use
    }
}

/// All namespace keys of a set, by kind (own pid namespace, not pid_for_children).
pub fn keys_of(table: &mut NsTable, set: &NsSet) -> BTreeMap<NsKind, NsKey> {
    let mut m = BTreeMap::new();
    for slot in Ns::ALL.iter().take(NS_COUNT) {
        if *slot == Ns::PidForChildren {
            continue;
        }
        let kind = NsKind::of(*slot);
        if let Some(k) = table.key_in(set, kind) {
            m.insert(kind, k);
        }
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A set with only `slot` read: `inum`, `id`.
    fn one(slot: Ns, inum: u32, id: u64) -> NsSet {
        let mut s = NsSet::default();
        s.inum[slot as usize] = inum;
        s.id[slot as usize] = id;
        s
    }

    fn set(net: u32, net_id: u64) -> NsSet {
        one(Ns::Net, net, net_id)
    }

    #[test]
    fn reused_inodes_without_ids_are_different_namespaces() {
        let mut t = NsTable::default();
        let a = t.key(NsKind::Net, 4026532300, 0, true);
        t.created(a, 0, creation(1));
        // The same inode created again later (after the first was freed).
        let b = t.key(NsKind::Net, 4026532300, 0, true);
        assert_ne!(a, b);
        // Plain sightings refer to the newest generation.
        assert_eq!(t.key(NsKind::Net, 4026532300, 0, false), b);
    }

    #[test]
    fn ids_name_namespaces_when_the_kernel_has_them() {
        let mut t = NsTable::default();
        let a = t.key(NsKind::Net, 4026532300, 77, true);
        t.created(a, 77, creation(1));
        let b = t.key(NsKind::Net, 4026532300, 99, true);
        assert_ne!(a, b, "same inode, different ns_id");
        assert_eq!(t.key(NsKind::Net, 4026532300, 77, false), a);
    }

    #[test]
    fn members_are_counted_and_emptying_is_reported() {
        let mut t = NsTable::default();
        let s = set(4026532300, 5);
        assert!(t.move_task(10, None, Some(&s), 1).is_empty());
        assert!(t.move_task(11, None, Some(&s), 2).is_empty());
        assert!(t.move_task(10, Some(&s), None, 3).is_empty());
        let emptied = t.move_task(11, Some(&s), None, 4);
        assert_eq!(emptied.len(), 1);
        assert_eq!(t.info[&emptied[0]].emptied_ns, Some(4));
    }

    #[test]
    fn host_namespaces_are_not_tracked() {
        let mut t = NsTable::default();
        let s = set(4026531833, 3);
        let host = t.key(NsKind::Net, 4026531833, 3, false);
        t.host.insert(NsKind::Net, host);
        t.move_task(10, None, Some(&s), 1);
        assert!(!t.info.contains_key(&host));
    }

    /// Members stay a set in ascending order (readers take the first
    /// few tids), whatever order tasks come and go in.
    #[test]
    fn members_are_a_sorted_set() {
        let mut m = Members::default();
        let mut model = BTreeSet::new();
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let tid = (x >> 16) % 64;
            if x & 1 == 0 {
                assert_eq!(m.insert(tid), model.insert(tid));
            } else {
                assert_eq!(m.remove(&tid), model.remove(&tid));
            }
            assert!(m.iter().copied().eq(model.iter().copied()));
            assert_eq!((m.len(), m.is_empty()), (model.len(), model.is_empty()));
        }
        for tid in model.clone() {
            assert!(m.remove(&tid));
        }
        assert!(
            m.is_empty() && m.0.capacity() == 0,
            "an emptied set keeps no memory"
        );
    }

    fn mnt(inum: u32, id: u64) -> NsSet {
        one(Ns::Mnt, inum, id)
    }

    /// The verification read's index of mount namespaces in use follows
    /// members coming and going, a creation seen after a task in it, a
    /// namespace the start-up walk found, and pruning.
    #[test]
    fn the_index_of_mount_namespaces_in_use_matches_a_scan() {
        let mut t = NsTable::default();
        let (a, b, c) = (
            mnt(4026532400, 40),
            mnt(4026532401, 41),
            mnt(4026532402, 42),
        );
        let check = |t: &NsTable| assert_eq!(t.mnts_in_use_indexed(), &t.mnts_in_use_scanned());
        t.move_task(10, None, Some(&a), 5);
        t.move_task(11, None, Some(&a), 6);
        check(&t);
        // Its creation comes after a task in it: it moves to that time.
        let ka = t.key(NsKind::Mnt, 4026532400, 40, true);
        t.created(ka, 40, creation(10));
        check(&t);
        assert_eq!(t.mnts_in_use_newest_first().collect::<Vec<_>>(), [(1, ka)]);
        // Found by the start-up walk after a task was put in it: made at 0.
        t.move_task(12, None, Some(&b), 7);
        let kb = t.key(NsKind::Mnt, 4026532401, 41, false);
        t.mark_existing(kb, 41, 7);
        check(&t);
        t.move_task(13, None, Some(&c), 9);
        let kc = t.key(NsKind::Mnt, 4026532402, 42, false);
        let order: Vec<NsKey> = t.mnts_in_use_newest_first().map(|(_, k)| k).collect();
        assert_eq!(order, [kc, ka, kb]);
        // Moving between two, then emptying: out of the index.
        t.move_task(10, Some(&a), Some(&c), 10);
        t.move_task(11, Some(&a), None, 11);
        check(&t);
        assert!(t.mnts_in_use_indexed().iter().all(|(_, k)| *k != ka));
        t.prune(|k, _| *k != ka);
        t.move_task(12, Some(&b), None, 12);
        t.prune(|k, _| *k != kb);
        check(&t);
        assert_eq!(t.mnts_in_use_newest_first().collect::<Vec<_>>(), [(9, kc)]);
    }

    /// A task coming or going moves as slot by slot from or to a set
    /// with no namespace (all inodes 0): through new generations of
    /// reused inodes (kernels without ids), unread slots and pruning.
    #[test]
    fn tasks_coming_and_going_move_as_slot_by_slot() {
        let none = NsSet::default();
        let sets: Vec<NsSet> = (0..6u32)
            .map(|i| {
                let mut s = NsSet::default();
                for slot in 0..tracer_common::NS_COUNT {
                    // Slot 6 is the host's; the others vary by set, some
                    // without ids, some unread (0).
                    s.inum[slot] = match (slot, i) {
                        (6, _) => 900,
                        (_, 5) if slot.is_multiple_of(2) => 0,
                        _ => 1000 + (i % 3) * 10 + slot as u32,
                    };
                    s.id[slot] = if i >= 3 {
                        0
                    } else {
                        u64::from(s.inum[slot]) + 7
                    };
                }
                s
            })
            .collect();
        let (mut fast, mut slow) = (NsTable::default(), NsTable::default());
        for t in [&mut fast, &mut slow] {
            let host = t.key(NsKind::User, 900, 907, false);
            t.host.insert(NsKind::User, host);
        }
        let mut x: u32 = 7;
        let mut inside: Vec<(u32, usize)> = Vec::new();
        for step in 0..3000u64 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let r = x >> 16;
            match r % 7 {
                0..=2 => {
                    let (tid, set) = (r % 50, (r as usize / 7) % sets.len());
                    let a = fast.move_task(tid, None, Some(&sets[set]), step);
                    let b = slow.move_task(tid, Some(&none), Some(&sets[set]), step);
                    assert_eq!(a, b);
                    inside.push((tid, set));
                }
                3..=4 if !inside.is_empty() => {
                    let (tid, set) = inside.swap_remove(r as usize % inside.len());
                    let a = fast.move_task(tid, Some(&sets[set]), None, step);
                    let b = slow.move_task(tid, Some(&sets[set]), Some(&none), step);
                    assert_eq!(a, b);
                }
                5 => {
                    // A creation of a reused inode: a new generation.
                    let inum = 1000 + (r % 3) * 10 + 2;
                    for t in [&mut fast, &mut slow] {
                        let k = t.key(NsKind::Ipc, inum, 0, true);
                        t.created(k, 0, creation(r));
                    }
                }
                _ => {
                    let keep =
                        |k: &NsKey, i: &NsInfo| !i.members.is_empty() || k.inum.is_multiple_of(2);
                    fast.prune(keep);
                    slow.prune(keep);
                }
            }
            assert_eq!(fast.info, slow.info, "step {step}");
        }
        assert!(fast.info.values().any(|i| !i.members.is_empty()));
    }

    fn creation(pid: u32) -> Creation {
        Creation {
            ts_ns: 1,
            pid,
            tid: pid,
            comm: "x".into(),
            syscall: "unshare",
        }
    }
}
