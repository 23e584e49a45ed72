//! `kwasm-loadgen` against small servers started here on 127.0.0.1:0 (a
//! thread per connection): correct echo and HTTP servers must give ops and
//! no errors; servers that corrupt a byte, close early, answer with the
//! wrong body or a 400 must give errors and exit status 1.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::sync::RwLock;
use std::thread;

/// Runs share this; the many-connection test takes it alone, since its
/// thousands of server threads would starve the other tests' servers for
/// longer than their short windows.
static CPU: RwLock<()> = RwLock::new(());

/// Starts a server: `handle` runs on its own thread for each connection.
fn serve(handle: fn(TcpStream)) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("local_addr").to_string();
    thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            // Small stacks: the many-connection test runs thousands of these.
            thread::Builder::new()
                .stack_size(64 * 1024)
                .spawn(move || handle(stream))
                .expect("spawn");
        }
    });
    addr
}

fn echo(mut s: TcpStream) {
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = s.read(&mut buf) {
        if s.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// Echoes, but flips one bit of the 1000th byte.
fn echo_corrupting(mut s: TcpStream) {
    let (mut buf, mut seen) = ([0u8; 4096], 0usize);
    while let Ok(n @ 1..) = s.read(&mut buf) {
        if (seen..seen + n).contains(&999) {
            buf[999 - seen] ^= 0x10;
        }
        seen += n;
        if s.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// Echoes 300 bytes, then closes its side (and reads on, so that the
/// client sees a clean end of stream rather than a reset).
fn echo_closing(mut s: TcpStream) {
    let (mut buf, mut left) = ([0u8; 4096], 300usize);
    while let Ok(n @ 1..) = s.read(&mut buf) {
        let n = n.min(left);
        if s.write_all(&buf[..n]).is_err() {
            return;
        }
        left -= n;
        if left == 0 {
            let _ = s.shutdown(Shutdown::Write);
            while let Ok(1..) = s.read(&mut buf) {}
            return;
        }
    }
}

/// Echoes 300 bytes, then closes the socket with data unread: a reset.
fn echo_resetting(mut s: TcpStream) {
    let (mut buf, mut left) = ([0u8; 4096], 300usize);
    while let Ok(n @ 1..) = s.read(&mut buf) {
        let n = n.min(left);
        if s.write_all(&buf[..n]).is_err() || left == n {
            return;
        }
        left -= n;
    }
}

/// Answers each request (a head ending in a blank line) with `response`;
/// closes after it when the request asked for `Connection: close`.
fn http_with(mut s: TcpStream, response: &[u8]) {
    let mut req = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n @ 1..) = s.read(&mut buf) {
        req.extend_from_slice(&buf[..n]);
        while let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
            let close = String::from_utf8_lossy(&req[..end])
                .to_ascii_lowercase()
                .contains("connection: close");
            req.drain(..end + 4);
            if s.write_all(response).is_err() || close {
                return;
            }
        }
    }
}

fn http_ok(s: TcpStream) {
    http_with(
        s,
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, world!",
    );
}

fn http_wrong_body(s: TcpStream) {
    http_with(s, b"HTTP/1.1 200 OK\r\nContent-Length: 13\r\n\r\nHello, World!");
}

fn http_400(s: TcpStream) {
    http_with(
        s,
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 13\r\n\r\nHello, world!",
    );
}

struct Outcome {
    ok: bool,
    json: String,
    stderr: String,
}

impl Outcome {
    /// A numeric field of the JSON line.
    fn field(&self, name: &str) -> f64 {
        let key = format!("\"{name}\":");
        let at = self
            .json
            .find(&key)
            .unwrap_or_else(|| panic!("no {name} in {}", self.json))
            + key.len();
        let rest = &self.json[at..];
        let end = rest.find([',', '}']).expect("a value ends");
        rest[..end]
            .parse()
            .unwrap_or_else(|e| panic!("{name} in {}: {e}", self.json))
    }
}

/// Runs kwasm-loadgen alongside other tests' runs.
fn loadgen(args: &[&str]) -> Outcome {
    let _shared = CPU.read().unwrap_or_else(|e| e.into_inner());
    run_loadgen(args)
}

fn run_loadgen(args: &[&str]) -> Outcome {
    let out = Command::new(env!("CARGO_BIN_EXE_kwasm-loadgen"))
        .args(args)
        .args(["--duration-ms", "300", "--warmup-ms", "50"])
        .output()
        .expect("run kwasm-loadgen");
    let json = String::from_utf8(out.stdout).expect("utf-8 stdout");
    let lines: Vec<&str> = json.lines().collect();
    assert_eq!(lines.len(), 1, "exactly one JSON line: {json:?}");
    assert!(lines[0].starts_with('{') && lines[0].ends_with('}'), "{json}");
    Outcome {
        ok: out.status.success(),
        json: lines[0].to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).into(),
    }
}

fn assert_clean(o: &Outcome, workload: &str) {
    eprintln!("{}", o.json);
    assert!(o.ok && o.field("errors") == 0.0, "{}\n{}", o.json, o.stderr);
    assert!(o.json.contains(&format!("\"workload\":\"{workload}\"")), "{}", o.json);
    assert!(o.field("ops") > 0.0 && o.field("ops_per_s") > 0.0, "{}", o.json);
    let (p50, p99, mean) = (o.field("lat_us_p50"), o.field("lat_us_p99"), o.field("lat_us_mean"));
    assert!(0.0 < p50 && p50 <= p99 && mean > 0.0, "{}", o.json);
    let d = o.field("duration_s");
    assert!((0.29..0.4).contains(&d), "{}", o.json);
}

fn assert_failed(o: &Outcome, what: &str) {
    eprintln!("{}\n{}", o.json, o.stderr);
    assert!(!o.ok, "exit status must be 1: {}", o.json);
    assert!(o.field("errors") > 0.0, "{}", o.json);
    assert!(
        o.stderr.contains("connection ") && o.stderr.contains(what),
        "stderr lacks {what:?}: {}",
        o.stderr
    );
}

#[test]
fn echo_pingpong_correct() {
    let addr = serve(echo);
    let o = loadgen(&[
        "echo", "--addr", &addr, "--conns", "16", "--size", "64", "--mode", "pingpong",
    ]);
    assert_clean(&o, "echo-pingpong");
    assert_eq!(o.field("bytes"), o.field("ops") * 64.0);
}

#[test]
fn echo_stream_correct_large_messages_two_threads() {
    let addr = serve(echo);
    let args = [
        "echo",
        "--addr",
        &addr,
        "--conns",
        "4",
        "--size",
        "100000",
        "--mode",
        "stream",
        "--threads",
        "2",
    ];
    let o = loadgen(&args);
    assert_clean(&o, "echo-stream");
    assert_eq!(o.field("bytes"), o.field("ops") * 100000.0);
    assert!(o.field("mib_per_s") > 0.0);
}

#[test]
fn echo_one_connection_and_many() {
    let _alone = CPU.write().unwrap_or_else(|e| e.into_inner());
    let addr = serve(echo);
    let o = run_loadgen(&[
        "echo", "--addr", &addr, "--conns", "1", "--size", "1", "--mode", "pingpong",
    ]);
    assert_clean(&o, "echo-pingpong");
    let o = run_loadgen(&[
        "echo", "--addr", &addr, "--conns", "256", "--size", "64", "--mode", "stream",
    ]);
    assert_clean(&o, "echo-stream");
    let o = run_loadgen(&[
        "echo", "--addr", &addr, "--conns", "2000", "--size", "64", "--mode", "pingpong",
    ]);
    assert_clean(&o, "echo-pingpong");
    assert_eq!(o.field("conns"), 2000.0);
}

#[test]
fn echo_corrupted_byte_is_an_error() {
    let addr = serve(echo_corrupting);
    let o = loadgen(&[
        "echo", "--addr", &addr, "--conns", "2", "--size", "64", "--mode", "pingpong",
    ]);
    assert_failed(&o, "echo mismatch: message 15 byte 39");
    // Both connections hit it, each reported once.
    assert_eq!(o.field("errors"), 2.0);
}

#[test]
fn echo_early_close_is_an_error() {
    let addr = serve(echo_closing);
    let o = loadgen(&[
        "echo", "--addr", &addr, "--conns", "3", "--size", "100", "--mode", "pingpong",
    ]);
    assert_failed(
        &o,
        "closed by the server with 1 message(s) in flight (message 3, 0 of 100 bytes echoed)",
    );
    assert_eq!(o.field("errors"), 3.0);
}

#[test]
fn echo_reset_is_an_error() {
    let addr = serve(echo_resetting);
    let o = loadgen(&[
        "echo", "--addr", &addr, "--conns", "3", "--size", "100", "--mode", "stream",
    ]);
    // Depending on timing the reset meets a send or a recv.
    assert_failed(&o, ": ");
    assert!(
        o.stderr.contains("reset") || o.stderr.contains("Broken pipe"),
        "{}",
        o.stderr
    );
    assert_eq!(o.field("errors"), 3.0);
}

#[test]
fn connect_failure_is_an_error() {
    // A port with nothing listening: bound, then closed.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .to_string();
    let o = loadgen(&["http", "--addr", &addr, "--conns", "2"]);
    assert_failed(&o, "connect to");
    assert_eq!(o.field("ops"), 0.0);
}

#[test]
fn http_keepalive_and_close_correct() {
    let addr = serve(http_ok);
    let o = loadgen(&["http", "--addr", &addr, "--conns", "16"]);
    assert_clean(&o, "http-keepalive");
    let o = loadgen(&["http", "--addr", &addr, "--conns", "16", "--close"]);
    assert_clean(&o, "http-close");
}

#[test]
fn http_wrong_body_is_an_error() {
    let addr = serve(http_wrong_body);
    let o = loadgen(&["http", "--addr", &addr, "--conns", "4"]);
    assert_failed(&o, "body \"Hello, World!\"");
    assert_eq!((o.field("errors"), o.field("ops")), (4.0, 0.0));
}

#[test]
fn http_400_is_an_error() {
    let addr = serve(http_400);
    let o = loadgen(&["http", "--addr", &addr, "--conns", "4", "--close"]);
    assert_failed(&o, "status 400");
}

#[test]
fn silent_server_is_an_error() {
    // Accepts and reads, never answers.
    fn silent(mut s: TcpStream) {
        let mut buf = [0u8; 64];
        while let Ok(1..) = s.read(&mut buf) {}
    }
    let addr = serve(silent);
    let o = loadgen(&["http", "--addr", &addr, "--conns", "2"]);
    assert_failed(&o, "no response for");
}
