//! docker's stream protocol for attach, exec and logs: without a terminal
//! each chunk of output is framed with an 8-byte header (stream, three
//! zero bytes, big-endian length) so stdout and stderr share one
//! connection; with a terminal the output is the raw bytes. Input flows
//! the other way on the same (hijacked) connection, and the client's
//! half-close is the process's end of input.

use axum::body::{Body, Bytes};
use axum::http::header::{CONNECTION, CONTENT_TYPE, UPGRADE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use engine::container::{
    copy_input, DetachKeys, ExitStatus, InputEnd, LogEntry, Process, StdioStream,
};
use engine::time::format_rfc3339_ms;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use std::pin::Pin;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Notify;

pub const STDOUT: u8 = 1;
pub const STDERR: u8 = 2;

/// Output goes out raw (a terminal) or in docker's frames.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Framing {
    Raw,
    Multiplexed,
}

impl Framing {
    pub fn for_tty(tty: bool) -> Framing {
        match tty {
            true => Framing::Raw,
            false => Framing::Multiplexed,
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Framing::Raw => "application/vnd.docker.raw-stream",
            Framing::Multiplexed => "application/vnd.docker.multiplexed-stream",
        }
    }

    /// `payload` as it goes on the wire for `stream`.
    pub fn encode(self, stream: u8, payload: &[u8]) -> Vec<u8> {
        match self {
            Framing::Raw => payload.to_vec(),
            Framing::Multiplexed => {
                let mut framed = Vec::with_capacity(8 + payload.len());
                framed.extend_from_slice(&[stream, 0, 0, 0]);
                framed.extend_from_slice(&(payload.len() as u32).to_be_bytes());
                framed.extend_from_slice(payload);
                framed
            }
        }
    }
}

pub type ClientRead = Pin<Box<dyn AsyncRead + Send>>;
pub type ClientWrite = Pin<Box<dyn AsyncWrite + Send>>;

/// Where a stream's client is: a connection upgraded to a raw stream (the
/// docker CLI, docker-py and compose ask for `Upgrade: tcp`), or a plain
/// response body that carries output only.
pub enum Client {
    Upgraded(OnUpgrade),
    Body(tokio::io::DuplexStream),
}

impl Client {
    /// The response that opens the stream, and the client to relay to.
    pub fn answer(request: &mut axum::extract::Request, framing: Framing) -> (Response, Client) {
        if wants_upgrade(request.headers()) {
            let upgrade = hyper::upgrade::on(request);
            let response = Response::builder()
                .status(StatusCode::SWITCHING_PROTOCOLS)
                .header(CONNECTION, "Upgrade")
                .header(UPGRADE, "tcp")
                .header(CONTENT_TYPE, framing.content_type())
                .body(Body::empty())
                .expect("static headers are valid");
            return (response, Client::Upgraded(upgrade));
        }
        let (ours, theirs) = tokio::io::duplex(64 << 10);
        let body = Body::from_stream(futures_util::stream::unfold(theirs, |mut reader| async {
            let mut buf = vec![0; 32 << 10];
            match reader.read(&mut buf).await {
                Ok(0) | Err(_) => None,
                Ok(n) => {
                    buf.truncate(n);
                    Some((Ok::<_, std::io::Error>(Bytes::from(buf)), reader))
                }
            }
        }));
        let response = Response::builder()
            .status(StatusCode::OK)
            .header(CONTENT_TYPE, framing.content_type())
            .body(body)
            .expect("static headers are valid");
        (response, Client::Body(ours))
    }

    /// The connection's halves once the client is there; `None` if it left.
    pub async fn connect(self) -> Option<(Option<ClientRead>, ClientWrite)> {
        match self {
            Client::Upgraded(upgrade) => {
                let io = TokioIo::new(upgrade.await.ok()?);
                let (read, write) = tokio::io::split(io);
                Some((Some(Box::pin(read)), Box::pin(write)))
            }
            Client::Body(writer) => Some((None, Box::pin(writer))),
        }
    }
}

fn wants_upgrade(headers: &HeaderMap) -> bool {
    headers
        .get(UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("tcp"))
}

/// Relays started `process` to and from the client until its output ends,
/// then waits for its exit; the client's stream closes after `on_exit`
/// has seen the status (the docker CLI asks for an exec's exit code as
/// soon as its stream closes). With `detach` (a terminal's), typing those
/// keys ends the relay at once: the process runs on, and `on_exit` is not
/// called.
pub async fn relay(
    mut process: Process,
    client: Option<(Option<ClientRead>, ClientWrite)>,
    framing: Framing,
    detach: Option<DetachKeys>,
    on_exit: impl FnOnce(Option<&ExitStatus>),
) {
    let (input, mut output) = match client {
        Some((input, output)) => (input, Some(output)),
        None => (None, None),
    };
    let detached = Arc::new(Notify::new());
    if let (Some(input), Some(stdin)) = (input, process.stdin.take()) {
        let detached = detached.clone();
        tokio::spawn(async move {
            let (_, to) = stdin.into_split();
            if copy_input(input, to, detach.as_ref()).await == InputEnd::Detached {
                detached.notify_one();
            }
        });
    }
    let mut stdout = process.stdout.take();
    let mut stderr = process.stderr.take();
    let (mut out_buf, mut err_buf) = (vec![0u8; 32 << 10], vec![0u8; 32 << 10]);
    while stdout.is_some() || stderr.is_some() {
        let (stream, read) = tokio::select! {
            n = read_some(&mut stdout, &mut out_buf) => (STDOUT, n),
            n = read_some(&mut stderr, &mut err_buf) => (STDERR, n),
            () = detached.notified() => {
                if let Some(mut to) = output {
                    let _ = to.shutdown().await;
                }
                return;
            }
        };
        let n = match read {
            Some(n) if n > 0 => n,
            _ => {
                match stream {
                    STDOUT => stdout = None,
                    _ => stderr = None,
                }
                continue;
            }
        };
        let payload = match stream {
            STDOUT => &out_buf[..n],
            _ => &err_buf[..n],
        };
        // A client that left stops getting output; the process's output
        // is still drained so that it never blocks on a full pipe.
        if let Some(to) = output.as_mut() {
            if to
                .write_all(&framing.encode(stream, payload))
                .await
                .is_err()
            {
                output = None;
                // A container's console goes on without a reader here.
                if process.relayed_in_machine() {
                    return;
                }
            }
        }
    }
    let status = process.wait().await.ok();
    on_exit(status.as_ref());
    if let Some(mut to) = output {
        let _ = to.flush().await;
        let _ = to.shutdown().await;
    }
}

/// Log entries as a stream's bytes: each on the stream it was written to,
/// framed; with `timestamps`, each line prefixed with when it was written.
pub fn encode_entries<'a>(
    entries: impl IntoIterator<Item = &'a LogEntry>,
    framing: Framing,
    timestamps: bool,
) -> Vec<u8> {
    let mut bytes = Vec::new();
    for entry in entries {
        let stream = match entry.stream {
            StdioStream::Stderr => STDERR,
            _ => STDOUT,
        };
        if timestamps {
            let line = format!("{} {}", format_rfc3339_ms(entry.time_ms), entry.log);
            bytes.extend(framing.encode(stream, line.as_bytes()));
        } else {
            bytes.extend(framing.encode(stream, entry.log.as_bytes()));
        }
    }
    bytes
}

/// Sends `message` on the client's stderr and closes the stream.
pub async fn tell(
    client: Option<(Option<ClientRead>, ClientWrite)>,
    framing: Framing,
    message: String,
) {
    if let Some((_, mut to)) = client {
        let _ = to
            .write_all(&framing.encode(STDERR, message.as_bytes()))
            .await;
        let _ = to.shutdown().await;
    }
}

/// Reads from `stream` if it is still open; pending forever once closed
/// so that `select!` waits on the other one.
async fn read_some(stream: &mut Option<tokio::net::UnixStream>, buf: &mut [u8]) -> Option<usize> {
    match stream {
        Some(s) => s.read(buf).await.ok(),
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_stream_and_length() {
        let framed = Framing::Multiplexed.encode(STDERR, b"hi\n");
        assert_eq!(framed, [2, 0, 0, 0, 0, 0, 0, 3, b'h', b'i', b'\n']);
        assert_eq!(Framing::Raw.encode(STDOUT, b"hi"), b"hi");
    }
}
