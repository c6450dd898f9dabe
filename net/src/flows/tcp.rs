//! One TCP connection from the guest: smoltcp's socket on the guest's side,
//! a host `TcpStream` on the other, bytes and half-closes passed through.
//! The guest's SYN is answered only once the host connection is up, so a
//! refused host connection is a refused guest connection (RST).

use super::TCP_BUFFER;
use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use smoltcp::iface::SocketHandle;
use smoltcp::socket::tcp::{Socket, SocketBuffer, State};
use smoltcp::wire::IpListenEndpoint;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};

pub struct TcpFlow {
    pub handle: SocketHandle,
    host: TcpStream,
    /// The host connection is up (and the guest's SYN answered).
    connected: bool,
    /// The host closed its side: the guest was sent FIN.
    host_done: bool,
    /// The guest closed its side: the host was sent FIN.
    guest_done: bool,
}

/// What became of a flow after a pump.
#[derive(Debug, PartialEq, Eq)]
pub enum Pumped {
    Open,
    /// Both sides are finished or one failed: drop the flow.
    Done,
}

/// A smoltcp socket listening for the guest's SYN to `dst`, holding its
/// SYN-ACK until the host side connects.
pub fn listening_socket(
    dst: IpListenEndpoint,
) -> Result<Socket<'static>, smoltcp::socket::tcp::ListenError> {
    let mut socket = Socket::new(
        SocketBuffer::new(vec![0; TCP_BUFFER]),
        SocketBuffer::new(vec![0; TCP_BUFFER]),
    );
    socket.set_nagle_enabled(false);
    socket.pause_synack(true);
    socket.listen(dst)?;
    Ok(socket)
}

impl TcpFlow {
    /// Starts connecting to `target` on the host.
    pub fn connect(
        handle: SocketHandle,
        token: Token,
        target: SocketAddr,
        registry: &Registry,
    ) -> io::Result<TcpFlow> {
        let mut host = TcpStream::connect(target)?;
        registry.register(&mut host, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(TcpFlow {
            handle,
            host,
            connected: false,
            host_done: false,
            guest_done: false,
        })
    }

    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.host);
    }

    /// Moves what can move between the two sides.
    pub fn pump(&mut self, socket: &mut Socket) -> Pumped {
        if !self.connected {
            match self.host_connected() {
                Ok(true) => {
                    self.connected = true;
                    socket.pause_synack(false);
                }
                Ok(false) => return Pumped::Open,
                Err(_) => {
                    socket.abort();
                    return Pumped::Done;
                }
            }
        }
        if socket.state() == State::Closed {
            // The guest reset it, or it finished.
            return Pumped::Done;
        }
        if self.relay_to_host(socket).is_err() || self.relay_to_guest(socket).is_err() {
            socket.abort();
            return Pumped::Done;
        }
        let finished = self.host_done
            && self.guest_done
            && matches!(socket.state(), State::TimeWait | State::Closed);
        if finished {
            Pumped::Done
        } else {
            Pumped::Open
        }
    }

    /// Whether the non-blocking connect finished: an error if it failed.
    fn host_connected(&mut self) -> io::Result<bool> {
        if let Some(e) = self.host.take_error()? {
            return Err(e);
        }
        match self.host.peer_addr() {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Guest bytes to the host; the guest's FIN as a shutdown of our write side.
    fn relay_to_host(&mut self, socket: &mut Socket) -> io::Result<()> {
        while socket.can_recv() {
            let written = socket.recv(|buf| match self.host.write(buf) {
                Ok(n) => (n, Ok(n)),
                Err(e) => (0, Err(e)),
            });
            match written {
                Ok(Ok(0)) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => break,
            }
        }
        let guest_closed = matches!(
            socket.state(),
            State::CloseWait | State::LastAck | State::Closing | State::TimeWait
        );
        if guest_closed && !self.guest_done && socket.recv_queue() == 0 {
            self.guest_done = true;
            // The peer may already be gone; the flow ends with the socket.
            let _ = self.host.shutdown(Shutdown::Write);
        }
        Ok(())
    }

    /// Host bytes to the guest; the host's EOF as our FIN.
    fn relay_to_guest(&mut self, socket: &mut Socket) -> io::Result<()> {
        while !self.host_done && socket.may_send() && socket.can_send() {
            let read = socket.send(|buf| match self.host.read(buf) {
                Ok(n) => (n, Ok(n)),
                Err(e) => (0, Err(e)),
            });
            match read {
                Ok(Ok(0)) => {
                    self.host_done = true;
                    socket.close();
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Ok(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Ok(Err(e)) => return Err(e),
                Err(_) => break,
            }
        }
        Ok(())
    }
}
