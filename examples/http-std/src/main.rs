//! The hello-world HTTP server written against Rust's std only, as any
//! `wasm32-wasip1` program would be: no kwasm API, no async runtime. The
//! baseline for `http-server`, with the same parser and responses
//! (`http-proto`).
//!
//!     kwasm run --tcplisten 127.0.0.1:8080 http-std.wasm [N]
//!
//! It accepts on the listening socket `--tcplisten` hands it (fd 3) and
//! serves one connection at a time, blocking, for as long as the client
//! keeps it alive; after N connections (default: never) it says how many
//! requests it answered and exits 0.

use http_proto::Parser;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::fd::FromRawFd;

/// The first fd after the standard streams: where `--tcplisten` puts it.
const LISTENER_FD: i32 = 3;

/// Answers the requests on one connection until it ends; returns how many.
fn serve(mut stream: TcpStream) -> std::io::Result<u64> {
    let mut parser = Parser::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::new();
    let mut requests = 0;
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) => return Ok(requests),
            Ok(n) => n,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        parser.push(&buf[..n]);
        let mut close = false;
        while !close {
            match parser.next_request() {
                Ok(Some(request)) => {
                    request.write_response(&mut out);
                    requests += 1;
                    close = !request.keep_alive;
                }
                Ok(None) => {
                    if parser.take_continue() {
                        out.extend_from_slice(http_proto::CONTINUE);
                    }
                    break;
                }
                Err(e) => {
                    e.write_response(&mut out);
                    close = true;
                }
            }
        }
        stream.write_all(&out)?;
        out.clear();
        if close {
            // Shut down writing and read until the client closes: closing
            // with unread bytes would reset the connection, and a reset can
            // destroy the response before the client has read it.
            stream.shutdown(Shutdown::Write)?;
            loop {
                match stream.read(&mut buf) {
                    Ok(0) => return Ok(requests),
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(_) => return Ok(requests),
                }
            }
        }
    }
}

fn main() {
    let limit: Option<u64> = std::env::args().nth(1).map(|a| a.parse().expect("N must be a number"));
    // SAFETY: fd 3 is the listening socket kwasm (or `wasmtime run
    // --tcplisten`) opened for this program; nothing else owns it.
    let listener = unsafe { TcpListener::from_raw_fd(LISTENER_FD) };
    // Says it is up, as the other servers do (preview1 cannot tell a
    // socket's address, so the fd stands for it).
    println!("http-std: listening on fd {LISTENER_FD}");
    let _ = std::io::stdout().flush();
    let (mut served, mut requests) = (0u64, 0u64);
    while limit.is_none_or(|l| served < l) {
        let (stream, _) = match listener.accept() {
            Ok(conn) => conn,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("http-std: accept: {e}");
                std::process::exit(1);
            }
        };
        match serve(stream) {
            Ok(n) => requests += n,
            Err(e) => eprintln!("http-std: connection ended: {e}"),
        }
        served += 1;
    }
    println!("http-std: {served} connections, {requests} requests");
}
