//! The vsock servers: control requests (port 1024), stdio stream
//! attachment (port 1025), layer uploads (port 1026) and published ports'
//! connections (port 1027), copies in and out of containers (port 1029).
//! Each connection
//! and each blocking request runs on its own thread, and a panic there is
//! caught and answered as an error, so one bad request never takes the
//! agent down.

use crate::container::Containers;
use crate::events::Events;
use crate::exec::ProcessTable;
use crate::layers::LayerCache;
use crate::network::Networks;
use crate::sys::console::log;
use crate::sys::vsock::{VsockListener, VsockStream};
use crate::{info, init};
use protocol::{
    encode_frame, read_frame, write_frame, AgentError, Envelope, ErrorKind, FrameError,
    LayerUpload, PortForward, Request, Response, StreamAttach, PROTOCOL_VERSION,
};
use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

type Writer = Arc<Mutex<VsockStream>>;

/// How the agent names itself in the handshake.
fn agent_name() -> String {
    format!("hutch-agent {}", env!("CARGO_PKG_VERSION"))
}

/// What control requests act on.
#[derive(Clone)]
pub struct Services {
    pub processes: Arc<ProcessTable>,
    pub cache: Arc<LayerCache>,
    pub containers: Arc<Containers>,
    pub networks: Arc<Networks>,
    pub events: Arc<Events>,
}

/// Accepts connections forever, each handled on its own thread.
fn accept_loop(
    listener: VsockListener,
    what: &str,
    handle: impl Fn(VsockStream) + Clone + Send + 'static,
) -> ! {
    loop {
        match listener.accept() {
            Ok(conn) => {
                let handle = handle.clone();
                std::thread::spawn(move || handle(conn));
            }
            Err(e) => {
                log(&format!("accept on {what} port: {e}"));
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}

pub fn serve_control(listener: VsockListener, services: Services) -> ! {
    accept_loop(listener, "control", move |conn| {
        handle_control(conn, services.clone())
    })
}

/// Whether the answer went out: a vanished client is not our problem,
/// its requests just end.
fn reply(writer: &Writer, id: u64, body: Response) -> bool {
    // An answer too large for a frame becomes an error the client hears,
    // rather than no answer at all.
    let frame = encode_frame(&Envelope { id, body }).or_else(|e| {
        let body = error(
            ErrorKind::Internal,
            format!("the answer cannot be sent: {e}"),
        );
        encode_frame(&Envelope { id, body })
    });
    let Ok(frame) = frame else {
        return false;
    };
    let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
    w.write_all(&frame).and_then(|()| w.flush()).is_ok()
}

/// `Events`: every container event from now on, answered under the
/// request's id from a thread of its own until the client goes away.
fn subscribe(writer: &Writer, id: u64, events: &Events) {
    let events = events.subscribe();
    reply(writer, id, Response::Subscribed);
    let writer = writer.clone();
    std::thread::spawn(move || {
        for event in events {
            if !reply(&writer, id, Response::Event(event)) {
                return;
            }
        }
    });
}

fn error(kind: ErrorKind, message: impl Into<String>) -> Response {
    Response::Error(AgentError::new(kind, message))
}

/// Runs `work`; a panic in it becomes an internal-error answer instead of
/// taking the agent down.
fn guarded(doing: &str, work: impl FnOnce() -> Response) -> Response {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| {
        error(
            ErrorKind::Internal,
            format!("the agent hit an internal error {doing}"),
        )
    })
}

/// The exec ids made on one connection: when it closes, no client will
/// wait for them (see [`ProcessTable::abandon`]).
struct Made {
    table: Arc<ProcessTable>,
    exec_ids: Arc<Mutex<Vec<u64>>>,
}

impl Made {
    fn note(exec_ids: &Mutex<Vec<u64>>, response: &Response) {
        if let Response::ExecCreated { exec_id } = response {
            exec_ids
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(*exec_id);
        }
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        let exec_ids =
            std::mem::take(&mut *self.exec_ids.lock().unwrap_or_else(|p| p.into_inner()));
        for exec_id in exec_ids {
            self.table.abandon(exec_id);
        }
    }
}

fn handle_control(conn: VsockStream, services: Services) {
    let Ok(writer) = conn.try_clone() else {
        return;
    };
    let writer: Writer = Arc::new(Mutex::new(writer));
    let mut reader = conn;
    let mut greeted = false;
    let made = Made {
        table: services.processes.clone(),
        exec_ids: Arc::default(),
    };
    loop {
        let envelope: Envelope<Request> = match read_frame(&mut reader) {
            Ok(Some(e)) => e,
            Ok(None) => return,
            Err(FrameError::Io(_)) => return,
            Err(e) => {
                // The stream can no longer be trusted to be in sync: say why and close.
                reply(
                    &writer,
                    0,
                    error(ErrorKind::BadRequest, format!("closing connection: {e}")),
                );
                return;
            }
        };
        let id = envelope.id;
        if !greeted {
            match envelope.body {
                Request::Hello { version } if version == PROTOCOL_VERSION => {
                    greeted = true;
                    let agent = agent_name();
                    reply(
                        &writer,
                        id,
                        Response::Hello {
                            version: PROTOCOL_VERSION,
                            agent,
                        },
                    );
                }
                Request::Hello { version } => {
                    let msg = format!("host speaks protocol {version}, agent speaks {PROTOCOL_VERSION}; use a hutch and guest image of the same version");
                    reply(&writer, id, error(ErrorKind::VersionMismatch, msg));
                    return;
                }
                _ => {
                    reply(
                        &writer,
                        id,
                        error(ErrorKind::BadRequest, "the first request must be hello"),
                    );
                    return;
                }
            }
            continue;
        }
        if envelope.body == Request::Events {
            subscribe(&writer, id, &services.events);
            continue;
        }
        if envelope.body == Request::Shutdown {
            reply(&writer, id, Response::Done);
            log("powering off");
            init::power_off();
        }
        // Requests that may block (start waits for streams, wait for exit,
        // mounts and prunes touch the disk) get their own thread so the
        // connection keeps serving.
        let blocking = matches!(
            envelope.body,
            Request::Start { .. }
                | Request::Wait { .. }
                | Request::MountImage { .. }
                | Request::PruneLayers { .. }
                | Request::RemoveContainer { .. }
                | Request::StartContainer { .. }
                | Request::WaitContainer { .. }
                | Request::StopContainer { .. }
                | Request::ContainerLogs { .. }
                | Request::ConnectNetwork { .. }
                | Request::DisconnectNetwork { .. }
                | Request::RemoveVolume { .. }
                | Request::PruneVolumes { .. }
        );
        let (services, writer) = (services.clone(), writer.clone());
        let exec_ids = made.exec_ids.clone();
        let run = move || {
            let response = guarded("handling this request", || {
                handle_request(envelope.body, &services)
            });
            Made::note(&exec_ids, &response);
            reply(&writer, id, response);
        };
        if blocking {
            std::thread::spawn(run);
        } else {
            run();
        }
    }
}

fn handle_request(request: Request, services: &Services) -> Response {
    let (table, cache, containers) = (&services.processes, &services.cache, &services.containers);
    let result = match request {
        Request::Hello { .. } => Ok(Response::Hello {
            version: PROTOCOL_VERSION,
            agent: agent_name(),
        }),
        Request::Ping => Ok(Response::Pong),
        Request::Info => Ok(Response::Info(info::guest_info())),
        Request::Exec(spec) => match &spec.container {
            Some(key) => containers
                .find(key)
                .and_then(|c| table.create_in_container(c, spec)),
            None => table.create(spec),
        }
        .map(|exec_id| Response::ExecCreated { exec_id }),
        Request::Start { exec_id } => table.start(exec_id).map(|pid| Response::Started { pid }),
        Request::Wait { exec_id } => table.wait(exec_id).map(Response::Exited),
        Request::Signal { exec_id, signal } => {
            table.signal(exec_id, signal).map(|_| Response::Done)
        }
        Request::LayerStatus { diff_ids } => cache
            .present(&diff_ids)
            .map(|present| Response::Layers { present }),
        Request::MountImage { image_id, diff_ids } => cache
            .mount(&image_id, &diff_ids)
            .map(|path| Response::Mounted { path }),
        Request::UnmountImage { image_id } => cache.unmount(&image_id).map(|()| Response::Done),
        Request::PruneLayers { keep } => cache
            .prune(&keep)
            .map(|removed| Response::Pruned { removed }),
        Request::DiskUsage => cache.usage().map(Response::DiskUsage),
        Request::Resize {
            exec_id,
            rows,
            cols,
        } => table.resize(exec_id, rows, cols).map(|()| Response::Done),
        Request::CreateContainer(create) => containers
            .create(create)
            .map(|c| Response::ContainerCreated { id: c.id() }),
        Request::StartContainer {
            container,
            attach,
            published,
        } => {
            containers.find(&container).and_then(|c| {
                let info = c.info();
                if let (Some(pid), false) = (info.pid, attach) {
                    // docker: starting a running container is no error.
                    return Ok(Response::Started { pid });
                }
                c.publish_next_run(published);
                let exec_id = table.create_for_container(c, attach);
                if attach {
                    Ok(Response::ExecCreated { exec_id })
                } else {
                    table.start(exec_id).map(|pid| Response::Started { pid })
                }
            })
        }
        Request::AttachContainer { container, stdin } => containers
            .find(&container)
            .and_then(|c| table.create_attach(c, stdin))
            .map(|exec_id| Response::ExecCreated { exec_id }),
        Request::WaitContainer { container } => containers.find(&container).map(|c| {
            let code = c.wait_exit(None).unwrap_or_default();
            Response::Exited(protocol::ExitStatus::Code(code))
        }),
        Request::PauseContainer { container } => containers
            .find(&container)
            .and_then(|c| c.set_paused(true))
            .map(|()| Response::Done),
        Request::UnpauseContainer { container } => containers
            .find(&container)
            .and_then(|c| c.set_paused(false))
            .map(|()| Response::Done),
        Request::RenameContainer { container, name } => containers
            .rename(&container, &name)
            .map(|()| Response::Done),
        Request::KillContainer { container, signal } => containers
            .find(&container)
            .and_then(|c| c.kill(signal))
            .map(|()| Response::Done),
        Request::StopContainer {
            container,
            timeout_s,
        } => containers
            .find(&container)
            .and_then(|c| c.stop(std::time::Duration::from_secs(timeout_s.into())))
            .map(|()| Response::Done),
        Request::ContainerLogs {
            container,
            offset,
            tail,
            follow,
        } => containers
            .find(&container)
            .and_then(|c| c.logs(offset, tail, follow))
            .map(|(entries, offset, more)| Response::Logs {
                entries,
                offset,
                more,
            }),
        Request::InspectContainer { container } => containers
            .find(&container)
            .map(|c| Response::ContainerDetails(Box::new(c.details()))),
        Request::ContainerTop { container } => containers
            .find(&container)
            .and_then(|c| c.processes())
            .map(Response::Processes),
        Request::ContainerStats { container } => containers
            .find(&container)
            .and_then(|c| c.usage())
            .map(|u| Response::Usage(Box::new(u))),
        Request::ListContainers => Ok(Response::Containers(containers.list())),
        Request::RemoveContainer {
            container,
            force,
            volumes,
        } => containers
            .remove(&container, force, volumes)
            .map(|()| Response::Done),
        Request::CreateVolume(create) => containers.create_volume(create).map(Response::Volume),
        Request::ListVolumes => Ok(Response::Volumes(containers.list_volumes())),
        Request::InspectVolume { name } => containers.inspect_volume(&name).map(Response::Volume),
        Request::RemoveVolume { name } => containers.remove_volume(&name).map(|()| Response::Done),
        Request::PruneVolumes { all } => Ok(Response::VolumesPruned {
            removed: containers.prune_volumes(all),
        }),
        Request::CreateNetwork(create) => services.networks.create(create).map(Response::Network),
        Request::ListNetworks => Ok(Response::Networks(services.networks.list())),
        Request::InspectNetwork { network } => {
            services.networks.inspect(&network).map(Response::Network)
        }
        Request::RemoveNetwork { network } => {
            services.networks.remove(&network).map(|_| Response::Done)
        }
        Request::ConnectNetwork {
            network,
            container,
            aliases,
        } => containers
            .find(&container)
            .and_then(|c| c.connect(&network, aliases))
            .map(|()| Response::Done),
        Request::DisconnectNetwork { network, container } => containers
            .find(&container)
            .and_then(|c| c.disconnect(&network))
            .map(|()| Response::Done),
        Request::Shutdown | Request::Events => Err(AgentError::new(
            ErrorKind::Internal,
            "this request is handled by the connection",
        )),
    };
    result.unwrap_or_else(Response::Error)
}

pub fn serve_streams(listener: VsockListener, table: Arc<ProcessTable>) -> ! {
    accept_loop(listener, "stream", move |mut conn| {
        // A malformed or unknown attachment just closes the stream; the
        // host learns of it when Start times out or fails.
        if let Ok(Some(StreamAttach { exec_id, stream })) = read_frame(&mut conn) {
            if let Err(e) = table.attach(exec_id, stream, conn) {
                log(&format!("stream attach: {}", e.message));
            }
        }
    })
}

/// Layer uploads: a [`LayerUpload`] frame, the blob, then one response
/// frame from us.
pub fn serve_uploads(listener: VsockListener, cache: Arc<LayerCache>) -> ! {
    accept_loop(listener, "layer", move |mut conn| {
        let response = match read_frame::<LayerUpload, _>(&mut conn) {
            Ok(Some(upload)) => guarded("unpacking this layer", || {
                cache
                    .receive(&upload, &mut conn)
                    .map(|unpacked_bytes| Response::LayerStored {
                        diff_id: upload.diff_id.clone(),
                        unpacked_bytes,
                    })
                    .unwrap_or_else(Response::Error)
            }),
            Ok(None) => return,
            Err(e) => error(
                ErrorKind::BadRequest,
                format!("bad layer upload header: {e}"),
            ),
        };
        let _ = write_frame(
            &mut conn,
            &Envelope {
                id: 0,
                body: response,
            },
        );
    })
}

/// Published ports' connections: a [`PortForward`] frame, our answer,
/// then the relayed bytes (see forward.rs).
pub fn serve_forwards(listener: VsockListener, containers: Arc<Containers>) -> ! {
    accept_loop(listener, "forward", move |mut conn| {
        if let Ok(Some(request)) = read_frame::<PortForward, _>(&mut conn) {
            crate::forward::forward(request, conn, &containers);
        }
    })
}

/// Copies into and out of containers, as protocol::archive describes.
pub fn serve_archives(listener: VsockListener, containers: Arc<Containers>) -> ! {
    accept_loop(listener, "archive", move |conn| {
        crate::container::serve_archive(conn, &containers)
    })
}
