//! Published ports, the host's side: listeners in the monitor, so they
//! outlive the CLI that ran `run -d` and close with the machine. Each
//! accepted connection (or UDP peer) becomes one vsock connection to the
//! agent (see `protocol::ports`); this path does not touch the user-mode
//! network. A container's listeners are held under a lease; the agent's
//! exit event for that run carries the lease back, and only that run's
//! listeners close.

mod forward;
mod tcp;
mod udp;
mod watch;

use protocol::{PortBinding, PortProtocol, PublishedPorts};
use std::collections::HashMap;
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::task::{AbortHandle, JoinHandle};

/// A port that could not be published.
#[derive(Debug, thiserror::Error)]
#[error("cannot publish {binding}: {}", describe(.binding, .source))]
pub struct PublishError {
    pub binding: PortBinding,
    pub source: io::Error,
}

fn describe(binding: &PortBinding, e: &io::Error) -> String {
    let port = format!("{}/{}", binding.host_port, binding.protocol);
    match e.kind() {
        io::ErrorKind::AddrInUse => format!(
            "host port {port} is already in use on {}; stop what uses it or publish on another port",
            binding.host_ip
        ),
        io::ErrorKind::PermissionDenied => format!(
            "host port {port} needs privileges on this host; publish on a port above 1023"
        ),
        io::ErrorKind::AddrNotAvailable => format!(
            "{} is not an address of this host",
            binding.host_ip
        ),
        _ => e.to_string(),
    }
}

/// One run's listeners; dropping it closes them.
struct Lease {
    id: u64,
    listeners: Vec<AbortHandle>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        for listener in &self.listeners {
            listener.abort();
        }
    }
}

type Leases = Arc<Mutex<HashMap<String, Lease>>>;

/// Where a published port's traffic goes: the agent behind the machine's
/// vsock socket, and which container and port to ask it for.
#[derive(Clone)]
struct Target {
    vsock: Arc<PathBuf>,
    container: Arc<str>,
    port: u16,
}

pub struct Publisher {
    runtime: tokio::runtime::Runtime,
    vsock: Arc<PathBuf>,
    leases: Leases,
    next_lease: AtomicU64,
    /// The task that follows the agent's events (restarted if it ended).
    watcher: Mutex<Option<JoinHandle<()>>>,
}

impl Publisher {
    /// A publisher for the machine whose hybrid vsock socket is `vsock`.
    pub fn new(vsock: PathBuf) -> io::Result<Publisher> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ports")
            .enable_all()
            .build()?;
        Ok(Publisher {
            runtime,
            vsock: Arc::new(vsock),
            leases: Arc::default(),
            next_lease: AtomicU64::new(1),
            watcher: Mutex::new(None),
        })
    }

    /// Listens on every port in `wanted` for `container` (all or none),
    /// replacing listeners it still had; the ports bound, under a new lease.
    pub fn publish(
        &self,
        container: &str,
        wanted: &[PortBinding],
    ) -> Result<PublishedPorts, PublishError> {
        self.unpublish(container);
        if let Some(first) = wanted.first() {
            self.ensure_watching().map_err(|e| PublishError {
                binding: first.clone(),
                source: io::Error::other(format!("following the machine's containers: {e}")),
            })?;
        }
        let _runtime = self.runtime.enter();
        let mut lease = Lease {
            id: self.next_lease.fetch_add(1, Ordering::Relaxed),
            listeners: Vec::new(),
        };
        let mut ports = Vec::new();
        for binding in wanted {
            let target = Target {
                vsock: self.vsock.clone(),
                container: container.into(),
                port: binding.container_port,
            };
            // On an error, `lease` drops and closes what was bound so far.
            let (listener, bound) = listen(binding, target).map_err(|source| PublishError {
                binding: binding.clone(),
                source,
            })?;
            lease.listeners.push(listener);
            ports.push(bound);
        }
        let id = lease.id;
        self.lock().insert(container.to_string(), lease);
        Ok(PublishedPorts { lease: id, ports })
    }

    /// Closes `container`'s listeners, if it has any.
    pub fn unpublish(&self, container: &str) {
        let gone = self.lock().remove(container);
        drop(gone);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Lease>> {
        self.leases.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Subscribes to the agent's events before the first port is
    /// published (so no exit can be missed), and again if that ended.
    fn ensure_watching(&self) -> Result<(), crate::agent::AgentError> {
        let mut watcher = self.watcher.lock().unwrap_or_else(|p| p.into_inner());
        if watcher.as_ref().is_some_and(|w| !w.is_finished()) {
            return Ok(());
        }
        let events = self.runtime.block_on(watch::subscribe(&self.vsock))?;
        *watcher = Some(
            self.runtime
                .spawn(watch::release_on_exit(events, self.leases.clone())),
        );
        Ok(())
    }
}

/// Binds `binding` and serves it on the runtime; the serving task, and
/// the binding with the port that was bound.
fn listen(binding: &PortBinding, target: Target) -> io::Result<(AbortHandle, PortBinding)> {
    let address = (binding.host_ip, binding.host_port);
    let (task, port) = match binding.protocol {
        PortProtocol::Tcp => {
            let listener = std::net::TcpListener::bind(address)?;
            listener.set_nonblocking(true)?;
            let port = listener.local_addr()?.port();
            let listener = tokio::net::TcpListener::from_std(listener)?;
            (tokio::spawn(tcp::serve(listener, target)), port)
        }
        PortProtocol::Udp => {
            let socket = std::net::UdpSocket::bind(address)?;
            socket.set_nonblocking(true)?;
            let port = socket.local_addr()?.port();
            let socket = tokio::net::UdpSocket::from_std(socket)?;
            (tokio::spawn(udp::serve(socket, target)), port)
        }
    };
    let mut bound = binding.clone();
    bound.host_port = port;
    Ok((task.abort_handle(), bound))
}
