//! `hutch logs`: what a container wrote, from the log the machine keeps,
//! running or exited, attached or not.

use crate::image::time::format_rfc3339_ms;
use anyhow::{bail, Result};
use protocol::{LogEntry, Request, Response, StdioStream};
use std::io::Write;

pub struct LogsOptions {
    pub container: String,
    pub follow: bool,
    /// Only the last N lines.
    pub tail: Option<u64>,
    pub timestamps: bool,
    pub machine: String,
}

pub async fn logs(o: LogsOptions) -> Result<()> {
    let (_, mut client) = crate::machine::connect_running(&o.machine).await?;
    let (mut offset, mut tail) = (0, o.tail);
    loop {
        let request = Request::ContainerLogs {
            container: o.container.clone(),
            offset,
            tail: tail.take(),
            follow: o.follow,
        };
        let Response::Logs {
            entries,
            offset: next,
            more,
        } = client.request(request).await?
        else {
            bail!("unexpected reply to logs");
        };
        show(&entries, o.timestamps)?;
        offset = next;
        if !more {
            return Ok(());
        }
    }
}

fn show(entries: &[LogEntry], timestamps: bool) -> Result<()> {
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
    err.flush()?;
    Ok(())
}
