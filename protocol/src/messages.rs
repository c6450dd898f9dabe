//! Message types. Requests and responses travel in an [`Envelope`] whose id
//! ties a response to its request.

use crate::networks::{Membership, NetworkCreate, NetworkInfo};
use crate::ports::{ContainerEvent, PortBinding, PublishedPorts};
use crate::volumes::{MountInfo, MountRequest, VolumeCreate, VolumeInfo};
use crate::Digest;
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    pub id: u64,
    pub body: T,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Must be the first request on a connection.
    Hello {
        version: u32,
    },
    Ping,
    Info,
    /// Which of these layers (by diff id) the machine's layer cache holds.
    LayerStatus {
        diff_ids: Vec<Digest>,
    },
    /// Mounts an image's root filesystem read-only from its layers, listed
    /// bottom to top; answered with the path in the machine.
    MountImage {
        image_id: Digest,
        diff_ids: Vec<Digest>,
    },
    UnmountImage {
        image_id: Digest,
    },
    /// Removes cached layers that are not listed, except those in use.
    PruneLayers {
        keep: Vec<Digest>,
    },
    /// Space used by the layer cache.
    DiskUsage,
    /// Prepares a process; it starts on [`Request::Start`], once its stdio
    /// streams have attached.
    Exec(ExecSpec),
    Start {
        exec_id: u64,
    },
    /// Answered when the process has exited.
    Wait {
        exec_id: u64,
    },
    Signal {
        exec_id: u64,
        signal: i32,
    },
    /// Creates a container (nothing running yet); answered with its id.
    CreateContainer(ContainerCreate),
    /// Starts a created or exited container. With `attach`, answered with
    /// `ExecCreated`: stdio streams attach to that exec id and `Start`
    /// runs it. Without, it starts at once (output only to its log) and
    /// the answer is `Started`.
    StartContainer {
        container: String,
        attach: bool,
        /// The host ports this run is published on (already listening).
        #[serde(default)]
        published: Option<PublishedPorts>,
    },
    /// Joins a running container's stdio (`attach`): answered with
    /// `ExecCreated`; its output streams (and stdin, with `stdin`, if the
    /// container's is open) attach to that exec id, `Start` joins them
    /// (its output from then on), `Wait` waits for the container's exit.
    AttachContainer {
        container: String,
        stdin: bool,
    },
    /// Answered with `Exited` once the container is not running (at once
    /// for an exited one).
    WaitContainer {
        container: String,
    },
    /// Sends a signal to the container's first process.
    KillContainer {
        container: String,
        signal: i32,
    },
    /// Freezes a running container's processes (cgroup v2's freezer).
    PauseContainer {
        container: String,
    },
    UnpauseContainer {
        container: String,
    },
    RenameContainer {
        container: String,
        name: String,
    },
    /// SIGTERM, then SIGKILL after `timeout_s`; answered once it exited.
    StopContainer {
        container: String,
        timeout_s: u32,
    },
    /// Log entries from byte `offset` of the container's log (or its last
    /// `tail` entries, when given, on the first call). With `follow` the
    /// agent waits a little for new output while the container runs.
    ContainerLogs {
        container: String,
        offset: u64,
        tail: Option<u64>,
        follow: bool,
    },
    InspectContainer {
        container: String,
    },
    /// Its processes (`top`).
    ContainerTop {
        container: String,
    },
    /// Its resource figures now (`stats`).
    ContainerStats {
        container: String,
    },
    /// New window size of a process's terminal.
    Resize {
        exec_id: u64,
        rows: u16,
        cols: u16,
    },
    ListContainers,
    /// By id, id prefix or name. `force` kills a running container first;
    /// `volumes` also removes its anonymous volumes.
    RemoveContainer {
        container: String,
        force: bool,
        #[serde(default)]
        volumes: bool,
    },
    /// Answered with `Subscribed`, then an `Event` (same id) for every
    /// container start and exit until the connection closes.
    Events,
    CreateNetwork(NetworkCreate),
    ListNetworks,
    /// By id, id prefix or name.
    InspectNetwork {
        network: String,
    },
    /// Refused while containers use it.
    RemoveNetwork {
        network: String,
    },
    /// Adds a container to a network; a running one gets its interface at once.
    ConnectNetwork {
        network: String,
        container: String,
        aliases: Vec<String>,
    },
    DisconnectNetwork {
        network: String,
        container: String,
    },
    /// Answered with the volume (an existing one of that name, as docker).
    CreateVolume(VolumeCreate),
    ListVolumes,
    InspectVolume {
        name: String,
    },
    /// Refused while a container uses it.
    RemoveVolume {
        name: String,
    },
    /// Removes unused anonymous volumes (all unused ones with `all`).
    PruneVolumes {
        all: bool,
    },
    /// Syncs filesystems and powers the machine off after replying.
    Shutdown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerCreate {
    /// Unique in the machine; the agent picks one when absent.
    pub name: Option<String>,
    /// The image as the user named it, for `ps`.
    pub image: String,
    pub image_id: Digest,
    /// The image's layers, bottom to top; all must be in the layer cache.
    pub diff_ids: Vec<Digest>,
    /// The OCI runtime spec the host built from the image's config and the
    /// flags (boxed: it dwarfs every other message).
    pub spec: Box<Spec>,
    /// `-u` as given (`name`, `uid`, `name:group`, `uid:gid`): names are
    /// looked up in the container's own /etc/passwd and /etc/group.
    pub user: Option<String>,
    /// Whether a stdin stream will attach.
    pub stdin: bool,
    /// A terminal (pty in the machine): output comes on the stdout stream only.
    pub tty: bool,
    /// Removed by the agent once it exits (`--rm`).
    pub auto_remove: bool,
    /// Which network it joins: `bridge` (the default), `none` (only
    /// loopback), `host` (the machine's own; the spec then has no
    /// network namespace) or a network a user created.
    #[serde(default = "default_network")]
    pub network: String,
    /// Other names it answers to on a user-defined network.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `--add-host`: `NAME:ADDRESS` lines for its /etc/hosts
    /// (`host-gateway` stands for the host's address).
    #[serde(default)]
    pub extra_hosts: Vec<String>,
    /// `--dns`: its name servers (on a user-defined network, the ones the
    /// network's DNS server forwards its other queries to).
    #[serde(default)]
    pub dns: Vec<std::net::Ipv4Addr>,
    /// The ports to publish whenever it starts (host port 0: any free one).
    #[serde(default)]
    pub ports: Vec<PortBinding>,
    /// `-v`, `--mount`, `--tmpfs`.
    #[serde(default)]
    pub mounts: Vec<MountRequest>,
    /// `--volumes-from CONTAINER[:ro|:rw]`.
    #[serde(default)]
    pub volumes_from: Vec<String>,
    /// The image's `VOLUME`s: each an anonymous volume unless a mount
    /// above covers it.
    #[serde(default)]
    pub image_volumes: Vec<String>,
}

fn default_network() -> String {
    "bridge".into()
}

/// A running container's place on a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub network: String,
    pub address: std::net::Ipv4Addr,
    pub prefix: u8,
    pub gateway: std::net::Ipv4Addr,
    pub mac: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContainerState {
    Created,
    Running,
    Exited,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerInfo {
    pub id: String,
    pub name: String,
    pub image: String,
    pub command: Vec<String>,
    pub state: ContainerState,
    pub created_ms: u64,
    pub started_ms: Option<u64>,
    pub finished_ms: Option<u64>,
    /// Docker's exit code (128+N for signal N) once exited.
    pub exit_code: Option<i32>,
    /// The kernel's OOM killer ended it (memory limit reached).
    pub oom_killed: bool,
    pub pid: Option<u32>,
    /// Where it is on its network while it runs.
    #[serde(default)]
    pub endpoint: Option<Endpoint>,
    /// The host ports it is published on while it runs.
    #[serde(default)]
    pub ports: Vec<PortBinding>,
    /// Running, its processes frozen (`pause`).
    #[serde(default)]
    pub paused: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerDetails {
    pub info: ContainerInfo,
    pub image_id: Digest,
    /// The runtime spec it runs with (boxed, as in [`ContainerCreate`]).
    pub spec: Box<Spec>,
    pub user: Option<String>,
    pub tty: bool,
    pub stdin: bool,
    pub auto_remove: bool,
    pub network: String,
    /// The ports it asked to publish (host port 0: any free one).
    pub port_bindings: Vec<PortBinding>,
    /// Every network it belongs to, the one it was created on first.
    pub networks: Vec<Membership>,
    pub extra_hosts: Vec<String>,
    pub dns: Vec<std::net::Ipv4Addr>,
    pub mounts: Vec<MountInfo>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecSpec {
    pub args: Vec<String>,
    /// `KEY=value` entries added to the agent's default environment.
    pub env: Vec<String>,
    pub cwd: Option<String>,
    /// Whether a stdin stream will attach; without one the process reads /dev/null.
    pub stdin: bool,
    /// Run inside this running container (joining its namespaces and
    /// cgroup) instead of in the machine.
    pub container: Option<String>,
    /// `-u` for a container exec, resolved in the container.
    pub user: Option<String>,
    /// A terminal (pty in the machine): output comes on the stdout stream only.
    pub tty: bool,
}

/// One line (or a piece of a long line) the container wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    pub stream: StdioStream,
    pub time_ms: u64,
    pub log: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    Hello {
        version: u32,
        agent: String,
    },
    Pong,
    Info(GuestInfo),
    Layers {
        present: Vec<Digest>,
    },
    /// A layer was unpacked into the cache (or was already there).
    LayerStored {
        diff_id: Digest,
        unpacked_bytes: u64,
    },
    Mounted {
        path: String,
    },
    Pruned {
        removed: Vec<Digest>,
    },
    DiskUsage(CacheUsage),
    ExecCreated {
        exec_id: u64,
    },
    ContainerCreated {
        id: String,
    },
    Containers(Vec<ContainerInfo>),
    /// `offset` is where the next read continues; `more` is false once a
    /// read reached the end and the container is not running (or the
    /// caller did not follow).
    Logs {
        entries: Vec<LogEntry>,
        offset: u64,
        more: bool,
    },
    ContainerDetails(Box<ContainerDetails>),
    Processes(Vec<crate::ProcessEntry>),
    Usage(Box<crate::UsageSample>),
    Network(NetworkInfo),
    Networks(Vec<NetworkInfo>),
    Volume(VolumeInfo),
    Volumes(Vec<VolumeInfo>),
    VolumesPruned {
        removed: Vec<String>,
    },
    /// The path an archive request names (see [`crate::archive`]).
    PathStat(crate::PathStat),
    Started {
        pid: u32,
    },
    Exited(ExitStatus),
    Subscribed,
    Event(ContainerEvent),
    Done,
    Error(AgentError),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestInfo {
    pub kernel: String,
    pub hostname: String,
    pub uptime_ms: u64,
    pub cpus: u32,
    pub memory_bytes: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

impl ExitStatus {
    /// The shell convention, which docker follows: 128+N for signal N.
    pub fn shell_code(self) -> i32 {
        match self {
            ExitStatus::Code(c) => c,
            ExitStatus::Signal(s) => 128 + s,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentError {
    pub kind: ErrorKind,
    pub message: String,
}

impl AgentError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> AgentError {
        AgentError {
            kind,
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The command does not exist (docker's exit status 127).
    NotFound,
    /// The command exists but cannot be run (docker's exit status 126).
    NotExecutable,
    VersionMismatch,
    BadRequest,
    UnknownExec,
    /// A layer is corrupt or unsafe (digest mismatch, path escapes).
    InvalidLayer,
    /// The machine's layer disk has no room left.
    DiskFull,
    /// The layer disk is missing or failed.
    Storage,
    /// No container by that id or name.
    NoSuchContainer,
    /// No network by that id or name.
    NoSuchNetwork,
    /// No volume by that name.
    NoSuchVolume,
    /// No such file or directory in a container (a copy's path).
    NoSuchPath,
    /// The name is taken, or the container is in the wrong state.
    Conflict,
    Internal,
}

/// The machine's layer cache: its disk and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CacheUsage {
    pub disk_bytes: u64,
    pub used_bytes: u64,
    pub layers: Vec<CachedLayer>,
    /// Images mounted now, by id.
    pub mounted: Vec<Digest>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedLayer {
    pub diff_id: Digest,
    pub unpacked_bytes: u64,
}

/// First frame on a [`crate::LAYER_PORT`] connection: the layer's blob
/// (compressed or not) follows as `size` raw bytes, after which the agent
/// answers with one [`Response`] frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerUpload {
    /// sha256 of the uncompressed tar; the agent checks it.
    pub diff_id: Digest,
    pub size: u64,
}

/// First frame on a [`crate::STREAM_PORT`] connection; raw bytes follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamAttach {
    pub exec_id: u64,
    pub stream: StdioStream,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StdioStream {
    Stdin,
    Stdout,
    Stderr,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_exit_maps_to_128_plus_n() {
        assert_eq!(ExitStatus::Signal(9).shell_code(), 137);
        assert_eq!(ExitStatus::Code(42).shell_code(), 42);
    }

    #[test]
    fn unknown_request_kind_is_an_error_not_a_panic() {
        let r: Result<Envelope<Request>, _> =
            serde_json::from_str(r#"{"id":1,"body":"format_disk"}"#);
        assert!(r.is_err());
    }
}

/// One path a container added, changed or deleted in its image's files,
/// as docker's `diff` lists them (see [`crate::ArchiveAction::Changes`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Absolute, in the container.
    pub path: String,
    pub kind: ChangeKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Changed,
    Added,
    Deleted,
}
