//! Published ports, the machine's side: each vsock connection on
//! [`protocol::FORWARD_PORT`] is one connection (TCP) or one peer (UDP)
//! the host's monitor accepted on a published host port. We connect to
//! the container's address on its network, as docker's proxy does, and
//! relay until both sides are done.

use crate::container::Containers;
use crate::sys::vsock::VsockStream;
use protocol::{read_datagram, write_datagram, AgentError, ErrorKind, PortForward, PortProtocol};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long a connect to the container may take before the host's client
/// is refused (a server that is not listening refuses at once).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a UDP relay looks whether the host side has gone.
const UDP_POLL: Duration = Duration::from_millis(500);
const RELAY_BUFFER: usize = 64 * 1024;

/// Serves one forward: `request` came first on `conn`; the answer frame
/// says whether the container's side is connected.
pub fn forward(request: PortForward, conn: VsockStream, containers: &Containers) {
    let target = containers
        .find(&request.container)
        .and_then(|c| c.forward_target(request.port));
    let connected = target.and_then(|target| match request.protocol {
        PortProtocol::Tcp => connect_tcp(target).map(Peer::Tcp),
        PortProtocol::Udp => connect_udp(target).map(Peer::Udp),
    });
    let mut conn = conn;
    let answer = match &connected {
        Ok(_) => protocol::Response::Done,
        Err(e) => protocol::Response::Error(e.clone()),
    };
    let envelope = protocol::Envelope {
        id: 0,
        body: answer,
    };
    if protocol::write_frame(&mut conn, &envelope).is_err() {
        return;
    }
    match connected {
        Ok(Peer::Tcp(stream)) => relay_tcp(conn, stream),
        Ok(Peer::Udp(socket)) => relay_udp(conn, socket),
        Err(_) => {}
    }
}

enum Peer {
    Tcp(TcpStream),
    Udp(UdpSocket),
}

fn unreachable(target: SocketAddr, e: io::Error) -> AgentError {
    AgentError::new(
        ErrorKind::Conflict,
        format!("cannot reach {target} in the container: {e}"),
    )
}

fn connect_tcp(target: SocketAddr) -> Result<TcpStream, AgentError> {
    let stream =
        TcpStream::connect_timeout(&target, CONNECT_TIMEOUT).map_err(|e| unreachable(target, e))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

fn connect_udp(target: SocketAddr) -> Result<UdpSocket, AgentError> {
    let socket = UdpSocket::bind(("0.0.0.0", 0))
        .and_then(|s| s.connect(target).map(|()| s))
        .map_err(|e| unreachable(target, e))?;
    socket
        .set_read_timeout(Some(UDP_POLL))
        .map_err(|e| unreachable(target, e))?;
    Ok(socket)
}

/// Copies `from` into `to` until EOF, then ends `to`'s sending side (so
/// a half-close passes through). Returns whether it ended cleanly.
fn pump(mut from: impl Read, mut to: impl Write, end: impl FnOnce()) -> bool {
    let mut buf = vec![0u8; RELAY_BUFFER];
    loop {
        match from.read(&mut buf) {
            Ok(0) => {
                end();
                return true;
            }
            Ok(n) => {
                if to.write_all(&buf[..n]).is_err() {
                    return false;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return false,
        }
    }
}

fn relay_tcp(conn: VsockStream, stream: TcpStream) {
    let (Ok(conn_out), Ok(stream_in)) = (conn.try_clone(), stream.try_clone()) else {
        return;
    };
    // A failure either way resets the whole connection, which also wakes
    // the other direction's blocked read.
    let reset = |conn: &VsockStream, stream: &TcpStream| {
        let _ = stream.shutdown(Shutdown::Both);
        let _ = conn.shutdown(Shutdown::Both);
    };
    let host_to_container = std::thread::spawn(move || {
        let end = || {
            let _ = stream_in.shutdown(Shutdown::Write);
        };
        if !pump(&conn, &stream_in, end) {
            reset(&conn, &stream_in);
        }
    });
    let end = || {
        let _ = conn_out.shutdown(Shutdown::Write);
    };
    if !pump(&stream, &conn_out, end) {
        reset(&conn_out, &stream);
    }
    let _ = host_to_container.join();
}

fn relay_udp(conn: VsockStream, socket: UdpSocket) {
    let (Ok(mut conn_out), Ok(socket_in)) = (conn.try_clone(), socket.try_clone()) else {
        return;
    };
    let done = Arc::new(AtomicBool::new(false));
    let replies_done = done.clone();
    // Replies from the container back to the host, until the host is gone.
    let replies = std::thread::spawn(move || {
        let mut buf = vec![0u8; protocol::MAX_DATAGRAM];
        while !replies_done.load(Ordering::Relaxed) {
            match socket_in.recv(&mut buf) {
                Ok(n) => {
                    if write_datagram(&mut conn_out, &buf[..n]).is_err() {
                        return;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                            // Nobody listens in the container (yet): its
                            // ICMP error must not end the flow.
                            | io::ErrorKind::ConnectionRefused
                    ) => {}
                Err(_) => return,
            }
        }
    });
    let mut conn = conn;
    let mut buf = vec![0u8; protocol::MAX_DATAGRAM];
    while let Ok(Some(n)) = read_datagram(&mut conn, &mut buf) {
        let _ = socket.send(&buf[..n]);
    }
    done.store(true, Ordering::Relaxed);
    let _ = replies.join();
}
