//! What a machine's containers are: the list (`ps`), and one container's
//! details in docker's `inspect` shape (the fields that apply to hutch).

use crate::time::{format_rfc3339_ms, since};
use crate::{Engine, Result};
use protocol::{ContainerDetails, ContainerInfo, ContainerState, MountInfo, PortBinding};
use serde::Serialize;
use std::collections::BTreeMap;

/// docker's zero time, for events that have not happened.
const NEVER: &str = "0001-01-01T00:00:00Z";

impl Engine {
    /// Every container of the machine, newest first.
    pub async fn list_containers(&self, machine: &str) -> Result<Vec<ContainerInfo>> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.list_containers().await?)
    }

    pub async fn inspect_container(
        &self,
        machine: &str,
        container: &str,
    ) -> Result<ContainerDetails> {
        let mut client = self.connect_running(machine).await?;
        Ok(client.inspect_container(container).await?)
    }

    /// The details of the machine's containers that `wanted` picks from
    /// the list, newest first, over one connection; one removed since the
    /// list was read is left out.
    pub async fn container_details(
        &self,
        machine: &str,
        wanted: impl Fn(&ContainerInfo) -> bool,
    ) -> Result<Vec<ContainerDetails>> {
        let mut client = self.connect_running(machine).await?;
        let mut all = Vec::new();
        for info in client.list_containers().await? {
            if !wanted(&info) {
                continue;
            }
            match client.inspect_container(&info.id).await {
                Ok(details) => all.push(details),
                Err(e) if e.kind() == crate::ErrorKind::NotFound => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(all)
    }
}

/// docker's STATUS: "Up 3 seconds", "Exited (0) 2 minutes ago", "Created".
pub fn status_text(c: &ContainerInfo) -> String {
    let ago = |ms: Option<u64>| since((ms.unwrap_or(c.created_ms) / 1000) as i64);
    match c.state {
        ContainerState::Created => "Created".into(),
        ContainerState::Running if c.paused => format!("Up {} (Paused)", ago(c.started_ms)),
        ContainerState::Running => format!("Up {}", ago(c.started_ms)),
        ContainerState::Exited => format!(
            "Exited ({}) {} ago",
            c.exit_code.unwrap_or(0),
            ago(c.finished_ms)
        ),
    }
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerInspect {
    pub id: String,
    pub created: String,
    pub path: Option<String>,
    pub args: Vec<String>,
    pub state: InspectState,
    /// The image's id.
    pub image: String,
    /// `/name`, as docker shows it.
    pub name: String,
    pub config: InspectConfig,
    pub host_config: InspectHostConfig,
    pub mounts: Vec<InspectMount>,
    pub network_settings: NetworkSettings,
}

/// docker's `Mounts` entry.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectMount {
    #[serde(rename = "Type")]
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub source: String,
    pub destination: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<&'static str>,
    pub mode: String,
    #[serde(rename = "RW")]
    pub rw: bool,
    pub propagation: String,
}

impl From<&MountInfo> for InspectMount {
    fn from(m: &MountInfo) -> InspectMount {
        InspectMount {
            kind: m.kind.clone(),
            name: m.name.clone(),
            source: m.source.clone(),
            destination: m.destination.clone(),
            driver: m.name.is_some().then_some("local"),
            mode: if m.read_only { "ro" } else { "" }.into(),
            rw: !m.read_only,
            // docker's for a bind mount; shares' mounts come from the host.
            propagation: if m.kind == "bind" { "rprivate" } else { "" }.into(),
        }
    }
}

/// docker's `NetworkSettings`: the container's address while it runs.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkSettings {
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    pub ip_prefix_len: u8,
    pub gateway: String,
    pub mac_address: String,
    pub networks: BTreeMap<String, EndpointSettings>,
    /// The host ports it is published on while it runs.
    pub ports: PortMap,
}

/// docker's port maps: `"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]`.
pub type PortMap = BTreeMap<String, Vec<HostPort>>;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct HostPort {
    pub host_ip: String,
    pub host_port: String,
}

/// As docker shows them: requested bindings leave an unset address or
/// port empty, published ones show what was bound.
fn port_map(bindings: &[PortBinding], requested: bool) -> PortMap {
    let mut map = PortMap::new();
    for b in bindings {
        let unset = |yes: bool, value: String| {
            if requested && yes {
                String::new()
            } else {
                value
            }
        };
        map.entry(format!("{}/{}", b.container_port, b.protocol))
            .or_default()
            .push(HostPort {
                host_ip: unset(b.host_ip.is_unspecified(), b.host_ip.to_string()),
                host_port: unset(
                    b.host_port == 0,
                    match b.host_port_last {
                        Some(last) => format!("{}-{last}", b.host_port),
                        None => b.host_port.to_string(),
                    },
                ),
            });
    }
    map
}

#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct EndpointSettings {
    /// `--network-alias` names (docker lists them only on user networks).
    pub aliases: Option<Vec<String>>,
    #[serde(rename = "IPAddress")]
    pub ip_address: String,
    pub ip_prefix_len: u8,
    pub gateway: String,
    pub mac_address: String,
}

/// Every network it belongs to (addresses while it runs); the top-level
/// address, as docker's, is its address on the default bridge.
fn network_settings(d: &ContainerDetails) -> NetworkSettings {
    let mut settings = NetworkSettings {
        ports: port_map(&d.info.ports, false),
        ..NetworkSettings::default()
    };
    for membership in &d.networks {
        let mut endpoint = EndpointSettings {
            aliases: (membership.network != "bridge").then(|| membership.aliases.clone()),
            ..EndpointSettings::default()
        };
        if let Some(e) = &membership.endpoint {
            endpoint.ip_address = e.address.to_string();
            endpoint.ip_prefix_len = e.prefix;
            endpoint.gateway = e.gateway.to_string();
            endpoint.mac_address = e.mac.clone();
        }
        if membership.network == "bridge" {
            settings.ip_address = endpoint.ip_address.clone();
            settings.ip_prefix_len = endpoint.ip_prefix_len;
            settings.gateway = endpoint.gateway.clone();
            settings.mac_address = endpoint.mac_address.clone();
        }
        settings
            .networks
            .insert(membership.network.clone(), endpoint);
    }
    settings
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectState {
    pub status: &'static str,
    pub running: bool,
    pub paused: bool,
    #[serde(rename = "OOMKilled")]
    pub oom_killed: bool,
    pub dead: bool,
    pub pid: u32,
    pub exit_code: i32,
    pub started_at: String,
    pub finished_at: String,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectConfig {
    pub hostname: String,
    pub user: String,
    pub tty: bool,
    pub open_stdin: bool,
    pub env: Vec<String>,
    pub cmd: Vec<String>,
    pub image: String,
    pub working_dir: String,
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectHostConfig {
    pub auto_remove: bool,
    pub memory: i64,
    pub nano_cpus: u64,
    pub pids_limit: i64,
    pub network_mode: String,
    pub port_bindings: PortMap,
    pub extra_hosts: Vec<String>,
    pub dns: Vec<String>,
    pub log_config: LogConfig,
}

/// Where its output goes: the machine keeps a JSON log per container,
/// as docker's default driver (clients such as docker-py read this to
/// know that logs can be read back).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub kind: &'static str,
    pub config: BTreeMap<String, String>,
}

/// Its `--label`s, kept as the runtime spec's annotations.
pub fn labels(d: &ContainerDetails) -> BTreeMap<String, String> {
    d.spec
        .annotations()
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn time(ms: Option<u64>) -> String {
    ms.map_or_else(|| NEVER.to_string(), format_rfc3339_ms)
}

impl From<&ContainerDetails> for ContainerInspect {
    fn from(d: &ContainerDetails) -> ContainerInspect {
        let info = &d.info;
        let process = d.spec.process().clone().unwrap_or_default();
        let resources = d
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.resources().clone())
            .unwrap_or_default();
        let cpu = resources.cpu().clone().unwrap_or_default();
        let nano_cpus = match (cpu.quota(), cpu.period()) {
            (Some(quota), Some(period)) if quota > 0 && period > 0 => {
                quota as u64 * 1_000_000_000 / period
            }
            _ => 0,
        };
        ContainerInspect {
            id: info.id.clone(),
            created: time(Some(info.created_ms)),
            path: info.command.first().cloned(),
            args: info.command.get(1..).unwrap_or_default().to_vec(),
            state: InspectState {
                status: match info.state {
                    ContainerState::Created => "created",
                    ContainerState::Running if info.paused => "paused",
                    ContainerState::Running => "running",
                    ContainerState::Exited => "exited",
                },
                running: info.state == ContainerState::Running,
                paused: info.paused,
                oom_killed: info.oom_killed,
                dead: false,
                pid: info.pid.unwrap_or(0),
                exit_code: info.exit_code.unwrap_or(0),
                started_at: time(info.started_ms),
                finished_at: time(info.finished_ms),
            },
            image: d.image_id.to_string(),
            name: format!("/{}", info.name),
            config: InspectConfig {
                hostname: d.spec.hostname().clone().unwrap_or_default(),
                user: d.user.clone().unwrap_or_default(),
                tty: d.tty,
                open_stdin: d.stdin,
                env: process.env().clone().unwrap_or_default(),
                cmd: info.command.clone(),
                image: info.image.clone(),
                working_dir: process.cwd().to_string_lossy().into_owned(),
                labels: labels(d),
            },
            host_config: InspectHostConfig {
                auto_remove: d.auto_remove,
                memory: resources
                    .memory()
                    .as_ref()
                    .and_then(|m| m.limit())
                    .unwrap_or(0),
                nano_cpus,
                pids_limit: resources.pids().as_ref().map_or(0, |p| p.limit()),
                network_mode: d.network.clone(),
                port_bindings: port_map(&d.port_bindings, true),
                extra_hosts: d.extra_hosts.clone(),
                dns: d.dns.iter().map(ToString::to_string).collect(),
                log_config: LogConfig {
                    kind: "json-file",
                    config: BTreeMap::new(),
                },
            },
            mounts: d.mounts.iter().map(InspectMount::from).collect(),
            network_settings: network_settings(d),
        }
    }
}
