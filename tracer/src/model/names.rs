//! Who sandboxes and containers are in Kubernetes' words: the identities a
//! runtime told us (notes from CRI, Docker or a bundle's labels), kept by
//! runtime id and found through the cgroup's container id.

use std::collections::VecDeque;

use super::{HashMap, Identity, IdentityRole, Model};

/// Identities kept at most (the oldest go first): a node's churn of
/// short-lived pods cannot grow memory.
const NAMES_CAP: usize = 16384;

/// Identities by runtime id, merged across sources and answers.
#[derive(Debug, Default)]
pub struct Names {
    by_id: HashMap<String, Identity>,
    /// Ids in the order they were first told, for the cap.
    order: VecDeque<String>,
}

impl Names {
    /// Take what a source said about an id: its fields override what was
    /// known, the fields it leaves out keep theirs (a bundle's labels name
    /// the pod at once, CRI adds the attempt and the runtime's version).
    pub fn add(&mut self, new: &Identity) {
        if new.id.is_empty() {
            return;
        }
        if let Some(old) = self.by_id.get_mut(&new.id) {
            merge(old, new);
            return;
        }
        if self.order.len() >= NAMES_CAP
            && let Some(oldest) = self.order.pop_front()
        {
            self.by_id.remove(&oldest);
        }
        self.order.push_back(new.id.clone());
        self.by_id.insert(new.id.clone(), new.clone());
    }

    pub fn get(&self, id: &str) -> Option<&Identity> {
        self.by_id.get(id)
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

/// `old` with every field `new` has; the source names both where they differ.
fn merge(old: &mut Identity, new: &Identity) {
    fn take<T: Clone>(old: &mut Option<T>, new: &Option<T>) {
        if new.is_some() {
            old.clone_from(new);
        }
    }
    old.role = new.role;
    take(&mut old.sandbox_id, &new.sandbox_id);
    take(&mut old.pod_namespace, &new.pod_namespace);
    take(&mut old.pod_name, &new.pod_name);
    take(&mut old.pod_uid, &new.pod_uid);
    take(&mut old.attempt, &new.attempt);
    take(&mut old.container_name, &new.container_name);
    take(&mut old.runtime, &new.runtime);
    if !old.source.split('+').any(|s| s == new.source) {
        old.source = format!("{}+{}", old.source, new.source);
    }
}

/// `namespace/pod`, or the pod's name alone when its namespace is unknown.
pub fn pod_name(i: &Identity) -> Option<String> {
    let name = i.pod_name.as_deref().filter(|n| !n.is_empty())?;
    Some(match i.pod_namespace.as_deref().filter(|n| !n.is_empty()) {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    })
}

impl Model {
    /// What a runtime said about this sandbox: by the pause's container id,
    /// else through one of its containers (their sandbox id, their pod).
    pub fn sandbox_identity(&self, sb: usize) -> Option<Identity> {
        let s = self.sandboxes.get(sb)?;
        let own = s
            .cgroup
            .as_ref()
            .and_then(|c| c.container_id.as_deref())
            .and_then(|id| self.names.get(id));
        if let Some(i) = own {
            return Some(i.clone());
        }
        let of_container = s
            .containers
            .iter()
            .filter_map(|&c| self.container_identity(c))
            .find(|i| i.pod_name.is_some() || i.sandbox_id.is_some())?;
        if let Some(i) = of_container
            .sandbox_id
            .as_deref()
            .and_then(|id| self.names.get(id))
        {
            return Some(i.clone());
        }
        Some(Identity {
            id: of_container.sandbox_id.clone().unwrap_or_default(),
            role: IdentityRole::Sandbox,
            sandbox_id: None,
            container_name: None,
            attempt: None,
            ..of_container.clone()
        })
    }

    /// What a runtime said about this container, by its cgroup's container id.
    pub fn container_identity(&self, c: usize) -> Option<&Identity> {
        let id = self
            .containers
            .get(c)?
            .cgroup
            .as_ref()?
            .container_id
            .as_deref()?;
        self.names.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ident(id: &str, source: &str) -> Identity {
        Identity {
            id: id.into(),
            source: source.into(),
            ..Identity::default()
        }
    }

    #[test]
    fn a_later_source_fills_and_overrides_but_never_erases() {
        let mut n = Names::default();
        n.add(&Identity {
            pod_namespace: Some("acc-ns".into()),
            pod_name: Some("acc-pod".into()),
            runtime: Some("containerd".into()),
            ..ident("abc", "bundle")
        });
        n.add(&Identity {
            attempt: Some(1),
            runtime: Some("containerd 1.6.20".into()),
            ..ident("abc", "cri")
        });
        n.add(&Identity {
            attempt: Some(1),
            ..ident("abc", "cri")
        });
        let i = n.get("abc").expect("kept");
        assert_eq!(pod_name(i).as_deref(), Some("acc-ns/acc-pod"));
        assert_eq!(i.attempt, Some(1));
        assert_eq!(i.runtime.as_deref(), Some("containerd 1.6.20"));
        assert_eq!(i.source, "bundle+cri");
        assert_eq!(n.len(), 1);
    }

    #[test]
    fn the_oldest_go_first_past_the_cap_and_empty_ids_never_enter() {
        let mut n = Names::default();
        n.add(&ident("", "cri"));
        assert!(n.is_empty());
        for i in 0..NAMES_CAP + 2 {
            n.add(&ident(&format!("id{i}"), "cri"));
        }
        assert_eq!(n.len(), NAMES_CAP);
        assert!(n.get("id0").is_none() && n.get("id1").is_none());
        assert!(n.get(&format!("id{}", NAMES_CAP + 1)).is_some());
    }

    #[test]
    fn a_pod_without_namespace_is_named_alone_and_none_without_name() {
        let mut i = ident("x", "bundle");
        assert_eq!(pod_name(&i), None);
        i.pod_name = Some("web".into());
        assert_eq!(pod_name(&i).as_deref(), Some("web"));
        i.pod_namespace = Some(String::new());
        assert_eq!(pod_name(&i).as_deref(), Some("web"));
    }
}
