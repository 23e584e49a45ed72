//! `kwasm-fuzz [--seconds N] [--seed S] [TARGET...]`: runs the host fuzz
//! targets (all, or the ones named) for N seconds each (default 10), from
//! seed S (default the CI seed), and prints how many inputs each took.
//! `cargo xtask fuzz` runs it in release mode.

use kwasm_fuzz::{run, seed_from_env, targets, Budget};
use std::process::ExitCode;
use std::time::Duration;

fn main() -> ExitCode {
    let mut seconds = 10u64;
    let mut seed = seed_from_env();
    let mut only = vec![];
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |what: &str| {
            let v = args.next().unwrap_or_default();
            let parsed = match v.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => v.parse().ok(),
            };
            parsed.unwrap_or_else(|| {
                eprintln!("kwasm-fuzz: {what} needs a number, got {v:?}");
                std::process::exit(2)
            })
        };
        match a.as_str() {
            "--seconds" => seconds = value("--seconds"),
            "--seed" => seed = value("--seed"),
            name if targets::ALL.iter().any(|(n, _)| *n == name) => only.push(name.to_string()),
            other => {
                let names: Vec<&str> = targets::ALL.iter().map(|(n, _)| *n).collect();
                eprintln!("kwasm-fuzz: unknown argument {other:?}; targets: {}", names.join(" "));
                return ExitCode::from(2);
            }
        }
    }
    println!("kwasm-fuzz: seed {seed:#x}, {seconds} s per target");
    let mut failed = false;
    for &(name, target) in targets::ALL {
        if !only.is_empty() && !only.iter().any(|n| n == name) {
            continue;
        }
        let budget = Budget {
            iterations: u64::MAX,
            time: Duration::from_secs(seconds),
        };
        match run(name, target, seed, budget) {
            Ok(n) => println!("{name}: {n} inputs, no failure"),
            Err(why) => {
                println!("{why}");
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
