//! Container networks: docker's `bridge`, `host` and `none`, and networks
//! users create, each a bridge in the machine with its own subnet whose
//! containers find each other by name.

use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;

/// `hutch network create`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkCreate {
    pub name: String,
    /// `172.20.0.0/16`; the agent picks a free /16 when absent.
    pub subnet: Option<String>,
    pub labels: Vec<(String, String)>,
}

/// How a network carries its containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkDriver {
    /// A bridge in the machine, a veth per container.
    Bridge,
    /// The machine's own network namespace.
    Host,
    /// Loopback only.
    Null,
}

impl NetworkDriver {
    pub fn name(self) -> &'static str {
        match self {
            NetworkDriver::Bridge => "bridge",
            NetworkDriver::Host => "host",
            NetworkDriver::Null => "null",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    pub id: String,
    pub name: String,
    pub driver: NetworkDriver,
    /// Made by a user (not one of docker's three built-in networks); only
    /// these resolve their containers' names.
    pub user_defined: bool,
    /// `172.18.0.0/16`, for bridge networks.
    pub subnet: Option<String>,
    pub gateway: Option<Ipv4Addr>,
    pub created_ms: u64,
    pub labels: Vec<(String, String)>,
    /// Its running containers.
    pub members: Vec<NetworkMember>,
}

/// A running container's endpoint on a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkMember {
    pub container: String,
    pub name: String,
    pub address: Ipv4Addr,
    pub prefix: u8,
    pub mac: String,
}

/// A container's membership of one network, as `inspect` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub network: String,
    /// Other names it answers to on that network (`--network-alias`).
    pub aliases: Vec<String>,
    /// Its place there while it runs.
    pub endpoint: Option<crate::Endpoint>,
}
