//! A published UDP port: each peer's datagrams travel on a vsock stream
//! of their own (as datagram frames), replies go back to that peer, and
//! a flow quiet for a minute ends, as in docker's proxy.

use super::{forward, Target};
use protocol::{PortProtocol, MAX_DATAGRAM};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;

const IDLE: Duration = Duration::from_secs(60);
/// Datagrams queued for a flow whose stream is still opening; more are
/// dropped, as a busy network would.
const FLOW_QUEUE: usize = 256;

pub async fn serve(socket: UdpSocket, target: Target) {
    let socket = Arc::new(socket);
    let mut flows: HashMap<SocketAddr, mpsc::Sender<Vec<u8>>> = HashMap::new();
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let Ok((n, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        flows.retain(|_, flow| !flow.is_closed());
        let flow = flows.entry(peer).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(FLOW_QUEUE);
            tokio::spawn(flow(rx, socket.clone(), peer, target.clone()));
            tx
        });
        let _ = flow.try_send(buf[..n].to_vec());
    }
}

/// Milliseconds since `start`, for an idle clock shared between tasks.
fn since(start: Instant) -> u64 {
    start.elapsed().as_millis() as u64
}

async fn flow(
    mut from_peer: mpsc::Receiver<Vec<u8>>,
    socket: Arc<UdpSocket>,
    peer: SocketAddr,
    target: Target,
) {
    let stream = match forward::open(&target, PortProtocol::Udp).await {
        Ok(stream) => stream,
        Err(e) => {
            tracing::debug!("udp port {}: {e}", target.port);
            return;
        }
    };
    let (mut from_container, mut to_container) = stream.into_split();
    let start = Instant::now();
    let last_active = Arc::new(AtomicU64::new(0));
    let replies_active = last_active.clone();
    let replies = tokio::spawn(async move {
        let mut buf = vec![0u8; MAX_DATAGRAM];
        loop {
            let Ok(len) = from_container.read_u16().await else {
                return;
            };
            let datagram = &mut buf[..usize::from(len)];
            if from_container.read_exact(datagram).await.is_err() {
                return;
            }
            replies_active.store(since(start), Ordering::Relaxed);
            let _ = socket.send_to(datagram, peer).await;
        }
    });
    loop {
        let idle_for = Duration::from_millis(since(start) - last_active.load(Ordering::Relaxed));
        let Some(left) = IDLE.checked_sub(idle_for) else {
            break;
        };
        match tokio::time::timeout(left, from_peer.recv()).await {
            Ok(Some(datagram)) => {
                last_active.store(since(start), Ordering::Relaxed);
                let mut frame = Vec::with_capacity(2 + datagram.len());
                let framed = protocol::write_datagram(&mut frame, &datagram);
                if framed.is_err() || to_container.write_all(&frame).await.is_err() {
                    break;
                }
            }
            Ok(None) => break,
            Err(_) => {} // idle: looked at again above
        }
        if replies.is_finished() {
            break;
        }
    }
    replies.abort();
}
