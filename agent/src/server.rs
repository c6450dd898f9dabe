//! The vsock servers: control requests (port 1024) and stdio stream
//! attachment (port 1025). Each connection and each blocking request runs on
//! its own thread, and a panic there is caught and answered as an error, so
//! one bad request never takes the agent down.

use crate::exec::ProcessTable;
use crate::vsock::{VsockListener, VsockStream};
use crate::{info, init};
use protocol::{
    read_frame, write_frame, AgentError, Envelope, ErrorKind, FrameError, Request, Response,
    StreamAttach, PROTOCOL_VERSION,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex};

type Writer = Arc<Mutex<VsockStream>>;

/// How the agent names itself in the handshake.
fn agent_name() -> String {
    format!("hutch-agent {}", env!("CARGO_PKG_VERSION"))
}

pub fn serve_control(listener: VsockListener, table: Arc<ProcessTable>) -> ! {
    loop {
        match listener.accept() {
            Ok(conn) => {
                let table = table.clone();
                std::thread::spawn(move || handle_control(conn, table));
            }
            Err(e) => {
                init::log(&format!("accept on control port: {e}"));
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}

fn reply(writer: &Writer, id: u64, body: Response) {
    let mut w = writer.lock().unwrap_or_else(|p| p.into_inner());
    // A vanished client is not our problem; its requests just end.
    let _ = write_frame(&mut *w, &Envelope { id, body });
}

fn error(kind: ErrorKind, message: impl Into<String>) -> Response {
    Response::Error(AgentError {
        kind,
        message: message.into(),
    })
}

fn handle_control(conn: VsockStream, table: Arc<ProcessTable>) {
    let Ok(writer) = conn.try_clone() else {
        return;
    };
    let writer: Writer = Arc::new(Mutex::new(writer));
    let mut reader = conn;
    let mut greeted = false;
    loop {
        let envelope: Envelope<Request> = match read_frame(&mut reader) {
            Ok(Some(e)) => e,
            Ok(None) => return,
            Err(FrameError::Io(_)) => return,
            Err(e) => {
                // The stream can no longer be trusted to be in sync: say why and close.
                reply(
                    &writer,
                    0,
                    error(ErrorKind::BadRequest, format!("closing connection: {e}")),
                );
                return;
            }
        };
        let id = envelope.id;
        if !greeted {
            match envelope.body {
                Request::Hello { version } if version == PROTOCOL_VERSION => {
                    greeted = true;
                    let agent = agent_name();
                    reply(
                        &writer,
                        id,
                        Response::Hello {
                            version: PROTOCOL_VERSION,
                            agent,
                        },
                    );
                }
                Request::Hello { version } => {
                    let msg = format!("host speaks protocol {version}, agent speaks {PROTOCOL_VERSION}; use a hutch and guest image of the same version");
                    reply(&writer, id, error(ErrorKind::VersionMismatch, msg));
                    return;
                }
                _ => {
                    reply(
                        &writer,
                        id,
                        error(ErrorKind::BadRequest, "the first request must be hello"),
                    );
                    return;
                }
            }
            continue;
        }
        if envelope.body == Request::Shutdown {
            reply(&writer, id, Response::Done);
            init::log("powering off");
            init::power_off();
        }
        // Requests that may block (start waits for streams, wait for exit)
        // get their own thread so the connection keeps serving.
        let blocking = matches!(envelope.body, Request::Start { .. } | Request::Wait { .. });
        let (table, writer) = (table.clone(), writer.clone());
        let run = move || {
            let response = catch_unwind(AssertUnwindSafe(|| handle_request(envelope.body, &table)))
                .unwrap_or_else(|_| {
                    error(
                        ErrorKind::Internal,
                        "the agent hit an internal error handling this request",
                    )
                });
            reply(&writer, id, response);
        };
        if blocking {
            std::thread::spawn(run);
        } else {
            run();
        }
    }
}

fn handle_request(request: Request, table: &ProcessTable) -> Response {
    let result = match request {
        Request::Hello { .. } => Ok(Response::Hello {
            version: PROTOCOL_VERSION,
            agent: agent_name(),
        }),
        Request::Ping => Ok(Response::Pong),
        Request::Info => Ok(Response::Info(info::guest_info())),
        Request::Exec(spec) => table
            .create(spec)
            .map(|exec_id| Response::ExecCreated { exec_id }),
        Request::Start { exec_id } => table.start(exec_id).map(|pid| Response::Started { pid }),
        Request::Wait { exec_id } => table.wait(exec_id).map(Response::Exited),
        Request::Signal { exec_id, signal } => {
            table.signal(exec_id, signal).map(|_| Response::Done)
        }
        Request::Shutdown => Err(AgentError {
            kind: ErrorKind::Internal,
            message: "shutdown is handled by the connection".into(),
        }),
    };
    result.unwrap_or_else(Response::Error)
}

pub fn serve_streams(listener: VsockListener, table: Arc<ProcessTable>) {
    loop {
        match listener.accept() {
            Ok(mut conn) => {
                let table = table.clone();
                std::thread::spawn(move || {
                    // A malformed or unknown attachment just closes the stream;
                    // the host learns of it when Start times out or fails.
                    if let Ok(Some(StreamAttach { exec_id, stream })) = read_frame(&mut conn) {
                        if let Err(e) = table.attach(exec_id, stream, conn) {
                            init::log(&format!("stream attach: {}", e.message));
                        }
                    }
                });
            }
            Err(e) => {
                init::log(&format!("accept on stream port: {e}"));
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        }
    }
}
