//! The probes under measurement: a tracer in one of its modes, bpftrace
//! running `peer.bt`, or the /proc poller (`xtask bench-poller`). Started and awaited until ready, left to catch up
//! after the workload, stopped with SIGINT; what they cost and delivered.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::child::Proc;
use super::host::{status_number, task_cpu_ns};
use super::plan::{Config, Probe};
use super::poller::PollerStats;

/// The bpftrace peer's script.
const BPFTRACE_SCRIPT: &str = include_str!("peer.bt");
const FLOOR_SCRIPT: &str = include_str!("floor.bt");
/// Lines bpftrace prints that are no events: "Attaching N probes...", "bench-ready".
const BPFTRACE_PREAMBLE_LINES: u64 = 2;

/// CPU use below this per poll counts as quiet.
const QUIET_NS_PER_POLL: u64 = 500_000;
const QUIET_POLL: Duration = Duration::from_millis(50);
const READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts what a configuration runs.
pub struct Launcher {
    tracer: PathBuf,
    /// Where `tracer record` writes.
    recording: PathBuf,
    bpftrace_script: PathBuf,
    /// Programs that do nothing, on the same tracepoints (the BPF table's floor).
    floor_script: PathBuf,
    /// A release build of this xtask, which polls as `xtask bench-poller`.
    xtask: PathBuf,
}

impl Launcher {
    /// Probes whose files (recording, bpftrace script) go to `out_dir`.
    pub fn new(tracer: &Path, poller: &Path, out_dir: &Path) -> Result<Launcher> {
        let bpftrace_script = out_dir.join("bench.bt");
        fs::write(&bpftrace_script, BPFTRACE_SCRIPT).context("write the bpftrace script")?;
        let floor_script = out_dir.join("floor.bt");
        fs::write(&floor_script, FLOOR_SCRIPT).context("write the bpftrace floor script")?;
        Ok(Launcher {
            tracer: tracer.to_path_buf(),
            recording: out_dir.join("bench.trace"),
            bpftrace_script,
            floor_script,
            xtask: poller.to_path_buf(),
        })
    }

    pub fn tracer_path(&self) -> &Path {
        &self.tracer
    }

    /// Start what `cfg` runs (nothing for `none`) and wait until it is ready.
    pub fn start(&self, cfg: &Config) -> Result<Option<Traced>> {
        Ok(match cfg.probe {
            Probe::None => None,
            Probe::Tracer => Some(self.tracer(cfg.args)?),
            Probe::Bpftrace => Some(self.bpftrace()?),
            Probe::Poller(ms) => Some(self.poller(ms, None)?),
        })
    }

    /// `tracer ARGS` with its stdout copied to `tee`, once ready.
    pub fn tracer_teed(&self, args: &[&str], tee: File) -> Result<Traced> {
        let mut cmd = Command::new(&self.tracer);
        cmd.args(args);
        let what = format!("tracer {}", args.join(" "));
        let mut proc = Proc::spawn_teed(cmd, &what, tracer_ready, Some(tee))?;
        proc.wait_ready(READY_TIMEOUT)?;
        Ok(Traced::new(proc, Probe::Tracer))
    }

    /// `xtask bench-poller --interval-ms MS`, after its first walk; its
    /// notices copied to `tee` if given.
    pub fn poller(&self, ms: u64, tee: Option<File>) -> Result<Traced> {
        let mut cmd = Command::new(&self.xtask);
        cmd.args(["bench-poller", "--interval-ms", &ms.to_string()]);
        let what = format!("poller every {ms} ms");
        let mut proc = Proc::spawn_teed(cmd, &what, tracer_ready, tee)?;
        proc.wait_ready(READY_TIMEOUT)?;
        Ok(Traced::new(proc, Probe::Poller(ms)))
    }

    /// `tracer ARGS` (`{rec}` stands for the recording), once ready.
    pub fn tracer(&self, args: &[&str]) -> Result<Traced> {
        let rec = self.recording.to_string_lossy();
        let args: Vec<String> = args.iter().map(|a| a.replace("{rec}", &rec)).collect();
        let mut cmd = Command::new(&self.tracer);
        cmd.args(&args);
        let what = format!("tracer {}", args.join(" "));
        let mut proc = Proc::spawn(cmd, &what, tracer_ready)?;
        proc.wait_ready(READY_TIMEOUT)?;
        Ok(Traced::new(proc, Probe::Tracer))
    }

    fn bpftrace(&self) -> Result<Traced> {
        self.bpftrace_with(&self.bpftrace_script)
    }

    /// bpftrace with programs that do nothing, once attached.
    pub fn floor(&self) -> Result<Traced> {
        self.bpftrace_with(&self.floor_script)
    }

    fn bpftrace_with(&self, script: &Path) -> Result<Traced> {
        let mut cmd = Command::new("bpftrace");
        cmd.arg(script);
        let mut proc = Proc::spawn(cmd, "bpftrace", |line| line == "bench-ready")?;
        proc.wait_ready(READY_TIMEOUT)?;
        Ok(Traced::new(proc, Probe::Bpftrace))
    }
}

fn tracer_ready(line: &str) -> bool {
    line.starts_with("{\"type\":\"ready\"")
        || line.contains("\"type\":\"ready\"")
        || line.starts_with("# tracing")
}

/// A tracer or bpftrace under measurement.
pub struct Traced {
    proc: Proc,
    probe: Probe,
    cpu_at_ready_ns: u64,
    /// Its CPU once it went quiet after the workload (it has caught up).
    cpu_at_quiet_ns: Option<u64>,
    /// Its RSS then (`VmRSS`): the steady state, start-up peaks excluded.
    rss_at_quiet_kib: Option<u64>,
    /// Stop only this long after ready (the stall run's reader sleeps first).
    stop_not_before: Option<Instant>,
}

/// One program's run counters, and their mean.
#[derive(Serialize, Clone, Debug, PartialEq)]
pub struct ProgRow {
    pub name: String,
    pub run_count: u64,
    pub run_time_ns: u64,
    pub ns_per_run: f64,
}

impl ProgRow {
    pub fn new(name: String, run_count: u64, run_time_ns: u64) -> ProgRow {
        ProgRow {
            name,
            run_count,
            run_time_ns,
            ns_per_run: if run_count > 0 {
                run_time_ns as f64 / run_count as f64
            } else {
                0.0
            },
        }
    }
}

/// What a tracer or bpftrace cost and delivered in one run.
#[derive(Serialize, Clone)]
pub struct ProbeResult {
    /// Everything, start-up included.
    pub cpu_total_ms: f64,
    /// From ready until it went quiet after the workload: what the events cost.
    pub cpu_ms: f64,
    /// From SIGINT to its end: final drain, report, detaching.
    pub cpu_stop_ms: f64,
    /// VmHWM (falls back to `ru_maxrss` if never seen).
    pub peak_rss_mib: f64,
    /// VmRSS once it had caught up with the workload.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rss_mib: Option<f64>,
    pub ru_maxrss_mib: f64,
    pub events: u64,
    pub drops: u64,
    /// The tracer's per-program figures from its final stats line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub programs: Option<Vec<ProgRow>>,
    /// The poller's walks.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poller: Option<PollerStats>,
}

impl Traced {
    fn new(proc: Proc, probe: Probe) -> Traced {
        Traced {
            cpu_at_ready_ns: task_cpu_ns(proc.pid()),
            probe,
            cpu_at_quiet_ns: None,
            rss_at_quiet_kib: None,
            stop_not_before: None,
            proc,
        }
    }

    pub fn pid(&self) -> libc::pid_t {
        self.proc.pid()
    }

    /// Do not stop it before `t`, whatever `finish` is called.
    pub fn hold_until(&mut self, t: Instant) {
        self.stop_not_before = Some(t);
    }

    /// Wait (at most 2 s) until it has caught up with the workload's events.
    /// A poller has nothing to catch up with: its CPU counts until now (the
    /// workload's end); then two more intervals, so that it notices the
    /// last changes.
    pub fn quiesce(&mut self) {
        if let Probe::Poller(ms) = self.probe {
            self.cpu_at_quiet_ns = Some(task_cpu_ns(self.proc.pid()));
            self.rss_at_quiet_kib = status_number(&self.proc.pid().to_string(), "VmRSS:");
            std::thread::sleep(Duration::from_millis(2 * ms + 20));
            return;
        }
        let mut last = task_cpu_ns(self.proc.pid());
        for _ in 0..40 {
            std::thread::sleep(QUIET_POLL);
            let now = task_cpu_ns(self.proc.pid());
            self.proc.note_hwm();
            let busy = now.saturating_sub(last) >= QUIET_NS_PER_POLL;
            last = now;
            if !busy {
                break;
            }
        }
        self.cpu_at_quiet_ns = Some(last);
        self.rss_at_quiet_kib = status_number(&self.proc.pid().to_string(), "VmRSS:");
    }

    /// SIGINT, reap, and read what it said.
    pub fn finish(mut self) -> Result<ProbeResult> {
        if let Some(t) = self.stop_not_before {
            let now = Instant::now();
            if t > now {
                std::thread::sleep(t - now);
            }
        }
        let ended = self.proc.stop(libc::SIGINT, Duration::from_secs(60))?;
        let what = self.proc.what().to_string();
        ended.check_success(&what)?;
        let mut poller = None;
        let (events, drops, programs) = match self.probe {
            // Every line is an event but the preamble and "Lost N events" lines.
            Probe::Bpftrace => {
                let out = &ended.stdout;
                let events = out
                    .lines
                    .saturating_sub(BPFTRACE_PREAMBLE_LINES + out.lost_lines);
                (events, out.lost + ended.stderr.lost, None)
            }
            Probe::Poller(_) => {
                let p = poller_stats(&ended.stdout.last_lines())
                    .with_context(|| format!("{what}: no final stats line"))?;
                let events = p.events;
                poller = Some(p);
                (events, 0, None)
            }
            _ => {
                let f = final_stats(&ended.stdout.last_lines())
                    .with_context(|| format!("{what}: no final stats line"))?;
                (f.events, f.drops, f.programs)
            }
        };
        let quiet = self.cpu_at_quiet_ns.unwrap_or(ended.cpu_ns);
        Ok(ProbeResult {
            cpu_total_ms: ended.cpu_ns as f64 / 1e6,
            cpu_ms: quiet.saturating_sub(self.cpu_at_ready_ns) as f64 / 1e6,
            cpu_stop_ms: ended.cpu_ns.saturating_sub(quiet) as f64 / 1e6,
            peak_rss_mib: ended.peak_kib() as f64 / 1024.0,
            rss_mib: self.rss_at_quiet_kib.map(|k| k as f64 / 1024.0),
            ru_maxrss_mib: ended.maxrss_kib as f64 / 1024.0,
            events,
            drops,
            programs,
            poller,
        })
    }
}

/// The poller's final line.
fn poller_stats(last: &[String]) -> Option<PollerStats> {
    last.iter()
        .rev()
        .find(|l| l.contains("\"final\":true"))
        .and_then(|l| serde_json::from_str(l).ok())
}

/// The tracer's final counts.
#[derive(Debug, PartialEq)]
pub struct FinalStats {
    pub events: u64,
    /// Ring buffer drops.
    pub drops: u64,
    pub programs: Option<Vec<ProgRow>>,
}

/// The tracer's JSON lines, as far as the bench reads them (docs/json.md).
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    Stats {
        events: u64,
        #[serde(default)]
        kernel: KernelStats,
        programs: Option<Vec<ProgStat>>,
    },
    #[serde(other)]
    Other,
}

#[derive(Deserialize, Default)]
struct KernelStats {
    #[serde(default)]
    ringbuf_full: u64,
}

#[derive(Deserialize)]
struct ProgStat {
    name: String,
    run_count: u64,
    run_time_ns: u64,
}

/// The final stats among the tracer's last lines: JSON
/// (`{"type":"stats","final":true,...}`) or text (`# done: events N, dropped D ...`).
pub fn final_stats(last: &[String]) -> Result<FinalStats> {
    for line in last.iter().rev() {
        if let Ok(Line::Stats {
            events,
            kernel,
            programs,
        }) = serde_json::from_str::<Line>(line)
        {
            let programs = programs
                .map(|p| {
                    p.into_iter()
                        .map(|p| ProgRow::new(p.name, p.run_count, p.run_time_ns))
                        .collect::<Vec<_>>()
                })
                .filter(|p| !p.is_empty());
            return Ok(FinalStats {
                events,
                drops: kernel.ringbuf_full,
                programs,
            });
        }
        if let Some(rest) = line.strip_prefix("# done: events ") {
            let mut it = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter(|s| !s.is_empty());
            let mut next = || -> Result<u64> {
                it.next()
                    .and_then(|n| n.parse().ok())
                    .with_context(|| format!("bad # done line: {line}"))
            };
            let (events, drops) = (next()?, next()?);
            return Ok(FinalStats {
                events,
                drops,
                programs: None,
            });
        }
    }
    bail!("last lines: {last:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn final_stats_before_per_program_lines() {
        let mut last = vec!["# done: events 9, dropped 0 (ring buffer full)".to_string()];
        last.extend((0..12).map(|i| format!("# bpf prog{i}: 1 runs, 100 ns/run")));
        assert_eq!(
            final_stats(&last).map(|f| (f.events, f.drops)).ok(),
            Some((9, 0))
        );
    }

    #[test]
    fn final_stats_json_and_text() {
        let json = vec![
            r#"{"type":"report"}"#.to_string(),
            r#"{"type":"stats","final":true,"events":12,"kernel":{"ringbuf_full":3},"programs":[{"name":"p","run_count":4,"run_time_ns":100}]}"#.to_string(),
        ];
        let f = final_stats(&json).ok();
        assert_eq!(f.as_ref().map(|f| (f.events, f.drops)), Some((12, 3)));
        assert_eq!(
            f.and_then(|f| f.programs),
            Some(vec![ProgRow::new("p".into(), 4, 100)])
        );
        let text =
            vec!["# done: events 7, dropped 1 (ring buffer full), undecodable 0".to_string()];
        assert_eq!(
            final_stats(&text).map(|f| (f.events, f.drops)).ok(),
            Some((7, 1))
        );
        assert!(final_stats(&["# tracing".to_string()]).is_err());
    }
}
