//! What keeps a namespace alive after its last task left: nsfs bind mounts
//! (containerd's `/var/run/netns/cni-*`, podman's `/run/netns/netns-*`,
//! CRI-O's pins), found in a mountinfo table.

/// Mount points in `mountinfo` (the text of `/proc/<pid>/mountinfo`) that
/// bind-mount the namespace `<kind>:[<inum>]`.
pub fn nsfs_pins(mountinfo: &str, kind: &str, inum: u32) -> Vec<String> {
    let root = format!("{kind}:[{inum}]");
    let mut out: Vec<String> = mountinfo
        .lines()
        .filter_map(|line| {
            // ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
            let (pre, post) = line.split_once(" - ")?;
            let fstype = post.split(' ').next()?;
            let mut f = pre.split(' ');
            let root_field = f.nth(3)?;
            let mount_point = f.next()?;
            (fstype == "nsfs" && root_field == root).then(|| unescape(mount_point))
        })
        .collect();
    out.sort();
    out.dedup();
    out
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

/// Pins of a namespace as the tracer's mount namespace sees them, named
/// as the node names them (see [`super::root::node_path`]).
pub fn read(kind: &str, inum: u32) -> Vec<String> {
    let mut pins: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
        .map(|m| nsfs_pins(&m, kind, inum))
        .unwrap_or_default()
        .iter()
        .map(|p| super::root::node_path(p))
        .collect();
    pins.sort();
    pins.dedup();
    pins
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
    }
}
