//! Kernel struct member offsets from BTF, for the eBPF programs.
//!
//! Rust eBPF has no CO-RE relocations, and layouts move between kernels
//! (6.18's `ns_common` gained `ns_type` and `ns_id`), so every offset the
//! programs use is looked up here at start-up and patched in as a global.

use std::path::Path;

use btf_rs::{Btf, Type};
use tracer_common::{ABSENT, NS_COUNT, Ns, Offsets};

#[derive(Debug, thiserror::Error)]
pub enum BtfError {
    #[error(
        "cannot read BTF from {path}: {source} (kernels without CONFIG_DEBUG_INFO_BTF need --btf PATH to a BTF file for this kernel)"
    )]
    Open {
        path: String,
        #[source]
        source: btf_rs::Error,
    },
    #[error("BTF has no struct {0}")]
    NoStruct(String),
    #[error("BTF: struct {0} has no member {1}")]
    NoMember(String, String),
    #[error("BTF: {0}")]
    Btf(#[from] btf_rs::Error),
}

pub struct KernelBtf {
    btf: Btf,
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

impl KernelBtf {
    pub fn open(path: &Path) -> Result<Self, BtfError> {
        let btf = Btf::from_file(path).map_err(|source| BtfError::Open {
            path: path.display().to_string(),
            source,
        })?;
        Ok(Self { btf })
    }

    /// Every offset the programs need. Time namespaces (CONFIG_TIME_NS) and
    /// `ns_common.ns_id` (6.18+) are optional; everything else is required.
    pub fn offsets(&self) -> Result<Offsets, BtfError> {
        let task = "task_struct";
        let mut o = Offsets::zeroed();
        o.task_pid = self.offset(task, "pid")?;
        o.task_tgid = self.offset(task, "tgid")?;
        o.task_real_parent = self.offset(task, "real_parent")?;
        o.task_comm = self.offset(task, "comm")?;
        o.task_nsproxy = self.offset(task, "nsproxy")?;
        o.task_thread_pid = self.offset(task, "thread_pid")?;
        o.task_real_cred = self.offset(task, "real_cred")?;
        o.task_signal = self.offset(task, "signal")?;
        o.task_exit_code = self.offset(task, "exit_code")?;
        o.task_mm = self.offset(task, "mm")?;
        o.signal_live = self.offset("signal_struct", "live")?;
        o.mm_arg_start = self.offset("mm_struct", "arg_start")?;
        o.mm_arg_end = self.offset("mm_struct", "arg_end")?;
        for (ns, st, member) in NS_STRUCTS {
            let optional = ns == Ns::Time;
            let slot = ns as usize;
            if let Some(member) = member {
                o.nsproxy[slot] = self.maybe(self.offset("nsproxy", member), optional)?;
            }
            o.ns_common[slot] = self.maybe(self.offset(st, "ns"), optional)?;
        }
        o.ns_common_inum = self.offset("ns_common", "inum")?;
        o.ns_common_ns_id = self.maybe(self.offset("ns_common", "ns_id"), true)?;
        o.pid_level = self.offset("pid", "level")?;
        o.pid_numbers = self.offset("pid", "numbers")?;
        o.upid_size = u32::try_from(self.struct_named("upid")?.size())
            .map_err(|_| BtfError::NoStruct("upid (size)".into()))?;
        o.upid_ns = self.offset("upid", "ns")?;
        o.cred_user_ns = self.offset("cred", "user_ns")?;
        // Optional: without them, forks are reported with no clone flags.
        if let Some((nr, arg0)) = SYSCALL_REGS {
            o.regs_syscall_nr = self.maybe(self.offset("pt_regs", nr), true)?;
            o.regs_arg0 = self.maybe(self.offset("pt_regs", arg0), true)?;
        }
        (o.nr_clone, o.nr_clone3) = (SYS_CLONE, SYS_CLONE3);
        Ok(o)
    }

    /// A missing optional member becomes [`ABSENT`]; other errors pass.
    fn maybe(&self, r: Result<u32, BtfError>, optional: bool) -> Result<u32, BtfError> {
        match r {
            Err(BtfError::NoMember(..) | BtfError::NoStruct(..)) if optional => Ok(ABSENT),
            other => other,
        }
    }

    /// Byte offset of `member` in `struct st`, looking through anonymous
    /// structs and unions.
    pub fn offset(&self, st: &str, member: &str) -> Result<u32, BtfError> {
        let s = self.struct_named(st)?;
        self.find_member(&s, member)?
            .ok_or_else(|| BtfError::NoMember(st.into(), member.into()))
    }

    fn struct_named(&self, name: &str) -> Result<btf_rs::Struct, BtfError> {
        // Several types can share a name (a forward declaration, say): take the struct.
        for t in self.btf.resolve_types_by_name(name).unwrap_or_default() {
            if let Type::Struct(s) = t {
                return Ok(s);
            }
        }
        Err(BtfError::NoStruct(name.into()))
    }

    fn find_member(&self, s: &btf_rs::Struct, name: &str) -> Result<Option<u32>, BtfError> {
        for m in &s.members {
            let mname = self.btf.resolve_name(m)?;
            if mname == name {
                return Ok(Some(m.bit_offset() / 8));
            }
            if mname.is_empty() {
                // Anonymous struct/union: its members belong to the parent.
                let inner = self.btf.resolve_chained_type(m)?;
                if let Type::Struct(inner) | Type::Union(inner) = inner
                    && let Some(off) = self.find_member(&inner, name)?
                {
                    return Ok(Some(m.bit_offset() / 8 + off));
                }
            }
        }
        Ok(None)
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
}
