//! What /proc tells about a task that entered pod namespaces without being
//! a container: its command line, and — for a CNI plugin — the command
//! its runtime gave it (`CNI_COMMAND` in its environment). Read as its
//! setns is processed; a plugin that lived a few milliseconds may be gone.

use super::proc::parse_cmdline;
use crate::decode::cni_command;

/// Process `pid`'s command line and CNI command, if it is still there.
pub fn read(pid: u32) -> Option<(Vec<String>, Option<String>)> {
    let argv = parse_cmdline(&super::file::read(format!("/proc/{pid}/cmdline")).ok()?);
    // The environment may be unreadable (another user's process under a
    // hardened /proc): the command line alone is still worth having.
    let cni = super::file::read(format!("/proc/{pid}/environ"))
        .ok()
        .and_then(|env| cni_command(&env));
    (!argv.is_empty() || cni.is_some()).then_some((argv, cni))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn our_own_process_reads() {
        let (argv, cni) = read(std::process::id()).expect("our /proc");
        assert!(!argv.is_empty());
        assert_eq!(
            cni,
            std::env::var("CNI_COMMAND").ok().filter(|c| !c.is_empty())
        );
    }
}
