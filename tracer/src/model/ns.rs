//! The namespace table: every namespace the trace met, who created it and
//! which tasks are in it now.
//!
//! A namespace is named by its kind and the kernel's 64-bit `ns_id` where
//! the kernel has one (never reused). Without it, inode numbers are reused
//! once a namespace is freed, so a creation event seen for an inode already
//! in the table starts a new generation: two namespaces that shared an inode
//! never merge.

use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};

// Fx: these maps are keyed by kernel ids on every event; SipHash's
// flooding resistance buys nothing here and cost 6 % of the CPU.
use rustc_hash::FxHashMap as HashMap;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use tracer_common::{NS_COUNT, Ns, NsSet};

use super::pin::Pin;
use super::procs::Comm;

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

/// The namespaces a task's move emptied: most moves empty none, an
/// unshare's way back one, a container's exit a few; inline, no heap.
pub type Emptied = SmallVec<[NsKey; 4]>;

/// Who made a namespace.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Creation {
    pub ts_ns: u64,
    pub pid: u32,
    pub tid: u32,
    pub comm: Comm,
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
    /// How many of the table's sets with tasks it is in: none, it has no
    /// task (tracked for non-host namespaces only).
    sets: u32,
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

    /// Some task is in it.
    pub fn in_use(&self) -> bool {
        self.sets > 0
    }
}

/// Thread ids, ascending, in a sorted vector: a set holds a few tasks (a
/// container's), and every fork and exit inserts or removes one; a vector
/// does that without a tree's nodes, and the first few without the heap
/// (a set made by an unshare often has one task and lives a moment).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Members(SmallVec<[u32; 4]>);

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
    /// The sets tasks are in, each once: a fork into a container's set is
    /// one lookup here and one insert into its members, not one per
    /// namespace of the set.
    sets: Sets,
    /// The set each task is in, as this table last put it there (tasks in
    /// no namespace but the host's are in none).
    tasks: HashMap<u32, SetId>,
}

type SetId = u32;

/// A task's own namespaces as a set's key, in [`OWN_SLOTS`] order (which
/// is [`NsKind`]'s): pid_for_children is no membership.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SetKey {
    inum: [u32; 8],
    id: [u64; 8],
}

/// By the inodes alone, four words: ids tell sets apart only where an
/// inode was reused, and equality still compares them.
impl Hash for SetKey {
    fn hash<H: Hasher>(&self, h: &mut H) {
        for pair in self.inum.chunks_exact(2) {
            h.write_u64(u64::from(pair[0]) | u64::from(pair[1]) << 32);
        }
    }
}

impl SetKey {
    fn of(set: &NsSet) -> SetKey {
        let mut k = SetKey {
            inum: [0; 8],
            id: [0; 8],
        };
        for (i, (slot, _)) in OWN_SLOTS.iter().enumerate() {
            k.inum[i] = set.inum[*slot];
            k.id[i] = set.id[*slot];
        }
        k
    }
}

/// A set of namespaces tasks are in: its non-host namespaces, resolved to
/// keys once, and the tasks in it.
#[derive(Debug)]
struct SetEntry {
    key: SetKey,
    /// Found by its key in [`Sets::index`]; a new generation of an inode
    /// it names takes it out (later tasks with that inode are in the new one).
    indexed: bool,
    keys: SmallVec<[NsKey; 8]>,
    members: Members,
}

/// Interned sets: those with a non-host namespace live while they have
/// tasks; those of host namespaces only (at most 2^8: host or unread per
/// slot) stay, so a host task's fork is one lookup.
#[derive(Debug, Default)]
struct Sets {
    index: HashMap<SetKey, SetId>,
    slab: Vec<SetEntry>,
    free: Vec<SetId>,
}

impl Sets {
    fn add(&mut self, e: SetEntry) -> SetId {
        let key = e.key;
        let id = match self.free.pop() {
            Some(id) => {
                self.slab[id as usize] = e;
                id
            }
            None => {
                self.slab.push(e);
                (self.slab.len() - 1) as SetId
            }
        };
        self.index.insert(key, id);
        id
    }

    /// Set `id` lost its last task: its slot is free for the next.
    fn drop_empty(&mut self, id: SetId) {
        let e = &mut self.slab[id as usize];
        if e.indexed {
            self.index.remove(&e.key);
        }
        e.keys.clear();
        e.members = Members::default();
        self.free.push(id);
    }
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
                let g = *g;
                self.new_generation(kind, inum);
                g
            } else {
                *g
            }
        };
        NsKey { kind, inum, ident }
    }

    /// Inode `inum` of `kind` names a new namespace: sets that resolved it
    /// to the old one keep their tasks but are no longer found by it.
    fn new_generation(&mut self, kind: NsKind, inum: u32) {
        let i = kind as usize;
        let slab = &mut self.sets.slab;
        self.sets.index.retain(|key, id| {
            let named = key.inum[i] == inum && key.id[i] == 0;
            if named {
                slab[*id as usize].indexed = false;
            }
            !named
        });
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
                sets: 0,
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

    /// The tasks in `k` now, ascending (see [`NsTable::members_of`]).
    pub fn members(&self, k: &NsKey) -> Vec<u32> {
        self.members_of(&BTreeSet::from([*k]))
            .remove(k)
            .unwrap_or_default()
    }

    /// The tasks in each of `keys` now, ascending: one scan of the sets,
    /// as only verification reads and stories ask.
    pub fn members_of(&self, keys: &BTreeSet<NsKey>) -> BTreeMap<NsKey, Vec<u32>> {
        let mut tids: BTreeMap<NsKey, Vec<u32>> = BTreeMap::new();
        for e in &self.sets.slab {
            for k in e.keys.iter().filter(|k| keys.contains(k)) {
                tids.entry(*k).or_default().extend(e.members.iter());
            }
        }
        for t in tids.values_mut() {
            t.sort_unstable();
            t.dedup();
        }
        tids
    }

    /// Put thread `tid` in the namespaces of `to` (none: it is gone), out
    /// of those this table last put it in; only non-host namespaces are
    /// tracked. Returns the namespaces that just lost their last task.
    pub fn move_task(&mut self, tid: u32, to: Option<&NsSet>, ts: u64) -> Emptied {
        // Tracked only in a set with a non-host namespace.
        let new = to
            .map(|set| self.intern(set))
            .filter(|n| !self.sets.slab[*n as usize].keys.is_empty());
        let old = match new {
            Some(n) => self.tasks.insert(tid, n),
            None => self.tasks.remove(&tid),
        };
        if new == old {
            return Emptied::new();
        }
        // Into the new set first: a namespace in both never looks empty.
        if let Some(n) = new {
            let e = &mut self.sets.slab[n as usize];
            if e.members.insert(tid) && e.members.len() == 1 {
                for i in 0..e.keys.len() {
                    let e = &self.sets.slab[n as usize];
                    let (k, id) = (e.keys[i], e.key.id[e.keys[i].kind as usize]);
                    self.joined(k, id, ts);
                }
            }
        }
        let mut emptied = Emptied::new();
        if let Some(o) = old {
            let e = &mut self.sets.slab[o as usize];
            if e.members.remove(&tid) && e.members.is_empty() {
                for i in 0..e.keys.len() {
                    let k = self.sets.slab[o as usize].keys[i];
                    self.left(k, ts, &mut emptied);
                }
                self.sets.drop_empty(o);
            }
        }
        emptied
    }

    /// The interned set of `set`'s own namespaces (added if new).
    fn intern(&mut self, set: &NsSet) -> SetId {
        let key = SetKey::of(set);
        if let Some(id) = self.sets.index.get(&key) {
            return *id;
        }
        let mut keys = SmallVec::new();
        for (_, kind) in OWN_SLOTS {
            if let Some(k) = self.key_in(set, kind)
                && !self.is_host(&k)
            {
                keys.push(k);
            }
        }
        self.sets.add(SetEntry {
            key,
            indexed: true,
            keys,
            members: Members::default(),
        })
    }

    /// A set with `k` in it (`id` its slot's ns_id) got its first task,
    /// so `k` has one (not the host's).
    fn joined(&mut self, k: NsKey, id: u64, ts: u64) {
        let info = self.touch(k, ts);
        info.sets += 1;
        if info.sets > 1 {
            return;
        }
        info.id = id;
        info.emptied_ns = None;
        // Entered after we said it was freed: something we could
        // not see held it (an open fd): not freed after all.
        info.freed_ns = None;
        if k.kind == NsKind::Mnt {
            let made = info.made_ns();
            self.mnt_in_use.insert((made, k));
        }
    }

    /// A set with `k` in it lost its last task: noted in `emptied` if `k`
    /// has none left.
    fn left(&mut self, k: NsKey, ts: u64, emptied: &mut Emptied) {
        let Some(info) = self.info.get_mut(&k) else {
            return;
        };
        info.sets = info.sets.saturating_sub(1);
        if info.sets == 0 {
            info.emptied_ns = Some(ts);
            if k.kind == NsKind::Mnt {
                let made = info.made_ns();
                self.mnt_in_use.remove(&(made, k));
            }
            emptied.push(k);
        }
    }
}

/// A task's own namespace slots (not pid_for_children, where its children
/// go), in [`Ns::ALL`] order, with their kinds: the `n`th is kind `n`.
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
const _: () = {
    let mut n = 0;
    while n < OWN_SLOTS.len() {
        assert!(OWN_SLOTS[n].1 as usize == n);
        n += 1;
    }
};

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
            .filter(|(k, i)| k.kind == NsKind::Mnt && i.in_use())
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
        assert!(t.move_task(10, Some(&s), 1).is_empty());
        assert!(t.move_task(11, Some(&s), 2).is_empty());
        assert!(t.move_task(10, None, 3).is_empty());
        let emptied = t.move_task(11, None, 4);
        assert_eq!(emptied.len(), 1);
        assert_eq!(t.info[&emptied[0]].emptied_ns, Some(4));
    }

    #[test]
    fn host_namespaces_are_not_tracked() {
        let mut t = NsTable::default();
        let s = set(4026531833, 3);
        let host = t.key(NsKind::Net, 4026531833, 3, false);
        t.host.insert(NsKind::Net, host);
        t.move_task(10, Some(&s), 1);
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
        assert!(m.is_empty());
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
        t.move_task(10, Some(&a), 5);
        t.move_task(11, Some(&a), 6);
        check(&t);
        // Its creation comes after a task in it: it moves to that time.
        let ka = t.key(NsKind::Mnt, 4026532400, 40, true);
        t.created(ka, 40, creation(10));
        check(&t);
        assert_eq!(t.mnts_in_use_newest_first().collect::<Vec<_>>(), [(1, ka)]);
        // Found by the start-up walk after a task was put in it: made at 0.
        t.move_task(12, Some(&b), 7);
        let kb = t.key(NsKind::Mnt, 4026532401, 41, false);
        t.mark_existing(kb, 41, 7);
        check(&t);
        t.move_task(13, Some(&c), 9);
        let kc = t.key(NsKind::Mnt, 4026532402, 42, false);
        let order: Vec<NsKey> = t.mnts_in_use_newest_first().map(|(_, k)| k).collect();
        assert_eq!(order, [kc, ka, kb]);
        // Moving between two, then emptying: out of the index.
        t.move_task(10, Some(&c), 10);
        t.move_task(11, None, 11);
        check(&t);
        assert!(t.mnts_in_use_indexed().iter().all(|(_, k)| *k != ka));
        t.prune(|k, _| *k != ka);
        t.move_task(12, None, 12);
        t.prune(|k, _| *k != kb);
        check(&t);
        assert_eq!(t.mnts_in_use_newest_first().collect::<Vec<_>>(), [(9, kc)]);
    }

    /// The interned sets give every namespace the tasks, and report the
    /// emptyings, that a slot-by-slot reference does: tasks coming, going
    /// and moving between sets that share namespaces, new generations of
    /// reused inodes (kernels without ids) with tasks still in the old
    /// one, unread slots, a host namespace, and pruning. Once every task
    /// is gone, only sets of host namespaces are left.
    #[test]
    fn interned_sets_track_tasks_as_slot_by_slot() {
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
        let mut t = NsTable::default();
        let host = t.key(NsKind::User, 900, 907, false);
        t.host.insert(NsKind::User, host);
        // The reference: each task's namespaces, resolved as it entered them.
        let mut inside: BTreeMap<u32, Vec<NsKey>> = BTreeMap::new();
        let by_ns = |inside: &BTreeMap<u32, Vec<NsKey>>| {
            let mut m: BTreeMap<NsKey, Vec<u32>> = BTreeMap::new();
            for (tid, keys) in inside {
                for k in keys {
                    m.entry(*k).or_default().push(*tid);
                }
            }
            m
        };
        let (mut x, mut old_generation_in_use) = (7u32, false);
        for step in 0..4000u64 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            let r = x >> 16;
            let before = by_ns(&inside);
            let emptied = match r % 8 {
                0..=3 => {
                    let (tid, set) = (r % 40, (r as usize / 8) % sets.len());
                    let keys: Vec<NsKey> = OWN_SLOTS
                        .iter()
                        .filter(|(slot, _)| sets[set].inum[*slot] != 0)
                        .map(|(slot, kind)| {
                            t.key(*kind, sets[set].inum[*slot], sets[set].id[*slot], false)
                        })
                        .collect::<Vec<_>>()
                        .into_iter()
                        .filter(|k| !t.is_host(k))
                        .collect();
                    inside.insert(tid, keys);
                    t.move_task(tid, Some(&sets[set]), step)
                }
                4..=5 => {
                    let tid = r % 40;
                    inside.remove(&tid);
                    t.move_task(tid, None, step)
                }
                6 => {
                    // A creation of a reused inode: a new generation.
                    let inum = 1000 + (r % 3) * 10 + 2;
                    let k = t.key(NsKind::Ipc, inum, 0, true);
                    old_generation_in_use |= before.keys().any(|o| o.inum == inum && o != &k);
                    t.created(k, 0, creation(r));
                    Emptied::new()
                }
                _ => {
                    t.prune(|k, i| i.in_use() || k.inum.is_multiple_of(2));
                    Emptied::new()
                }
            };
            let after = by_ns(&inside);
            let mut want: Vec<NsKey> = before
                .keys()
                .filter(|k| !after.contains_key(k))
                .copied()
                .collect();
            let mut got = emptied.to_vec();
            want.sort();
            got.sort();
            assert_eq!(got, want, "step {step}: emptied");
            for k in &emptied {
                assert_eq!(t.info[k].emptied_ns, Some(step));
            }
            for (k, info) in &t.info {
                let tids = after.get(k).cloned().unwrap_or_default();
                assert_eq!(t.members(k), tids, "step {step}: {k:?}");
                assert_eq!(info.in_use(), !tids.is_empty());
            }
            assert!(after.keys().all(|k| t.info.contains_key(k)));
            let every: BTreeSet<NsKey> = t.info.keys().copied().collect();
            assert_eq!(t.members_of(&every), after, "step {step}: in one scan");
            assert_eq!(t.mnts_in_use_indexed(), &t.mnts_in_use_scanned());
        }
        assert!(
            old_generation_in_use,
            "a new generation met tasks in the old one"
        );
        for tid in 0..40 {
            t.move_task(tid, None, 5000);
        }
        assert!(t.info.values().all(|i| !i.in_use()) && t.tasks.is_empty());
        assert!(
            t.sets
                .index
                .values()
                .all(|id| t.sets.slab[*id as usize].keys.is_empty()),
            "only sets of host namespaces stay"
        );
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
