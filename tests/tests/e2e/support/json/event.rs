//! `type: event`: one raw kernel event (`--raw`).

use serde::Deserialize;

use super::NsMap;

/// The fields every raw event has, and the kind's own ones.
#[derive(Clone, Debug, Deserialize)]
pub struct Event {
    /// Wall-clock RFC 3339.
    pub time: String,
    /// CLOCK_BOOTTIME ns: orders events exactly.
    pub ts_ns: u64,
    /// The thread group id.
    pub pid: u32,
    pub tid: u32,
    pub ppid: u32,
    pub comm: String,
    pub cgroup_id: u64,
    /// The task's namespaces after the event.
    pub ns: NsMap,
    /// The same as never-reused ids (absent on kernels without them).
    pub ns_id: Option<NsMap>,
    /// Fields the kernel could not read.
    #[serde(default)]
    pub unread: Vec<String>,
    #[serde(flatten)]
    pub kind: EventKind,
}

#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventKind {
    /// The child's identity is the event's; these say who called clone.
    Fork {
        syscall: String,
        flags: u64,
        flag_names: Vec<String>,
        caller_pid: u32,
        caller_tid: u32,
        /// Namespaces the clone created.
        changed: Vec<String>,
    },
    Exec {
        filename: String,
        argv: Vec<String>,
        old_tid: u32,
    },
    Exit {
        /// Wait status: exit status << 8, or the killing signal.
        exit_code: u32,
        group_dead: bool,
    },
    Unshare(NsChange),
    Setns(NsChange),
    CloneFailed(NsChange),
    /// What a task that entered another netns runs as, from the kernel.
    Visitor {
        argv: Vec<String>,
        cni_command: Option<String>,
        /// argv and the whole environment were read.
        complete: bool,
    },
    #[serde(other)]
    Other,
}

/// `unshare`, `setns` and a failed clone: the call and the namespaces before it.
#[derive(Clone, Debug, Deserialize)]
pub struct NsChange {
    pub syscall: String,
    /// unshare's flags, setns's nstype.
    pub flags: u64,
    pub flag_names: Vec<String>,
    /// setns's descriptor.
    pub fd: Option<i64>,
    /// 0 or -errno.
    pub ret: i64,
    pub changed: Vec<String>,
    pub ns_before: NsMap,
    pub ns_id_before: Option<NsMap>,
}

impl Event {
    /// The event's name, as in its `event` field.
    pub fn name(&self) -> &'static str {
        match self.kind {
            EventKind::Fork { .. } => "fork",
            EventKind::Exec { .. } => "exec",
            EventKind::Exit { .. } => "exit",
            EventKind::Unshare(_) => "unshare",
            EventKind::Setns(_) => "setns",
            EventKind::CloneFailed(_) => "clone_failed",
            EventKind::Visitor { .. } => "visitor",
            EventKind::Other => "other",
        }
    }

    /// The inode of namespace `name` after the event.
    pub fn ns(&self, name: &str) -> u64 {
        ns_of(&self.ns, name, self)
    }

    /// An unshare or setns (panics on any other kind).
    pub fn change(&self) -> &NsChange {
        match &self.kind {
            EventKind::Unshare(c) | EventKind::Setns(c) | EventKind::CloneFailed(c) => c,
            _ => panic!("not an unshare or setns: {self:?}"),
        }
    }
}

impl NsChange {
    /// The inode of namespace `name` before the call.
    pub fn ns_before(&self, name: &str) -> u64 {
        ns_of(&self.ns_before, name, self)
    }
}

fn ns_of(map: &NsMap, name: &str, ctx: &impl std::fmt::Debug) -> u64 {
    *map.get(name)
        .unwrap_or_else(|| panic!("no {name} namespace in {ctx:?}"))
}
