//! CNI phases: which visitors are CNI plugins, whether each ran ADD or
//! DEL, and how long each phase of a sandbox's start and stop took.
//!
//! The plugin's own word is its `CNI_COMMAND`, read from
//! `/proc/<pid>/environ` when its setns is processed (live; recorded as a
//! note). Plugins live a few milliseconds, so a setns into a netns wakes
//! the reader at once instead of at its drain tick (measured on
//! containerd 1.6 with bridge + loopback: all 5 plugin visits of a pod
//! read this way; without the wakeup, none). Should the read still come
//! too late, the phase is told by time: a plugin that entered before the
//! sandbox began to stop (its pause's exit, or without a pause its last
//! container's) ran ADD, one after it ran DEL. Which of the two said so
//! is kept (`from`).

use serde::Serialize;

use super::{Durations, Model, Visit};

/// Plugin binaries of containernetworking/plugins and the common
/// third-party ones (a process's comm is its binary's name, 15 bytes).
const PLUGINS: &[&str] = &[
    "bridge",
    "loopback",
    "ptp",
    "macvlan",
    "ipvlan",
    "host-device",
    "vlan",
    "tap",
    "dummy",
    "vrf",
    "portmap",
    "bandwidth",
    "firewall",
    "tuning",
    "sbr",
    "host-local",
    "dhcp",
    "static",
    "calico",
    "calico-ipam",
    "cilium-cni",
    "flannel",
    "weave-net",
    "aws-cni",
    "egress-cni",
    "azure-vnet",
    "multus",
    "multus-shim",
    "kube-ovn",
    "antrea-cni",
    "ovn-k8s-cni-ove",
    "istio-cni",
    "bond",
    "ovs",
    "sriov",
];

/// Is this command a CNI plugin's (by its comm or its argv[0])?
pub fn is_plugin(comm: &str, argv: &[String]) -> bool {
    let arg0 = argv
        .first()
        .map(|a| a.rsplit('/').next().unwrap_or(a))
        .unwrap_or("");
    PLUGINS.contains(&comm) || PLUGINS.contains(&arg0)
}

/// What a CNI plugin's visit did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CniPhase {
    /// `ADD`, `DEL` (or `CHECK`, `GC`, … when the environment said so).
    pub command: String,
    /// `environ`: its CNI_COMMAND, read live; `time`: told by when it
    /// entered against the sandbox's stop.
    pub from: &'static str,
}

impl Model {
    /// When the sandbox began to stop: its pause's exit; without a pause,
    /// its last container's leaving once all have left.
    pub fn stop_began(&self, sb: usize) -> Option<u64> {
        let s = self.sandboxes.get(sb)?;
        if let Some(p) = &s.pause {
            return p.exited_ns;
        }
        let left: Option<Vec<u64>> = s
            .containers
            .iter()
            .map(|&c| self.containers.get(c).and_then(|c| c.left_ns))
            .collect();
        left?.into_iter().max()
    }

    /// The CNI phase of a visit, if it was a CNI plugin's.
    pub fn cni_phase(&self, v: &Visit) -> Option<CniPhase> {
        if let Some(c) = &v.cni_command {
            return Some(CniPhase {
                command: c.clone(),
                from: "environ",
            });
        }
        if !is_plugin(&v.comm, &v.argv) {
            return None;
        }
        let stopping = v
            .sandbox
            .and_then(|sb| self.stop_began(sb))
            .is_some_and(|stop| v.entered_ns >= stop);
        Some(CniPhase {
            command: if stopping { "DEL" } else { "ADD" }.into(),
            from: "time",
        })
    }

    /// The CNI fields of a sandbox's durations (the rest left default).
    pub(super) fn cni_durations(&self, sb: usize) -> Durations {
        let (mut add, mut del) = (Span::default(), Span::default());
        for v in self.visits.of_sandbox(sb) {
            match self.cni_phase(v).map(|p| p.command) {
                Some(c) if c == "ADD" => add.take(v),
                Some(c) if c == "DEL" => del.take(v),
                _ => {}
            }
        }
        let s = &self.sandboxes[sb];
        let pause = s.pause.as_ref().and_then(|p| p.started_ns);
        let since = |later: Option<u64>, earlier: Option<u64>| later?.checked_sub(earlier?);
        let signed = |later: Option<u64>, earlier: Option<u64>| {
            let (l, e) = (i128::from(later?), i128::from(earlier?));
            i64::try_from(l - e).ok()
        };
        Durations {
            namespaces_to_cni_add_ns: since(add.first, self.first_creation(sb)),
            cni_add_ns: add.took(),
            cni_add_to_pause_ns: since(pause, add.last),
            cni_del_ns: del.took(),
            pause_exit_to_cni_del_ns: signed(del.first, self.stop_began(sb)),
            ..Durations::default()
        }
    }
}

/// First entry and last exit of one phase's visits.
#[derive(Default)]
struct Span {
    first: Option<u64>,
    last: Option<u64>,
}

impl Span {
    fn take(&mut self, v: &Visit) {
        self.first = Some(self.first.map_or(v.entered_ns, |f| f.min(v.entered_ns)));
        let end = v.left_ns.unwrap_or(v.entered_ns);
        self.last = Some(self.last.map_or(end, |l| l.max(end)));
    }

    fn took(&self) -> Option<u64> {
        self.last?.checked_sub(self.first?)
    }
}
