//! Length-delimited frames: `u32` big-endian body length, then a JSON body.

use serde::{de::DeserializeOwned, Serialize};
use std::io::{self, Read, Write};

/// Frames larger than this are refused on both sides; no message comes close.
pub const MAX_FRAME_LEN: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes is larger than the {MAX_FRAME_LEN}-byte limit")]
    TooLarge(usize),
    #[error("connection closed in the middle of a frame")]
    Truncated,
    #[error("malformed frame body: {0}")]
    Malformed(#[from] serde_json::Error),
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
}

/// Serializes `msg` into one complete frame (length prefix included).
pub fn encode_frame<T: Serialize>(msg: &T) -> Result<Vec<u8>, FrameError> {
    let body = serde_json::to_vec(msg)?;
    if body.len() > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(body.len()));
    }
    let mut frame = Vec::with_capacity(4 + body.len());
    frame.extend_from_slice(&(body.len() as u32).to_be_bytes());
    frame.extend_from_slice(&body);
    Ok(frame)
}

/// Checks a received length prefix before anything is allocated for the body.
fn body_len(prefix: [u8; 4]) -> Result<usize, FrameError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if len > MAX_FRAME_LEN {
        return Err(FrameError::TooLarge(len));
    }
    Ok(len)
}

pub fn decode_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, FrameError> {
    Ok(serde_json::from_slice(body)?)
}

pub fn write_frame<T: Serialize, W: Write>(w: &mut W, msg: &T) -> Result<(), FrameError> {
    w.write_all(&encode_frame(msg)?)?;
    w.flush()?;
    Ok(())
}

/// Reads one frame. `Ok(None)` is a clean end of stream between frames;
/// an end of stream inside a frame is [`FrameError::Truncated`].
pub fn read_frame<T: DeserializeOwned, R: Read>(r: &mut R) -> Result<Option<T>, FrameError> {
    let mut prefix = [0u8; 4];
    if !fill_or_eof(r, &mut prefix)? {
        return Ok(None);
    }
    let mut body = vec![0u8; body_len(prefix)?];
    if !fill_or_eof(r, &mut body)? && !body.is_empty() {
        return Err(FrameError::Truncated);
    }
    decode_body(&body).map(Some)
}

/// Fills `buf` completely. Returns false if the stream ended before the first
/// byte, and `Truncated` if it ended part-way.
fn fill_or_eof<R: Read>(r: &mut R, buf: &mut [u8]) -> Result<bool, FrameError> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) if filled == 0 => return Ok(false),
            Ok(0) => return Err(FrameError::Truncated),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(true)
}

#[cfg(feature = "tokio")]
pub async fn write_frame_async<T, W>(w: &mut W, msg: &T) -> Result<(), FrameError>
where
    T: Serialize,
    W: tokio::io::AsyncWrite + Unpin,
{
    use tokio::io::AsyncWriteExt;
    w.write_all(&encode_frame(msg)?).await?;
    w.flush().await?;
    Ok(())
}

#[cfg(feature = "tokio")]
pub async fn read_frame_async<T, R>(r: &mut R) -> Result<Option<T>, FrameError>
where
    T: DeserializeOwned,
    R: tokio::io::AsyncRead + Unpin,
{
    use tokio::io::AsyncReadExt;
    let mut prefix = [0u8; 4];
    let mut filled = 0;
    while filled < 4 {
        match r.read(&mut prefix[filled..]).await? {
            0 if filled == 0 => return Ok(None),
            0 => return Err(FrameError::Truncated),
            n => filled += n,
        }
    }
    let mut body = vec![0u8; body_len(prefix)?];
    r.read_exact(&mut body).await.map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => FrameError::Truncated,
        _ => FrameError::Io(e),
    })?;
    decode_body(&body).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{Envelope, ExecSpec, Request};

    fn sample() -> Envelope<Request> {
        Envelope {
            id: 7,
            body: Request::Exec(ExecSpec {
                args: vec!["uname".into(), "-a".into()],
                env: vec!["PATH=/bin".into()],
                cwd: Some("/".into()),
                stdin: true,
                container: None,
                user: None,
                tty: false,
            }),
        }
    }

    #[test]
    fn round_trip() {
        let frame = encode_frame(&sample()).unwrap();
        let mut cursor = io::Cursor::new(frame);
        let back: Envelope<Request> = read_frame(&mut cursor).unwrap().unwrap();
        assert_eq!(back, sample());
        // Then a clean end of stream.
        assert!(read_frame::<Envelope<Request>, _>(&mut cursor)
            .unwrap()
            .is_none());
    }

    #[test]
    fn truncated_frames_are_rejected_at_every_cut() {
        let frame = encode_frame(&sample()).unwrap();
        for cut in 1..frame.len() {
            let mut cursor = io::Cursor::new(&frame[..cut]);
            let err = read_frame::<Envelope<Request>, _>(&mut cursor).unwrap_err();
            assert!(matches!(err, FrameError::Truncated), "cut {cut}: {err}");
        }
    }

    #[test]
    fn oversized_length_is_refused_before_allocating() {
        let mut frame = ((MAX_FRAME_LEN + 1) as u32).to_be_bytes().to_vec();
        frame.extend_from_slice(b"{}");
        let err = read_frame::<Envelope<Request>, _>(&mut io::Cursor::new(frame)).unwrap_err();
        assert!(matches!(err, FrameError::TooLarge(n) if n == MAX_FRAME_LEN + 1));
    }

    #[test]
    fn oversized_message_is_refused_on_encode() {
        let huge = Request::Exec(ExecSpec {
            args: vec!["x".repeat(MAX_FRAME_LEN)],
            env: vec![],
            cwd: None,
            stdin: false,
            container: None,
            user: None,
            tty: false,
        });
        assert!(matches!(encode_frame(&huge), Err(FrameError::TooLarge(_))));
    }

    #[test]
    fn garbage_body_is_malformed() {
        let mut frame = 5u32.to_be_bytes().to_vec();
        frame.extend_from_slice(b"nope!");
        let err = read_frame::<Envelope<Request>, _>(&mut io::Cursor::new(frame)).unwrap_err();
        assert!(matches!(err, FrameError::Malformed(_)));
    }

    #[cfg(feature = "tokio")]
    #[tokio::test]
    async fn async_round_trip_and_truncation() {
        let frame = encode_frame(&sample()).unwrap();
        let mut whole = &frame[..];
        let back: Envelope<Request> = read_frame_async(&mut whole).await.unwrap().unwrap();
        assert_eq!(back, sample());
        let mut cut = &frame[..frame.len() - 1];
        let err = read_frame_async::<Envelope<Request>, _>(&mut cut)
            .await
            .unwrap_err();
        assert!(matches!(err, FrameError::Truncated));

        let mut out = Vec::new();
        write_frame_async(&mut out, &sample()).await.unwrap();
        assert_eq!(out, frame);
    }
}
