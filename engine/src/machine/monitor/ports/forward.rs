//! Opening one forwarded connection to a container through the agent.

use super::Target;
use crate::agent::connect_port;
use protocol::{
    read_frame_async, write_frame_async, Envelope, PortForward, PortProtocol, Response,
    FORWARD_PORT,
};
use tokio::net::UnixStream;

/// A vsock stream connected to `target`'s port in its container, or why
/// the agent could not connect it.
pub async fn open(target: &Target, protocol: PortProtocol) -> Result<UnixStream, String> {
    let mut stream = connect_port(&target.vsock, FORWARD_PORT)
        .await
        .map_err(|e| e.to_string())?;
    let request = PortForward {
        container: target.container.to_string(),
        port: target.port,
        protocol,
    };
    write_frame_async(&mut stream, &request)
        .await
        .map_err(|e| e.to_string())?;
    let answer: Option<Envelope<Response>> = read_frame_async(&mut stream)
        .await
        .map_err(|e| e.to_string())?;
    match answer.map(|a| a.body) {
        Some(Response::Done) => Ok(stream),
        Some(Response::Error(e)) => Err(e.message),
        other => Err(format!("unexpected answer from the agent: {other:?}")),
    }
}
