//! A container's interface on one network: a veth pair whose host side is
//! a port of the network's bridge and whose peer lives in the container's
//! network namespace as eth0, eth1, ...

use crate::sys::netlink::{self, Netlink};
use protocol::Endpoint;
use serde::{Deserialize, Serialize};
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsFd, AsRawFd};

/// A container's place on a network, decided before it is plugged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub network: String,
    /// The network's bridge in the machine.
    #[serde(default = "default_bridge")]
    pub bridge: String,
    pub host_side: String,
    pub peer: String,
    /// The peer's name in the container.
    #[serde(default = "default_interface")]
    pub interface: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
}

fn default_bridge() -> String {
    super::registry::DEFAULT_BRIDGE_DEVICE.into()
}

fn default_interface() -> String {
    "eth0".into()
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

/// Creates the veth pair and moves the peer into the network namespace
/// open on `netns`.
fn plug_into(attachment: &Attachment, netns: &impl AsFd) -> io::Result<()> {
    let mut nl = Netlink::open()?;
    nl.create_veth(&attachment.host_side, &attachment.peer, attachment.mac())?;
    let plugged = (|| {
        let host_side = netlink::index(&attachment.host_side)?;
        nl.set_master(host_side, netlink::index(&attachment.bridge)?)?;
        nl.set_up(host_side)?;
        let peer = netlink::index(&attachment.peer)?;
        nl.move_to_namespace(peer, netns.as_fd().as_raw_fd())
    })();
    if plugged.is_err() {
        let _ = unplug(attachment);
    }
    plugged
}

fn network_namespace(pid: i32) -> io::Result<std::fs::File> {
    std::fs::File::open(format!("/proc/{pid}/ns/net"))
}

/// Plugs the attachment into the network namespace of process `pid` (the
/// container's first process, waiting to configure it).
pub fn plug(attachment: &Attachment, pid: i32) -> io::Result<()> {
    plug_into(attachment, &network_namespace(pid)?)
}

/// Removes the pair (deleting one end deletes both).
pub fn unplug(attachment: &Attachment) -> io::Result<()> {
    Netlink::open()?.delete(netlink::index(&attachment.host_side)?)
}

/// Inside the container's network namespace: the peer gets its name,
/// address, and (on its first network) the default route.
pub fn configure_inside(attachment: &Attachment, default_route: bool) -> io::Result<()> {
    let mut nl = Netlink::open()?;
    let index = netlink::index(&attachment.peer)?;
    nl.rename(index, &attachment.interface)?;
    nl.add_address(index, attachment.address, attachment.prefix)?;
    nl.set_up(index)?;
    if default_route {
        nl.add_route(Ipv4Addr::UNSPECIFIED, 0, attachment.gateway)?;
    }
    Ok(())
}

/// Gives a running container (first process `pid`) one more interface:
/// plugged from here, configured by a thread that enters its namespace.
pub fn plug_running(attachment: &Attachment, pid: i32) -> io::Result<()> {
    let netns = network_namespace(pid)?;
    plug_into(attachment, &netns)?;
    let inside = attachment.clone();
    let configured = std::thread::spawn(move || {
        // SAFETY: setns(2) on an open namespace fd, for this thread only
        // (it exits right after; the agent's other threads stay put).
        if unsafe { libc::setns(netns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        configure_inside(&inside, false)
    })
    .join()
    .unwrap_or_else(|_| Err(io::Error::other("the network thread panicked")));
    if configured.is_err() {
        let _ = unplug(attachment);
    }
    configured
}
