//! End-to-end (issue 9): a pod that runs before the tracer starts gets one
//! live line when tracing begins (`sandbox_running`), with its pause and
//! its containers, instead of appearing only in the report.

use crate::support::podman::Podman;
use crate::support::tracer::Tracer;
use crate::support::unique_name;

#[test]
fn a_pod_running_before_the_trace_gets_one_line_at_the_start() {
    let podman = Podman::setup();
    let pod = podman.pod(&unique_name("before"));
    pod.start();
    let app = podman.run_detached(&pod.name, &unique_name("before-app"), &["sleep", "1000"]);
    podman.wait_exec(&app, "sleep");
    let infra = podman
        .inspect_container(&pod.inspect().infra_container_id)
        .pid;

    let tracer = Tracer::start(&[]);
    let lines = tracer.stop();
    pod.remove();
    lines.assert_lossless();
    let running: Vec<serde_json::Value> = lines
        .values()
        .into_iter()
        .filter(|v| v["type"] == "lifecycle" && v["event"] == "sandbox_running")
        .filter(|v| v["pause"]["pid"] == infra)
        .collect();
    assert_eq!(running.len(), 1, "one line for the pod of infra {infra}");
    let line = &running[0];
    assert_eq!(line["pause"]["comm"], "catatonit", "{line}");
    assert_eq!(
        line["containers"],
        serde_json::json!([&app[..12]]),
        "its container, by the name the report gives it: {line}"
    );
    let report = lines.report_json();
    let sb = report["sandboxes"]
        .as_array()
        .expect("sandboxes")
        .iter()
        .find(|s| s["pause"]["pid"] == infra)
        .expect("the pod in the report");
    assert_eq!(
        sb["sandbox"], line["sandbox"],
        "the same number as the report"
    );
    assert_eq!(sb["existing"], true);
}
