//! The host ↔ guest-agent protocol: message types and their framing.
//!
//! Control traffic runs on vsock port [`AGENT_PORT`] as length-delimited
//! frames (a 4-byte big-endian length, then a JSON body). Each request carries
//! an id that its response repeats, so several requests can be in flight on
//! one connection. Process stdio never shares the control connection: each
//! stream is its own vsock connection to [`STREAM_PORT`], opened with a
//! [`StreamAttach`] frame and raw bytes after it. Published ports reach
//! containers through [`FORWARD_PORT`] (see [`ports`]); copies into and out
//! of containers go through [`ARCHIVE_PORT`] (see [`archive`]).

pub mod archive;
pub mod capabilities;
#[cfg(feature = "compression")]
pub mod compression;
pub mod digest;
pub mod frame;
pub mod messages;
pub mod networks;
pub mod ports;
pub mod usage;
pub mod volumes;

pub use archive::{
    chunk_len, ArchiveAction, ArchiveRequest, ChunkReader, ChunkWriter, PathStat, ARCHIVE_PORT,
    MAX_CHUNK,
};
pub use capabilities::CAPABILITY_NAMES;
pub use digest::{Digest, InvalidDigest};
pub use frame::{decode_body, encode_frame, read_frame, write_frame, FrameError, MAX_FRAME_LEN};
#[cfg(feature = "tokio")]
pub use frame::{read_frame_async, write_frame_async};
pub use messages::*;
pub use networks::*;
pub use ports::*;
pub use usage::*;
pub use volumes::*;

/// Bumped whenever a message changes shape; the handshake refuses a mismatch.
pub const PROTOCOL_VERSION: u32 = 14;
/// Guest vsock port of the agent's control server.
pub const AGENT_PORT: u32 = 1024;
/// Guest vsock port on which stdio streams attach to a process.
pub const STREAM_PORT: u32 = 1025;
/// One connection per layer upload; see [`LayerUpload`].
pub const LAYER_PORT: u32 = 1026;
/// One connection per forwarded connection or UDP peer of a published
/// port; see [`ports`].
pub const FORWARD_PORT: u32 = 1027;
