//! `cp` and docker's archive endpoints: a path in a container looked at,
//! read as a tar, or a tar unpacked into a directory there, each over a
//! connection of its own to the agent's archive port (see
//! [`protocol::archive`]). Paths resolve inside the container's root.

use crate::agent::{connect_port, AgentError};
use crate::{Engine, Result};
pub use protocol::PathStat;
use protocol::{
    chunk_len, read_frame_async, write_frame_async, ArchiveAction, ArchiveRequest, Change,
    Envelope, Response, ARCHIVE_PORT, MAX_CHUNK,
};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixStream;

/// How a tar is unpacked into a container.
#[derive(Debug, Clone, Copy, Default)]
pub struct CopyOptions {
    /// Keep the archive's owners (`cp -a`) rather than give everything to
    /// the container's root.
    pub copy_owner: bool,
    /// Refuse to replace a directory with a non-directory or the other way
    /// round (docker's `noOverwriteDirNonDir`).
    pub keep_kinds: bool,
}

fn io_error(what: &str) -> impl FnOnce(std::io::Error) -> AgentError + '_ {
    move |source| AgentError::Io {
        what: what.to_string(),
        source,
    }
}

/// The agent's next answer on an archive connection.
async fn answer(conn: &mut UnixStream, what: &'static str) -> Result<Response> {
    match read_frame_async::<Envelope<Response>, _>(conn).await {
        Ok(Some(Envelope {
            body: Response::Error(e),
            ..
        })) => Err(AgentError::Refused(e).into()),
        Ok(Some(envelope)) => Ok(envelope.body),
        Ok(None) => Err(AgentError::Closed.into()),
        Err(source) => Err(AgentError::Frame {
            what: format!("reading the agent's answer to {what}"),
            source,
        }
        .into()),
    }
}

fn expect_stat(response: Response, what: &'static str) -> Result<PathStat> {
    match response {
        Response::PathStat(stat) => Ok(stat),
        other => Err(AgentError::UnexpectedReply {
            request: what,
            reply: format!("{other:?}"),
        }
        .into()),
    }
}

fn expect_done(response: Response, what: &'static str) -> Result<()> {
    match response {
        Response::Done => Ok(()),
        other => Err(AgentError::UnexpectedReply {
            request: what,
            reply: format!("{other:?}"),
        }
        .into()),
    }
}

/// Whether `error` says a copy's path does not exist (rather than its
/// container, or anything else).
pub fn is_missing_path(error: &crate::Error) -> bool {
    matches!(error, crate::Error::Agent(AgentError::Refused(e)) if e.kind == protocol::ErrorKind::NoSuchPath)
}

/// A tar coming out of a container, chunk by chunk.
pub struct ArchiveReader {
    conn: UnixStream,
    ended: bool,
}

impl ArchiveReader {
    /// The next bytes of the tar; `None` once it is whole. An error if the
    /// agent could not finish it (the bytes so far are not a whole tar).
    pub async fn next(&mut self) -> Result<Option<Vec<u8>>> {
        if self.ended {
            return Ok(None);
        }
        let mut prefix = [0u8; 4];
        self.conn
            .read_exact(&mut prefix)
            .await
            .map_err(io_error("reading the copy from the machine"))?;
        let len = chunk_len(prefix).map_err(io_error("reading the copy from the machine"))?;
        if len == 0 {
            self.ended = true;
            let outcome = answer(&mut self.conn, "a copy out of a container").await?;
            expect_done(outcome, "a copy out of a container")?;
            return Ok(None);
        }
        let mut chunk = vec![0; len];
        self.conn
            .read_exact(&mut chunk)
            .await
            .map_err(io_error("reading the copy from the machine"))?;
        Ok(Some(chunk))
    }

    /// Writes the rest of the data to `to`; an error if it did not come
    /// whole.
    pub async fn copy_to(&mut self, to: &mut (impl AsyncWrite + Unpin)) -> Result<()> {
        while let Some(chunk) = self.next().await? {
            to.write_all(&chunk)
                .await
                .map_err(io_error("writing the copy out"))?;
        }
        to.flush().await.map_err(io_error("writing the copy out"))?;
        Ok(())
    }
}

impl Engine {
    /// Opens an archive connection and sends the request; the agent's
    /// first answer is the path's stat.
    async fn archive(
        &self,
        machine: &str,
        container: &str,
        path: &str,
        action: ArchiveAction,
    ) -> Result<(UnixStream, PathStat)> {
        let vsock = self.running_vsock(machine)?;
        let mut conn = connect_port(&vsock, ARCHIVE_PORT).await?;
        let request = ArchiveRequest {
            container: container.to_string(),
            path: path.to_string(),
            action,
        };
        write_frame_async(&mut conn, &request)
            .await
            .map_err(|source| AgentError::Frame {
                what: "asking the machine for a copy".into(),
                source,
            })?;
        let stat = expect_stat(answer(&mut conn, "a copy").await?, "a copy")?;
        Ok((conn, stat))
    }

    /// Opens an archive connection for `action`, whose data comes back:
    /// the stat the agent answers first, and the data's reader.
    async fn archive_reader(
        &self,
        machine: &str,
        container: &str,
        path: &str,
        action: ArchiveAction,
    ) -> Result<(PathStat, ArchiveReader)> {
        let (conn, stat) = self.archive(machine, container, path, action).await?;
        Ok((stat, ArchiveReader { conn, ended: false }))
    }

    /// What `path` in `container` is (docker's `HEAD .../archive`).
    pub async fn stat_in_container(
        &self,
        machine: &str,
        container: &str,
        path: &str,
    ) -> Result<PathStat> {
        let (_, stat) = self
            .archive(machine, container, path, ArchiveAction::Stat)
            .await?;
        Ok(stat)
    }

    /// `path` in `container` as a tar whose entries start with the path's
    /// last component (docker's `GET .../archive`).
    pub async fn copy_from_container(
        &self,
        machine: &str,
        container: &str,
        path: &str,
    ) -> Result<(PathStat, ArchiveReader)> {
        self.archive_reader(machine, container, path, ArchiveAction::Read)
            .await
    }

    /// What `container` added, changed and deleted in its image's files
    /// (docker's `diff`), parents before children; a running one is
    /// frozen while its writable layer is read.
    pub async fn container_changes(&self, machine: &str, container: &str) -> Result<Vec<Change>> {
        let (_, mut reader) = self
            .archive_reader(machine, container, "/", ArchiveAction::Changes)
            .await?;
        let mut lines = Vec::new();
        reader.copy_to(&mut lines).await?;
        lines
            .split(|b| *b == b'\n')
            .filter(|line| !line.is_empty())
            .map(|line| {
                serde_json::from_slice(line).map_err(|e| {
                    AgentError::Io {
                        what: "reading the change list from the machine".into(),
                        source: std::io::Error::other(e),
                    }
                    .into()
                })
            })
            .collect()
    }

    /// The container's whole filesystem as a tar, without its volumes and
    /// other mounts (docker's `export`); a running one is frozen while it
    /// is read.
    pub async fn export_container(&self, machine: &str, container: &str) -> Result<ArchiveReader> {
        let (_, reader) = self
            .archive_reader(machine, container, "/", ArchiveAction::Export)
            .await?;
        Ok(reader)
    }

    /// The container's changes to its image's files as an OCI layer tar,
    /// its processes frozen while it is read (`commit`).
    pub async fn container_layer(&self, machine: &str, container: &str) -> Result<ArchiveReader> {
        let (_, reader) = self
            .archive_reader(machine, container, "/", ArchiveAction::Layer)
            .await?;
        Ok(reader)
    }

    /// Unpacks the tar read from `tar` into directory `path` of
    /// `container` (docker's `PUT .../archive`).
    pub async fn copy_to_container(
        &self,
        machine: &str,
        container: &str,
        path: &str,
        options: CopyOptions,
        mut tar: impl AsyncRead + Unpin,
    ) -> Result<()> {
        let action = ArchiveAction::Write {
            copy_owner: options.copy_owner,
            keep_kinds: options.keep_kinds,
        };
        let (mut conn, _) = self.archive(machine, container, path, action).await?;
        // A refused tar is read to its end before the answer comes; should
        // the machine close early instead, its answer still explains a
        // failed write better than the write error does.
        let sent = send_chunks(&mut tar, &mut conn).await;
        let outcome = answer(&mut conn, "a copy into a container").await;
        match (outcome, sent) {
            (Err(e), _) if !matches!(e, crate::Error::Agent(AgentError::Closed)) => Err(e),
            (_, Err(e)) => Err(e),
            (outcome, Ok(())) => expect_done(outcome?, "a copy into a container"),
        }
    }
}

/// Sends what `tar` holds as chunks, then the end marker.
async fn send_chunks(tar: &mut (impl AsyncRead + Unpin), conn: &mut UnixStream) -> Result<()> {
    let mut buf = vec![0u8; MAX_CHUNK];
    loop {
        let n = tar
            .read(&mut buf)
            .await
            .map_err(io_error("reading the archive to copy"))?;
        conn.write_all(&(n as u32).to_be_bytes())
            .await
            .map_err(io_error("sending the copy to the machine"))?;
        if n == 0 {
            return Ok(());
        }
        conn.write_all(&buf[..n])
            .await
            .map_err(io_error("sending the copy to the machine"))?;
    }
}
