//! A container root filesystem from Debian's busybox-static: the binary
//! and one symlink per applet, tarred, for any runtime to import.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Where Debian's busybox-static puts its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// Build the rootfs under `scratch` (emptied first) and tar it; the tar's path.
pub fn busybox_tar(scratch: &Path) -> PathBuf {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: install Debian's busybox-static"
    );
    let _ = fs::remove_dir_all(scratch);
    let rootfs = scratch.join("rootfs");
    for d in ["bin", "dev", "proc", "sys", "tmp", "etc"] {
        let p = rootfs.join(d);
        fs::create_dir_all(&p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
    }
    fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap_or_else(|e| panic!("copy {BUSYBOX}: {e}"));
    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .unwrap_or_else(|e| panic!("{BUSYBOX} --list: {e}"));
    assert!(list.status.success(), "{BUSYBOX} --list failed");
    let applets = String::from_utf8_lossy(&list.stdout);
    let mut n = 0;
    for applet in applets.lines().map(str::trim) {
        if applet.is_empty() || applet == "busybox" || applet.contains('/') {
            continue;
        }
        let link = rootfs.join("bin").join(applet);
        std::os::unix::fs::symlink("busybox", &link)
            .unwrap_or_else(|e| panic!("symlink {}: {e}", link.display()));
        n += 1;
    }
    assert!(
        n > 50,
        "{BUSYBOX} --list gave only {n} applets: not busybox-static?"
    );
    let tar = scratch.join("rootfs.tar");
    let st = Command::new("tar")
        .arg("-C")
        .arg(&rootfs)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap_or_else(|e| panic!("run tar: {e}"));
    assert!(st.success(), "tar of {} failed: {st}", rootfs.display());
    tar
}
