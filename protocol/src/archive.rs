//! Copies into and out of a container's filesystem (`cp`, docker's
//! archive endpoints): one connection to [`ARCHIVE_PORT`] per copy.
//!
//! The host sends an [`ArchiveRequest`] frame; the agent answers with a
//! `Response::PathStat` (or an error) frame. For [`ArchiveAction::Read`]
//! the agent then sends the tar as chunks, for [`ArchiveAction::Write`]
//! the host does; either way a final `Response` frame from the agent says
//! whether the copy was whole. A chunk is a `u32` big-endian length and
//! that many bytes; a zero length ends the data. (Chunks rather than a
//! half-close, so that an error can still follow the data.)

use serde::{Deserialize, Serialize};
use std::io::{self, Read, Write};

/// Guest vsock port of the archive server.
pub const ARCHIVE_PORT: u32 = 1029;
/// The largest chunk either side sends; a larger length is refused.
pub const MAX_CHUNK: usize = 256 << 10;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveRequest {
    pub container: String,
    /// An absolute path in the container, as the user gave it: a trailing
    /// `/` or `/.` is meaningful (docker's rules: the last component is a
    /// symlink's target only then).
    pub path: String,
    pub action: ArchiveAction,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ArchiveAction {
    /// Only the path's [`PathStat`].
    Stat,
    /// The path as a tar whose entries start with its last component.
    Read,
    /// A tar unpacked into the directory at the path.
    Write {
        /// Keep the archive's owners (docker's `cp -a`) rather than giving
        /// everything to the container's root.
        copy_owner: bool,
        /// Refuse to replace a directory with a non-directory or the
        /// other way round (docker's `noOverwriteDirNonDir`).
        keep_kinds: bool,
    },
    /// The container's changes to its image's files as an OCI layer tar
    /// (deletions as `.wh.` whiteouts), its processes frozen meanwhile
    /// (`commit`); the path is not used, the stat is of its root.
    Layer,
    /// What the container added, changed and deleted in its image's files
    /// (docker's `diff`), one JSON `Change` a line, frozen meanwhile.
    Changes,
    /// The container's whole filesystem as a tar (docker's `export`): its
    /// root without what is mounted on it (volumes, binds, /proc, /dev),
    /// names relative to `/`; the path is not used, the stat is the root's.
    Export,
}

/// What docker's `X-Docker-Container-Path-Stat` tells of a path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathStat {
    /// The last component of the requested path.
    pub name: String,
    pub size: u64,
    /// `st_mode`: type and permission bits.
    pub mode: u32,
    pub mtime_s: i64,
    /// For a symlink, the absolute path in the container it leads to.
    pub link_target: String,
}

impl PathStat {
    pub fn is_dir(&self) -> bool {
        self.mode & 0o170000 == 0o040000
    }

    pub fn is_symlink(&self) -> bool {
        self.mode & 0o170000 == 0o120000
    }
}

/// Writes what it is given as chunks; [`ChunkWriter::finish`] ends the data.
pub struct ChunkWriter<W: Write> {
    inner: W,
}

impl<W: Write> ChunkWriter<W> {
    pub fn new(inner: W) -> Self {
        ChunkWriter { inner }
    }

    /// Writes the end marker and gives the stream back.
    pub fn finish(mut self) -> io::Result<W> {
        self.inner.write_all(&0u32.to_be_bytes())?;
        self.inner.flush()?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for ChunkWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = buf.len().min(MAX_CHUNK);
        if n == 0 {
            return Ok(0);
        }
        self.inner.write_all(&(n as u32).to_be_bytes())?;
        self.inner.write_all(&buf[..n])?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads the bytes of chunks until the end marker, then reports the end.
pub struct ChunkReader<R: Read> {
    inner: R,
    /// Bytes left in the current chunk.
    left: usize,
    ended: bool,
}

impl<R: Read> ChunkReader<R> {
    pub fn new(inner: R) -> Self {
        ChunkReader {
            inner,
            left: 0,
            ended: false,
        }
    }

    /// Reads what is left of the data (so the stream is at the frame that
    /// follows it) and gives the stream back.
    pub fn finish(mut self) -> io::Result<R> {
        io::copy(&mut self, &mut io::sink())?;
        Ok(self.inner)
    }
}

/// A chunk's length, checked.
pub fn chunk_len(prefix: [u8; 4]) -> io::Result<usize> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_CHUNK {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a chunk of {len} bytes is larger than the {MAX_CHUNK}-byte limit"),
        ));
    }
    Ok(len)
}

impl<R: Read> Read for ChunkReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.ended || buf.is_empty() {
            return Ok(0);
        }
        if self.left == 0 {
            let mut prefix = [0u8; 4];
            self.inner.read_exact(&mut prefix)?;
            self.left = chunk_len(prefix)?;
            if self.left == 0 {
                self.ended = true;
                return Ok(0);
            }
        }
        let want = buf.len().min(self.left);
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_carry_the_bytes_and_leave_the_stream_after_the_end() {
        let data: Vec<u8> = (0..MAX_CHUNK * 2 + 17).map(|i| i as u8).collect();
        let mut writer = ChunkWriter::new(Vec::new());
        writer.write_all(&data).unwrap();
        let mut wire = writer.finish().unwrap();
        wire.extend_from_slice(b"after");
        let mut reader = ChunkReader::new(&wire[..]);
        let mut back = Vec::new();
        reader.read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        let mut rest = Vec::new();
        reader.finish().unwrap().read_to_end(&mut rest).unwrap();
        assert_eq!(rest, b"after");
    }

    #[test]
    fn an_oversized_or_cut_chunk_is_an_error() {
        let huge = ((MAX_CHUNK + 1) as u32).to_be_bytes();
        let mut reader = ChunkReader::new(&huge[..]);
        assert!(reader.read(&mut [0; 8]).is_err());
        let cut = [0, 0, 0, 9, 1, 2];
        let mut reader = ChunkReader::new(&cut[..]);
        assert!(reader.read_to_end(&mut Vec::new()).is_err());
    }
}
