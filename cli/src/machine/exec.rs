//! `hutch machine exec`: run a command in the guest (not in a container),
//! streaming its stdio, and exit with its status.

use crate::agent::{attach_stream, AgentClient, AgentFailure};
use anyhow::{bail, Result};
use protocol::{ErrorKind, ExecSpec, Request, Response, StdioStream};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

pub struct ExecOptions {
    pub name: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
    pub interactive: bool,
}

/// Docker's exit statuses for a command that cannot run.
pub const EXIT_NOT_FOUND: i32 = 127;
pub const EXIT_NOT_EXECUTABLE: i32 = 126;

async fn pump<R, W>(mut from: R, mut to: W) -> std::io::Result<u64>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let n = tokio::io::copy(&mut from, &mut to).await?;
    to.flush().await?;
    Ok(n)
}

/// Runs the command; returns the exit status hutch should exit with.
pub async fn exec(opts: ExecOptions) -> Result<i32> {
    let (paths, mut client) = super::connect_running(&opts.name).await?;
    let spec = ExecSpec {
        args: opts.args,
        env: opts.env,
        cwd: opts.workdir,
        stdin: opts.interactive,
    };
    let Response::ExecCreated { exec_id } = client.request(Request::Exec(spec)).await? else {
        bail!("unexpected reply to exec");
    };
    attach_start_wait(&mut client, &paths.vsock(), exec_id, opts.interactive).await
}

/// Attaches our stdio to `exec_id` (a command or a container's first
/// process), starts it, streams until it exits; returns docker's status:
/// the process's own, 127/126 when it cannot be run.
pub async fn attach_start_wait(
    client: &mut AgentClient,
    uds: &std::path::Path,
    exec_id: u64,
    interactive: bool,
) -> Result<i32> {
    let stdout = attach_stream(uds, exec_id, StdioStream::Stdout).await?;
    let stderr = attach_stream(uds, exec_id, StdioStream::Stderr).await?;
    let stdin = if interactive {
        Some(attach_stream(uds, exec_id, StdioStream::Stdin).await?)
    } else {
        None
    };
    if let Err(e) = client.request(Request::Start { exec_id }).await {
        if let Some(AgentFailure(agent)) = e.downcast_ref::<AgentFailure>() {
            let code = match agent.kind {
                ErrorKind::NotFound => EXIT_NOT_FOUND,
                ErrorKind::NotExecutable => EXIT_NOT_EXECUTABLE,
                _ => return Err(e),
            };
            eprintln!("hutch: {}", agent.message);
            return Ok(code);
        }
        return Err(e);
    }
    if let Some(stream) = stdin {
        // Ctrl-D (EOF on our stdin) half-closes the stream: the process sees EOF.
        tokio::spawn(async move {
            let (_, mut write) = stream.into_split();
            let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut write).await;
            let _ = write.shutdown().await;
        });
    }
    let out = tokio::spawn(pump(stdout, tokio::io::stdout()));
    let err = tokio::spawn(pump(stderr, tokio::io::stderr()));
    let Response::Exited(status) = client.request(Request::Wait { exec_id }).await? else {
        bail!("unexpected reply to wait");
    };
    // All output is delivered before we exit.
    let _ = out.await;
    let _ = err.await;
    Ok(status.shell_code())
}
