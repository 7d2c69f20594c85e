//! Visitor records decoded: the argv and CNI command of a task that
//! entered another netns by setns (see `tracer_common::VisitorEvent`).
//! Of its environment only the CNI command is kept, here and in
//! recordings ([`Visitor::bytes`]): the rest may hold secrets.

use tracer_common::{
    ARGS_LEN, ENV_LEN, ENV_UNREAD, Header, Kind, NsSet, VISITOR_FIXED, VisitorEvent,
};

use super::DecodeError;

/// One visitor record, checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Visitor {
    pub hdr: Header,
    /// Its namespaces after the setns.
    pub ns: NsSet,
    /// The whole argv's length (0: unreadable).
    pub args_len: u32,
    pub args: [u8; ARGS_LEN],
    /// The environment was read whole: `cni_command` is what it says.
    pub env_whole: bool,
    /// Its last `CNI_COMMAND`, when the environment was read whole.
    pub cni_command: Option<String>,
}

impl Visitor {
    /// Whether the record tells all that /proc would: argv and the whole
    /// environment were read.
    pub fn complete(&self) -> bool {
        self.args_len != 0 && self.env_whole
    }

    pub fn argv(&self) -> Vec<String> {
        super::strings::split_args(&self.args, self.args_len)
    }

    /// The record as the kernel would write it for a task whose
    /// environment held only its CNI command (what a recording keeps).
    pub fn bytes(&self) -> Vec<u8> {
        let env = match (&self.cni_command, self.env_whole) {
            (Some(c), true) => format!("CNI_COMMAND={c}\0").into_bytes(),
            _ => Vec::new(),
        };
        let env_len = if self.env_whole {
            env.len() as u32
        } else {
            ENV_UNREAD
        };
        let mut e = VisitorEvent {
            hdr: self.hdr,
            args_len: self.args_len,
            env_len,
            ns: self.ns,
            args: self.args,
            env: [0; ENV_LEN],
        };
        let n = env.len().min(ENV_LEN);
        e.env[..n].copy_from_slice(&env[..n]);
        let mut out = tracer_common::as_bytes(&e).to_vec();
        out.truncate(VISITOR_FIXED + n);
        out
    }
}

/// The last `CNI_COMMAND=` of an environment block (NUL-separated): the
/// one that wins, as libcni appends its variables after the runtime's own.
pub fn cni_command(environ: &[u8]) -> Option<String> {
    environ
        .split(|&b| b == 0)
        .filter_map(|var| var.strip_prefix(b"CNI_COMMAND="))
        .next_back()
        .map(|v| String::from_utf8_lossy(v).into_owned())
        .filter(|v| !v.is_empty())
}

/// Decode a visitor record: its fixed part, then as many bytes of
/// environment as its `env_len` says were sent.
pub fn decode(buf: &[u8]) -> Result<Visitor, DecodeError> {
    let bad = |need| DecodeError::BadLength {
        kind: Kind::Visitor,
        len: buf.len(),
        need,
    };
    let (Some(fixed), Some(env)) = (buf.get(..VISITOR_FIXED), buf.get(VISITOR_FIXED..)) else {
        return Err(bad(VISITOR_FIXED));
    };
    let mut whole = [0u8; size_of::<VisitorEvent>()];
    whole[..VISITOR_FIXED].copy_from_slice(fixed);
    let e: VisitorEvent = tracer_common::read(&whole).ok_or(bad(VISITOR_FIXED))?;
    let sent = if e.env_len == ENV_UNREAD {
        0
    } else {
        (e.env_len as usize).min(ENV_LEN)
    };
    if env.len() != sent {
        return Err(bad(VISITOR_FIXED + sent));
    }
    let env_whole = e.env_len != ENV_UNREAD && e.env_len as usize == sent;
    Ok(Visitor {
        hdr: e.hdr,
        ns: e.ns,
        args_len: e.args_len,
        args: e.args,
        env_whole,
        cni_command: if env_whole { cni_command(env) } else { None },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(args: &[u8], env: &[u8], env_len: u32) -> Vec<u8> {
        let mut e = VisitorEvent {
            hdr: Header {
                kind: Kind::Visitor as u32,
                _reserved: 0,
                ts_ns: 5,
                cgroup_id: 1,
                pid: 42,
                tgid: 41,
                ppid: 1,
                _pad: 0,
                comm: *b"bridge\0\0\0\0\0\0\0\0\0\0",
            },
            args_len: args.len() as u32,
            env_len,
            ns: NsSet {
                inum: [7; tracer_common::NS_COUNT],
                _pad: 0,
                id: [0; tracer_common::NS_COUNT],
            },
            args: [0; ARGS_LEN],
            env: [0; ENV_LEN],
        };
        e.args[..args.len()].copy_from_slice(args);
        e.env[..env.len()].copy_from_slice(env);
        let mut b = tracer_common::as_bytes(&e).to_vec();
        b.truncate(VISITOR_FIXED + env.len());
        b
    }

    #[test]
    fn the_last_cni_command_wins() {
        assert_eq!(
            cni_command(b"PATH=/bin\0CNI_COMMAND=ADD\0CNI_IFNAME=eth0\0"),
            Some("ADD".into())
        );
        assert_eq!(
            cni_command(b"CNI_COMMAND=ADD\0X=1\0CNI_COMMAND=DEL"),
            Some("DEL".into())
        );
        assert_eq!(cni_command(b"PATH=/bin\0XCNI_COMMAND=ADD\0"), None);
        assert_eq!(cni_command(b"CNI_COMMAND=\0"), None);
        assert_eq!(cni_command(b""), None);
    }

    /// A plugin's argv and CNI command come from the record; what a
    /// recording keeps holds no other variable and decodes the same.
    #[test]
    fn a_whole_environment_gives_the_cni_command_and_only_it_is_kept() {
        let env = b"CNI_COMMAND=ADD\0TOKEN=s3cret\0CNI_IFNAME=eth0\0";
        let v = decode(&record(b"/opt/cni/bin/bridge\0", env, env.len() as u32)).unwrap();
        assert!(v.complete());
        assert_eq!(v.argv(), ["/opt/cni/bin/bridge"]);
        assert_eq!(v.cni_command.as_deref(), Some("ADD"));
        let kept = v.bytes();
        assert!(!kept.windows(6).any(|w| w == b"s3cret"), "a secret kept");
        assert!(
            !kept.windows(6).any(|w| w == b"IFNAME"),
            "another variable kept"
        );
        assert_eq!(decode(&kept), Ok(v));
    }

    /// An environment that was cut or unreadable tells no CNI command
    /// (a later one may have been cut off): not complete, /proc is read.
    #[test]
    fn a_cut_or_unread_environment_is_not_complete() {
        let env = [b'A'; ENV_LEN];
        let cut = decode(&record(b"x\0", &env, ENV_LEN as u32 + 10)).unwrap();
        assert!(!cut.env_whole && !cut.complete());
        assert_eq!(cut.cni_command, None);
        assert_eq!(decode(&cut.bytes()), Ok(cut));
        let unread = decode(&record(b"x\0", b"", ENV_UNREAD)).unwrap();
        assert!(!unread.complete());
        let no_args = decode(&record(b"", b"CNI_COMMAND=DEL\0", 16)).unwrap();
        assert!(!no_args.complete());
        // An empty environment was read whole: no CNI command in it.
        let empty = decode(&record(b"nsenter\0", b"", 0)).unwrap();
        assert!(empty.complete() && empty.cni_command.is_none());
    }

    #[test]
    fn a_length_that_disagrees_with_env_len_is_an_error() {
        let env = b"CNI_COMMAND=ADD\0";
        let good = record(b"x\0", env, env.len() as u32);
        for bad in [
            &good[..good.len() - 1],
            &good[..VISITOR_FIXED - 1],
            &[0u8; 8][..],
        ] {
            assert!(
                matches!(
                    decode(bad),
                    Err(DecodeError::BadLength {
                        kind: Kind::Visitor,
                        ..
                    })
                ),
                "{} bytes",
                bad.len()
            );
        }
        let mut long = good.clone();
        long.push(0);
        assert!(decode(&long).is_err());
        // Bytes after an unreadable environment.
        assert!(decode(&record(b"x\0", b"A", ENV_UNREAD)).is_err());
    }
}
