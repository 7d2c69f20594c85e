//! Id-keyed storage for sandboxes and containers, whose old entries are
//! removed (summarised) while ids stay stable; and the summary they fold into.

use std::ops::{Index, IndexMut};

// Fx: looked up by id on most events; ids are ours, not an attacker's.
use rustc_hash::FxHashMap as HashMap;
use serde::Serialize;

/// Items by id, in id order. Ids are never reused.
///
/// Looked up by id (a hash map: a tree's search cost more than the rest of
/// most events), iterated in id order (ids are given in ascending order, so
/// `order` stays sorted; removed ids leave it lazily, in one pass once they
/// are as many as the items left).
#[derive(Debug)]
pub struct Table<T> {
    items: HashMap<usize, Box<T>>,
    /// Ids in ascending order: every item's, and some removed ones.
    order: Vec<usize>,
    next: usize,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            items: HashMap::default(),
            order: Vec::new(),
            next: 0,
        }
    }
}

/// Removed ids kept in `order` at most, besides as many as there are items.
const STALE_IDS: usize = 64;

impl<T> Table<T> {
    /// The id the next [`Table::push`] will give.
    pub fn next_id(&self) -> usize {
        self.next
    }

    /// Add the item `make(id)` makes; returns its id.
    pub fn push(&mut self, make: impl FnOnce(usize) -> T) -> usize {
        let id = self.next;
        self.next += 1;
        self.items.insert(id, Box::new(make(id)));
        self.order.push(id);
        id
    }

    pub fn get(&self, id: usize) -> Option<&T> {
        self.items.get(&id).map(|t| &**t)
    }

    pub fn remove(&mut self, id: usize) -> Option<T> {
        let t = self.items.remove(&id)?;
        if self.order.len() > 2 * self.items.len() + STALE_IDS {
            let items = &self.items;
            self.order.retain(|id| items.contains_key(id));
        }
        Some(*t)
    }

    pub fn ids(&self) -> impl Iterator<Item = usize> + '_ {
        self.order
            .iter()
            .copied()
            .filter(|id| self.items.contains_key(id))
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.order
            .iter()
            .filter_map(|id| self.items.get(id).map(|t| &**t))
    }

    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Ids held anywhere in the model are removed together with their item
/// (see `Model::summarise`), so indexing a held id always finds it.
impl<T> Index<usize> for Table<T> {
    type Output = T;
    fn index(&self, id: usize) -> &T {
        match self.items.get(&id) {
            Some(t) => t,
            None => panic!("model invariant broken: no item {id}"),
        }
    }
}

impl<T> IndexMut<usize> for Table<T> {
    fn index_mut(&mut self, id: usize) -> &mut T {
        match self.items.get_mut(&id) {
            Some(t) => t,
            None => panic!("model invariant broken: no item {id}"),
        }
    }
}

/// Count, min, mean and max of a duration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DurStat {
    pub count: u64,
    pub min_ns: u64,
    pub max_ns: u64,
    pub total_ns: u64,
}

impl DurStat {
    pub fn add(&mut self, ns: u64) {
        self.min_ns = if self.count == 0 {
            ns
        } else {
            self.min_ns.min(ns)
        };
        self.max_ns = self.max_ns.max(ns);
        self.total_ns = self.total_ns.saturating_add(ns);
        self.count += 1;
    }

    pub fn mean_ns(&self) -> Option<u64> {
        (self.count > 0).then(|| self.total_ns / self.count)
    }
}

/// What is left of sandboxes that ended longer ago than the retention.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    pub sandboxes: u64,
    pub containers: u64,
    pub exec_sessions: u64,
    pub partial_joins: u64,
    /// Visits of their namespaces by tasks that were no container (CNI plugins, nsenter, …).
    pub visits: u64,
    pub namespaces_to_pause: DurStat,
    pub pause_to_first_join: DurStat,
    pub lifetime: DurStat,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stay_stable_across_removals() {
        let mut t = Table::default();
        let a = t.push(|id| id * 10);
        let b = t.push(|id| id * 10);
        assert_eq!(t.remove(a), Some(0));
        let c = t.push(|id| id * 10);
        assert_eq!((b, c), (1, 2));
        assert_eq!(t[b], 10);
        assert_eq!(t.ids().collect::<Vec<_>>(), [1, 2]);
    }

    /// Ids and values stay in id order, whatever is removed when, and
    /// removed ids do not pile up.
    #[test]
    fn order_holds_through_removals() {
        let mut t = Table::default();
        let mut model = std::collections::BTreeMap::new();
        let mut x: u32 = 99;
        for _ in 0..5000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
            if x.is_multiple_of(3) || model.is_empty() {
                let id = t.push(|id| id + 7);
                model.insert(id, id + 7);
            } else {
                // Mostly old ones, as the retention removes them.
                let ids: Vec<usize> = model.keys().copied().collect();
                let oldest = if x.is_multiple_of(5) { ids.len() } else { 4 };
                let id = ids[(x as usize >> 8) % ids.len().min(oldest)];
                assert_eq!(t.remove(id), model.remove(&id));
                assert_eq!(t.remove(id), None);
            }
            assert!(t.ids().eq(model.keys().copied()));
            assert!(t.values().eq(model.values()));
            assert!(t.order.len() <= 2 * t.len() + STALE_IDS + 1);
        }
        for (id, v) in &model {
            assert_eq!((t[*id], t.get(*id)), (*v, Some(v)));
        }
    }

    #[test]
    fn durations_fold() {
        let mut d = DurStat::default();
        assert_eq!(d.mean_ns(), None);
        for ns in [30, 10, 20] {
            d.add(ns);
        }
        assert_eq!(
            (d.count, d.min_ns, d.max_ns, d.mean_ns()),
            (3, 10, 30, Some(20))
        );
    }
}
