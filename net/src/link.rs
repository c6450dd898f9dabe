//! The link to the machine's network card: one SOCK_SEQPACKET connection,
//! one Ethernet frame per packet, and smoltcp's view of it as a device.

use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::time::Instant;
use socket2::Socket;
use std::collections::VecDeque;
use std::io;
use std::mem::MaybeUninit;

/// Largest frame (Ethernet with a VLAN tag).
pub const MAX_FRAME: usize = 1518;
/// Frames waiting for the link; beyond this smoltcp is told to hold off.
const MAX_QUEUED: usize = 1024;

pub struct Link {
    socket: Socket,
    /// Frames from the card, not yet taken by smoltcp.
    pub incoming: VecDeque<Vec<u8>>,
    /// Frames for the card that the socket has not taken yet.
    outgoing: VecDeque<Vec<u8>>,
}

impl Link {
    pub fn new(socket: Socket) -> io::Result<Link> {
        socket.set_nonblocking(true)?;
        Ok(Link {
            socket,
            incoming: VecDeque::new(),
            outgoing: VecDeque::new(),
        })
    }

    pub fn socket(&self) -> &Socket {
        &self.socket
    }

    /// Reads every frame the card sent; false once the card hung up.
    pub fn read(&mut self) -> bool {
        let mut buf = [MaybeUninit::<u8>::uninit(); MAX_FRAME + 1];
        loop {
            match self.socket.recv(&mut buf) {
                Ok(0) => return false,
                Ok(n) if n > MAX_FRAME => {}
                Ok(n) => {
                    // SAFETY: recv initialised the first n bytes.
                    let frame = buf[..n]
                        .iter()
                        .map(|b| unsafe { b.assume_init() })
                        .collect();
                    self.incoming.push_back(frame);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(_) => return false,
            }
        }
    }

    /// Sends queued frames until the socket is full; whether all went.
    pub fn flush(&mut self) -> bool {
        while let Some(frame) = self.outgoing.front() {
            match self.socket.send(frame) {
                Ok(_) => {
                    self.outgoing.pop_front();
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(_) => {
                    // The card is gone; nothing will take these.
                    self.outgoing.clear();
                    return true;
                }
            }
        }
        true
    }
}

impl phy::Device for Link {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken<'a>;

    fn receive(&mut self, _: Instant) -> Option<(RxToken, TxToken<'_>)> {
        let frame = self.incoming.pop_front()?;
        Some((RxToken(frame), TxToken(&mut self.outgoing)))
    }

    fn transmit(&mut self, _: Instant) -> Option<TxToken<'_>> {
        (self.outgoing.len() < MAX_QUEUED).then_some(TxToken(&mut self.outgoing))
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps.max_burst_size = None;
        caps
    }
}

pub struct RxToken(Vec<u8>);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

pub struct TxToken<'a>(&'a mut VecDeque<Vec<u8>>);

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0u8; len];
        let result = f(&mut frame);
        self.0.push_back(frame);
        result
    }
}
