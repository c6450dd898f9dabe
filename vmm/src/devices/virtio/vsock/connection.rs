//! One vsock stream between a guest port and a host Unix stream: its state,
//! the credit-based flow control of virtio spec 5.10.6.3, and half-closes.

use super::packet::{Op, SHUTDOWN_RCV, SHUTDOWN_SEND};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::num::Wrapping;
use std::os::unix::net::UnixStream;

/// Receive buffer we advertise to the guest for each connection.
pub const BUF_ALLOC: u32 = 256 * 1024;
/// Tell the guest about freed space once this much has been forwarded.
const CREDIT_UPDATE_THRESHOLD: u32 = BUF_ALLOC / 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Host-initiated: REQUEST sent, waiting for the guest's RESPONSE.
    Connecting,
    Established,
    /// An RST is queued or was sent; the muxer drops the connection once it
    /// is out.
    Closing,
}

/// A control packet (no payload) waiting to go to the guest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Control {
    pub op: Op,
    pub flags: u32,
}

/// What the connection wants to put in the next rx buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Outgoing {
    Control(Control),
    Data(Vec<u8>),
}

pub struct Connection {
    pub local_port: u32,
    pub peer_port: u32,
    pub stream: UnixStream,
    pub state: State,
    peer_buf_alloc: u32,
    peer_fwd_cnt: Wrapping<u32>,
    /// Bytes sent to the guest.
    rx_cnt: Wrapping<u32>,
    /// Bytes from the guest delivered to the host stream.
    fwd_cnt: Wrapping<u32>,
    last_fwd_cnt_sent: Wrapping<u32>,
    to_host: VecDeque<u8>,
    control: VecDeque<Control>,
    /// The host stream reached EOF; the guest was told with SHUTDOWN(SEND).
    host_eof: bool,
    guest_shut_send: bool,
    credit_requested: bool,
}

impl Connection {
    pub fn new(local_port: u32, peer_port: u32, stream: UnixStream, state: State) -> Self {
        Connection {
            local_port,
            peer_port,
            stream,
            state,
            peer_buf_alloc: 0,
            peer_fwd_cnt: Wrapping(0),
            rx_cnt: Wrapping(0),
            fwd_cnt: Wrapping(0),
            last_fwd_cnt_sent: Wrapping(0),
            to_host: VecDeque::new(),
            control: VecDeque::new(),
            host_eof: false,
            guest_shut_send: false,
            credit_requested: false,
        }
    }

    pub fn fwd_cnt(&self) -> u32 {
        self.fwd_cnt.0
    }

    /// Called for every header sent to the guest: it carries our credit.
    pub fn note_credit_sent(&mut self) {
        self.last_fwd_cnt_sent = self.fwd_cnt;
    }

    /// Bytes the guest can still take from us.
    pub fn peer_free(&self) -> u32 {
        let in_flight = (self.rx_cnt - self.peer_fwd_cnt).0;
        self.peer_buf_alloc.saturating_sub(in_flight)
    }

    pub fn update_peer_credit(&mut self, buf_alloc: u32, fwd_cnt: u32) {
        self.peer_buf_alloc = buf_alloc;
        self.peer_fwd_cnt = Wrapping(fwd_cnt);
        if self.peer_free() > 0 {
            self.credit_requested = false;
        }
    }

    pub fn queue(&mut self, op: Op, flags: u32) {
        let c = Control { op, flags };
        if !self.control.contains(&c) {
            self.control.push_back(c);
        }
    }

    pub fn reset(&mut self) {
        self.state = State::Closing;
        self.control.clear();
        self.queue(Op::Rst, 0);
    }

    pub fn has_control(&self) -> bool {
        !self.control.is_empty()
    }

    /// Whether the muxer should poll the host stream for input.
    pub fn wants_host_read(&self) -> bool {
        self.state == State::Established && !self.host_eof && self.peer_free() > 0
    }

    /// Whether buffered guest data is waiting for the host stream.
    pub fn wants_host_write(&self) -> bool {
        !self.to_host.is_empty()
    }

    /// Data the guest sent on this stream (an RW packet).
    pub fn send_to_host(&mut self, data: &[u8]) {
        if self.state != State::Established || self.guest_shut_send {
            self.reset();
            return;
        }
        // The guest may only send what our advertised credit allows.
        if self.to_host.len() + data.len() > BUF_ALLOC as usize {
            tracing::warn!(port = self.local_port, "guest overran its vsock credit");
            self.reset();
            return;
        }
        self.to_host.extend(data);
        self.flush_to_host();
    }

    /// Writes as much buffered guest data to the host stream as it takes.
    pub fn flush_to_host(&mut self) {
        while !self.to_host.is_empty() {
            let (front, _) = self.to_host.as_slices();
            match self.stream.write(front) {
                Ok(0) => break,
                Ok(n) => {
                    self.to_host.drain(..n);
                    self.fwd_cnt += Wrapping(n as u32);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.reset();
                    return;
                }
            }
        }
        if self.to_host.is_empty() && self.guest_shut_send {
            let _ = self.stream.shutdown(std::net::Shutdown::Write);
        }
        if (self.fwd_cnt - self.last_fwd_cnt_sent).0 >= CREDIT_UPDATE_THRESHOLD {
            self.queue(Op::CreditUpdate, 0);
        }
    }

    /// The guest's SHUTDOWN. A full shutdown ends with our RST once the data
    /// already received has reached the host.
    pub fn guest_shutdown(&mut self, flags: u32) {
        if flags & SHUTDOWN_SEND != 0 {
            self.guest_shut_send = true;
        }
        self.flush_to_host();
        if flags & (SHUTDOWN_SEND | SHUTDOWN_RCV) == SHUTDOWN_SEND | SHUTDOWN_RCV {
            if self.to_host.is_empty() {
                self.reset();
            } else {
                // Remaining bytes are written as the host stream drains.
                self.host_eof = true;
            }
        }
    }

    /// Whether a full guest shutdown has finished draining to the host.
    pub fn drained_after_shutdown(&self) -> bool {
        self.guest_shut_send && self.host_eof && self.to_host.is_empty()
    }

    /// Produces the next packet for the guest, given the payload room in the
    /// rx buffer. Control packets go first; data is read from the host
    /// stream within the guest's credit. `None` when there is nothing to send
    /// now (the stream would block, or credit ran out).
    pub fn next_outgoing(&mut self, room: usize) -> Option<Outgoing> {
        if let Some(c) = self.control.pop_front() {
            return Some(Outgoing::Control(c));
        }
        if self.state != State::Established || self.host_eof {
            return None;
        }
        let credit = self.peer_free() as usize;
        if credit == 0 {
            if !self.credit_requested {
                self.credit_requested = true;
                return Some(Outgoing::Control(Control {
                    op: Op::CreditRequest,
                    flags: 0,
                }));
            }
            return None;
        }
        let mut buf = vec![0u8; room.min(credit).min(super::packet::MAX_PAYLOAD)];
        if buf.is_empty() {
            return None;
        }
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.host_eof = true;
                    return Some(Outgoing::Control(Control {
                        op: Op::Shutdown,
                        flags: SHUTDOWN_SEND,
                    }));
                }
                Ok(n) => {
                    buf.truncate(n);
                    self.rx_cnt += Wrapping(n as u32);
                    return Some(Outgoing::Data(buf));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(_) => {
                    self.state = State::Closing;
                    return Some(Outgoing::Control(Control {
                        op: Op::Rst,
                        flags: 0,
                    }));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn established() -> (Connection, UnixStream) {
        let (ours, theirs) = UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let mut c = Connection::new(5000, 1024, ours, State::Established);
        c.update_peer_credit(1000, 0);
        (c, theirs)
    }

    #[test]
    fn data_to_guest_respects_peer_credit() {
        let (mut c, mut host) = established();
        host.write_all(&[7u8; 3000]).unwrap();
        let Some(Outgoing::Data(d)) = c.next_outgoing(4096) else {
            panic!("expected data")
        };
        assert_eq!(d.len(), 1000, "limited by the guest's buf_alloc");
        assert_eq!(c.peer_free(), 0);
        // Out of credit: one CREDIT_REQUEST, then nothing.
        assert_eq!(
            c.next_outgoing(4096),
            Some(Outgoing::Control(Control {
                op: Op::CreditRequest,
                flags: 0
            }))
        );
        assert_eq!(c.next_outgoing(4096), None);
        // The guest consumed 600 bytes.
        c.update_peer_credit(1000, 600);
        let Some(Outgoing::Data(d)) = c.next_outgoing(4096) else {
            panic!("expected data")
        };
        assert_eq!(d.len(), 600);
    }

    #[test]
    fn host_eof_becomes_shutdown_send() {
        let (mut c, host) = established();
        drop(host);
        assert_eq!(
            c.next_outgoing(4096),
            Some(Outgoing::Control(Control {
                op: Op::Shutdown,
                flags: SHUTDOWN_SEND
            }))
        );
        assert!(!c.wants_host_read());
    }

    #[test]
    fn guest_data_is_forwarded_and_credit_update_follows() {
        let (mut c, mut host) = established();
        let chunk = vec![1u8; CREDIT_UPDATE_THRESHOLD as usize];
        c.send_to_host(&chunk);
        let mut got = vec![0u8; chunk.len()];
        host.read_exact(&mut got).unwrap();
        assert_eq!(c.fwd_cnt(), CREDIT_UPDATE_THRESHOLD);
        assert!(matches!(
            c.next_outgoing(0),
            Some(Outgoing::Control(Control {
                op: Op::CreditUpdate,
                ..
            }))
        ));
    }

    #[test]
    fn overrunning_credit_resets() {
        let (mut c, _host) = established();
        // Nobody reads the host side, so data piles up past BUF_ALLOC.
        let chunk = vec![0u8; 64 * 1024];
        for _ in 0..((BUF_ALLOC as usize * 2) / chunk.len() + 2) {
            c.send_to_host(&chunk);
        }
        assert_eq!(c.state, State::Closing);
        assert_eq!(
            c.next_outgoing(0),
            Some(Outgoing::Control(Control {
                op: Op::Rst,
                flags: 0
            }))
        );
    }

    #[test]
    fn full_guest_shutdown_resets_after_drain() {
        let (mut c, mut host) = established();
        c.send_to_host(b"bye");
        c.guest_shutdown(SHUTDOWN_SEND | SHUTDOWN_RCV);
        let mut got = Vec::new();
        host.read_to_end(&mut got).ok();
        assert_eq!(got, b"bye");
        assert_eq!(c.state, State::Closing);
    }
}
