//! Sockets handed to a program: `kwasm run --tcplisten` gives an unmodified
//! std-only Rust server (examples/echo-std) its listening socket; clients
//! from outside the instance connect over loopback. A server killed with
//! connections open releases its sockets at once.

use crate::{expect, Test};
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ECHO: &str = "/share/kwasm/examples/echo-std.wasm";
/// Compiling the server in the guest (TCG) takes a while before it listens.
const CONNECT_FOR: Duration = Duration::from_secs(120);
/// Bytes each client sends: more than the socket buffers hold, so the
/// server must read and write in turns.
const PAYLOAD: usize = 3 << 20;
const CLIENTS: usize = 3;

pub const TESTS: &[Test] = &[
    ("net-echo-std", echo_std),
    ("net-kill-releases-sockets", kill_releases_sockets),
];

fn server(engine: &str, addr: &str, args: &[&str]) -> Result<Child, String> {
    Command::new("kwasm")
        .args(["run", "--engine", engine, "--tcplisten", addr, ECHO])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run kwasm: {e}"))
}

/// Connects once the server listens (the CLI binds before it compiles, so
/// this waits only for the bind).
fn connect(addr: &str) -> Result<TcpStream, String> {
    let start = Instant::now();
    loop {
        match TcpStream::connect(addr) {
            Ok(s) => return Ok(s),
            Err(e) if start.elapsed() > CONNECT_FOR => return Err(format!("connect {addr}: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Sends `PAYLOAD` bytes (a pattern per client) from a second thread while
/// reading the echo here; the echo must be the same bytes.
fn round_trip(addr: &str, client: usize) -> Result<(), String> {
    let stream = connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(120))).map_err(|e| e.to_string())?;
    let data: Vec<u8> = (0..PAYLOAD).map(|i| (i * 31 + client * 7 + i / 4096) as u8).collect();
    let mut writer = stream.try_clone().map_err(|e| e.to_string())?;
    let sent = data.clone();
    let sender = std::thread::spawn(move || -> std::io::Result<()> {
        for chunk in sent.chunks(10_000) {
            writer.write_all(chunk)?;
        }
        writer.shutdown(Shutdown::Write)
    });
    let mut echoed = Vec::with_capacity(PAYLOAD);
    (&stream).read_to_end(&mut echoed).map_err(|e| format!("client {client}: reading the echo: {e}"))?;
    sender
        .join()
        .map_err(|_| "the sender panicked".to_string())?
        .map_err(|e| format!("client {client}: sending: {e}"))?;
    let first_difference = data.iter().zip(&echoed).position(|(a, b)| a != b);
    expect(echoed.len() == data.len() && first_difference.is_none(), || {
        format!(
            "client {client}: {} bytes echoed of {}, first difference at {first_difference:?}",
            echoed.len(),
            data.len()
        )
    })
}

/// The server echoes three clients' megabytes exactly and then exits 0,
/// saying how much it echoed; on both engines.
fn echo_std() -> Result<(), String> {
    for (i, engine) in ["native", "pulley"].into_iter().enumerate() {
        let addr = format!("127.0.0.1:{}", 7100 + i);
        let count = CLIENTS.to_string();
        let child = server(engine, &addr, &[&count])?;
        let clients: Result<(), String> = (0..CLIENTS).try_for_each(|c| round_trip(&addr, c));
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        clients.map_err(|e| format!("{engine}: {e}; server: {stdout} {}", String::from_utf8_lossy(&out.stderr)))?;
        let want = format!("echo-std: {CLIENTS} connections, {} bytes echoed", CLIENTS * PAYLOAD);
        expect(out.status.success() && stdout.trim() == want, || {
            format!(
                "{engine}: server ended {} with {stdout:?} (want {want:?}), stderr {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    }
    Ok(())
}

/// SIGKILL to a server in the middle of a connection: it ends promptly, the
/// client sees the connection end, and the port can be bound again at once.
fn kill_releases_sockets() -> Result<(), String> {
    for (i, engine) in ["native", "pulley"].into_iter().enumerate() {
        let addr = format!("127.0.0.1:{}", 7200 + i);
        let mut child = server(engine, &addr, &[])?;
        let mut stream = connect(&addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
        stream.write_all(b"ping").map_err(|e| e.to_string())?;
        let mut echo = [0u8; 4];
        stream.read_exact(&mut echo).map_err(|e| format!("{engine}: echo before the kill: {e}"))?;
        // A second client waits in the backlog, never accepted.
        let _waiting = connect(&addr)?;
        // SAFETY: signalling our own child.
        unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
        let killed = Instant::now();
        let status = child.wait().map_err(|e| e.to_string())?;
        expect(killed.elapsed() < Duration::from_secs(5), || {
            format!("{engine}: the server took {:?} to end after SIGKILL", killed.elapsed())
        })?;
        expect(!status.success(), || format!("{engine}: a killed server exited {status}"))?;
        // The client sees the end (EOF or reset), not a read timeout.
        let mut rest = Vec::new();
        match stream.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => return Err(format!("{engine}: the connection did not end with the server: {e}")),
        }
        expect(rest.is_empty(), || format!("{engine}: {} bytes after the kill", rest.len()))?;
        TcpListener::bind(&addr).map_err(|e| format!("{engine}: binding {addr} again after the kill: {e}"))?;
    }
    Ok(())
}
