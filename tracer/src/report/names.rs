//! How the report names sandboxes and containers.

use crate::model::{Container, Model, NsKind};

/// The first 12 characters of an id, as runtimes abbreviate them. Ids
/// come from cgroup paths (live or in a recording): any text, any length.
pub fn short(id: &str) -> &str {
    match id.char_indices().nth(12) {
        Some((end, _)) => &id[..end],
        None => id,
    }
}

/// `#1 pod d69444909b3b`, or `#1 net 4026532301` when no pod id is known.
pub fn label(m: &Model, sb: usize) -> String {
    let Some(s) = m.sandboxes.get(sb) else {
        return format!("#{}", sb + 1);
    };
    if let Some(pod) = s.cgroup.as_ref().and_then(|c| c.pod_uid.as_deref()) {
        return format!("#{} pod {}", sb + 1, short(pod));
    }
    let namespaces = m.sandbox_namespaces(sb);
    let anchor = namespaces
        .iter()
        .find(|n| n.kind == NsKind::Net)
        .or(namespaces.first());
    match anchor {
        Some(n) => format!("#{} {} {}", sb + 1, n.kind.name(), n.inum),
        None => format!("#{}", sb + 1),
    }
}

/// A container's name: its runtime id where the cgroup gave one, else `c<n>`.
pub fn container_name(c: &Container) -> String {
    match c.cgroup.as_ref().and_then(|g| g.container_id.as_deref()) {
        Some(id) => short(id).to_string(),
        None => format!("c{}", c.id + 1),
    }
}

/// `net,ipc,uts`.
pub fn kinds(k: &[NsKind]) -> String {
    k.iter().map(|k| k.name()).collect::<Vec<_>>().join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_of_any_length_and_alphabet_never_panic() {
        assert_eq!(short("0123456789abcdef"), "0123456789ab");
        assert_eq!(short("abc"), "abc");
        assert_eq!(short(""), "");
        // Byte 12 falls inside `é`: slicing bytes would panic here.
        assert_eq!(short("0123456789aébc"), "0123456789aé");
        assert_eq!(short("ünïcödé-ïdéntïfïér"), "ünïcödé-ïdén");
    }
}
