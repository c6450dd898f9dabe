//! A container's networks: the one it is created on, the ones `network
//! connect` adds (plugged at once when it runs), its interfaces on them
//! while it runs, and the /etc/hosts and /etc/resolv.conf they imply.

use super::record::{Joined, Record};
use super::{Container, Containers};
use crate::network::{self, Attachment, MemberSpec, Networks, Uplink};
use protocol::{AgentError, ContainerCreate, ErrorKind};
use std::net::IpAddr;

fn error(kind: ErrorKind, message: impl Into<String>) -> AgentError {
    AgentError::new(kind, message)
}

/// `NAME:ADDRESS` (`host-gateway`: the host's address), as `--add-host`.
pub(super) fn parse_extra_host(entry: &str) -> Result<(&str, Option<IpAddr>), AgentError> {
    let bad = || {
        error(
            ErrorKind::BadRequest,
            format!("invalid --add-host {entry:?}: give NAME:ADDRESS (or NAME:host-gateway)"),
        )
    };
    let (name, address) = entry.split_once(':').ok_or_else(bad)?;
    if name.is_empty() {
        return Err(bad());
    }
    match address {
        "host-gateway" => Ok((name, None)),
        _ => Ok((name, Some(address.parse().map_err(|_| bad())?))),
    }
}

/// Aliases are names on one network: only user-defined networks have them.
fn check_aliases(networks: &Networks, network: &str, aliases: &[String]) -> Result<(), AgentError> {
    if aliases.is_empty() || networks.is_user_defined(network) {
        return Ok(());
    }
    Err(error(
        ErrorKind::BadRequest,
        format!(
            "network-scoped aliases are supported only on user-defined networks, not on {network}"
        ),
    ))
}

impl Containers {
    /// The network a new container is created on (its canonical name) and
    /// the membership that gives it.
    pub(super) fn joined_at_creation(
        &self,
        request: &ContainerCreate,
    ) -> Result<(String, Vec<Joined>), AgentError> {
        let network = self.networks.canonical_name(&request.network)?;
        if matches!(network.as_str(), "host" | "none") {
            if !request.aliases.is_empty() {
                return Err(error(
                    ErrorKind::BadRequest,
                    format!("--network-alias needs a user-defined network, not {network}"),
                ));
            }
            return Ok((network, Vec::new()));
        }
        check_aliases(&self.networks, &network, &request.aliases)?;
        let joined = Joined {
            network: network.clone(),
            aliases: request.aliases.clone(),
            attachment: None,
        };
        Ok((network, vec![joined]))
    }
}

impl Container {
    /// An address on each of its networks, for a start (none without a
    /// network namespace of its own).
    pub(super) fn attach_networks(
        &self,
        record: &mut Record,
        own_namespace: bool,
    ) -> Result<Vec<Attachment>, AgentError> {
        if !own_namespace {
            return Ok(Vec::new());
        }
        let mut attachments = Vec::new();
        for i in 0..record.networks.len() {
            let attached = self.attach(record, i, format!("eth{i}"));
            match attached {
                Ok(attachment) => attachments.push(attachment),
                Err(e) => {
                    attachments.iter().for_each(|a| self.networks.release(a));
                    return Err(e);
                }
            }
        }
        for (joined, attachment) in record.networks.iter_mut().zip(&attachments) {
            joined.attachment = Some(attachment.clone());
        }
        Ok(attachments)
    }

    fn attach(
        &self,
        record: &Record,
        i: usize,
        interface: String,
    ) -> Result<Attachment, AgentError> {
        let joined = &record.networks[i];
        let member = MemberSpec {
            container: &record.info.id,
            name: &record.info.name,
            aliases: &joined.aliases,
            dns: &record.dns,
        };
        self.networks.attach(&joined.network, member, interface)
    }

    /// Gives its addresses back (its interfaces are gone or going).
    pub(super) fn release_networks(&self, record: &mut Record) {
        for joined in &mut record.networks {
            if let Some(attachment) = joined.attachment.take() {
                self.networks.release(&attachment);
            }
        }
    }

    /// `network connect`: joins one more network; a running container
    /// gets its interface at once.
    pub fn connect(&self, network: &str, aliases: Vec<String>) -> Result<(), AgentError> {
        let network = self.networks.canonical_name(network)?;
        let mut record = self.lock();
        let name = record.info.name.clone();
        if matches!(network.as_str(), "host" | "none") || record.network == "host" {
            return Err(error(
                ErrorKind::BadRequest,
                format!("container {name} cannot be connected to {network}: a container joins host or none only when created, and one on the host network joins no other"),
            ));
        }
        if record.networks.iter().any(|j| j.network == network) {
            return Err(error(
                ErrorKind::Conflict,
                format!("endpoint with name {name} already exists in network {network}"),
            ));
        }
        check_aliases(&self.networks, &network, &aliases)?;
        record.networks.push(Joined {
            network: network.clone(),
            aliases,
            attachment: None,
        });
        if let Ok(pid) = record.running_pid() {
            let i = record.networks.len() - 1;
            let interface = free_interface(&record);
            let plugged = self.attach(&record, i, interface).and_then(|attachment| {
                network::plug_running(&attachment, pid as i32).map_err(|e| {
                    self.networks.release(&attachment);
                    error(
                        ErrorKind::Internal,
                        format!("connecting {name} to {network}: {e}"),
                    )
                })?;
                Ok(attachment)
            });
            match plugged {
                Ok(attachment) => record.networks[i].attachment = Some(attachment),
                Err(e) => {
                    record.networks.pop();
                    return Err(e);
                }
            }
        }
        if record.network == "none" {
            record.network = network;
        }
        self.refresh_endpoint(&mut record);
        record.save(&self.dir)
    }

    /// `network disconnect`: leaves a network; a running container loses
    /// its interface there at once.
    pub fn disconnect(&self, network: &str) -> Result<(), AgentError> {
        let network = self.networks.canonical_name(network)?;
        let mut record = self.lock();
        let Some(i) = record.networks.iter().position(|j| j.network == network) else {
            return Err(error(
                ErrorKind::Conflict,
                format!(
                    "container {} is not connected to network {network}",
                    record.info.name
                ),
            ));
        };
        let joined = record.networks.remove(i);
        if let Some(attachment) = &joined.attachment {
            let _ = network::unplug(attachment);
            self.networks.release(attachment);
        }
        if record.networks.is_empty() {
            // Nothing to rejoin on its next start.
            record.network = "none".into();
        }
        self.refresh_endpoint(&mut record);
        record.save(&self.dir)
    }

    /// The address `ps`, `port` and published ports use: its first network's.
    pub(super) fn refresh_endpoint(&self, record: &mut Record) {
        let endpoint = record.attachments().next().map(Attachment::endpoint);
        record.info.endpoint = endpoint;
    }

    /// /etc/hosts lines after the standard ones: the host's names and `--add-host`.
    pub(super) fn extra_hosts(&self, record: &Record) -> String {
        let uplink = Uplink::of_machine();
        let mut lines = uplink.map_or_else(String::new, |u| u.host_entries());
        for entry in &record.extra_hosts {
            let Ok((name, address)) = parse_extra_host(entry) else {
                continue;
            };
            let address = address.or_else(|| uplink.map(|u| IpAddr::V4(u.gateway)));
            if let Some(address) = address {
                lines.push_str(&format!("{address}\t{name}\n"));
            }
        }
        lines
    }

    /// /etc/resolv.conf: the network's DNS server on a user-defined network
    /// (docker's `options ndots:0` with it), else `--dns`, else the machine's.
    pub(super) fn resolv_conf(&self, record: &Record) -> String {
        let first = record.networks.first().map(|j| j.network.as_str());
        if let Some(gateway) = first
            .filter(|n| self.networks.is_user_defined(n))
            .and_then(|n| self.networks.gateway(n))
        {
            return format!("nameserver {gateway}\noptions ndots:0\n");
        }
        if !record.dns.is_empty() {
            return record
                .dns
                .iter()
                .map(|d| format!("nameserver {d}\n"))
                .collect();
        }
        std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default()
    }
}

/// The lowest ethN its running interfaces leave free.
fn free_interface(record: &Record) -> String {
    let taken: Vec<&str> = record.attachments().map(|a| a.interface.as_str()).collect();
    (0..)
        .map(|n| format!("eth{n}"))
        .find(|name| !taken.contains(&name.as_str()))
        .expect("an unbounded range")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_hosts_parse_as_docker_gives_them() {
        assert_eq!(
            parse_extra_host("db:10.1.2.3").unwrap(),
            ("db", Some("10.1.2.3".parse().unwrap()))
        );
        assert_eq!(parse_extra_host("gw:host-gateway").unwrap(), ("gw", None));
        assert_eq!(
            parse_extra_host("v6:::1").unwrap(),
            ("v6", Some("::1".parse().unwrap()))
        );
        for bad in ["db", ":1.2.3.4", "db:nope"] {
            let e = parse_extra_host(bad).unwrap_err();
            assert!(e.message.contains("NAME:ADDRESS"), "{bad}");
        }
    }
}
