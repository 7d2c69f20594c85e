//! Failed joins in words: anomalies of their sandbox, or of the node when
//! the task had joined no pod yet.

use crate::model::JoinFailure;

/// `EINVAL`, `EPERM`, … for the errnos `setns` returns; else the number.
fn errno_name(ret: i64) -> String {
    let name = match -ret {
        1 => "EPERM",
        9 => "EBADF",
        12 => "ENOMEM",
        22 => "EINVAL",
        38 => "ENOSYS",
        _ => return format!("errno {}", -ret),
    };
    name.to_string()
}

/// `setns(net) by 4242 runc:[1:CHILD] failed: EINVAL`.
pub fn words(f: &JoinFailure) -> String {
    let kind = f.kind.map(|k| k.name()).unwrap_or("any");
    format!(
        "setns({kind}) by {} {} failed: {}",
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
            words(&f),
            "setns(net) by 4242 runc:[1:CHILD] failed: EINVAL"
        );
        f.kind = None;
        f.ret = -95;
        assert_eq!(
            words(&f),
            "setns(any) by 4242 runc:[1:CHILD] failed: errno 95"
        );
    }
}
