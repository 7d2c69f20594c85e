//! `tracer man DIR`: a man page per command, for packaging (`cargo xtask
//! dist`). Written as any file this tool writes: never through a symbolic
//! link (clap_mangen's own writer follows one), readable by all.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Write `tracer.1` and one page per visible subcommand into `dir`
/// (created if missing); the paths written.
pub fn write_pages(cmd: clap::Command, dir: &Path) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut cmd = cmd.disable_help_subcommand(true);
    cmd.build();
    let mut written = Vec::new();
    write_tree(cmd, dir, &mut written)?;
    Ok(written)
}

/// As `clap_mangen::generate_to`: subcommands first, then the command.
fn write_tree(cmd: clap::Command, dir: &Path, written: &mut Vec<PathBuf>) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()).cloned() {
        write_tree(sub, dir, written)?;
    }
    let man = clap_mangen::Man::new(cmd);
    let mut page = Vec::new();
    man.render(&mut page).context("rendering a man page")?;
    let path = dir.join(man.get_filename());
    super::public_file(&path)?
        .write_all(&page)
        .with_context(|| format!("cannot write {}", path.display()))?;
    written.push(path);
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{PermissionsExt, symlink};

    use super::*;

    fn cli() -> clap::Command {
        clap::Command::new("tool")
            .about("does things")
            .subcommand(clap::Command::new("run").about("runs"))
            .subcommand(clap::Command::new("secret").hide(true))
    }

    #[test]
    fn a_page_per_visible_command_readable_by_all_and_never_through_a_link() {
        let dir = std::env::temp_dir().join(format!("tracer-man-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let written = write_pages(cli(), &dir).unwrap();
        let names: Vec<_> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["tool-run.1", "tool.1"]);
        for p in &written {
            let mode = std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o644, "{}", p.display());
            let page = std::fs::read_to_string(p).unwrap();
            assert!(page.contains(".TH"), "{}: {page}", p.display());
        }

        // A link where a page goes: refused, and what it points at is kept.
        let target = dir.join("kept");
        std::fs::write(&target, b"kept").unwrap();
        std::fs::remove_file(dir.join("tool.1")).unwrap();
        symlink(&target, dir.join("tool.1")).unwrap();
        let err = format!("{:#}", write_pages(cli(), &dir).unwrap_err());
        assert!(err.contains("symbolic link"), "{err}");
        assert_eq!(std::fs::read(&target).unwrap(), b"kept");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
