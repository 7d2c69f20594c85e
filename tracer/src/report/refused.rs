//! Refused namespace calls in words: anomalies of their sandbox, or of the
//! node when the task was in or joining no pod yet.

use crate::decode::flags;
use crate::model::{CreationFailure, JoinFailure};

/// `EINVAL`, `ENOSPC`, …; else the number.
fn errno_name(ret: i64) -> String {
    match flags::errno_name(ret) {
        Some(name) => name.to_string(),
        None => format!("errno {}", -ret),
    }
}

/// `setns(net) by 4242 runc:[1:CHILD] failed: EINVAL`.
pub fn join_words(f: &JoinFailure) -> String {
    let kind = f.kind.map(|k| k.name()).unwrap_or("any");
    format!(
        "setns({kind}) by {} {} failed: {}",
        f.task.pid,
        f.task.comm,
        errno_name(f.ret)
    )
}

/// `unshare(net,ipc) by 4242 pinns failed: ENOSPC (…)`.
pub fn creation_words(f: &CreationFailure) -> String {
    let kinds: Vec<&str> = f.kinds.iter().map(|k| k.name()).collect();
    // What ENOSPC means here is not what its name says.
    let why = if f.ret == -28 {
        " (a limit in /proc/sys/user/max_*_namespaces reached)"
    } else {
        ""
    };
    format!(
        "{}({}) by {} {} failed: {}{why}",
        f.syscall,
        kinds.join(","),
        f.task.pid,
        f.task.comm,
        errno_name(f.ret)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{NsKind, Task};

    #[test]
    fn a_failed_join_says_the_type_the_task_and_the_errno() {
        let mut f = JoinFailure {
            ts_ns: 1,
            task: Task::new(4242, "runc:[1:CHILD]"),
            kind: Some(NsKind::Net),
            ret: -22,
            sandbox: None,
        };
        assert_eq!(
            join_words(&f),
            "setns(net) by 4242 runc:[1:CHILD] failed: EINVAL"
        );
        f.kind = None;
        f.ret = -95;
        assert_eq!(
            join_words(&f),
            "setns(any) by 4242 runc:[1:CHILD] failed: errno 95"
        );
    }

    #[test]
    fn a_failed_creation_says_the_call_the_types_the_task_and_the_errno() {
        let f = CreationFailure {
            ts_ns: 1,
            task: Task::new(4242, "pinns"),
            syscall: "unshare",
            kinds: vec![NsKind::Uts, NsKind::Ipc, NsKind::Net],
            ret: -28,
            sandbox: None,
        };
        assert_eq!(
            creation_words(&f),
            "unshare(uts,ipc,net) by 4242 pinns failed: ENOSPC \
             (a limit in /proc/sys/user/max_*_namespaces reached)"
        );
    }
}
