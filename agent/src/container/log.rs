//! The container's log: everything it writes to stdout and stderr, one
//! JSON [`LogEntry`] per line (like docker's json-file), kept whether or
//! not a client is attached (clients get the raw bytes from the console).

use protocol::{LogEntry, StdioStream};
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// Longest piece of a line kept as one entry.
const MAX_ENTRY: usize = 16 * 1024;

#[derive(Clone)]
pub struct Log {
    file: Arc<Mutex<File>>,
}

impl Log {
    pub fn open(path: &Path) -> std::io::Result<Log> {
        let file = File::options().create(true).append(true).open(path)?;
        Ok(Log {
            file: Arc::new(Mutex::new(file)),
        })
    }

    fn record(&self, stream: StdioStream, line: &[u8]) {
        let entry = LogEntry {
            stream,
            time_ms: super::now_ms(),
            log: String::from_utf8_lossy(line).into_owned(),
        };
        let Ok(mut text) = serde_json::to_string(&entry) else {
            return;
        };
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // A full disk loses log lines, never the container's output.
        let _ = file.write_all(text.as_bytes());
    }

    /// Assembles `stream`'s output into entries of this log.
    pub fn lines(&self, stream: StdioStream) -> Lines {
        Lines {
            log: self.clone(),
            stream,
            line: Vec::new(),
        }
    }
}

/// One stream's output being cut into log entries: at each newline, or
/// every [`MAX_ENTRY`] bytes of a longer line.
pub struct Lines {
    log: Log,
    stream: StdioStream,
    line: Vec<u8>,
}

impl Lines {
    pub fn push(&mut self, bytes: &[u8]) {
        for chunk in bytes.split_inclusive(|b| *b == b'\n') {
            self.line.extend_from_slice(chunk);
            if self.line.ends_with(b"\n") || self.line.len() >= MAX_ENTRY {
                self.log.record(self.stream, &self.line);
                self.line.clear();
            }
        }
    }

    /// Records what is left of an unfinished last line.
    pub fn finish(self) {
        if !self.line.is_empty() {
            self.log.record(self.stream, &self.line);
        }
    }
}

/// Reads `from` until EOF (or EIO: a terminal whose last process closed
/// it), handing each read to `sink`.
pub fn drain(from: OwnedFd, mut sink: impl FnMut(&[u8])) {
    let mut from = File::from(from);
    let mut buf = vec![0; 64 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => sink(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// What one read of a log returned.
pub struct Chunk {
    pub entries: Vec<LogEntry>,
    /// Where the next read continues.
    pub offset: u64,
    /// Whether the read stopped before the end of what is written.
    pub truncated: bool,
}

/// Entries from byte `offset` on, at most about `limit` bytes of them; or,
/// with `tail`, the last `tail` entries. Only whole lines are taken, so a
/// line being written is read next time.
pub fn read(path: &Path, offset: u64, tail: Option<u64>, limit: usize) -> std::io::Result<Chunk> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Chunk {
                entries: Vec::new(),
                offset: 0,
                truncated: false,
            })
        }
        Err(e) => return Err(e),
    };
    let start = match tail {
        Some(n) => tail_start(&mut file, n)?,
        None => offset,
    };
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    (&mut file).take(limit as u64).read_to_end(&mut bytes)?;
    let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let end = file.metadata()?.len();
    let entries = bytes[..whole]
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| serde_json::from_slice(l).ok())
        .collect();
    let offset = start + whole as u64;
    Ok(Chunk {
        entries,
        offset,
        truncated: offset < end && whole > 0,
    })
}

/// The byte offset at which the last `n` whole lines begin, reading back
/// from the end a block at a time (a log can be far larger than memory).
fn tail_start(file: &mut File, n: u64) -> std::io::Result<u64> {
    const BLOCK: u64 = 64 * 1024;
    // The last n whole lines begin after the (n+1)-th newline from the
    // end (anything after the last newline is a line still being written).
    let mut newlines = 0;
    let mut end = file.metadata()?.len();
    while end > 0 {
        let start = end.saturating_sub(BLOCK);
        let mut block = vec![0; (end - start) as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut block)?;
        for (i, b) in block.iter().enumerate().rev() {
            if *b == b'\n' {
                newlines += 1;
                if newlines == n + 1 {
                    return Ok(start + i as u64 + 1);
                }
            }
        }
        end = start;
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log_with(lines: usize, name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("hutch-log-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("container.log");
        let _ = std::fs::remove_file(&path);
        let log = Log::open(&path).unwrap();
        for i in 0..lines {
            log.record(StdioStream::Stdout, format!("line {i}\n").as_bytes());
        }
        path
    }

    fn texts(chunk: &Chunk) -> Vec<String> {
        chunk.entries.iter().map(|e| e.log.clone()).collect()
    }

    #[test]
    fn tail_takes_the_last_lines() {
        let path = log_with(5, "tail");
        let chunk = read(&path, 0, Some(2), 1 << 20).unwrap();
        assert_eq!(texts(&chunk), ["line 3\n", "line 4\n"]);
        assert!(read(&path, 0, Some(0), 1 << 20).unwrap().entries.is_empty());
        assert_eq!(read(&path, 0, Some(9), 1 << 20).unwrap().entries.len(), 5);
    }

    #[test]
    fn tail_reads_back_across_blocks() {
        let path = log_with(3000, "blocks");
        let chunk = read(&path, 0, Some(2500), 1 << 20).unwrap();
        assert_eq!(chunk.entries.len(), 2500);
        assert_eq!(chunk.entries[0].log, "line 500\n");
    }

    #[test]
    fn reads_continue_where_they_stopped() {
        let path = log_with(100, "continue");
        let first = read(&path, 0, None, 200).unwrap();
        assert!(first.truncated && !first.entries.is_empty());
        let rest = read(&path, first.offset, None, 1 << 20).unwrap();
        assert!(!rest.truncated);
        assert_eq!(first.entries.len() + rest.entries.len(), 100);
        assert_eq!(rest.entries.last().unwrap().log, "line 99\n");
    }
}
