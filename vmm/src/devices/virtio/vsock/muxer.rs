//! The host side of the device: the machine's Unix socket (host-initiated
//! connections, `CONNECT <port>\n` / `OK <port>\n`), `<path>_<port>` sockets
//! for guest-initiated ones, and the map from (host port, guest port) to
//! [`Connection`]. It has its own epoll set so that whoever runs the device
//! (a vhost-user backend or our VMM's event loop) waits on one fd.

use super::connection::{Connection, Outgoing, State, BUF_ALLOC};
use super::packet::{Header, Op, Packet, TYPE_STREAM};
use super::HOST_CID;
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{self, Read, Write};
use std::os::unix::io::{AsRawFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use vmm_sys_util::epoll::{ControlOperation, Epoll, EpollEvent, EventSet};

/// (host port, guest port)
type Key = (u32, u32);

const LISTENER_TOKEN: u64 = 0;
/// A `CONNECT <port>\n` line is far shorter; anything longer is refused.
const MAX_HANDSHAKE_LEN: usize = 32;
/// Host-initiated connections get local ports from here up, clear of the
/// low ports services listen on.
const FIRST_EPHEMERAL_PORT: u32 = 1 << 30;

#[derive(Debug, thiserror::Error)]
#[error("packet from CID {src} to CID {dst} is not from the guest to the host")]
pub struct WrongCids {
    pub src: u64,
    pub dst: u64,
}

enum Target {
    Handshake(UnixStream, Vec<u8>),
    Conn(Key),
}

pub struct Muxer {
    guest_cid: u64,
    uds_path: PathBuf,
    listener: UnixListener,
    epoll: Epoll,
    targets: HashMap<u64, Target>,
    /// The epoll interest each registered token has now (absent: not registered).
    interest: HashMap<u64, EventSet>,
    tokens: HashMap<Key, u64>,
    conns: HashMap<Key, Connection>,
    next_token: u64,
    next_local_port: u32,
    /// RSTs answering packets that match no connection.
    orphans: VecDeque<Header>,
    rx_ready: VecDeque<Key>,
    rx_ready_set: HashSet<Key>,
}

impl Muxer {
    /// Binds the machine's Unix socket at `uds_path` (replacing a stale one).
    pub fn new(guest_cid: u64, uds_path: &Path) -> io::Result<Self> {
        let _ = std::fs::remove_file(uds_path);
        let listener = UnixListener::bind(uds_path)?;
        listener.set_nonblocking(true)?;
        let epoll = Epoll::new()?;
        epoll.ctl(
            ControlOperation::Add,
            listener.as_raw_fd(),
            EpollEvent::new(EventSet::IN, LISTENER_TOKEN),
        )?;
        Ok(Muxer {
            guest_cid,
            uds_path: uds_path.to_path_buf(),
            listener,
            epoll,
            targets: HashMap::new(),
            interest: HashMap::new(),
            tokens: HashMap::new(),
            conns: HashMap::new(),
            next_token: LISTENER_TOKEN + 1,
            next_local_port: FIRST_EPHEMERAL_PORT,
            orphans: VecDeque::new(),
            rx_ready: VecDeque::new(),
            rx_ready_set: HashSet::new(),
        })
    }

    pub fn epoll_fd(&self) -> RawFd {
        self.epoll.as_raw_fd()
    }

    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    pub fn has_outgoing(&self) -> bool {
        !self.orphans.is_empty() || !self.rx_ready.is_empty()
    }

    /// Handles everything that is ready on the host side, without blocking.
    pub fn handle_host_events(&mut self) {
        let mut events = vec![EpollEvent::default(); 64];
        loop {
            let n = match self.epoll.wait(0, &mut events) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    tracing::error!("vsock muxer epoll failed: {e}");
                    return;
                }
            };
            if n == 0 {
                return;
            }
            for ev in &events[..n] {
                self.dispatch(ev.data(), ev.event_set());
            }
        }
    }

    fn dispatch(&mut self, token: u64, set: EventSet) {
        if token == LISTENER_TOKEN {
            self.accept_all();
            return;
        }
        match self.targets.get(&token) {
            Some(Target::Handshake(..)) => self.read_handshake(token),
            Some(Target::Conn(key)) => {
                let key = *key;
                if let Some(conn) = self.conns.get_mut(&key) {
                    if set.contains(EventSet::OUT) {
                        conn.flush_to_host();
                    }
                }
                if set.intersects(EventSet::IN | EventSet::HANG_UP | EventSet::READ_HANG_UP) {
                    self.mark_rx_ready(key);
                }
                self.refresh(key);
            }
            None => {}
        }
    }

    fn accept_all(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if stream.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let token = self.alloc_token();
                    self.set_interest(token, stream.as_raw_fd(), EventSet::IN);
                    self.targets
                        .insert(token, Target::Handshake(stream, Vec::new()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    tracing::warn!("vsock accept failed: {e}");
                    return;
                }
            }
        }
    }

    /// Reads a host client's `CONNECT <port>\n`. A malformed line, EOF or an
    /// overlong line drops the client.
    fn read_handshake(&mut self, token: u64) {
        let Some(Target::Handshake(stream, buf)) = self.targets.get_mut(&token) else {
            return;
        };
        // One byte at a time: nothing past the newline may be consumed here.
        let mut byte = [0u8; 1];
        loop {
            match stream.read(&mut byte) {
                Ok(0) => return self.drop_target(token),
                Ok(_) if byte[0] == b'\n' => break,
                Ok(_) if buf.len() >= MAX_HANDSHAKE_LEN => return self.drop_target(token),
                Ok(_) => buf.push(byte[0]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.drop_target(token),
            }
        }
        let port = std::str::from_utf8(buf)
            .ok()
            .and_then(|l| l.strip_prefix("CONNECT "))
            .and_then(|p| p.trim().parse::<u32>().ok());
        let Some(peer_port) = port else {
            let _ = stream.write_all(b"ERROR expected CONNECT <port>\n");
            return self.drop_target(token);
        };
        let Some(Target::Handshake(stream, _)) = self.targets.remove(&token) else {
            return;
        };
        self.set_interest(token, stream.as_raw_fd(), EventSet::empty());
        let local_port = self.alloc_local_port(peer_port);
        let key = (local_port, peer_port);
        let mut conn = Connection::new(local_port, peer_port, stream, State::Connecting);
        conn.queue(Op::Request, 0);
        self.add_conn(key, conn);
    }

    fn drop_target(&mut self, token: u64) {
        if let Some(Target::Handshake(stream, _)) = self.targets.remove(&token) {
            self.set_interest(token, stream.as_raw_fd(), EventSet::empty());
        }
    }

    fn alloc_token(&mut self) -> u64 {
        let t = self.next_token;
        self.next_token += 1;
        t
    }

    fn alloc_local_port(&mut self, peer_port: u32) -> u32 {
        loop {
            let p = self.next_local_port;
            self.next_local_port = self
                .next_local_port
                .checked_add(1)
                .unwrap_or(FIRST_EPHEMERAL_PORT);
            if !self.conns.contains_key(&(p, peer_port)) {
                return p;
            }
        }
    }

    fn add_conn(&mut self, key: Key, conn: Connection) {
        let token = self.alloc_token();
        self.targets.insert(token, Target::Conn(key));
        self.tokens.insert(key, token);
        self.conns.insert(key, conn);
        self.refresh(key);
    }

    fn remove_conn(&mut self, key: Key) {
        if let Some(conn) = self.conns.remove(&key) {
            if let Some(token) = self.tokens.remove(&key) {
                self.set_interest(token, conn.stream.as_raw_fd(), EventSet::empty());
                self.targets.remove(&token);
            }
        }
        self.rx_ready_set.remove(&key);
        self.rx_ready.retain(|k| *k != key);
    }

    fn mark_rx_ready(&mut self, key: Key) {
        if self.rx_ready_set.insert(key) {
            self.rx_ready.push_back(key);
        }
    }

    /// Brings the rx-ready list and epoll interest in line with what the
    /// connection wants now.
    fn refresh(&mut self, key: Key) {
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        if conn.drained_after_shutdown() && conn.state != State::Closing {
            conn.reset();
        }
        let has_control = conn.has_control();
        let mut want = EventSet::empty();
        if conn.wants_host_write() {
            want |= EventSet::OUT;
        }
        let fd = conn.stream.as_raw_fd();
        let read = conn.wants_host_read();
        if has_control {
            self.mark_rx_ready(key);
        }
        if read && !self.rx_ready_set.contains(&key) {
            want |= EventSet::IN | EventSet::READ_HANG_UP;
        }
        if let Some(&token) = self.tokens.get(&key) {
            self.set_interest(token, fd, want);
        }
    }

    /// Registers, modifies or removes `fd` in the epoll set. A socket with no
    /// interest is removed entirely: epoll would otherwise keep reporting a
    /// hang-up we cannot act on yet.
    fn set_interest(&mut self, token: u64, fd: RawFd, want: EventSet) {
        let have = self.interest.get(&token).copied();
        let op = match (have, want.is_empty()) {
            (None, true) => return,
            (None, false) => ControlOperation::Add,
            (Some(h), false) if h == want => return,
            (Some(_), false) => ControlOperation::Modify,
            (Some(_), true) => ControlOperation::Delete,
        };
        if let Err(e) = self.epoll.ctl(op, fd, EpollEvent::new(want, token)) {
            tracing::warn!("vsock epoll update failed: {e}");
        }
        if want.is_empty() {
            self.interest.remove(&token);
        } else {
            self.interest.insert(token, want);
        }
    }

    fn reply_rst(&mut self, to: &Header) {
        if to.op() == Some(Op::Rst) {
            return;
        }
        self.orphans.push_back(Header {
            src_cid: HOST_CID,
            dst_cid: self.guest_cid,
            src_port: to.dst_port,
            dst_port: to.src_port,
            len: 0,
            type_: TYPE_STREAM,
            op: Op::Rst as u16,
            flags: 0,
            buf_alloc: 0,
            fwd_cnt: 0,
        });
    }

    /// A packet the guest put on the tx queue. One whose addresses are not
    /// the guest's own to the host is refused without an answer.
    pub fn send_from_guest(&mut self, pkt: Packet) -> Result<(), WrongCids> {
        let h = pkt.header;
        if h.src_cid != self.guest_cid || h.dst_cid != HOST_CID {
            return Err(WrongCids {
                src: h.src_cid,
                dst: h.dst_cid,
            });
        }
        if h.type_ != TYPE_STREAM {
            self.reply_rst(&h);
            return Ok(());
        }
        let key = (h.dst_port, h.src_port);
        let Some(conn) = self.conns.get_mut(&key) else {
            if h.op() == Some(Op::Request) {
                self.accept_guest_connect(&h);
            } else {
                self.reply_rst(&h);
            }
            return Ok(());
        };
        conn.update_peer_credit(h.buf_alloc, h.fwd_cnt);
        match h.op() {
            Some(Op::Response) if conn.state == State::Connecting => {
                conn.state = State::Established;
                let ok = format!("OK {}\n", conn.local_port);
                if conn.stream.write_all(ok.as_bytes()).is_err() {
                    conn.reset();
                }
            }
            Some(Op::Rw) => conn.send_to_host(&pkt.payload),
            Some(Op::CreditUpdate) => {}
            Some(Op::CreditRequest) => conn.queue(Op::CreditUpdate, 0),
            Some(Op::Shutdown) => conn.guest_shutdown(h.flags),
            Some(Op::Rst) => {
                self.remove_conn(key);
                return Ok(());
            }
            _ => conn.reset(),
        }
        self.refresh(key);
        Ok(())
    }

    /// The guest connects to host port P: forward to the Unix socket `<path>_P`.
    fn accept_guest_connect(&mut self, h: &Header) {
        let mut path = self.uds_path.clone().into_os_string();
        path.push(format!("_{}", h.dst_port));
        match UnixStream::connect(&path).and_then(|s| s.set_nonblocking(true).map(|_| s)) {
            Ok(stream) => {
                let mut conn = Connection::new(h.dst_port, h.src_port, stream, State::Established);
                conn.update_peer_credit(h.buf_alloc, h.fwd_cnt);
                conn.queue(Op::Response, 0);
                self.add_conn((h.dst_port, h.src_port), conn);
            }
            Err(_) => self.reply_rst(h),
        }
    }

    /// The next packet for the guest, given the payload room of an rx buffer.
    pub fn next_for_guest(&mut self, room: usize) -> Option<Packet> {
        if let Some(header) = self.orphans.pop_front() {
            return Some(Packet {
                header,
                payload: Vec::new(),
            });
        }
        while let Some(key) = self.rx_ready.pop_front() {
            self.rx_ready_set.remove(&key);
            let Some(conn) = self.conns.get_mut(&key) else {
                continue;
            };
            let Some(out) = conn.next_outgoing(room) else {
                self.refresh(key);
                continue;
            };
            let (op, flags, payload) = match out {
                Outgoing::Control(c) => (c.op, c.flags, Vec::new()),
                Outgoing::Data(d) => (Op::Rw, 0, d),
            };
            let header = Header {
                src_cid: HOST_CID,
                dst_cid: self.guest_cid,
                src_port: conn.local_port,
                dst_port: conn.peer_port,
                len: payload.len() as u32,
                type_: TYPE_STREAM,
                op: op as u16,
                flags,
                buf_alloc: BUF_ALLOC,
                fwd_cnt: conn.fwd_cnt(),
            };
            conn.note_credit_sent();
            if op == Op::Rst {
                self.remove_conn(key);
            } else {
                // Try again next time: more data or control may be waiting.
                self.mark_rx_ready(key);
                self.refresh(key);
            }
            return Some(Packet { header, payload });
        }
        None
    }
}

impl Drop for Muxer {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.uds_path);
    }
}
