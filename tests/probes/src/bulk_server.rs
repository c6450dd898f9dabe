//! `bulk-server PORT`: bulk TCP transfers for the network benchmark. Each
//! connection sends one line: `get N` has N bytes sent back before the
//! server closes; `put` has everything up to the client's EOF read and
//! the byte count sent back as a line.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

fn serve(conn: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut conn = conn;
    let chunk = vec![0x5au8; 256 * 1024];
    match line.split_whitespace().collect::<Vec<_>>()[..] {
        ["get", n] => {
            let mut left: u64 = n.parse().unwrap_or(0);
            while left > 0 {
                let take = left.min(chunk.len() as u64) as usize;
                conn.write_all(&chunk[..take])?;
                left -= take as u64;
            }
        }
        ["put"] => {
            let mut buf = vec![0u8; 256 * 1024];
            let mut total = 0u64;
            loop {
                match reader.read(&mut buf)? {
                    0 => break,
                    n => total += n as u64,
                }
            }
            writeln!(conn, "{total}")?;
        }
        _ => writeln!(conn, "usage: get N | put")?,
    }
    Ok(())
}

fn main() {
    let Some(Ok(port)) = std::env::args().nth(1).map(|p| p.parse::<u16>()) else {
        eprintln!("usage: bulk-server PORT");
        std::process::exit(2);
    };
    let listener = TcpListener::bind(("0.0.0.0", port)).expect("binding the port");
    for conn in listener.incoming().flatten() {
        std::thread::spawn(move || serve(conn));
    }
}
