//! What kernel events cannot tell, read from the host as they come (live
//! runs only): the cgroup of each new pause or container, the
//! verification read of the holder ledger (the nsfs mounts a namespace
//! that lost a task or a pin still has, in every mount namespace that may
//! hold one), and the command line and CNI command of each new visitor.
//! Returned as notes, so that the model, the recording and the steps all
//! get the same facts. (Names: [`super::identity`].)

use crate::host::{cgroup, pins, visitor};
use crate::model::{Lifecycle, MountsWanted, Note, What};

/// The notes the host has for the steps one event caused (cgroups first),
/// and for the mounts the model wants read.
pub fn notes(changes: &[Lifecycle], mounts: Option<&MountsWanted>) -> Vec<Note> {
    let mut notes = Vec::new();
    for l in changes {
        let pid = match &l.what {
            What::PauseStarted { pause, .. } => pause.pid,
            What::ContainerJoined { task, .. } => task.pid,
            _ => continue,
        };
        if let Some(ids) = cgroup::read(pid) {
            notes.push(Note::Cgroup { pid, ids });
        }
    }
    if let Some(want) = mounts {
        notes.push(Note::Mounts(pins::read_wanted(want)));
    }
    notes
}

/// What /proc still tells about new visitors (by pid): their command line
/// and CNI command. None for one already gone.
pub fn visitors(pids: &[u32]) -> Vec<Note> {
    pids.iter()
        .filter_map(|&pid| {
            let (argv, cni_command) = visitor::read(pid)?;
            Some(Note::Visitor {
                pid,
                argv,
                cni_command,
            })
        })
        .collect()
}
