//! Where the node is, seen from where the tracer runs. On the node itself:
//! `/proc` and `/`. In a container (the DaemonSet, `kubectl debug node`):
//! `HOST_PROC` names the node's /proc as mounted there (`/host/proc`), and
//! `HOST_ROOT` the node's root filesystem (`/host`): mount points seen
//! under it are the node's paths with that prefix, which the report drops.
//!
//! Paths about the tracer itself (`/proc/self`, `/proc/thread-self`) stay
//! as they are: they name the tracer wherever it runs.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn env_dir(var: &str, default: &str) -> PathBuf {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => PathBuf::from(default),
    }
}

/// The node's /proc: `$HOST_PROC`, else `/proc`.
pub fn proc_root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| env_dir("HOST_PROC", "/proc"))
}

/// `rel` (`1`, `42/cgroup`) under the node's /proc.
pub fn proc_path(rel: impl AsRef<Path>) -> PathBuf {
    proc_root().join(rel)
}

/// The node's root filesystem: `$HOST_ROOT`, else `/`.
pub fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| env_dir("HOST_ROOT", "/"))
}

/// A mount point as the node names it: `seen` without the [`root`] prefix.
pub fn node_path(seen: &str) -> String {
    strip_root(root(), seen)
}

fn strip_root(root: &Path, seen: &str) -> String {
    let Some(prefix) = root.to_str().map(|r| r.trim_end_matches('/')) else {
        return seen.to_string();
    };
    if prefix.is_empty() {
        return seen.to_string();
    }
    match seen.strip_prefix(prefix) {
        Some(rest) if rest.starts_with('/') => rest.to_string(),
        Some("") => "/".to_string(),
        _ => seen.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_under_the_host_root_are_the_nodes_paths() {
        let host = Path::new("/host");
        assert_eq!(
            strip_root(host, "/host/run/netns/cni-1"),
            "/run/netns/cni-1"
        );
        assert_eq!(strip_root(Path::new("/host/"), "/host/run/x"), "/run/x");
        assert_eq!(strip_root(host, "/host"), "/");
        // Not under it: as seen (mounted at the node's own path).
        assert_eq!(strip_root(host, "/run/netns/cni-1"), "/run/netns/cni-1");
        assert_eq!(strip_root(host, "/hostile/x"), "/hostile/x");
        assert_eq!(strip_root(Path::new("/"), "/run/x"), "/run/x");
    }

    #[test]
    fn on_the_node_proc_is_proc() {
        // The tests run on the node, without HOST_PROC.
        if std::env::var_os("HOST_PROC").is_none() {
            assert_eq!(proc_path("1/cgroup"), Path::new("/proc/1/cgroup"));
        }
    }
}
