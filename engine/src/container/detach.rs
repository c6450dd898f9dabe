//! docker's detach keys: typed into an attached terminal (Ctrl-P Ctrl-Q
//! unless told otherwise), they end the attachment and leave the
//! container running. They are looked for only with a terminal, as
//! docker does: without one, input is data and passes untouched.

use super::ContainerError;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetachKeys(Vec<u8>);

impl Default for DetachKeys {
    /// Ctrl-P Ctrl-Q.
    fn default() -> DetachKeys {
        DetachKeys(vec![0x10, 0x11])
    }
}

impl DetachKeys {
    /// docker's notation: keys separated by commas, each a single
    /// character or `ctrl-X` (X a letter or one of `@[\]^_`), e.g.
    /// `ctrl-p,ctrl-q` or `ctrl-a,d`.
    pub fn parse(text: &str) -> Result<DetachKeys, ContainerError> {
        let bad = || {
            ContainerError::InvalidRequest(format!(
                "invalid detach keys {text:?}: give keys separated by commas, each a \
                 character or ctrl-<letter> (or ctrl-@, ctrl-[, ctrl-\\, ctrl-], ctrl-^, ctrl-_), \
                 e.g. ctrl-p,ctrl-q"
            ))
        };
        let mut keys = Vec::new();
        for key in text.split(',') {
            let mut chars = key.chars();
            let byte = match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii() => c as u8,
                _ => {
                    let rest = key.strip_prefix("ctrl-").ok_or_else(bad)?;
                    let &[c] = rest.as_bytes() else {
                        return Err(bad());
                    };
                    match c.to_ascii_lowercase() {
                        c @ b'a'..=b'z' => c - b'a' + 1,
                        c @ (b'@' | b'[' | b'\\' | b']' | b'^' | b'_') => c - b'@',
                        _ => return Err(bad()),
                    }
                }
            };
            keys.push(byte);
        }
        Ok(DetachKeys(keys))
    }

    fn scanner(&self) -> Scanner<'_> {
        Scanner {
            keys: &self.0,
            matched: 0,
        }
    }
}

/// How a stream of input ended.
#[derive(Debug, PartialEq, Eq)]
pub enum InputEnd {
    /// EOF, or the process stopped taking input.
    Closed,
    /// The detach keys were typed.
    Detached,
}

/// Finds the detach keys in input read piece by piece. Bytes that might
/// begin them are held back until it is known whether they do.
struct Scanner<'a> {
    keys: &'a [u8],
    matched: usize,
}

impl Scanner<'_> {
    /// Appends to `out` what of `input` passes on; true once the keys
    /// have been typed (what followed them is dropped).
    fn scan(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        for &byte in input {
            if byte == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return true;
                }
                continue;
            }
            // Not the keys after all: what was held back passes on, and
            // this byte may begin them afresh.
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            // (Only reached with keys longer than one: a one-key match
            // has returned above.)
            if byte == self.keys[0] {
                self.matched = 1;
            } else {
                out.push(byte);
            }
        }
        false
    }
}

/// Copies `from` to `to` until EOF or, with `keys`, until they are
/// typed. On EOF `to` is shut down (the process sees the end of its
/// input); on detaching it is left as it is.
pub async fn copy_input<R, W>(mut from: R, mut to: W, keys: Option<&DetachKeys>) -> InputEnd
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut scanner = keys.map(DetachKeys::scanner);
    let mut buf = vec![0; 16 << 10];
    let mut passed = Vec::with_capacity(buf.len());
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        passed.clear();
        let detached = match scanner.as_mut() {
            Some(scanner) => scanner.scan(&buf[..n], &mut passed),
            None => {
                passed.extend_from_slice(&buf[..n]);
                false
            }
        };
        if to.write_all(&passed).await.is_err() {
            return InputEnd::Closed;
        }
        if detached {
            let _ = to.flush().await;
            return InputEnd::Detached;
        }
    }
    let _ = to.shutdown().await;
    InputEnd::Closed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan_all(keys: &DetachKeys, pieces: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut scanner = keys.scanner();
        let mut out = Vec::new();
        for piece in pieces {
            if scanner.scan(piece, &mut out) {
                return (out, true);
            }
        }
        (out, false)
    }

    #[test]
    fn parses_docker_notation() {
        assert_eq!(
            DetachKeys::parse("ctrl-p,ctrl-q").unwrap(),
            DetachKeys::default()
        );
        assert_eq!(DetachKeys::parse("ctrl-a,d").unwrap().0, [1, b'd']);
        assert_eq!(DetachKeys::parse("ctrl-@,ctrl-_").unwrap().0, [0, 0x1f]);
        assert_eq!(DetachKeys::parse("ctrl-\\").unwrap().0, [0x1c]);
        for bad in [
            "",
            "ctrl-",
            "ctrl-pp",
            "ctrl-1",
            "ab",
            "ctrl-p,,ctrl-q",
            "é",
        ] {
            let err = DetachKeys::parse(bad).unwrap_err().to_string();
            assert!(err.contains("e.g. ctrl-p,ctrl-q"), "{bad}: {err}");
        }
    }

    #[test]
    fn finds_the_keys_across_reads() {
        let keys = DetachKeys::default();
        assert_eq!(
            scan_all(&keys, &[b"ls\r\x10", b"\x11more"]),
            (b"ls\r".to_vec(), true)
        );
        assert_eq!(scan_all(&keys, &[b"a\x10\x11b"]), (b"a".to_vec(), true));
    }

    #[test]
    fn a_partial_match_passes_on() {
        let keys = DetachKeys::default();
        // Ctrl-P alone is an ordinary key (shell history) once the next
        // key is not Ctrl-Q.
        assert_eq!(
            scan_all(&keys, &[b"\x10", b"x"]),
            (b"\x10x".to_vec(), false)
        );
        // A repeated first key begins the match afresh.
        assert_eq!(
            scan_all(&keys, &[b"\x10\x10\x11"]),
            (b"\x10".to_vec(), true)
        );
        assert_eq!(scan_all(&keys, &[b"plain"]), (b"plain".to_vec(), false));
        let single = DetachKeys::parse("ctrl-x").unwrap();
        assert_eq!(scan_all(&single, &[b"ab\x18c"]), (b"ab".to_vec(), true));
    }

    #[tokio::test]
    async fn copy_input_shuts_down_at_eof_and_not_on_detaching() {
        let (mut to, mut seen) = tokio::io::duplex(1024);
        let end = copy_input(&b"hello"[..], &mut to, Some(&DetachKeys::default())).await;
        assert_eq!(end, InputEnd::Closed);
        drop(to);
        let mut got = Vec::new();
        seen.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"hello");

        let (mut to, mut seen) = tokio::io::duplex(1024);
        let end = copy_input(
            &b"hi\x10\x11after"[..],
            &mut to,
            Some(&DetachKeys::default()),
        )
        .await;
        assert_eq!(end, InputEnd::Detached);
        let mut got = [0u8; 2];
        seen.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"hi");
    }
}
