//! A guest's connections and datagrams carried by host sockets: each TCP
//! connection the guest opens is accepted by smoltcp and relayed to a host
//! `TcpStream`; each UDP conversation gets a host `UdpSocket`.

pub mod tcp;
pub mod udp;

/// Socket buffer sizes on smoltcp's side of a flow.
pub const TCP_BUFFER: usize = 256 * 1024;
