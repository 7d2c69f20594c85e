//! A small typed CRI client (runtime.v1 over gRPC on a unix socket), called
//! the way the kubelet calls it, and the ground truth it hands back: sandbox
//! and container status with `verbose`, whose `info` JSON (containerd's)
//! names the pause pid, the netns path and each container's pid.
//!
//! Synchronous on purpose: each call runs to completion on a private
//! current-thread runtime, bounded by [`CALL_TIMEOUT`], so tests read as the
//! kubelet's sequence of calls.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::image_service_client::ImageServiceClient;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use serde::Deserialize;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// No CRI call here should take longer (RunPodSandbox is the slowest, ~0.5 s).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Cri {
    rt: tokio::runtime::Runtime,
    runtime: RuntimeServiceClient<Channel>,
    images: ImageServiceClient<Channel>,
    socket: PathBuf,
}

/// What the kubelet puts into a pod's sandbox config, reduced to what a
/// test chooses.
#[derive(Clone, Debug)]
pub struct PodSpec {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub attempt: u32,
    /// The kubelet's cgroupfs-driver parent, e.g. `/kubepods/besteffort/pod<uid>`.
    pub cgroup_parent: String,
    /// Where container logs go (`<log_directory>/<name>/<attempt>.log`).
    pub log_directory: PathBuf,
}

impl PodSpec {
    /// The sandbox config as the kubelet builds it (labels, annotations,
    /// namespace options: pod network and ipc, a pid namespace per container).
    pub fn config(&self) -> cri::PodSandboxConfig {
        cri::PodSandboxConfig {
            metadata: Some(cri::PodSandboxMetadata {
                name: self.name.clone(),
                uid: self.uid.clone(),
                namespace: self.namespace.clone(),
                attempt: self.attempt,
            }),
            hostname: self.name.clone(),
            log_directory: self.log_directory.display().to_string(),
            labels: HashMap::from([
                ("io.kubernetes.pod.name".into(), self.name.clone()),
                ("io.kubernetes.pod.namespace".into(), self.namespace.clone()),
                ("io.kubernetes.pod.uid".into(), self.uid.clone()),
            ]),
            annotations: HashMap::from([("kubernetes.io/config.source".into(), "api".into())]),
            linux: Some(cri::LinuxPodSandboxConfig {
                cgroup_parent: self.cgroup_parent.clone(),
                security_context: Some(cri::LinuxSandboxSecurityContext {
                    namespace_options: Some(kubelet_namespaces()),
                    ..Default::default()
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// A container config as the kubelet builds it for a BestEffort pod.
    pub fn container(&self, name: &str, image: &str, command: &[&str]) -> cri::ContainerConfig {
        cri::ContainerConfig {
            metadata: Some(cri::ContainerMetadata {
                name: name.into(),
                attempt: 0,
            }),
            image: Some(cri::ImageSpec {
                image: image.into(),
                ..Default::default()
            }),
            command: command.iter().map(|s| s.to_string()).collect(),
            log_path: format!("{name}/0.log"),
            labels: HashMap::from([
                ("io.kubernetes.container.name".into(), name.into()),
                ("io.kubernetes.pod.name".into(), self.name.clone()),
                ("io.kubernetes.pod.namespace".into(), self.namespace.clone()),
                ("io.kubernetes.pod.uid".into(), self.uid.clone()),
            ]),
            linux: Some(cri::LinuxContainerConfig {
                resources: Some(cri::LinuxContainerResources {
                    cpu_shares: 2,
                    // BestEffort; raising it needs no privilege (and
                    // `restrict_oom_score_adj` keeps containerd from lowering it).
                    oom_score_adj: 1000,
                    ..Default::default()
                }),
                security_context: Some(cri::LinuxContainerSecurityContext {
                    namespace_options: Some(kubelet_namespaces()),
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }
    }
}

/// The kubelet's default: network and ipc of the pod, pid of the container.
fn kubelet_namespaces() -> cri::NamespaceOption {
    cri::NamespaceOption {
        network: cri::NamespaceMode::Pod as i32,
        pid: cri::NamespaceMode::Container as i32,
        ipc: cri::NamespaceMode::Pod as i32,
        ..Default::default()
    }
}

/// A sandbox as `PodSandboxStatus(verbose)` reports it.
#[derive(Clone, Debug)]
pub struct SandboxTruth {
    pub id: String,
    pub ready: bool,
    /// Unix ns.
    pub created_at_ns: i64,
    /// The pause process (0 once it is gone).
    pub pid: u32,
    /// The pinned netns, e.g. `/var/run/netns/cni-<uuid>`.
    pub netns_path: String,
    pub netns_closed: bool,
    pub ip: String,
    /// The runtime spec's `linux.cgroupsPath`.
    pub cgroups_path: String,
}

impl SandboxTruth {
    /// The pin's file name, `cni-<uuid>`.
    pub fn netns_path_name(&self) -> String {
        self.netns_path
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

/// A container as `ContainerStatus(verbose)` reports it.
#[derive(Clone, Debug)]
pub struct ContainerTruth {
    pub id: String,
    pub name: String,
    pub state: cri::ContainerState,
    /// Unix ns; 0 when not (yet) so.
    pub created_at_ns: i64,
    pub started_at_ns: i64,
    pub finished_at_ns: i64,
    pub exit_code: i32,
    pub reason: String,
    /// The entrypoint's pid, as containerd keeps it (also after the exit).
    pub pid: u32,
    pub sandbox_id: String,
    pub cgroups_path: String,
}

/// What ExecSync returned.
#[derive(Clone, Debug)]
pub struct Exec {
    pub exit_code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// containerd's `info` of a sandbox (pkg/cri/server/sandbox_status.go).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SandboxInfo {
    pid: u32,
    #[serde(default)]
    net_namespace_closed: bool,
    runtime_spec: Spec,
}

/// containerd's `info` of a container (pkg/cri/server/container_status.go).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContainerInfo {
    #[serde(rename = "sandboxID")]
    sandbox_id: String,
    pid: u32,
    runtime_spec: Spec,
}

/// The part of the OCI runtime spec the tests read.
#[derive(Deserialize)]
struct Spec {
    linux: SpecLinux,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecLinux {
    #[serde(default)]
    cgroups_path: String,
    #[serde(default)]
    namespaces: Vec<SpecNamespace>,
}

#[derive(Deserialize)]
struct SpecNamespace {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    path: String,
}

fn info<T: for<'de> Deserialize<'de>>(info: &HashMap<String, String>, what: &str) -> Result<T> {
    let text = info
        .get("info")
        .with_context(|| format!("{what}: no \"info\" in the verbose status: {info:?}"))?;
    serde_json::from_str(text).with_context(|| format!("{what}: unexpected info JSON: {text}"))
}

impl Cri {
    /// Connect to the CRI socket (lazily: the first call opens it).
    pub fn connect(socket: &Path) -> Result<Cri> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("a tokio runtime for the CRI client")?;
        let path = socket.to_path_buf();
        let channel = {
            let _enter = rt.enter();
            // The URI is unused: every connection goes to the socket.
            Endpoint::try_from("http://[::]:0")
                .context("endpoint")?
                .connect_timeout(Duration::from_secs(5))
                .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
                    let path = path.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?))
                    }
                }))
        };
        Ok(Cri {
            rt,
            runtime: RuntimeServiceClient::new(channel.clone()),
            images: ImageServiceClient::new(channel),
            socket: socket.to_path_buf(),
        })
    }

    fn call<T, F>(&self, what: &str, f: F) -> Result<T>
    where
        F: Future<Output = std::result::Result<tonic::Response<T>, tonic::Status>>,
    {
        let socket = self.socket.display();
        // The timer is made inside the runtime: it needs its clock.
        match self
            .rt
            .block_on(async { tokio::time::timeout(CALL_TIMEOUT, f).await })
        {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(status)) => Err(anyhow!(
                "CRI {what} on {socket}: {:?}: {}",
                status.code(),
                status.message()
            )),
            Err(_) => bail!("CRI {what} on {socket}: no answer within {CALL_TIMEOUT:?}"),
        }
    }

    pub fn version(&self) -> Result<cri::VersionResponse> {
        let mut c = self.runtime.clone();
        self.call("Version", c.version(cri::VersionRequest::default()))
    }

    /// Wait until the runtime says RuntimeReady and NetworkReady (the CNI
    /// config is loaded), as the kubelet does before running pods.
    pub fn wait_ready(&self, within: Duration) -> Result<()> {
        let deadline = Instant::now() + within;
        loop {
            let last = match self.status() {
                Ok(conds) => {
                    let ok = |t: &str| conds.iter().any(|c| c.r#type == t && c.status);
                    if ok("RuntimeReady") && ok("NetworkReady") {
                        return Ok(());
                    }
                    format!("{conds:?}")
                }
                Err(e) => format!("{e:#}"),
            };
            if Instant::now() > deadline {
                bail!("the CRI runtime is not ready after {within:?}: {last}");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn status(&self) -> Result<Vec<cri::RuntimeCondition>> {
        let mut c = self.runtime.clone();
        let r = self.call("Status", c.status(cri::StatusRequest { verbose: false }))?;
        Ok(r.status.map(|s| s.conditions).unwrap_or_default())
    }

    /// The image id (`sha256:…`) of a local image, as the kubelet asks before
    /// creating a container.
    pub fn image_id(&self, image: &str) -> Result<String> {
        let mut c = self.images.clone();
        let r = self.call(
            "ImageStatus",
            c.image_status(cri::ImageStatusRequest {
                image: Some(cri::ImageSpec {
                    image: image.into(),
                    ..Default::default()
                }),
                verbose: false,
            }),
        )?;
        r.image
            .map(|i| i.id)
            .with_context(|| format!("image {image} is not in the runtime's store"))
    }

    pub fn run_pod_sandbox(&self, config: &cri::PodSandboxConfig) -> Result<String> {
        let mut c = self.runtime.clone();
        let r = self.call(
            "RunPodSandbox",
            c.run_pod_sandbox(cri::RunPodSandboxRequest {
                config: Some(config.clone()),
                runtime_handler: String::new(),
            }),
        )?;
        Ok(r.pod_sandbox_id)
    }

    pub fn create_container(
        &self,
        sandbox_id: &str,
        config: cri::ContainerConfig,
        sandbox_config: &cri::PodSandboxConfig,
    ) -> Result<String> {
        let mut c = self.runtime.clone();
        let r = self.call(
            "CreateContainer",
            c.create_container(cri::CreateContainerRequest {
                pod_sandbox_id: sandbox_id.into(),
                config: Some(config),
                sandbox_config: Some(sandbox_config.clone()),
            }),
        )?;
        Ok(r.container_id)
    }

    pub fn start_container(&self, id: &str) -> Result<()> {
        let mut c = self.runtime.clone();
        self.call(
            "StartContainer",
            c.start_container(cri::StartContainerRequest {
                container_id: id.into(),
            }),
        )?;
        Ok(())
    }

    pub fn exec_sync(&self, id: &str, cmd: &[&str], timeout_s: i64) -> Result<Exec> {
        let mut c = self.runtime.clone();
        let r = self.call(
            "ExecSync",
            c.exec_sync(cri::ExecSyncRequest {
                container_id: id.into(),
                cmd: cmd.iter().map(|s| s.to_string()).collect(),
                timeout: timeout_s,
            }),
        )?;
        Ok(Exec {
            exit_code: r.exit_code,
            stdout: String::from_utf8_lossy(&r.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&r.stderr).into_owned(),
        })
    }

    /// SIGTERM (the image's stop signal), SIGKILL after `timeout_s`.
    pub fn stop_container(&self, id: &str, timeout_s: i64) -> Result<()> {
        let mut c = self.runtime.clone();
        self.call(
            "StopContainer",
            c.stop_container(cri::StopContainerRequest {
                container_id: id.into(),
                timeout: timeout_s,
            }),
        )?;
        Ok(())
    }

    pub fn remove_container(&self, id: &str) -> Result<()> {
        let mut c = self.runtime.clone();
        self.call(
            "RemoveContainer",
            c.remove_container(cri::RemoveContainerRequest {
                container_id: id.into(),
            }),
        )?;
        Ok(())
    }

    pub fn stop_pod_sandbox(&self, id: &str) -> Result<()> {
        let mut c = self.runtime.clone();
        self.call(
            "StopPodSandbox",
            c.stop_pod_sandbox(cri::StopPodSandboxRequest {
                pod_sandbox_id: id.into(),
            }),
        )?;
        Ok(())
    }

    pub fn remove_pod_sandbox(&self, id: &str) -> Result<()> {
        let mut c = self.runtime.clone();
        self.call(
            "RemovePodSandbox",
            c.remove_pod_sandbox(cri::RemovePodSandboxRequest {
                pod_sandbox_id: id.into(),
            }),
        )?;
        Ok(())
    }

    /// Every sandbox's id, in any state.
    pub fn list_pod_sandboxes(&self) -> Result<Vec<String>> {
        let mut c = self.runtime.clone();
        let r = self.call(
            "ListPodSandbox",
            c.list_pod_sandbox(cri::ListPodSandboxRequest { filter: None }),
        )?;
        Ok(r.items.into_iter().map(|s| s.id).collect())
    }

    pub fn pod_sandbox_status(&self, id: &str) -> Result<SandboxTruth> {
        let mut c = self.runtime.clone();
        let r = self.call(
            "PodSandboxStatus",
            c.pod_sandbox_status(cri::PodSandboxStatusRequest {
                pod_sandbox_id: id.into(),
                verbose: true,
            }),
        )?;
        let what = format!("sandbox {id}");
        let st = r.status.with_context(|| format!("{what}: no status"))?;
        let info: SandboxInfo = info(&r.info, &what)?;
        let netns_path = info
            .runtime_spec
            .linux
            .namespaces
            .iter()
            .find(|n| n.kind == "network")
            .map(|n| n.path.clone())
            .unwrap_or_default();
        Ok(SandboxTruth {
            id: st.id,
            ready: st.state == cri::PodSandboxState::SandboxReady as i32,
            created_at_ns: st.created_at,
            pid: info.pid,
            netns_path,
            netns_closed: info.net_namespace_closed,
            ip: st.network.map(|n| n.ip).unwrap_or_default(),
            cgroups_path: info.runtime_spec.linux.cgroups_path,
        })
    }

    pub fn container_status(&self, id: &str) -> Result<ContainerTruth> {
        let mut c = self.runtime.clone();
        let r = self.call(
            "ContainerStatus",
            c.container_status(cri::ContainerStatusRequest {
                container_id: id.into(),
                verbose: true,
            }),
        )?;
        let what = format!("container {id}");
        let st = r.status.with_context(|| format!("{what}: no status"))?;
        let info: ContainerInfo = info(&r.info, &what)?;
        Ok(ContainerTruth {
            id: st.id,
            name: st.metadata.map(|m| m.name).unwrap_or_default(),
            state: cri::ContainerState::try_from(st.state)
                .map_err(|_| anyhow!("{what}: unknown state {}", st.state))?,
            created_at_ns: st.created_at,
            started_at_ns: st.started_at,
            finished_at_ns: st.finished_at,
            exit_code: st.exit_code,
            reason: st.reason,
            pid: info.pid,
            sandbox_id: info.sandbox_id,
            cgroups_path: info.runtime_spec.linux.cgroups_path,
        })
    }

    /// Poll ContainerStatus until the container has exited.
    pub fn wait_exited(&self, id: &str, within: Duration) -> Result<ContainerTruth> {
        let deadline = Instant::now() + within;
        loop {
            let st = self.container_status(id)?;
            if st.state == cri::ContainerState::ContainerExited {
                return Ok(st);
            }
            if Instant::now() > deadline {
                bail!("container {id} has not exited after {within:?}: {st:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop and remove every sandbox (and so its containers): the clean-up
    /// of a test that failed half-way. Returns how many there were.
    pub fn remove_all(&self) -> Result<usize> {
        let ids = self.list_pod_sandboxes()?;
        for id in &ids {
            self.stop_pod_sandbox(id)?;
            self.remove_pod_sandbox(id)?;
        }
        Ok(ids.len())
    }
}
