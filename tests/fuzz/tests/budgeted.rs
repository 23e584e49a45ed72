//! Every fuzz target, for a fixed number of iterations from the fixed
//! seed (`KWASM_FUZZ_SEED` overrides it), each capped at a few seconds so
//! `cargo xtask test` stays bounded whatever the machine.

use kwasm_fuzz::{run, seed_from_env, targets, Budget};
use std::time::Duration;

/// Iterations per target in CI (~12 s in all on a debug build); the image
/// loader and the 4 KiB string lists are slower per input.
fn budget(name: &str) -> Budget {
    Budget {
        iterations: match name {
            "image-load" => 3_000,
            "string-list" => 40_000,
            _ => 200_000,
        },
        time: Duration::from_secs(8),
    }
}

#[test]
fn every_target_holds_its_invariants() {
    let seed = seed_from_env();
    let mut failures = vec![];
    for &(name, target) in targets::ALL {
        match run(name, target, seed, budget(name)) {
            Ok(n) => println!("fuzz {name}: {n} iterations, seed {seed:#x}"),
            Err(why) => failures.push(why),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
