//! `logs`: reading back what a container wrote, from its log file.

use super::record::storage;
use super::{log, Container};
use protocol::{AgentError, ContainerState, LogEntry};
use std::time::{Duration, Instant};

/// Most log bytes one `ContainerLogs` answer carries (frames are capped at
/// 1 MiB, and JSON escaping can grow text).
const LOG_CHUNK: usize = 128 * 1024;
/// How long a following `ContainerLogs` waits for new output before
/// answering with none.
const FOLLOW_WAIT: Duration = Duration::from_secs(2);

impl Container {
    /// Log entries from `offset` (or the last `tail`); see `ContainerLogs`.
    pub fn logs(
        &self,
        offset: u64,
        tail: Option<u64>,
        follow: bool,
    ) -> Result<(Vec<LogEntry>, u64, bool), AgentError> {
        let path = self.dir.join("container.log");
        let deadline = Instant::now() + FOLLOW_WAIT;
        let (mut offset, mut tail) = (offset, tail);
        loop {
            let running = self.info().state == ContainerState::Running;
            let chunk = log::read(&path, offset, tail, LOG_CHUNK)
                .map_err(|e| storage("reading the container's log", e))?;
            let following = follow && running;
            if !chunk.entries.is_empty() || !following || Instant::now() >= deadline {
                let more = chunk.truncated || following;
                return Ok((chunk.entries, chunk.offset, more));
            }
            (offset, tail) = (chunk.offset, None);
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
