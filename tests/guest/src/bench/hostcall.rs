//! The host-call microbenchmark of `--bench`: what one call from wasm into
//! the kernel costs, in each engine, beside what one system call costs a
//! native program.
//!
//! `tests/guest/wasm/hostcall.wat` times `calls` calls of each kind by the
//! monotonic clock and returns the nanoseconds; one line per figure goes
//! to the console for the driver:
//!
//! ```text
//! KWASM-HOSTCALL <rep> <engine> <kind> <calls> ok <ns>
//! KWASM-HOSTCALL <rep> <engine> <kind> <calls> FAIL <why>
//! ```
//!
//! `engine` is `native` or `pulley` (kinds `wasm_calls`, the loop calling
//! a wasm function, the baseline; `clock_calls`, WASI `clock_time_get`;
//! `net_calls`, kwasm_net `poller_close` of a poller that does not exist),
//! or `linux` (kind `getppid`: the system call from this process).

use super::{pinned, SERVER_CPU};
use crate::serving::run_limited;
use std::time::{Duration, Instant};

const PROGRAM: &str = "/share/kwasm/tests/hostcall.wat";
/// The exports of [`PROGRAM`].
const KINDS: [&str; 3] = ["wasm_calls", "clock_calls", "net_calls"];

/// Prints every figure of one repetition; false if one failed.
pub fn measure(rep: u32, calls: u32) -> bool {
    let mut ok = true;
    for engine in ["native", "pulley"] {
        // The interpreter is some 20 times slower: fewer calls keep its
        // runs as long as native code's.
        let calls = if engine == "pulley" { (calls / 20).max(1) } else { calls };
        for kind in KINDS {
            ok &= report(rep, engine, kind, calls, run(engine, kind, calls));
        }
    }
    ok & report(rep, "linux", "getppid", calls, Ok(getppid_ns(calls)))
}

fn report(rep: u32, engine: &str, kind: &str, calls: u32, r: Result<u64, String>) -> bool {
    let head = format!("KWASM-HOSTCALL {rep} {engine} {kind} {calls}");
    match &r {
        Ok(ns) => println!("{head} ok {ns}"),
        Err(why) => println!("{head} FAIL {}", why.replace('\n', " | ")),
    }
    r.is_ok()
}

/// Runs one export of the program in the kernel, on the servers' CPU.
fn run(engine: &str, kind: &str, calls: u32) -> Result<u64, String> {
    let argv: Vec<String> = ["kwasm", "run", "--engine", engine, "--invoke", kind, PROGRAM]
        .into_iter()
        .map(String::from)
        .chain([calls.to_string()])
        .collect();
    let done = run_limited(&mut pinned(SERVER_CPU, &argv), "kwasm run", Duration::from_secs(300))?;
    let out = done.stdout.trim();
    match out.parse::<u64>() {
        Ok(ns) if done.status.success() => Ok(ns),
        _ => Err(format!("kwasm run {kind}: {} {out} {}", done.status, done.stderr)),
    }
}

/// Nanoseconds `calls` getppid() system calls take this process.
fn getppid_ns(calls: u32) -> u64 {
    let started = Instant::now();
    for _ in 0..calls {
        // SAFETY: getppid has no arguments and cannot fail; black_box keeps
        // the loop from being optimised away.
        std::hint::black_box(unsafe { libc::getppid() });
    }
    started.elapsed().as_nanos() as u64
}
