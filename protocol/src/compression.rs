//! Layer compression, recognised by magic bytes rather than trusted from a
//! media type: gzip, zstd (every frame, skippable ones skipped) or none.

use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};
use std::io::{self, BufRead, BufReader, Read};

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

impl Compression {
    /// Recognises the compression from the first bytes of a stream.
    pub fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&GZIP_MAGIC) {
            Compression::Gzip
        } else if head.starts_with(&ZSTD_MAGIC) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }
}

/// `input` with its compression (if any) undone.
pub fn decompressed<'a>(input: impl Read + 'a) -> io::Result<Box<dyn Read + 'a>> {
    let mut buffered = BufReader::with_capacity(256 * 1024, input);
    let compression = Compression::sniff(buffered.fill_buf()?);
    Ok(match compression {
        Compression::None => Box::new(buffered),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
        Compression::Zstd => Box::new(ZstdFrames::new(buffered)),
    })
}

/// Decodes a stream of zstd frames one after another.
struct ZstdFrames<R: BufRead> {
    source: R,
    decoder: FrameDecoder,
    /// Whether a frame has been started (and not yet fully returned).
    in_frame: bool,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(source: R) -> Self {
        ZstdFrames {
            source,
            decoder: FrameDecoder::new(),
            in_frame: false,
        }
    }

    /// Starts the next frame, skipping skippable ones; false at the end of
    /// the input.
    fn next_frame(&mut self) -> io::Result<bool> {
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let mut skip = (&mut self.source).take(length.into());
                    if io::copy(&mut skip, &mut io::sink())? < u64::from(length) {
                        return Err(truncated());
                    }
                }
                Err(e) => return Err(invalid(e)),
            }
        }
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("zstd: {e}"))
}

fn truncated() -> io::Error {
    io::Error::new(io::ErrorKind::UnexpectedEof, "zstd stream is truncated")
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                while self.decoder.can_collect() == 0 && !self.decoder.is_finished() {
                    self.decoder
                        .decode_blocks(&mut self.source, BlockDecodingStrategy::UptoBlocks(1))
                        .map_err(|e| match e {
                            ruzstd::decoding::errors::FrameDecoderError::FailedToReadBlockHeader(_)
                            | ruzstd::decoding::errors::FrameDecoderError::FailedToReadBlockBody(_) => truncated(),
                            other => invalid(other),
                        })?;
                }
                let n = self.decoder.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
                self.in_frame = false;
            }
            if !self.next_frame()? {
                return Ok(0);
            }
            self.in_frame = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(input: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        decompressed(input)?.read_to_end(&mut out)?;
        Ok(out)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn plain_and_gzip_pass_through() {
        let data = b"hello layer".repeat(1000);
        assert_eq!(read_all(&data).unwrap(), data);
        assert_eq!(read_all(&gzip(&data)).unwrap(), data);
    }

    #[test]
    fn zstd_frames_and_skippable_frames_decode_in_order() {
        let a = ruzstd::encoding::compress_to_vec(
            &b"first frame "[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        let b = ruzstd::encoding::compress_to_vec(
            &b"second".repeat(5000)[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        let mut skippable = vec![0x50, 0x2a, 0x4d, 0x18];
        skippable.extend_from_slice(&3u32.to_le_bytes());
        skippable.extend_from_slice(b"xyz");
        let stream = [a, skippable, b].concat();
        let mut want = b"first frame ".to_vec();
        want.extend(b"second".repeat(5000));
        assert_eq!(read_all(&stream).unwrap(), want);
    }

    #[test]
    fn truncated_streams_are_errors() {
        let z = ruzstd::encoding::compress_to_vec(
            &b"abc".repeat(100_000)[..],
            ruzstd::encoding::CompressionLevel::Fastest,
        );
        assert!(read_all(&z[..z.len() / 2]).is_err());
        let g = gzip(&b"abc".repeat(100_000));
        assert!(read_all(&g[..g.len() / 2]).is_err());
    }
}
