//! Pins: the bind mounts of nsfs files that keep a namespace alive without
//! a task in it (`/run/netns/cni-…`, CRI-O's `/var/run/netns/<uuid>`), and
//! the words for who holds a sandbox. Each namespace keeps its pins over
//! time in its [`super::ns::NsInfo`]: where (path, mount namespace), who
//! made one and when, who removed it and how.

use serde::{Serialize, Serializer};

use super::Task;
use super::ns::{NsInfo, NsKey};

/// Who made or removed a pin, and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PinAct {
    pub ts_ns: u64,
    pub pid: u32,
    pub comm: String,
}

/// How a pin went away.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gone {
    /// `umount2` of its path in its mount namespace.
    Umount,
    /// Its mount namespace lost its last task (and with it, its mounts).
    MntNsGone,
    /// Gone from its mount namespace without an unmount we saw (unlinking
    /// the pin file detaches its copies; a propagated unmount): found by
    /// reading that mount namespace's mountinfo.
    Vanished,
}

impl Gone {
    pub fn name(self) -> &'static str {
        match self {
            Gone::Umount => "umount",
            Gone::MntNsGone => "mount namespace gone",
            Gone::Vanished => "vanished",
        }
    }
}

/// A pin's end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PinGone {
    pub ts_ns: u64,
    /// Who unmounted it (or, for [`Gone::MntNsGone`], the last task of its
    /// mount namespace); `None` when nobody did it visibly.
    pub pid: Option<u32>,
    pub comm: Option<String>,
    pub how: Gone,
}

/// One bind mount of a namespace's nsfs file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Pin {
    /// The mount point, as the maker named it (or as mountinfo shows it,
    /// for a pin found by reading one).
    pub path: String,
    /// The mount namespace it is mounted in (its inode).
    #[serde(rename = "mnt_ns", serialize_with = "inum_of")]
    pub mnt: NsKey,
    /// The mount (or `move_mount`) that made it; `None` for a copy a mount
    /// namespace inherited when it was made, or one made before the trace.
    pub made: Option<PinAct>,
    pub removed: Option<PinGone>,
    /// A task in its mount namespace, as the read that found it named it
    /// (`None` for the host's).
    pub holder: Option<Task>,
    /// When a read of mountinfo first showed it (pins not seen being made).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub found_ns: Option<u64>,
    /// When it was judged a leak: still there after its sandbox's last task.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub leak_ns: Option<u64>,
    /// Anchors its sandbox: made by a runtime (seen being made) or living
    /// in the host's mount namespace. Inherited copies elsewhere do not:
    /// they are what leaks.
    #[serde(skip)]
    pub anchor: bool,
}

fn inum_of<S: Serializer>(k: &NsKey, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u32(k.inum)
}

impl Pin {
    pub fn live(&self) -> bool {
        self.removed.is_none()
    }

    /// Since when it is known to be there.
    pub fn since(&self) -> Option<u64> {
        self.made.as_ref().map(|m| m.ts_ns).or(self.found_ns)
    }
}

/// Pins kept per namespace: live ones always, removed ones up to this many
/// (the oldest go first): a namespace pinned and unpinned in a loop cannot
/// grow memory.
const REMOVED_KEPT: usize = 16;

impl NsInfo {
    /// Its pins still mounted.
    pub fn live_pins(&self) -> impl Iterator<Item = &Pin> {
        self.pins.iter().filter(|p| p.live())
    }

    pub fn is_pinned(&self) -> bool {
        self.pins.iter().any(Pin::live)
    }

    /// Paths of its live pins, sorted, each once.
    pub fn pinned_by(&self) -> Vec<String> {
        let mut v: Vec<String> = self.live_pins().map(|p| p.path.clone()).collect();
        v.sort();
        v.dedup();
        v
    }

    /// Add a pin; drop the oldest removed ones past [`REMOVED_KEPT`].
    pub(super) fn add_pin(&mut self, pin: Pin) {
        self.pins.push(pin);
        let removed = self.pins.iter().filter(|p| !p.live()).count();
        if removed > REMOVED_KEPT
            && let Some(i) = self.pins.iter().position(|p| !p.live())
        {
            self.pins.remove(i);
        }
    }
}

/// Two names of one mount point: equal, or one is the other with a
/// leading directory more (`/var/run/netns/x` and `/run/netns/x`: /var/run
/// is a symlink to /run, and mountinfo shows the resolved path) — the
/// shorter one naming at least a directory and a file, so that `/sys`
/// never matches `/run/netns/sys`.
pub fn same_mount_point(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    let (short, long) = if a.len() < b.len() { (a, b) } else { (b, a) };
    short.starts_with('/')
        && short.matches('/').count() >= 2
        && long.ends_with(short)
        && long.len() > short.len()
}

/// Whatever held a sandbox: its pause, a container, a pin.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Holder {
    /// `pause`, `container`, `pin`.
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The pin's mount namespace (inode).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mnt_ns: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comm: Option<String>,
}

impl Holder {
    pub fn task(kind: &'static str, t: &Task) -> Holder {
        Holder {
            kind,
            path: None,
            mnt_ns: None,
            pid: Some(t.pid),
            comm: Some(t.comm.clone()),
        }
    }

    pub fn pin(p: &Pin) -> Holder {
        Holder {
            kind: "pin",
            path: Some(p.path.clone()),
            mnt_ns: Some(p.mnt.inum),
            pid: None,
            comm: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mount_points_match_through_the_var_run_symlink_only() {
        assert!(same_mount_point("/run/netns/x", "/run/netns/x"));
        assert!(same_mount_point("/var/run/netns/cni-1", "/run/netns/cni-1"));
        assert!(same_mount_point("/run/netns/cni-1", "/var/run/netns/cni-1"));
        assert!(!same_mount_point("/sys", "/run/netns/sys"));
        assert!(!same_mount_point("/run/netns/x", "/run/netns/xx"));
        assert!(!same_mount_point("netns/x", "/run/netns/x"));
        assert!(!same_mount_point("/a/run/netns/x", "/b/run/netns/y"));
    }
}
