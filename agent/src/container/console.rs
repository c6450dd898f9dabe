//! The stdio of a container's first process as clients see it. Any
//! number of clients get its output: the one attached at start, and those
//! that join while it runs (`attach`), each from the moment it joined.
//! Clients that bring input write into its one stdin (a pipe, or its
//! terminal), which stays open while it runs (docker's OpenStdin); only
//! the client attached at start closes it, with EOF (docker's StdinOnce),
//! so `echo hi | hutch run -i IMAGE cat` ends.

use super::log::{drain, Log};
use super::spawn;
use super::stdio::{dev_null, dup, Streams};
use crate::pty::Pty;
use crate::sys::fd::pipe;
use crate::sys::vsock::VsockStream;
use protocol::{AgentError, StdioStream};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex, MutexGuard};

pub struct Console {
    tty: bool,
    /// Where clients' input goes: the write end of the process's stdin
    /// pipe, or its terminal's controller. None without `-i`, or once the
    /// client attached at start has ended it.
    input: Mutex<Option<File>>,
    /// The terminal's controller, for resizing.
    terminal: Option<OwnedFd>,
    outputs: Mutex<Outputs>,
}

/// A client's output stream, written outside the list's lock so that a
/// client that stops reading holds up only the writes to it.
type Client = Arc<Mutex<VsockStream>>;

#[derive(Default)]
struct Outputs {
    clients: Vec<(StdioStream, Client)>,
    /// Streams the process tree has closed: a client joining now gets
    /// EOF at once.
    ended: Vec<StdioStream>,
}

fn locked<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicked relay must not wedge the others: take the data as it is.
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Console {
    /// The process's side of its stdio, with everything it writes going
    /// to `log` and to the clients. `streams` are those of the client
    /// attached at start, if any; `open_stdin` is docker's `-i`.
    pub fn open(
        streams: Streams,
        tty: bool,
        open_stdin: bool,
        log: &Log,
    ) -> Result<(Arc<Console>, spawn::Stdio), AgentError> {
        let (console, stdio, outputs) = if tty {
            let Pty {
                controller,
                replica,
            } = Pty::open()?;
            let input = match open_stdin {
                true => Some(File::from(dup(&controller)?)),
                false => None,
            };
            let stdio = spawn::Stdio {
                stdin: dup(&replica)?,
                stdout: dup(&replica)?,
                stderr: replica,
            };
            // With a terminal all output is on stdout, as with docker;
            // stderr clients just get EOF.
            let outputs = vec![(StdioStream::Stdout, dup(&controller)?)];
            (Console::new(true, input, Some(controller)), stdio, outputs)
        } else {
            let (stdin, input) = match open_stdin {
                true => {
                    let (read, write) = pipe()?;
                    (read, Some(File::from(write)))
                }
                false => (dev_null()?, None),
            };
            let (stdout_read, stdout) = pipe()?;
            let (stderr_read, stderr) = pipe()?;
            let stdio = spawn::Stdio {
                stdin,
                stdout,
                stderr,
            };
            let outputs = vec![
                (StdioStream::Stdout, stdout_read),
                (StdioStream::Stderr, stderr_read),
            ];
            (Console::new(false, input, None), stdio, outputs)
        };
        for (stream, from) in outputs {
            console.relay(from, stream, log);
        }
        console.join(streams, true);
        Ok((console, stdio))
    }

    fn new(tty: bool, input: Option<File>, terminal: Option<OwnedFd>) -> Arc<Console> {
        let ended = match tty {
            true => vec![StdioStream::Stderr],
            false => Vec::new(),
        };
        Arc::new(Console {
            tty,
            input: Mutex::new(input),
            terminal,
            outputs: Mutex::new(Outputs {
                clients: Vec::new(),
                ended,
            }),
        })
    }

    /// Adds a client: its output streams get what the process writes from
    /// now on, its stdin (if any) feeds the process's. `at_start`: the
    /// client that started the process, whose stdin EOF closes the
    /// process's (without a terminal).
    pub fn join(self: &Arc<Self>, streams: Streams, at_start: bool) {
        let mut outputs = locked(&self.outputs);
        for (kind, stream) in [
            (StdioStream::Stdout, streams.stdout),
            (StdioStream::Stderr, streams.stderr),
        ] {
            // A stream already ended is dropped here: the client sees EOF.
            if let Some(stream) = stream.filter(|_| !outputs.ended.contains(&kind)) {
                outputs.clients.push((kind, Arc::new(Mutex::new(stream))));
            }
        }
        drop(outputs);
        if let Some(stdin) = streams.stdin {
            self.feed(stdin, at_start && !self.tty);
        }
    }

    /// A copy of the terminal's controller, for resizing.
    pub fn terminal(&self) -> Option<OwnedFd> {
        self.terminal.as_ref().and_then(|t| t.try_clone().ok())
    }

    /// Copies `from` to the log and to the clients of `stream`, on a
    /// thread, until the process tree closes it.
    fn relay(self: &Arc<Self>, from: OwnedFd, stream: StdioStream, log: &Log) {
        let (console, mut lines) = (self.clone(), log.lines(stream));
        std::thread::spawn(move || {
            drain(from, |bytes| {
                // The log first: it never waits for a client.
                lines.push(bytes);
                console.deliver(stream, bytes);
            });
            lines.finish();
            let mut outputs = locked(&console.outputs);
            outputs.ended.push(stream);
            // Their connections close: the clients see EOF.
            outputs.clients.retain(|(kind, _)| *kind != stream);
        });
    }

    /// Writes `bytes` to every client of `stream`. A client that stops
    /// reading holds up the process's output (as docker's attach does),
    /// never another client joining or the agent; one that went away is
    /// dropped and the process goes on.
    fn deliver(&self, stream: StdioStream, bytes: &[u8]) {
        let clients: Vec<Client> = locked(&self.outputs)
            .clients
            .iter()
            .filter(|(kind, _)| *kind == stream)
            .map(|(_, client)| client.clone())
            .collect();
        for client in clients {
            if locked(&client).write_all(bytes).is_err() {
                locked(&self.outputs)
                    .clients
                    .retain(|(_, c)| !Arc::ptr_eq(c, &client));
            }
        }
    }

    /// Copies a client's input into the process's stdin, on a thread,
    /// until the client ends it (then, with `closes`, the process's stdin
    /// ends too) or the process's stdin is gone.
    fn feed(self: &Arc<Self>, mut from: VsockStream, closes: bool) {
        let console = self.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0; 16 * 1024];
            loop {
                let n = match from.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                let mut input = locked(&console.input);
                // A write fails once the process has no reader left.
                let written = input.as_mut().map(|to| to.write_all(&buf[..n]));
                if !matches!(written, Some(Ok(()))) {
                    return;
                }
            }
            if closes {
                locked(&console.input).take();
            }
        });
    }
}
