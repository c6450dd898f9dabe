//! `hutch logs`: what a container wrote, as its log in the machine keeps it.

use super::MachineArg;
use engine::container::{LogEntry, StdioStream};
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
