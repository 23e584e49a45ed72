//! kwasm_net in `kwasm-reference`: small .wat programs call it and the
//! results are checked. Each step of a program is a wat expression whose
//! i32 value is recorded; the program writes the list to stdout at the end
//! (4 bytes each, little-endian) and the test compares it with the
//! expected values, naming the first step that differs.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::thread;
use std::time::{Duration, Instant};

const PRELUDE: &str = r#"
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "proc_exit" (func $proc_exit (param i32)))
  (import "kwasm_net" "socket" (func $socket (param i32 i32 i32) (result i32)))
  (import "kwasm_net" "bind" (func $bind (param i32 i32) (result i32)))
  (import "kwasm_net" "listen" (func $listen (param i32 i32) (result i32)))
  (import "kwasm_net" "connect" (func $connect (param i32 i32) (result i32)))
  (import "kwasm_net" "accept" (func $accept (param i32 i32 i32) (result i32)))
  (import "kwasm_net" "recv" (func $recv (param i32 i32 i32 i32) (result i32)))
  (import "kwasm_net" "send" (func $send (param i32 i32 i32 i32) (result i32)))
  (import "kwasm_net" "shutdown" (func $shutdown (param i32 i32) (result i32)))
  (import "kwasm_net" "close" (func $close (param i32) (result i32)))
  (import "kwasm_net" "set_option" (func $set_option (param i32 i32 i32) (result i32)))
  (import "kwasm_net" "get_option" (func $get_option (param i32 i32) (result i32)))
  (import "kwasm_net" "local_addr" (func $local_addr (param i32 i32) (result i32)))
  (import "kwasm_net" "peer_addr" (func $peer_addr (param i32 i32) (result i32)))
  (import "kwasm_net" "poller_create" (func $poller_create (result i32)))
  (import "kwasm_net" "poller_ctl" (func $poller_ctl (param i32 i32 i32 i32 i64) (result i32)))
  (import "kwasm_net" "poller_wait" (func $poller_wait (param i32 i32 i32 i64) (result i32)))
  (import "kwasm_net" "poller_close" (func $poller_close (param i32) (result i32)))
  (memory (export "memory") 1)
  ;; Address 127.0.0.1:0 at 64; Address 127.0.0.1:1 at 96; "ping" at 512.
  (data (i32.const 64) "\04\00\00\00\00\00\00\00\7f\00\00\01")
  (data (i32.const 96) "\04\00\01\00\00\00\00\00\7f\00\00\01")
  (data (i32.const 512) "ping")
  ;; Recorded results from 4096 on.
  (global $n (mut i32) (i32.const 0))
  (func $r (param i32)
    (i32.store (i32.add (i32.const 4096) (i32.shl (global.get $n) (i32.const 2))) (local.get 0))
    (global.set $n (i32.add (global.get $n) (i32.const 1))))
  ;; Writes `len` bytes at `ptr` to stdout.
  (func $out (param $ptr i32) (param $len i32)
    (i32.store (i32.const 16) (local.get $ptr))
    (i32.store (i32.const 20) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 16) (i32.const 1) (i32.const 24))))
"#;

/// A program: `before` (statements) runs first, then each step's value is
/// recorded, then the record is written out.
fn program(before: &str, steps: &[(&str, Option<i32>)]) -> String {
    let body: String = steps.iter().map(|(e, _)| format!("    (call $r {e})\n")).collect();
    format!(
        "(module {PRELUDE}\n  (func (export \"_start\") (local $l i32) (local $c i32) (local $a i32) (local $p i32) (local $b i32) (local $d i32)\n{before}\n{body}    (call $out (i32.const 4096) (i32.shl (global.get $n) (i32.const 2)))))"
    )
}

/// Writes `text` to a fresh .wat file.
fn wat_file(text: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("net-{}-{n}.wat", std::process::id()));
    std::fs::write(&path, text).expect("write .wat");
    path
}

fn reference() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kwasm-reference"))
}

/// How long a test program may run: a call that blocks when it should not
/// fails the test rather than hanging it.
const RUN_FOR: Duration = Duration::from_secs(60);

/// A running program, killed if the test ends (or panics) before it does.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        // Not reaped yet, so the pid is still this child's.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs a program to completion, killing it after [`RUN_FOR`].
fn run(cmd: &mut Command) -> Output {
    let mut child = Running(
        cmd.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run kwasm-reference"),
    );
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut p) = pipe {
                p.read_to_end(&mut v).expect("read the program's output");
            }
            v
        })
    };
    let stdout = drain(child.0.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.0.stderr.take().map(|p| Box::new(p) as _));
    let start = Instant::now();
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("wait for kwasm-reference") {
            break status;
        }
        assert!(start.elapsed() < RUN_FOR, "still running after {RUN_FOR:?}");
        thread::sleep(Duration::from_millis(5));
    };
    Output {
        status,
        stdout: stdout.join().expect("stdout"),
        stderr: stderr.join().expect("stderr"),
    }
}

/// Compares the recorded values with the steps' expectations.
fn check(steps: &[(&str, Option<i32>)], out: &[u8]) -> Vec<i32> {
    let got: Vec<i32> = out.as_chunks::<4>().0.iter().map(|c| i32::from_le_bytes(*c)).collect();
    assert_eq!(got.len(), steps.len(), "one value per step: {got:?}");
    for (i, ((expr, want), have)) in steps.iter().zip(&got).enumerate() {
        if let Some(want) = want {
            assert_eq!(have, want, "step {i}: {expr}");
        }
    }
    got
}

/// Sockets, addresses, options, a connection over loopback, a poller in
/// every mode, and the errors: each result as docs/kwasm_net.md says.
#[test]
fn sockets_poller_and_errors() {
    let steps: &[(&str, Option<i32>)] = &[
        // A listening socket on 127.0.0.1, its port read back.
        ("(local.tee $l (call $socket (i32.const 4) (i32.const 1) (i32.const 0)))", Some(3)),
        ("(call $set_option (local.get $l) (i32.const 1) (i32.const 1))", Some(0)),
        ("(call $get_option (local.get $l) (i32.const 1))", Some(1)),
        ("(call $bind (local.get $l) (i32.const 64))", Some(0)),
        ("(call $listen (local.get $l) (i32.const 16))", Some(0)),
        ("(call $local_addr (local.get $l) (i32.const 128))", Some(0)),
        ("(i32.load16_u (i32.const 128))", Some(4)),
        ("(i32.ne (i32.load16_u (i32.const 130)) (i32.const 0))", Some(1)),
        ("(i32.load (i32.const 132))", Some(0)),
        ("(i32.load (i32.const 136))", Some(i32::from_le_bytes([127, 0, 0, 1]))),
        // A non-blocking connect to it completes as OUT readiness.
        ("(local.tee $c (call $socket (i32.const 4) (i32.const 1) (i32.const 1)))", Some(4)),
        ("(call $connect (local.get $c) (i32.const 128))", Some(-26)),
        ("(local.tee $p (call $poller_create))", Some(0)),
        ("(call $poller_ctl (local.get $p) (i32.const 1) (local.get $c) (i32.const 4) (i64.const 0x1122334455667788))", Some(0)),
        ("(call $poller_ctl (local.get $p) (i32.const 1) (local.get $c) (i32.const 1) (i64.const 0))", Some(-20)),
        ("(call $poller_wait (local.get $p) (i32.const 256) (i32.const 8) (i64.const 5000000000))", Some(1)),
        ("(i32.load (i32.const 256))", Some(0x55667788)),
        ("(i32.load (i32.const 260))", Some(0x11223344)),
        ("(i32.load (i32.const 264))", Some(4)),
        ("(i32.load (i32.const 268))", Some(0)),
        ("(call $get_option (local.get $c) (i32.const 7))", Some(0)),
        ("(call $get_option (local.get $c) (i32.const 8))", Some(1)),
        ("(call $set_option (local.get $c) (i32.const 2) (i32.const 1))", Some(0)),
        ("(call $get_option (local.get $c) (i32.const 2))", Some(1)),
        ("(call $poller_ctl (local.get $p) (i32.const 3) (local.get $c) (i32.const 0) (i64.const 0))", Some(0)),
        ("(call $poller_ctl (local.get $p) (i32.const 3) (local.get $c) (i32.const 0) (i64.const 0))", Some(-44)),
        // Accepted, with the peer's address; both ends agree on the ports.
        ("(local.tee $a (call $accept (local.get $l) (i32.const 0) (i32.const 320)))", Some(5)),
        ("(i32.load16_u (i32.const 320))", Some(4)),
        ("(call $local_addr (local.get $c) (i32.const 384))", Some(0)),
        ("(i32.eq (i32.load16_u (i32.const 322)) (i32.load16_u (i32.const 386)))", Some(1)),
        ("(call $peer_addr (local.get $c) (i32.const 384))", Some(0)),
        ("(i32.eq (i32.load16_u (i32.const 130)) (i32.load16_u (i32.const 386)))", Some(1)),
        // Data, level triggered: reported by every wait while readable.
        ("(call $send (local.get $c) (i32.const 512) (i32.const 4) (i32.const 0))", Some(4)),
        ("(call $poller_ctl (local.get $p) (i32.const 1) (local.get $a) (i32.const 1) (i64.const 7))", Some(0)),
        ("(call $poller_wait (local.get $p) (i32.const 256) (i32.const 8) (i64.const -1))", Some(1)),
        ("(i32.load (i32.const 256))", Some(7)),
        ("(i32.load (i32.const 264))", Some(1)),
        ("(call $poller_wait (local.get $p) (i32.const 256) (i32.const 8) (i64.const 0))", Some(1)),
        // Edge triggered: once per change.
        ("(call $poller_ctl (local.get $p) (i32.const 2) (local.get $a) (i32.const 0x80000001) (i64.const 8))", Some(0)),
        ("(call $poller_wait (local.get $p) (i32.const 256) (i32.const 8) (i64.const 0))", Some(1)),
        ("(i32.load (i32.const 256))", Some(8)),
        ("(call $poller_wait (local.get $p) (i32.const 256) (i32.const 8) (i64.const 1))", Some(0)),
        // One-shot: once, then disarmed until MOD.
        ("(call $poller_ctl (local.get $p) (i32.const 2) (local.get $a) (i32.const 0x40000001) (i64.const 9))", Some(0)),
        ("(call $poller_wait (local.get $p) (i32.const 256) (i32.const 8) (i64.const 0))", Some(1)),
        ("(call $poller_wait (local.get $p) (i32.const 256) (i32.const 8) (i64.const 0))", Some(0)),
        ("(call $poller_ctl (local.get $p) (i32.const 2) (local.get $a) (i32.const 0x40000001) (i64.const 10))", Some(0)),
        ("(call $poller_wait (local.get $p) (i32.const 256) (i32.const 8) (i64.const 0))", Some(1)),
        ("(i32.load (i32.const 256))", Some(10)),
        // recv: peek, read, would block, end of stream.
        ("(call $recv (local.get $a) (i32.const 600) (i32.const 64) (i32.const 1))", Some(4)),
        ("(call $recv (local.get $a) (i32.const 600) (i32.const 64) (i32.const 0))", Some(4)),
        ("(i32.load (i32.const 600))", Some(i32::from_le_bytes(*b"ping"))),
        ("(call $recv (local.get $a) (i32.const 600) (i32.const 64) (i32.const 2))", Some(-6)),
        ("(call $shutdown (local.get $c) (i32.const 1))", Some(0)),
        ("(call $recv (local.get $a) (i32.const 600) (i32.const 64) (i32.const 0))", Some(0)),
        // Sending after our own SHUT_WR: -PIPE, and no SIGPIPE.
        ("(call $shutdown (local.get $a) (i32.const 1))", Some(0)),
        ("(call $send (local.get $a) (i32.const 512) (i32.const 4) (i32.const 0))", Some(-64)),
        // Closing drops the registration; the number is reused.
        ("(call $close (local.get $a))", Some(0)),
        ("(call $close (local.get $a))", Some(-8)),
        ("(call $poller_ctl (local.get $p) (i32.const 3) (local.get $a) (i32.const 0) (i64.const 0))", Some(-44)),
        ("(local.tee $b (call $socket (i32.const 6) (i32.const 1) (i32.const 0)))", Some(5)),
        ("(call $poller_ctl (local.get $p) (i32.const 2) (local.get $b) (i32.const 1) (i64.const 0))", Some(-44)),
        ("(call $poller_ctl (local.get $p) (i32.const 1) (local.get $b) (i32.const 1) (i64.const 0))", Some(0)),
        // Bad fds: not open -BADF, a standard stream -NOTSOCK.
        ("(call $listen (i32.const 99) (i32.const 1))", Some(-8)),
        ("(call $recv (i32.const 99) (i32.const 600) (i32.const 4) (i32.const 0))", Some(-8)),
        ("(call $listen (i32.const 1) (i32.const 1))", Some(-57)),
        ("(call $send (i32.const 2) (i32.const 512) (i32.const 4) (i32.const 0))", Some(-57)),
        ("(call $poller_ctl (local.get $p) (i32.const 1) (i32.const 0) (i32.const 1) (i64.const 0))", Some(-57)),
        // Pointers past memory: -FAULT.
        ("(call $bind (local.get $l) (i32.const 65530))", Some(-21)),
        ("(call $local_addr (local.get $l) (i32.const 65520))", Some(-21)),
        ("(call $recv (local.get $c) (i32.const 65530) (i32.const 100) (i32.const 2))", Some(-21)),
        ("(call $send (local.get $c) (i32.const -1) (i32.const 2) (i32.const 0))", Some(-21)),
        ("(call $accept (local.get $l) (i32.const 1) (i32.const 65530))", Some(-21)),
        ("(call $poller_wait (local.get $p) (i32.const 65535) (i32.const 1) (i64.const 0))", Some(-21)),
        // Bad arguments.
        ("(call $socket (i32.const 5) (i32.const 1) (i32.const 0))", Some(-5)),
        ("(call $socket (i32.const 4) (i32.const 2) (i32.const 0))", Some(-58)),
        ("(call $socket (i32.const 4) (i32.const 1) (i32.const 2))", Some(-28)),
        ("(call $set_option (local.get $l) (i32.const 99) (i32.const 1))", Some(-28)),
        ("(call $set_option (local.get $l) (i32.const 7) (i32.const 0))", Some(-28)),
        ("(call $shutdown (local.get $l) (i32.const 3))", Some(-28)),
        ("(call $recv (local.get $c) (i32.const 600) (i32.const 4) (i32.const 8))", Some(-28)),
        ("(call $send (local.get $c) (i32.const 512) (i32.const 4) (i32.const 1))", Some(-28)),
        ("(call $poller_wait (local.get $p) (i32.const 256) (i32.const 0) (i64.const 0))", Some(-28)),
        ("(call $poller_wait (i32.const 42) (i32.const 256) (i32.const 1) (i64.const 0))", Some(-8)),
        ("(call $poller_ctl (local.get $p) (i32.const 1) (local.get $b) (i32.const 0x100) (i64.const 0))", Some(-28)),
        ("(call $poller_ctl (local.get $p) (i32.const 4) (local.get $b) (i32.const 1) (i64.const 0))", Some(-28)),
        // Socket state: a listener has no peer and no data; non-blocking accept.
        ("(call $recv (local.get $l) (i32.const 600) (i32.const 4) (i32.const 2))", Some(-53)),
        ("(call $peer_addr (local.get $l) (i32.const 384))", Some(-53)),
        ("(call $get_option (local.get $l) (i32.const 8))", Some(0)),
        ("(call $set_option (local.get $l) (i32.const 8) (i32.const 1))", Some(0)),
        ("(call $get_option (local.get $l) (i32.const 8))", Some(1)),
        ("(call $accept (local.get $l) (i32.const 0) (i32.const 0))", Some(-6)),
        // A refused connect (nothing listens on port 1).
        ("(local.tee $d (call $socket (i32.const 4) (i32.const 1) (i32.const 0)))", Some(6)),
        ("(call $connect (local.get $d) (i32.const 96))", Some(-14)),
        ("(call $poller_close (local.get $p))", Some(0)),
        ("(call $poller_close (local.get $p))", Some(-8)),
        ("(call $poller_create)", Some(0)),
    ];
    let wat = wat_file(&program("", steps));
    let out = run(reference().arg(&wat));
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    check(steps, &out.stdout);
}

/// `submit`: tests/guest/wasm/net-submit.wat checks itself (the guest tests
/// run it in kwasm.ko): ops in order, results in their records, the chain
/// ending after a failed or short send, bad arrays and ops refused.
#[test]
fn submit_runs_a_chain_of_ops() {
    let wat = concat!(env!("CARGO_MANIFEST_DIR"), "/../guest/wasm/net-submit.wat");
    let out = run(reference().arg(wat));
    assert!(out.status.success(), "{:?} (the check that failed): {}", out.status, String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "submit: ok\n");
}

/// `--tcplisten`: the program gets the listening socket as fd 3, tells its
/// address, accepts a client, echoes five bytes and closes.
#[test]
fn tcplisten_socket_is_fd_3() {
    let before = r#"
    (drop (call $local_addr (i32.const 3) (i32.const 128)))
    (call $out (i32.const 128) (i32.const 28))"#;
    let steps: &[(&str, Option<i32>)] = &[
        (
            "(local.tee $a (call $accept (i32.const 3) (i32.const 0) (i32.const 320)))",
            Some(4),
        ),
        ("(i32.load16_u (i32.const 320))", Some(4)),
        (
            "(call $recv (local.get $a) (i32.const 600) (i32.const 5) (i32.const 4))",
            Some(5),
        ),
        (
            "(call $send (local.get $a) (i32.const 600) (i32.const 5) (i32.const 0))",
            Some(5),
        ),
        ("(call $close (local.get $a))", Some(0)),
        ("(call $get_option (i32.const 3) (i32.const 8))", Some(0)),
        (
            "(local.tee $b (call $socket (i32.const 4) (i32.const 1) (i32.const 0)))",
            Some(4),
        ),
    ];
    let wat = wat_file(&program(before, steps));
    let mut child = Running(
        reference()
            .args(["--tcplisten", "127.0.0.1:0"])
            .arg(&wat)
            .stdout(Stdio::piped())
            .spawn()
            .expect("run kwasm-reference"),
    );
    let mut stdout = child.0.stdout.take().expect("piped");
    let mut addr = [0u8; 28];
    stdout.read_exact(&mut addr).expect("the program's address");
    assert_eq!(u16::from_le_bytes([addr[0], addr[1]]), 4);
    assert_eq!(addr[8..12], [127, 0, 0, 1]);
    let port = u16::from_le_bytes([addr[2], addr[3]]);
    let mut client = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], port))).expect("connect");
    client.write_all(b"hello").expect("send");
    client.shutdown(Shutdown::Write).expect("shutdown");
    let mut echoed = Vec::new();
    client.read_to_end(&mut echoed).expect("recv");
    assert_eq!(echoed, b"hello");
    let mut rest = Vec::new();
    stdout.read_to_end(&mut rest).expect("results");
    assert!(child.0.wait().expect("wait").success());
    check(steps, &rest);
}

/// Without memory every pointer is a fault; the call still returns. (No
/// WASI here: wasmtime-wasi traps without memory; a wrong result traps.)
#[test]
fn no_memory_is_a_fault() {
    let wat = wat_file(
        r#"(module
          (import "kwasm_net" "socket" (func $socket (param i32 i32 i32) (result i32)))
          (import "kwasm_net" "local_addr" (func $local_addr (param i32 i32) (result i32)))
          (func (export "_start")
            (if (i32.ne (i32.const -21)
                  (call $local_addr (call $socket (i32.const 4) (i32.const 1) (i32.const 0)) (i32.const 0)))
              (then unreachable))))"#,
    );
    let out = run(reference().arg(&wat));
    assert!(
        out.status.success(),
        "{:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A program that cannot reach kwasm_net cannot use a --tcplisten socket.
#[test]
fn tcplisten_needs_kwasm_net() {
    let wat = wat_file(r#"(module (func (export "_start")))"#);
    let out = run(reference().args(["--tcplisten", "127.0.0.1:0"]).arg(&wat));
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does not import kwasm_net"));
    // Without the flag the program runs as before.
    assert!(run(reference().arg(&wat)).status.success());
}
