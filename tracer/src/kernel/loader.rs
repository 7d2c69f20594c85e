//! Pre-flight checks, then load the eBPF object with the BTF offsets patched
//! in and attach every probe. Each failure says what is missing and what to do.

use std::path::{Path, PathBuf};

use aya::{
    Btf, Ebpf,
    maps::{MapData, MapError, PerCpuArray, PerCpuValues, RingBuf},
    programs::{BtfTracePoint, ProgramError, TracePoint},
};
use tracer_common::{
    ABSENT, Attach, CAUSE_PROGRAMS, CLONE_FAILURE_PROGRAMS, EVENTS_MAP, FILTER_GLOBAL, Filter,
    LAST_WAKE_MAP, MOUNT_PROGRAMS, Ns, NsSet, OFFSETS_GLOBAL, Offsets, PROGRAMS, Probe, STATS_MAP,
    Stat, WAKEUP_GLOBAL, wakeup_bytes,
};

use super::btf::{self, BtfError, KernelBtf};
use super::tracefs::{Tracefs, TracefsError, Unmount};
use super::wake_slot::WakeSlot;
use crate::host::{ns, system};

#[cfg(ebpf_obj)]
static OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/tracer.bpf.o"));
#[cfg(not(ebpf_obj))]
static OBJECT: &[u8] = &[];

pub const DEFAULT_BTF: &str = "/sys/kernel/btf/vmlinux";

pub struct Options {
    pub btf: PathBuf,
    /// Let the programs log their own failures (aya-log), at this level.
    pub ebpf_log: Option<log::LevelFilter>,
    /// Keep host tasks' fork/exec/exit in the kernel (off with `--all`).
    pub filter: bool,
    /// Ring buffer size in bytes (a power of two, a multiple of the page size).
    pub ring_bytes: u32,
    /// Report refused namespace-making clones ([`CLONE_FAILURE_PROGRAMS`]):
    /// for the raw view, the metrics and recordings, which show them.
    pub clone_failures: bool,
    /// Every program returns at once (unshare's but for the tracer's own
    /// self-test): the bench's floor (`--debug-idle-programs`).
    pub idle: bool,
}

/// The in-kernel filter for these host namespaces (see [`Filter`]).
fn filter(enabled: bool, idle: bool, host: &NsSet) -> Filter {
    let inum = |ns: Ns| host.inum[ns as usize];
    // The tracer's own nsproxy can stand for the host's only if it is in
    // the host's namespaces and in the root pid namespace (one NSpid).
    let me = ns::ns_set("/proc/self");
    let same = [
        Ns::Net,
        Ns::Ipc,
        Ns::Uts,
        Ns::Mnt,
        Ns::Pid,
        Ns::PidForChildren,
    ]
    .iter()
    .all(|&n| me.inum[n as usize] == inum(n) && inum(n) != 0);
    Filter {
        // Without the host's namespaces nothing could be told apart: send all.
        enabled: u32::from(enabled && inum(Ns::Net) != 0),
        host_net: inum(Ns::Net),
        host_ipc: inum(Ns::Ipc),
        host_uts: inum(Ns::Uts),
        host_pid: inum(Ns::Pid),
        host_mnt: inum(Ns::Mnt),
        idle: u32::from(idle),
        self_tgid: if same && system::in_root_pid_ns() {
            std::process::id()
        } else {
            0
        },
    }
}

/// What the user is told once tracing runs.
#[derive(Clone, Debug)]
pub struct Info {
    pub kernel: String,
    pub probes: usize,
    /// The kernel has `ns_common.ns_id` (never-reused namespace ids).
    pub ns_id: bool,
    /// Host tasks' fork/exec/exit stay in the kernel.
    pub filter: bool,
}

pub struct Loaded {
    /// Owns the programs and their links: dropping it detaches everything.
    pub ebpf: Ebpf,
    pub events: RingBuf<MapData>,
    pub stats: PerCpuArray<MapData, u64>,
    /// When the reader was last woken or looked (see `QUIET_WAKE_NS`).
    pub last_wake: WakeSlot,
    pub logger: Option<aya_log::EbpfLogger<&'static dyn log::Log>>,
    pub info: Info,
    pub offsets: Offsets,
    /// The tracefs the tracer mounted, unmounted when this is dropped
    /// (after the programs are detached).
    pub unmount: Option<Unmount>,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(
        "this tracer binary was built without its eBPF programs: build it with `cargo xtask build` (or start it with `cargo xtask run`)"
    )]
    NoObject,
    #[error(
        "loading eBPF needs root (or {MINIMAL_CAPS}); this process lacks {0}: run it with sudo (from a checkout: sudo -E env \"PATH=$PATH\" cargo xtask run)"
    )]
    NotPrivileged(String),
    #[error(transparent)]
    Btf(#[from] BtfError),
    #[error(transparent)]
    Tracefs(#[from] TracefsError),
    #[error(
        "tracepoint {0} does not exist on this kernel (syscall tracepoints need CONFIG_FTRACE_SYSCALLS): the tracer cannot run here"
    )]
    MissingTracepoint(String),
    #[error("cannot load the eBPF object: {0}")]
    Object(#[from] aya::EbpfError),
    #[error("the eBPF object has no program {0}: rebuild with `cargo xtask build`")]
    NoProgram(&'static str),
    #[error("the eBPF object has no map {0}: rebuild with `cargo xtask build`")]
    NoMap(&'static str),
    #[error("map {0}: {1}")]
    Map(&'static str, aya::maps::MapError),
    #[error("program {name} ({probe}) failed to {step}: {source}")]
    Program {
        name: &'static str,
        probe: String,
        step: &'static str,
        #[source]
        source: Box<ProgramError>,
    },
    #[error("aya-log: {0}")]
    Log(#[from] aya_log::Error),
    #[error(
        "--debug-idle-programs needs the tracer in the host's namespaces and root pid namespace: only its own records are sent then"
    )]
    IdleAway,
}

fn describe(p: &Probe) -> String {
    match p.attach {
        Attach::Tracepoint(cat) => format!("{cat}:{}", p.name),
        Attach::Btf => format!("tp_btf:{}", p.name),
    }
}

/// Capability numbers (linux/capability.h).
mod cap {
    pub const SYS_PTRACE: u32 = 19;
    pub const SYS_ADMIN: u32 = 21;
    pub const PERFMON: u32 = 38;
    pub const BPF: u32 = 39;
}

/// What the tracer needs, found by trying each subset here (Linux 6.18):
/// loading and attaching take CAP_BPF and CAP_PERFMON (CAP_SYS_ADMIN
/// stands in for both); tracefs is root's and mode 0700, so a user other
/// than root needs CAP_DAC_READ_SEARCH; mounting tracefs where it is not
/// mounted takes CAP_SYS_ADMIN; reading other processes' namespaces at
/// start (`/proc/<pid>/ns`, ptrace rules) takes CAP_SYS_PTRACE.
pub const MINIMAL_CAPS: &str = "CAP_BPF, CAP_PERFMON, CAP_SYS_PTRACE, CAP_DAC_READ_SEARCH unless root, and CAP_SYS_ADMIN only where tracefs is not mounted";

/// The capabilities that loading lacks, by name (empty: none).
fn missing_for_loading(caps: u64) -> Vec<&'static str> {
    let has = |c: u32| caps & (1 << c) != 0;
    if has(cap::SYS_ADMIN) {
        return Vec::new();
    }
    let mut missing = Vec::new();
    if !has(cap::BPF) {
        missing.push("CAP_BPF");
    }
    if !has(cap::PERFMON) {
        missing.push("CAP_PERFMON");
    }
    missing
}

fn check_privileges() -> Result<(), LoadError> {
    let caps = system::effective_caps();
    let missing = missing_for_loading(caps);
    if !missing.is_empty() {
        return Err(LoadError::NotPrivileged(missing.join(" and ")));
    }
    Ok(())
}

/// Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK; later ones use
/// memcg, so a refused bump only matters there.
fn bump_memlock() {
    let lim = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: valid pointer to an rlimit.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &lim) } != 0 {
        log::debug!(
            "could not raise RLIMIT_MEMLOCK ({}); fine on kernels >= 5.11",
            std::io::Error::last_os_error()
        );
    }
}

/// Resolve offsets from BTF (also used without root, e.g. by tests).
pub fn offsets(btf: &Path) -> Result<Offsets, LoadError> {
    Ok(KernelBtf::open(btf)?.offsets()?)
}

/// Every program the tracer must attach: the namespace programs, then the
/// mount programs (pins as kernel events), and a refused clone's where
/// `opts` asks. The cause programs ([`CAUSE_PROGRAMS`]) are optional.
pub fn probes(opts: &Options) -> impl Iterator<Item = &'static Probe> {
    PROGRAMS
        .iter()
        .chain(MOUNT_PROGRAMS)
        .chain(clone_failure_probes(opts))
}

/// A refused clone's programs, where `opts` asks for them.
fn clone_failure_probes(opts: &Options) -> &'static [Probe] {
    if opts.clone_failures {
        CLONE_FAILURE_PROGRAMS
    } else {
        &[]
    }
}

/// Load (verify) every program, then attach each to its tracepoint; the
/// cause programs where the kernel has their tracepoints. How many are
/// attached. Verifying first keeps the attaches close together, and the
/// namespace programs go last, their unshare/setns pairs at the very end
/// (see [`forget_calls_begun_before`]).
fn attach(ebpf: &mut Ebpf, btf: &Btf, opts: &Options) -> Result<usize, LoadError> {
    // Optional: the trace goes on, without this cause.
    let warn = |e: LoadError| eprintln!("tracer: warning: {e}: deaths are explained without it");
    for p in probes(opts) {
        load_one(ebpf, btf, p)?;
    }
    let mut causes = Vec::new();
    for p in CAUSE_PROGRAMS {
        match load_one(ebpf, btf, p) {
            Ok(()) => causes.push(p),
            Err(e) => warn(e),
        }
    }
    let mut n = 0;
    for p in causes {
        match attach_one(ebpf, p) {
            Ok(()) => n += 1,
            Err(e) => warn(e),
        }
    }
    // A refused clone's programs have no pairs: before the others.
    let clones = clone_failure_probes(opts);
    for p in clones.iter().chain(MOUNT_PROGRAMS).chain(PROGRAMS) {
        attach_one(ebpf, p)?;
        n += 1;
    }
    Ok(n)
}

fn program_error(p: &Probe, step: &'static str, source: ProgramError) -> LoadError {
    LoadError::Program {
        name: p.program,
        probe: describe(p),
        step,
        source: Box::new(source),
    }
}

fn load_one(ebpf: &mut Ebpf, btf: &Btf, p: &Probe) -> Result<(), LoadError> {
    let err = |e| program_error(p, "load", e);
    let prog = ebpf
        .program_mut(p.program)
        .ok_or(LoadError::NoProgram(p.program))?;
    match p.attach {
        Attach::Tracepoint(_) => {
            let tp: &mut TracePoint = prog.try_into().map_err(err)?;
            tp.load().map_err(err)
        }
        Attach::Btf => {
            let tp: &mut BtfTracePoint = prog.try_into().map_err(err)?;
            tp.load(p.name, btf).map_err(err)
        }
    }
}

fn attach_one(ebpf: &mut Ebpf, p: &Probe) -> Result<(), LoadError> {
    let err = |e| program_error(p, "attach", e);
    let prog = ebpf
        .program_mut(p.program)
        .ok_or(LoadError::NoProgram(p.program))?;
    match p.attach {
        Attach::Tracepoint(cat) => {
            let tp: &mut TracePoint = prog.try_into().map_err(err)?;
            tp.attach(cat, p.name).map_err(err)?;
        }
        Attach::Btf => {
            let tp: &mut BtfTracePoint = prog.try_into().map_err(err)?;
            tp.attach().map_err(err)?;
        }
    }
    Ok(())
}

/// Each sys_exit program attaches before its sys_enter program, so an
/// unshare or setns in flight between the two ends with no entry seen and
/// counts as `pending_missing`. Such calls began before the trace: what
/// they counted while the programs attached is not a loss.
fn forget_calls_begun_before(stats: &mut PerCpuArray<MapData, u64>) -> Result<(), MapError> {
    let slot = Stat::PendingMissing as u32;
    let cpus = stats.get(&slot, 0)?.len();
    let zeros = PerCpuValues::try_from(vec![0; cpus]).map_err(MapError::IoError)?;
    stats.set(slot, zeros, 0)
}

/// Check, load, attach. `host` is the host's namespaces, for the in-kernel
/// filter (see [`crate::host::ns::host_namespaces`]).
pub fn load(opts: &Options, host: &NsSet) -> Result<Loaded, LoadError> {
    if OBJECT.is_empty() {
        return Err(LoadError::NoObject);
    }
    check_privileges()?;
    let kernel_btf = KernelBtf::open(&opts.btf)?;
    let offsets = kernel_btf.offsets()?;
    // Held until the programs are attached; from here on, an error
    // unmounts what was mounted.
    let tracefs = Tracefs::find_or_mount()?;
    let unmount = tracefs.unmount_later();
    for p in probes(opts) {
        if let Attach::Tracepoint(cat) = p.attach
            && !tracefs.path.join("events").join(cat).join(p.name).is_dir()
        {
            return Err(LoadError::MissingTracepoint(describe(p)));
        }
    }
    bump_memlock();

    // aya-log level: 0 keeps every log statement a single cheap compare.
    let log_level: u8 = match opts.ebpf_log {
        None | Some(log::LevelFilter::Off) => 0,
        Some(l) => l as u8,
    };
    let filter = filter(opts.filter, opts.idle, host);
    if filter.idle != 0 && filter.self_tgid == 0 {
        return Err(LoadError::IdleAway);
    }
    // The kernel's BTF parsed once, for aya: tp_btf programs load against
    // it. Dropped (`btf::release`) once they are, before the ring buffer
    // is mapped: the two never add up in the peak RSS.
    let btf = kernel_btf.into_aya()?;
    let mut ebpf = btf::loader(&btf)
        .override_global(OFFSETS_GLOBAL, &offsets, true)
        .override_global(FILTER_GLOBAL, &filter, true)
        .map_max_entries(EVENTS_MAP, opts.ring_bytes)
        .override_global(WAKEUP_GLOBAL, &wakeup_bytes(opts.ring_bytes), true)
        .override_global(aya_log::LEVEL, &log_level, false)
        .load(OBJECT)?;
    let logger = if log_level > 0 {
        Some(aya_log::EbpfLogger::init(&mut ebpf)?)
    } else {
        None
    };

    let probes = attach(&mut ebpf, &btf, opts)?;
    let stats = ebpf
        .take_map(STATS_MAP)
        .ok_or(LoadError::NoMap(STATS_MAP))?;
    let mut stats = PerCpuArray::try_from(stats).map_err(|e| LoadError::Map(STATS_MAP, e))?;
    forget_calls_begun_before(&mut stats).map_err(|e| LoadError::Map(STATS_MAP, e))?;
    btf::release(btf);
    drop(tracefs);
    // Not fatal, and said only once tracing can begin.
    if system::effective_caps() & (1 << cap::SYS_PTRACE) == 0 {
        log::warn!(
            "without CAP_SYS_PTRACE the namespaces of other processes cannot be read at start: sandboxes running before the trace are not seen (the tracer needs {MINIMAL_CAPS})"
        );
    }

    let events = ebpf
        .take_map(EVENTS_MAP)
        .ok_or(LoadError::NoMap(EVENTS_MAP))?;
    let events = RingBuf::try_from(events).map_err(|e| LoadError::Map(EVENTS_MAP, e))?;
    let last_wake = ebpf
        .take_map(LAST_WAKE_MAP)
        .ok_or(LoadError::NoMap(LAST_WAKE_MAP))?;
    let last_wake = WakeSlot::new(last_wake).map_err(|e| LoadError::Map(LAST_WAKE_MAP, e))?;

    Ok(Loaded {
        ebpf,
        events,
        stats,
        last_wake,
        logger,
        info: Info {
            kernel: system::kernel_release(),
            probes,
            ns_id: offsets.ns_common_ns_id != ABSENT,
            filter: filter.enabled != 0,
        },
        offsets,
        unmount,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_missing_capabilities_are_named() {
        let bit = |c: u32| 1u64 << c;
        assert_eq!(missing_for_loading(0), ["CAP_BPF", "CAP_PERFMON"]);
        assert_eq!(missing_for_loading(bit(cap::BPF)), ["CAP_PERFMON"]);
        assert!(missing_for_loading(bit(cap::BPF) | bit(cap::PERFMON)).is_empty());
        assert!(missing_for_loading(bit(cap::SYS_ADMIN)).is_empty());
        let e = LoadError::NotPrivileged("CAP_BPF".into()).to_string();
        assert!(
            e.contains("lacks CAP_BPF") && e.contains("CAP_SYS_PTRACE"),
            "{e}"
        );
    }
}
