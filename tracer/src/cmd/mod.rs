//! One module per command: `watch` (the default), `record` (watch and
//! write a recording), `replay` (`tracer report FILE`), `man` (man pages
//! for packaging), `bench_recording` (hidden: a synthetic recording for
//! the replay benchmark).

pub mod bench_recording;
pub mod man;
pub mod record;
pub mod replay;
mod ticker;
pub mod watch;

use std::fs::{File, OpenOptions, Permissions};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use anyhow::{Context, Result};

/// A file this root tool writes (a report, a synthetic recording): created
/// or truncated, private (0600), and never opened through a symbolic link.
pub fn private_file(path: &Path) -> Result<File> {
    new_file(path, 0o600)
}

/// [`private_file`] for what others are meant to read (man pages): 0644.
pub fn public_file(path: &Path) -> Result<File> {
    new_file(path, 0o644)
}

fn new_file(path: &Path, mode: u32) -> Result<File> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| {
            format!(
                "cannot create {} (a symbolic link is refused)",
                path.display()
            )
        })?;
    // An existing file keeps its mode on open (a new one gets the umask's).
    f.set_permissions(Permissions::from_mode(mode))
        .with_context(|| format!("cannot set the mode of {}", path.display()))?;
    Ok(f)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn a_written_file_is_private_and_never_written_through_a_link() {
        let dir = std::env::temp_dir().join(format!("tracer-private-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (new, old, target, link) = (
            dir.join("new"),
            dir.join("old"),
            dir.join("target"),
            dir.join("link"),
        );

        private_file(&new).unwrap();
        assert_eq!(mode(&new), 0o600);

        // An existing readable file is truncated and made private.
        std::fs::write(&old, b"secret from before").unwrap();
        std::fs::set_permissions(&old, Permissions::from_mode(0o644)).unwrap();
        private_file(&old).unwrap();
        assert_eq!(mode(&old), 0o600);
        assert_eq!(std::fs::read(&old).unwrap(), b"");

        std::fs::write(&target, b"kept").unwrap();
        std::fs::set_permissions(&target, Permissions::from_mode(0o644)).unwrap();
        symlink(&target, &link).unwrap();
        let err = format!("{:#}", private_file(&link).unwrap_err());
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read(&target).unwrap(), b"kept");
        assert_eq!(mode(&target), 0o644);

        std::fs::remove_dir_all(&dir).unwrap();
    }
}
