//! Attaching our stdio to a process in a machine (a command, a
//! container's first process, or an exec in a container): its streams,
//! our terminal in raw mode and its window size when it has a terminal,
//! and the exit status docker would give.

use crate::agent::{attach_stream, AgentClient, AgentFailure};
use crate::terminal;
use anyhow::{bail, Result};
use protocol::{ErrorKind, ExecSpec, Request, Response, StdioStream};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::task::JoinHandle;

/// Docker's exit statuses for a command that cannot run.
pub const EXIT_NOT_FOUND: i32 = 127;
pub const EXIT_NOT_EXECUTABLE: i32 = 126;

#[derive(Clone, Copy)]
pub struct Mode {
    /// Our stdin goes to the process.
    pub stdin: bool,
    /// The process has a terminal in the machine.
    pub tty: bool,
}

/// A running, attached process.
struct Session {
    output: Vec<JoinHandle<()>>,
    resizer: Option<JoinHandle<()>>,
    /// Restores our terminal when the session ends.
    _raw: Option<terminal::SavedMode>,
}

enum Begun {
    Running(Session),
    /// It could not be run; docker's status for that (127/126).
    CannotRun(i32),
}

/// A start that failed because the command cannot be run is docker's
/// 127 or 126 (with the reason printed), not hutch failing.
pub fn cannot_run(e: anyhow::Error) -> Result<i32> {
    let Some(AgentFailure(agent)) = e.downcast_ref::<AgentFailure>() else {
        return Err(e);
    };
    let code = match agent.kind {
        ErrorKind::NotFound => EXIT_NOT_FOUND,
        ErrorKind::NotExecutable => EXIT_NOT_EXECUTABLE,
        _ => return Err(e),
    };
    eprintln!("hutch: {}", agent.message);
    Ok(code)
}

async fn pump<R, W>(mut from: R, mut to: W)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let _ = tokio::io::copy(&mut from, &mut to).await;
    let _ = to.flush().await;
}

/// Refuses `-t` with `-i` when our stdin is not a terminal, as docker does.
pub fn check_terminal(mode: Mode) -> Result<()> {
    if mode.tty && mode.stdin && !std::io::stdin().is_terminal() {
        bail!("the input device is not a TTY; drop -t, or run from a terminal");
    }
    Ok(())
}

/// Attaches the streams of `exec_id`, starts it and relays its stdio.
async fn attach_and_start(
    client: &mut AgentClient,
    uds: &Path,
    exec_id: u64,
    mode: Mode,
) -> Result<Begun> {
    let stdout = attach_stream(uds, exec_id, StdioStream::Stdout).await?;
    let stderr = attach_stream(uds, exec_id, StdioStream::Stderr).await?;
    let stdin = if mode.stdin {
        Some(attach_stream(uds, exec_id, StdioStream::Stdin).await?)
    } else {
        None
    };
    if let Err(e) = client.request(Request::Start { exec_id }).await {
        return cannot_run(e).map(Begun::CannotRun);
    }
    // Raw only with a terminal on both ends: then keys (Ctrl-C too) are
    // the container terminal's to interpret.
    let raw = if mode.tty && mode.stdin && std::io::stdin().is_terminal() {
        terminal::raw_mode(0).ok()
    } else {
        None
    };
    let resizer = mode
        .tty
        .then(|| tokio::spawn(follow_window_size(uds.to_path_buf(), exec_id)));
    if let Some(stream) = stdin {
        // EOF on our stdin (Ctrl-D without a terminal) half-closes the
        // stream: the process sees EOF.
        tokio::spawn(async move {
            let (_, mut write) = stream.into_split();
            let _ = tokio::io::copy(&mut tokio::io::stdin(), &mut write).await;
            let _ = write.shutdown().await;
        });
    }
    let output = vec![
        tokio::spawn(pump(stdout, tokio::io::stdout())),
        tokio::spawn(pump(stderr, tokio::io::stderr())),
    ];
    Ok(Begun::Running(Session {
        output,
        resizer,
        _raw: raw,
    }))
}

impl Session {
    /// Waits until all output is delivered, then gives our terminal back.
    pub async fn finish(self) {
        for task in self.output {
            let _ = task.await;
        }
        if let Some(task) = self.resizer {
            task.abort();
        }
    }
}

/// Sends our window size now and whenever it changes (SIGWINCH), on a
/// connection of its own: the main one is busy waiting for the exit.
async fn follow_window_size(uds: PathBuf, exec_id: u64) {
    let Ok(mut client) = AgentClient::connect(&uds).await else {
        return;
    };
    let Ok(mut changes) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
    else {
        return;
    };
    loop {
        if let Some((rows, cols)) = terminal::window_size(1).or_else(|| terminal::window_size(0)) {
            let _ = client
                .request(Request::Resize {
                    exec_id,
                    rows,
                    cols,
                })
                .await;
        }
        if changes.recv().await.is_none() {
            return;
        }
    }
}

/// Passes SIGINT and SIGTERM sent to us on to the container.
async fn forward_signals(uds: PathBuf, container: String) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) else {
        return;
    };
    let Ok(mut client) = AgentClient::connect(&uds).await else {
        return;
    };
    loop {
        let signal = tokio::select! {
            _ = int.recv() => libc::SIGINT,
            _ = term.recv() => libc::SIGTERM,
        };
        let request = Request::KillContainer {
            container: container.clone(),
            signal,
        };
        let _ = client.request(request).await;
    }
}

/// Attaches, starts and waits for `exec_id`; returns docker's status.
/// For a container's first process (`container`), SIGINT/SIGTERM sent to
/// us go on to it unless it has a terminal (then Ctrl-C travels as a key).
pub async fn run_to_exit(
    client: &mut AgentClient,
    uds: &Path,
    exec_id: u64,
    mode: Mode,
    container: Option<&str>,
) -> Result<i32> {
    let session = match attach_and_start(client, uds, exec_id, mode).await? {
        Begun::Running(session) => session,
        Begun::CannotRun(code) => return Ok(code),
    };
    let forwarder = container
        .filter(|_| !mode.tty)
        .map(|c| tokio::spawn(forward_signals(uds.to_path_buf(), c.to_string())));
    let waited = client.request(Request::Wait { exec_id }).await;
    session.finish().await;
    if let Some(task) = forwarder {
        task.abort();
    }
    let Response::Exited(status) = waited? else {
        bail!("unexpected reply to wait");
    };
    Ok(status.shell_code())
}

/// Runs `spec` (a command in the machine or in a running container) with
/// our stdio attached as it asks; returns docker's status.
pub async fn exec(client: &mut AgentClient, uds: &Path, spec: ExecSpec) -> Result<i32> {
    let mode = Mode {
        stdin: spec.stdin,
        tty: spec.tty,
    };
    let Response::ExecCreated { exec_id } = client.request(Request::Exec(spec)).await? else {
        bail!("unexpected reply to exec");
    };
    run_to_exit(client, uds, exec_id, mode, None).await
}
