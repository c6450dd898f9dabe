//! The network's one thread: smoltcp plays the gateway for the guest
//! (ARP, IP, TCP, UDP, with AnyIP so that it answers for every address),
//! and every connection or conversation the guest starts is relayed to an
//! ordinary host socket. Driven by mio, so it runs wherever mio does.

use crate::flows::tcp::{self, Pumped, TcpFlow};
use crate::flows::udp::{self, UdpFlow};
use crate::link::{Link, MAX_FRAME};
use crate::plan::Plan;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use smoltcp::iface::{Config, Interface, Route, SocketHandle, SocketSet};
use smoltcp::socket::udp::{PacketBuffer, PacketMetadata, UdpMetadata};
use smoltcp::time::Instant as SmolInstant;
use smoltcp::wire::{
    EthernetAddress, EthernetFrame, EthernetProtocol, IpAddress, IpCidr, IpEndpoint,
    IpListenEndpoint, IpProtocol, Ipv4Address, Ipv4Cidr, Ipv4Packet, TcpPacket, UdpPacket,
};
use socket2::Socket;
use std::collections::HashMap;
use std::io;
use std::net::{SocketAddr, SocketAddrV4};
use std::os::unix::io::AsRawFd;
use std::time::{Duration, Instant};

const LISTENER: Token = Token(0);
const LINK: Token = Token(1);
const FIRST_FLOW: usize = 2;
/// The longest the loop sleeps with nothing to do (idle flows expire).
const MAX_SLEEP: Duration = Duration::from_secs(5);

pub struct Stack {
    plan: Plan,
    resolver: Option<SocketAddr>,
    poll: Poll,
    listener: Socket,
    link: Option<Link>,
    iface: Option<Interface>,
    sockets: SocketSet<'static>,
    tcp: HashMap<Token, TcpFlow>,
    /// Finished flows whose sockets go once smoltcp has sent their last
    /// segment (an abort's RST is sent by the next poll).
    tcp_finished: Vec<TcpFlow>,
    /// The (guest, destination) of each TCP flow, so a repeated SYN makes none.
    tcp_by_pair: HashMap<(IpEndpoint, IpEndpoint), Token>,
    udp_ports: HashMap<u16, SocketHandle>,
    udp: HashMap<Token, UdpFlow>,
    udp_by_pair: HashMap<(IpEndpoint, IpEndpoint), Token>,
    next_token: usize,
}

fn smol_now() -> SmolInstant {
    SmolInstant::now()
}

fn v4(addr: IpAddress) -> Option<std::net::Ipv4Addr> {
    match addr {
        IpAddress::Ipv4(a) => Some(a),
    }
}

impl Stack {
    pub fn new(plan: Plan, resolver: Option<SocketAddr>, listener: Socket) -> io::Result<Stack> {
        let poll = Poll::new()?;
        listener.set_nonblocking(true)?;
        poll.registry().register(
            &mut SourceFd(&listener.as_raw_fd()),
            LISTENER,
            Interest::READABLE,
        )?;
        Ok(Stack {
            plan,
            resolver,
            poll,
            listener,
            link: None,
            iface: None,
            sockets: SocketSet::new(Vec::new()),
            tcp: HashMap::new(),
            tcp_finished: Vec::new(),
            tcp_by_pair: HashMap::new(),
            udp_ports: HashMap::new(),
            udp: HashMap::new(),
            udp_by_pair: HashMap::new(),
            next_token: FIRST_FLOW,
        })
    }

    fn token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }

    /// Serves until the process ends.
    pub fn run(mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(256);
        loop {
            let timeout = match (&mut self.iface, self.link.is_some()) {
                (Some(iface), true) => iface
                    .poll_delay(smol_now(), &self.sockets)
                    .map_or(MAX_SLEEP, |d| {
                        Duration::from_micros(d.total_micros()).min(MAX_SLEEP)
                    }),
                _ => MAX_SLEEP,
            };
            match self.poll.poll(&mut events, Some(timeout)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept_link(),
                    LINK => self.read_link(),
                    _ => {} // flows are pumped every round
                }
            }
            self.round();
        }
    }

    /// A card connected (a machine booted, or its device reconnected).
    fn accept_link(&mut self) {
        while let Ok((socket, _)) = self.listener.accept() {
            let Ok(link) = Link::new(socket) else {
                continue;
            };
            if let Some(old) = self.link.take() {
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut SourceFd(&old.socket().as_raw_fd()));
            }
            let registered = self.poll.registry().register(
                &mut SourceFd(&link.socket().as_raw_fd()),
                LINK,
                Interest::READABLE | Interest::WRITABLE,
            );
            if registered.is_err() {
                continue;
            }
            let mut link = link;
            if self.iface.is_none() {
                self.iface = Some(self.interface(&mut link));
            }
            self.link = Some(link);
        }
    }

    /// smoltcp as the guest's gateway and DNS server, answering for every
    /// address routed through it.
    fn interface(&self, link: &mut Link) -> Interface {
        let plan = &self.plan;
        let mut config = Config::new(EthernetAddress(plan.gateway_mac).into());
        // Initial sequence numbers and ports must differ between runs.
        config.random_seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64)
            ^ u64::from(std::process::id());
        let mut iface = Interface::new(config, link, smol_now());
        iface.update_ip_addrs(|addrs| {
            for ip in [plan.gateway, plan.dns] {
                let _ = addrs.push(IpCidr::new(IpAddress::Ipv4(ip), plan.prefix));
            }
        });
        iface.set_any_ip(true);
        iface.routes_mut().update(|routes| {
            // Everything beyond the guest is "via us": AnyIP accepts it.
            let _ = routes.push(Route::new_ipv4_gateway(plan.gateway));
            // Container networks live inside the machine.
            let (inside, prefix) = plan.inside;
            let _ = routes.push(Route {
                cidr: IpCidr::Ipv4(Ipv4Cidr::new(inside, prefix)),
                via_router: IpAddress::Ipv4(plan.guest),
                preferred_until: None,
                expires_at: None,
            });
        });
        iface
    }

    fn read_link(&mut self) {
        if let Some(link) = &mut self.link {
            if !link.read() {
                let _ = self
                    .poll
                    .registry()
                    .deregister(&mut SourceFd(&link.socket().as_raw_fd()));
                self.link = None;
            }
        }
    }

    /// One round: new flows, smoltcp, the flows' host sides, smoltcp again
    /// to send what they produced, then the link.
    fn round(&mut self) {
        if self.iface.is_none() || self.link.is_none() {
            return;
        }
        self.start_flows();
        self.poll_iface();
        self.pump_tcp();
        self.pump_udp();
        self.poll_iface();
        if let Some(link) = &mut self.link {
            link.flush();
        }
        self.expire_udp();
    }

    fn poll_iface(&mut self) {
        if let (Some(iface), Some(link)) = (&mut self.iface, &mut self.link) {
            iface.poll(smol_now(), link, &mut self.sockets);
        }
    }

    /// Looks at what the guest sent before smoltcp does: a SYN needs a
    /// listening socket for its destination, a datagram a socket bound to
    /// its port, or smoltcp would refuse them.
    fn start_flows(&mut self) {
        let mut syns = Vec::new();
        let mut udp_ports = Vec::new();
        if let Some(link) = &self.link {
            for frame in &link.incoming {
                match classify(frame) {
                    Some(Seen::Syn(guest, dst)) => syns.push((guest, dst)),
                    Some(Seen::Udp(port)) => udp_ports.push(port),
                    None => {}
                }
            }
        }
        for (guest, dst) in syns {
            self.start_tcp(guest, dst);
        }
        for port in udp_ports {
            self.bind_udp(port);
        }
    }

    fn start_tcp(&mut self, guest: SocketAddrV4, dst: SocketAddrV4) {
        let pair = (IpEndpoint::from(guest), IpEndpoint::from(dst));
        if self.tcp_by_pair.contains_key(&pair) {
            return; // a retransmitted SYN
        }
        let Some(target) = self.plan.host_target(dst, self.resolver) else {
            return; // smoltcp answers RST
        };
        let listen = IpListenEndpoint {
            addr: Some(IpAddress::Ipv4(*dst.ip())),
            port: dst.port(),
        };
        let Ok(socket) = tcp::listening_socket(listen) else {
            return;
        };
        let handle = self.sockets.add(socket);
        let token = self.token();
        match TcpFlow::connect(handle, token, target, self.poll.registry()) {
            Ok(flow) => {
                self.tcp.insert(token, flow);
                self.tcp_by_pair.insert(pair, token);
            }
            Err(e) => {
                tracing::debug!("net: connecting {target}: {e}");
                self.sockets
                    .get_mut::<smoltcp::socket::tcp::Socket>(handle)
                    .abort();
            }
        }
    }

    fn bind_udp(&mut self, port: u16) {
        if self.udp_ports.contains_key(&port) {
            return;
        }
        let buffer = || {
            PacketBuffer::new(
                vec![PacketMetadata::EMPTY; udp::PACKETS],
                vec![0; udp::BYTES],
            )
        };
        let mut socket = smoltcp::socket::udp::Socket::new(buffer(), buffer());
        if socket.bind(port).is_ok() {
            let handle = self.sockets.add(socket);
            self.udp_ports.insert(port, handle);
        }
    }

    fn pump_tcp(&mut self) {
        // Those that finished last round have had their poll.
        for flow in self.tcp_finished.drain(..) {
            self.sockets.remove(flow.handle);
        }
        let mut done = Vec::new();
        for (token, flow) in &mut self.tcp {
            let socket = self
                .sockets
                .get_mut::<smoltcp::socket::tcp::Socket>(flow.handle);
            if flow.pump(socket) == Pumped::Done {
                done.push(*token);
            }
        }
        for token in done {
            if let Some(mut flow) = self.tcp.remove(&token) {
                flow.deregister(self.poll.registry());
                self.tcp_by_pair.retain(|_, t| *t != token);
                self.tcp_finished.push(flow);
            }
        }
    }

    fn pump_udp(&mut self) {
        // Guest → host.
        let mut outgoing = Vec::new();
        for (&port, &handle) in &self.udp_ports {
            let socket = self.sockets.get_mut::<smoltcp::socket::udp::Socket>(handle);
            while let Ok((data, meta)) = socket.recv() {
                let dst_addr = meta
                    .local_address
                    .unwrap_or(IpAddress::Ipv4(self.plan.gateway));
                let dst = IpEndpoint::new(dst_addr, port);
                outgoing.push((meta.endpoint, dst, data.to_vec()));
            }
        }
        for (guest, dst, data) in outgoing {
            let Some(token) = self.udp_flow(guest, dst) else {
                continue;
            };
            if let Some(flow) = self.udp.get_mut(&token) {
                flow.last_used = Instant::now();
                // A full host buffer drops the datagram, as a network may.
                let _ = flow.host.send(&data);
            }
        }
        // Host → guest.
        let mut buf = vec![0u8; 64 * 1024];
        for flow in self.udp.values_mut() {
            let Some(&handle) = self.udp_ports.get(&flow.dst.port) else {
                continue;
            };
            let socket = self.sockets.get_mut::<smoltcp::socket::udp::Socket>(handle);
            while socket.can_send() {
                let Ok(n) = flow.host.recv(&mut buf) else {
                    break;
                };
                flow.last_used = Instant::now();
                let meta = UdpMetadata {
                    endpoint: flow.guest,
                    local_address: Some(flow.dst.addr),
                    meta: Default::default(),
                };
                let _ = socket.send_slice(&buf[..n.min(MAX_FRAME * 40)], meta);
            }
        }
    }

    /// The conversation between `guest` and `dst`, made on first use.
    fn udp_flow(&mut self, guest: IpEndpoint, dst: IpEndpoint) -> Option<Token> {
        if let Some(token) = self.udp_by_pair.get(&(guest, dst)) {
            return Some(*token);
        }
        let dst_v4 = SocketAddrV4::new(v4(dst.addr)?, dst.port);
        let target = self.plan.host_target(dst_v4, self.resolver)?;
        let token = self.token();
        match UdpFlow::connect(token, guest, dst, target, self.poll.registry()) {
            Ok(flow) => {
                self.udp.insert(token, flow);
                self.udp_by_pair.insert((guest, dst), token);
                Some(token)
            }
            Err(e) => {
                tracing::debug!("net: udp to {target}: {e}");
                None
            }
        }
    }

    fn expire_udp(&mut self) {
        let now = Instant::now();
        let idle: Vec<Token> = self
            .udp
            .iter()
            .filter(|(_, f)| f.idle(now))
            .map(|(t, _)| *t)
            .collect();
        for token in idle {
            if let Some(mut flow) = self.udp.remove(&token) {
                flow.deregister(self.poll.registry());
                self.udp_by_pair.remove(&(flow.guest, flow.dst));
            }
        }
    }
}

/// What a frame from the guest starts, if anything.
enum Seen {
    /// A TCP SYN from the guest's endpoint to a destination.
    Syn(SocketAddrV4, SocketAddrV4),
    /// A UDP datagram to this port.
    Udp(u16),
}

fn classify(frame: &[u8]) -> Option<Seen> {
    let eth = EthernetFrame::new_checked(frame).ok()?;
    if eth.ethertype() != EthernetProtocol::Ipv4 {
        return None;
    }
    let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
    let (src, dst): (Ipv4Address, Ipv4Address) = (ip.src_addr(), ip.dst_addr());
    match ip.next_header() {
        IpProtocol::Tcp => {
            let tcp = TcpPacket::new_checked(ip.payload()).ok()?;
            (tcp.syn() && !tcp.ack()).then(|| {
                Seen::Syn(
                    SocketAddrV4::new(src, tcp.src_port()),
                    SocketAddrV4::new(dst, tcp.dst_port()),
                )
            })
        }
        IpProtocol::Udp => {
            let udp = UdpPacket::new_checked(ip.payload()).ok()?;
            Some(Seen::Udp(udp.dst_port()))
        }
        _ => None,
    }
}
