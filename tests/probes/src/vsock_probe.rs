//! `vsock-probe CID:PORT... [io_uring]`: tries what a hostile process in a
//! hutch machine or container would try against the agent, and prints one
//! line per target saying how far it got:
//!
//! - `CID:PORT socket: <error>`: no vsock socket could be made;
//! - `CID:PORT connect: <error>`: nobody listens there;
//! - `CID:PORT closed`: connected, then closed without a byte read or sent
//!   (the agent refusing a peer that is not the host);
//! - `CID:PORT open`: connected and the other side waits for a request:
//!   the port serves us.
//!
//! `io_uring` tries io_uring_setup, the way around a seccomp rule on
//! socket(2) (io_uring can create sockets itself).

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// Seconds an accepted connection may stay silent before we call it open.
const SILENCE_S: u8 = 3;

fn main() {
    let mut served = false;
    for target in std::env::args().skip(1) {
        let outcome = if target == "io_uring" {
            io_uring()
        } else {
            match parse(&target) {
                Some((cid, port)) => probe(cid, port),
                None => format!("not CID:PORT (e.g. 1:1024) or io_uring: {target:?}"),
            }
        };
        served |= outcome == "open" || outcome == "created";
        println!("{target} {outcome}");
    }
    std::process::exit(if served { 1 } else { 0 });
}

fn parse(target: &str) -> Option<(u32, u32)> {
    let (cid, port) = target.split_once(':')?;
    Some((cid.parse().ok()?, port.parse().ok()?))
}

fn probe(cid: u32, port: u32) -> String {
    let socket = match vsock_socket() {
        Ok(fd) => fd,
        Err(e) => return format!("socket: {e}"),
    };
    if let Err(e) = connect(&socket, cid, port) {
        return format!("connect: {e}");
    }
    match wait_for_close(&socket) {
        Ok(true) => "closed".into(),
        Ok(false) => "open".into(),
        Err(e) => format!("read: {e}"),
    }
}

fn vsock_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn connect(socket: &OwnedFd, cid: u32, port: u32) -> io::Result<()> {
    // SAFETY: sockaddr_vm is plain data; all-zero is a valid starting value.
    let mut addr: libc::sockaddr_vm = unsafe { std::mem::zeroed() };
    addr.svm_family = libc::AF_VSOCK as libc::sa_family_t;
    addr.svm_cid = cid;
    addr.svm_port = port;
    // SAFETY: `addr` is a valid sockaddr_vm of the given size.
    let rc = unsafe {
        libc::connect(
            socket.as_raw_fd(),
            &addr as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_vm>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// True when the peer closes without sending anything, false when it is
/// still waiting for us after [`SILENCE_S`] seconds.
fn wait_for_close(socket: &OwnedFd) -> io::Result<bool> {
    let timeout = libc::timeval {
        tv_sec: SILENCE_S.into(),
        tv_usec: 0,
    };
    // SAFETY: setsockopt(2) reads one valid timeval.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVTIMEO,
            &timeout as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::timeval>() as libc::socklen_t,
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut byte = [0u8; 1];
    // SAFETY: read(2) into a valid one-byte buffer.
    let n = unsafe { libc::read(socket.as_raw_fd(), byte.as_mut_ptr().cast(), 1) };
    match n {
        0 => Ok(true),
        n if n > 0 => Err(io::Error::other("the peer spoke first")),
        _ => {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Ok(false),
                io::ErrorKind::ConnectionReset => Ok(true),
                _ => Err(e),
            }
        }
    }
}

fn io_uring() -> String {
    // io_uring_params is 120 bytes; zeroed asks for defaults.
    let mut params = [0u8; 120];
    // SAFETY: io_uring_setup(2) with one entry and a zeroed params block of
    // the kernel's size; a returned fd is closed at once.
    let rc = unsafe { libc::syscall(libc::SYS_io_uring_setup, 1u32, params.as_mut_ptr()) };
    if rc < 0 {
        return format!("setup: {}", io::Error::last_os_error());
    }
    // SAFETY: the fd io_uring_setup just returned, owned by nobody else.
    drop(unsafe { OwnedFd::from_raw_fd(rc as i32) });
    "created".into()
}
