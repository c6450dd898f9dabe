//! UDP conversations of the guest: smoltcp receives the guest's datagrams
//! on one socket per destination port (whatever the destination address),
//! and each (guest endpoint, destination) pair is a host `UdpSocket`
//! connected to where that destination lies on the host.

use mio::net::UdpSocket;
use mio::{Interest, Registry, Token};
use smoltcp::wire::IpEndpoint;
use std::io;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A conversation with no datagram either way for this long is forgotten.
pub const IDLE: Duration = Duration::from_secs(60);
/// smoltcp-side buffers per destination port: datagrams and bytes.
pub const PACKETS: usize = 64;
pub const BYTES: usize = 256 * 1024;

pub struct UdpFlow {
    /// The guest's endpoint, and the destination it sent to.
    pub guest: IpEndpoint,
    pub dst: IpEndpoint,
    pub host: UdpSocket,
    pub last_used: Instant,
}

impl UdpFlow {
    pub fn connect(
        token: Token,
        guest: IpEndpoint,
        dst: IpEndpoint,
        target: SocketAddr,
        registry: &Registry,
    ) -> io::Result<UdpFlow> {
        let any: SocketAddr = match target {
            SocketAddr::V4(_) => (std::net::Ipv4Addr::UNSPECIFIED, 0).into(),
            SocketAddr::V6(_) => (std::net::Ipv6Addr::UNSPECIFIED, 0).into(),
        };
        let mut host = UdpSocket::bind(any)?;
        host.connect(target)?;
        registry.register(&mut host, token, Interest::READABLE)?;
        Ok(UdpFlow {
            guest,
            dst,
            host,
            last_used: Instant::now(),
        })
    }

    pub fn deregister(&mut self, registry: &Registry) {
        let _ = registry.deregister(&mut self.host);
    }

    pub fn idle(&self, now: Instant) -> bool {
        now.duration_since(self.last_used) > IDLE
    }
}
