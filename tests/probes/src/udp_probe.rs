//! `udp-probe HOST PORT MESSAGE`: sends MESSAGE in one datagram to
//! HOST:PORT and prints the one datagram that comes back (busybox's nc
//! has no UDP mode). Exits 1 when nothing answers within 5 seconds.

use std::net::{ToSocketAddrs, UdpSocket};
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, message] = args.as_slice() else {
        eprintln!("usage: udp-probe HOST PORT MESSAGE");
        std::process::exit(2);
    };
    let Some(target) = (host.as_str(), port.parse().unwrap_or(0))
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
    else {
        eprintln!("udp-probe: cannot resolve {host}");
        std::process::exit(2);
    };
    let answer = (|| -> std::io::Result<String> {
        let socket = UdpSocket::bind("0.0.0.0:0")?;
        socket.set_read_timeout(Some(Duration::from_secs(5)))?;
        socket.send_to(message.as_bytes(), target)?;
        let mut buf = [0u8; 2048];
        let (n, _) = socket.recv_from(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf[..n]).into_owned())
    })();
    match answer {
        Ok(text) => println!("{text}"),
        Err(e) => {
            eprintln!("udp-probe: {e}");
            std::process::exit(1);
        }
    }
}
