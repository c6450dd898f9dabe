//! rtnetlink requests, for the machine's network and its containers':
//! links (bridges, veth pairs, up, master, moving into a namespace),
//! addresses, routes and routing rules. A socket acts in the network namespace of the
//! thread that opened it.

use netlink_packet_core::{
    NetlinkHeader, NetlinkMessage, NetlinkPayload, NLM_F_ACK, NLM_F_CREATE, NLM_F_EXCL,
    NLM_F_REQUEST,
};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkFlags, LinkInfo, LinkMessage,
};
use netlink_packet_route::route::{
    RouteAddress, RouteAttribute, RouteHeader, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use netlink_sys::{protocols::NETLINK_ROUTE, Socket, SocketAddr};
use std::ffi::CString;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::RawFd;

pub struct Netlink {
    socket: Socket,
    sequence: u32,
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

/// The index of interface `name` in the current network namespace.
pub fn index(name: &str) -> io::Result<u32> {
    let c = CString::new(name).map_err(|_| invalid(format!("bad interface name {name:?}")))?;
    // SAFETY: if_nametoindex reads a valid NUL-terminated string.
    match unsafe { libc::if_nametoindex(c.as_ptr()) } {
        0 => Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("no interface {name}"),
        )),
        i => Ok(i),
    }
}

impl Netlink {
    pub fn open() -> io::Result<Netlink> {
        let mut socket = Socket::new(NETLINK_ROUTE)?;
        socket.bind_auto()?;
        socket.connect(&SocketAddr::new(0, 0))?;
        Ok(Netlink {
            socket,
            sequence: 0,
        })
    }

    /// Sends one request and waits for the kernel's acknowledgement.
    fn request(&mut self, message: RouteNetlinkMessage, flags: u16) -> io::Result<()> {
        self.sequence += 1;
        let mut header = NetlinkHeader::default();
        header.flags = NLM_F_REQUEST | NLM_F_ACK | flags;
        header.sequence_number = self.sequence;
        let mut packet = NetlinkMessage::new(header, NetlinkPayload::InnerMessage(message));
        packet.finalize();
        let mut buf = vec![0u8; packet.buffer_len()];
        packet.serialize(&mut buf);
        self.socket.send(&buf, 0)?;
        let mut reply = vec![0u8; 8192];
        loop {
            let n = self.socket.recv(&mut &mut reply[..], 0)?;
            let mut at = 0;
            while at < n {
                let message = NetlinkMessage::<RouteNetlinkMessage>::deserialize(&reply[at..n])
                    .map_err(|e| invalid(format!("netlink reply: {e}")))?;
                let len = message.header.length as usize;
                if message.header.sequence_number == self.sequence {
                    if let NetlinkPayload::Error(e) = message.payload {
                        return match e.code {
                            None => Ok(()),
                            Some(code) => Err(io::Error::from_raw_os_error(-code.get())),
                        };
                    }
                }
                if len == 0 {
                    break;
                }
                at += len;
            }
        }
    }

    fn set_link(&mut self, index: u32, edit: impl FnOnce(&mut LinkMessage)) -> io::Result<()> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        edit(&mut link);
        self.request(RouteNetlinkMessage::SetLink(link), 0)
    }

    pub fn set_up(&mut self, index: u32) -> io::Result<()> {
        self.set_link(index, |link| {
            link.header.flags = LinkFlags::Up;
            link.header.change_mask = LinkFlags::Up;
        })
    }

    /// Makes `index` a port of bridge `bridge`.
    pub fn set_master(&mut self, index: u32, bridge: u32) -> io::Result<()> {
        self.set_link(index, |link| {
            link.attributes.push(LinkAttribute::Controller(bridge))
        })
    }

    /// Moves `index` into the network namespace open on `netns`.
    pub fn move_to_namespace(&mut self, index: u32, netns: RawFd) -> io::Result<()> {
        self.set_link(index, |link| {
            link.attributes.push(LinkAttribute::NetNsFd(netns))
        })
    }

    pub fn rename(&mut self, index: u32, name: &str) -> io::Result<()> {
        self.set_link(index, |link| {
            link.attributes
                .push(LinkAttribute::IfName(name.to_string()))
        })
    }

    fn create(&mut self, name: &str, kind: InfoKind, data: Option<InfoData>) -> io::Result<()> {
        let mut link = LinkMessage::default();
        link.attributes
            .push(LinkAttribute::IfName(name.to_string()));
        let mut info = vec![LinkInfo::Kind(kind)];
        info.extend(data.map(LinkInfo::Data));
        link.attributes.push(LinkAttribute::LinkInfo(info));
        self.request(
            RouteNetlinkMessage::NewLink(link),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    pub fn create_bridge(&mut self, name: &str) -> io::Result<()> {
        self.create(name, InfoKind::Bridge, None)
    }

    /// A veth pair: `name` here, `peer` its other end, with address `mac`.
    pub fn create_veth(&mut self, name: &str, peer: &str, mac: [u8; 6]) -> io::Result<()> {
        let mut peer_link = LinkMessage::default();
        peer_link
            .attributes
            .push(LinkAttribute::IfName(peer.to_string()));
        peer_link
            .attributes
            .push(LinkAttribute::Address(mac.to_vec()));
        let data = InfoData::Veth(InfoVeth::Peer(peer_link));
        self.create(name, InfoKind::Veth, Some(data))
    }

    pub fn delete(&mut self, index: u32) -> io::Result<()> {
        let mut link = LinkMessage::default();
        link.header.index = index;
        self.request(RouteNetlinkMessage::DelLink(link), 0)
    }

    pub fn add_address(&mut self, index: u32, address: Ipv4Addr, prefix: u8) -> io::Result<()> {
        let mut message = AddressMessage::default();
        message.header.family = AddressFamily::Inet;
        message.header.prefix_len = prefix;
        message.header.index = index;
        for attribute in [AddressAttribute::Local, AddressAttribute::Address] {
            message.attributes.push(attribute(IpAddr::V4(address)));
        }
        self.request(
            RouteNetlinkMessage::NewAddress(message),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// A route to `destination/prefix` (0.0.0.0/0: the default) via `gateway`.
    pub fn add_route(
        &mut self,
        destination: Ipv4Addr,
        prefix: u8,
        gateway: Ipv4Addr,
    ) -> io::Result<()> {
        let mut route = RouteMessage::default();
        route.header.address_family = AddressFamily::Inet;
        route.header.destination_prefix_length = prefix;
        route.header.table = RouteHeader::RT_TABLE_MAIN;
        route.header.protocol = RouteProtocol::Boot;
        route.header.scope = RouteScope::Universe;
        route.header.kind = RouteType::Unicast;
        if prefix > 0 {
            route
                .attributes
                .push(RouteAttribute::Destination(RouteAddress::Inet(destination)));
        }
        route
            .attributes
            .push(RouteAttribute::Gateway(RouteAddress::Inet(gateway)));
        self.request(
            RouteNetlinkMessage::NewRoute(route),
            NLM_F_CREATE | NLM_F_EXCL,
        )
    }

    /// Adds (or, with `present` false, deletes) a rule refusing to route
    /// what arrives on interface `iif` for `destination/prefix` (the
    /// sender gets "network unreachable").
    pub fn unreachable_rule(
        &mut self,
        iif: &str,
        (destination, prefix): (Ipv4Addr, u8),
        priority: u32,
        present: bool,
    ) -> io::Result<()> {
        let mut rule = RuleMessage::default();
        rule.header.family = AddressFamily::Inet;
        rule.header.dst_len = prefix;
        rule.header.action = RuleAction::Unreachable;
        rule.attributes.extend([
            RuleAttribute::Iifname(iif.to_string()),
            RuleAttribute::Destination(IpAddr::V4(destination)),
            RuleAttribute::Priority(priority),
        ]);
        match present {
            true => self.request(
                RouteNetlinkMessage::NewRule(rule),
                NLM_F_CREATE | NLM_F_EXCL,
            ),
            false => self.request(RouteNetlinkMessage::DelRule(rule), 0),
        }
    }
}
