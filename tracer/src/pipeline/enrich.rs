//! What kernel events cannot tell, read from the host as they come (live
//! runs only): the cgroup of each new pause or container, and the bind
//! mounts that still pin a namespace that emptied. Returned as notes, so
//! that the model, the recording and the steps all get the same facts.
//! A cgroup's container id is also asked about where names come from
//! (the Docker API); those answers come later, as notes of their own.

use crate::host::docker::DockerNames;
use crate::host::{cgroup, pins};
use crate::model::{Lifecycle, Note, What};

/// The notes the host has for the steps one event caused: cgroups first,
/// then pins (empty pins are no note: the namespace was freed).
pub fn notes(changes: &[Lifecycle], mut docker: Option<&mut DockerNames>) -> Vec<Note> {
    let mut notes = Vec::new();
    for l in changes {
        let pid = match &l.what {
            What::PauseStarted { pause, .. } => pause.pid,
            What::ContainerJoined { task, .. } => task.pid,
            _ => continue,
        };
        if let Some(ids) = cgroup::read(pid) {
            if let Some(d) = docker.as_deref_mut() {
                d.ask(&ids);
            }
            notes.push(Note::Cgroup { pid, ids });
        }
    }
    for l in changes {
        if let What::NamespaceEmpty { kind, inum } = l.what {
            let paths = pins::read(kind.name(), inum);
            if !paths.is_empty() {
                notes.push(Note::Pins { kind, inum, paths });
            }
        }
    }
    notes
}
