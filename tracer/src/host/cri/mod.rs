//! Pod names from the container runtime itself, over CRI (the API the
//! kubelet drives it with), without the API server: `namespace/pod`, the
//! pod's uid and sandbox attempt, container names, the runtime's name and
//! version. Asked beside the event loop ([`resolver`]), every call bounded
//! in time ([`client`]), the answers mapped by pure functions ([`map`]).

pub mod client;
pub mod map;
pub mod resolver;

use std::path::{Path, PathBuf};

pub use resolver::{ANSWERS, Ask, say_no_names, spawn};

/// Where CRI runtimes listen, in the order they are tried: containerd,
/// CRI-O, k3s' containerd, cri-dockerd.
pub const DEFAULT_SOCKETS: [&str; 4] = [
    "/run/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/run/k3s/containerd/containerd.sock",
    "/run/cri-dockerd.sock",
];

/// The socket to ask: the one given, else the first default that exists;
/// `Err` says why there is none.
pub fn choose(given: Option<&Path>) -> Result<PathBuf, String> {
    choose_among(given, &DEFAULT_SOCKETS, |p| p.exists())
}

fn choose_among(
    given: Option<&Path>,
    defaults: &[&str],
    exists: impl Fn(&Path) -> bool,
) -> Result<PathBuf, String> {
    if let Some(p) = given {
        return Ok(p.to_path_buf());
    }
    defaults
        .iter()
        .map(PathBuf::from)
        .find(|p| exists(p))
        .ok_or_else(|| format!("none of {} exists", defaults.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_given_socket_wins_else_the_first_default_that_exists() {
        let given = Path::new("/tmp/x.sock");
        assert_eq!(
            choose_among(Some(given), &DEFAULT_SOCKETS, |_| false),
            Ok(given.to_path_buf())
        );
        assert_eq!(
            choose_among(None, &DEFAULT_SOCKETS, |p| p.starts_with("/run/k3s")
                || p.starts_with("/run/cri-dockerd.sock")),
            Ok(PathBuf::from("/run/k3s/containerd/containerd.sock"))
        );
        let none = choose_among(None, &DEFAULT_SOCKETS, |_| false).unwrap_err();
        assert!(none.contains("/run/crio/crio.sock"), "{none}");
    }
}
