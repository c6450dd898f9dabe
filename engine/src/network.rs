//! Container networks in a machine: docker's `bridge`, `host` and `none`,
//! and networks users create (a bridge each, whose containers resolve
//! each other's names), in docker's `network inspect` shape.

use crate::time::format_rfc3339_ms;
use crate::{Engine, Result};
pub use protocol::{NetworkCreate, NetworkDriver, NetworkInfo};
use serde::Serialize;
use std::collections::BTreeMap;

impl Engine {
    /// Creates a network in `machine` (started if needed).
    pub async fn create_network(
        &self,
        machine: &str,
        create: NetworkCreate,
    ) -> Result<NetworkInfo> {
        let mut client = self.connect_or_start(machine).await?;
        Ok(client.create_network(create).await?)
    }

    /// docker's `network prune`: the networks users created that no
    /// container (running or not) belongs to; their names.
    pub async fn prune_networks(&self, machine: &str) -> Result<Vec<String>> {
        let used: std::collections::BTreeSet<String> = self
            .container_details(machine, |_| true)
            .await?
            .into_iter()
            .flat_map(|details| details.networks.into_iter().map(|m| m.network))
            .collect();
        let mut removed = Vec::new();
        for network in self.list_networks(machine).await? {
            if network.user_defined && !used.contains(&network.name) && !used.contains(&network.id)
            {
                self.remove_network(machine, &network.id).await?;
                removed.push(network.name);
            }
        }
        Ok(removed)
    }

    pub async fn list_networks(&self, machine: &str) -> Result<Vec<NetworkInfo>> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.list_networks().await?)
    }

    /// By name, id or unique id prefix.
    pub async fn inspect_network(&self, machine: &str, network: &str) -> Result<NetworkInfo> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.inspect_network(network).await?)
    }

    /// Removes a network no running container uses.
    pub async fn remove_network(&self, machine: &str, network: &str) -> Result<()> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.remove_network(network).await?)
    }

    /// Adds a container to a network (a running one joins at once).
    pub async fn connect_network(
        &self,
        machine: &str,
        network: &str,
        container: &str,
        aliases: Vec<String>,
    ) -> Result<()> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.connect_network(network, container, aliases).await?)
    }

    pub async fn disconnect_network(
        &self,
        machine: &str,
        network: &str,
        container: &str,
    ) -> Result<()> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.disconnect_network(network, container).await?)
    }
}

/// docker's `network inspect` document (the fields that apply).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkInspect {
    pub name: String,
    pub id: String,
    pub created: String,
    pub scope: &'static str,
    pub driver: &'static str,
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    #[serde(rename = "IPAM")]
    pub ipam: Ipam,
    pub internal: bool,
    pub attachable: bool,
    pub containers: BTreeMap<String, NetworkContainer>,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Ipam {
    pub driver: &'static str,
    pub config: Vec<IpamConfig>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IpamConfig {
    pub subnet: String,
    pub gateway: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkContainer {
    pub name: String,
    pub mac_address: String,
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

impl From<&NetworkInfo> for NetworkInspect {
    fn from(n: &NetworkInfo) -> NetworkInspect {
        let config = match (&n.subnet, n.gateway) {
            (Some(subnet), Some(gateway)) => vec![IpamConfig {
                subnet: subnet.clone(),
                gateway: gateway.to_string(),
            }],
            _ => Vec::new(),
        };
        NetworkInspect {
            name: n.name.clone(),
            id: n.id.clone(),
            created: format_rfc3339_ms(n.created_ms),
            scope: "local",
            driver: n.driver.name(),
            enable_ipv6: false,
            ipam: Ipam {
                driver: "default",
                config,
            },
            internal: false,
            attachable: false,
            containers: n
                .members
                .iter()
                .map(|m| {
                    let container = NetworkContainer {
                        name: m.name.clone(),
                        mac_address: m.mac.clone(),
                        ipv4_address: format!("{}/{}", m.address, m.prefix),
                        ipv6_address: String::new(),
                    };
                    (m.container.clone(), container)
                })
                .collect(),
            labels: n.labels.iter().cloned().collect(),
        }
    }
}
