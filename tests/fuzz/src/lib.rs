//! Fuzzers for everything `kwasm.ko` runs on what a caller hands it,
//! run on the host: the request checks of `kwasm-abi`, ioctl decoding,
//! `kwasm_wasi::StringList`, the engine acceptance rules of
//! `kwasm-engine`, and Wasmtime's loading of corrupted images with
//! kwasm's own runtime configuration.
//!
//! Each target is a function of one [`Rng`]: it builds an input, runs the
//! code under test and asserts the invariants that code promises (it never
//! panics; what it accepts is within the documented limits; what it
//! refuses breaks one). [`run`] drives a target over iterations derived
//! from one seed, within a time budget, and names the seed and iteration
//! of the first failure so it replays exactly.
//!
//! `cargo test -p kwasm-fuzz` runs every target for a fixed number of
//! iterations (part of `cargo xtask test`); `cargo xtask fuzz --seconds N`
//! runs them for longer.

pub mod rng;
pub mod targets;

pub use rng::{mutate, Mutation, Rng};

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

/// The seed CI uses; `KWASM_FUZZ_SEED` overrides it.
pub const DEFAULT_SEED: u64 = 0x6b77_6173_6d21_0006;

/// A fuzz target: one input from the generator, checked.
pub type Target = fn(&mut Rng);

/// How much to run: at most `iterations`, and no longer than `time`.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub iterations: u64,
    pub time: Duration,
}

/// The seed from `KWASM_FUZZ_SEED` (decimal or 0x-hex), else the default.
pub fn seed_from_env() -> u64 {
    std::env::var("KWASM_FUZZ_SEED")
        .ok()
        .and_then(|s| match s.strip_prefix("0x") {
            Some(hex) => u64::from_str_radix(hex, 16).ok(),
            None => s.parse().ok(),
        })
        .unwrap_or(DEFAULT_SEED)
}

/// Runs `target` from `seed` within `budget`; the number of iterations
/// run, or a message naming the failing seed and iteration.
pub fn run(name: &str, target: Target, seed: u64, budget: Budget) -> Result<u64, String> {
    let start = Instant::now();
    let trace = std::env::var_os("KWASM_FUZZ_TRACE").is_some();
    let mut i = 0;
    while i < budget.iterations && start.elapsed() < budget.time {
        let mut rng = Rng::for_iteration(seed, i);
        if trace {
            // A crash that is not a panic (a fault) ends the process: name
            // the input first.
            eprintln!("{name} {i}");
        }
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| target(&mut rng))) {
            let why = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            return Err(format!(
                "fuzz target {name} failed at iteration {i} of seed {seed:#x} \
                 (every run of a seed is the same: KWASM_FUZZ_SEED={seed:#x} replays it): {why}"
            ));
        }
        i += 1;
    }
    Ok(i)
}
