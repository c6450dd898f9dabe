//! vsock packets: the 44-byte little-endian header of virtio spec 5.10.6
//! and moving packets in and out of guest descriptor chains.

use std::io::{Read, Write};
use virtio_queue::{DescriptorChain, Reader, Writer};
use vm_memory::GuestMemory;

pub const HEADER_LEN: usize = 44;
/// Largest payload accepted from the guest in one packet; Linux sends at
/// most 64 KiB (VIRTIO_VSOCK_MAX_PKT_BUF_SIZE).
pub const MAX_PAYLOAD: usize = 64 * 1024;

pub const TYPE_STREAM: u16 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u16)]
pub enum Op {
    Request = 1,
    Response = 2,
    Rst = 3,
    Shutdown = 4,
    Rw = 5,
    CreditUpdate = 6,
    CreditRequest = 7,
}

impl Op {
    fn from_u16(v: u16) -> Option<Op> {
        Some(match v {
            1 => Op::Request,
            2 => Op::Response,
            3 => Op::Rst,
            4 => Op::Shutdown,
            5 => Op::Rw,
            6 => Op::CreditUpdate,
            7 => Op::CreditRequest,
            _ => return None,
        })
    }
}

/// SHUTDOWN flags: the sender will receive no more / send no more.
pub const SHUTDOWN_RCV: u32 = 1;
pub const SHUTDOWN_SEND: u32 = 2;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub src_cid: u64,
    pub dst_cid: u64,
    pub src_port: u32,
    pub dst_port: u32,
    pub len: u32,
    pub type_: u16,
    pub op: u16,
    pub flags: u32,
    pub buf_alloc: u32,
    pub fwd_cnt: u32,
}

impl Header {
    pub fn parse(b: &[u8; HEADER_LEN]) -> Header {
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().unwrap_or_default());
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().unwrap_or_default());
        let u16_at = |o: usize| u16::from_le_bytes(b[o..o + 2].try_into().unwrap_or_default());
        Header {
            src_cid: u64_at(0),
            dst_cid: u64_at(8),
            src_port: u32_at(16),
            dst_port: u32_at(20),
            len: u32_at(24),
            type_: u16_at(28),
            op: u16_at(30),
            flags: u32_at(32),
            buf_alloc: u32_at(36),
            fwd_cnt: u32_at(40),
        }
    }

    pub fn to_bytes(self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..8].copy_from_slice(&self.src_cid.to_le_bytes());
        b[8..16].copy_from_slice(&self.dst_cid.to_le_bytes());
        b[16..20].copy_from_slice(&self.src_port.to_le_bytes());
        b[20..24].copy_from_slice(&self.dst_port.to_le_bytes());
        b[24..28].copy_from_slice(&self.len.to_le_bytes());
        b[28..30].copy_from_slice(&self.type_.to_le_bytes());
        b[30..32].copy_from_slice(&self.op.to_le_bytes());
        b[32..36].copy_from_slice(&self.flags.to_le_bytes());
        b[36..40].copy_from_slice(&self.buf_alloc.to_le_bytes());
        b[40..44].copy_from_slice(&self.fwd_cnt.to_le_bytes());
        b
    }

    pub fn op(&self) -> Option<Op> {
        Op::from_u16(self.op)
    }
}

/// A packet as the device sees it: header plus owned payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub header: Header,
    pub payload: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PacketError {
    #[error("descriptor chain is not valid guest memory: {0}")]
    BadChain(String),
    #[error("tx chain holds {0} bytes, fewer than a header")]
    ShortHeader(usize),
    #[error("header says {declared} payload bytes but the chain holds {available}")]
    PayloadMismatch { declared: usize, available: usize },
    #[error("payload of {0} bytes exceeds the {MAX_PAYLOAD}-byte limit")]
    PayloadTooLarge(usize),
    #[error("rx chain has {0} writable bytes, fewer than a header")]
    ShortRxBuffer(usize),
    #[error("writing to guest memory failed: {0}")]
    GuestWrite(String),
}

/// Reads one packet from a driver-to-device (tx) chain. Every address and
/// length comes from the guest and is checked by `Reader` against guest
/// memory; the declared payload length is checked against what the chain
/// really holds and against [`MAX_PAYLOAD`].
pub fn read_tx_packet<M, T>(mem: &M, chain: DescriptorChain<T>) -> Result<Packet, PacketError>
where
    M: GuestMemory<Bitmap = ()>,
    T: std::ops::Deref,
    T::Target: GuestMemory + Sized,
{
    let mut reader =
        Reader::<()>::new(mem, chain).map_err(|e| PacketError::BadChain(e.to_string()))?;
    let available = reader.available_bytes();
    if available < HEADER_LEN {
        return Err(PacketError::ShortHeader(available));
    }
    let mut raw = [0u8; HEADER_LEN];
    reader
        .read_exact(&mut raw)
        .map_err(|e| PacketError::BadChain(e.to_string()))?;
    let header = Header::parse(&raw);
    let declared = header.len as usize;
    if declared > MAX_PAYLOAD {
        return Err(PacketError::PayloadTooLarge(declared));
    }
    let available = reader.available_bytes();
    if declared > available {
        return Err(PacketError::PayloadMismatch {
            declared,
            available,
        });
    }
    let mut payload = vec![0u8; declared];
    reader
        .read_exact(&mut payload)
        .map_err(|e| PacketError::BadChain(e.to_string()))?;
    Ok(Packet { header, payload })
}

/// A device-to-driver (rx) chain opened for writing, so the caller can learn
/// how much room there is before deciding what to put in it.
pub struct RxBuffer<'a> {
    writer: Writer<'a, ()>,
}

impl<'a> RxBuffer<'a> {
    pub fn new<M, T>(mem: &'a M, chain: DescriptorChain<T>) -> Result<Self, PacketError>
    where
        M: GuestMemory<Bitmap = ()>,
        T: std::ops::Deref,
        T::Target: GuestMemory + Sized,
    {
        let writer = Writer::new(mem, chain).map_err(|e| PacketError::BadChain(e.to_string()))?;
        let room = writer.available_bytes();
        if room < HEADER_LEN {
            return Err(PacketError::ShortRxBuffer(room));
        }
        Ok(RxBuffer { writer })
    }

    /// Payload bytes that fit after the header.
    pub fn payload_room(&self) -> usize {
        self.writer.available_bytes() - HEADER_LEN
    }

    /// Writes the packet; returns the number of bytes used in the chain.
    pub fn write(mut self, header: &Header, payload: &[u8]) -> Result<u32, PacketError> {
        let err = |e: std::io::Error| PacketError::GuestWrite(e.to_string());
        self.writer.write_all(&header.to_bytes()).map_err(err)?;
        self.writer.write_all(payload).map_err(err)?;
        Ok((HEADER_LEN + payload.len()) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip() {
        let h = Header {
            src_cid: 3,
            dst_cid: 2,
            src_port: 1234,
            dst_port: 1024,
            len: 17,
            type_: TYPE_STREAM,
            op: Op::Rw as u16,
            flags: 0,
            buf_alloc: 262144,
            fwd_cnt: 99,
        };
        assert_eq!(Header::parse(&h.to_bytes()), h);
        assert_eq!(h.op(), Some(Op::Rw));
    }

    #[test]
    fn unknown_op_is_none() {
        let mut raw = [0u8; HEADER_LEN];
        raw[30] = 42;
        assert_eq!(Header::parse(&raw).op(), None);
    }
}
