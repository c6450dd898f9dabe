//! The machine's uplink (eth0, the virtio-net card the host's user-mode
//! network serves), configured from the kernel command line
//! (`hutch.net=guest/prefix,gateway,dns`), and the names every machine and
//! container gets for the host.

use crate::sys::netlink::{self, Netlink};
use std::io;
use std::net::Ipv4Addr;

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
