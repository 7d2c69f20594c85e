//! bench.md and bench.json: the one place that formats the results.

use std::fmt::Write as _;
use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};

use super::passes::{BpfPass, FLOOR};
use super::plan::{
    CONFIGS, Kind, PEER_TRACER_CONFIG, Probe, REPLAY_EVENTS, REPLAY_LIVE, REPLAY_RUNS,
    REPLAY_SANDBOXES, STALL_MS, STALL_RING_KIB, WORKLOADS, Workload,
};
use super::results::{Cell, MIN_EVENTS_PER_EVENT_FIGURE, Outcome, Run, Summary, find};

/// Write bench.md and bench.json into `out_dir`, print the markdown; fail
/// if tracers were left running.
pub fn write_outputs(out_dir: &Path, s: &Summary) -> Result<()> {
    let md = markdown(s);
    let md_path = out_dir.join("bench.md");
    let json_path = out_dir.join("bench.json");
    fs::write(&md_path, &md).with_context(|| format!("write {}", md_path.display()))?;
    let json = serde_json::to_string_pretty(s).context("serialise the results")?;
    fs::write(&json_path, json).with_context(|| format!("write {}", json_path.display()))?;
    println!("{md}");
    println!("written: {} and {}", md_path.display(), json_path.display());
    if let Some(w) = foreign_warning(s) {
        eprintln!("bench: warning: {}", w.replace("**", ""));
    }
    if !s.stray_processes.is_empty() {
        bail!("tracer processes left running: {:?}", s.stray_processes);
    }
    Ok(())
}

fn opt(v: Option<f64>, prec: usize) -> String {
    v.map_or("–".into(), |x| format!("{x:.prec$}"))
}

fn mark(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "✓",
        Some(false) => "✗",
        None => "n/a",
    }
}

fn rate(w: &Workload, ops_per_s: f64) -> String {
    match w.kind {
        Kind::Pods => format!("{:.1}", ops_per_s * 60.0),
        Kind::Bin => format!("{ops_per_s:.0}"),
    }
}

fn markdown(s: &Summary) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# Tracer benchmark ({} mode)\n", s.meta.mode);
    let _ = writeln!(
        m,
        "Kernel {}, {} CPUs; {} rounds per workload, configurations interleaved per round; took {:.0} s. \
         Slowdown: 1 − median over rounds of (ops/s ÷ the same round's `none`). \
         CPU: the tracer's (or bpftrace's) CPU time (all threads, /proc schedstat) from ready until it went quiet after \
         the workload, median of the rounds (start-up excluded); in brackets the CPU from SIGINT to its end (final drain, \
         report, detach; from `wait4`); per event = the first ÷ events delivered (only with ≥ {MIN_EVENTS_PER_EVENT_FIGURE} events). \
         RSS: the process's VmRSS once it caught up after the workload / its peak (VmHWM, reached at start-up while the kernel's BTF is parsed), largest of the rounds.\n",
        s.meta.kernel, s.meta.cpus, s.meta.rounds, s.meta.elapsed_s
    );
    let _ = writeln!(
        m,
        "{}Load average before/after: {} / {}.\n",
        if s.meta.pinned {
            "Workloads pinned to CPU 0, tracers, bpftrace and this harness to CPU 1 (podman unpinned). "
        } else {
            ""
        },
        s.meta.load[0],
        s.meta.load[1]
    );
    if let Some(w) = foreign_warning(s) {
        let _ = writeln!(m, "{w}\n");
    }
    let _ = writeln!(m, "| config | what |\n|---|---|");
    for c in CONFIGS {
        let _ = writeln!(m, "| `{}` | {} |", c.name, c.what);
    }
    m.push('\n');
    for w in WORKLOADS {
        let cells: Vec<&Cell> = s.cells.iter().filter(|c| c.workload == w.name).collect();
        if cells.is_empty() {
            continue;
        }
        let unit = if w.kind == Kind::Pods {
            "pods/min"
        } else {
            "ops/s"
        };
        let what = if w.kind == Kind::Pods { "pods" } else { "ops" };
        let _ = writeln!(m, "## {} ({} {what} per run)\n", w.name, cells[0].ops);
        let _ = writeln!(
            m,
            "| config | {unit} median (min–max) | slowdown | events/op (expected) | drops | CPU ms (stop) | CPU µs/event | RSS MiB after / peak |"
        );
        let _ = writeln!(m, "|---|---|---|---|---|---|---|---|");
        for c in cells {
            if let Some(na) = &c.na {
                let _ = writeln!(m, "| `{}` | n/a ({na}) | | | | | | |", c.config);
                continue;
            }
            let _ = writeln!(
                m,
                "| `{}` | {} ({}–{}) | {} | {} ({}) | {} | {} | {} | {} / {} |",
                c.config,
                rate(w, c.ops_per_s_median),
                rate(w, c.ops_per_s_min),
                rate(w, c.ops_per_s_max),
                c.slowdown_pct.map_or("–".into(), |v| format!("{v:.1} %")),
                opt(c.events_per_op, 2),
                opt(c.expected_per_op, 0),
                c.drops.map_or("–".into(), |d| d.to_string()),
                match (c.cpu_ms_median, c.cpu_stop_ms_median) {
                    (Some(run), Some(stop)) => format!("{run:.1} ({stop:.1})"),
                    _ => "–".into(),
                },
                opt(c.cpu_us_per_event, 2),
                opt(c.rss_mib, 1),
                opt(c.peak_rss_mib, 1),
            );
        }
        let ratio = find(&s.cells, w.name, "all")
            .zip(find(&s.cells, w.name, "bpftrace"))
            .and_then(|(a, b)| Some(b.cpu_us_per_event? / a.cpu_us_per_event?));
        if let Some(r) = ratio {
            let _ = writeln!(
                m,
                "\nbpftrace CPU per event ÷ tracer (`all`) CPU per event: **{r:.1}×**"
            );
        }
        m.push('\n');
    }
    let _ = writeln!(m, "## Targets\n");
    if let Some(w) = foreign_warning(s) {
        // Here too: the figures below are wrong, and this is where they are read.
        let _ = writeln!(m, "{w}\n");
    }
    let _ = writeln!(m, "| target | measured | |\n|---|---|---|");
    for t in &s.targets {
        let _ = writeln!(m, "| {} | {} | {} |", t.target, t.measured, mark(t.ok));
    }
    m.push('\n');
    markdown_extras(&mut m, s);
    markdown_notes(&mut m, s);
    m
}

/// The warning when other tracers ran beside some runs, if they did.
fn foreign_warning(s: &Summary) -> Option<String> {
    let foreign: Vec<&Run> = s.runs.iter().filter(|r| !r.foreign.is_empty()).collect();
    let first = foreign.first()?;
    Some(format!(
        "**Other tracers were running during {} of {} runs** (e.g. {}): their in-kernel cost is in every column of those rounds.",
        foreign.len(),
        s.runs.len(),
        first.foreign.join(", ")
    ))
}

fn markdown_extras(m: &mut String, s: &Summary) {
    markdown_peer(m, s);
    markdown_bpf_stats(m, &s.bpf_stats, &s.cells);
    let _ = writeln!(
        m,
        "\n## Drop-counter proof (fork-exec, `--ring-kib {STALL_RING_KIB} --debug-stall-ms {STALL_MS}`, `--all`)\n"
    );
    match &s.stall {
        Outcome::Done(st) => {
            let _ = writeln!(
                m,
                "| ops | expected events (3/op) | delivered | dropped | delivered + dropped |\n|---|---|---|---|---|\n| {} | {} | {} | {} | {} |",
                st.ops,
                st.expected,
                st.delivered,
                st.dropped,
                st.delivered + st.dropped
            );
        }
        Outcome::Failed { error } => {
            let _ = writeln!(m, "n/a: {error}");
        }
    }
    let _ = writeln!(m, "\n## Idle (`tracer --json` while nothing happens)\n");
    match &s.idle {
        Outcome::Done(i) => {
            let _ = writeln!(
                m,
                "| seconds | CPU ms per s | wakeups per s |\n|---|---|---|\n| {:.1} | {:.3} | {:.1} |",
                i.seconds, i.cpu_ms_per_s, i.wakeups_per_s
            );
        }
        Outcome::Failed { error } => {
            let _ = writeln!(m, "n/a: {error}");
        }
    }
    let _ = writeln!(
        m,
        "\n## Replay (`tracer bench-recording --sandboxes {REPLAY_SANDBOXES} --events {REPLAY_EVENTS} --live {REPLAY_LIVE}`, then `tracer report FILE --json`, median of {REPLAY_RUNS}, on every CPU: a thread reads the file while another decodes and models; CPU s counts both)\n"
    );
    match &s.replay {
        Outcome::Done(r) => {
            let instructions = match &r.instructions_per_event {
                Outcome::Done(n) => format!("{n:.0}"),
                Outcome::Failed { error } => format!("n/a: {error}"),
            };
            let _ = writeln!(
                m,
                "| events | file MiB | wall s | events/s | CPU s | peak RSS MiB | instructions/event |\n|---|---|---|---|---|---|---|\n| {} | {:.1} | {:.2} | {:.0} | {:.2} | {:.1} | {} |",
                r.events,
                r.file_mib,
                r.seconds,
                r.events_per_s,
                r.cpu_s,
                r.peak_rss_mib,
                instructions
            );
            let _ = writeln!(
                m,
                "\nInstructions per event: `valgrind --tool=cachegrind --cache-sim=no` of `tracer report FILE --json` on a tenth of this load (both threads; the same from run to run, where wall time on a shared VM moves by ±10 %)."
            );
        }
        Outcome::Failed { error } => {
            let _ = writeln!(m, "n/a: {error}");
        }
    }
    m.push('\n');
}

/// The /proc poller beside the tracer: CPU and slowdown from the rounds,
/// coverage and lateness from the coverage pass.
fn markdown_peer(m: &mut String, s: &Summary) {
    let pollers: Vec<&str> = CONFIGS
        .iter()
        .filter(|c| matches!(c.probe, Probe::Poller(_)))
        .map(|c| c.name)
        .collect();
    let t = PEER_TRACER_CONFIG;
    let _ = writeln!(
        m,
        "## The /proc-polling peer\n\n\
         What a user without the tracer would run: an `lsns`-style loop (`xtask bench-poller`, release build) that \
         every interval walks `/proc/<pid>` (processes, as `lsns` does), `readlink`s `ns/{{net,mnt,pid,uts,ipc,user,cgroup}}` \
         and reads `cgroup`, and prints each namespace or cgroup set that appeared or went. CPU: the poller's from its \
         first walk to the workload's end (it has nothing to catch up with), the tracer's (`{t}`) as above; medians of the rounds.\n"
    );
    let _ = write!(m, "| workload | `{t}` CPU ms | slowdown `{t}` |");
    for p in &pollers {
        let _ = write!(m, " `{p}` CPU ms (÷ `{t}`) | slowdown `{p}` |");
    }
    let _ = writeln!(m, " walk µs (processes) |");
    let _ = writeln!(m, "|---|---|---|{}---|", "---|---|".repeat(pollers.len()));
    for w in WORKLOADS {
        let Some(tc) = find(&s.cells, w.name, t) else {
            continue;
        };
        let slow = |c: &Cell| c.slowdown_pct.map_or("–".into(), |v| format!("{v:.1} %"));
        let _ = write!(
            m,
            "| {} | {} | {} |",
            w.name,
            opt(tc.cpu_ms_median, 1),
            slow(tc)
        );
        let mut walk = None;
        for p in &pollers {
            match find(&s.cells, w.name, p) {
                Some(pc) => {
                    let ratio = pc
                        .cpu_ms_median
                        .zip(tc.cpu_ms_median)
                        .filter(|(_, t)| *t > 0.0)
                        .map(|(p, t)| p / t);
                    // Its share of one CPU over the workload's run time (median).
                    let run_ms = pc.ops as f64 / pc.ops_per_s_median * 1000.0;
                    let core = pc.cpu_ms_median.map(|c| 100.0 * c / run_ms);
                    let _ = write!(
                        m,
                        " {} ({}; {} % of a CPU) | {} |",
                        opt(pc.cpu_ms_median, 1),
                        ratio.map_or("–".into(), |r| format!("{r:.1}×")),
                        opt(core, 1),
                        slow(pc)
                    );
                    walk = walk.or(pc.walk_us_median.zip(pc.processes));
                }
                None => {
                    let _ = write!(m, " – | – |");
                }
            }
        }
        let _ = writeln!(
            m,
            " {} |",
            walk.map_or("–".into(), |(us, n)| format!("{us:.0} ({n})"))
        );
    }
    let _ = writeln!(
        m,
        "\nCoverage: each workload under the tracer (`--raw --json`: every namespace's creation with its kernel time, \
         the ground truth) and one poller at once. Made: namespaces of the poller's seven kinds the tracer saw created \
         after the poller's first walk; noticed: those the poller ever listed (matched by kind and inode, to the latest \
         creation before the notice: inodes are reused). Late: from the creation to the end of the walk that listed it \
         (CLOCK_BOOTTIME both). The tracer sees every one of them, at its creation.\n"
    );
    let passes = match &s.peer {
        Outcome::Done(p) if !p.is_empty() => p,
        Outcome::Done(_) => {
            let _ = writeln!(m, "n/a: no workload of this run has a coverage pass\n");
            return;
        }
        Outcome::Failed { error } => {
            let _ = writeln!(m, "n/a: {error}\n");
            return;
        }
    };
    let _ = writeln!(
        m,
        "| workload | poller | ops | made | noticed | coverage | late ms median / p90 / max | net made / noticed | net coverage | net late ms median / max | other new |\n\
         |---|---|---|---|---|---|---|---|---|---|---|"
    );
    let pct = |v: Option<f64>| v.map_or("–".into(), |v| format!("**{v:.1} %**"));
    for p in passes {
        let _ = writeln!(
            m,
            "| {} | `{}` | {} | {} | {} | {} | {} / {} / {} | {} / {} | {} | {} / {} | {} |",
            p.workload,
            p.config,
            p.ops,
            p.created,
            p.noticed,
            pct(p.coverage_pct),
            opt(p.late_ms_median, 1),
            opt(p.late_ms_p90, 1),
            opt(p.late_ms_max, 1),
            p.created_net,
            p.noticed_net,
            pct(p.coverage_net_pct),
            opt(p.late_net_ms_median, 1),
            opt(p.late_net_ms_max, 1),
            p.unmatched_notices
        );
    }
    let _ = writeln!(
        m,
        "\nOther new: namespaces the poller listed as new that no creation seen explains (made before its first walk \
         without a process in them, e.g. a netns pinned by a mount, then entered). A namespace with no process in it \
         (made by a thread, or held only by a bind mount, as CNI and podman hold a pod's netns before its pause runs) is \
         invisible to the walk until a process enters: that is part of its lateness. netns-churn's namespaces live from the \
         child's `unshare` to its exit, microseconds: no walk at any interval is likely to catch one.\n"
    );
}

fn markdown_bpf_stats(m: &mut String, b: &Outcome<Vec<BpfPass>>, cells: &[Cell]) {
    let _ = writeln!(m, "## BPF run time (`kernel.bpf_stats_enabled=1`)\n");
    let passes = match b {
        Outcome::Done(p) => p,
        Outcome::Failed { error } => {
            let _ = writeln!(m, "n/a: {error}\n");
            return;
        }
    };
    let _ = writeln!(
        m,
        "All programs together, over the workload only (fdinfo before/after); share = BPF time ÷ the time \
         of one op under `none` (median above): the in-kernel part of the slowdown, free of run-to-run noise.\n\n\
         | workload | ops | config | program runs/op | BPF ns/op | share of a `none` op |\n|---|---|---|---|---|---|"
    );
    for p in passes {
        let share = find(cells, p.workload, "none").map(|c| p.ns_per_op * c.ops_per_s_median / 1e7);
        let _ = writeln!(
            m,
            "| {} | {} | `{}` | {:.1} | {:.0} | {} |",
            p.workload,
            p.ops,
            p.config,
            p.runs_per_op,
            p.ns_per_op,
            share.map_or("–".into(), |v| format!("{v:.2} %"))
        );
    }
    markdown_floor(m, passes);
    // Per program: one column per tracer pass, "ns/run (runs)".
    let tracer_passes: Vec<&BpfPass> = passes.iter().filter(|p| !p.programs.is_empty()).collect();
    let mut names: Vec<&str> = tracer_passes
        .iter()
        .flat_map(|p| p.programs.iter().map(|r| r.name.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    let _ = write!(
        m,
        "\nThe tracer's programs, ns per run (runs), whole run from its final stats line:\n\n| program |"
    );
    for p in &tracer_passes {
        let _ = write!(m, " {} `{}` |", p.workload, p.config);
    }
    let _ = writeln!(m, "\n|---|{}", "---|".repeat(tracer_passes.len()));
    for name in names {
        let _ = write!(m, "| {name} |");
        for p in &tracer_passes {
            let cell = match p.programs.iter().find(|r| r.name == name) {
                Some(r) if r.run_count > 0 => format!("{:.0} ({})", r.ns_per_run, r.run_count),
                _ => "–".into(),
            };
            let _ = write!(m, " {cell} |");
        }
        m.push('\n');
    }
}

/// What any program costs per run on these tracepoints (the floor pass),
/// and the tracer's BPF time above it.
fn markdown_floor(m: &mut String, passes: &[BpfPass]) {
    let floors: Vec<&BpfPass> = passes.iter().filter(|p| p.config == FLOOR).collect();
    if floors.is_empty() {
        return;
    }
    let _ = writeln!(
        m,
        "\nThe floor: the same tracepoints with programs that do nothing (bpftrace `{{ }}`, `floor.bt`). \
         Their ns per run is what bpf_stats counts for running any program there (its clock reads included); \
         the tracer's BPF time above that floor is what its programs themselves add:\n\n\
         | workload | floor ns/run | config | BPF ns/op | runs/op | above the floor, ns/op |\n|---|---|---|---|---|---|"
    );
    for f in floors {
        if f.runs_per_op <= 0.0 {
            continue;
        }
        let per_run = f.ns_per_op / f.runs_per_op;
        for p in passes
            .iter()
            .filter(|p| p.workload == f.workload && p.config != FLOOR && p.config != "bpftrace")
        {
            let _ = writeln!(
                m,
                "| {} | {:.0} | `{}` | {:.0} | {:.1} | {:.0} |",
                p.workload,
                per_run,
                p.config,
                p.ns_per_op,
                p.runs_per_op,
                (p.ns_per_op - p.runs_per_op * per_run).max(0.0)
            );
        }
    }
}

fn markdown_notes(m: &mut String, s: &Summary) {
    let _ = writeln!(
        m,
        "## Notes\n\n\
         - Expected events per op. fork-exit: the fork and the exit (2) with `--all`; 0 with the filter, \
         the child never leaves the host namespaces. fork-exec: fork + exec + exit (3) with `--all`, 0 filtered. \
         ns-churn: one unshare and one setns per op (2), never filtered (namespace changes always come). \
         netns-churn: the child's unshare(CLONE_NEWNET) and its exit in a non-host netns (2) with the filter, \
         plus its fork from the host (3) with `--all`. bpftrace prints one line per sched fork/exec/exit and one per \
         *paired* clone/unshare/setns exit (the child's return from clone has no entry: not printed): \
         fork-exit 3, fork-exec 4, ns-churn 2, netns-churn 4. Measured events include whatever else ran on the \
         machine during the run, hence slightly above expected.\n\
         - ns-churn is an artificial storm: ~3.5 µs per unshare+setns pair untraced. A syscall tracepoint costs \
         ~350 ns per run on this VM before any program work, so `idle` (the tracer's programs returning at once) \
         is the floor of its slowdown; the rest is the programs' own run time.\n\
         - Run-to-run spread (the `none` min–max) is a few %: a slowdown inside it, negative ones included, is noise. \
         The BPF table's share column measures the in-kernel cost directly.\n\
         - bpftrace runs with its default (line-buffered) output; its lines are counted through a pipe; \
         its start-up (LLVM) CPU and its exit (≈ 0.2 s) are excluded like the tracer's.\n\
         - Every tracer and bpftrace writes into a 1 MiB pipe read by this harness in 1 MiB chunks (only the line \
         count and the last lines kept), on CPU 1 beside them. Peak RSS is the process's own `VmHWM`, polled until \
         it exits; `ru_maxrss` (in bench.json) is never below the harness's RSS at fork ({:.1} MiB here).\n",
        s.meta.harness_peak_rss_mib
    );
    if !s.stray_processes.is_empty() {
        let _ = writeln!(
            m,
            "- **tracer processes left running:** {:?}\n",
            s.stray_processes
        );
    }
}
