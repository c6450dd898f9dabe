//! The monitor's control API: a Unix socket of its own (mode 0600, in the
//! machine's 0700 directory) on which the engine asks a running machine
//! about itself. Frames as on the agent's control port (protocol's
//! framing, requests with ids), versioned by a hello. The engine asks it
//! for the machine's status and to publish or release a container's ports.

use super::super::error::MachineError;
use super::super::state::MachineState;
use super::ports::Publisher;
use protocol::{
    read_frame, read_frame_async, write_frame, write_frame_async, Envelope, PortBinding,
    PublishedPorts,
};
use serde::{Deserialize, Serialize};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Bumped whenever a message changes shape; the hello refuses a mismatch.
pub const CONTROL_VERSION: u32 = 2;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlRequest {
    /// Must come first on a connection.
    Hello { version: u32 },
    /// What the machine runs on, and its devices.
    Status,
    /// Listens on these host ports for the container's next run (all or
    /// none), replacing listeners it still had.
    Publish {
        container: String,
        ports: Vec<PortBinding>,
    },
    /// Closes the container's listeners.
    Unpublish { container: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ControlResponse {
    Hello {
        version: u32,
    },
    Status(MonitorStatus),
    Published(PublishedPorts),
    /// A port could not be published (in use, privileged, no such address).
    PortUnavailable {
        message: String,
    },
    Done,
    Error {
        message: String,
    },
}

/// A running machine as its monitor knows it: its record, and its devices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonitorStatus {
    #[serde(flatten)]
    pub machine: MachineState,
    pub devices: Vec<DeviceStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceStatus {
    pub kind: String,
    /// What it serves (a socket, a file).
    pub detail: String,
}

/// What the control socket acts on.
pub struct Served {
    /// The machine as it is now.
    pub status: Mutex<MonitorStatus>,
    pub ports: Publisher,
}

/// Serves the control socket at `path` on a thread of its own.
pub fn serve(path: &Path, served: Arc<Served>) -> Result<(), MachineError> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(MachineError::io(format!(
        "creating the control socket {}",
        path.display()
    )))?;
    // The directory is already the user's alone; the socket is too.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(MachineError::io("making the control socket private"))?;
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for conn in listener.incoming().flatten() {
                let served = served.clone();
                std::thread::spawn(move || handle(conn, &served));
            }
        })
        .map_err(MachineError::io("starting the control thread"))?;
    Ok(())
}

fn handle(mut conn: UnixStream, served: &Served) {
    let mut greeted = false;
    while let Ok(Some(Envelope { id, body })) = read_frame::<Envelope<ControlRequest>, _>(&mut conn)
    {
        let (reply, keep_going) = answer(body, &mut greeted, served);
        if write_frame(&mut conn, &Envelope { id, body: reply }).is_err() || !keep_going {
            return;
        }
    }
}

/// The answer to one request, and whether the connection goes on.
fn answer(request: ControlRequest, greeted: &mut bool, served: &Served) -> (ControlResponse, bool) {
    match request {
        ControlRequest::Hello { version } if version == CONTROL_VERSION => {
            *greeted = true;
            let version = CONTROL_VERSION;
            (ControlResponse::Hello { version }, true)
        }
        ControlRequest::Hello { version } => {
            let message = format!("the engine speaks control protocol {version}, this monitor {CONTROL_VERSION}; restart the machine with this hutch");
            (ControlResponse::Error { message }, false)
        }
        _ if !*greeted => {
            let message = "the first request must be hello".to_string();
            (ControlResponse::Error { message }, false)
        }
        ControlRequest::Status => {
            let now = served.status.lock().unwrap_or_else(|p| p.into_inner());
            (ControlResponse::Status(now.clone()), true)
        }
        ControlRequest::Publish { container, ports } => {
            let reply = match served.ports.publish(&container, &ports) {
                Ok(published) => ControlResponse::Published(published),
                Err(e) => ControlResponse::PortUnavailable {
                    message: e.to_string(),
                },
            };
            (reply, true)
        }
        ControlRequest::Unpublish { container } => {
            served.ports.unpublish(&container);
            (ControlResponse::Done, true)
        }
    }
}

/// The engine's side of the control socket.
pub struct ControlClient {
    stream: tokio::net::UnixStream,
    next_id: u64,
}

impl ControlClient {
    pub async fn connect(path: &Path) -> Result<ControlClient, MachineError> {
        let stream = tokio::net::UnixStream::connect(path)
            .await
            .map_err(MachineError::io(format!(
                "reaching the machine's monitor at {}",
                path.display()
            )))?;
        let mut client = ControlClient { stream, next_id: 0 };
        let version = CONTROL_VERSION;
        match client.request(ControlRequest::Hello { version }).await? {
            ControlResponse::Hello { .. } => Ok(client),
            other => Err(unexpected(other)),
        }
    }

    async fn request(&mut self, body: ControlRequest) -> Result<ControlResponse, MachineError> {
        self.next_id += 1;
        let id = self.next_id;
        let io = |e: protocol::FrameError| MachineError::Control(e.to_string());
        write_frame_async(&mut self.stream, &Envelope { id, body })
            .await
            .map_err(io)?;
        loop {
            let reply: Envelope<ControlResponse> = read_frame_async(&mut self.stream)
                .await
                .map_err(io)?
                .ok_or_else(|| MachineError::Control("the monitor closed the connection".into()))?;
            if reply.id == id {
                return match reply.body {
                    ControlResponse::Error { message } => Err(MachineError::Control(message)),
                    other => Ok(other),
                };
            }
        }
    }

    pub async fn status(&mut self) -> Result<MonitorStatus, MachineError> {
        match self.request(ControlRequest::Status).await? {
            ControlResponse::Status(status) => Ok(status),
            other => Err(unexpected(other)),
        }
    }

    /// Listens on `ports` for `container`'s next run; the ports bound.
    pub async fn publish(
        &mut self,
        container: &str,
        ports: Vec<PortBinding>,
    ) -> Result<PublishedPorts, MachineError> {
        let container = container.to_string();
        match self
            .request(ControlRequest::Publish { container, ports })
            .await?
        {
            ControlResponse::Published(published) => Ok(published),
            ControlResponse::PortUnavailable { message } => {
                Err(MachineError::PortUnavailable(message))
            }
            other => Err(unexpected(other)),
        }
    }

    pub async fn unpublish(&mut self, container: &str) -> Result<(), MachineError> {
        let container = container.to_string();
        match self
            .request(ControlRequest::Unpublish { container })
            .await?
        {
            ControlResponse::Done => Ok(()),
            other => Err(unexpected(other)),
        }
    }
}

fn unexpected(reply: ControlResponse) -> MachineError {
    MachineError::Control(format!("unexpected reply from the monitor: {reply:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn served() -> Arc<Served> {
        let vsock = std::env::temp_dir().join("hutch-control-test-no-machine.sock");
        Arc::new(Served {
            status: Mutex::new(status()),
            ports: Publisher::new(vsock).unwrap(),
        })
    }

    fn status() -> MonitorStatus {
        MonitorStatus {
            machine: MachineState {
                name: "m".into(),
                backend: "qemu".into(),
                accel: "tcg".into(),
                accel_reason: "test".into(),
                cpus: 2,
                memory_mib: 512,
                monitor_pid: 1,
                vm_pid: 2,
                started_at_ms: 3,
                shares: vec!["/home/u".into()],
            },
            devices: vec![DeviceStatus {
                kind: "vsock".into(),
                detail: "cid 3".into(),
            }],
        }
    }

    #[tokio::test]
    async fn status_over_a_private_socket_after_hello() {
        let dir = std::env::temp_dir().join(format!("hutch-control-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("control.sock");
        serve(&path, served()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let mut client = ControlClient::connect(&path).await.unwrap();
        assert_eq!(client.status().await.unwrap(), status());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn a_request_before_hello_or_another_version_is_refused() {
        let served = served();
        let mut greeted = false;
        let (reply, go_on) = answer(ControlRequest::Status, &mut greeted, &served);
        assert!(matches!(reply, ControlResponse::Error { .. }) && !go_on);
        let (reply, go_on) = answer(ControlRequest::Hello { version: 99 }, &mut greeted, &served);
        assert!(matches!(reply, ControlResponse::Error { message } if message.contains("99")));
        assert!(!go_on && !greeted);
    }
}
