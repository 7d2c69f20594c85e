//! The CRI calls the tracer makes (runtime.v1 over gRPC on the runtime's
//! unix socket), each bounded by [`CALL_TIMEOUT`]: a runtime that is slow
//! or a socket that never answers costs a timer, never the event loop.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use k8s_cri::v1 as cri;
use k8s_cri::v1::runtime_service_client::RuntimeServiceClient;
use tokio::net::UnixStream;
use tonic::transport::{Channel, Endpoint, Uri};

/// No status or list call of a healthy runtime takes this long.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a call gave nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    #[error("no answer within {CALL_TIMEOUT:?}")]
    Timeout,
    /// The runtime does not know the id (yet: containerd adds a sandbox to
    /// its store only after its pause started).
    #[error("not found")]
    NotFound,
    /// Absent, refused, not a CRI server, or any other failure.
    #[error("{0}")]
    Failed(String),
}

#[derive(Clone)]
pub struct Client {
    runtime: RuntimeServiceClient<Channel>,
    pub socket: PathBuf,
}

impl Client {
    /// A client of the socket; it connects at the first call.
    pub fn new(socket: &Path) -> Result<Client, CallError> {
        let path = socket.to_path_buf();
        // The URI is unused: every connection goes to the socket.
        let channel =
            Endpoint::try_from("http://[::]:0")
                .map_err(|e| CallError::Failed(e.to_string()))?
                .connect_timeout(CALL_TIMEOUT)
                .connect_with_connector_lazy(tower::service_fn(move |_: Uri| {
                    let path = path.clone();
                    async move {
                        Ok::<_, std::io::Error>(TokioIo::new(UnixStream::connect(path).await?))
                    }
                }));
        Ok(Client {
            runtime: RuntimeServiceClient::new(channel),
            socket: socket.to_path_buf(),
        })
    }

    async fn call<T>(
        f: impl Future<Output = Result<tonic::Response<T>, tonic::Status>>,
    ) -> Result<T, CallError> {
        match tokio::time::timeout(CALL_TIMEOUT, f).await {
            Ok(Ok(r)) => Ok(r.into_inner()),
            Ok(Err(s)) if s.code() == tonic::Code::NotFound => Err(CallError::NotFound),
            Ok(Err(s)) => Err(CallError::Failed(status_text(&s))),
            Err(_) => Err(CallError::Timeout),
        }
    }

    pub async fn version(&mut self) -> Result<cri::VersionResponse, CallError> {
        Self::call(self.runtime.version(cri::VersionRequest::default())).await
    }

    pub async fn sandbox(&mut self, id: &str) -> Result<cri::PodSandboxStatus, CallError> {
        let req = cri::PodSandboxStatusRequest {
            pod_sandbox_id: id.into(),
            verbose: false,
        };
        Self::call(self.runtime.pod_sandbox_status(req))
            .await?
            .status
            .ok_or(CallError::NotFound)
    }

    /// ListContainers by id: the container with its sandbox's id (which
    /// ContainerStatus does not give).
    pub async fn container(&mut self, id: &str) -> Result<cri::Container, CallError> {
        let req = cri::ListContainersRequest {
            filter: Some(cri::ContainerFilter {
                id: id.into(),
                ..Default::default()
            }),
        };
        Self::call(self.runtime.list_containers(req))
            .await?
            .containers
            .into_iter()
            .find(|c| c.id == id)
            .ok_or(CallError::NotFound)
    }

    pub async fn sandboxes(&mut self) -> Result<Vec<cri::PodSandbox>, CallError> {
        let req = cri::ListPodSandboxRequest { filter: None };
        Ok(Self::call(self.runtime.list_pod_sandbox(req)).await?.items)
    }

    pub async fn containers(&mut self) -> Result<Vec<cri::Container>, CallError> {
        let req = cri::ListContainersRequest { filter: None };
        Ok(Self::call(self.runtime.list_containers(req))
            .await?
            .containers)
    }
}

/// A status in words: its message, and the transport's cause (no such
/// file, connection refused) where tonic keeps it as the source.
fn status_text(s: &tonic::Status) -> String {
    use std::error::Error;
    let mut text = s.message().to_string();
    let mut cause = s.source();
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    if text.is_empty() {
        format!("{:?}", s.code())
    } else {
        text
    }
}
