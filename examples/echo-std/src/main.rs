//! A TCP echo server written against Rust's std only, as any
//! `wasm32-wasip1` program would be: no kwasm API, no async runtime.
//!
//!     kwasm run --tcplisten 127.0.0.1:7000 echo-std.wasm [N]
//!
//! It accepts on the listening socket `--tcplisten` hands it (fd 3) and
//! echoes each connection until the peer closes it, one connection at a
//! time; after N connections (default: never) it says how many bytes it
//! echoed and exits 0.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::FromRawFd;

/// The first fd after the standard streams: where `--tcplisten` puts it.
const LISTENER_FD: i32 = 3;

fn echo(mut stream: TcpStream) -> std::io::Result<u64> {
    let mut buf = [0u8; 16 * 1024];
    let mut total = 0;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        stream.write_all(&buf[..n])?;
        total += n as u64;
    }
}

fn main() {
    let limit: Option<u64> = std::env::args().nth(1).map(|a| a.parse().expect("N must be a number"));
    // SAFETY: fd 3 is the listening socket kwasm (or `wasmtime run
    // --tcplisten`) opened for this program; nothing else owns it.
    let listener = unsafe { TcpListener::from_raw_fd(LISTENER_FD) };
    let (mut served, mut bytes) = (0u64, 0u64);
    while limit.is_none_or(|l| served < l) {
        let (stream, _) = match listener.accept() {
            Ok(conn) => conn,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("echo-std: accept: {e}");
                std::process::exit(1);
            }
        };
        match echo(stream) {
            Ok(n) => bytes += n,
            Err(e) => eprintln!("echo-std: connection ended: {e}"),
        }
        served += 1;
    }
    println!("echo-std: {served} connections, {bytes} bytes echoed");
}
