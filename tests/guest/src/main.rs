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

mod module;
mod raw;

use std::process::ExitCode;

/// A test: a name and a function that says why it failed.
pub type Test = (&'static str, fn() -> Result<(), String>);

fn main() -> ExitCode {
    // Hidden helper mode: the non-root test re-executes this binary under
    // another uid to observe what open() returns there.
    if std::env::args().nth(1).as_deref() == Some("--probe-open") {
        return raw::probe_open();
    }
    let mut failed = 0;
    for (name, test) in module::TESTS {
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
