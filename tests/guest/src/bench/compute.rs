//! The compute benchmark of `--bench`: CPU-bound programs from well-known
//! crates (`examples/compute`), the same source run five ways: built
//! natively, under Wasmtime in user space (its defaults: guard pages, no
//! bounds checks), and in the kernel by kwasm with native code (guard
//! regions, and explicit bounds checks) and with Pulley. Each program times its own rounds; one line per run goes to the
//! console for the driver:
//!
//! ```text
//! KWASM-COMPUTE <rep> <variant> <program> <rounds> ok <checksum> <ns>
//! KWASM-COMPUTE <rep> <variant> <program> <rounds> FAIL <why>
//! ```
//!
//! Every round does the same work, so every variant must print the same
//! checksum (the driver checks); Pulley runs a tenth of the rounds.

use super::{pinned, SERVER_CPU};
use crate::serving::run_limited;
use std::time::Duration;

const WASM: &str = "/share/kwasm/examples/compute.wasm";
const NATIVE: &str = "/bin/compute";

/// The programs and their rounds: some 50–100 ms each natively on the
/// host, a second or two under TCG.
const PROGRAMS: [(&str, u32); 5] = [("sha256", 100), ("deflate", 5), ("json", 20), ("regex", 150), ("matmul", 300)];

/// The variants, in the order the report shows them.
pub const VARIANTS: [&str; 6] = ["native", "wasmtime", "wasmtime-epochs", "kwasm", "kwasm-explicit", "kwasm-pulley"];

fn argv(variant: &str, program: &str, rounds: u32) -> Vec<String> {
    let rounds = rounds.to_string();
    let v: Vec<&str> = match variant {
        "native" => vec![NATIVE, program, &rounds],
        "wasmtime" => vec!["kwasm-reference", WASM, program, &rounds],
        "wasmtime-epochs" => vec!["kwasm-reference", "--epoch-interruption", WASM, program, &rounds],
        "kwasm" => vec!["kwasm", "run", "--engine", "native", WASM, program, &rounds],
        "kwasm-explicit" => vec![
            "kwasm",
            "run",
            "--engine",
            "native",
            "--bounds-checks",
            "explicit",
            WASM,
            program,
            &rounds,
        ],
        _ => vec!["kwasm", "run", "--engine", "pulley", WASM, program, &rounds],
    };
    v.into_iter().map(String::from).collect()
}

/// Prints every run of one repetition; false if one failed.
pub fn measure(rep: u32) -> bool {
    let mut ok = true;
    for (program, rounds) in PROGRAMS {
        for variant in VARIANTS {
            let rounds = if variant == "kwasm-pulley" { (rounds / 10).max(1) } else { rounds };
            let head = format!("KWASM-COMPUTE {rep} {variant} {program} {rounds}");
            match run(&argv(variant, program, rounds), program, rounds) {
                Ok((checksum, ns)) => println!("{head} ok {checksum} {ns}"),
                Err(why) => {
                    ok = false;
                    println!("{head} FAIL {}", why.replace('\n', " | "));
                }
            }
        }
    }
    ok
}

/// Runs one program on the servers' CPU: (checksum, ns) from its line.
fn run(argv: &[String], program: &str, rounds: u32) -> Result<(String, u64), String> {
    let done = run_limited(&mut pinned(SERVER_CPU, argv), &argv[0], Duration::from_secs(600))?;
    let out = done.stdout.trim();
    let words: Vec<&str> = out.split_whitespace().collect();
    match words[..] {
        ["compute", p, r, checksum, ns] if done.status.success() && p == program && r == rounds.to_string() => ns
            .parse()
            .map(|ns| (checksum.to_string(), ns))
            .map_err(|_| format!("not a number of nanoseconds: {out}")),
        _ => Err(format!("{}: {} {out} {}", argv.join(" "), done.status, done.stderr)),
    }
}
