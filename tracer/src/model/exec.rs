//! Exec: a pause starts, or a joined task's program starts — a new
//! container, or an exec session into a running one.

use tracer_common::{ExecEvent, NsSet};

use super::procs::{Comm, Join};
use super::{Container, ExecSession, Lifecycle, Model, NsKind, Pause, Task, What};
use crate::decode::{Who, argv, c_bytes, c_str};

/// Is this exec a pod's pause/infra process? k8s' `/pause`, podman's and
/// CRI-O's `catatonit -P`, docker's `/pause`.
pub fn is_pause(filename: &str, argv: &[String]) -> bool {
    pause_by(filename.as_bytes(), argv.iter().map(String::as_bytes))
}

/// [`is_pause`] of an exec record, without making its argv: most execs
/// are no pause, and need no argv at all. The names compared are ASCII,
/// so the raw bytes answer as their lossy UTF-8 would (`filename` too: the
/// record's bytes up to their NUL).
fn is_pause_exec(filename: &[u8], e: &ExecEvent) -> bool {
    let len = (e.args_len as usize).min(e.args.len());
    pause_by(filename, e.args[..len].split(|&b| b == 0))
}

fn pause_by<'a>(filename: &[u8], mut argv: impl Iterator<Item = &'a [u8]> + Clone) -> bool {
    fn base(p: &[u8]) -> &[u8] {
        p.iter()
            .rposition(|&b| b == b'/')
            .map_or(p, |i| &p[i + 1..])
    }
    let name = base(filename);
    let arg0 = argv.clone().next().map_or(&b""[..], base);
    name == b"pause"
        || arg0 == b"pause"
        || ((name == b"catatonit" || arg0 == b"catatonit") && argv.any(|a| a == b"-P"))
}

/// Runtime helpers that exec on the way to a container's entrypoint:
/// runc re-execs itself (`/proc/self/exe`, then a sealed copy as
/// `/dev/fd/N`) before its stages run. On the record's bytes up to their
/// NUL: the names are ASCII, and an invalid UTF-8 sequence never takes in
/// a `/`, so the bytes answer as their lossy text would.
fn is_runtime_step(filename: &[u8], comm: &[u8]) -> bool {
    let base = filename
        .iter()
        .rposition(|&b| b == b'/')
        .map_or(filename, |i| &filename[i + 1..]);
    comm.starts_with(b"runc:[")
        || comm == b"runc"
        || filename.starts_with(b"/dev/fd/")
        || filename.starts_with(b"/proc/self/fd/")
        || matches!(
            base,
            b"runc" | b"crun" | b"youki" | b"runsc" | b"conmon" | b"exe"
        )
}

impl Model {
    pub(super) fn on_exec(&mut self, e: &ExecEvent, out: &mut Vec<Lifecycle>) {
        let who = Who::of(&e.hdr);
        let ts = e.hdr.ts_ns;
        let filename = c_bytes(&e.filename);
        self.proc_mut(who.pid, &e.hdr.comm).comm = Comm::Kernel(e.hdr.comm);
        // The task and argv are made only for those who keep them (a
        // pause, a join, a visit): most execs are none of these.
        let task = || Task::new(who.pid, c_str(&e.hdr.comm));
        if is_pause_exec(filename, e) && self.pod_namespaces(&e.ns).is_some() {
            self.visit_has_role(who.tid);
            self.pause_started(task(), argv(e), &e.ns, ts, out);
        } else if !is_runtime_step(filename, c_bytes(&e.hdr.comm)) {
            let role = match self.joins.remove(&who.tid) {
                Some(mut j) => {
                    if self.makes_a_container(&j, &e.ns) {
                        self.sandbox_without_pause(&mut j, out);
                    }
                    self.entered(task(), argv(e), &e.ns, j, ts, out)
                }
                None => false,
            };
            if role {
                self.visit_has_role(who.tid);
            } else if self.visit_wants_exec(who.tid) {
                self.visit_exec(who.tid, &task(), &argv(e), out);
            }
        }
    }

    /// Could this join's exec be a container of a sandbox not recognised
    /// yet (CRI-O's pinned namespaces)? Only with a mount namespace of its
    /// own, through a runtime or into every pod namespace it found
    /// (`nsenter -n -i -u` into the pins is a visitor, not a sandbox).
    fn makes_a_container(&mut self, j: &Join, set: &NsSet) -> bool {
        let mnt = self.ns.key_in(set, NsKind::Mnt);
        mnt.is_some_and(|m| !self.ns.is_host(&m)) && (runtime_join(j) || j.unowned.len() >= 2)
    }

    fn pause_started(
        &mut self,
        task: Task,
        args: Vec<String>,
        set: &NsSet,
        ts: u64,
        out: &mut Vec<Lifecycle>,
    ) {
        let sb = match self.sandbox_of(set) {
            Some(sb)
                if self.sandboxes[sb]
                    .pause
                    .as_ref()
                    .is_some_and(|p| p.exited_ns.is_none()) =>
            {
                return;
            }
            Some(sb) => sb,
            None => {
                let sb = self.new_sandbox(set, ts, false);
                self.announce_namespaces(sb, out);
                self.announce_visits(sb, out);
                sb
            }
        };
        let forked = self.procs.get(&task.pid).and_then(|p| p.forked.as_ref());
        let forked_ns = forked.map(|f| f.2);
        let forked_by = forked.map(|(pid, comm, _)| comm.task(*pid));
        let mut pause = Pause::new(task.pid, &task.comm, args.clone());
        pause.started_ns = Some(ts);
        pause.forked_ns = forked_ns;
        pause.forked_by = forked_by;
        self.sandboxes[sb].pause = Some(pause);
        if let Some(p) = self.procs.get_mut(&task.pid) {
            p.pause_of = Some(sb);
        }
        self.mark_sandbox(sb, ts);
        out.push(Lifecycle::new(
            ts,
            sb,
            What::PauseStarted {
                pause: task,
                argv: args,
            },
        ));
    }

    /// No pause holds the pod namespaces this join entered: with two or more
    /// of them (CRI-O's pins), they make a sandbox of their own.
    fn sandbox_without_pause(&mut self, j: &mut Join, out: &mut Vec<Lifecycle>) {
        if j.sandbox.is_some() || j.unowned.len() < 2 {
            return;
        }
        let mut pod_set = NsSet::default();
        for (kind, k) in &j.unowned {
            let i = kind.slot() as usize;
            pod_set.inum[i] = k.inum;
            pod_set.id[i] = self.ns.info.get(k).map(|n| n.id).unwrap_or(0);
        }
        let sb = self.new_sandbox(&pod_set, j.first_ns, false);
        self.announce_namespaces(sb, out);
        self.announce_visits(sb, out);
        out.push(Lifecycle::new(
            j.first_ns,
            sb,
            What::SandboxWithoutPause { by: j.by.clone() },
        ));
        j.sandbox = Some(sb);
    }

    /// A joined task (or what it forked) exec'd its program: a new container
    /// or an exec session into a running one (true), or neither (false: a
    /// visitor, if it is inside at all).
    fn entered(
        &mut self,
        task: Task,
        args: Vec<String>,
        set: &NsSet,
        j: Join,
        ts: u64,
        out: &mut Vec<Lifecycle>,
    ) -> bool {
        let Some(sb) = j.sandbox.or_else(|| self.sandbox_of(set)) else {
            return false;
        };
        // A container has a mount namespace of its own (or, for an exec
        // session, its container's). Tools that only visit a pod's netns
        // from the host — CNI plugins, netavark's iptables, `nsenter` —
        // run in the host's and are no container; nor is one that joined
        // the pause's own.
        let mnt = self.ns.key_in(set, NsKind::Mnt);
        let (joined, missing) = self.compare_pod(sb, set);
        if mnt.is_none_or(|m| {
            self.ns.is_host(&m) || self.sandboxes[sb].ns.get(&NsKind::Mnt) == Some(&m)
        }) || joined.is_empty()
        {
            return false;
        }
        // Inside a running container's mount namespace: an exec session.
        let target = self.sandboxes[sb].containers.iter().copied().find(|&c| {
            self.containers[c].left_ns.is_none()
                && self.containers[c].mnt.is_some()
                && self.containers[c].mnt == mnt
        });
        if let Some(c) = target {
            self.containers[c].execs.push(ExecSession {
                pid: task.pid,
                argv: args.clone(),
                started_ns: ts,
                left_ns: None,
                exit: None,
            });
            if let Some(p) = self.procs.get_mut(&task.pid) {
                p.exec_into = Some(c);
            }
            let what = What::ExecJoined {
                container: c,
                task,
                argv: args,
            };
            out.push(Lifecycle::new(ts, sb, what));
            return true;
        }
        // A mount namespace of its own: a container's when a runtime made
        // the join (runc's stage 1, partial joins included), or when it
        // joined every pod namespace (at least two) as runtimes do. `ip
        // netns exec` joins one and unshares a mount namespace of its own
        // to remount /sys: a visitor.
        let every_pod_ns = missing.is_empty() && joined.len() >= 2;
        if !(runtime_join(&j) || every_pod_ns) {
            return false;
        }
        let c = self.containers.push(|c| {
            let mut new = Container::new(c, sb, &task, args.clone(), mnt);
            new.joined_ns = Some(j.first_ns);
            new.started_ns = Some(ts);
            new.joined.clone_from(&joined);
            new.missing.clone_from(&missing);
            new
        });
        self.sandboxes[sb].containers.push(c);
        if let Some(p) = self.procs.get_mut(&task.pid) {
            p.container = Some(c);
        }
        self.mark_sandbox(sb, ts);
        let what = What::ContainerJoined {
            container: c,
            task,
            argv: args,
            joined,
            missing,
            joined_ns: j.first_ns,
        };
        out.push(Lifecycle::new(ts, sb, what));
        true
    }
}

/// The join was made by a container runtime's own step (runc's stage 1).
fn runtime_join(j: &Join) -> bool {
    let c = j.by.comm.as_str();
    c.starts_with("runc:[") || c.starts_with("youki") || matches!(c, "runc" | "crun" | "runsc")
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracer_common::Zeroable;

    fn record(args: &[u8], args_len: u32) -> ExecEvent {
        let mut e = ExecEvent::zeroed();
        e.args[..args.len()].copy_from_slice(args);
        e.args_len = args_len;
        e
    }

    /// The raw-bytes pause test answers as the one on argv made by the
    /// decoder, whatever the record holds: cut argv, no argv, invalid
    /// UTF-8 around the names, lengths beyond the record.
    #[test]
    fn a_pause_is_told_from_the_record_as_from_its_argv() {
        let cases: &[(&str, &[u8])] = &[
            ("/pause", b"/pause\0"),
            ("/usr/bin/catatonit", b"catatonit\0-P\0"),
            ("/usr/bin/catatonit", b"catatonit\0--\0sh\0"),
            ("/bin/sh", b"/pause\0"),
            ("/bin/sh", b"\xff/pause\0"),
            ("/bin/sh", b"pause\xff\0"),
            ("/bin/sh", b"/x/catatonit\0-P"),
            ("/bin/sh", b"/x/catatonit\0\xff-P\0"),
            ("/x/\u{fffd}pause", b""),
            ("/bin/sh", b"\0"),
            ("/bin/sh", b"sh\0-c\0true\0"),
            ("/catatonit", b"\0\0-P\0\0"),
        ];
        for &(file, args) in cases {
            for len in [0, 1, args.len().saturating_sub(1), args.len(), 9999] {
                let e = record(args, len as u32);
                assert_eq!(
                    is_pause_exec(file.as_bytes(), &e),
                    is_pause(file, &argv(&e)),
                    "{file} {args:?} args_len {len}"
                );
            }
        }
        assert!(is_pause_exec(b"/pause", &record(b"", 0)));
        assert!(is_pause_exec(b"/c", &record(b"/a/catatonit\0-P\0", 16)));
    }

    /// The byte test of a runtime's step answers as the text one it
    /// replaced (on the lossy UTF-8 of the record's bytes).
    #[test]
    fn a_runtime_step_is_told_from_bytes_as_from_text() {
        fn by_text(filename: &str, comm: &str) -> bool {
            let base = filename.rsplit('/').next().unwrap_or(filename);
            comm.starts_with("runc:[")
                || comm == "runc"
                || filename.starts_with("/dev/fd/")
                || filename.starts_with("/proc/self/fd/")
                || matches!(base, "runc" | "crun" | "youki" | "runsc" | "conmon" | "exe")
        }
        let names: &[&[u8]] = &[
            b"",
            b"/",
            b"runc",
            b"/usr/bin/runc",
            b"/usr/bin/runc/",
            b"/usr/bin/\xffrunc",
            b"/usr/bin\xff/runc",
            b"/usr/bin/\xe2\x82/exe",
            b"/proc/self/exe",
            b"/dev/fd/5",
            b"/dev/fd",
            b"/proc/self/fd/7",
            b"\xff/proc/self/fd/7",
            b"conmon",
            b"/bin/sh",
            b"runc:[2:INIT]",
            b"runc:[",
            b"runc\xff",
            b"youki",
            b"crun\xc3",
        ];
        for &f in names {
            for &c in names {
                let text = by_text(&String::from_utf8_lossy(f), &String::from_utf8_lossy(c));
                assert_eq!(is_runtime_step(f, c), text, "{f:?} {c:?}");
            }
        }
    }
}
