//! Talking to a machine's agent through the hybrid vsock socket.

use anyhow::{anyhow, bail, Context, Result};
use protocol::{
    read_frame_async, write_frame_async, AgentError, Envelope, Request, Response, StdioStream,
    StreamAttach, AGENT_PORT, PROTOCOL_VERSION, STREAM_PORT,
};
use std::path::Path;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Opens a stream to guest `port`: `CONNECT <port>\n`, then `OK <n>\n`.
pub async fn connect_port(uds: &Path, port: u32) -> Result<UnixStream> {
    let mut stream = UnixStream::connect(uds)
        .await
        .with_context(|| format!("cannot reach the machine's vsock socket {}", uds.display()))?;
    stream
        .write_all(format!("CONNECT {port}\n").as_bytes())
        .await?;
    // Read the reply a byte at a time: nothing after the newline is ours.
    let mut line = Vec::new();
    loop {
        let b = stream
            .read_u8()
            .await
            .map_err(|_| anyhow!("the guest refused vsock port {port} (is the agent running?)"))?;
        if b == b'\n' {
            break;
        }
        if line.len() > 64 {
            bail!("garbled reply from the vsock socket");
        }
        line.push(b);
    }
    if !line.starts_with(b"OK ") {
        bail!(
            "vsock connect to port {port} failed: {}",
            String::from_utf8_lossy(&line)
        );
    }
    Ok(stream)
}

/// An error the agent reported, kept typed so callers can map exit codes.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.message)]
pub struct AgentFailure(pub AgentError);

pub struct AgentClient {
    stream: UnixStream,
    next_id: u64,
}

impl AgentClient {
    /// Connects to the control port and performs the version handshake.
    pub async fn connect(uds: &Path) -> Result<Self> {
        let stream = connect_port(uds, AGENT_PORT).await?;
        let mut client = AgentClient { stream, next_id: 0 };
        match client
            .request(Request::Hello {
                version: PROTOCOL_VERSION,
            })
            .await?
        {
            Response::Hello { .. } => Ok(client),
            other => bail!("unexpected handshake reply from the agent: {other:?}"),
        }
    }

    /// Sends one request and waits for its response. Agent errors come back
    /// as [`AgentFailure`].
    pub async fn request(&mut self, body: Request) -> Result<Response> {
        self.next_id += 1;
        let id = self.next_id;
        write_frame_async(&mut self.stream, &Envelope { id, body })
            .await
            .context("sending to the agent")?;
        loop {
            let reply: Envelope<Response> = read_frame_async(&mut self.stream)
                .await
                .context("reading from the agent")?
                .ok_or_else(|| anyhow!("the agent closed the connection"))?;
            if reply.id != id {
                continue;
            }
            return match reply.body {
                Response::Error(e) => Err(AgentFailure(e).into()),
                other => Ok(other),
            };
        }
    }
}

/// Opens one stdio stream of process `exec_id`.
pub async fn attach_stream(uds: &Path, exec_id: u64, stream: StdioStream) -> Result<UnixStream> {
    let mut s = connect_port(uds, STREAM_PORT).await?;
    write_frame_async(&mut s, &StreamAttach { exec_id, stream }).await?;
    Ok(s)
}
