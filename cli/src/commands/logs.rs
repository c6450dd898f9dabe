//! `hutch logs`, and `hutch attach` to a running container (its output
//! from then on, as its log records it).

use super::MachineArg;
use crate::attach::TerminationSignals;
use anyhow::bail;
use engine::container::{ContainerState, LogEntry, StdioStream};
use engine::time::format_rfc3339_ms;
use engine::Engine;
use std::io::Write;

#[derive(clap::Args)]
pub struct LogsArgs {
    /// Keep following new output while the container runs
    #[arg(short, long)]
    follow: bool,
    /// Only the last N lines
    #[arg(short = 'n', long)]
    tail: Option<u64>,
    /// Prefix each line with when it was written
    #[arg(short, long)]
    timestamps: bool,
    container: String,
    #[command(flatten)]
    machine: MachineArg,
}

pub async fn run(engine: &Engine, a: LogsArgs) -> anyhow::Result<i32> {
    let mut reader = engine
        .container_logs(&a.machine.machine, &a.container, a.tail, a.follow)
        .await?;
    while let Some(entries) = reader.next().await? {
        show(&entries, a.timestamps)?;
    }
    Ok(0)
}

#[derive(clap::Args)]
pub struct AttachArgs {
    /// Pass SIGINT and SIGTERM on to the container (without a terminal)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    sig_proxy: bool,
    container: String,
    #[command(flatten)]
    machine: MachineArg,
}

/// `hutch attach CONTAINER`: its output until it exits, then its status.
/// (Its stdin is a pipe only an attached start has: there is none to join.)
pub async fn attach(engine: &Engine, a: AttachArgs) -> anyhow::Result<i32> {
    let machine = a.machine.machine.clone();
    let details = engine.inspect_container(&machine, &a.container).await?;
    if details.info.state != ContainerState::Running {
        bail!(
            "container {} is not running: start it first (hutch start -a attaches as it starts)",
            details.info.name
        );
    }
    let id = details.info.id;
    // Waiting from before the output ends: a --rm container is gone after.
    let exit = {
        let (engine, machine, id) = (engine.clone(), machine.clone(), id.clone());
        tokio::spawn(async move { engine.wait_container(&machine, &id).await })
    };
    let signals = (a.sig_proxy && !details.tty)
        .then(TerminationSignals::listen)
        .flatten();
    let forwarder =
        signals.map(|s| tokio::spawn(s.forward(engine.clone(), machine.clone(), id.clone())));
    let mut reader = engine.container_logs(&machine, &id, Some(0), true).await?;
    while let Some(entries) = reader.next().await? {
        show(&entries, false)?;
    }
    let status = exit.await??;
    if let Some(task) = forwarder {
        task.abort();
    }
    Ok(status.shell_code())
}

/// Each entry on the stream it was written to, as docker shows them.
fn show(entries: &[LogEntry], timestamps: bool) -> std::io::Result<()> {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    for entry in entries {
        let to: &mut dyn Write = match entry.stream {
            StdioStream::Stderr => &mut err,
            _ => &mut out,
        };
        if timestamps {
            write!(to, "{} ", format_rfc3339_ms(entry.time_ms))?;
        }
        to.write_all(entry.log.as_bytes())?;
    }
    out.flush()?;
    err.flush()
}
