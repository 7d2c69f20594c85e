//! What keeps a namespace alive after its last task left: nsfs bind mounts
//! (containerd's `/var/run/netns/cni-*`, podman's `/run/netns/netns-*`,
//! CRI-O's pins), found in mountinfo tables — the verification read of
//! the holder ledger: one task's mountinfo per mount namespace the model
//! names.

use crate::model::pin::same_mount_point;
use crate::model::{MntRead, Mounts, MountsWanted, NsKind, Nsfs};

/// Every nsfs bind mount in `mountinfo` (the text of
/// `/proc/<pid>/mountinfo`) of a namespace kind the model knows.
pub fn nsfs_mounts(mountinfo: &str) -> Vec<Nsfs> {
    mountinfo
        .lines()
        .filter_map(|line| {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
            let (pre, post) = line.split_once(" - ")?;
            if post.split(' ').next()? != "nsfs" {
                return None;
            }
            let mut f = pre.split(' ');
            let root = f.nth(3)?;
            let mount_point = f.next()?;
            nsfs_mount(root, unescape(mount_point))
        })
        .collect()
}

/// An nsfs mount from its root, which names the namespace
/// (`net:[4026532177]`), and its mount point.
pub fn nsfs_mount(root: &str, path: String) -> Option<Nsfs> {
    let (kind, rest) = root.split_once(":[")?;
    Some(Nsfs {
        kind: kind_named(kind)?,
        inum: rest.strip_suffix(']')?.parse().ok()?,
        path,
    })
}

/// Mount points in `mountinfo` that bind-mount the namespace `<kind>:[<inum>]`.
#[cfg(test)]
fn nsfs_pins(mountinfo: &str, kind: &str, inum: u32) -> Vec<String> {
    let mut out: Vec<String> = nsfs_mounts(mountinfo)
        .into_iter()
        .filter(|n| n.kind.name() == kind && n.inum == inum)
        .map(|n| n.path)
        .collect();
    out.sort();
    out.dedup();
    out
}

fn kind_named(name: &str) -> Option<NsKind> {
    [
        NsKind::Mnt,
        NsKind::Uts,
        NsKind::Ipc,
        NsKind::Pid,
        NsKind::Net,
        NsKind::User,
        NsKind::Cgroup,
        NsKind::Time,
    ]
    .into_iter()
    .find(|k| k.name() == name)
}

/// What one mount table shows of what `want` asks: nsfs mounts of its
/// targets, and those at the mount points asked about in mount namespace
/// `mnt` (pins whose namespace the model could not name).
fn wanted_in(mounts: &[Nsfs], want: &MountsWanted, mnt: u32) -> Vec<Nsfs> {
    mounts
        .iter()
        .filter(|n| {
            let target = want
                .targets
                .iter()
                .any(|t| t.kind == n.kind && t.inum == n.inum);
            let asked = want
                .paths
                .iter()
                .any(|(m, p)| *m == mnt && same_mount_point(p, &n.path));
            target || asked
        })
        .cloned()
        .collect()
}

/// Read what the model wants: the host's mountinfo (the tracer's own),
/// and one task's of every other mount namespace named (the first of its
/// tasks whose mountinfo can be read, and that is still in it). A mount
/// namespace none can be read in is left out: the model leaves its pins be.
pub fn read_wanted(want: &MountsWanted) -> Mounts {
    let mut read = Vec::new();
    for m in &want.mnts {
        if m.host {
            if let Ok(nsfs) = super::mountinfo::with_own(|own| wanted_in(own, want, m.mnt.inum)) {
                read.push(MntRead {
                    mnt: m.mnt,
                    pid: None,
                    comm: None,
                    nsfs,
                });
            }
            continue;
        }
        for &tid in &m.tids {
            let dir = format!("/proc/{tid}");
            // Still in that mount namespace (a tid may be reused).
            let in_it = super::ns::inode(&format!("{dir}/ns/mnt")) == Some(m.mnt.inum);
            let Some(text) = in_it
                .then(|| super::file::read_to_string(format!("{dir}/mountinfo")).ok())
                .flatten()
            else {
                continue;
            };
            let comm = super::file::read_to_string(format!("{dir}/comm"))
                .map(|c| c.trim_end().to_string())
                .ok();
            read.push(MntRead {
                mnt: m.mnt,
                pid: Some(super::proc::tgid_of(tid).unwrap_or(tid)),
                comm,
                nsfs: wanted_in(&nsfs_mounts(&text), want, m.mnt.inum),
            });
            break;
        }
    }
    Mounts {
        ts_ns: want.ts_ns,
        read_ns: crate::clock::boot_now_ns(),
        targets: want.targets.clone(),
        read,
    }
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 4 <= b.len()
            && let Some(v) = std::str::from_utf8(&b[i + 1..i + 4])
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
512 25 0:4 net:[4026532301] /run/netns/netns-1a2b rw shared:220 - nsfs nsfs rw
513 25 0:4 net:[4026532301] /var/run/netns/cni-1a2b rw shared:220 - nsfs nsfs rw
514 25 0:4 ipc:[4026532400] /var/run/ipcns/x rw - nsfs nsfs rw
515 25 0:4 net:[4026532999] /run/netns/with\\040space rw - nsfs nsfs rw
516 25 0:55 / /run/netns rw - tmpfs tmpfs rw
";

    #[test]
    fn finds_every_bind_mount_of_that_namespace() {
        assert_eq!(
            nsfs_pins(MOUNTINFO, "net", 4026532301),
            ["/run/netns/netns-1a2b", "/var/run/netns/cni-1a2b"]
        );
        assert_eq!(
            nsfs_pins(MOUNTINFO, "ipc", 4026532400),
            ["/var/run/ipcns/x"]
        );
        assert!(
            nsfs_pins(MOUNTINFO, "ipc", 4026532301).is_empty(),
            "kind must match"
        );
        assert!(nsfs_pins(MOUNTINFO, "net", 4026532302).is_empty());
    }

    #[test]
    fn escaped_mount_points_and_garbage() {
        assert_eq!(
            nsfs_pins(MOUNTINFO, "net", 4026532999),
            ["/run/netns/with space"]
        );
        assert!(nsfs_pins("garbage\n - \n1 2 3\n\\", "net", 1).is_empty());
        assert!(nsfs_mounts("1 2 0:4 net:[x] /a rw - nsfs nsfs rw\n").is_empty());
    }

    #[test]
    fn what_was_asked_for_is_kept() {
        use crate::model::{MntToRead, NsRef};
        let net = NsRef {
            kind: NsKind::Net,
            inum: 4026532301,
            id: 0,
        };
        let want = MountsWanted {
            ts_ns: 1,
            targets: vec![net],
            paths: vec![(7, "/var/run/ipcns/x".into())],
            mnts: vec![MntToRead {
                mnt: NsRef {
                    kind: NsKind::Mnt,
                    inum: 7,
                    id: 0,
                },
                host: true,
                tids: vec![],
            }],
        };
        let got = wanted_in(&nsfs_mounts(MOUNTINFO), &want, 7);
        let paths: Vec<&str> = got.iter().map(|n| n.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "/run/netns/netns-1a2b",
                "/var/run/netns/cni-1a2b",
                "/var/run/ipcns/x"
            ]
        );
        assert_eq!(got[2].kind, NsKind::Ipc);
        assert!(
            wanted_in(&nsfs_mounts(MOUNTINFO), &want, 8).len() == 2,
            "paths are per mount namespace"
        );
    }
}
