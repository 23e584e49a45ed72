//! Guest tests: run as root inside a freshly booted kernel (see
//! `cargo xtask test`), with `kwasm.ko` at /lib/modules/kwasm.ko and the
//! `kwasm` command on PATH. Each test prints one line the host collects:
//!
//! ```text
//! KWASM-TEST <name> PASS
//! KWASM-TEST <name> FAIL <reason>
//! ```
//!
//! The host also fails the run if the kernel log shows any warning, so these
//! tests only check what a user of the module would see.

mod bench;
mod cgroup;
mod fuzz;
mod hostile;
mod kmem;
mod memory;
mod net;
mod module;
mod raw;
mod rig;
mod run;
mod serving;
mod session;
mod stress;
mod suspend;
mod wasi;

use std::process::ExitCode;

/// A test: a name and a function that says why it failed.
pub type Test = (&'static str, fn() -> Result<(), String>);

/// `Ok` if `cond` holds, else the failure `what` describes.
pub fn expect(cond: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(what())
    }
}

/// A number in decimal or 0x-hex.
fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

fn main() -> ExitCode {
    // Helper modes: the non-root test re-executes this binary under another
    // uid to see what open() returns there; the FPU test runs it as a
    // user-space FPU load; `cargo xtask bench` runs the benchmark with it
    // (bench.rs), and the in-kernel reference server as one of its variants.
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--probe-open") => return raw::probe_open(),
        Some("--fuzz") => {
            let num = |i: usize| args.get(i).and_then(|s| parse_u64(s));
            return fuzz::replay(num(2).unwrap_or(kwasm_fuzz::DEFAULT_SEED), num(3).unwrap_or(3000));
        }
        Some("--bench") => return bench::main(&args[2..]),
        Some("--kref-serve") => {
            return bench::kref_serve(args.get(2).map(String::as_str), args.get(3).map(String::as_str))
        }
        Some("--long-soak") => {
            // The module first, as the test plans do.
            for (name, test) in rig::TESTS
                .iter()
                .chain(module::TESTS.iter().filter(|(n, _)| *n == "insmod"))
            {
                mark_kernel_log(&format!("kwasm-guest-tests: {name}"));
                if let Err(reason) = test() {
                    println!("KWASM-TEST {name} FAIL {}", reason.replace('\n', " | "));
                    return ExitCode::FAILURE;
                }
                println!("KWASM-TEST {name} PASS");
            }
            mark_kernel_log("kwasm-guest-tests: long-soak");
            return stress::long_soak(args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20));
        }
        Some("--user-space-soak") => {
            return stress::user_space_soak(args.get(2).and_then(|s| s.parse().ok()).unwrap_or(60))
        }
        Some("--thp-starvation-control") => {
            return stress::thp_starvation_control(args.get(2).and_then(|s| s.parse().ok()).unwrap_or(180))
        }
        Some("--hold-memory") => return memory::hold(args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64)),
        Some("--fpu-burner") => return run::fpu_burner(args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10)),
        _ => {}
    }
    // `--only NAME,...`: just those tests (while working on them, with
    // the module already loaded). `--skip NAME,...`: all but those (the
    // driver's plan for one kernel).
    let list = |i: usize| -> Vec<&str> { args.get(i).map(|s| s.split(',').collect()).unwrap_or_default() };
    let (only, skip): (Option<Vec<&str>>, Vec<&str>) = match args.get(1).map(String::as_str) {
        Some("--only") => (Some(list(2)), vec![]),
        Some("--skip") => (None, list(2)),
        _ => (None, vec![]),
    };
    for name in &skip {
        println!("kwasm-guest-tests: {name} skipped on this boot");
    }
    let mut failed = 0;
    for (name, test) in rig::TESTS
        .iter()
        .chain(module::TESTS)
        .chain(run::TESTS)
        .chain(session::TESTS)
        .chain(hostile::TESTS)
        .chain(wasi::TESTS)
        .chain(net::TESTS)
        .chain(suspend::TESTS)
        .chain(memory::TESTS)
        .chain(stress::TESTS)
        .chain(fuzz::TESTS)
        .chain(run::LAST)
        .filter(|(name, _)| only.as_ref().is_none_or(|o| o.contains(name)) && !skip.contains(name))
    {
        mark_kernel_log(&format!("kwasm-guest-tests: {name}"));
        match test() {
            Ok(()) => println!("KWASM-TEST {name} PASS"),
            Err(reason) => {
                failed += 1;
                println!("KWASM-TEST {name} FAIL {}", reason.replace('\n', " | "));
            }
        }
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// What a test that makes the OOM killer run on purpose (memory.rs) writes
/// to the kernel log first; the window closes at the next
/// `kwasm-guest-tests:` line. The rig's verdict (xtask/src/verdict.rs) has
/// the same rule: inside the window the OOM killer's report, which prints a
/// call trace, is expected.
pub const OOM_EXPECTED: &str = "kwasm-guest-tests: the OOM killer may run now";
pub const OOM_NOT_EXPECTED: &str = "kwasm-guest-tests: the OOM killer is not expected any more";

/// Kernel log lines holding any of `words`, except a call trace inside a
/// window where a test expected the OOM killer.
pub fn kernel_log_problems(words: &[&str]) -> Result<Vec<String>, String> {
    let out = std::process::Command::new("dmesg").output().map_err(|e| e.to_string())?;
    let log = String::from_utf8_lossy(&out.stdout);
    let mut oom_expected = false;
    let mut bad = Vec::new();
    for line in log.lines() {
        if line.contains(OOM_EXPECTED) {
            oom_expected = true;
        } else if line.contains("kwasm-guest-tests: ") {
            oom_expected = false;
        }
        let expected = |w: &&str| oom_expected && *w == "Call Trace";
        if words.iter().any(|w| line.contains(w) && !expected(w)) {
            bad.push(line.to_string());
        }
    }
    Ok(bad)
}

/// Writes `line` into the kernel log (before each test, and each hostile
/// case), so that anything the kernel reports can be placed in what
/// caused it.
pub fn mark_kernel_log(line: &str) {
    use std::io::Write;
    if let Ok(mut kmsg) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
        // One write: each write(2) to /dev/kmsg is one log record.
        let _ = kmsg.write_all(format!("{line}\n").as_bytes());
    }
}
