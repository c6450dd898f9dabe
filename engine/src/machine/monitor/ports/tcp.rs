//! A published TCP port: every accepted connection relayed to the
//! container, half-closes included.

use super::{forward, Target};
use protocol::PortProtocol;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};

const RELAY_BUFFER: usize = 64 * 1024;

pub async fn serve(listener: TcpListener, target: Target) {
    loop {
        match listener.accept().await {
            Ok((client, _)) => {
                tokio::spawn(relay(client, target.clone()));
            }
            // Out of fds, for one: let the moment pass.
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
}

async fn relay(mut client: TcpStream, target: Target) {
    let mut container = match forward::open(&target, PortProtocol::Tcp).await {
        Ok(stream) => stream,
        Err(e) => {
            tracing::debug!("port {}: {e}", target.port);
            // Reset, as a port with nothing behind it would.
            let _ = client.set_zero_linger();
            return;
        }
    };
    let _ = client.set_nodelay(true);
    // Each side's EOF becomes a shutdown of the other's write side.
    let _ = tokio::io::copy_bidirectional_with_sizes(
        &mut client,
        &mut container,
        RELAY_BUFFER,
        RELAY_BUFFER,
    )
    .await;
}
