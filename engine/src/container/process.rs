//! A process in a machine with its stdio attached: a command, a
//! container's first process, or an exec in a container. Its streams are
//! the caller's to relay; it starts when asked, once they are attached.

use crate::agent::AgentClient;
use crate::Result;
use protocol::{ExitStatus, StdioStream};
use tokio::net::UnixStream;

pub struct Process {
    client: AgentClient,
    exec_id: u64,
    /// Present when the process reads our input (`-i`).
    pub stdin: Option<UnixStream>,
    /// With a terminal, all output comes here.
    pub stdout: Option<UnixStream>,
    pub stderr: Option<UnixStream>,
    /// Its output is copied in the machine (a container's console), so it
    /// never waits for a reader here.
    console: bool,
}

impl Process {
    /// Attaches the streams of prepared process `exec_id`.
    pub(crate) async fn attach(client: AgentClient, exec_id: u64, stdin: bool) -> Result<Process> {
        let stdout = client.attach_stream(exec_id, StdioStream::Stdout).await?;
        let stderr = client.attach_stream(exec_id, StdioStream::Stderr).await?;
        let stdin = match stdin {
            true => Some(client.attach_stream(exec_id, StdioStream::Stdin).await?),
            false => None,
        };
        Ok(Process {
            client,
            exec_id,
            stdin,
            stdout: Some(stdout),
            stderr: Some(stderr),
            console: false,
        })
    }

    /// Marks a container's first process, whose output its console copies.
    pub(crate) fn on_console(mut self) -> Process {
        self.console = true;
        self
    }

    /// Whether a reader here may leave without the process ever blocking
    /// (its output goes on to its log in the machine).
    pub fn relayed_in_machine(&self) -> bool {
        self.console
    }

    /// Starts it; its pid in the machine. A command that cannot run is an
    /// error of kind `CommandNotFound` or `CommandNotExecutable`.
    pub async fn start(&mut self) -> Result<u32> {
        Ok(self.client.start(self.exec_id).await?)
    }

    /// Waits for it to exit.
    pub async fn wait(&mut self) -> Result<ExitStatus> {
        Ok(self.client.wait(self.exec_id).await?)
    }

    /// A handle that resizes its terminal, on a connection of its own (this
    /// one is busy waiting for the exit).
    pub async fn resizer(&self) -> Result<Resizer> {
        Ok(Resizer {
            client: self.client.reconnect().await?,
            exec_id: self.exec_id,
        })
    }
}

pub struct Resizer {
    client: AgentClient,
    exec_id: u64,
}

impl Resizer {
    pub async fn resize(&mut self, rows: u16, cols: u16) -> Result<()> {
        Ok(self.client.resize(self.exec_id, rows, cols).await?)
    }
}
