//! The task that asks the runtime, beside the event loop: it takes the
//! ids of new pauses and containers, asks CRI about each once (again a
//! little later while the runtime does not know it yet), and hands back
//! identities. When the runtime cannot answer it says why, once, and stops.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::client::{CallError, Client};
use super::map;
use crate::host::cgroup::Runtime;
use crate::model::{Identity, IdentityRole};

/// A pause (`Sandbox`) or container whose cgroup gave this runtime id
/// (and, where the cgroup says, the runtime: a resolver may skip others').
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ask {
    pub id: String,
    pub role: IdentityRole,
    pub runtime: Option<Runtime>,
}

/// Asks waiting at most (a burst of pod starts is far less).
pub(crate) const ASKS: usize = 1024;
/// Room for answers on the channel every resolver shares (see [`spawn`]).
pub const ANSWERS: usize = 4096;
/// First wait before asking again about an id the runtime does not know
/// yet; doubled each time (containerd stores a sandbox only once its pause
/// runs: a few ms after the exec we see).
const RETRY_FIRST: Duration = Duration::from_millis(50);
/// 50 ms … 3.2 s: an id still unknown then is not this runtime's.
const TRIES: u32 = 7;

/// Start asking the runtime at `socket` (inside a tokio runtime); its
/// identities go to `answers`, a channel other sources (Docker) may share.
/// Returns where to send the ids to name: `try_send` only, a full queue
/// drops an ask and never waits.
pub fn spawn(socket: &Path, answers: mpsc::Sender<Identity>) -> mpsc::Sender<Ask> {
    let (ask_tx, ask_rx) = mpsc::channel(ASKS);
    let socket = socket.to_path_buf();
    tokio::spawn(async move {
        match Client::new(&socket) {
            Ok(client) => Resolver::new(client, answers).run(ask_rx).await,
            Err(e) => say_no_names(&format!("{}: {e}", socket.display())),
        }
    });
    ask_tx
}

/// The one line that says why pods have no names from CRI.
pub fn say_no_names(why: &str) {
    eprintln!(
        "tracer: no pod names over CRI ({why}); naming pods from their bundles' labels where found, else by cgroup ids"
    );
}

/// An ask due again at `due`; ordered by that time alone.
struct Retry {
    due: Instant,
    tries: u32,
    ask: Ask,
}

impl PartialEq for Retry {
    fn eq(&self, other: &Self) -> bool {
        self.due == other.due
    }
}
impl Eq for Retry {}
impl PartialOrd for Retry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Retry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.due.cmp(&other.due)
    }
}

struct Resolver {
    client: Client,
    out: mpsc::Sender<Identity>,
    /// `containerd 1.6.20`, from Version.
    runtime: String,
    /// Ids answered: never asked again.
    told: HashSet<String>,
    /// Sandboxes answered, for their containers' pod.
    pods: HashMap<String, Identity>,
    retries: BinaryHeap<Reverse<Retry>>,
}

impl Resolver {
    fn new(client: Client, out: mpsc::Sender<Identity>) -> Self {
        Self {
            client,
            out,
            runtime: String::new(),
            told: HashSet::new(),
            pods: HashMap::new(),
            retries: BinaryHeap::new(),
        }
    }

    async fn run(mut self, mut asks: mpsc::Receiver<Ask>) {
        let socket = self.client.socket.clone();
        match self.client.version().await {
            Ok(v) => self.runtime = map::runtime(&v),
            Err(e) => return say_no_names(&why(&socket, &e)),
        }
        eprintln!(
            "tracer: naming pods over CRI: {} at {}",
            self.runtime,
            socket.display()
        );
        if let Err(e) = self.list_all().await {
            return say_no_names(&why(&socket, &e));
        }
        loop {
            let due = self.retries.peek().map(|r| r.0.due);
            let (ask, tries) = tokio::select! {
                a = asks.recv() => match a {
                    Some(a) => (a, 0),
                    None => return,
                },
                _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    match self.retries.pop() {
                        Some(Reverse(r)) => (r.ask, r.tries),
                        None => continue,
                    }
                }
            };
            if self.told.contains(&ask.id) {
                continue;
            }
            match self.resolve(&ask).await {
                Ok(()) => {}
                Err(CallError::NotFound) if tries + 1 < TRIES => {
                    let due = Instant::now() + RETRY_FIRST * 2u32.pow(tries);
                    self.retries.push(Reverse(Retry {
                        due,
                        tries: tries + 1,
                        ask,
                    }));
                }
                // Not this runtime's (a podman or docker container).
                Err(CallError::NotFound) => {}
                Err(e) => return say_no_names(&why(&socket, &e)),
            }
        }
    }

    /// Every sandbox and container the runtime has now (those running
    /// before the trace among them).
    async fn list_all(&mut self) -> Result<(), CallError> {
        for s in self.client.sandboxes().await? {
            let i = map::sandbox(&s.id, s.metadata.as_ref(), &s.labels, &self.runtime);
            self.tell(i).await;
        }
        for c in self.client.containers().await? {
            let i = map::container(&c, self.pods.get(&c.pod_sandbox_id), &self.runtime);
            self.tell(i).await;
        }
        Ok(())
    }

    async fn resolve(&mut self, ask: &Ask) -> Result<(), CallError> {
        match ask.role {
            IdentityRole::Sandbox => {
                let s = self.client.sandbox(&ask.id).await?;
                let i = map::sandbox(&ask.id, s.metadata.as_ref(), &s.labels, &self.runtime);
                self.tell(i).await;
            }
            IdentityRole::Container => {
                let c = self.client.container(&ask.id).await?;
                if !self.pods.contains_key(&c.pod_sandbox_id) {
                    // Its pod is worth naming too; a container without is still named.
                    if let Ok(s) = self.client.sandbox(&c.pod_sandbox_id).await {
                        let id = &c.pod_sandbox_id;
                        let i = map::sandbox(id, s.metadata.as_ref(), &s.labels, &self.runtime);
                        self.tell(i).await;
                    }
                }
                let i = map::container(&c, self.pods.get(&c.pod_sandbox_id), &self.runtime);
                self.tell(i).await;
            }
        }
        Ok(())
    }

    async fn tell(&mut self, i: Identity) {
        self.told.insert(i.id.clone());
        if i.role == IdentityRole::Sandbox {
            self.pods.insert(i.id.clone(), i.clone());
        }
        // Fails only once the event loop is gone.
        let _ = self.out.send(i).await;
    }
}

/// A call's failure in the words of a user looking at the socket.
fn why(socket: &Path, e: &CallError) -> String {
    let what = match e {
        CallError::Failed(_) if !socket.exists() => "no such socket".into(),
        other => other.to_string(),
    };
    format!("{}: {what}", socket.display())
}
