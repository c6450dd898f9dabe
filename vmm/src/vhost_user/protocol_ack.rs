//! A shim for QEMU 7.2's vhost-user virtio-net: QEMU sends its
//! SET_VRING_ENABLEs only while attaching the card, before SET_FEATURES,
//! and never again once it starts the rings. A backend that follows the
//! spec (vhost-user-backend does) refuses a ring enable before the
//! protocol features are acked, and after SET_FEATURES acks them keeps the
//! rings disabled until enabled: the card never moves a frame. The shim
//! sits between QEMU and the backend, forwarding every message with its
//! file descriptors, but holds back the early ring enables and replays the
//! last one of each ring right after a SET_FEATURES that acks the protocol
//! features (when one does not, the backend enables every ring itself, as
//! the spec says, and the held ones are dropped). QEMU waits for no answer
//! to them (no REPLY_ACK).

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::mem::size_of;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::time::{Duration, Instant};

const HEADER_LEN: usize = 12;
const SET_FEATURES: u32 = 2;
const SET_VRING_ENABLE: u32 = 18;
const PROTOCOL_FEATURES: u64 = 1 << 30;
/// vhost-user messages carry at most 8 descriptors.
const MAX_FDS: usize = 8;
/// Payloads larger than this are not vhost-user messages.
const MAX_PAYLOAD: usize = 64 * 1024;

/// Waits for QEMU on `public`, connects to the backend on `inner`, and
/// relays between them until either side closes.
pub fn relay(public: &Path, inner: &Path) -> io::Result<()> {
    let listener = UnixListener::bind(public)?;
    let (qemu, _) = listener.accept()?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let backend = loop {
        match UnixStream::connect(inner) {
            Ok(s) => break s,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return Err(e),
        }
    };
    let (mut replies_from, mut replies_to) = (backend.try_clone()?, qemu.try_clone()?);
    std::thread::spawn(move || {
        // Backend to QEMU: replies, no descriptors.
        let _ = io::copy(&mut replies_from, &mut replies_to);
    });
    let (mut from, to) = (qemu, backend);
    let mut acked = false;
    // The last early ring enable of each ring, by ring index.
    let mut held: BTreeMap<u32, Vec<u8>> = BTreeMap::new();
    while let Some((message, fds)) = read_message(&mut from)? {
        match request_of(&message) {
            SET_VRING_ENABLE if !acked => {
                held.insert(ring_of(&message), message);
            }
            SET_FEATURES => {
                acked = acks_protocol_features(&message);
                send_message(&to, &message, &fds)?;
                for enable in std::mem::take(&mut held).into_values() {
                    if acked {
                        send_message(&to, &enable, &[])?;
                    }
                }
            }
            _ => send_message(&to, &message, &fds)?,
        }
    }
    Ok(())
}

/// The ring a SET_VRING_ENABLE is about.
fn ring_of(message: &[u8]) -> u32 {
    let mut index = [0u8; 4];
    if let Some(bytes) = message.get(HEADER_LEN..HEADER_LEN + 4) {
        index.copy_from_slice(bytes);
    }
    u32::from_le_bytes(index)
}

fn request_of(message: &[u8]) -> u32 {
    u32::from_le_bytes([message[0], message[1], message[2], message[3]])
}

/// Whether a SET_FEATURES message acks VHOST_USER_F_PROTOCOL_FEATURES.
fn acks_protocol_features(message: &[u8]) -> bool {
    let mut value = [0u8; 8];
    match message.get(HEADER_LEN..HEADER_LEN + 8) {
        Some(payload) => value.copy_from_slice(payload),
        None => return false,
    }
    u64::from_le_bytes(value) & PROTOCOL_FEATURES != 0
}

/// One message (header and payload) and the descriptors sent with it;
/// `None` once the sender closed.
fn read_message(stream: &mut UnixStream) -> io::Result<Option<(Vec<u8>, Vec<OwnedFd>)>> {
    let mut header = [0u8; HEADER_LEN];
    let (n, fds) = recv_with_fds(stream.as_raw_fd(), &mut header)?;
    if n == 0 {
        return Ok(None);
    }
    stream.read_exact(&mut header[n..])?;
    let size = u32::from_le_bytes([header[8], header[9], header[10], header[11]]) as usize;
    if size > MAX_PAYLOAD {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "oversized vhost-user message",
        ));
    }
    let mut message = header.to_vec();
    message.resize(HEADER_LEN + size, 0);
    stream.read_exact(&mut message[HEADER_LEN..])?;
    Ok(Some((message, fds)))
}

/// recvmsg(2) into `buf`, taking the descriptors that come with it.
fn recv_with_fds(fd: RawFd, buf: &mut [u8]) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut control = [0u8; 256];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    // SAFETY: msghdr is plain data; zeroed then pointed at live buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = control.len() as _;
    // SAFETY: recvmsg writes at most the iovec's and control buffer's lengths.
    let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut fds = Vec::new();
    // SAFETY: walking the control messages recvmsg filled, within
    // msg_controllen; each SCM_RIGHTS one holds descriptors now ours.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg) as *const RawFd;
                let bytes = (*cmsg).cmsg_len as usize - libc::CMSG_LEN(0) as usize;
                for i in 0..bytes / size_of::<RawFd>() {
                    fds.push(OwnedFd::from_raw_fd(std::ptr::read_unaligned(data.add(i))));
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    Ok((n as usize, fds))
}

/// sendmsg(2) of `message` with `fds` attached.
fn send_message(stream: &UnixStream, message: &[u8], fds: &[OwnedFd]) -> io::Result<()> {
    if fds.is_empty() {
        return (&*stream).write_all(message);
    }
    if fds.len() > MAX_FDS {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "too many descriptors",
        ));
    }
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let payload_len = (raw.len() * size_of::<RawFd>()) as u32;
    // SAFETY: CMSG_SPACE is a pure computation.
    let space = unsafe { libc::CMSG_SPACE(payload_len) } as usize;
    let mut control = vec![0u8; space];
    let mut iov = libc::iovec {
        iov_base: message.as_ptr() as *mut libc::c_void,
        iov_len: message.len(),
    };
    // SAFETY: msghdr is plain data; zeroed then pointed at live buffers.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = space as _;
    // SAFETY: one SCM_RIGHTS control message of `raw.len()` descriptors,
    // written inside `control`, which CMSG_SPACE sized for it.
    let sent = unsafe {
        let cmsg = libc::CMSG_FIRSTHDR(&msg);
        (*cmsg).cmsg_level = libc::SOL_SOCKET;
        (*cmsg).cmsg_type = libc::SCM_RIGHTS;
        (*cmsg).cmsg_len = libc::CMSG_LEN(payload_len) as _;
        let data = libc::CMSG_DATA(cmsg) as *mut RawFd;
        std::ptr::copy_nonoverlapping(raw.as_ptr(), data, raw.len());
        libc::sendmsg(stream.as_raw_fd(), &msg, 0)
    };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    // The descriptors went with the first byte; the rest follows plainly.
    (&*stream).write_all(&message[sent as usize..])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(request: u32, payload: &[u8]) -> Vec<u8> {
        let size = payload.len() as u32;
        let mut m = [
            request.to_le_bytes(),
            1u32.to_le_bytes(),
            size.to_le_bytes(),
        ]
        .concat();
        m.extend_from_slice(payload);
        m
    }

    #[test]
    fn only_a_set_features_with_the_protocol_bit_acks_it() {
        let with = message(
            SET_FEATURES,
            &((1u64 << 32) | PROTOCOL_FEATURES).to_le_bytes(),
        );
        let without = message(SET_FEATURES, &(1u64 << 32).to_le_bytes());
        assert!(acks_protocol_features(&with));
        assert!(!acks_protocol_features(&without));
        assert!(
            !acks_protocol_features(&message(SET_FEATURES, &[1, 2])),
            "short"
        );
        assert_eq!(request_of(&with), SET_FEATURES);
    }

    #[test]
    fn early_ring_enables_wait_for_the_features_that_allow_them() {
        let dir = std::env::temp_dir().join(format!("hutch-ack-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (public, inner) = (dir.join("public.sock"), dir.join("inner.sock"));
        let backend = UnixListener::bind(&inner).unwrap();
        let (p, i) = (public.clone(), inner.clone());
        std::thread::spawn(move || relay(&p, &i));
        let qemu = loop {
            match UnixStream::connect(&public) {
                Ok(s) => break s,
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        };
        let (mut seen, _) = backend.accept().unwrap();
        let ring = |index: u32, on: u32| {
            message(
                SET_VRING_ENABLE,
                &[index.to_le_bytes(), on.to_le_bytes()].concat(),
            )
        };
        let acked = message(SET_FEATURES, &PROTOCOL_FEATURES.to_le_bytes());
        let later = ring(0, 0);
        for m in [&ring(0, 0), &ring(0, 1), &ring(1, 1), &acked, &later] {
            send_message(&qemu, m, &[]).unwrap();
        }
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(read_message(&mut seen).unwrap().unwrap().0);
        }
        assert_eq!(got, [acked, ring(0, 1), ring(1, 1), later]);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn messages_cross_with_their_descriptors() {
        let (mut a, b) = UnixStream::pair().unwrap();
        let (mut c, d) = UnixStream::pair().unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        let message = message(5, b"abcd");
        send_message(&b, &message, &[OwnedFd::from(file)]).unwrap();
        let (got, fds) = read_message(&mut a).unwrap().unwrap();
        assert_eq!((got.as_slice(), fds.len()), (message.as_slice(), 1));
        send_message(&d, &got, &fds).unwrap();
        let (again, fds) = read_message(&mut c).unwrap().unwrap();
        assert_eq!((again, fds.len()), (message, 1));
    }
}
