//! Mount records: pins made (`mount` with `MS_BIND` of an nsfs path,
//! `open_tree` + `move_mount`), pins removed (`umount2`), and pins gone
//! with their mount namespace. The pinned namespace is resolved now, from
//! the record and the model — the task the source path names, the key
//! alive at this moment — never later from /proc, never by the largest id.
//! What cannot be resolved so is left to the verification read
//! ([`super::verify`]).

use tracer_common::{MountKind, mount_flags::MS_BIND};

use super::ns::{NsKey, NsKind};
use super::pin::{Gone, Holder, Pin, PinAct, PinGone, same_mount_point};
use super::{Lifecycle, Model, Task, What};
use crate::decode::{MountEvent, PinSource, ProcTask, c_str};

/// What a mount's source pins.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Source {
    /// This namespace.
    Ns(NsKey),
    /// A namespace the model cannot name (an fd, a host task's namespace):
    /// the verification read of the mount point tells.
    Unknown,
}

/// A pin whose namespace the verification read will tell.
#[derive(Clone, Debug)]
pub(super) struct Unresolved {
    pub mnt: NsKey,
    pub path: String,
    pub made: PinAct,
    pub how: &'static str,
}

/// `open_tree` clones not yet moved into place kept at most (a runtime that
/// never moves them cannot grow memory).
const TREES_KEPT: usize = 1024;

impl Model {
    pub(super) fn on_mount(&mut self, m: &MountEvent, out: &mut Vec<Lifecycle>) {
        if !m.succeeded() {
            return;
        }
        let Some(mnt) = self.ns.key_in(&m.ns, NsKind::Mnt) else {
            return;
        };
        let act = PinAct {
            ts_ns: m.hdr.ts_ns,
            pid: m.hdr.tgid,
            comm: c_str(&m.hdr.comm),
        };
        let target = m
            .target
            .as_ref()
            .filter(|t| !t.unread && !t.path.is_empty())
            .map(|t| t.path.clone());
        match m.kind {
            MountKind::Mount if m.flags & MS_BIND != 0 => {
                if let (Some(src), Some(path)) = (self.pinned_by_source(m), target) {
                    self.pin_made(src, path, mnt, act, "mount", m.hdr.pid, out);
                }
            }
            MountKind::Mount => {}
            MountKind::OpenTree => {
                let (Some(src), Some(fd)) = (self.pinned_by_source(m), m.ret) else {
                    return;
                };
                if self.trees.len() >= TREES_KEPT {
                    self.trees.clear();
                }
                self.trees.insert((m.hdr.tgid, fd as i32), src);
            }
            MountKind::MoveMount => {
                let Some(src) = m
                    .from_fd
                    .and_then(|fd| self.trees.remove(&(m.hdr.tgid, fd)))
                else {
                    return;
                };
                if let Some(path) = target {
                    self.pin_made(src, path, mnt, act, "move_mount", m.hdr.pid, out);
                }
            }
            MountKind::Umount => {
                if let Some(path) = target {
                    let by = Task::new(act.pid, act.comm);
                    self.unmounted(mnt, &path, &by, act.ts_ns, out);
                }
            }
        }
    }

    /// The namespace a bind mount's source pins, if it is an nsfs or fd
    /// path under a task's /proc entry (`None`: no pin at all).
    fn pinned_by_source(&mut self, m: &MountEvent) -> Option<Source> {
        let (task, tid, slot) = match m.pin_source()? {
            PinSource::Ns { task, tid, ns } => (task, tid, ns),
            PinSource::Fd { .. } => return Some(Source::Unknown),
        };
        let kind = NsKind::of(slot);
        if let Some((_, inum, id)) = m.callers_pinned_ns() {
            return Some(if inum == 0 {
                Source::Unknown
            } else {
                Source::Ns(self.ns.key(kind, inum, id, false))
            });
        }
        // Another task's namespace: as the model knows that thread now.
        let thread = match (task, tid) {
            (_, Some(t)) => t,
            (ProcTask::Pid(p), None) => p,
            (ProcTask::SelfProcess, None) => m.hdr.tgid,
            (ProcTask::ThreadSelf, None) => m.hdr.pid,
        };
        let i = slot as usize;
        Some(match self.threads.get(&thread).copied() {
            Some(set) if set.inum[i] != 0 => {
                Source::Ns(self.ns.key(kind, set.inum[i], set.id[i], false))
            }
            _ => Source::Unknown,
        })
    }

    /// A pin was mounted at `path` in mount namespace `mnt`.
    #[allow(clippy::too_many_arguments)]
    fn pin_made(
        &mut self,
        src: Source,
        path: String,
        mnt: NsKey,
        made: PinAct,
        how: &'static str,
        caller_tid: u32,
        out: &mut Vec<Lifecycle>,
    ) {
        match src {
            Source::Ns(k) => {
                let ts = made.ts_ns;
                let pin = Pin {
                    path,
                    mnt,
                    made: Some(made),
                    removed: None,
                    holder: None,
                    found_ns: None,
                    leak_ns: None,
                    anchor: true,
                };
                self.add_pin(k, pin, how, ts, out);
            }
            Source::Unknown => {
                self.verify.path(mnt, &path, caller_tid, made.ts_ns);
                self.unresolved.push(Unresolved {
                    mnt,
                    path,
                    made,
                    how,
                });
            }
        }
    }

    /// Add a pin to namespace `k`'s ledger; a sandbox holding `k` is told.
    /// The host's namespaces are no pod's: their pins are not kept (a tool
    /// pinning the host's netns in a loop costs no verification reads).
    pub(super) fn add_pin(
        &mut self,
        k: NsKey,
        pin: Pin,
        how: &'static str,
        ts: u64,
        out: &mut Vec<Lifecycle>,
    ) {
        if self.ns.is_host(&k) {
            return;
        }
        let step = What::PinAdded {
            kind: k.kind,
            inum: k.inum,
            path: pin.path.clone(),
            mnt_ns: pin.mnt.inum,
            by: pin.made.as_ref().map(|m| Task::new(m.pid, &m.comm)),
            how,
        };
        let info = self.ns.touch(k, ts);
        info.freed_ns = None;
        // A read made after this mount (the event waited in the ring
        // buffer) found the pin first: it is this one.
        if let Some(made) = &pin.made
            && let Some(found) = info.pins.iter_mut().find(|p| {
                p.live()
                    && p.made.is_none()
                    && p.mnt == pin.mnt
                    && p.found_ns.is_some_and(|f| f >= made.ts_ns)
                    && same_mount_point(&p.path, &pin.path)
            })
        {
            found.made = pin.made;
            found.anchor = true;
            return;
        }
        info.add_pin(pin);
        self.pinned.insert(k);
        self.leaks_changed();
        self.mark_ns(k, ts);
        if let Some(sb) = self.sandbox_holding(k) {
            out.push(Lifecycle::new(ts, sb, step));
            self.mark_sandbox(sb, ts);
        }
    }

    /// `umount2(path)` in mount namespace `mnt`: the pin mounted there last
    /// goes, and every pin under it (a detached directory). An unmount of
    /// anything else is no pin's business (`ip netns exec` unmounts /sys).
    fn unmounted(&mut self, mnt: NsKey, path: &str, by: &Task, ts: u64, out: &mut Vec<Lifecycle>) {
        let dir = format!("{}/", path.trim_end_matches('/'));
        let mut gone: Vec<(NsKey, usize)> = Vec::new();
        for &k in &self.pinned {
            let Some(info) = self.ns.info.get(&k) else {
                continue;
            };
            let here = |p: &Pin| p.live() && p.mnt == mnt;
            let top = info
                .pins
                .iter()
                .enumerate()
                .filter(|(_, p)| here(p) && same_mount_point(&p.path, path))
                .max_by_key(|(_, p)| p.since())
                .map(|(i, _)| i);
            gone.extend(top.map(|i| (k, i)));
            gone.extend(
                info.pins
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| here(p) && p.path.starts_with(&dir))
                    .map(|(i, _)| (k, i)),
            );
        }
        for (k, i) in gone {
            let end = PinGone {
                ts_ns: ts,
                pid: Some(by.pid),
                comm: Some(by.comm.clone()),
                how: Gone::Umount,
            };
            self.pin_gone(k, i, end, out);
        }
    }

    /// Mount namespace `mnt` lost its last task (`by`): its mounts are gone,
    /// pins among them.
    pub(super) fn mnt_gone(&mut self, mnt: NsKey, by: &Task, ts: u64, out: &mut Vec<Lifecycle>) {
        let gone: Vec<(NsKey, usize)> = self
            .pinned
            .iter()
            .filter_map(|k| Some((*k, self.ns.info.get(k)?)))
            .flat_map(|(k, info)| {
                info.pins
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.live() && p.mnt == mnt)
                    .map(move |(i, _)| (k, i))
            })
            .collect();
        for (k, i) in gone {
            let end = PinGone {
                ts_ns: ts,
                pid: Some(by.pid),
                comm: Some(by.comm.clone()),
                how: Gone::MntNsGone,
            };
            self.pin_gone(k, i, end, out);
        }
    }

    /// Pin `i` of namespace `k` went away: the ledger says how; a sandbox
    /// holding `k` is told, and loses a holder if the pin anchored it.
    pub(super) fn pin_gone(&mut self, k: NsKey, i: usize, end: PinGone, out: &mut Vec<Lifecycle>) {
        let ts = end.ts_ns;
        let Some(info) = self.ns.info.get_mut(&k) else {
            return;
        };
        let Some(pin) = info.pins.get_mut(i).filter(|p| p.live()) else {
            return;
        };
        let by = end
            .pid
            .zip(end.comm.clone())
            .map(|(pid, comm)| Task::new(pid, comm));
        let how = end.how;
        pin.removed = Some(end);
        let pin = pin.clone();
        if !info.is_pinned() {
            self.pinned.remove(&k);
        }
        self.mark_ns(k, ts);
        self.verify.want(k, ts);
        if let Some(sb) = self.sandbox_holding(k) {
            let step = What::PinRemoved {
                kind: k.kind,
                inum: k.inum,
                path: pin.path.clone(),
                mnt_ns: pin.mnt.inum,
                by,
                how,
            };
            out.push(Lifecycle::new(ts, sb, step));
            if pin.anchor && self.sandboxes[sb].ended_ns.is_none() {
                self.sandboxes[sb].last_gone = Some(Holder::pin(&pin));
            }
            self.mark_sandbox(sb, ts);
        }
    }

    /// The live sandbox whose namespace of this kind is `k`.
    pub(super) fn sandbox_holding(&self, k: NsKey) -> Option<usize> {
        let sb = self.holder_of(&k)?;
        (self.sandboxes.get(sb)?.ns.get(&k.kind) == Some(&k)).then_some(sb)
    }

    /// A sandbox's namespaces, or a pinned one: worth verifying with a read.
    pub(super) fn of_interest(&self, k: NsKey) -> bool {
        self.holder_of(&k).is_some() || self.pinned.contains(&k)
    }
}
