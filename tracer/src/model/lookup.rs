//! Lookups for questions asked from outside the model (`--pod`,
//! `--netns`): a sandbox's namespaces, a task's command.

use super::ns::NsKey;
use super::{Model, Sandbox};

impl Sandbox {
    /// Its namespaces (those not the host's), by kind.
    pub fn namespaces(&self) -> impl Iterator<Item = &NsKey> {
        self.ns.values()
    }
}

impl Model {
    /// The command of the process whose pid is `tid` (its main thread),
    /// where the model knows it.
    pub fn comm_of(&self, tid: u32) -> Option<String> {
        self.procs.get(&tid).map(|p| p.comm.text().into_owned())
    }
}
