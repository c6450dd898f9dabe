//! The container's log: everything it writes to stdout and stderr, one
//! JSON record per line (`{"stream","time_ms","log"}`, like docker's
//! json-file), kept whether or not a client is attached. An attached
//! client gets the raw bytes as well.

use crate::vsock::VsockStream;
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::sync::{Arc, Mutex};

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

    fn record(&self, stream: &str, line: &[u8]) {
        let entry = serde_json::json!({
            "stream": stream,
            "time_ms": super::now_ms(),
            "log": String::from_utf8_lossy(line),
        });
        let mut text = entry.to_string();
        text.push('\n');
        let mut file = self.file.lock().unwrap_or_else(|p| p.into_inner());
        // A full disk loses log lines, never the container's output.
        let _ = file.write_all(text.as_bytes());
    }

    /// Copies `from` into the log and to `client` until EOF, on a thread.
    pub fn copy(&self, from: OwnedFd, stream: &'static str, client: Option<VsockStream>) {
        let log = self.clone();
        std::thread::spawn(move || {
            let mut from = File::from(from);
            let mut client = client;
            let mut buf = vec![0; 64 * 1024];
            let mut line = Vec::new();
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if let Some(c) = client.as_mut() {
                    if c.write_all(&buf[..n]).is_err() {
                        // The client went away; the container goes on.
                        client = None;
                    }
                }
                for chunk in buf[..n].split_inclusive(|b| *b == b'\n') {
                    line.extend_from_slice(chunk);
                    if line.ends_with(b"\n") || line.len() >= 16 * 1024 {
                        log.record(stream, &line);
                        line.clear();
                    }
                }
            }
            if !line.is_empty() {
                log.record(stream, &line);
            }
        });
    }
}
