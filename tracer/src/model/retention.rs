//! Bounded state: ended sandboxes and idle namespaces are folded into a
//! summary once they are older than the retention.

use std::collections::BTreeSet;

use super::ns::{NsInfo, NsKey};
use super::{IDLE_NS_CAP, Model};

impl Model {
    /// Fold sandboxes that ended longer than the retention ago into the
    /// summary, and forget namespaces idle as long outside any sandbox.
    pub fn maintain(&mut self, now: u64) {
        let cutoff = now.saturating_sub(self.retention_ns);
        let old: BTreeSet<usize> = self
            .sandboxes
            .values()
            .filter(|s| s.ended_ns.is_some_and(|e| e < cutoff))
            .map(|s| s.id)
            .collect();
        if !old.is_empty() {
            self.summarise(&old);
        }
        // Processes with no role whose main thread is in the host's
        // namespaces: their exit may never arrive (the in-kernel filter).
        let threads = &self.threads;
        self.procs.retain(|pid, p| {
            p.pause_of.is_some()
                || p.container.is_some()
                || p.exec_into.is_some()
                || threads.contains_key(pid)
        });
        let pinned = &self.pinned;
        let idle_since = |k: &NsKey, info: &NsInfo| {
            (!info.in_use() && info.sandbox.is_none() && !pinned.contains(k))
                .then(|| info.emptied_ns.unwrap_or(info.first_seen_ns))
        };
        // One pass over the namespaces: the idle ones, since when.
        let mut idle: Vec<(u64, NsKey)> = self
            .ns
            .info
            .iter()
            .filter_map(|(k, i)| Some((idle_since(k, i)?, *k)))
            .collect();
        // Keep idle namespaces newer than the cutoff, and at most the newest IDLE_NS_CAP.
        let mut keep_after = cutoff;
        if idle.len() > IDLE_NS_CAP {
            let nth = idle.len() - IDLE_NS_CAP;
            keep_after = keep_after.max(idle.select_nth_unstable_by_key(nth, |i| i.0).1.0);
        }
        idle.retain(|&(t, _)| t < keep_after);
        self.ns.forget(idle.iter().map(|&(_, k)| k));
        let known = &self.ns.info;
        self.visits.prune_pending(|k| known.contains_key(k));
        let threads = &self.threads;
        self.visits
            .prune_open(now, cutoff, |tid| threads.contains_key(&tid));
    }

    /// Fold these sandboxes into the summary and drop every reference to them.
    fn summarise(&mut self, old: &BTreeSet<usize>) {
        let mut gone_containers = BTreeSet::new();
        for &sb in old {
            let d = self.durations(sb);
            let Some(s) = self.sandboxes.remove(sb) else {
                continue;
            };
            let sum = &mut self.summary;
            sum.sandboxes += 1;
            for (stat, v) in [
                (&mut sum.namespaces_to_pause, d.namespaces_to_pause_ns),
                (&mut sum.pause_to_first_join, d.pause_to_first_join_ns),
                (&mut sum.lifetime, d.lifetime_ns),
            ] {
                if let Some(v) = v {
                    stat.add(v);
                }
            }
            // Its namespaces are no longer held by it (unless a later sandbox took them).
            for k in s.ns.values() {
                if let Some(info) = self.ns.info.get_mut(k)
                    && info.sandbox == Some(sb)
                {
                    info.sandbox = None;
                }
            }
            let sandbox_runtime = s.cgroup.as_ref().and_then(|g| g.runtime);
            for &c in &s.containers {
                if let Some(c) = self.containers.remove(c) {
                    sum.containers += 1;
                    sum.exec_sessions += c.execs.len() as u64;
                    let rt = c.cgroup.as_ref().and_then(|g| g.runtime);
                    let partial = super::runtime::partial(rt.or(sandbox_runtime), &c.missing);
                    sum.partial_joins += u64::from(!partial.is_empty());
                    gone_containers.insert(c.id);
                }
            }
        }
        // Nothing may hold the removed ids (one pass over each index).
        self.summary.visits += self.visits.forget_sandboxes(old);
        self.leak_watch.retain(|sb| !old.contains(sb));
        let gone = |c: &mut Option<usize>, set: &BTreeSet<usize>| {
            if c.is_some_and(|c| set.contains(&c)) {
                *c = None;
            }
        };
        for p in self.procs.values_mut() {
            gone(&mut p.pause_of, old);
            gone(&mut p.container, &gone_containers);
            gone(&mut p.exec_into, &gone_containers);
        }
        for j in self.joins.values_mut() {
            gone(&mut j.sandbox, old);
        }
    }
}
