//! The networks containers join: docker's default `bridge` (hutch0,
//! 172.17.0.0/16) and the ones users create (a bridge and a /16 each,
//! kept on the layer disk), with the addresses given out on them and the
//! containers that hold those addresses.
//!
//! Networks are kept apart by routing rules rather than a firewall: what
//! arrives on a network's bridge for any container network (all inside
//! 172.16.0.0/12) is unreachable. A network's own traffic never needs
//! routing (its bridge switches it), and the rule goes by the interface a
//! packet came in on, so a container forging its source address gains
//! nothing.

use super::attachment::Attachment;
use crate::container::names::{random_hex, valid_name};
use crate::sys::netlink::{self, Netlink};
use protocol::{AgentError, ErrorKind, NetworkCreate, NetworkDriver, NetworkInfo, NetworkMember};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard};

/// docker's default bridge network, inside the machine.
pub const BRIDGE_NETWORK: &str = "bridge";
pub const DEFAULT_BRIDGE_DEVICE: &str = "hutch0";
const STORE: &str = "/var/lib/hutch/networks.json";
/// Where every container network lives; see the module's comment.
const CONTAINER_NETWORKS: (Ipv4Addr, u8) = (Ipv4Addr::new(172, 16, 0, 0), 12);
/// Before the main table's routes, after the local table (so a network's
/// gateway address, which is the machine's, stays reachable).
const ISOLATION_PRIORITY: u32 = 100;

/// A bridge network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Definition {
    pub id: String,
    pub name: String,
    pub subnet: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    pub created_ms: u64,
    #[serde(default)]
    pub labels: Vec<(String, String)>,
}

impl Definition {
    fn default_bridge() -> Definition {
        Definition {
            id: builtin_id(BRIDGE_NETWORK),
            name: BRIDGE_NETWORK.into(),
            subnet: Ipv4Addr::new(172, 17, 0, 0),
            prefix: 16,
            gateway: Ipv4Addr::new(172, 17, 0, 1),
            created_ms: 0,
            labels: Vec::new(),
        }
    }

    fn user_defined(&self) -> bool {
        self.name != BRIDGE_NETWORK
    }

    fn device(&self) -> String {
        if self.user_defined() {
            format!("br-{}", &self.id[..12])
        } else {
            DEFAULT_BRIDGE_DEVICE.into()
        }
    }

    fn mask(&self) -> u32 {
        mask(self.prefix)
    }

    pub fn contains(&self, address: Ipv4Addr) -> bool {
        u32::from(address) & self.mask() == u32::from(self.subnet)
    }

    fn overlaps(&self, subnet: Ipv4Addr, prefix: u8) -> bool {
        let common = mask(self.prefix.min(prefix));
        u32::from(self.subnet) & common == u32::from(subnet) & common
    }

    pub fn cidr(&self) -> String {
        format!("{}/{}", self.subnet, self.prefix)
    }
}

fn mask(prefix: u8) -> u32 {
    u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0)
}

/// A fixed id for a built-in network, so it is the same on every machine.
fn builtin_id(name: &str) -> String {
    use sha2::{Digest as _, Sha256};
    hex::encode(Sha256::digest(format!("hutch network {name}")))
}

/// A container holding an address on a network.
#[derive(Debug, Clone)]
pub struct Member {
    pub container: String,
    pub name: String,
    pub aliases: Vec<String>,
    /// Its own name servers (`--dns`), for the queries the network's DNS
    /// server does not answer itself.
    pub dns: Vec<Ipv4Addr>,
    pub attachment: Attachment,
}

impl Member {
    /// Whether `name` (lower case, no trailing dot) names it.
    fn answers_to(&self, name: &str) -> bool {
        self.name.eq_ignore_ascii_case(name)
            || self.container.get(..12) == Some(name)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(name))
    }
}

struct Network {
    definition: Definition,
    /// Its bridge exists (made on first use after each boot).
    bridge_up: bool,
    members: Vec<Member>,
}

/// The bridge networks, the built-in one first.
pub struct Networks {
    networks: Mutex<Vec<Network>>,
    store: PathBuf,
    /// Itself, for the DNS server a user network's bridge brings up
    /// (unset in unit tests: no DNS server).
    me: std::sync::Weak<Networks>,
    /// Gateway addresses with a DNS server bound (kept across a network's
    /// removal: a later network on the same subnet reuses it).
    dns_on: Mutex<BTreeSet<Ipv4Addr>>,
    /// The host's DNS forwarder on the uplink, for names no network knows.
    upstream: Option<Ipv4Addr>,
}

fn error(kind: ErrorKind, message: impl Into<String>) -> AgentError {
    AgentError::new(kind, message)
}

fn failed(what: &str, e: io::Error) -> AgentError {
    error(ErrorKind::Internal, format!("{what}: {e}"))
}

fn no_such_network(key: &str) -> AgentError {
    error(ErrorKind::NoSuchNetwork, format!("network {key} not found"))
}

/// What a name means to the DNS server of the network a query came from.
pub enum Lookup {
    /// The query did not come from a user-defined network.
    NotOurs,
    /// Containers on that network answer to it.
    Found(Vec<Ipv4Addr>),
    /// Someone else's name: ask these servers.
    Forward(Vec<Ipv4Addr>),
}

impl Networks {
    /// The machine's networks, shared; user networks get DNS servers.
    pub fn shared() -> std::sync::Arc<Networks> {
        std::sync::Arc::new_cyclic(|me| Networks {
            me: me.clone(),
            ..Networks::open(PathBuf::from(STORE))
        })
    }
}

impl Networks {
    /// The networks kept in `store`, after the default bridge.
    pub fn open(store: PathBuf) -> Networks {
        let kept: Vec<Definition> = std::fs::read(&store)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        let networks = std::iter::once(Definition::default_bridge())
            .chain(kept)
            .map(|definition| Network {
                definition,
                bridge_up: false,
                members: Vec::new(),
            })
            .collect();
        Networks {
            networks: Mutex::new(networks),
            store,
            me: std::sync::Weak::new(),
            dns_on: Mutex::default(),
            upstream: super::Uplink::of_machine().map(|u| u.dns),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Vec<Network>> {
        self.networks.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn save(&self, networks: &[Network]) -> Result<(), AgentError> {
        let kept: Vec<&Definition> = networks
            .iter()
            .map(|n| &n.definition)
            .filter(|d| d.user_defined())
            .collect();
        let bytes = serde_json::to_vec_pretty(&kept)
            .map_err(|e| error(ErrorKind::Internal, e.to_string()))?;
        let tmp = self.store.with_extension("json.tmp");
        self.store
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(&tmp, bytes))
            .and_then(|()| std::fs::rename(&tmp, &self.store))
            .map_err(|e| error(ErrorKind::Storage, format!("saving the networks: {e}")))
    }

    pub fn create(&self, request: NetworkCreate) -> Result<NetworkInfo, AgentError> {
        let name = request.name;
        // Container names' rule, but one character is enough (docker's).
        let one_alphanumeric = name.len() == 1 && name.as_bytes()[0].is_ascii_alphanumeric();
        if !valid_name(&name) && !one_alphanumeric {
            return Err(error(
                ErrorKind::BadRequest,
                format!(
                    "invalid network name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                ),
            ));
        }
        let mut networks = self.lock();
        if matches!(name.as_str(), "host" | "none")
            || networks.iter().any(|n| n.definition.name == name)
        {
            return Err(error(
                ErrorKind::Conflict,
                format!("network with name {name} already exists"),
            ));
        }
        let (subnet, prefix) = match &request.subnet {
            Some(cidr) => parse_subnet(cidr)?,
            None => free_subnet(&networks)?,
        };
        if let Some(other) = networks
            .iter()
            .find(|n| n.definition.overlaps(subnet, prefix))
        {
            return Err(error(
                ErrorKind::Conflict,
                format!(
                    "subnet {subnet}/{prefix} overlaps network {} ({})",
                    other.definition.name,
                    other.definition.cidr()
                ),
            ));
        }
        let definition = Definition {
            id: random_hex(32),
            name,
            subnet,
            prefix,
            gateway: Ipv4Addr::from(u32::from(subnet) + 1),
            created_ms: crate::container::now_ms(),
            labels: request.labels,
        };
        networks.push(Network {
            definition,
            bridge_up: false,
            members: Vec::new(),
        });
        if let Err(e) = self.save(&networks) {
            networks.pop();
            return Err(e);
        }
        Ok(info(networks.last().expect("just pushed")))
    }

    /// docker's order: the built-in networks, then the others by name.
    pub fn list(&self) -> Vec<NetworkInfo> {
        let networks = self.lock();
        let mut user: Vec<NetworkInfo> = networks[1..].iter().map(info).collect();
        user.sort_by(|a, b| a.name.cmp(&b.name));
        let mut all = vec![
            info(&networks[0]),
            builtin(NetworkDriver::Host),
            builtin(NetworkDriver::Null),
        ];
        all.extend(user);
        all
    }

    /// By name, id or unique id prefix: a bridge network's position, or
    /// `host` / `none`.
    fn find(networks: &[Network], key: &str) -> Result<Found, AgentError> {
        if let Some(i) = networks.iter().position(|n| n.definition.name == key) {
            return Ok(Found::Bridge(i));
        }
        for driver in [NetworkDriver::Host, NetworkDriver::Null] {
            let info = builtin(driver);
            if info.name == key || (key.len() >= 3 && info.id.starts_with(key)) {
                return Ok(Found::Builtin(info));
            }
        }
        let matches: Vec<usize> = (0..networks.len())
            .filter(|&i| !key.is_empty() && networks[i].definition.id.starts_with(key))
            .collect();
        match matches[..] {
            [i] => Ok(Found::Bridge(i)),
            [] => Err(no_such_network(key)),
            _ => Err(error(
                ErrorKind::BadRequest,
                format!("network id prefix {key} is ambiguous"),
            )),
        }
    }

    pub fn inspect(&self, key: &str) -> Result<NetworkInfo, AgentError> {
        let networks = self.lock();
        Ok(match Self::find(&networks, key)? {
            Found::Bridge(i) => info(&networks[i]),
            Found::Builtin(info) => info,
        })
    }

    /// The name a container's record keeps for the network `key` names.
    pub fn canonical_name(&self, key: &str) -> Result<String, AgentError> {
        self.inspect(key).map(|n| n.name)
    }

    /// Whether `name` is a network users made (whose containers find each
    /// other by name).
    pub fn is_user_defined(&self, name: &str) -> bool {
        self.lock()
            .iter()
            .any(|n| n.definition.name == name && n.definition.user_defined())
    }

    /// The gateway of bridge network `name`.
    pub fn gateway(&self, name: &str) -> Option<Ipv4Addr> {
        self.lock()
            .iter()
            .find(|n| n.definition.name == name)
            .map(|n| n.definition.gateway)
    }

    /// Removes a user-defined network no running container uses; answers
    /// with its name.
    pub fn remove(&self, key: &str) -> Result<String, AgentError> {
        let mut networks = self.lock();
        let i = match Self::find(&networks, key)? {
            Found::Bridge(i) if networks[i].definition.user_defined() => i,
            _ => {
                return Err(error(
                    ErrorKind::Conflict,
                    format!("{key} is a pre-defined network and cannot be removed"),
                ))
            }
        };
        let network = &networks[i];
        if let Some(member) = network.members.first() {
            return Err(error(
                ErrorKind::Conflict,
                format!(
                    "network {} is in use by container {}; stop it or disconnect it first",
                    network.definition.name, member.name
                ),
            ));
        }
        if network.bridge_up {
            take_down(&network.definition)
                .map_err(|e| failed("removing the network's bridge", e))?;
        }
        let removed = networks.remove(i);
        if let Err(e) = self.save(&networks) {
            networks.insert(i, removed);
            return Err(e);
        }
        Ok(removed.definition.name)
    }

    /// An address on network `name` for a container, and its veth names
    /// (`interface` is its name inside the container).
    pub fn attach(
        &self,
        name: &str,
        member: MemberSpec<'_>,
        interface: String,
    ) -> Result<Attachment, AgentError> {
        let mut networks = self.lock();
        let network = networks
            .iter_mut()
            .find(|n| n.definition.name == name)
            .ok_or_else(|| no_such_network(name))?;
        if !network.bridge_up {
            bring_up(&network.definition)
                .map_err(|e| failed(&format!("creating the network {name}"), e))?;
            network.bridge_up = true;
            if network.definition.user_defined() {
                self.serve_dns(network.definition.gateway)
                    .map_err(|e| failed(&format!("the DNS server of network {name}"), e))?;
            }
        }
        let definition = &network.definition;
        let used: BTreeSet<Ipv4Addr> = network
            .members
            .iter()
            .map(|m| m.attachment.address)
            .collect();
        let first = u32::from(definition.gateway) + 1;
        let last = u32::from(definition.subnet) | !definition.mask();
        let address = (first..last)
            .map(Ipv4Addr::from)
            .find(|a| !used.contains(a))
            .ok_or_else(|| {
                error(
                    ErrorKind::Conflict,
                    format!("the network {name} has no free address"),
                )
            })?;
        // Unique per container and network, within IFNAMSIZ.
        let pair = format!("{}{}", &member.container[..6], &definition.id[..4]);
        let attachment = Attachment {
            network: name.to_string(),
            bridge: definition.device(),
            host_side: format!("veth{pair}"),
            peer: format!("ctr{pair}"),
            interface,
            address,
            prefix: definition.prefix,
            gateway: definition.gateway,
        };
        network.members.push(Member {
            container: member.container.to_string(),
            name: member.name.to_string(),
            aliases: member.aliases.to_vec(),
            dns: member.dns.to_vec(),
            attachment: attachment.clone(),
        });
        Ok(attachment)
    }

    /// Gives the attachment's address back.
    pub fn release(&self, attachment: &Attachment) {
        let mut networks = self.lock();
        if let Some(network) = networks
            .iter_mut()
            .find(|n| n.definition.name == attachment.network)
        {
            network
                .members
                .retain(|m| m.attachment.address != attachment.address);
        }
    }

    /// A DNS server on port 53 of `gateway` (docker's embedded DNS is on
    /// 127.0.0.11 in each container; ours is on the gateway, as podman's:
    /// the machine's own port 53 stays free for `--network host`).
    fn serve_dns(&self, gateway: Ipv4Addr) -> io::Result<()> {
        let mut serving = self.dns_on.lock().unwrap_or_else(|p| p.into_inner());
        let Some(me) = self.me.upgrade() else {
            return Ok(());
        };
        if serving.insert(gateway) {
            if let Err(e) = super::dns::serve(me, gateway) {
                serving.remove(&gateway);
                return Err(e);
            }
        }
        Ok(())
    }

    /// For the DNS server: what `name`, asked by `source`, means.
    pub fn lookup(&self, source: Ipv4Addr, name: &str) -> Lookup {
        let networks = self.lock();
        let Some(network) = networks
            .iter()
            .find(|n| n.definition.user_defined() && n.definition.contains(source))
        else {
            return Lookup::NotOurs;
        };
        let found: Vec<Ipv4Addr> = network
            .members
            .iter()
            .filter(|m| m.answers_to(name))
            .map(|m| m.attachment.address)
            .collect();
        if !found.is_empty() {
            return Lookup::Found(found);
        }
        let asker = network
            .members
            .iter()
            .find(|m| m.attachment.address == source);
        match asker.map(|m| m.dns.clone()).filter(|d| !d.is_empty()) {
            Some(servers) => Lookup::Forward(servers),
            None => Lookup::Forward(self.upstream.into_iter().collect()),
        }
    }
}

/// What a network name or id names.
enum Found {
    /// A bridge network, by its position.
    Bridge(usize),
    /// `host` or `none`.
    Builtin(NetworkInfo),
}

/// Who is joining a network.
pub struct MemberSpec<'a> {
    pub container: &'a str,
    pub name: &'a str,
    pub aliases: &'a [String],
    pub dns: &'a [Ipv4Addr],
}

fn info(network: &Network) -> NetworkInfo {
    let d = &network.definition;
    NetworkInfo {
        id: d.id.clone(),
        name: d.name.clone(),
        driver: NetworkDriver::Bridge,
        user_defined: d.user_defined(),
        subnet: Some(d.cidr()),
        gateway: Some(d.gateway),
        created_ms: d.created_ms,
        labels: d.labels.clone(),
        members: network
            .members
            .iter()
            .map(|m| NetworkMember {
                container: m.container.clone(),
                name: m.name.clone(),
                address: m.attachment.address,
                prefix: m.attachment.prefix,
                mac: m.attachment.endpoint().mac,
            })
            .collect(),
    }
}

/// `host` or `none`.
fn builtin(driver: NetworkDriver) -> NetworkInfo {
    let name = match driver {
        NetworkDriver::Null => "none",
        other => other.name(),
    };
    NetworkInfo {
        id: builtin_id(name),
        name: name.into(),
        driver,
        user_defined: false,
        subnet: None,
        gateway: None,
        created_ms: 0,
        labels: Vec::new(),
        members: Vec::new(),
    }
}

/// `172.20.0.0/16`: inside the container networks' range, at most a /30.
fn parse_subnet(cidr: &str) -> Result<(Ipv4Addr, u8), AgentError> {
    let bad = |why: &str| {
        error(
            ErrorKind::BadRequest,
            format!("invalid subnet {cidr:?}: {why}"),
        )
    };
    let (address, prefix) = cidr
        .split_once('/')
        .ok_or_else(|| bad("give it as ADDRESS/PREFIX, e.g. 172.20.0.0/16"))?;
    let address: Ipv4Addr = address
        .parse()
        .map_err(|_| bad("only IPv4 subnets are supported"))?;
    let prefix: u8 = prefix
        .parse()
        .ok()
        .filter(|p| (12..=30).contains(p))
        .ok_or_else(|| bad("the prefix length must be between 12 and 30"))?;
    let (range, range_prefix) = CONTAINER_NETWORKS;
    if u32::from(address) & mask(range_prefix) != u32::from(range) {
        return Err(bad(
            "container networks live in 172.16.0.0/12; choose a subnet there",
        ));
    }
    Ok((Ipv4Addr::from(u32::from(address) & mask(prefix)), prefix))
}

/// The first 172.N.0.0/16 (N from 18) no network overlaps.
fn free_subnet(networks: &[Network]) -> Result<(Ipv4Addr, u8), AgentError> {
    (18..=31)
        .map(|n| Ipv4Addr::new(172, n, 0, 0))
        .find(|s| !networks.iter().any(|n| n.definition.overlaps(*s, 16)))
        .map(|s| (s, 16))
        .ok_or_else(|| {
            error(
                ErrorKind::Conflict,
                "every subnet in 172.18.0.0-172.31.0.0 is taken; remove a network or give --subnet",
            )
        })
}

/// The network's bridge with its gateway address, forwarding on, and
/// the rule that keeps it from routing to other networks.
fn bring_up(definition: &Definition) -> io::Result<()> {
    let device = definition.device();
    let mut nl = Netlink::open()?;
    nl.create_bridge(&device)?;
    let made = (|| {
        let bridge = netlink::index(&device)?;
        nl.add_address(bridge, definition.gateway, definition.prefix)?;
        nl.set_up(bridge)?;
        match nl.unreachable_rule(&device, CONTAINER_NETWORKS, ISOLATION_PRIORITY, true) {
            Err(e) if e.raw_os_error() != Some(libc::EEXIST) => return Err(e),
            _ => {}
        }
        std::fs::write("/proc/sys/net/ipv4/ip_forward", "1")
    })();
    if made.is_err() {
        if let Ok(index) = netlink::index(&device) {
            let _ = nl.delete(index);
        }
    }
    made
}

fn take_down(definition: &Definition) -> io::Result<()> {
    let device = definition.device();
    let mut nl = Netlink::open()?;
    let _ = nl.unreachable_rule(&device, CONTAINER_NETWORKS, ISOLATION_PRIORITY, false);
    nl.delete(netlink::index(&device)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn networks() -> (Networks, PathBuf) {
        let dir = std::env::temp_dir().join(format!("hutch-networks-{}", random_hex(6)));
        let store = dir.join("networks.json");
        (Networks::open(store.clone()), dir)
    }

    fn create(
        networks: &Networks,
        name: &str,
        subnet: Option<&str>,
    ) -> Result<NetworkInfo, AgentError> {
        networks.create(NetworkCreate {
            name: name.into(),
            subnet: subnet.map(String::from),
            labels: Vec::new(),
        })
    }

    #[test]
    fn networks_get_free_subnets_and_survive_a_reopen() {
        let (networks, dir) = networks();
        let a = create(&networks, "front", None).unwrap();
        assert_eq!(a.subnet.as_deref(), Some("172.18.0.0/16"));
        assert_eq!(a.gateway, Some(Ipv4Addr::new(172, 18, 0, 1)));
        let b = create(&networks, "back", Some("172.30.5.0/24")).unwrap();
        assert_eq!(b.subnet.as_deref(), Some("172.30.5.0/24"));
        let c = create(&networks, "next", None).unwrap();
        assert_eq!(c.subnet.as_deref(), Some("172.19.0.0/16"));
        let names: Vec<String> = networks.list().into_iter().map(|n| n.name).collect();
        assert_eq!(names, ["bridge", "host", "none", "back", "front", "next"]);

        let reopened = Networks::open(dir.join("networks.json"));
        assert_eq!(reopened.inspect("front").unwrap().id, a.id);
        assert_eq!(reopened.inspect(&a.id[..6]).unwrap().name, "front");
        assert_eq!(reopened.remove("next").unwrap(), "next");
        assert_eq!(
            Networks::open(dir.join("networks.json"))
                .inspect("next")
                .unwrap_err()
                .kind,
            ErrorKind::NoSuchNetwork
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn bad_networks_are_refused_with_a_reason() {
        let (networks, dir) = networks();
        create(&networks, "front", None).unwrap();
        for (name, subnet, kind, says) in [
            ("front", None, ErrorKind::Conflict, "already exists"),
            ("bridge", None, ErrorKind::Conflict, "already exists"),
            ("host", None, ErrorKind::Conflict, "already exists"),
            ("-x", None, ErrorKind::BadRequest, "invalid network name"),
            (
                "ab",
                Some("10.1.0.0/16"),
                ErrorKind::BadRequest,
                "172.16.0.0/12",
            ),
            (
                "ab",
                Some("172.20.0.0"),
                ErrorKind::BadRequest,
                "ADDRESS/PREFIX",
            ),
            (
                "ab",
                Some("172.20.0.0/31"),
                ErrorKind::BadRequest,
                "between 12 and 30",
            ),
            (
                "ab",
                Some("172.17.5.0/24"),
                ErrorKind::Conflict,
                "overlaps network bridge",
            ),
            (
                "ab",
                Some("172.18.0.0/24"),
                ErrorKind::Conflict,
                "overlaps network front",
            ),
        ] {
            let e = create(&networks, name, subnet).unwrap_err();
            assert_eq!(e.kind, kind, "{name} {subnet:?}: {}", e.message);
            assert!(e.message.contains(says), "{name} {subnet:?}: {}", e.message);
        }
        for builtin in ["bridge", "host", "none"] {
            let e = networks.remove(builtin).unwrap_err();
            assert!(e.message.contains("pre-defined"), "{}", e.message);
        }
        assert_eq!(
            networks.remove("nope").unwrap_err().kind,
            ErrorKind::NoSuchNetwork
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn members_answer_to_name_alias_and_short_id_on_their_network_only() {
        let (networks, dir) = networks();
        create(&networks, "front", None).unwrap();
        let mut nets = networks.lock();
        let attachment = |network: &str, address: Ipv4Addr| Attachment {
            network: network.into(),
            bridge: "br".into(),
            host_side: "v".into(),
            peer: "p".into(),
            interface: "eth0".into(),
            address,
            prefix: 16,
            gateway: Ipv4Addr::new(172, 18, 0, 1),
        };
        nets[1].members.push(Member {
            container: "0123456789abcdef".into(),
            name: "db".into(),
            aliases: vec!["postgres".into()],
            dns: vec![Ipv4Addr::new(9, 9, 9, 9)],
            attachment: attachment("front", Ipv4Addr::new(172, 18, 0, 2)),
        });
        nets[0].members.push(Member {
            container: "fedcba9876543210".into(),
            name: "other".into(),
            aliases: Vec::new(),
            dns: Vec::new(),
            attachment: attachment("bridge", Ipv4Addr::new(172, 17, 0, 2)),
        });
        drop(nets);
        let asker = Ipv4Addr::new(172, 18, 0, 3);
        let db = vec![Ipv4Addr::new(172, 18, 0, 2)];
        for name in ["db", "DB", "postgres", "0123456789ab"] {
            assert!(
                matches!(networks.lookup(asker, name), Lookup::Found(a) if a == db),
                "{name}"
            );
        }
        assert!(matches!(
            networks.lookup(asker, "other"),
            Lookup::Forward(_)
        ));
        // The member's own --dns servers take its other queries.
        assert!(
            matches!(networks.lookup(db[0], "example.com"), Lookup::Forward(s) if s == [Ipv4Addr::new(9, 9, 9, 9)])
        );
        // The default bridge resolves no names.
        assert!(matches!(
            networks.lookup(Ipv4Addr::new(172, 17, 0, 3), "db"),
            Lookup::NotOurs
        ));
        let _ = std::fs::remove_dir_all(dir);
    }
}
