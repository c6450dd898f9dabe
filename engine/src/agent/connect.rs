//! The hybrid vsock socket: a host client connects to the machine's Unix
//! socket, writes `CONNECT <port>\n`, reads `OK <port>\n`, and the stream
//! is then the guest's port.

use super::error::AgentError;
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Longest reply line the socket sends (`OK 4294967295`, with room).
const MAX_REPLY: usize = 64;

/// Opens a stream to guest `port` through the hybrid socket `uds`.
pub async fn connect_port(uds: &Path, port: u32) -> Result<UnixStream, AgentError> {
    let mut stream = UnixStream::connect(uds)
        .await
        .map_err(|source| AgentError::Unreachable {
            path: uds.to_path_buf(),
            source,
        })?;
    stream
        .write_all(format!("CONNECT {port}\n").as_bytes())
        .await
        .map_err(|source| AgentError::Io {
            what: format!("asking for vsock port {port}"),
            source,
        })?;
    // Read the reply a byte at a time: nothing after the newline is ours.
    let mut line = Vec::new();
    loop {
        let b = stream
            .read_u8()
            .await
            .map_err(|_| AgentError::PortRefused { port })?;
        if b == b'\n' {
            break;
        }
        if line.len() > MAX_REPLY {
            return Err(AgentError::ConnectFailed {
                port,
                reply: "a garbled reply".into(),
            });
        }
        line.push(b);
    }
    if !line.starts_with(b"OK ") {
        return Err(AgentError::ConnectFailed {
            port,
            reply: String::from_utf8_lossy(&line).into_owned(),
        });
    }
    Ok(stream)
}
