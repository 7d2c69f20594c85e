//! Id-keyed storage for sandboxes and containers, whose old entries are
//! removed (summarised) while ids stay stable; and the summary they fold into.

use std::collections::BTreeMap;
use std::ops::{Index, IndexMut};

use serde::Serialize;

/// Items by id, in id order. Ids are never reused.
#[derive(Debug)]
pub struct Table<T> {
    items: BTreeMap<usize, T>,
    next: usize,
}

impl<T> Default for Table<T> {
    fn default() -> Self {
        Self {
            items: BTreeMap::new(),
            next: 0,
        }
    }
}

impl<T> Table<T> {
    /// The id the next [`Table::push`] will give.
    pub fn next_id(&self) -> usize {
        self.next
    }

    /// Add the item `make(id)` makes; returns its id.
    pub fn push(&mut self, make: impl FnOnce(usize) -> T) -> usize {
        let id = self.next;
        self.next += 1;
        self.items.insert(id, make(id));
        id
    }

    pub fn get(&self, id: usize) -> Option<&T> {
        self.items.get(&id)
    }

    pub fn remove(&mut self, id: usize) -> Option<T> {
        self.items.remove(&id)
    }

    pub fn ids(&self) -> impl Iterator<Item = usize> + '_ {
        self.items.keys().copied()
    }

    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.items.values()
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
