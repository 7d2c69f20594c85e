//! Names from the Docker API: who a Docker container is in Kubernetes'
//! words (the kubelet's labels cri-dockerd puts on it), one more identity
//! source beside CRI, with the same rules: asked on a tokio task, never
//! on the event path; bounded in time; asked once per container id;
//! answers recorded as notes (so a replay elsewhere has them without the
//! socket); when the socket is absent, refuses or is slow, said once, and
//! names fall back to cgroup ids.
//!
//! Talks HTTP/1.1 through hyper over the unix socket ([`api`]): the
//! `bollard` crate would do it too, at four times the dependencies and
//! three times the build time here, for the one request we make.

mod api;
mod labels;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rustc_hash::FxHashSet;
use serde::Deserialize;
use tokio::sync::{OnceCell, mpsc};
use tokio::time::Instant;

pub use api::ApiError;
pub use labels::{ContainerJson, identity};

use crate::host::cgroup::{CgroupIds, Runtime};
use crate::host::cri::Ask;
use crate::model::Identity;

/// Where dockerd listens unless told otherwise.
pub const DEFAULT_SOCKET: &str = "/run/docker.sock";
/// One question's time, connection included: a slow engine is no engine.
const TIMEOUT: Duration = Duration::from_secs(2);
/// After a failure, ask again no sooner than this (dockerd restarted, say).
const RETRY_AFTER: Duration = Duration::from_secs(60);
/// Container ids remembered as asked; past this the memory starts afresh.
const ASKED_CAP: usize = 1 << 16;

/// What one question came back with.
enum Answer {
    Named(Identity),
    /// Not a pod's container, or already removed: nothing to say.
    Nothing,
    /// The engine did not answer as it should.
    Failed(String),
}

/// The Docker API as a source of names, with its cache and its state.
pub struct DockerNames {
    socket: Arc<Path>,
    asked: FxHashSet<String>,
    pending: usize,
    tx: mpsc::UnboundedSender<Answer>,
    rx: mpsc::UnboundedReceiver<Answer>,
    /// `docker <version>`, asked once per run (`None`: it did not say).
    version: Arc<OnceCell<Option<String>>>,
    down_until: Option<Instant>,
    said: bool,
    /// [`TIMEOUT`], shorter in tests.
    timeout: Duration,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Version {
    version: String,
}

impl DockerNames {
    /// The source at `socket` (`--docker-socket`), or at
    /// [`DEFAULT_SOCKET`] where that exists. `None` when there is none:
    /// said once when the user named it, quietly otherwise.
    pub fn open(socket: Option<PathBuf>) -> Option<DockerNames> {
        let named = socket.is_some();
        let socket = socket.unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET));
        if !socket.exists() {
            if named {
                eprintln!(
                    "tracer: warning: no Docker API at {}: Docker containers keep their cgroup ids",
                    socket.display()
                );
            }
            return None;
        }
        let (tx, rx) = mpsc::unbounded_channel();
        Some(DockerNames {
            socket: socket.into(),
            asked: FxHashSet::default(),
            pending: 0,
            tx,
            rx,
            version: Arc::new(OnceCell::new()),
            down_until: None,
            said: false,
            timeout: TIMEOUT,
        })
    }

    /// Ask who the container of these cgroup ids is, unless asked before
    /// or the engine is down; the answer comes through [`Self::answers`].
    /// Docker's cgroups (`docker-<id>`, `/docker/<id>`) and the kubelet's
    /// cgroupfs ones that name no runtime are asked about.
    pub fn ask(&mut self, ids: &CgroupIds) {
        let (Some(Runtime::Docker | Runtime::Unknown), Some(id)) = (ids.runtime, &ids.container_id)
        else {
            return;
        };
        if self.down_until.is_some_and(|t| Instant::now() < t) || self.asked.contains(id) {
            return;
        }
        // Outside a runtime (a test) there is nobody to ask with.
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.asked.len() >= ASKED_CAP {
            self.asked.clear();
        }
        self.asked.insert(id.clone());
        self.pending += 1;
        let (socket, version, tx, id, timeout) = (
            self.socket.clone(),
            self.version.clone(),
            self.tx.clone(),
            id.clone(),
            self.timeout,
        );
        rt.spawn(async move {
            let answer = match tokio::time::timeout(timeout, ask(&socket, &version, &id)).await {
                Ok(Ok(Some(identity))) => Answer::Named(identity),
                Ok(Ok(None)) => Answer::Nothing,
                Ok(Err(e)) if e.not_found() => Answer::Nothing,
                Ok(Err(e)) => Answer::Failed(e.to_string()),
                Err(_) => Answer::Failed(format!("no answer within {timeout:?}")),
            };
            // The receiver is gone only when the trace ended.
            let _ = tx.send(answer);
        });
    }

    /// The identities answered since the last call (never waits).
    pub fn answers(&mut self) -> Vec<Identity> {
        let mut out = Vec::new();
        while let Ok(a) = self.rx.try_recv() {
            out.extend(self.take(a));
        }
        out
    }

    /// At the end of a trace: the answers still on their way, waiting at
    /// most `within` for them.
    pub async fn settle(&mut self, within: Duration) -> Vec<Identity> {
        let deadline = Instant::now() + within;
        let mut out = self.answers();
        while self.pending > 0 {
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(a)) => out.extend(self.take(a)),
                _ => break,
            }
        }
        out
    }

    fn take(&mut self, a: Answer) -> Option<Identity> {
        self.pending = self.pending.saturating_sub(1);
        match a {
            Answer::Named(identity) => Some(identity),
            Answer::Nothing => None,
            Answer::Failed(why) => {
                self.down_until = Some(Instant::now() + RETRY_AFTER);
                if !self.said {
                    self.said = true;
                    eprintln!(
                        "tracer: warning: the Docker API at {} did not answer ({why}): \
                         Docker containers keep their cgroup ids",
                        self.socket.display()
                    );
                }
                None
            }
        }
    }
}

/// Run `names` beside the event loop as one more resolver, like CRI's
/// ([`crate::host::cri::spawn`]): asks in (`try_send` only), identities
/// out on `answers`, the channel every resolver shares. Also returned:
/// how many questions are still out, so the end of a trace can wait for
/// their answers (bounded).
pub fn spawn(
    mut names: DockerNames,
    answers: mpsc::Sender<Identity>,
) -> (mpsc::Sender<Ask>, Arc<AtomicUsize>) {
    let (ask_tx, mut asks) = mpsc::channel::<Ask>(crate::host::cri::resolver::ASKS);
    let busy = Arc::new(AtomicUsize::new(0));
    let out = busy.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                a = asks.recv() => match a {
                    Some(a) => names.ask(&CgroupIds {
                        runtime: a.runtime,
                        container_id: Some(a.id),
                        ..CgroupIds::default()
                    }),
                    // The event loop is gone.
                    None => return,
                },
                Some(a) = names.rx.recv() => {
                    if let Some(i) = names.take(a) {
                        // Fails only once the event loop is gone.
                        let _ = answers.send(i).await;
                    }
                }
            }
            // Counted after the answer is on the channel: at 0, all are.
            busy.store(names.pending, Ordering::Release);
        }
    });
    (ask_tx, out)
}

/// One container's identity, with the engine's version (asked once).
async fn ask(
    socket: &Path,
    version: &OnceCell<Option<String>>,
    id: &str,
) -> Result<Option<Identity>, ApiError> {
    let runtime = version
        .get_or_init(|| async {
            let v: Result<Version, _> = api::get_json(socket, "/version").await;
            v.ok().map(|v| format!("docker {}", v.version))
        })
        .await;
    let c: ContainerJson = api::get_json(socket, &format!("/containers/{id}/json")).await?;
    Ok(identity(&c, runtime.as_deref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker_ids(id: &str) -> CgroupIds {
        CgroupIds {
            runtime: Some(Runtime::Docker),
            container_id: Some(id.to_string()),
            ..CgroupIds::default()
        }
    }

    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!(
            "tracer-unit-docker-names-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn no_socket_is_no_source() {
        let dir = scratch("absent");
        assert!(DockerNames::open(Some(dir.join("docker.sock"))).is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A socket that accepts and never answers: the question times out,
    /// the source is down (no more questions), the trace goes on.
    #[tokio::test]
    async fn a_silent_engine_is_given_up_on_and_not_asked_again() {
        let dir = scratch("silent");
        let path = dir.join("docker.sock");
        let listener = tokio::net::UnixListener::bind(&path).unwrap();
        let held = tokio::spawn(async move {
            let mut conns = Vec::new();
            while let Ok((c, _)) = listener.accept().await {
                conns.push(c);
            }
        });
        let mut d = DockerNames::open(Some(path)).unwrap();
        d.timeout = Duration::from_millis(100);
        d.ask(&docker_ids("aaa"));
        d.ask(&docker_ids("aaa"));
        assert_eq!(d.pending, 1, "asked once per id");
        assert!(d.settle(Duration::from_secs(5)).await.is_empty());
        assert_eq!(d.pending, 0);
        assert!(d.said && d.down_until.is_some());
        d.ask(&docker_ids("bbb"));
        assert_eq!(d.pending, 0, "not asked while down");
        held.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Nobody listens on the socket file (dockerd gone): refused at once.
    #[tokio::test]
    async fn a_refusing_engine_is_given_up_on() {
        let dir = scratch("refused");
        let path = dir.join("docker.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let mut d = DockerNames::open(Some(path)).unwrap();
        d.ask(&docker_ids("aaa"));
        assert!(d.settle(Duration::from_secs(5)).await.is_empty());
        assert!(d.said && d.down_until.is_some());
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// As a resolver on the shared channel: a Docker container's ask is
    /// counted while out and answered (here: nothing, the engine refuses);
    /// a containerd one is never asked.
    #[tokio::test]
    async fn as_a_resolver_it_counts_what_is_out_and_skips_other_runtimes() {
        use crate::model::IdentityRole;
        let dir = scratch("resolver");
        let path = dir.join("docker.sock");
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let d = DockerNames::open(Some(path)).unwrap();
        let (tx, mut rx) = mpsc::channel(8);
        let (ask, busy) = spawn(d, tx);
        let send = |id: &str, runtime| Ask {
            id: id.into(),
            role: IdentityRole::Container,
            runtime: Some(runtime),
        };
        ask.try_send(send("c", Runtime::Containerd)).unwrap();
        ask.try_send(send("d", Runtime::Docker)).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        while (ask.max_capacity() - ask.capacity()) + busy.load(Ordering::Acquire) > 0 {
            assert!(Instant::now() < deadline, "the ask was never answered");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(rx.try_recv().is_err(), "a refusing engine names nobody");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn only_docker_and_runtime_less_cgroups_are_asked_about() {
        let dir = scratch("which");
        let path = dir.join("docker.sock");
        let _listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let mut d = DockerNames::open(Some(path)).unwrap();
        for rt in [Runtime::Containerd, Runtime::Crio, Runtime::Podman] {
            d.ask(&CgroupIds {
                runtime: Some(rt),
                ..docker_ids("x")
            });
        }
        d.ask(&CgroupIds {
            container_id: None,
            ..docker_ids("x")
        });
        assert_eq!(d.pending, 0);
        d.ask(&CgroupIds {
            runtime: Some(Runtime::Unknown),
            ..docker_ids("y")
        });
        d.ask(&docker_ids("z"));
        assert_eq!(d.pending, 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
