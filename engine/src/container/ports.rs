//! docker's `-p` syntax and `-P`: which host ports a container is
//! published on. `[IP:][HOSTPORT:]CPORT[/tcp|/udp]`, where a port may be a
//! range `A-B` (host and container ranges of the same length pair up; a
//! host range for one container port means the first free port in it)
//! and an empty or absent host port means any free one.

use super::error::ContainerError;
use protocol::{PortBinding, PortProtocol};
use std::net::{IpAddr, Ipv4Addr};
use std::ops::RangeInclusive;

fn invalid(spec: &str, why: &str) -> ContainerError {
    ContainerError::InvalidRequest(format!("invalid port specification {spec:?}: {why}"))
}

/// One `-p` value as the bindings it asks for.
pub fn parse_publish(spec: &str) -> Result<Vec<PortBinding>, ContainerError> {
    let (rest, protocol) = split_protocol(spec)?;
    let (ip, host, container) = split_parts(spec, rest)?;
    let host_ip = match ip {
        None | Some("") => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        Some(ip) => ip
            .parse()
            .map_err(|_| invalid(spec, &format!("{ip:?} is not an IP address")))?,
    };
    let container = port_range(spec, container)?;
    if container.start() == &0 {
        return Err(invalid(spec, "the container port cannot be 0"));
    }
    let host = match host {
        None | Some("") => None,
        Some(host) => Some(port_range(spec, host)?),
    };
    let binding = |host_port, container_port| PortBinding {
        host_ip,
        host_port,
        host_port_last: None,
        container_port,
        protocol,
    };
    match host {
        None => Ok(container.map(|c| binding(0, c)).collect()),
        Some(host) if container.len() == 1 && host.len() > 1 => Ok(vec![PortBinding {
            host_port_last: Some(*host.end()),
            ..binding(*host.start(), *container.start())
        }]),
        Some(host) if host.len() == container.len() => {
            Ok(host.zip(container).map(|(h, c)| binding(h, c)).collect())
        }
        Some(_) => Err(invalid(
            spec,
            "the host and container port ranges must be the same length",
        )),
    }
}

fn split_protocol(spec: &str) -> Result<(&str, PortProtocol), ContainerError> {
    let Some((rest, protocol)) = spec.rsplit_once('/') else {
        return Ok((spec, PortProtocol::Tcp));
    };
    let protocol = match protocol {
        "tcp" => PortProtocol::Tcp,
        "udp" => PortProtocol::Udp,
        other => {
            return Err(invalid(
                spec,
                &format!("unknown protocol {other:?} (tcp or udp)"),
            ))
        }
    };
    Ok((rest, protocol))
}

/// `(ip, host port, container port)`; an IPv6 address is in brackets.
fn split_parts<'a>(
    spec: &str,
    rest: &'a str,
) -> Result<(Option<&'a str>, Option<&'a str>, &'a str), ContainerError> {
    if let Some(bracketed) = rest.strip_prefix('[') {
        let (ip, after) = bracketed.split_once("]:").ok_or_else(|| {
            invalid(
                spec,
                "an IPv6 address in brackets needs :HOSTPORT:PORT after it",
            )
        })?;
        let (host, container) = after
            .split_once(':')
            .ok_or_else(|| invalid(spec, "expected [IP]:HOSTPORT:PORT"))?;
        return Ok((Some(ip), Some(host), container));
    }
    let parts: Vec<&str> = rest.split(':').collect();
    match parts.as_slice() {
        [container] => Ok((None, None, container)),
        [host, container] => Ok((None, Some(host), container)),
        [ip, host, container] => Ok((Some(ip), Some(host), container)),
        _ => Err(invalid(spec, "expected [IP:][HOSTPORT:]PORT[/PROTOCOL]")),
    }
}

fn port(spec: &str, text: &str) -> Result<u16, ContainerError> {
    text.parse()
        .map_err(|_| invalid(spec, &format!("{text:?} is not a port (0-65535)")))
}

fn port_range(spec: &str, text: &str) -> Result<RangeInclusive<u16>, ContainerError> {
    let (start, end) = match text.split_once('-') {
        Some((a, b)) => (port(spec, a)?, port(spec, b)?),
        None => {
            let p = port(spec, text)?;
            (p, p)
        }
    };
    if end < start {
        return Err(invalid(spec, &format!("the range {text} runs backwards")));
    }
    Ok(start..=end)
}

/// `-P`: every port the image EXPOSEs (`80/tcp`, `53/udp`, `8000-8001`)
/// on any free host port.
pub fn publish_exposed(exposed: &[String]) -> Vec<PortBinding> {
    exposed
        .iter()
        .filter_map(|entry| {
            let (rest, protocol) = split_protocol(entry).ok()?;
            let range = port_range(entry, rest).ok()?;
            Some(range.map(move |c| PortBinding::any(c, protocol)))
        })
        .flatten()
        .filter(|b| b.container_port != 0)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> PortBinding {
        let mut all = parse_publish(spec).unwrap();
        assert_eq!(all.len(), 1, "{spec}");
        all.remove(0)
    }

    #[test]
    fn docker_forms() {
        assert_eq!(one("80"), PortBinding::any(80, PortProtocol::Tcp));
        let b = one("8080:80");
        assert_eq!((b.host_port, b.container_port), (8080, 80));
        let b = one("127.0.0.1:8080:80/udp");
        assert_eq!(b.host_ip, IpAddr::V4(Ipv4Addr::LOCALHOST));
        assert_eq!((b.host_port, b.protocol), (8080, PortProtocol::Udp));
        let b = one("127.0.0.1::80");
        assert_eq!((b.host_port, b.container_port), (0, 80));
        let b = one("[::1]:9000:90");
        assert_eq!(b.host_ip, "::1".parse::<IpAddr>().unwrap());
        assert_eq!((b.host_port, b.container_port), (9000, 90));
    }

    #[test]
    fn ranges_pair_up() {
        let all = parse_publish("8000-8002:80-82").unwrap();
        let pairs: Vec<_> = all
            .iter()
            .map(|b| (b.host_port, b.container_port))
            .collect();
        assert_eq!(pairs, [(8000, 80), (8001, 81), (8002, 82)]);
        let b = one("127.0.0.1:8000-8010:80");
        assert_eq!(
            (b.host_port, b.host_port_last, b.container_port),
            (8000, Some(8010), 80)
        );
        assert_eq!(b.host_ports().count(), 11);
        let any = parse_publish("5000-5001/udp").unwrap();
        assert!(any
            .iter()
            .all(|b| b.host_port == 0 && b.protocol == PortProtocol::Udp));
        assert_eq!(any.len(), 2);
    }

    #[test]
    fn malformed_values_say_what_is_wrong() {
        for (spec, says) in [
            ("", "not a port"),
            ("abc", "not a port"),
            ("70000:80", "not a port"),
            ("8080:80/sctp", "unknown protocol"),
            ("1.2.3:80:80", "not an IP address"),
            ("8000-8001:80-82", "same length"),
            ("90-80", "backwards"),
            ("0", "cannot be 0"),
            ("1:2:3:4", "expected"),
            ("[::1]80", "IPv6"),
        ] {
            let e = parse_publish(spec).unwrap_err().to_string();
            assert!(
                e.contains(says) && e.contains("invalid port specification"),
                "{spec}: {e}"
            );
        }
    }

    #[test]
    fn exposed_ports_become_any_port_bindings() {
        let exposed = [
            "80/tcp".to_string(),
            "53/udp".into(),
            "7000-7001".into(),
            "x".into(),
        ];
        let all = publish_exposed(&exposed);
        let ports: Vec<_> = all.iter().map(|b| (b.container_port, b.protocol)).collect();
        assert_eq!(
            ports,
            [
                (80, PortProtocol::Tcp),
                (53, PortProtocol::Udp),
                (7000, PortProtocol::Tcp),
                (7001, PortProtocol::Tcp)
            ]
        );
        assert!(all.iter().all(|b| b.host_port == 0));
    }
}
