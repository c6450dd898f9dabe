//! The machine's network: its uplink (eth0, the virtio-net card the host's
//! user-mode network serves), configured from the kernel command line
//! (`hutch.net=guest/prefix,gateway,dns`), the names every machine and
//! container gets for the host, and the bridge network containers join
//! (a veth pair each, an address from the bridge's subnet).

use crate::sys::netlink::{self, Netlink};
use protocol::{AgentError, Endpoint, ErrorKind};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io;
use std::net::Ipv4Addr;
use std::sync::Mutex;

/// Names that reach the host's loopback (Docker Desktop's, and ours).
pub const HOST_NAMES: [&str; 2] = ["host.hutch.internal", "host.docker.internal"];

/// The uplink's addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Uplink {
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub dns: Ipv4Addr,
}

impl Uplink {
    /// `10.0.2.15/24,10.0.2.2,10.0.2.3`
    pub fn parse(text: &str) -> Option<Uplink> {
        let mut parts = text.split(',');
        let (address, prefix) = parts.next()?.split_once('/')?;
        let uplink = Uplink {
            address: address.parse().ok()?,
            prefix: prefix.parse().ok().filter(|p| *p <= 32)?,
            gateway: parts.next()?.parse().ok()?,
            dns: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(uplink)
    }

    /// The machine's uplink, when the host gave it one.
    pub fn of_machine() -> Option<Uplink> {
        Uplink::parse(&crate::init::kernel_param("hutch.net")?)
    }

    /// /etc/hosts entries for the host's names.
    pub fn host_entries(&self) -> String {
        format!("{}\t{}\n", self.gateway, HOST_NAMES.join(" "))
    }
}

/// Brings eth0 up with the uplink's address and default route, and points
/// the machine's resolver at the host's DNS forwarder.
pub fn configure_uplink(uplink: &Uplink) -> io::Result<()> {
    let mut nl = Netlink::open()?;
    let eth0 = netlink::index("eth0")?;
    nl.add_address(eth0, uplink.address, uplink.prefix)?;
    nl.set_up(eth0)?;
    nl.add_route(Ipv4Addr::UNSPECIFIED, 0, uplink.gateway)?;
    std::fs::create_dir_all("/etc")?;
    std::fs::write("/etc/resolv.conf", format!("nameserver {}\n", uplink.dns))?;
    std::fs::write(
        "/etc/hosts",
        format!("127.0.0.1\tlocalhost\n{}", uplink.host_entries()),
    )
}

/// docker's default bridge network, inside the machine.
pub const BRIDGE_NETWORK: &str = "bridge";
const BRIDGE_DEVICE: &str = "hutch0";
const BRIDGE_GATEWAY: Ipv4Addr = Ipv4Addr::new(172, 17, 0, 1);
const BRIDGE_PREFIX: u8 = 16;

/// A container's place on a network, decided before it starts: the veth
/// pair that links it (`host_side` on the bridge, `peer` moved into the
/// container and renamed eth0), its address and its gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub network: String,
    pub host_side: String,
    pub peer: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
}

impl Attachment {
    /// docker's MAC for an address: 02:42 and the address's four bytes.
    pub fn mac(&self) -> [u8; 6] {
        let [a, b, c, d] = self.address.octets();
        [0x02, 0x42, a, b, c, d]
    }

    /// As the host sees it.
    pub fn endpoint(&self) -> Endpoint {
        Endpoint {
            network: self.network.clone(),
            address: self.address,
            prefix: self.prefix,
            gateway: self.gateway,
            mac: self.mac().map(|b| format!("{b:02x}")).join(":"),
        }
    }
}

#[derive(Default)]
struct BridgeState {
    created: bool,
    used: BTreeSet<Ipv4Addr>,
}

/// The networks containers join, and the addresses given out on them.
#[derive(Default)]
pub struct Networks {
    bridge: Mutex<BridgeState>,
}

fn failed(what: &str, e: io::Error) -> AgentError {
    AgentError::new(ErrorKind::Internal, format!("{what}: {e}"))
}

impl Networks {
    /// An address on `network` for container `id`, and its veth names.
    pub fn attach(&self, network: &str, id: &str) -> Result<Attachment, AgentError> {
        if network != BRIDGE_NETWORK {
            return Err(AgentError::new(
                ErrorKind::BadRequest,
                format!("no such network: {network}"),
            ));
        }
        let mut bridge = self.bridge.lock().unwrap_or_else(|p| p.into_inner());
        if !bridge.created {
            create_bridge().map_err(|e| failed("creating the bridge network", e))?;
            bridge.created = true;
        }
        let first = u32::from(BRIDGE_GATEWAY) + 1;
        let last = u32::from(BRIDGE_GATEWAY) | ((1 << (32 - BRIDGE_PREFIX)) - 2);
        let address = (first..=last)
            .map(Ipv4Addr::from)
            .find(|a| !bridge.used.contains(a))
            .ok_or_else(|| {
                AgentError::new(
                    ErrorKind::Conflict,
                    "the bridge network has no free address",
                )
            })?;
        bridge.used.insert(address);
        let short = &id[..id.len().min(8)];
        Ok(Attachment {
            network: network.to_string(),
            host_side: format!("veth{short}"),
            peer: format!("ctr{short}"),
            address,
            prefix: BRIDGE_PREFIX,
            gateway: BRIDGE_GATEWAY,
        })
    }

    /// Gives the attachment's address back.
    pub fn release(&self, attachment: &Attachment) {
        let mut bridge = self.bridge.lock().unwrap_or_else(|p| p.into_inner());
        bridge.used.remove(&attachment.address);
    }
}

/// The default bridge: hutch0 with the gateway address, and forwarding on,
/// so containers reach the uplink (the host's network routes their
/// addresses back through the machine: no NAT).
fn create_bridge() -> io::Result<()> {
    let mut nl = Netlink::open()?;
    nl.create_bridge(BRIDGE_DEVICE)?;
    let bridge = netlink::index(BRIDGE_DEVICE)?;
    nl.add_address(bridge, BRIDGE_GATEWAY, BRIDGE_PREFIX)?;
    nl.set_up(bridge)?;
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
}

/// Creates the veth pair and moves the peer into the network namespace of
/// process `pid` (the container's first process, waiting to configure it).
pub fn plug(attachment: &Attachment, pid: i32) -> io::Result<()> {
    let mut nl = Netlink::open()?;
    nl.create_veth(&attachment.host_side, &attachment.peer, attachment.mac())?;
    let plugged = (|| {
        let host_side = netlink::index(&attachment.host_side)?;
        nl.set_master(host_side, netlink::index(BRIDGE_DEVICE)?)?;
        nl.set_up(host_side)?;
        let netns = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
        let peer = netlink::index(&attachment.peer)?;
        nl.move_to_namespace(peer, std::os::fd::AsRawFd::as_raw_fd(&netns))
    })();
    if plugged.is_err() {
        // Deleting one end deletes the pair.
        if let Ok(index) = netlink::index(&attachment.host_side) {
            let _ = nl.delete(index);
        }
    }
    plugged
}

/// Inside the container's network namespace: the peer becomes eth0 with
/// its address and the default route.
pub fn configure_inside(attachment: &Attachment) -> io::Result<()> {
    let mut nl = Netlink::open()?;
    let eth0 = netlink::index(&attachment.peer)?;
    nl.rename(eth0, "eth0")?;
    nl.add_address(eth0, attachment.address, attachment.prefix)?;
    nl.set_up(eth0)?;
    nl.add_route(Ipv4Addr::UNSPECIFIED, 0, attachment.gateway)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_uplink_parses_from_the_command_line() {
        let uplink = Uplink::parse("10.0.2.15/24,10.0.2.2,10.0.2.3").unwrap();
        assert_eq!(uplink.address, Ipv4Addr::new(10, 0, 2, 15));
        assert_eq!(
            (uplink.prefix, uplink.dns),
            (24, Ipv4Addr::new(10, 0, 2, 3))
        );
        assert_eq!(
            uplink.host_entries(),
            "10.0.2.2\thost.hutch.internal host.docker.internal\n"
        );
        for bad in [
            "",
            "10.0.2.15,10.0.2.2,10.0.2.3",
            "10.0.2.15/33,a,b",
            "1.2.3.4/8,1.1.1.1,2.2.2.2,x",
        ] {
            assert!(Uplink::parse(bad).is_none(), "{bad}");
        }
    }
}
