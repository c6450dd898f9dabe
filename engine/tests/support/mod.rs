//! A fake agent for protocol tests without a VM: it serves a machine's
//! hybrid vsock socket (`CONNECT <port>` / `OK <port>`) from a Unix
//! socket, answers control requests with a script, and records the stdio
//! streams that attach.

use protocol::{
    read_frame, write_frame, Envelope, Request, Response, StreamAttach, AGENT_PORT,
    PROTOCOL_VERSION, STREAM_PORT,
};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// What the fake does with one request.
pub enum Reply {
    /// Answer with this body, under the request's id.
    With(Response),
    /// Answer under another id first (a reply to someone else), then this.
    AfterStranger(Response),
    /// Close the connection without answering.
    Hangup,
    /// Send the first half of a frame, then close.
    Truncated,
}

type Script = dyn Fn(&Request) -> Reply + Send + Sync;

/// Streams that attached: (exec id, stream, the connection).
pub type Attached = Arc<Mutex<Vec<(u64, protocol::StdioStream, UnixStream)>>>;

pub struct FakeAgent {
    pub socket: PathBuf,
    pub attached: Attached,
    dir: PathBuf,
}

impl Drop for FakeAgent {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl FakeAgent {
    /// Serves at a fresh socket under the temp dir, answering hello itself
    /// and everything else with `script`.
    pub fn start(
        name: &str,
        script: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> FakeAgent {
        let dir = std::env::temp_dir().join(format!("hutch-fake-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        FakeAgent::start_at(&dir.join("vsock.sock"), dir, script)
    }

    /// Serves at `socket`; `dir` is removed when the fake is dropped.
    pub fn start_at(
        socket: &Path,
        dir: PathBuf,
        script: impl Fn(&Request) -> Reply + Send + Sync + 'static,
    ) -> FakeAgent {
        let listener = UnixListener::bind(socket).unwrap();
        let script: Arc<Script> = Arc::new(script);
        let attached = Attached::default();
        let shared = attached.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (script, attached) = (script.clone(), shared.clone());
                std::thread::spawn(move || serve(conn, &*script, &attached));
            }
        });
        FakeAgent {
            socket: socket.to_path_buf(),
            attached,
            dir,
        }
    }
}

fn serve(conn: UnixStream, script: &Script, attached: &Attached) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    let port: u32 = match line.trim().strip_prefix("CONNECT ").map(str::parse) {
        Some(Ok(port)) => port,
        _ => return,
    };
    if port != AGENT_PORT && port != STREAM_PORT {
        return; // refused: closed without OK
    }
    let mut conn = conn;
    conn.write_all(format!("OK {port}\n").as_bytes()).unwrap();
    if port == STREAM_PORT {
        if let Ok(Some(StreamAttach { exec_id, stream })) = read_frame(&mut reader) {
            attached.lock().unwrap().push((exec_id, stream, conn));
        }
        return;
    }
    while let Ok(Some(Envelope { id, body })) = read_frame::<Envelope<Request>, _>(&mut reader) {
        let reply = match body {
            Request::Hello { .. } => Reply::With(Response::Hello {
                version: PROTOCOL_VERSION,
                agent: "fake".into(),
            }),
            ref other => script(other),
        };
        let answer = |conn: &mut UnixStream, id, body| write_frame(conn, &Envelope { id, body });
        match reply {
            Reply::With(body) => answer(&mut conn, id, body).unwrap(),
            Reply::AfterStranger(body) => {
                answer(&mut conn, id + 1000, Response::Pong).unwrap();
                answer(&mut conn, id, body).unwrap();
            }
            Reply::Hangup => return,
            Reply::Truncated => {
                let frame = protocol::encode_frame(&Envelope {
                    id,
                    body: Response::Pong,
                })
                .unwrap();
                conn.write_all(&frame[..frame.len() / 2]).unwrap();
                return;
            }
        }
    }
}
