//! The network as a guest sees it, with no VM: a second smoltcp plays the
//! machine (10.0.2.15) on the other end of the card's socket, and talks to
//! servers the test runs on the host's loopback.

use hutch_net::Plan;
use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, DeviceCapabilities, Medium};
use smoltcp::socket::{tcp, udp};
use smoltcp::time::Instant;
use smoltcp::wire::{EthernetAddress, IpAddress, IpCidr, IpEndpoint, Ipv4Address};
use socket2::{Domain, SockAddr, Socket, Type};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::mem::MaybeUninit;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::PathBuf;
use std::time::Duration;

/// The card's end of the link, as a smoltcp device.
struct Card {
    socket: Socket,
    incoming: VecDeque<Vec<u8>>,
}

impl Card {
    fn pump_in(&mut self) {
        let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
        while let Ok(n) = self.socket.recv(&mut buf) {
            // SAFETY: recv initialised the first n bytes.
            self.incoming.push_back(
                buf[..n]
                    .iter()
                    .map(|b| unsafe { b.assume_init() })
                    .collect(),
            );
        }
    }
}

struct Rx(Vec<u8>);
struct Tx<'a>(&'a Socket);

impl phy::RxToken for Rx {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

impl phy::TxToken for Tx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut frame = vec![0u8; len];
        let r = f(&mut frame);
        let _ = self.0.send(&frame);
        r
    }
}

impl phy::Device for Card {
    type RxToken<'a> = Rx;
    type TxToken<'a> = Tx<'a>;
    fn receive(&mut self, _: Instant) -> Option<(Rx, Tx<'_>)> {
        let frame = self.incoming.pop_front()?;
        Some((Rx(frame), Tx(&self.socket)))
    }
    fn transmit(&mut self, _: Instant) -> Option<Tx<'_>> {
        Some(Tx(&self.socket))
    }
    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = 1514;
        caps
    }
}

struct Guest {
    card: Card,
    iface: Interface,
    sockets: SocketSet<'static>,
    _dir: PathBuf,
}

impl Guest {
    /// A network serving `resolver`, and a guest plugged into it.
    fn start(test: &str, resolver: Option<SocketAddr>) -> Guest {
        let dir = std::env::temp_dir().join(format!("hutch-net-{test}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("net.sock");
        let plan = Plan::default();
        hutch_net::spawn(&path, plan.clone(), resolver.as_slice()).unwrap();
        let socket = Socket::new(Domain::UNIX, Type::SEQPACKET, None).unwrap();
        socket.connect(&SockAddr::unix(&path).unwrap()).unwrap();
        socket.set_nonblocking(true).unwrap();
        let mut card = Card {
            socket,
            incoming: VecDeque::new(),
        };
        let mut config = Config::new(EthernetAddress(plan.guest_mac).into());
        config.random_seed = u64::from(std::process::id());
        let mut iface = Interface::new(config, &mut card, Instant::now());
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::Ipv4(plan.guest), plan.prefix))
                .unwrap()
        });
        iface
            .routes_mut()
            .add_default_ipv4_route(plan.gateway)
            .unwrap();
        Guest {
            card,
            iface,
            sockets: SocketSet::new(Vec::new()),
            _dir: dir,
        }
    }

    /// Runs the guest until `done` holds (bounded, so a broken network
    /// fails the test instead of hanging it).
    fn run_until(&mut self, mut done: impl FnMut(&mut SocketSet<'static>) -> bool) {
        for _ in 0..20_000 {
            self.card.pump_in();
            self.iface
                .poll(Instant::now(), &mut self.card, &mut self.sockets);
            if done(&mut self.sockets) {
                return;
            }
            std::thread::sleep(Duration::from_micros(500));
        }
        panic!("the guest never got there");
    }

    fn tcp(&mut self, to: (Ipv4Address, u16)) -> SocketHandle {
        let mut socket = tcp::Socket::new(
            tcp::SocketBuffer::new(vec![0; 256 * 1024]),
            tcp::SocketBuffer::new(vec![0; 256 * 1024]),
        );
        socket
            .connect(self.iface.context(), (IpAddress::Ipv4(to.0), to.1), 49152)
            .unwrap();
        self.sockets.add(socket)
    }

    fn udp(&mut self, port: u16) -> SocketHandle {
        let buffer = || udp::PacketBuffer::new(vec![udp::PacketMetadata::EMPTY; 8], vec![0; 8192]);
        let mut socket = udp::Socket::new(buffer(), buffer());
        socket.bind(port).unwrap();
        self.sockets.add(socket)
    }
}

const GATEWAY: Ipv4Address = Ipv4Address::new(10, 0, 2, 2);
const DNS: Ipv4Address = Ipv4Address::new(10, 0, 2, 3);

#[test]
fn tcp_reaches_the_hosts_loopback_with_half_close_and_bulk_data() {
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let bulk: Vec<u8> = (0..4 << 20).map(|i: u32| (i * 7 % 251) as u8).collect();
    let sent = bulk.clone();
    let host = std::thread::spawn(move || {
        let (mut conn, _) = server.accept().unwrap();
        let mut got = Vec::new();
        conn.read_to_end(&mut got).unwrap(); // until the guest's FIN
        conn.write_all(&sent).unwrap();
        got
    });
    let mut g = Guest::start("tcp", None);
    let h = g.tcp((GATEWAY, port));
    g.run_until(|s| s.get::<tcp::Socket>(h).may_send());
    let socket = g.sockets.get_mut::<tcp::Socket>(h);
    socket.send_slice(b"hello over the gateway").unwrap();
    socket.close(); // half-close: we still read the reply
    let mut received = Vec::new();
    g.run_until(|s| {
        let socket = s.get_mut::<tcp::Socket>(h);
        while socket.can_recv() {
            let _ = socket.recv(|b| {
                received.extend_from_slice(b);
                (b.len(), ())
            });
        }
        // The host's FIN came and everything before it was read.
        !socket.may_recv()
    });
    assert_eq!(host.join().unwrap(), b"hello over the gateway");
    assert!(received == bulk, "4 MiB from the host arrive byte-exact");
}

#[test]
fn a_refused_host_connection_is_a_refused_guest_connection() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut g = Guest::start("refused", None);
    let h = g.tcp((GATEWAY, port));
    g.run_until(|s| s.get::<tcp::Socket>(h).state() == tcp::State::Closed);
    assert!(
        !g.sockets.get::<tcp::Socket>(h).may_send(),
        "never established"
    );
}

#[test]
fn udp_reaches_the_host_and_dns_goes_to_the_resolver() {
    let echo = UdpSocket::bind("127.0.0.1:0").unwrap();
    let echo_port = echo.local_addr().unwrap().port();
    let resolver = UdpSocket::bind("127.0.0.1:0").unwrap();
    let resolver_addr = resolver.local_addr().unwrap();
    for (server, reply) in [(echo, &b"echo: "[..]), (resolver, &b"dns: "[..])] {
        std::thread::spawn(move || {
            let mut buf = [0u8; 1500];
            let (n, from) = server.recv_from(&mut buf).unwrap();
            let answer = [reply, &buf[..n]].concat();
            server.send_to(&answer, from).unwrap();
        });
    }
    let mut g = Guest::start("udp", Some(resolver_addr));
    let h = g.udp(40000);
    for (to, port, text) in [(GATEWAY, echo_port, "ping"), (DNS, 53, "query")] {
        let dst = IpEndpoint::new(IpAddress::Ipv4(to), port);
        g.sockets
            .get_mut::<udp::Socket>(h)
            .send_slice(text.as_bytes(), dst)
            .unwrap();
        let mut answer = None;
        g.run_until(|s| {
            if let Ok((data, meta)) = s.get_mut::<udp::Socket>(h).recv() {
                answer = Some((data.to_vec(), meta.endpoint));
            }
            answer.is_some()
        });
        let (data, from) = answer.unwrap();
        assert_eq!(from, dst, "the reply comes from where the query went");
        let prefix = if to == DNS { "dns: " } else { "echo: " };
        assert_eq!(String::from_utf8(data).unwrap(), format!("{prefix}{text}"));
    }
}
