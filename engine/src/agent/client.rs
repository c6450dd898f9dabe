//! A control connection to the agent: requests with ids, one typed method
//! per request. The client knows its machine's socket, so it can open the
//! other streams a request needs (stdio, a second control connection).

use super::connect_port;
use super::error::AgentError;
use protocol::{
    read_frame_async, write_frame_async, CacheUsage, ContainerCreate, ContainerDetails,
    ContainerEvent, ContainerInfo, Digest, Envelope, ExecSpec, ExitStatus, GuestInfo, LogEntry,
    NetworkCreate, NetworkInfo, ProcessEntry, PublishedPorts, Request, Response, StdioStream,
    StreamAttach, UsageSample, VolumeCreate, VolumeInfo, AGENT_PORT, PROTOCOL_VERSION, STREAM_PORT,
};
use std::path::{Path, PathBuf};
use tokio::net::UnixStream;

pub struct AgentClient {
    uds: PathBuf,
    stream: UnixStream,
    next_id: u64,
}

type Result<T> = std::result::Result<T, AgentError>;

/// What `call` expects back: the value, or the reply it did not expect.
type Expect<T> = fn(Response) -> std::result::Result<T, Box<Response>>;

/// An [`Expect`] that takes replies matching `pattern` as `value`.
macro_rules! expect {
    ($pattern:pat => $value:expr) => {
        |reply| match reply {
            $pattern => Ok($value),
            other => Err(Box::new(other)),
        }
    };
}

impl AgentClient {
    /// Connects to the control port through `uds` and performs the version
    /// handshake.
    pub async fn connect(uds: &Path) -> Result<AgentClient> {
        let stream = connect_port(uds, AGENT_PORT).await?;
        let mut client = AgentClient {
            uds: uds.to_path_buf(),
            stream,
            next_id: 0,
        };
        let hello = Request::Hello {
            version: PROTOCOL_VERSION,
        };
        client
            .call("hello", hello, expect!(Response::Hello { .. } => ()))
            .await?;
        Ok(client)
    }

    /// Another control connection to the same agent (for work that runs
    /// beside a request that blocks this one).
    pub async fn reconnect(&self) -> Result<AgentClient> {
        AgentClient::connect(&self.uds).await
    }

    /// The machine's hybrid vsock socket.
    pub fn socket(&self) -> &Path {
        &self.uds
    }

    /// Sends one request and waits for its response; an error answer is
    /// [`AgentError::Refused`].
    async fn request(&mut self, body: Request) -> Result<Response> {
        self.next_id += 1;
        let id = self.next_id;
        write_frame_async(&mut self.stream, &Envelope { id, body })
            .await
            .map_err(|source| AgentError::Frame {
                what: "sending to the agent".into(),
                source,
            })?;
        self.reply_to(id).await
    }

    /// The next reply to request `id` (replies to others are skipped).
    async fn reply_to(&mut self, id: u64) -> Result<Response> {
        loop {
            let reply: Envelope<Response> = read_frame_async(&mut self.stream)
                .await
                .map_err(|source| AgentError::Frame {
                    what: "reading from the agent".into(),
                    source,
                })?
                .ok_or(AgentError::Closed)?;
            if reply.id != id {
                continue;
            }
            return match reply.body {
                Response::Error(e) => Err(AgentError::Refused(e)),
                other => Ok(other),
            };
        }
    }

    /// A request whose reply `expect` turns into a value.
    async fn call<T>(
        &mut self,
        name: &'static str,
        request: Request,
        expect: Expect<T>,
    ) -> Result<T> {
        let reply = self.request(request).await?;
        expect(reply).map_err(|other| AgentError::UnexpectedReply {
            request: name,
            reply: format!("{other:?}"),
        })
    }

    /// A request answered with `Done`.
    async fn done(&mut self, name: &'static str, request: Request) -> Result<()> {
        self.call(name, request, expect!(Response::Done => ()))
            .await
    }

    pub async fn info(&mut self) -> Result<GuestInfo> {
        self.call("info", Request::Info, expect!(Response::Info(info) => info))
            .await
    }

    /// Prepares a process; it starts on [`Self::start`] once its streams attached.
    pub async fn exec(&mut self, spec: ExecSpec) -> Result<u64> {
        self.call("exec", Request::Exec(spec), EXEC_CREATED).await
    }

    /// Starts a prepared process; its pid in the machine.
    pub async fn start(&mut self, exec_id: u64) -> Result<u32> {
        self.call("start", Request::Start { exec_id }, STARTED)
            .await
    }

    /// Waits for a started process to exit.
    pub async fn wait(&mut self, exec_id: u64) -> Result<ExitStatus> {
        self.call("wait", Request::Wait { exec_id }, EXITED).await
    }

    pub async fn resize(&mut self, exec_id: u64, rows: u16, cols: u16) -> Result<()> {
        let request = Request::Resize {
            exec_id,
            rows,
            cols,
        };
        self.done("resize", request).await
    }

    /// Opens stdio stream `which` of process `exec_id`.
    pub async fn attach_stream(&self, exec_id: u64, which: StdioStream) -> Result<UnixStream> {
        let mut s = connect_port(&self.uds, STREAM_PORT).await?;
        let attach = StreamAttach {
            exec_id,
            stream: which,
        };
        write_frame_async(&mut s, &attach)
            .await
            .map_err(|source| AgentError::Frame {
                what: "attaching a stdio stream".into(),
                source,
            })?;
        Ok(s)
    }

    /// Which of these layers the machine's cache holds.
    pub async fn layer_status(&mut self, diff_ids: Vec<Digest>) -> Result<Vec<Digest>> {
        let request = Request::LayerStatus { diff_ids };
        self.call(
            "layer status",
            request,
            expect!(Response::Layers { present } => present),
        )
        .await
    }

    /// Assembles an image's root read-only; its path in the machine.
    pub async fn mount_image(&mut self, image_id: Digest, diff_ids: Vec<Digest>) -> Result<String> {
        let request = Request::MountImage { image_id, diff_ids };
        self.call(
            "mount",
            request,
            expect!(Response::Mounted { path } => path),
        )
        .await
    }

    pub async fn unmount_image(&mut self, image_id: Digest) -> Result<()> {
        self.done("unmount", Request::UnmountImage { image_id })
            .await
    }

    /// Drops cached layers not in `keep` (and not in use); those removed.
    pub async fn prune_layers(&mut self, keep: Vec<Digest>) -> Result<Vec<Digest>> {
        self.call(
            "prune",
            Request::PruneLayers { keep },
            expect!(Response::Pruned { removed } => removed),
        )
        .await
    }

    pub async fn disk_usage(&mut self) -> Result<CacheUsage> {
        self.call(
            "disk usage",
            Request::DiskUsage,
            expect!(Response::DiskUsage(usage) => usage),
        )
        .await
    }

    /// Creates a container; its id.
    pub async fn create_container(&mut self, create: ContainerCreate) -> Result<String> {
        let request = Request::CreateContainer(create);
        self.call(
            "create",
            request,
            expect!(Response::ContainerCreated { id } => id),
        )
        .await
    }

    /// Starts a container with its output going to its log only, its run
    /// published on the host ports of `published`.
    pub async fn start_container(
        &mut self,
        container: &str,
        published: Option<PublishedPorts>,
    ) -> Result<u32> {
        let request = Request::StartContainer {
            container: container.to_string(),
            attach: false,
            published,
        };
        self.call("start", request, STARTED).await
    }

    /// Prepares a container's start with stdio streams attached: the exec
    /// id they attach to; [`Self::start`] then runs it.
    pub async fn start_container_attached(
        &mut self,
        container: &str,
        published: Option<PublishedPorts>,
    ) -> Result<u64> {
        let request = Request::StartContainer {
            container: container.to_string(),
            attach: true,
            published,
        };
        self.call("start", request, EXEC_CREATED).await
    }

    /// An exec id through which streams join a running container's stdio.
    pub async fn attach_container(&mut self, container: &str, stdin: bool) -> Result<u64> {
        let request = Request::AttachContainer {
            container: container.to_string(),
            stdin,
        };
        self.call("attach", request, EXEC_CREATED).await
    }

    /// Every container event from now on; this connection carries nothing else.
    pub async fn events(mut self) -> Result<EventStream> {
        self.call(
            "events",
            Request::Events,
            expect!(Response::Subscribed => ()),
        )
        .await?;
        let id = self.next_id;
        Ok(EventStream { client: self, id })
    }

    pub async fn wait_container(&mut self, container: &str) -> Result<ExitStatus> {
        let request = Request::WaitContainer {
            container: container.to_string(),
        };
        self.call("wait", request, EXITED).await
    }

    pub async fn kill_container(&mut self, container: &str, signal: i32) -> Result<()> {
        let request = Request::KillContainer {
            container: container.to_string(),
            signal,
        };
        self.done("kill", request).await
    }

    pub async fn pause_container(&mut self, container: &str, pause: bool) -> Result<()> {
        let container = container.to_string();
        match pause {
            true => {
                self.done("pause", Request::PauseContainer { container })
                    .await
            }
            false => {
                self.done("unpause", Request::UnpauseContainer { container })
                    .await
            }
        }
    }

    pub async fn rename_container(&mut self, container: &str, name: &str) -> Result<()> {
        let request = Request::RenameContainer {
            container: container.to_string(),
            name: name.to_string(),
        };
        self.done("rename", request).await
    }

    pub async fn stop_container(&mut self, container: &str, timeout_s: u32) -> Result<()> {
        let request = Request::StopContainer {
            container: container.to_string(),
            timeout_s,
        };
        self.done("stop", request).await
    }

    /// Log entries from `offset` (or the last `tail`); the next offset, and
    /// whether to ask again.
    pub async fn container_logs(
        &mut self,
        container: &str,
        offset: u64,
        tail: Option<u64>,
        follow: bool,
    ) -> Result<(Vec<LogEntry>, u64, bool)> {
        let request = Request::ContainerLogs {
            container: container.to_string(),
            offset,
            tail,
            follow,
        };
        self.call(
            "logs",
            request,
            expect!(Response::Logs {
                entries,
                offset,
                more,
            } => (entries, offset, more)),
        )
        .await
    }

    pub async fn inspect_container(&mut self, container: &str) -> Result<ContainerDetails> {
        let request = Request::InspectContainer {
            container: container.to_string(),
        };
        self.call(
            "inspect",
            request,
            expect!(Response::ContainerDetails(details) => *details),
        )
        .await
    }

    pub async fn container_top(&mut self, container: &str) -> Result<Vec<ProcessEntry>> {
        let request = Request::ContainerTop {
            container: container.to_string(),
        };
        self.call("top", request, expect!(Response::Processes(all) => all))
            .await
    }

    pub async fn container_stats(&mut self, container: &str) -> Result<UsageSample> {
        let request = Request::ContainerStats {
            container: container.to_string(),
        };
        self.call("stats", request, expect!(Response::Usage(usage) => *usage))
            .await
    }

    pub async fn list_containers(&mut self) -> Result<Vec<ContainerInfo>> {
        self.call(
            "list",
            Request::ListContainers,
            expect!(Response::Containers(all) => all),
        )
        .await
    }

    pub async fn remove_container(
        &mut self,
        container: &str,
        force: bool,
        volumes: bool,
    ) -> Result<()> {
        let request = Request::RemoveContainer {
            container: container.to_string(),
            force,
            volumes,
        };
        self.done("remove", request).await
    }

    pub async fn create_network(&mut self, create: NetworkCreate) -> Result<NetworkInfo> {
        self.call(
            "network create",
            Request::CreateNetwork(create),
            expect!(Response::Network(network) => network),
        )
        .await
    }

    pub async fn list_networks(&mut self) -> Result<Vec<NetworkInfo>> {
        self.call(
            "network ls",
            Request::ListNetworks,
            expect!(Response::Networks(all) => all),
        )
        .await
    }

    pub async fn inspect_network(&mut self, network: &str) -> Result<NetworkInfo> {
        let request = Request::InspectNetwork {
            network: network.to_string(),
        };
        self.call(
            "network inspect",
            request,
            expect!(Response::Network(network) => network),
        )
        .await
    }

    pub async fn remove_network(&mut self, network: &str) -> Result<()> {
        let request = Request::RemoveNetwork {
            network: network.to_string(),
        };
        self.done("network rm", request).await
    }

    pub async fn connect_network(
        &mut self,
        network: &str,
        container: &str,
        aliases: Vec<String>,
    ) -> Result<()> {
        let request = Request::ConnectNetwork {
            network: network.to_string(),
            container: container.to_string(),
            aliases,
        };
        self.done("network connect", request).await
    }

    pub async fn disconnect_network(&mut self, network: &str, container: &str) -> Result<()> {
        let request = Request::DisconnectNetwork {
            network: network.to_string(),
            container: container.to_string(),
        };
        self.done("network disconnect", request).await
    }

    pub async fn create_volume(&mut self, create: VolumeCreate) -> Result<VolumeInfo> {
        let request = Request::CreateVolume(create);
        self.call("volume create", request, VOLUME).await
    }

    pub async fn list_volumes(&mut self) -> Result<Vec<VolumeInfo>> {
        self.call(
            "volume ls",
            Request::ListVolumes,
            expect!(Response::Volumes(all) => all),
        )
        .await
    }

    pub async fn inspect_volume(&mut self, name: &str) -> Result<VolumeInfo> {
        let request = Request::InspectVolume {
            name: name.to_string(),
        };
        self.call("volume inspect", request, VOLUME).await
    }

    pub async fn remove_volume(&mut self, name: &str) -> Result<()> {
        let request = Request::RemoveVolume {
            name: name.to_string(),
        };
        self.done("volume rm", request).await
    }

    pub async fn prune_volumes(&mut self, all: bool) -> Result<Vec<String>> {
        self.call(
            "volume prune",
            Request::PruneVolumes { all },
            expect!(Response::VolumesPruned { removed } => removed),
        )
        .await
    }

    /// Asks the agent to sync and power the machine off.
    pub async fn shutdown(&mut self) -> Result<()> {
        self.done("shutdown", Request::Shutdown).await
    }
}

const VOLUME: Expect<VolumeInfo> = expect!(Response::Volume(volume) => volume);
const EXEC_CREATED: Expect<u64> = expect!(Response::ExecCreated { exec_id } => exec_id);
const STARTED: Expect<u32> = expect!(Response::Started { pid } => pid);
const EXITED: Expect<ExitStatus> = expect!(Response::Exited(status) => status);

/// The agent's container events, as [`AgentClient::events`] subscribed.
pub struct EventStream {
    client: AgentClient,
    id: u64,
}

impl EventStream {
    pub async fn next(&mut self) -> Result<ContainerEvent> {
        match self.client.reply_to(self.id).await? {
            Response::Event(event) => Ok(event),
            other => Err(AgentError::UnexpectedReply {
                request: "events",
                reply: format!("{other:?}"),
            }),
        }
    }
}
