//! Kernel struct member offsets from BTF, for the eBPF programs, and the
//! kernel's BTF as aya wants it.
//!
//! Rust eBPF has no CO-RE relocations, and layouts move between kernels
//! (6.18's `ns_common` gained `ns_type` and `ns_id`), so every offset the
//! programs use is looked up here at start-up and patched in as a global.
//!
//! Memory is the start-up's peak: the BTF file is mapped, not copied, where
//! the kernel allows ([`source`]); the offsets come from a light walk over
//! its bytes ([`raw`]); the one full parse is aya's ([`KernelBtf::into_aya`]),
//! which `tp_btf` programs need to load, dropped once they are.

mod raw;
mod source;

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::Path;

use aya::EbpfLoader;
use tracer_common::{ABSENT, NS_COUNT, Ns, Offsets};

use raw::{Index, RawError};
use source::Bytes;

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error(
        "cannot read BTF from {path}: {source} (kernels without CONFIG_DEBUG_INFO_BTF need --btf PATH to a BTF file for this kernel)"
    )]
    Open {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("BTF has no struct {0}")]
    NoStruct(String),
    #[error("BTF: struct {0} has no member {1}")]
    NoMember(String, String),
    #[error("BTF: {0}")]
    Btf(#[from] RawError),
    #[error("BTF of {path}: {source}")]
    Aya {
        path: String,
        #[source]
        source: Box<aya::BtfError>,
    },
}

/// A BTF file's bytes and where its types start; nothing decoded yet.
pub struct KernelBtf {
    path: String,
    data: Bytes,
    index: Index,
}

/// The namespace struct behind each slot, and its `struct nsproxy` member
/// (`None` for slots reached another way: pid through `task->thread_pid`,
/// user through `task->real_cred`).
const NS_STRUCTS: [(Ns, &str, Option<&str>); NS_COUNT] = [
    (Ns::Mnt, "mnt_namespace", Some("mnt_ns")),
    (Ns::Uts, "uts_namespace", Some("uts_ns")),
    (Ns::Ipc, "ipc_namespace", Some("ipc_ns")),
    (Ns::Pid, "pid_namespace", None),
    (
        Ns::PidForChildren,
        "pid_namespace",
        Some("pid_ns_for_children"),
    ),
    (Ns::Net, "net", Some("net_ns")),
    (Ns::User, "user_namespace", None),
    (Ns::Cgroup, "cgroup_namespace", Some("cgroup_ns")),
    (Ns::Time, "time_namespace", Some("time_ns")),
];

impl KernelBtf {
    pub fn open(path: &Path) -> Result<Self, BtfError> {
        let shown = path.display().to_string();
        let open = |source| BtfError::Open {
            path: shown.clone(),
            source,
        };
        let data = File::open(path).and_then(Bytes::of).map_err(open)?;
        let index = Index::build(&data)
            .map_err(|e| open(std::io::Error::new(std::io::ErrorKind::InvalidData, e)))?;
        Ok(Self {
            path: shown,
            data,
            index,
        })
    }

    /// The full parse aya needs (`tp_btf` programs load against it): about
    /// 13 MiB for the kernel's BTF, so made once, after the offsets, with
    /// the index dropped first (its 0.6 MiB would add to the peak), and
    /// itself dropped once the programs are loaded ([`release`]).
    pub fn into_aya(self) -> Result<aya::Btf, BtfError> {
        let Self { path, data, index } = self;
        drop(index);
        aya::Btf::parse(&data, aya::Endianness::default()).map_err(|e| BtfError::Aya {
            path,
            source: Box::new(e),
        })
    }

    /// Every offset the programs need (see [`offsets`]).
    pub fn offsets(&self) -> Result<Offsets, BtfError> {
        offsets(self)
    }

    /// Byte offset of `member` in `struct st`, looking through anonymous
    /// structs and unions.
    pub fn offset(&self, st: &str, member: &str) -> Result<u32, BtfError> {
        let s = self.struct_named(st)?;
        let bits = self
            .index
            .member_bit_offset(&self.data, &s, member)?
            .ok_or_else(|| BtfError::NoMember(st.into(), member.into()))?;
        Ok(bits / 8)
    }

    fn struct_named(&self, name: &str) -> Result<raw::Type, BtfError> {
        self.index
            .struct_named(&self.data, name)?
            .ok_or_else(|| BtfError::NoStruct(name.into()))
    }
}

/// An aya loader that loads against `btf`, without a parse of its own.
///
/// aya 0.14's `EbpfLoader::new()` reads and parses /sys/kernel/btf/vmlinux
/// itself (19 MiB at its peak, 13 MiB kept) even when it is then given a
/// BTF (aya-rs/aya#1172; lazy upstream since aya-rs/aya#1639, in releases
/// that need a newer rustc than ours). So while it is made, no file can be
/// opened ([`NoNewFiles`]): its read fails, and it starts without one.
/// Should that not work, aya parses as before: more memory, same result.
pub fn loader(btf: &aya::Btf) -> EbpfLoader<'_> {
    let guard = NoNewFiles::set();
    let mut loader = EbpfLoader::new();
    drop(guard);
    loader.btf(Some(btf));
    loader
}

/// Drop aya's parse and hand its pages back to the kernel at once (glibc
/// keeps freed heap otherwise), so that what is mapped next (the ring
/// buffer) never adds up with it in the peak.
pub fn release(btf: aya::Btf) {
    drop(btf);
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only returns free heap pages to the kernel.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// RLIMIT_NOFILE lowered to the lowest free descriptor, so that no file
/// can be opened until this is dropped. The limit is the process's: only
/// while it has a single thread (at start-up), so nothing else is refused.
struct NoNewFiles(libc::rlimit);

impl NoNewFiles {
    fn set() -> Option<Self> {
        let single = std::fs::read_dir("/proc/self/task").is_ok_and(|d| d.count() == 1);
        if !single {
            log::debug!("more than one thread: aya parses the kernel's BTF once more");
            return None;
        }
        let mut saved = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a pointer to an rlimit the call fills.
        if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut saved) } != 0 {
            return None;
        }
        // A new file gets the lowest free descriptor, this one.
        let lowest = File::open("/").ok()?.as_raw_fd();
        let lim = libc::rlimit {
            rlim_cur: libc::rlim_t::try_from(lowest).ok()?,
            rlim_max: saved.rlim_max,
        };
        // SAFETY: a pointer to a valid rlimit; lowering the soft limit
        // needs no privilege and closes nothing already open.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } != 0 {
            return None;
        }
        Some(Self(saved))
    }
}

impl Drop for NoNewFiles {
    fn drop(&mut self) {
        // SAFETY: a pointer to the rlimit read in `set`; the soft limit goes
        // back up to where it was, at most the unchanged hard limit.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &self.0) } != 0 {
            log::warn!(
                "could not restore RLIMIT_NOFILE: {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// Struct layouts, as BTF gives them.
pub trait Layout {
    /// Byte offset of `member` in `struct st`, looking through anonymous
    /// structs and unions.
    fn offset(&self, st: &str, member: &str) -> Result<u32, BtfError>;
    fn struct_size(&self, st: &str) -> Result<u32, BtfError>;
}

impl Layout for KernelBtf {
    fn offset(&self, st: &str, member: &str) -> Result<u32, BtfError> {
        KernelBtf::offset(self, st, member)
    }
    fn struct_size(&self, st: &str) -> Result<u32, BtfError> {
        Ok(self.struct_named(st)?.size())
    }
}

/// Every offset the programs need. Time namespaces (CONFIG_TIME_NS) and
/// `ns_common.ns_id` (6.18+) are optional; everything else is required.
pub fn offsets(l: &impl Layout) -> Result<Offsets, BtfError> {
    let task = "task_struct";
    let mut o = Offsets::zeroed();
    o.task_pid = l.offset(task, "pid")?;
    o.task_tgid = l.offset(task, "tgid")?;
    o.task_real_parent = l.offset(task, "real_parent")?;
    o.task_comm = l.offset(task, "comm")?;
    o.task_nsproxy = l.offset(task, "nsproxy")?;
    o.task_thread_pid = l.offset(task, "thread_pid")?;
    o.task_real_cred = l.offset(task, "real_cred")?;
    o.task_signal = l.offset(task, "signal")?;
    o.task_exit_code = l.offset(task, "exit_code")?;
    o.task_mm = l.offset(task, "mm")?;
    o.signal_live = l.offset("signal_struct", "live")?;
    o.mm_arg_start = l.offset("mm_struct", "arg_start")?;
    o.mm_arg_end = l.offset("mm_struct", "arg_end")?;
    o.mm_env_start = l.offset("mm_struct", "env_start")?;
    o.mm_env_end = l.offset("mm_struct", "env_end")?;
    for (ns, st, member) in NS_STRUCTS {
        let optional = ns == Ns::Time;
        let slot = ns as usize;
        if let Some(member) = member {
            o.nsproxy[slot] = maybe(l.offset("nsproxy", member), optional)?;
        }
        o.ns_common[slot] = maybe(l.offset(st, "ns"), optional)?;
    }
    o.ns_common_inum = l.offset("ns_common", "inum")?;
    o.ns_common_ns_id = maybe(l.offset("ns_common", "ns_id"), true)?;
    o.pid_level = l.offset("pid", "level")?;
    o.pid_numbers = l.offset("pid", "numbers")?;
    o.upid_size = l.struct_size("upid")?;
    o.upid_ns = l.offset("upid", "ns")?;
    o.upid_nr = l.offset("upid", "nr")?;
    o.cred_user_ns = l.offset("cred", "user_ns")?;
    // Optional: without them, forks are reported with no clone flags.
    if let Some((nr, arg0)) = SYSCALL_REGS {
        o.regs_syscall_nr = maybe(l.offset("pt_regs", nr), true)?;
        o.regs_arg0 = maybe(l.offset("pt_regs", arg0), true)?;
    }
    (o.nr_clone, o.nr_clone3) = (SYS_CLONE, SYS_CLONE3);
    Ok(o)
}

/// The `struct pt_regs` members that keep a syscall's number and first
/// argument as they were at entry, on this architecture.
#[cfg(target_arch = "x86_64")]
const SYSCALL_REGS: Option<(&str, &str)> = Some(("orig_ax", "di"));
#[cfg(target_arch = "aarch64")]
const SYSCALL_REGS: Option<(&str, &str)> = Some(("syscallno", "orig_x0"));
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const SYSCALL_REGS: Option<(&str, &str)> = None;

/// This architecture's clone and clone3 numbers.
const SYS_CLONE: u32 = libc::SYS_clone as u32;
const SYS_CLONE3: u32 = libc::SYS_clone3 as u32;

/// A missing optional member becomes [`ABSENT`]; other errors pass.
fn maybe(r: Result<u32, BtfError>, optional: bool) -> Result<u32, BtfError> {
    match r {
        Err(BtfError::NoMember(..) | BtfError::NoStruct(..)) if optional => Ok(ABSENT),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const VMLINUX: &str = "/sys/kernel/btf/vmlinux";

    /// Resolution against the running kernel: every required member exists
    /// and the offsets are plausible for this architecture.
    #[test]
    fn resolves_every_offset_on_this_kernel() {
        let btf = KernelBtf::open(Path::new(VMLINUX)).expect("this kernel has BTF");
        let o = btf.offsets().expect("all members found");
        for (name, v) in [
            ("task_pid", o.task_pid),
            ("task_tgid", o.task_tgid),
            ("task_nsproxy", o.task_nsproxy),
            ("task_comm", o.task_comm),
            ("ns_common_inum", o.ns_common_inum),
            ("pid_numbers", o.pid_numbers),
            ("upid_size", o.upid_size),
            ("upid_nr", o.upid_nr),
        ] {
            assert_ne!(v, ABSENT, "{name}");
        }
        // tgid follows pid directly in every kernel since 2.6.
        assert_eq!(o.task_tgid, o.task_pid + 4);
        // Every nsproxy pointer is distinct and pointer-aligned.
        let mut seen = std::collections::BTreeSet::new();
        for ns in Ns::ALL {
            let m = o.nsproxy[ns as usize];
            if m != ABSENT {
                assert_eq!(m % 8, 0, "{ns:?}");
                assert!(seen.insert(m), "{ns:?} shares an nsproxy offset");
            }
            if ns != Ns::Time {
                assert_ne!(o.ns_common[ns as usize], ABSENT, "{ns:?}");
            }
        }
        assert_eq!(o.nsproxy[Ns::Pid as usize], ABSENT);
        assert_eq!(o.nsproxy[Ns::User as usize], ABSENT);
        // pid and pid_for_children are the same struct.
        assert_eq!(
            o.ns_common[Ns::Pid as usize],
            o.ns_common[Ns::PidForChildren as usize]
        );
    }

    #[test]
    fn missing_members_are_named() {
        let btf = KernelBtf::open(Path::new(VMLINUX)).expect("this kernel has BTF");
        let err = btf.offset("task_struct", "no_such_member").unwrap_err();
        assert_eq!(
            err.to_string(),
            "BTF: struct task_struct has no member no_such_member"
        );
        let err = btf.offset("no_such_struct_xyz", "x").unwrap_err();
        assert!(matches!(err, BtfError::NoStruct(_)));
    }

    #[test]
    fn members_inside_anonymous_structs_are_found() {
        // mm_struct keeps arg_start inside an anonymous struct on 5.x/6.x.
        let btf = KernelBtf::open(Path::new(VMLINUX)).expect("this kernel has BTF");
        let start = btf.offset("mm_struct", "arg_start").expect("arg_start");
        let end = btf.offset("mm_struct", "arg_end").expect("arg_end");
        assert_eq!(end, start + 8);
    }

    #[test]
    fn unreadable_btf_gives_a_clear_error() {
        let Err(err) = KernelBtf::open(Path::new("/nonexistent/vmlinux")) else {
            panic!("opening a missing file succeeded");
        };
        assert!(err.to_string().contains("--btf PATH"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_btf_is_refused_clearly() {
        let path = std::env::temp_dir().join(format!("tracer-not-btf-{}", std::process::id()));
        std::fs::write(&path, b"#!/bin/sh\nexit 0\n").expect("temp file");
        let r = KernelBtf::open(&path);
        let _ = std::fs::remove_file(&path);
        let Err(err) = r else {
            panic!("a shell script was taken for BTF");
        };
        let err = err.to_string();
        assert!(
            err.contains("not BTF") && err.contains("--btf PATH"),
            "{err}"
        );
    }

    /// btf-rs's full index, the resolver this one replaced: the same
    /// lookups, through every type decoded.
    struct FullParse(btf_rs::Btf);

    impl FullParse {
        fn struct_named(&self, name: &str) -> Result<btf_rs::Struct, BtfError> {
            for t in self.0.resolve_types_by_name(name).unwrap_or_default() {
                if let btf_rs::Type::Struct(s) = t {
                    return Ok(s);
                }
            }
            Err(BtfError::NoStruct(name.into()))
        }

        fn find(&self, s: &btf_rs::Struct, name: &str) -> Option<u32> {
            for m in &s.members {
                let mname = self.0.resolve_name(m).expect("member name");
                if mname == name {
                    return Some(m.bit_offset() / 8);
                }
                if mname.is_empty()
                    && let Ok(btf_rs::Type::Struct(inner) | btf_rs::Type::Union(inner)) =
                        self.0.resolve_chained_type(m)
                    && let Some(off) = self.find(&inner, name)
                {
                    return Some(m.bit_offset() / 8 + off);
                }
            }
            None
        }
    }

    impl Layout for FullParse {
        fn offset(&self, st: &str, member: &str) -> Result<u32, BtfError> {
            let s = self.struct_named(st)?;
            self.find(&s, member)
                .ok_or_else(|| BtfError::NoMember(st.into(), member.into()))
        }
        fn struct_size(&self, st: &str) -> Result<u32, BtfError> {
            Ok(self.struct_named(st)?.size() as u32)
        }
    }

    #[test]
    fn offsets_match_a_full_parse_of_the_kernels_btf() {
        let light = KernelBtf::open(Path::new(VMLINUX)).expect("this kernel has BTF");
        let full = FullParse(btf_rs::Btf::from_file(VMLINUX).expect("btf-rs parses it"));
        assert_eq!(
            light.offsets().expect("light walk"),
            offsets(&full).expect("full parse")
        );
    }

    #[test]
    fn aya_parses_the_same_bytes_whole() {
        let btf = KernelBtf::open(Path::new(VMLINUX)).expect("this kernel has BTF");
        let aya_btf = btf.into_aya().expect("aya parses it");
        let raw = std::fs::read(VMLINUX).expect("readable");
        // Written back, aya's parse gives the bytes it was given: every type read.
        assert!(aya_btf.to_bytes() == raw, "aya's BTF differs");
    }
}
