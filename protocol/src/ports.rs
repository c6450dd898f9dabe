//! Published ports: which host port reaches which container port, and
//! how one forwarded connection is opened on [`crate::FORWARD_PORT`].
//!
//! The host's machine monitor listens on the host port. Each connection it
//! accepts (or each UDP peer it hears from) becomes one vsock connection to
//! the agent, opened with a [`PortForward`] frame and answered with one
//! response frame; then TCP bytes flow as they are, and UDP datagrams as
//! [`write_datagram`] frames.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PortProtocol {
    Tcp,
    Udp,
}

impl PortProtocol {
    pub fn name(self) -> &'static str {
        match self {
            PortProtocol::Tcp => "tcp",
            PortProtocol::Udp => "udp",
        }
    }
}

impl fmt::Display for PortProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One published port. A `host_port` of 0 asks for any free port, and a
/// `host_port_last` for the first free one from `host_port` to it
/// (docker's `-p 8000-8010:80`); the monitor's answer carries the port
/// it bound.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PortBinding {
    pub host_ip: IpAddr,
    pub host_port: u16,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port_last: Option<u16>,
    pub container_port: u16,
    pub protocol: PortProtocol,
}

impl PortBinding {
    /// docker's default: every host interface, any free port.
    pub fn any(container_port: u16, protocol: PortProtocol) -> PortBinding {
        PortBinding {
            host_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            host_port: 0,
            host_port_last: None,
            container_port,
            protocol,
        }
    }

    /// The host ports it may take, in the order to try them.
    pub fn host_ports(&self) -> std::ops::RangeInclusive<u16> {
        self.host_port..=self.host_port_last.unwrap_or(self.host_port)
    }

    /// Where it listens on the host: `0.0.0.0:8080`, `[::1]:8080`.
    pub fn host_address(&self) -> String {
        std::net::SocketAddr::new(self.host_ip, self.host_port).to_string()
    }
}

/// docker's PORTS column: `0.0.0.0:8080->80/tcp`.
impl fmt::Display for PortBinding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}->{}/{}",
            self.host_address(),
            self.container_port,
            self.protocol
        )
    }
}

/// The ports a container's run is published on, under a lease the
/// monitor chose: the container's exit event carries it back, so the
/// monitor releases exactly that run's listeners.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPorts {
    pub lease: u64,
    pub ports: Vec<PortBinding>,
}

/// First frame on a [`crate::FORWARD_PORT`] connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortForward {
    pub container: String,
    pub port: u16,
    pub protocol: PortProtocol,
}

/// Largest UDP payload a datagram frame carries.
pub const MAX_DATAGRAM: usize = 65_507;

/// One datagram on a UDP forward: a 2-byte big-endian length, then it.
pub fn write_datagram(w: &mut impl Write, datagram: &[u8]) -> io::Result<()> {
    let len = u16::try_from(datagram.len())
        .ok()
        .filter(|&n| usize::from(n) <= MAX_DATAGRAM)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "datagram too large"))?;
    let mut frame = Vec::with_capacity(2 + datagram.len());
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(datagram);
    w.write_all(&frame)
}

/// The next datagram into `buf` (at least [`MAX_DATAGRAM`] long); its
/// length, or `None` at a clean end of stream.
pub fn read_datagram(r: &mut impl Read, buf: &mut [u8]) -> io::Result<Option<usize>> {
    let mut len = [0u8; 2];
    match r.read_exact(&mut len) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = usize::from(u16::from_be_bytes(len));
    if len > MAX_DATAGRAM || len > buf.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "datagram frame too large",
        ));
    }
    r.read_exact(&mut buf[..len])?;
    Ok(Some(len))
}

/// What happened to a container, as the agent's event stream tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerEvent {
    pub container: String,
    pub action: ContainerAction,
    /// The lease of the ports its run was published on.
    pub lease: Option<u64>,
    /// How it exited (docker's code), on `Die`.
    #[serde(default)]
    pub exit_code: Option<i32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerAction {
    Create,
    Start,
    Die,
    /// Removed (by `rm`, or by the machine once a `--rm` one exited).
    Destroy,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn datagrams_keep_their_boundaries() {
        let mut wire = Vec::new();
        write_datagram(&mut wire, b"one").unwrap();
        write_datagram(&mut wire, b"").unwrap();
        write_datagram(&mut wire, b"three").unwrap();
        let mut r = wire.as_slice();
        let mut buf = vec![0u8; MAX_DATAGRAM];
        let mut got = Vec::new();
        while let Some(n) = read_datagram(&mut r, &mut buf).unwrap() {
            got.push(buf[..n].to_vec());
        }
        assert_eq!(got, [b"one".to_vec(), vec![], b"three".to_vec()]);
    }

    #[test]
    fn a_binding_reads_as_in_docker_ps() {
        let mut b = PortBinding::any(80, PortProtocol::Tcp);
        b.host_port = 8080;
        assert_eq!(b.to_string(), "0.0.0.0:8080->80/tcp");
        b.host_ip = "::1".parse().unwrap();
        b.protocol = PortProtocol::Udp;
        assert_eq!(b.to_string(), "[::1]:8080->80/udp");
    }
}
