//! End-to-end (issue 9): why a pod's sandbox or container died, and the
//! sandbox the kubelet re-created. containerd over CRI: the pause of
//! attempt 0 is SIGKILLed by a `kill` of ours, the kubelet's way follows
//! (StopPodSandbox, RunPodSandbox with attempt 1), and a container with a
//! 16 MiB memory limit allocates past it. The report links the two
//! attempts, names the killer's pid, and names the OOM kill.

use std::fs;
use std::process::Command;
use std::time::Duration;

use crate::support::containerd::{BUSYBOX_IMAGE, Containerd, build_images, ensure_installed};
use crate::support::cri::Cri;
use crate::support::json::Lines;
use crate::support::lock::FileLock;
use crate::support::procfs::wait_exec;
use crate::support::shared_dir;
use crate::support::tracer::{Tracer, require_root};
use crate::support::unique_name;

/// The containerd harness names its directory, socket and bridge after
/// the process: tests of one process that start a containerd take turns.
pub fn containerd_turn() -> FileLock {
    let dir = shared_dir("containerd-harness");
    FileLock::acquire(&dir.join(format!("{}.lock", std::process::id())))
}

/// `kill -9 PID` from a process of ours: its pid is the sender to find.
fn kill_9(pid: u32) -> u32 {
    let mut c = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .spawn()
        .expect("run kill");
    let sender = c.id();
    assert!(c.wait().expect("wait for kill").success(), "kill -9 {pid}");
    sender
}

fn wait_gone(pid: u32) {
    for _ in 0..200 {
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("pid {pid} is still there after SIGKILL");
}

struct Truth {
    uid: String,
    first_pause: u32,
    killer: u32,
    second_sandbox: String,
    hog_id: String,
}

/// The kubelet's calls: attempt 0, its pause killed, StopPodSandbox;
/// attempt 1 with a container that allocates past its memory limit.
fn run(ctrd: &mut Containerd, cri: &Cri) -> Truth {
    let uid = format!("dead0c0d-0000-4000-8000-{:012x}", std::process::id());
    let name = unique_name("deaths");
    let mut pod = ctrd.pod("acc-ns", &name, &uid);
    let ctrd = &*ctrd;
    let ok = |r: anyhow::Result<String>| r.unwrap_or_else(|e| panic!("{e:#}\n{}", ctrd.log_tail()));
    let first = ok(cri.run_pod_sandbox(&pod.config()));
    let first_pause = cri
        .pod_sandbox_status(&first)
        .unwrap_or_else(|e| panic!("{e:#}"))
        .pid;
    wait_exec(first_pause, "pause");
    let killer = kill_9(first_pause);
    wait_gone(first_pause);
    // The kubelet sees the sandbox NotReady, then stops it (retrying, as
    // it does, while containerd is still handling the pause's exit).
    let mut stopped = Err(anyhow::anyhow!("not tried"));
    for _ in 0..50 {
        let ready = cri.pod_sandbox_status(&first).map(|s| s.ready);
        if matches!(ready, Ok(false)) {
            stopped = cri.stop_pod_sandbox(&first);
            if stopped.is_ok() {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    stopped.unwrap_or_else(|e| panic!("StopPodSandbox of attempt 0: {e:#}"));

    pod.attempt = 1;
    let second = ok(cri.run_pod_sandbox(&pod.config()));
    let image = ok(cri.image_id(BUSYBOX_IMAGE));
    // 64 MB kept in a shell variable: past the 16 MiB limit.
    let hog_cmd = [
        "sh",
        "-c",
        "a=$(head -c 67108864 /dev/zero | tr '\\0' x); echo ${#a}",
    ];
    let mut config = pod.container("hog", &image, &hog_cmd);
    config
        .linux
        .as_mut()
        .and_then(|l| l.resources.as_mut())
        .expect("the kubelet's resources")
        .memory_limit_in_bytes = 16 << 20;
    let hog_id = ok(cri.create_container(&second, config, &pod.config()));
    cri.start_container(&hog_id)
        .unwrap_or_else(|e| panic!("{e:#}"));
    let hog = cri
        .wait_exited(&hog_id, Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(
        (hog.exit_code, hog.reason.as_str()),
        (137, "OOMKilled"),
        "the runtime saw the OOM kill: {hog:?}"
    );
    for (id, c) in [(&second, Some(&hog_id)), (&first, None)] {
        let _ = cri.stop_pod_sandbox(id);
        if let Some(c) = c {
            let _ = cri.remove_container(c);
        }
        let _ = cri.remove_pod_sandbox(id);
    }
    Truth {
        uid,
        first_pause,
        killer,
        second_sandbox: second,
        hog_id,
    }
}

#[test]
fn a_killed_pause_re_created_and_an_oom_kill_are_explained() {
    require_root();
    let _turn = containerd_turn();
    ensure_installed().unwrap_or_else(|e| panic!("{e:#}"));
    let scratch = std::env::temp_dir().join(unique_name("tracer-deaths-images"));
    fs::create_dir_all(&scratch).unwrap_or_else(|e| panic!("mkdir {}: {e}", scratch.display()));
    let images = build_images(&scratch).unwrap_or_else(|e| panic!("{e:#}"));
    let mut ctrd = Containerd::start(&images).unwrap_or_else(|e| panic!("{e:#}"));
    let _ = fs::remove_dir_all(&scratch);
    let cri = ctrd.cri().unwrap_or_else(|e| panic!("{e:#}"));
    let socket = ctrd.socket.to_str().expect("UTF-8").to_string();

    let tracer = Tracer::start(&["--cri-socket", &socket]);
    let t = run(&mut ctrd, &cri);
    let lines: Lines = tracer.stop();
    lines.assert_lossless();
    let report = lines.report_json();
    let ours: Vec<&serde_json::Value> = report["sandboxes"]
        .as_array()
        .expect("sandboxes")
        .iter()
        .filter(|s| s["pod"] == t.uid.as_str())
        .collect();
    assert_eq!(ours.len(), 2, "two attempts of pod {}: {ours:#?}", t.uid);
    let (a, b) = (ours[0], ours[1]);

    // Attempt 0: its pause SIGKILLed by our `kill`.
    assert_eq!(a["identity"]["attempt"], 0, "{a:#}");
    assert_eq!(a["pause"]["pid"], t.first_pause, "{a:#}");
    assert_eq!(a["pause"]["exit"], 137, "{a:#}");
    let k = &a["pause"]["killed"];
    assert_eq!(
        (&k["signal"], &k["by"]["pid"], &k["by"]["comm"], &k["oom"]),
        (
            &serde_json::json!(9),
            &serde_json::json!(t.killer),
            &serde_json::json!("kill"),
            &serde_json::json!(false)
        ),
        "who killed the first pause: {a:#}"
    );
    assert_eq!(a["next_attempt"], b["sandbox"], "{a:#}");

    // Attempt 1: linked to attempt 0 and how it ended.
    assert_eq!(b["identity"]["attempt"], 1, "{b:#}");
    assert_eq!(b["identity"]["id"], t.second_sandbox.as_str(), "{b:#}");
    let p = &b["previous_attempt"];
    assert_eq!(p["sandbox"], a["sandbox"], "{b:#}");
    assert_eq!(p["attempt"], 0, "{b:#}");
    assert_eq!(p["pause_exit"], 137, "{b:#}");
    assert_eq!(p["pause_killed"]["by"]["pid"], t.killer, "{b:#}");
    let anomalies: Vec<&str> = b["anomalies"]
        .as_array()
        .expect("anomalies")
        .iter()
        .filter_map(|v| v.as_str())
        .collect();
    let recreated = format!(
        "the pod's sandbox was re-created (attempt 1): #{} (attempt 0) ended with its pause killed by SIGKILL from {} kill",
        a["sandbox"], t.killer
    );
    assert!(anomalies.contains(&recreated.as_str()), "{anomalies:#?}");

    // The hog: OOM-killed, named, an anomaly.
    let hogs: Vec<&serde_json::Value> = b["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .filter(|c| c["id"] == t.hog_id.as_str())
        .collect();
    assert_eq!(hogs.len(), 1, "{b:#}");
    let hog = hogs[0];
    assert_eq!(
        (&hog["name"], &hog["exit"]),
        (&serde_json::json!("hog"), &serde_json::json!(137))
    );
    assert_eq!(
        hog["killed"]["oom"], true,
        "the OOM killer chose it: {hog:#}"
    );
    assert_eq!(hog["killed"]["signal"], 9, "{hog:#}");
    assert!(
        anomalies.iter().any(|a| a.starts_with(&format!(
            "container hog (pid {}) was OOM-killed",
            hog["pid"]
        ))),
        "{anomalies:#?}"
    );
}
