//! `fetch HOST PORT [SECONDS]`: an HTTP/1.0 GET of `/` with the response
//! (headers and body) on stdout. The name is resolved by musl's own DNS
//! client (busybox's static glibc `wget` cannot resolve through DNS);
//! failures are printed and exit 1.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

fn fetch(host: &str, port: u16, timeout: Duration) -> Result<Vec<u8>, String> {
    let address = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("resolving {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("resolving {host}: no address"))?;
    let mut conn = TcpStream::connect_timeout(&address, timeout)
        .map_err(|e| format!("connecting to {address}: {e}"))?;
    conn.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    conn.write_all(format!("GET / HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())
        .map_err(|e| format!("sending: {e}"))?;
    let mut response = Vec::new();
    conn.read_to_end(&mut response)
        .map_err(|e| format!("reading: {e}"))?;
    Ok(response)
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(host), Some(Ok(port))) = (args.first(), args.get(1).map(|p| p.parse::<u16>())) else {
        eprintln!("usage: fetch HOST PORT [SECONDS]");
        std::process::exit(2);
    };
    let seconds = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5);
    match fetch(host, port, Duration::from_secs(seconds)) {
        Ok(response) => {
            let _ = std::io::stdout().write_all(&response);
        }
        Err(e) => {
            eprintln!("fetch: {e}");
            std::process::exit(1);
        }
    }
}
