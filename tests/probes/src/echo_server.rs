//! `echo-server tcp|udp PORT`: sends back whatever it receives. TCP: each
//! connection on a thread of its own, echoed until the client's EOF, then
//! its own write side shut (so a half-closed client still gets every
//! byte). UDP: each datagram back to its sender.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, UdpSocket};

fn echo(mut conn: TcpStream) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match conn.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                if conn.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
    let _ = conn.shutdown(Shutdown::Write);
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(protocol), Some(Ok(port))) = (args.first(), args.get(1).map(|p| p.parse::<u16>()))
    else {
        eprintln!("usage: echo-server tcp|udp PORT");
        std::process::exit(2);
    };
    let served = match protocol.as_str() {
        "tcp" => TcpListener::bind(("0.0.0.0", port)).map(|listener| {
            for conn in listener.incoming().flatten() {
                std::thread::spawn(move || echo(conn));
            }
        }),
        "udp" => UdpSocket::bind(("0.0.0.0", port)).map(|socket| {
            let mut buf = vec![0u8; 65_536];
            while let Ok((n, from)) = socket.recv_from(&mut buf) {
                let _ = socket.send_to(&buf[..n], from);
            }
        }),
        _ => {
            eprintln!("usage: echo-server tcp|udp PORT");
            std::process::exit(2);
        }
    };
    if let Err(e) = served {
        eprintln!("echo-server: {e}");
        std::process::exit(1);
    }
}
