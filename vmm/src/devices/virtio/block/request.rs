//! One virtio-blk request (virtio spec 5.2.6): a 16-byte header and, for
//! writes and discards, data in device-readable descriptors; for reads,
//! room in device-writable descriptors, whose last byte is the status.

use std::io::Read;
use virtio_queue::{DescriptorChain, Reader, Writer};
use vm_memory::GuestMemory;

pub const HEADER_LEN: usize = 16;
/// A discard / write-zeroes segment: le64 sector, le32 sectors, le32 flags.
pub const SEGMENT_LEN: usize = 16;

pub const T_IN: u32 = 0;
pub const T_OUT: u32 = 1;
pub const T_FLUSH: u32 = 4;
pub const T_GET_ID: u32 = 8;
pub const T_DISCARD: u32 = 11;
pub const T_WRITE_ZEROES: u32 = 13;

pub const S_OK: u8 = 0;
pub const S_IOERR: u8 = 1;
pub const S_UNSUPP: u8 = 2;

/// Length of the device id a GET_ID request reads.
pub const ID_LEN: usize = 20;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChainError {
    #[error("descriptor chain is not valid guest memory: {0}")]
    BadChain(String),
    #[error("request chain holds {0} readable bytes, fewer than a header")]
    ShortHeader(usize),
    #[error("request chain has no writable status byte")]
    NoStatus,
}

/// What the request asks for, with its data still in guest memory.
pub enum Operation {
    Read { sector: u64 },
    Write { sector: u64 },
    Flush,
    GetId,
    Discard,
    WriteZeroes,
    Unsupported(u32),
}

/// A parsed request: the operation, a reader over the data the guest
/// wrote (after the header), and writers for the data the device returns
/// and for the status byte.
pub struct Request<'a> {
    pub operation: Operation,
    pub data_in: Reader<'a, ()>,
    pub data_out: Writer<'a, ()>,
    status: Writer<'a, ()>,
}

impl<'a> Request<'a> {
    pub fn parse<M, T>(mem: &'a M, chain: DescriptorChain<T>) -> Result<Self, ChainError>
    where
        M: GuestMemory<Bitmap = ()>,
        T: std::ops::Deref + Clone,
        T::Target: GuestMemory + Sized,
    {
        let bad = |e: virtio_queue::Error| ChainError::BadChain(e.to_string());
        let mut data_in = Reader::new(mem, chain.clone()).map_err(bad)?;
        let mut data_out = Writer::new(mem, chain).map_err(bad)?;
        let readable = data_in.available_bytes();
        if readable < HEADER_LEN {
            return Err(ChainError::ShortHeader(readable));
        }
        let room = data_out.available_bytes();
        if room == 0 {
            return Err(ChainError::NoStatus);
        }
        let status = data_out.split_at(room - 1).map_err(bad)?;
        let mut header = [0u8; HEADER_LEN];
        data_in
            .read_exact(&mut header)
            .map_err(|e| ChainError::BadChain(e.to_string()))?;
        let type_ = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let mut sector = [0u8; 8];
        sector.copy_from_slice(&header[8..16]);
        let sector = u64::from_le_bytes(sector);
        let operation = match type_ {
            T_IN => Operation::Read { sector },
            T_OUT => Operation::Write { sector },
            T_FLUSH => Operation::Flush,
            T_GET_ID => Operation::GetId,
            T_DISCARD => Operation::Discard,
            T_WRITE_ZEROES => Operation::WriteZeroes,
            other => Operation::Unsupported(other),
        };
        Ok(Request {
            operation,
            data_in,
            data_out,
            status,
        })
    }

    /// Writes the status byte; returns the bytes the device wrote into the
    /// chain, for the used ring.
    pub fn complete(mut self, status: u8) -> u32 {
        use std::io::Write;
        let written = self.data_out.bytes_written();
        match self.status.write_all(&[status]) {
            Ok(()) => (written + 1) as u32,
            Err(_) => written as u32,
        }
    }
}

/// One range of a discard or write-zeroes request, in sectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub sector: u64,
    pub sectors: u32,
    pub unmap: bool,
}

impl Segment {
    pub fn parse(raw: &[u8; SEGMENT_LEN]) -> Segment {
        let mut sector = [0u8; 8];
        sector.copy_from_slice(&raw[0..8]);
        Segment {
            sector: u64::from_le_bytes(sector),
            sectors: u32::from_le_bytes([raw[8], raw[9], raw[10], raw[11]]),
            unmap: raw[12] & 1 == 1,
        }
    }
}
