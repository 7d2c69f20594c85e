//! What the model answers about a sandbox: when its namespaces were made,
//! the durations that matter, its namespaces with what is known of each.

use super::ns::NsInfo;
use super::{Durations, Lifecycle, Model, NsKind, SandboxNs, What};

impl Model {
    /// When the sandbox's first namespace was made, as far as the trace saw.
    pub fn first_creation(&self, sb: usize) -> Option<u64> {
        self.sandboxes[sb]
            .ns
            .values()
            .filter_map(|k| self.ns.info.get(k)?.created.as_ref().map(|c| c.ts_ns))
            .min()
    }

    /// The durations that matter for a sandbox's start-up and life.
    pub fn durations(&self, sb: usize) -> Durations {
        let s = &self.sandboxes[sb];
        let since = |later: Option<u64>, earlier: Option<u64>| later?.checked_sub(earlier?);
        let created = self.first_creation(sb);
        let pause = s.pause.as_ref().and_then(|p| p.started_ns);
        let first_join = s
            .containers
            .iter()
            .filter_map(|&c| self.containers[c].joined_ns)
            .min();
        Durations {
            namespaces_to_pause_ns: since(pause, created),
            pause_to_first_join_ns: since(first_join, pause),
            namespaces_to_first_join_ns: since(first_join, created),
            lifetime_ns: since(s.ended_ns, created.or(pause)),
            ..self.cni_durations(sb)
        }
    }

    /// What the table knows of a sandbox's namespace of this kind.
    pub fn sandbox_ns(&self, sb: usize, kind: NsKind) -> Option<&NsInfo> {
        let k = self.sandboxes.get(sb)?.ns.get(&kind)?;
        self.ns.info.get(k).map(|i| &**i)
    }

    /// The namespaces of a sandbox with what the table knows of each.
    pub fn sandbox_namespaces(&self, sb: usize) -> Vec<SandboxNs> {
        self.sandboxes[sb]
            .ns
            .values()
            .map(|k| {
                let info = self.ns.info.get(k);
                SandboxNs {
                    kind: k.kind,
                    inum: k.inum,
                    id: info.map(|i| i.id).unwrap_or(0),
                    created: info.and_then(|i| i.created.clone()),
                    existing: info.is_some_and(|i| i.existing),
                    emptied_ns: info.and_then(|i| i.emptied_ns),
                    pinned_by: info.map(|i| i.pinned_by()).unwrap_or_default(),
                    pins: info.map(|i| i.pins.clone()).unwrap_or_default(),
                    freed_ns: info.and_then(|i| i.freed_ns),
                }
            })
            .collect()
    }

    /// One step per sandbox that ran before the trace (the start-up walk's).
    pub fn running_at_start(&self) -> Vec<Lifecycle> {
        self.sandboxes
            .values()
            .filter(|s| s.existing && s.ended_ns.is_none())
            .map(|s| Lifecycle::new(self.start_ns, s.id, What::SandboxRunning))
            .collect()
    }
}
