//! AF_VSOCK stream sockets on raw fds (std has no vsock support).

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

pub struct VsockListener {
    fd: OwnedFd,
}

/// A new AF_VSOCK stream socket.
fn vsock_socket() -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2) call; the result is checked before use.
    let raw = unsafe { libc::socket(libc::AF_VSOCK, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh, valid fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

fn vsock_addr(cid: u32, port: u32) -> libc::sockaddr_vm {
    // SAFETY: sockaddr_vm is plain data; all-zero is a valid starting value.
    let mut addr: libc::sockaddr_vm = unsafe { std::mem::zeroed() };
    addr.svm_family = libc::AF_VSOCK as libc::sa_family_t;
    addr.svm_port = port;
    addr.svm_cid = cid;
    addr
}

const VSOCK_ADDR_LEN: libc::socklen_t = std::mem::size_of::<libc::sockaddr_vm>() as libc::socklen_t;

impl VsockListener {
    /// Listens on `port`. Any CID may connect; [`Self::accept`] hands out
    /// only the host's connections.
    pub fn bind(port: u32) -> io::Result<Self> {
        let fd = vsock_socket()?;
        let addr = vsock_addr(libc::VMADDR_CID_ANY, port);
        // SAFETY: `addr` is a valid sockaddr_vm of the given length for the call's duration.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                &addr as *const _ as *const libc::sockaddr,
                VSOCK_ADDR_LEN,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: listen(2) on a valid bound socket.
        if unsafe { libc::listen(fd.as_raw_fd(), 128) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(VsockListener { fd })
    }

    /// The next connection from the host. Connections from anyone else
    /// are closed unread (see [`is_host`]).
    pub fn accept(&self) -> io::Result<VsockStream> {
        loop {
            let (stream, peer_cid) = self.accept_any()?;
            if is_host(peer_cid) {
                return Ok(stream);
            }
            // Dropping it closes it: nothing was read, nothing is answered.
            drop(stream);
            crate::sys::console::log(&format!(
                "refused a vsock connection from CID {peer_cid}: only the host (CID {}) is served",
                libc::VMADDR_CID_HOST
            ));
        }
    }

    /// The next connection from anyone, with the peer's CID.
    fn accept_any(&self) -> io::Result<(VsockStream, u32)> {
        loop {
            // SAFETY: sockaddr_vm is plain data; all-zero is a valid starting value.
            let mut peer: libc::sockaddr_vm = unsafe { std::mem::zeroed() };
            let mut len = std::mem::size_of::<libc::sockaddr_vm>() as libc::socklen_t;
            // SAFETY: accept4(2) on a valid listening socket, writing at most
            // `len` bytes of the peer's address into `peer`.
            let raw = unsafe {
                libc::accept4(
                    self.fd.as_raw_fd(),
                    &mut peer as *mut _ as *mut libc::sockaddr,
                    &mut len,
                    libc::SOCK_CLOEXEC,
                )
            };
            if raw >= 0 {
                // SAFETY: accept4 returned a fresh fd that we now own.
                let file = unsafe { File::from_raw_fd(raw) };
                let stream = VsockStream { file };
                return Ok((stream, peer.svm_cid));
            }
            let err = io::Error::last_os_error();
            if err.kind() != io::ErrorKind::Interrupted {
                return Err(err);
            }
        }
    }
}

/// Whether a connection's peer is the host, the only party the agent
/// serves. vsock is not network-namespaced: any process in the machine,
/// a container's included, can open a vsock socket and connect to the
/// agent's ports through the loopback transport (CID 1, or the machine's
/// own CID). Such a connection arrives with the machine's side as its
/// peer; only the hypervisor's device delivers connections whose source
/// is CID 2, and no guest process can forge that without running kernel
/// code. So the peer CID, set by the kernel, tells the host apart.
pub fn is_host(peer_cid: u32) -> bool {
    peer_cid == libc::VMADDR_CID_HOST
}

/// A connected vsock stream. Reads and writes are plain read(2)/write(2).
pub struct VsockStream {
    file: File,
}

impl VsockStream {
    /// Connects to the host's `port` (the monitor's `<socket>_<port>`).
    pub fn connect_host(port: u32) -> io::Result<Self> {
        let fd = vsock_socket()?;
        let addr = vsock_addr(libc::VMADDR_CID_HOST, port);
        // SAFETY: `addr` is a valid sockaddr_vm of the given length for the call's duration.
        let rc = unsafe {
            libc::connect(
                fd.as_raw_fd(),
                &addr as *const _ as *const libc::sockaddr,
                VSOCK_ADDR_LEN,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(VsockStream { file: fd.into() })
    }

    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(VsockStream {
            file: self.file.try_clone()?,
        })
    }

    /// shutdown(2), as for a TCP socket: after `Write` the host reads EOF
    /// and can still send.
    pub fn shutdown(&self, how: std::net::Shutdown) -> io::Result<()> {
        let how = match how {
            std::net::Shutdown::Read => libc::SHUT_RD,
            std::net::Shutdown::Write => libc::SHUT_WR,
            std::net::Shutdown::Both => libc::SHUT_RDWR,
        };
        // SAFETY: shutdown(2) on a socket fd we own.
        if unsafe { libc::shutdown(self.file.as_raw_fd(), how) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads and writes that wait longer than `limit` fail (SO_RCVTIMEO,
    /// SO_SNDTIMEO), for this stream and every copy of it.
    pub fn set_timeouts(&self, limit: std::time::Duration) -> io::Result<()> {
        // SAFETY: timeval is plain data; all-zero is valid.
        let mut value: libc::timeval = unsafe { std::mem::zeroed() };
        // The fields' types differ between libcs: whole seconds and
        // microseconds fit any of them.
        value.tv_sec = limit.as_secs().try_into().unwrap_or(i32::MAX.into());
        value.tv_usec = limit.subsec_micros().into();
        for option in [libc::SO_RCVTIMEO, libc::SO_SNDTIMEO] {
            // SAFETY: setsockopt(2) on a socket we own, reading a timeval
            // of the given size for the call's duration.
            let rc = unsafe {
                libc::setsockopt(
                    self.file.as_raw_fd(),
                    libc::SOL_SOCKET,
                    option,
                    &value as *const _ as *const libc::c_void,
                    std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        Ok(())
    }

    pub fn into_owned_fd(self) -> OwnedFd {
        self.file.into()
    }
}

impl Read for VsockStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read(buf)
    }
}

impl Write for VsockStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Reads and writes from two threads at once, as with `&TcpStream`.
impl Read for &VsockStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).read(buf)
    }
}

impl Write for &VsockStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&self.file).write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for VsockStream {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.file.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::is_host;

    #[test]
    fn only_the_host_cid_is_served() {
        assert!(is_host(2), "the host");
        for cid in [0, 1, 3, 4, 1000, u32::MAX] {
            // Hypervisor-reserved (0), loopback (1), this or another guest (3+), "any".
            assert!(!is_host(cid), "CID {cid} is not the host");
        }
    }
}
