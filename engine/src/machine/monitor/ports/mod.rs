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
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
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
    match (e.kind(), binding.host_port_last) {
        (io::ErrorKind::AddrInUse, Some(last)) => format!(
            "every host port in {}-{last}/{} is already in use on {}; free one or publish on another range",
            binding.host_port, binding.protocol, binding.host_ip
        ),
        (io::ErrorKind::AddrInUse, None) => format!(
            "host port {port} is already in use on {}; stop what uses it or publish on another port",
            binding.host_ip
        ),
        (io::ErrorKind::PermissionDenied, _) => format!(
            "host port {port} needs privileges on this host; publish on a port above 1023"
        ),
        (io::ErrorKind::AddrNotAvailable, _) => format!(
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

impl Lease {
    /// Closes its listeners and returns once they are closed, so that a
    /// `stop` answered after this finds its ports refused. Only outside
    /// the runtime (the control API's threads): inside, dropping the
    /// lease aborts them without waiting.
    fn close(self) {
        for listener in &self.listeners {
            listener.abort();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.listeners.iter().any(|l| !l.is_finished())
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
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
            let (listener, bound) =
                listen(binding, target.clone()).map_err(|source| PublishError {
                    binding: binding.clone(),
                    source,
                })?;
            lease.listeners.push(listener);
            ports.push(bound.clone());
            // docker's default address also listens on IPv6's, the same
            // port, where the host has IPv6 (where it has not, or the port
            // is taken there, IPv4 alone serves).
            if binding.host_ip == IpAddr::V4(Ipv4Addr::UNSPECIFIED) {
                let also = PortBinding {
                    host_ip: IpAddr::V6(Ipv6Addr::UNSPECIFIED),
                    ..bound.clone()
                };
                match listen(&also, target) {
                    Ok((listener, also)) => {
                        lease.listeners.push(listener);
                        ports.push(also);
                    }
                    Err(e) => {
                        tracing::debug!("ports: no IPv6 listener for {}: {e}", bound.host_address())
                    }
                }
            }
        }
        let id = lease.id;
        self.lock().insert(container.to_string(), lease);
        Ok(PublishedPorts { lease: id, ports })
    }

    /// Closes `container`'s listeners, if it has any.
    pub fn unpublish(&self, container: &str) {
        let gone = self.lock().remove(container);
        if let Some(lease) = gone {
            lease.close();
        }
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

/// A non-blocking socket bound to the binding's address, on the first of
/// its host ports that is free.
fn bound_socket(binding: &PortBinding) -> io::Result<Socket> {
    let mut last_error = None;
    for port in binding.host_ports() {
        match bind(SocketAddr::new(binding.host_ip, port), binding.protocol) {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => last_error = Some(e),
            bound => return bound,
        }
    }
    Err(last_error.unwrap_or_else(|| io::Error::from(io::ErrorKind::AddrInUse)))
}

/// An IPv6 socket only for IPv6 (so `[::]` and `0.0.0.0` can both hold a
/// port); TCP's with SO_REUSEADDR as std's listeners have.
fn bind(address: SocketAddr, protocol: PortProtocol) -> io::Result<Socket> {
    let (kind, number) = match protocol {
        PortProtocol::Tcp => (Type::STREAM, Protocol::TCP),
        PortProtocol::Udp => (Type::DGRAM, Protocol::UDP),
    };
    let socket = Socket::new(Domain::for_address(address), kind, Some(number))?;
    if address.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    if protocol == PortProtocol::Tcp {
        socket.set_reuse_address(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&address.into())?;
    Ok(socket)
}

/// Binds `binding` and serves it on the runtime; the serving task, and
/// the binding with the port that was bound.
fn listen(binding: &PortBinding, target: Target) -> io::Result<(AbortHandle, PortBinding)> {
    let socket = bound_socket(binding)?;
    let port = socket
        .local_addr()?
        .as_socket()
        .map_or(binding.host_port, |a| a.port());
    let task = match binding.protocol {
        PortProtocol::Tcp => {
            socket.listen(1024)?;
            let listener = tokio::net::TcpListener::from_std(socket.into())?;
            tokio::spawn(tcp::serve(listener, target))
        }
        PortProtocol::Udp => {
            let socket = tokio::net::UdpSocket::from_std(socket.into())?;
            tokio::spawn(udp::serve(socket, target))
        }
    };
    let mut bound = binding.clone();
    bound.host_port = port;
    bound.host_port_last = None;
    Ok((task.abort_handle(), bound))
}
