//! What is measured: the configurations (no tracer, the tracer's modes,
//! bpftrace, the /proc poller), the workloads with their sizes and expected events, and the
//! single passes' settings. Data only; the other modules run it.

use serde::Serialize;

/// What runs beside a workload.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Probe {
    None,
    Tracer,
    Bpftrace,
    /// `xtask bench-poller` walking /proc every this many ms.
    Poller(u64),
}

/// Which expected event count applies to a configuration.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Expect {
    Nothing,
    Filtered,
    All,
    Bpftrace,
}

pub struct Config {
    pub name: &'static str,
    pub probe: Probe,
    /// Tracer arguments; `{rec}` stands for the recording's path.
    pub args: &'static [&'static str],
    pub expect: Expect,
    /// One line for the results' legend.
    pub what: &'static str,
}

impl Config {
    /// Whether `w` runs under this configuration: `idle` is not run for
    /// pods (seconds of podman per op: no program's floor shows in it).
    pub fn runs_on(&self, w: &Workload) -> bool {
        !(self.name == IDLE && w.kind == Kind::Pods)
    }
}

/// In this order within every round, so that slow drift of the machine
/// hits them all alike.
pub const CONFIGS: &[Config] = &[
    Config {
        name: "none",
        probe: Probe::None,
        args: &[],
        expect: Expect::Nothing,
        what: "no tracer",
    },
    Config {
        name: "live",
        probe: Probe::Tracer,
        args: &["--json"],
        expect: Expect::Filtered,
        what: "`tracer --json` (pod view, in-kernel filter on)",
    },
    Config {
        name: "record",
        probe: Probe::Tracer,
        args: &["record", "-o", "{rec}", "--quiet"],
        expect: Expect::Filtered,
        what: "`tracer record -o FILE --quiet`",
    },
    Config {
        name: "all",
        probe: Probe::Tracer,
        args: &["--all", "--raw", "--json"],
        expect: Expect::All,
        what: "`tracer --all --raw --json` (filter off, every event as JSON)",
    },
    Config {
        name: "bpftrace",
        probe: Probe::Bpftrace,
        args: &[],
        expect: Expect::Bpftrace,
        what: "bpftrace on the same tracepoints, printf of comparable fields",
    },
    Config {
        name: IDLE,
        probe: Probe::Tracer,
        args: &["--json", "--debug-idle-programs"],
        expect: Expect::Nothing,
        what: "the tracer with every program returning at once (`--debug-idle-programs`): \
               what running any program at its tracepoints costs (not run for pods)",
    },
    Config {
        name: "poll-100ms",
        probe: Probe::Poller(100),
        args: &[],
        expect: Expect::Nothing,
        what: "an `lsns`-style /proc poller, every 100 ms (typical): readlink of 7 `ns/*` and `cgroup` per process",
    },
    Config {
        name: "poll-10ms",
        probe: Probe::Poller(10),
        args: &[],
        expect: Expect::Nothing,
        what: "the same poller every 10 ms (aggressive)",
    },
];

/// The tracer's floor: its programs attached, returning at once.
pub const IDLE: &str = "idle";

/// The tracer configuration the pollers are compared with: same question
/// (which namespaces came and went), pod view.
pub const PEER_TRACER_CONFIG: &str = "live";

/// The coverage pass: these workloads under the tracer (`--raw --json`, the
/// ground truth: every namespace's creation and its time) and one poller at
/// once; (name, ops full, ops quick).
pub const PEER_WORKLOADS: &[(&str, u64, u64)] = &[("netns-churn", 3000, 600), ("pods", 5, 3)];

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `bench-workload NAME N`.
    Bin,
    /// Podman pods, driven from here.
    Pods,
}

pub struct Workload {
    pub name: &'static str,
    pub kind: Kind,
    ops_full: u64,
    ops_quick: u64,
    /// Events per op: (tracer with the filter, tracer with --all, bpftrace lines).
    per_op: Option<(f64, f64, f64)>,
    /// A fork storm, with slowdown targets.
    pub storm: bool,
}

impl Workload {
    pub fn ops(&self, quick: bool) -> u64 {
        if quick { self.ops_quick } else { self.ops_full }
    }

    /// Events one op should give under `expect` (None: no figure).
    pub fn expected_per_op(&self, expect: Expect) -> Option<f64> {
        let (filtered, all, bpftrace) = self.per_op?;
        match expect {
            Expect::Nothing => None,
            Expect::Filtered => Some(filtered),
            Expect::All => Some(all),
            Expect::Bpftrace => Some(bpftrace),
        }
    }
}

pub const WORKLOADS: &[Workload] = &[
    Workload {
        name: "fork-exit",
        kind: Kind::Bin,
        ops_full: 20_000,
        ops_quick: 3_000,
        per_op: Some((0.0, 2.0, 3.0)),
        storm: true,
    },
    Workload {
        name: "fork-exec",
        kind: Kind::Bin,
        ops_full: 3_000,
        ops_quick: 600,
        per_op: Some((0.0, 3.0, 4.0)),
        storm: true,
    },
    Workload {
        name: "ns-churn",
        kind: Kind::Bin,
        ops_full: 300_000,
        ops_quick: 100_000,
        per_op: Some((2.0, 2.0, 2.0)),
        storm: false,
    },
    Workload {
        name: "netns-churn",
        kind: Kind::Bin,
        ops_full: 3_000,
        ops_quick: 600,
        per_op: Some((2.0, 3.0, 4.0)),
        storm: false,
    },
    Workload {
        name: "pods",
        kind: Kind::Pods,
        ops_full: 3,
        ops_quick: 1,
        per_op: None,
        storm: false,
    },
];

/// Rounds per workload when not given.
pub fn default_rounds(quick: bool) -> usize {
    if quick { 3 } else { 5 }
}

/// The workloads of the BPF run-time pass: (name, ops full, ops quick).
pub const BPF_STATS_WORKLOADS: &[(&str, u64, u64)] = &[
    ("fork-exit", 20_000, 3000),
    ("fork-exec", 3000, 600),
    ("ns-churn", 50_000, 20_000),
];
/// The configurations of the BPF run-time pass.
pub const BPF_STATS_CONFIGS: &[&str] = &["live", "all", IDLE, "bpftrace"];

/// The drop-counter proof: a 64 KiB ring, a reader asleep for 3 s.
pub const STALL_RING_KIB: u64 = 64;
pub const STALL_MS: u64 = 3000;
pub const STALL_OPS: u64 = 1500;

/// The replay benchmark's synthetic recording.
pub const REPLAY_SANDBOXES: u64 = 10_000;
pub const REPLAY_EVENTS: u64 = 1_000_000;
pub const REPLAY_LIVE: u64 = 1_000;
/// Replays of it per bench run (the median is reported).
pub const REPLAY_RUNS: usize = 3;

/// With 2+ CPUs, CPU 0 runs the workloads and CPU 1 the tracers and this
/// harness. Unpinned, a fork's child lands on the idle vCPU and waking it
/// costs more than any tracer: runs with a busy tracer came out *faster*
/// than without, by up to 25 %, and spread ±12 % (pinned: ±4 %).
pub const WORKLOAD_CPU: usize = 0;
pub const TRACER_CPU: usize = 1;
