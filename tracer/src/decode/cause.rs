//! Cause records decoded: fatal signals and OOM victims outside the host,
//! and new cgroup v2 directories (see `tracer_common::CauseKind`).

use tracer_common::{CauseKind, CgroupEvent, Header, NsSet, OomEvent, SignalEvent, read};

use super::DecodeError;

/// One cause record, checked and typed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    Signal(SignalEvent),
    Oom(OomEvent),
    /// Boxed: its path makes it the largest record.
    CgroupMkdir(Box<CgroupEvent>),
}

fn exact<T: tracer_common::Pod>(kind: CauseKind, buf: &[u8]) -> Result<T, DecodeError> {
    read(buf).ok_or(DecodeError::BadCauseLength {
        kind,
        len: buf.len(),
        need: size_of::<T>(),
    })
}

/// Decode a record whose header says `kind`.
pub fn decode(kind: CauseKind, buf: &[u8]) -> Result<Cause, DecodeError> {
    Ok(match kind {
        CauseKind::Signal => Cause::Signal(exact(kind, buf)?),
        CauseKind::OomVictim => Cause::Oom(exact(kind, buf)?),
        CauseKind::CgroupMkdir => Cause::CgroupMkdir(Box::new(exact(kind, buf)?)),
    })
}

impl Cause {
    pub fn header(&self) -> &Header {
        match self {
            Cause::Signal(e) => &e.hdr,
            Cause::Oom(e) => &e.hdr,
            Cause::CgroupMkdir(e) => &e.hdr,
        }
    }

    /// The namespaces of the task the record is about: the signal's target,
    /// the OOM victim, the cgroup's maker.
    pub fn ns(&self) -> &NsSet {
        match self {
            Cause::Signal(e) => &e.ns,
            Cause::Oom(e) => &e.ns,
            Cause::CgroupMkdir(e) => &e.ns,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Cause::Signal(_) => "signal",
            Cause::Oom(_) => "oom_victim",
            Cause::CgroupMkdir(_) => "cgroup_mkdir",
        }
    }

    pub fn bytes(&self) -> Vec<u8> {
        match self {
            Cause::Signal(e) => tracer_common::as_bytes(e).to_vec(),
            Cause::Oom(e) => tracer_common::as_bytes(e).to_vec(),
            Cause::CgroupMkdir(e) => tracer_common::as_bytes(e.as_ref()).to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use tracer_common::Kind;

    use super::super::{DecodeError, Event, decode, encode};
    use crate::testkit::cause_samples;

    #[test]
    fn every_cause_round_trips_and_a_wrong_length_is_an_error() {
        for ev in cause_samples() {
            let bytes = encode(&ev);
            assert_eq!(decode(&bytes).as_ref(), Ok(&ev), "{}", ev.name());
            for cut in [bytes.len() - 1, 60] {
                assert!(
                    matches!(decode(&bytes[..cut]), Err(DecodeError::BadCauseLength { len, .. }) if len == cut),
                    "{} cut at {cut}",
                    ev.name()
                );
            }
            let mut long = bytes.clone();
            long.push(0);
            assert!(matches!(
                decode(&long),
                Err(DecodeError::BadCauseLength { .. })
            ));
        }
    }

    #[test]
    fn cause_kinds_never_decode_as_namespace_kinds() {
        let names: Vec<&str> = cause_samples().iter().map(Event::name).collect();
        assert_eq!(names, ["signal", "oom_victim", "cgroup_mkdir"]);
        assert!(Kind::try_from(11).is_err());
    }
}
