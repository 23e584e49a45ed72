//! Servers in the kernel. `kwasm run --tcplisten` gives unmodified std-only
//! Rust servers (examples/echo-std, http-std) their listening socket; the
//! kwasm_net servers (examples/echo-server, http-server) open their own and
//! wait on kwasm_net pollers. Clients from outside the instance connect over
//! loopback and over a real network interface; `kwasm-loadgen` checks every
//! response. A server killed with connections open releases its sockets at
//! once, and the module unloads afterwards.

use crate::serving::{loadgen, with_open_files, Server};
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
    ("net-submit", submit),
    ("net-echo-server", echo_server),
    ("net-http-server", http_server),
    ("net-http-std", http_std),
    ("net-many-connections", many_connections),
    ("net-real-interface", real_interface),
    ("net-kill-releases-sockets", kill_releases_sockets),
];

const EXAMPLES: &str = "/share/kwasm/examples";
const ENGINES: [&str; 2] = ["native", "pulley"];
/// What a loadgen run may take beyond its duration (connecting hundreds
/// of sockets under TCG takes seconds).
const LOADGEN_SLACK: Duration = Duration::from_secs(90);

/// kwasm_net's `submit` in kwasm.ko, on each engine: net-submit.wat checks
/// every result itself and exits with the number of the check that failed
/// (kwasm-reference's tests run the same program in user space).
fn submit() -> Result<(), String> {
    for engine in ENGINES {
        let out = crate::run::kwasm(engine, &["/share/kwasm/tests/net-submit.wat"])?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        expect(out.status.success() && stdout == "submit: ok\n", || {
            format!(
                "{engine}: {} (exit status N: check N failed) | stdout: {stdout} | stderr: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
    }
    Ok(())
}

fn kwasm_server(engine: &str, wasm: &str, flags: &[&str], args: &[&str]) -> Result<Server, String> {
    let mut cmd = Command::new("kwasm");
    cmd.args(["run", "--engine", engine]).args(flags).arg(format!("{EXAMPLES}/{wasm}")).args(args);
    Server::start(&format!("{wasm} ({engine})"), &mut cmd)
}

/// One short loadgen run against `addr`: every response right.
fn load(addr: &str, args: &[&str], duration_ms: u64) -> Result<u64, String> {
    let duration = duration_ms.to_string();
    let mut argv = args.to_vec();
    argv.extend(["--addr", addr, "--duration-ms", &duration, "--warmup-ms", "100"]);
    loadgen(&[], &argv, Duration::from_millis(duration_ms) + LOADGEN_SLACK).map(|l| l.ops)
}

/// SIGTERM ends a server promptly (a signal ends a run in the kernel at
/// once, waits included).
fn stopped(server: Server) -> Result<(), String> {
    let name = server.name.clone();
    server.stop().map_err(|e| format!("stopping {name}: {e}"))
}

/// The kwasm_net echo server, on each engine: 64-byte ping-pong over 16
/// connections and 16 KiB streaming over 4, every byte checked.
fn echo_server() -> Result<(), String> {
    for (i, engine) in ENGINES.into_iter().enumerate() {
        let addr = format!("127.0.0.1:{}", 7300 + i);
        let server = kwasm_server(engine, "echo-server.wasm", &[], &["--listen", &addr])?;
        let r = load(&addr, &["echo", "--mode", "pingpong", "--size", "64", "--conns", "16"], 1000)
            .and_then(|_| load(&addr, &["echo", "--mode", "stream", "--size", "16384", "--conns", "4"], 1000));
        let output = server.output();
        r.map_err(|e| format!("{engine}: {e}; server: {output}"))?;
        stopped(server)?;
    }
    Ok(())
}

/// Sends `request` (in pieces of `step` bytes) and reads until the server
/// closes; the whole answer.
fn exchange(addr: &str, request: &[u8], step: usize) -> Result<String, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
    s.set_nodelay(true).map_err(|e| e.to_string())?;
    for piece in request.chunks(step) {
        s.write_all(piece).map_err(|e| format!("sending: {e}"))?;
        if step < request.len() {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let mut answer = Vec::new();
    match s.read_to_end(&mut answer) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !answer.is_empty() => {}
        Err(e) => return Err(format!("reading the answer to {:?}: {e}", String::from_utf8_lossy(request))),
    }
    Ok(String::from_utf8_lossy(&answer).into_owned())
}

/// What an HTTP/1.1 server must get right beyond the happy path:
/// pipelined requests answered in order, a request split at every byte,
/// `Connection: close`, and a malformed request answered 400 and closed.
fn http_protocol(addr: &str) -> Result<(), String> {
    const OK: &str = "HTTP/1.1 200 OK";
    let pipelined = "GET /a HTTP/1.1\r\nHost: t\r\n\r\nGET /b HTTP/1.1\r\nHost: t\r\n\r\nGET /c HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let answer = exchange(addr, pipelined.as_bytes(), pipelined.len())?;
    expect(answer.matches(OK).count() == 3 && answer.matches("Hello, world!").count() == 3, || {
        format!("3 pipelined requests got {answer:?}")
    })?;
    let split = "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let answer = exchange(addr, split.as_bytes(), 1)?;
    expect(answer.starts_with(OK) && answer.ends_with("Hello, world!"), || {
        format!("a request sent a byte at a time got {answer:?}")
    })?;
    let answer = exchange(addr, b"GARBAGE\r\n\r\n", 64)?;
    expect(answer.starts_with("HTTP/1.1 400"), || format!("a malformed request got {answer:?}"))
}

/// The kwasm_net HTTP server, on each engine: keep-alive and
/// `Connection: close` load with every response checked, and the protocol
/// cases.
fn http_server() -> Result<(), String> {
    for (i, engine) in ENGINES.into_iter().enumerate() {
        let addr = format!("127.0.0.1:{}", 7310 + i);
        let server = kwasm_server(engine, "http-server.wasm", &[], &["--listen", &addr])?;
        let r = load(&addr, &["http", "--conns", "16"], 1000)
            .and_then(|_| load(&addr, &["http", "--close", "--conns", "4"], 1000))
            .and_then(|_| http_protocol(&addr));
        let output = server.output();
        r.map_err(|e| format!("{engine}: {e}; server: {output}"))?;
        stopped(server)?;
    }
    Ok(())
}

/// The std-only HTTP server (no kwasm API: `--tcplisten` and WASI's
/// sock_* calls) serves keep-alive requests and the protocol cases.
fn http_std() -> Result<(), String> {
    let addr = "127.0.0.1:7320";
    let server = kwasm_server("native", "http-std.wasm", &["--tcplisten", addr], &[])
        .map_err(|e| format!("http-std: {e}"))?;
    let r = load(addr, &["http", "--conns", "1"], 1000).and_then(|_| http_protocol(addr));
    let output = server.output();
    r.map_err(|e| format!("{e}; server: {output}"))?;
    stopped(server)
}

/// 2000 connections at once to one kwasm_net server (its fd limit is the
/// caller's RLIMIT_NOFILE, as for a native server), every one served.
fn many_connections() -> Result<(), String> {
    const CONNS: u64 = 2000;
    let addr = "127.0.0.1:7330";
    let mut cmd = Command::new("kwasm");
    cmd.args(["run", &format!("{EXAMPLES}/echo-server.wasm"), "--listen", addr]);
    let server = Server::start("echo-server.wasm", with_open_files(&mut cmd, 4 * CONNS))?;
    let conns = CONNS.to_string();
    let r = load(addr, &["echo", "--mode", "pingpong", "--size", "64", "--conns", &conns], 3000);
    let output = server.output();
    let ops = r.map_err(|e| format!("{e}; server: {output}"))?;
    expect(ops >= CONNS, || format!("{CONNS} connections made only {ops} round trips"))?;
    stopped(server)
}

/// Runs `sh -c script`; Err with its output if it fails.
fn sh(script: &str) -> Result<String, String> {
    let out = Command::new("sh").args(["-c", script]).output().map_err(|e| e.to_string())?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("`{script}` failed ({}): {text}", out.status))
    }
}

fn rx_bytes(dev: &str) -> Result<u64, String> {
    let path = format!("/sys/class/net/{dev}/statistics/rx_bytes");
    std::fs::read_to_string(&path)
        .map_err(|e| format!("{path}: {e}"))?
        .trim()
        .parse()
        .map_err(|e| format!("{path}: {e}"))
}

/// Clients on another network namespace reach the kwasm_net server through
/// the guest's two network cards (eth1 in the clients' namespace, eth0 in
/// the server's, joined by QEMU): connections from outside the machine's
/// loopback, over a real driver.
fn real_interface() -> Result<(), String> {
    const SERVER_IP: &str = "10.0.9.1";
    let mut holder = Command::new("unshare")
        .args(["-n", "sleep", "3600"])
        .spawn()
        .map_err(|e| format!("unshare: {e}"))?;
    let ns = holder.id();
    let r = (|| {
        std::thread::sleep(Duration::from_millis(300));
        sh(&format!(
            "ip addr add {SERVER_IP}/24 dev eth0 && ip link set eth0 up && ip link set eth1 netns {ns} && \
             nsenter -t {ns} -n sh -c 'ip addr add 10.0.9.2/24 dev eth1 && ip link set eth1 up && ip link set lo up'"
        ))?;
        // The link comes up a few seconds later under TCG.
        let up = (0..30).any(|_| sh(&format!("nsenter -t {ns} -n ping -c1 -W1 {SERVER_IP}")).is_ok());
        expect(up, || "eth1 never reached eth0".to_string())?;
        let addr = format!("{SERVER_IP}:7340");
        let server = kwasm_server("native", "echo-server.wasm", &[], &["--listen", &addr])?;
        let before = rx_bytes("eth0")?;
        let nsenter = ["nsenter", "-t", &ns.to_string(), "-n"].map(String::from);
        let prefix: Vec<&str> = nsenter.iter().map(String::as_str).collect();
        let args = ["echo", "--addr", &addr, "--mode", "stream", "--size", "16384", "--conns", "8"];
        let r = loadgen(&prefix, &[&args[..], &["--duration-ms", "1500"]].concat(), LOADGEN_SLACK);
        let output = server.output();
        let l = r.map_err(|e| format!("{e}; server: {output}"))?;
        let received = rx_bytes("eth0")? - before;
        let echoed = crate::serving::json_number(&l.json, "bytes").unwrap_or(0.0) as u64;
        expect(received >= echoed && echoed > 0, || {
            format!("eth0 received {received} bytes while {echoed} were echoed: not over the interface?")
        })?;
        stopped(server)
    })();
    let _ = holder.kill();
    let _ = holder.wait();
    r
}

pub(crate) fn server(engine: &str, addr: &str, args: &[&str]) -> Result<Child, String> {
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
pub(crate) fn round_trip(addr: &str, client: usize) -> Result<(), String> {
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

/// SIGKILL to a server in the middle of connections: it ends promptly,
/// its clients see the connection end, the port can be bound again at
/// once; for the std-only server (WASI sockets) and the kwasm_net one
/// (sockets registered with a poller) on each engine. Then the module
/// unloads: no socket or file of the killed runs holds it.
fn kill_releases_sockets() -> Result<(), String> {
    for (i, engine) in ENGINES.into_iter().enumerate() {
        kill_std_server(engine, &format!("127.0.0.1:{}", 7200 + i))?;
        kill_kwasm_net_server(engine, &format!("127.0.0.1:{}", 7210 + i))?;
    }
    let out = Command::new("rmmod").arg("kwasm").output().map_err(|e| e.to_string())?;
    expect(out.status.success(), || {
        format!("rmmod kwasm after the kills: {}", String::from_utf8_lossy(&out.stderr).trim())
    })?;
    let out = Command::new("insmod").arg("/lib/modules/kwasm.ko").output().map_err(|e| e.to_string())?;
    expect(out.status.success(), || {
        format!("insmod kwasm.ko again: {}", String::from_utf8_lossy(&out.stderr).trim())
    })
}

/// A kwasm_net echo server with connections open (one mid-stream, the
/// others idle but registered) gets SIGKILL.
fn kill_kwasm_net_server(engine: &str, addr: &str) -> Result<(), String> {
    let mut server = kwasm_server(engine, "echo-server.wasm", &[], &["--listen", addr])?;
    let mut clients = Vec::new();
    for _ in 0..8 {
        let mut s = TcpStream::connect(addr).map_err(|e| format!("{engine}: connect: {e}"))?;
        s.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
        s.write_all(b"ping").map_err(|e| e.to_string())?;
        let mut echo = [0u8; 4];
        s.read_exact(&mut echo).map_err(|e| format!("{engine}: echo before the kill: {e}"))?;
        clients.push(s);
    }
    let (status, took) = server.signal(libc::SIGKILL).map_err(|e| format!("{engine}: {e}"))?;
    expect(!status.success(), || format!("{engine}: a killed server exited {status}"))?;
    expect(took < Duration::from_secs(5), || format!("{engine}: {took:?} to end after SIGKILL"))?;
    for mut c in clients {
        let mut rest = Vec::new();
        match c.read_to_end(&mut rest) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            Err(e) => return Err(format!("{engine}: a connection did not end with the server: {e}")),
        }
    }
    TcpListener::bind(addr).map_err(|e| format!("{engine}: binding {addr} again after the kill: {e}"))?;
    Ok(())
}

/// The std-only server mid-connection, another client in its backlog.
fn kill_std_server(engine: &str, addr: &str) -> Result<(), String> {
    let mut child = server(engine, addr, &[])?;
    let mut stream = connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(|e| e.to_string())?;
    stream.write_all(b"ping").map_err(|e| e.to_string())?;
    let mut echo = [0u8; 4];
    stream.read_exact(&mut echo).map_err(|e| format!("{engine}: echo before the kill: {e}"))?;
    // A second client waits in the backlog, never accepted.
    let _waiting = connect(addr)?;
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
    TcpListener::bind(addr).map_err(|e| format!("{engine}: binding {addr} again after the kill: {e}"))?;
    Ok(())
}
