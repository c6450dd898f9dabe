//! Attaching our stdio to a process in a machine (a command, a
//! container's first process, or an exec in a container): its streams,
//! our terminal in raw mode and its window size when it has a terminal,
//! and the exit status docker would give.

use crate::{exit, terminal};
use anyhow::bail;
use engine::container::{copy_input, DetachKeys, InputEnd, Process, Resizer};
use engine::Engine;
use std::io::IsTerminal;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

#[derive(Clone)]
pub struct Mode {
    /// Our stdin goes to the process.
    pub stdin: bool,
    /// The process has a terminal in the machine.
    pub tty: bool,
    /// Typed into the terminal of a container's first process, these
    /// leave it running and end us (docker's Ctrl-P Ctrl-Q when none are
    /// given).
    pub detach_keys: Option<DetachKeys>,
}

/// Refuses `-t` with `-i` when our stdin is not a terminal, as docker does.
pub fn check_terminal(mode: &Mode) -> anyhow::Result<()> {
    if mode.tty && mode.stdin && !std::io::stdin().is_terminal() {
        bail!("the input device is not a TTY; drop -t, or run from a terminal");
    }
    Ok(())
}

async fn pump<R, W>(mut from: R, mut to: W)
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let _ = tokio::io::copy(&mut from, &mut to).await;
    let _ = to.flush().await;
}

/// A container whose first process this is: SIGINT and SIGTERM sent to us
/// go on to it (unless it has a terminal: then Ctrl-C travels as a key).
pub type Forward<'a> = Option<(&'a Engine, &'a str, &'a str)>;

/// Starts `process` with our stdio relayed, waits for it and returns
/// docker's status: its own, 127/126 when it cannot run; 0 when we
/// detached and it runs on.
pub async fn run_to_exit(
    mut process: Process,
    mode: Mode,
    forward: Forward<'_>,
) -> anyhow::Result<i32> {
    // Listening before the start: a signal the moment the container
    // prints must reach it, not end us.
    let signals = forward
        .filter(|_| !mode.tty)
        .and_then(|target| Some((target, TerminationSignals::listen()?)));
    if let Err(e) = process.start().await {
        return Ok(exit::cannot_run(e)?);
    }
    // Raw only with a terminal on both ends: then keys (Ctrl-C too) are
    // the container terminal's to interpret.
    let raw = match mode.tty && mode.stdin && std::io::stdin().is_terminal() {
        true => terminal::raw_mode(0).ok(),
        false => None,
    };
    let resizer = match mode.tty {
        true => Some(tokio::spawn(follow_window_size(process.resizer().await?))),
        false => None,
    };
    let detached = Arc::new(Notify::new());
    if let Some(stream) = process.stdin.take() {
        // Detach keys only where leaving cannot hurt the process (a
        // container's console goes on without us), with a terminal as
        // docker has them. EOF on our stdin (Ctrl-D without a terminal)
        // half-closes the stream: the process sees EOF.
        let keys = (mode.tty && process.relayed_in_machine())
            .then(|| mode.detach_keys.clone().unwrap_or_default());
        let detached = detached.clone();
        tokio::spawn(async move {
            let (_, write) = stream.into_split();
            if copy_input(tokio::io::stdin(), write, keys.as_ref()).await == InputEnd::Detached {
                detached.notify_one();
            }
        });
    }
    let mut output = Vec::new();
    if let Some(stdout) = process.stdout.take() {
        output.push(tokio::spawn(pump(stdout, tokio::io::stdout())));
    }
    if let Some(stderr) = process.stderr.take() {
        output.push(tokio::spawn(pump(stderr, tokio::io::stderr())));
    }
    let forwarder = signals.map(|((engine, machine, container), signals)| {
        tokio::spawn(signals.forward(engine.clone(), machine.to_string(), container.to_string()))
    });
    let waited = tokio::select! {
        waited = process.wait() => Some(waited),
        () = detached.notified() => None,
    };
    for task in [resizer, forwarder].into_iter().flatten() {
        task.abort();
    }
    let Some(waited) = waited else {
        for task in output {
            task.abort();
        }
        return Ok(0);
    };
    // All output is delivered before our terminal is given back.
    for task in output {
        let _ = task.await;
    }
    drop(raw);
    Ok(waited?.shell_code())
}

/// Sends our window size now and whenever it changes (SIGWINCH).
async fn follow_window_size(mut resizer: Resizer) {
    let Ok(mut changes) =
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::window_change())
    else {
        return;
    };
    loop {
        if let Some((rows, cols)) = terminal::window_size(1).or_else(|| terminal::window_size(0)) {
            let _ = resizer.resize(rows, cols).await;
        }
        if changes.recv().await.is_none() {
            return;
        }
    }
}

/// SIGINT and SIGTERM, caught (rather than ending us) from `listen` on.
pub struct TerminationSignals {
    int: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
}

impl TerminationSignals {
    pub fn listen() -> Option<TerminationSignals> {
        use tokio::signal::unix::{signal, SignalKind};
        Some(TerminationSignals {
            int: signal(SignalKind::interrupt()).ok()?,
            term: signal(SignalKind::terminate()).ok()?,
        })
    }

    /// Passes each one on to the container.
    pub async fn forward(mut self, engine: Engine, machine: String, container: String) {
        loop {
            let signal = tokio::select! {
                _ = self.int.recv() => libc::SIGINT,
                _ = self.term.recv() => libc::SIGTERM,
            };
            let _ = engine.kill_container(&machine, &container, signal).await;
        }
    }
}
