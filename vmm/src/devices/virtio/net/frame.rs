//! Frames in guest descriptor chains: each is preceded by a
//! `virtio_net_hdr`, 12 bytes with VIRTIO_F_VERSION_1 (or MRG_RXBUF), whose
//! last field is `num_buffers`, and 10 bytes for a legacy driver.

use std::io::{Read, Write};
use virtio_queue::{DescriptorChain, Reader, Writer};
use vm_memory::GuestMemory;

/// The header of a modern driver.
pub const HEADER_LEN: usize = 12;
/// The header of a legacy driver without MRG_RXBUF.
pub const LEGACY_HEADER_LEN: usize = 10;
/// Largest Ethernet frame accepted or delivered: 1500 bytes of payload,
/// the 14-byte header and room for a VLAN tag.
pub const MAX_FRAME: usize = 1518;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("descriptor chain is not valid guest memory: {0}")]
    BadChain(String),
    #[error("tx chain holds {0} bytes, no frame after the header")]
    Short(usize),
    #[error("tx frame of {0} bytes exceeds {MAX_FRAME}")]
    TooLarge(usize),
    #[error("rx buffer of {room} bytes cannot hold a {needed}-byte frame and its header")]
    NoRoom { room: usize, needed: usize },
    #[error("writing to guest memory failed: {0}")]
    GuestWrite(String),
}

/// Reads the frame of one driver-to-device (tx) chain, skipping its header.
pub fn read_tx_frame<M, T>(
    mem: &M,
    chain: DescriptorChain<T>,
    header_len: usize,
) -> Result<Vec<u8>, FrameError>
where
    M: GuestMemory<Bitmap = ()>,
    T: std::ops::Deref,
    T::Target: GuestMemory + Sized,
{
    let mut reader =
        Reader::<()>::new(mem, chain).map_err(|e| FrameError::BadChain(e.to_string()))?;
    let available = reader.available_bytes();
    if available <= header_len {
        return Err(FrameError::Short(available));
    }
    let len = available - header_len;
    if len > MAX_FRAME {
        return Err(FrameError::TooLarge(len));
    }
    let mut header = vec![0u8; header_len];
    let mut frame = vec![0u8; len];
    reader
        .read_exact(&mut header)
        .and_then(|()| reader.read_exact(&mut frame))
        .map_err(|e| FrameError::BadChain(e.to_string()))?;
    Ok(frame)
}

/// Writes `frame` with a plain header (no offloads, one buffer) into a
/// device-to-driver (rx) chain; the bytes used.
pub fn write_rx_frame<M, T>(
    mem: &M,
    chain: DescriptorChain<T>,
    frame: &[u8],
    header_len: usize,
) -> Result<u32, FrameError>
where
    M: GuestMemory<Bitmap = ()>,
    T: std::ops::Deref,
    T::Target: GuestMemory + Sized,
{
    let mut writer = Writer::new(mem, chain).map_err(|e| FrameError::BadChain(e.to_string()))?;
    let needed = header_len + frame.len();
    let room = writer.available_bytes();
    if room < needed {
        return Err(FrameError::NoRoom { room, needed });
    }
    let mut header = vec![0u8; header_len];
    if header_len == HEADER_LEN {
        // num_buffers (le16 at offset 10): the frame fits in this one chain.
        header[10] = 1;
    }
    let err = |e: std::io::Error| FrameError::GuestWrite(e.to_string());
    writer.write_all(&header).map_err(err)?;
    writer.write_all(frame).map_err(err)?;
    Ok(needed as u32)
}
