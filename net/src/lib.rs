//! hutch's user-mode network: a machine's Ethernet frames carried by
//! ordinary host sockets, with no TAP, no root and no host firewall rules
//! (the slirp / passt / gvisor-tap-vsock model). The machine's network card
//! connects to a SOCK_SEQPACKET socket, one frame per packet; behind it,
//! smoltcp is the machine's gateway and every connection the machine opens
//! becomes a host connection. Connections *into* containers do not come
//! this way: published ports travel over vsock.
//!
//! Written on smoltcp and mio rather than driving passt: both run on macOS
//! and Windows as well, where hutch's machines will need the same network.

mod flows;
mod link;
mod plan;
mod resolvers;
mod stack;

pub use plan::Plan;
pub use resolvers::host_resolvers;

use socket2::{Domain, SockAddr, Socket, Type};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("cannot listen for the machine's network card on {}", .path.display())]
    Listen {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("starting the network thread")]
    Thread(#[source] std::io::Error),
}

/// Starts the network on a thread of its own: it listens on `socket` for
/// the machine's card and serves it by `plan`, sending DNS to `resolvers`
/// (the first one). Runs until the process ends.
pub fn spawn(socket: &Path, plan: Plan, resolvers: &[SocketAddr]) -> Result<(), NetError> {
    let listen = || -> std::io::Result<Socket> {
        let _ = std::fs::remove_file(socket);
        let listener = Socket::new(Domain::UNIX, Type::SEQPACKET.cloexec(), None)?;
        listener.bind(&SockAddr::unix(socket)?)?;
        listener.listen(4)?;
        Ok(listener)
    };
    let listener = listen().map_err(|source| NetError::Listen {
        path: socket.to_path_buf(),
        source,
    })?;
    let stack =
        stack::Stack::new(plan, resolvers.first().copied(), listener).map_err(NetError::Thread)?;
    std::thread::Builder::new()
        .name("network".into())
        .spawn(move || {
            if let Err(e) = stack.run() {
                tracing::error!("the machine's network stopped: {e}");
            }
        })
        .map_err(NetError::Thread)?;
    Ok(())
}
