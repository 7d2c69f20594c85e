//! `tracer record -o FILE`: a live run (see [`super::watch`]) that also
//! writes everything it fed its model to a recording.
//!
//! The recording holds the argv of every process in every pod: it is made
//! 0600 whatever the umask, never through a symbolic link (another user's
//! link in /tmp could point at any file), and an existing file is replaced
//! only once the trace really runs — a start that fails leaves it as it was.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use tracer_common::NsSet;

use crate::host::proc::ProcSnapshot;
use crate::host::system;
use crate::pipeline::Source;
use crate::record::{ByteOrder, Header, Writer};

pub type Recorder = Writer<File>;

/// Owner read and write only.
const MODE: u32 = 0o600;

/// Where a recording goes. A regular file (new or not) is written as a new
/// file beside it and renamed over it by [`Target::commit`]; a character
/// device (`/dev/null`) is written in place. Dropped before the commit,
/// the new file is removed.
#[derive(Debug)]
pub struct Target {
    path: PathBuf,
    file: File,
    /// The new file beside `path`, until it is renamed.
    pending: Option<PathBuf>,
}

/// Check the path and make the file, before anything is loaded: a bad
/// path fails fast, and nothing that exists is touched.
pub fn create(path: &Path) -> Result<Target> {
    let name = path.display();
    match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => {
            let to = fs::read_link(path)
                .map(|t| format!(" (→ {})", t.display()))
                .unwrap_or_default();
            bail!(
                "refusing to write the recording through the symbolic link {name}{to}: a link can point anywhere (another user's in /tmp, say); name the file itself"
            )
        }
        Ok(m) if m.file_type().is_char_device() => {
            // In place, without following a link that replaced it meanwhile.
            let file = OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_NOFOLLOW | libc::O_NOCTTY)
                .open(path)
                .with_context(|| format!("cannot open the recording {name}"))?;
            let m = file.metadata()?;
            if !m.file_type().is_char_device() {
                bail!("{name} changed while it was opened: not writing the recording there");
            }
            return Ok(Target {
                path: path.into(),
                file,
                pending: None,
            });
        }
        Ok(m) if !m.is_file() => bail!(
            "cannot write the recording to {name}: it is {}, not a regular file (or a device such as /dev/null)",
            kind(&m.file_type())
        ),
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot use {name} for the recording")),
    }
    let (pending, file) = beside(path)
        .with_context(|| format!("cannot create the recording {name} (a new file beside it)"))?;
    Ok(Target {
        path: path.into(),
        file,
        pending: Some(pending),
    })
}

fn kind(t: &fs::FileType) -> &'static str {
    if t.is_dir() {
        "a directory"
    } else if t.is_fifo() {
        "a FIFO"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "not a regular file"
    }
}

/// A new file `.NAME.tracer-PID-N` in the directory of `path`: created
/// exclusively (never an existing file or a link), mode 0600.
fn beside(path: &Path) -> io::Result<(PathBuf, File)> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let base = path
        .file_name()
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no file name"))?;
    for n in 0..100 {
        let mut name = std::ffi::OsString::from(".");
        name.push(base);
        name.push(format!(".tracer-{}-{n}", std::process::id()));
        let tmp = dir.join(name);
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(MODE)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(&tmp)
        {
            Ok(file) => {
                // The umask only takes bits away; this sets exactly 0600.
                file.set_permissions(fs::Permissions::from_mode(MODE))?;
                return Ok((tmp, file));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AlreadyExists,
        "100 temporary names in use",
    ))
}

impl Target {
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A handle on the file for the writer.
    pub fn file(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// The trace runs: the new file takes the path (replacing what was
    /// there, never following a link). A no-op for a device.
    pub fn commit(&mut self) -> Result<()> {
        if let Some(tmp) = &self.pending {
            fs::rename(tmp, &self.path).with_context(|| {
                format!(
                    "cannot put the recording in place: renaming {} to {}",
                    tmp.display(),
                    self.path.display()
                )
            })?;
            self.pending = None;
        }
        Ok(())
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        if let Some(tmp) = self.pending.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}

/// Start the recording: the header with this host's identity and the
/// state at start (`snapshot`, the host's namespaces), on disk at once.
pub fn start(
    target: &Target,
    kernel: &str,
    source: &Source,
    started_boot_ns: u64,
    host: &NsSet,
    snapshot: Vec<ProcSnapshot>,
) -> Result<Recorder> {
    let header = Header {
        tool_version: env!("CARGO_PKG_VERSION").into(),
        byte_order: ByteOrder::NATIVE,
        kernel: kernel.into(),
        host: system::hostname(),
        boot_id: system::boot_id(),
        realtime_minus_boottime_ns: source.clock.realtime_minus_boottime_ns,
        started_boot_ns,
        supported_ns: source.supported,
        host_ns_inum: host.inum,
        host_ns_id: host.id,
        snapshot,
    };
    let mut w = Writer::new(target.file()?, &header);
    w.flush();
    if let Some(f) = w.failure() {
        bail!("cannot write the recording {}: {f}", target.path.display());
    }
    Ok(w)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::unix::fs::symlink;

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "tracer-record-{name}-{}-{}",
            std::process::id(),
            crate::clock::boot_now_ns()
        ));
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_symbolic_link_is_refused_and_its_target_kept() {
        let d = scratch("link");
        let victim = d.join("victim");
        fs::write(&victim, b"precious").unwrap();
        let link = d.join("link");
        symlink(&victim, &link).unwrap();
        let e = create(&link).unwrap_err().to_string();
        assert!(e.contains("symbolic link") && e.contains("link"), "{e}");
        assert_eq!(fs::read(&victim).unwrap(), b"precious");
        // A dangling link too: it could be made to point anywhere later.
        let dangling = d.join("dangling");
        symlink(d.join("nowhere"), &dangling).unwrap();
        assert!(create(&dangling).is_err());
        assert!(!d.join("nowhere").exists());
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn nothing_is_replaced_until_the_commit_and_a_drop_leaves_no_trace() {
        let d = scratch("late");
        let old = d.join("old.trace");
        fs::write(&old, b"old recording").unwrap();
        {
            let t = create(&old).unwrap();
            t.file().unwrap().write_all(b"new").unwrap();
            assert_eq!(fs::read(&old).unwrap(), b"old recording");
        } // a failed start: dropped before the commit
        assert_eq!(fs::read(&old).unwrap(), b"old recording");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1, "no file left beside");

        let mut t = create(&old).unwrap();
        t.file().unwrap().write_all(b"new").unwrap();
        t.commit().unwrap();
        drop(t);
        assert_eq!(fs::read(&old).unwrap(), b"new");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn recordings_are_private() {
        let d = scratch("mode");
        let p = d.join("r.trace");
        fs::write(&p, b"x").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        let mut t = create(&p).unwrap();
        t.commit().unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600, "{mode:o}");
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn directories_and_fifos_are_refused_devices_written_in_place() {
        let d = scratch("kinds");
        let e = create(&d).unwrap_err().to_string();
        assert!(e.contains("a directory"), "{e}");
        let fifo = d.join("fifo");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = create(&fifo).unwrap_err().to_string();
        assert!(e.contains("a FIFO"), "{e}");
        let mut null = create(Path::new("/dev/null")).unwrap();
        null.commit().unwrap();
        assert!(Path::new("/dev/null").exists());
        fs::remove_dir_all(d).unwrap();
    }

    #[test]
    fn a_missing_directory_names_the_file() {
        let e = format!(
            "{:#}",
            create(Path::new("/nonexistent/dir/r.trace")).unwrap_err()
        );
        assert!(e.contains("/nonexistent/dir/r.trace"), "{e}");
    }
}
