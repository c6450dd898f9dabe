//! `logs`: what a container wrote, from the log the machine keeps, running
//! or exited, attached or not; read in chunks, following while it runs.

use crate::agent::AgentClient;
use crate::{Engine, Result};
use protocol::LogEntry;

/// Reads a container's log chunk by chunk.
pub struct LogReader {
    client: AgentClient,
    container: String,
    offset: u64,
    tail: Option<u64>,
    follow: bool,
    done: bool,
}

impl LogReader {
    /// The next entries; `None` once the log is read (and, when following,
    /// the container stopped).
    pub async fn next(&mut self) -> Result<Option<Vec<LogEntry>>> {
        if self.done {
            return Ok(None);
        }
        let (entries, offset, more) = self
            .client
            .container_logs(&self.container, self.offset, self.tail.take(), self.follow)
            .await?;
        self.offset = offset;
        self.done = !more;
        Ok(Some(entries))
    }
}

impl Engine {
    /// A reader of `container`'s log: its last `tail` lines, or all; with
    /// `follow`, new output until it stops.
    pub async fn container_logs(
        &self,
        machine: &str,
        container: &str,
        tail: Option<u64>,
        follow: bool,
    ) -> Result<LogReader> {
        Ok(LogReader {
            client: self.connect_running(machine).await?,
            container: container.to_string(),
            offset: 0,
            tail,
            follow,
            done: false,
        })
    }
}
