//! What the service keeps between requests: docker's protocol spreads one
//! `run` over several (attach, then start, then resize), and an exec's
//! exit code is asked for after its stream ends.

use crate::error::{not_found_as, ApiResult};
use engine::container::{ContainerDetails, Resizer};
use engine::Engine;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// A terminal's resizer, shared by the requests that resize it.
pub type SharedResizer = Arc<tokio::sync::Mutex<Resizer>>;

/// A start handed to the attachment that prepared it; the reply carries
/// the start's outcome (the process's pid).
pub type StartRequest = oneshot::Sender<engine::Result<u32>>;

/// An exec created by `POST /containers/{id}/exec`, until its inspection.
#[derive(Debug, Clone)]
pub struct ExecRecord {
    pub container: String,
    pub options: engine::container::ExecOptions,
    /// Its start was asked for (it runs once).
    pub started: bool,
    pub running: bool,
    pub exit_code: Option<i64>,
    pub pid: Option<u32>,
}

pub struct ApiState {
    pub engine: Engine,
    pub machine: String,
    /// Containers attached before they started, by id: `/start` starts
    /// them through their attachment so that no output is missed.
    attached: Mutex<HashMap<String, oneshot::Sender<StartRequest>>>,
    /// Terminals to resize, by container or exec id.
    resizers: Mutex<HashMap<String, SharedResizer>>,
    pub execs: Mutex<HashMap<String, ExecRecord>>,
    pub events: crate::events::Events,
    starting: tokio::sync::Mutex<()>,
}

impl ApiState {
    pub fn new(engine: Engine, machine: String) -> ApiState {
        ApiState {
            engine,
            machine,
            attached: Mutex::default(),
            resizers: Mutex::default(),
            execs: Mutex::default(),
            events: Default::default(),
            starting: Default::default(),
        }
    }

    /// The machine, started if it is not running (podman's service does
    /// the same for its machine).
    /// Its events are followed from then on.
    pub async fn ready(self: &Arc<Self>) -> ApiResult<&str> {
        // The common case costs a look at the machine's state file; the
        // engine call that follows connects to the agent itself. Looked
        // at under the lock a start holds until the agent answers: no
        // request sees a half-started machine, and no look (which tries
        // the monitor's lock) races the monitor this service starts.
        let _starting = self.starting.lock().await;
        if !self.engine.machine_is_running(&self.machine)? {
            self.engine.connect_or_start(&self.machine).await?;
        }
        crate::events::follow(self);
        Ok(&self.machine)
    }

    /// A container by name, id or id prefix; docker's "No such
    /// container" when there is none (clients match those words).
    pub async fn container(self: &Arc<Self>, name: &str) -> ApiResult<ContainerDetails> {
        let machine = self.ready().await?;
        self.engine
            .inspect_container(machine, name)
            .await
            .map_err(not_found_as(format!("No such container: {name}")))
    }

    /// A container's full id from a name, id or id prefix.
    pub async fn container_id(self: &Arc<Self>, name: &str) -> ApiResult<String> {
        Ok(self.container(name).await?.info.id)
    }

    pub fn await_start(&self, id: &str) -> oneshot::Receiver<StartRequest> {
        let (tx, rx) = oneshot::channel();
        lock(&self.attached).insert(id.to_string(), tx);
        rx
    }

    /// The attachment waiting to start container `id`, if one is.
    pub fn take_attachment(&self, id: &str) -> Option<oneshot::Sender<StartRequest>> {
        lock(&self.attached).remove(id)
    }

    pub fn set_resizer(&self, id: &str, resizer: Resizer) -> SharedResizer {
        let resizer = Arc::new(tokio::sync::Mutex::new(resizer));
        lock(&self.resizers).insert(id.to_string(), resizer.clone());
        resizer
    }

    pub fn resizer(&self, id: &str) -> Option<SharedResizer> {
        lock(&self.resizers).get(id).cloned()
    }

    pub fn drop_resizer(&self, id: &str) {
        lock(&self.resizers).remove(id);
    }

    /// Forgets `id`'s resizer if it is still `resizer`: a container's
    /// attachments come and go, and the latest one's resizes its terminal.
    pub fn release_resizer(&self, id: &str, resizer: &SharedResizer) {
        let mut resizers = lock(&self.resizers);
        if resizers.get(id).is_some_and(|r| Arc::ptr_eq(r, resizer)) {
            resizers.remove(id);
        }
    }

    /// A removed container's attachment (its start can no longer come),
    /// terminal and execs go with it.
    pub fn forget(&self, id: &str) {
        lock(&self.attached).remove(id);
        lock(&self.resizers).remove(id);
        lock(&self.execs).retain(|_, e| e.container != id);
    }
}

/// A poisoned lock only means a handler panicked; its map is still whole.
pub fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}
