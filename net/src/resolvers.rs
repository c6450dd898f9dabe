//! The host's DNS resolvers: `$HUTCH_DNS` (comma-separated addresses, for
//! tests and unusual hosts), else the nameservers of /etc/resolv.conf.

use std::net::{IpAddr, SocketAddr};

/// Where the machine's DNS forwarder sends queries, best first.
pub fn host_resolvers() -> Vec<SocketAddr> {
    if let Ok(list) = std::env::var("HUTCH_DNS") {
        return parse_list(&list);
    }
    std::fs::read_to_string("/etc/resolv.conf")
        .map(|text| parse_resolv_conf(&text))
        .unwrap_or_default()
}

fn with_port(text: &str) -> Option<SocketAddr> {
    text.parse::<SocketAddr>().ok().or_else(|| {
        text.parse::<IpAddr>()
            .ok()
            .map(|ip| SocketAddr::new(ip, 53))
    })
}

fn parse_list(list: &str) -> Vec<SocketAddr> {
    list.split(',')
        .filter_map(|s| with_port(s.trim()))
        .collect()
}

fn parse_resolv_conf(text: &str) -> Vec<SocketAddr> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("nameserver"))
        .filter_map(|rest| with_port(rest.trim()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolvers_come_from_resolv_conf_or_a_list() {
        let conf = "# comment\nnameserver 127.0.0.53\noptions edns0\nnameserver 1.1.1.1\nnameserver fe80::1%eth0\n";
        assert_eq!(
            parse_resolv_conf(conf),
            [
                "127.0.0.53:53".parse().unwrap(),
                "1.1.1.1:53".parse().unwrap()
            ]
        );
        assert_eq!(
            parse_list("127.0.0.1:5353, 8.8.8.8"),
            [
                "127.0.0.1:5353".parse().unwrap(),
                "8.8.8.8:53".parse().unwrap()
            ]
        );
    }
}
