//! Executes virtio-blk requests against a raw host file. Whatever serves
//! the device (vhost-user backend, in-process VMM) calls `process_queue`
//! on a kick and signals the guest when it returns true.

use super::request::{Operation, Request, Segment, ID_LEN, SEGMENT_LEN, S_IOERR, S_OK, S_UNSUPP};
use super::{
    SECTOR_SIZE, VIRTIO_BLK_F_DISCARD, VIRTIO_BLK_F_FLUSH, VIRTIO_BLK_F_SEG_MAX,
    VIRTIO_BLK_F_WRITE_ZEROES,
};
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::FileExt;
use std::os::unix::io::AsRawFd;
use std::path::Path;
use virtio_queue::{Queue, QueueT};
use vm_memory::GuestMemory;

/// Size of the configuration space we fill (virtio spec 5.2.4, up to and
/// including `write_zeroes_may_unmap` and its padding).
pub const CONFIG_LEN: usize = 60;
/// Data segments per request the driver may use (`seg_max`); the header
/// and status take two more descriptors of a 128-entry queue.
pub const SEG_MAX: u32 = 126;
/// Largest discard / write-zeroes range and segment count we accept.
pub const MAX_DISCARD_SECTORS: u32 = 1 << 22;
pub const MAX_DISCARD_SEGMENTS: u32 = 32;
/// Host page size in sectors: zeroed ranges this aligned become holes.
const HOLE_ALIGN: u64 = 4096;
/// Requests are copied through a buffer of at most this size, so a guest
/// naming huge buffers cannot make us allocate.
const IO_CHUNK: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("cannot open disk {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
    #[error("disk {path} is {size} bytes, not a whole number of 512-byte sectors")]
    Size { path: String, size: u64 },
    #[error("disk {path} is not a regular file")]
    NotAFile { path: String },
}

pub struct BlockDevice {
    file: File,
    sectors: u64,
    id: [u8; ID_LEN],
    malformed: u64,
    buf: Vec<u8>,
}

impl BlockDevice {
    /// Opens the disk image at `path` for reading and writing; `id` is what
    /// the guest reads as the serial (truncated to 20 bytes).
    pub fn open(path: &Path, id: &str) -> Result<Self, BlockError> {
        let shown = || path.display().to_string();
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|source| BlockError::Open {
                path: shown(),
                source,
            })?;
        let meta = file.metadata().map_err(|source| BlockError::Open {
            path: shown(),
            source,
        })?;
        if !meta.is_file() {
            return Err(BlockError::NotAFile { path: shown() });
        }
        if meta.len() % SECTOR_SIZE != 0 {
            return Err(BlockError::Size {
                path: shown(),
                size: meta.len(),
            });
        }
        let mut serial = [0u8; ID_LEN];
        let n = id.len().min(ID_LEN);
        serial[..n].copy_from_slice(&id.as_bytes()[..n]);
        Ok(BlockDevice {
            file,
            sectors: meta.len() / SECTOR_SIZE,
            id: serial,
            malformed: 0,
            buf: Vec::new(),
        })
    }

    /// Device feature bits (the transport adds VIRTIO_F_VERSION_1).
    pub fn features(&self) -> u64 {
        VIRTIO_BLK_F_SEG_MAX | VIRTIO_BLK_F_FLUSH | VIRTIO_BLK_F_DISCARD | VIRTIO_BLK_F_WRITE_ZEROES
    }

    pub fn config_space(&self) -> [u8; CONFIG_LEN] {
        let mut c = [0u8; CONFIG_LEN];
        c[0..8].copy_from_slice(&self.sectors.to_le_bytes());
        c[12..16].copy_from_slice(&SEG_MAX.to_le_bytes());
        c[34..36].copy_from_slice(&1u16.to_le_bytes());
        c[36..40].copy_from_slice(&MAX_DISCARD_SECTORS.to_le_bytes());
        c[40..44].copy_from_slice(&MAX_DISCARD_SEGMENTS.to_le_bytes());
        c[44..48].copy_from_slice(&((HOLE_ALIGN / SECTOR_SIZE) as u32).to_le_bytes());
        c[48..52].copy_from_slice(&MAX_DISCARD_SECTORS.to_le_bytes());
        c[52..56].copy_from_slice(&MAX_DISCARD_SEGMENTS.to_le_bytes());
        c[56] = 1; // write_zeroes_may_unmap
        c
    }

    /// Requests rejected because their chain was malformed.
    pub fn malformed_requests(&self) -> u64 {
        self.malformed
    }

    /// Executes every request the driver queued. A malformed chain is
    /// counted, logged and returned unprocessed; the device keeps running.
    /// Returns whether the guest should be notified.
    pub fn process_queue<M: GuestMemory<Bitmap = ()>>(
        &mut self,
        mem: &M,
        queue: &mut Queue,
    ) -> bool {
        let mut used = false;
        while let Some(chain) = queue.pop_descriptor_chain(mem) {
            let head = chain.head_index();
            let len = match Request::parse(mem, chain) {
                Ok(mut req) => {
                    let status = self.execute(&mut req);
                    req.complete(status)
                }
                Err(e) => {
                    self.malformed += 1;
                    tracing::warn!("virtio-blk: rejected request: {e}");
                    0
                }
            };
            if let Err(e) = queue.add_used(mem, head, len) {
                tracing::warn!("virtio-blk: cannot return descriptor {head}: {e}");
            }
            used = true;
        }
        used
    }

    fn execute(&mut self, req: &mut Request) -> u8 {
        let result = match req.operation {
            Operation::Read { sector } => self.read(sector, req),
            Operation::Write { sector } => self.write(sector, req),
            Operation::Flush => self.file.sync_data().map_err(|e| e.to_string()),
            Operation::GetId => {
                let n = req.data_out.available_bytes().min(ID_LEN);
                req.data_out
                    .write_all(&self.id[..n])
                    .map_err(|e| e.to_string())
            }
            Operation::Discard => self.for_segments(req, |d, (offset, len)| {
                // Discard is advisory: a host file system without hole
                // punching keeps the blocks, and the guest is not told.
                let _ = punch_hole(&d.file, offset, len);
                Ok(())
            }),
            Operation::WriteZeroes => self.for_segments(req, |d, s| d.zero(s.0, s.1)),
            Operation::Unsupported(t) => {
                tracing::debug!("virtio-blk: unsupported request type {t}");
                return S_UNSUPP;
            }
        };
        match result {
            Ok(()) => S_OK,
            Err(e) => {
                tracing::warn!("virtio-blk: request failed: {e}");
                S_IOERR
            }
        }
    }

    /// Checks that `len` bytes from `sector` are whole sectors inside the
    /// disk; returns the byte offset.
    fn checked_range(&self, sector: u64, len: u64) -> Result<u64, String> {
        if !len.is_multiple_of(SECTOR_SIZE) {
            return Err(format!("length {len} is not a whole number of sectors"));
        }
        let count = len / SECTOR_SIZE;
        match sector.checked_add(count) {
            Some(end) if end <= self.sectors => Ok(sector * SECTOR_SIZE),
            _ => Err(format!(
                "sectors {sector}+{count} lie outside the {}-sector disk",
                self.sectors
            )),
        }
    }

    /// Runs `step(file, chunk, byte offset)` over `len` bytes from byte
    /// `offset`, one buffer-sized chunk at a time.
    fn in_chunks(
        &mut self,
        mut offset: u64,
        len: usize,
        mut step: impl FnMut(&File, &mut [u8], u64) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut left = len;
        while left > 0 {
            let buf = chunk(&mut self.buf, left);
            step(&self.file, buf, offset)?;
            offset += buf.len() as u64;
            left -= buf.len();
        }
        Ok(())
    }

    fn read(&mut self, sector: u64, req: &mut Request) -> Result<(), String> {
        let len = req.data_out.available_bytes();
        let offset = self.checked_range(sector, len as u64)?;
        self.in_chunks(offset, len, |file, buf, at| {
            file.read_exact_at(buf, at)
                .map_err(|e| format!("reading at {at}: {e}"))?;
            req.data_out.write_all(buf).map_err(|e| e.to_string())
        })
    }

    fn write(&mut self, sector: u64, req: &mut Request) -> Result<(), String> {
        let len = req.data_in.available_bytes();
        let offset = self.checked_range(sector, len as u64)?;
        self.in_chunks(offset, len, |file, buf, at| {
            req.data_in.read_exact(buf).map_err(|e| e.to_string())?;
            // Zeroed pages (a fresh file system's tables, freed space) are
            // stored as holes rather than as allocated zeros.
            let n = buf.len() as u64;
            let punched = at.is_multiple_of(HOLE_ALIGN)
                && n.is_multiple_of(HOLE_ALIGN)
                && buf.iter().all(|&b| b == 0)
                && punch_hole(file, at, n).is_ok();
            if punched {
                return Ok(());
            }
            file.write_all_at(buf, at)
                .map_err(|e| format!("writing at {at}: {e}"))
        })
    }

    /// Runs `apply(byte offset, byte length)` for each segment of a discard
    /// or write-zeroes request, after checking them all.
    fn for_segments(
        &mut self,
        req: &mut Request,
        apply: impl Fn(&mut Self, (u64, u64)) -> Result<(), String>,
    ) -> Result<(), String> {
        let len = req.data_in.available_bytes();
        if !len.is_multiple_of(SEGMENT_LEN) || len / SEGMENT_LEN > MAX_DISCARD_SEGMENTS as usize {
            return Err(format!("{len} bytes of segments"));
        }
        let mut ranges = Vec::with_capacity(len / SEGMENT_LEN);
        for _ in 0..len / SEGMENT_LEN {
            let mut raw = [0u8; SEGMENT_LEN];
            req.data_in
                .read_exact(&mut raw)
                .map_err(|e| e.to_string())?;
            let seg = Segment::parse(&raw);
            if seg.sectors > MAX_DISCARD_SECTORS {
                return Err(format!("segment of {} sectors", seg.sectors));
            }
            let bytes = seg.sectors as u64 * SECTOR_SIZE;
            ranges.push((self.checked_range(seg.sector, bytes)?, bytes));
        }
        for range in ranges {
            apply(self, range)?;
        }
        Ok(())
    }

    /// Zeroes a range: a hole where the host file system can make one,
    /// written zeros where it cannot.
    fn zero(&mut self, offset: u64, len: u64) -> Result<(), String> {
        if punch_hole(&self.file, offset, len).is_ok() {
            return Ok(());
        }
        self.in_chunks(offset, len as usize, |file, buf, at| {
            buf.fill(0);
            file.write_all_at(buf, at)
                .map_err(|e| format!("writing at {at}: {e}"))
        })
    }
}

/// Deallocates a byte range of `file`, keeping its size; reads of the
/// range return zeros afterwards.
fn punch_hole(file: &File, offset: u64, len: u64) -> std::io::Result<()> {
    let (Ok(off), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Err(std::io::Error::from(std::io::ErrorKind::InvalidInput));
    };
    // SAFETY: fallocate only reads its integer arguments; the fd is open
    // for as long as `file` is borrowed.
    let rc = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
            off,
            len,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// The first `len` bytes (at most [`IO_CHUNK`]) of the reusable buffer.
fn chunk(buf: &mut Vec<u8>, len: usize) -> &mut [u8] {
    if buf.len() < IO_CHUNK {
        buf.resize(IO_CHUNK, 0);
    }
    &mut buf[..len.min(IO_CHUNK)]
}
