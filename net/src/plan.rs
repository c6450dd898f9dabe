//! The addresses of a machine's network, as slirp and Docker Desktop lay
//! them out: the machine at .15 of a /24, the host (its loopback) at .2,
//! a DNS forwarder at .3; containers on subnets of 172.16.0.0/12 inside
//! the machine, routed through it.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The machine's own address on its uplink, and the prefix length.
    pub guest: Ipv4Addr,
    pub prefix: u8,
    /// The gateway: connections to it reach the host's loopback.
    pub gateway: Ipv4Addr,
    /// The DNS forwarder: port 53 reaches the host's resolver.
    pub dns: Ipv4Addr,
    /// Addresses inside the machine (container networks), routed via `guest`.
    pub inside: (Ipv4Addr, u8),
    pub gateway_mac: [u8; 6],
    pub guest_mac: [u8; 6],
}

impl Default for Plan {
    fn default() -> Plan {
        Plan {
            guest: Ipv4Addr::new(10, 0, 2, 15),
            prefix: 24,
            gateway: Ipv4Addr::new(10, 0, 2, 2),
            dns: Ipv4Addr::new(10, 0, 2, 3),
            inside: (Ipv4Addr::new(172, 16, 0, 0), 12),
            gateway_mac: [0x52, 0x55, 0x0a, 0x00, 0x02, 0x02],
            guest_mac: [0x52, 0x54, 0x00, 0x12, 0x34, 0x56],
        }
    }
}

impl Plan {
    /// Where on the host a guest's connection to `dst` goes: the gateway is
    /// the host's loopback, the DNS forwarder's port 53 the host's
    /// resolver, everything else itself. `None`: nothing answers there.
    pub fn host_target(
        &self,
        dst: SocketAddrV4,
        resolver: Option<SocketAddr>,
    ) -> Option<SocketAddr> {
        if *dst.ip() == self.gateway {
            return Some(SocketAddr::from((Ipv4Addr::LOCALHOST, dst.port())));
        }
        if *dst.ip() == self.dns {
            return if dst.port() == 53 { resolver } else { None };
        }
        Some(SocketAddr::V4(dst))
    }

    /// The kernel command-line form the agent reads: `guest/prefix,gateway,dns`.
    pub fn to_cmdline(&self) -> String {
        format!(
            "{}/{},{},{}",
            self.guest, self.prefix, self.gateway, self.dns
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gateway_is_the_hosts_loopback_and_dns_its_resolver() {
        let plan = Plan::default();
        let resolver: SocketAddr = "127.0.0.53:53".parse().unwrap();
        let to = |ip: [u8; 4], port| {
            plan.host_target(SocketAddrV4::new(ip.into(), port), Some(resolver))
        };
        assert_eq!(
            to([10, 0, 2, 2], 8080),
            Some("127.0.0.1:8080".parse().unwrap())
        );
        assert_eq!(to([10, 0, 2, 3], 53), Some(resolver));
        assert_eq!(to([10, 0, 2, 3], 80), None);
        assert_eq!(
            to([93, 184, 216, 34], 443),
            Some("93.184.216.34:443".parse().unwrap())
        );
        assert_eq!(plan.to_cmdline(), "10.0.2.15/24,10.0.2.2,10.0.2.3");
    }
}
