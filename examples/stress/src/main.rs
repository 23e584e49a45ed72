//! A deterministic workout for kwasm's differential test: the same bytes
//! and exit code must come out of `kwasm run` (in the kernel) and of
//! Wasmtime in user space. It exercises argument parsing, formatting, f32
//! and f64 arithmetic and printing, a `HashMap` (whose `RandomState` seeds
//! come from `random_get`), heap growth by tens of MiB, the clock and
//! `sched_yield`. Nothing it prints depends on time or randomness.
//!
//!     stress [--mib N] [--words N] [--seed N] [--exit N]

use std::collections::HashMap;
use std::fmt::Write as _;
use std::process::ExitCode;

struct Options {
    mib: usize,
    words: usize,
    seed: u64,
    exit: u8,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options {
        mib: 32,
        words: 20_000,
        seed: 1,
        exit: 0,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = |what: &str| -> Result<u64, String> {
            let v = it.next().ok_or(format!("{flag} needs {what}"))?;
            v.parse().map_err(|e| format!("{flag} {v}: {e}"))
        };
        match flag.as_str() {
            "--mib" => o.mib = value("a size in MiB")? as usize,
            "--words" => o.words = value("a count")? as usize,
            "--seed" => o.seed = value("a number")?,
            "--exit" => o.exit = value("an exit code")?.min(255) as u8,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    Ok(o)
}

/// xorshift64*: the program's only source of "randomness", so the output
/// is reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn floats(out: &mut String) {
    let mut s64 = 0f64;
    let mut s32 = 0f32;
    for i in 1..=10_000u32 {
        s64 += (i as f64).sqrt() / (1.0 + (i as f64).ln());
        s32 += (i as f32).sqrt().mul_add(0.5, 1.0 / i as f32);
    }
    writeln!(out, "f64 sum    {s64:.12}").unwrap();
    writeln!(out, "f32 sum    {s32}").unwrap();
    writeln!(
        out,
        "f64 trig   {:.15} {:.15} {:.15}",
        1.0f64.sin(),
        2.0f64.cos(),
        0.5f64.atan2(1.5)
    )
    .unwrap();
    writeln!(out, "f32 trig   {} {} {}", 1.0f32.sin(), 2.0f32.cos(), 0.5f32.tan()).unwrap();
    writeln!(
        out,
        "f64 exp    {:e} {:e} {}",
        10f64.exp(),
        1e-300f64 * 1e-300,
        2f64.powf(0.5)
    )
    .unwrap();
    writeln!(
        out,
        "f32 round  {} {} {} {}",
        2.5f32.round(),
        (-2.5f32).floor(),
        2.4f32.ceil(),
        (-0.0f32).trunc()
    )
    .unwrap();
    writeln!(
        out,
        "specials   {} {} {} {}",
        f64::MAX * 2.0,
        -1.0f64 / 0.0,
        (0.0f64 / 0.0).is_nan(),
        f32::MIN_POSITIVE
    )
    .unwrap();
    writeln!(
        out,
        "convert    {} {} {} {}",
        3.99f64 as i32,
        -1e20f64 as i64,
        f64::NAN as u8,
        300.7f32 as u8
    )
    .unwrap();
    // Matrix product: a little SIMD-friendly work.
    let n = 24;
    let a: Vec<f64> = (0..n * n).map(|i| ((i % 7) as f64 - 3.0) * 0.25).collect();
    let b: Vec<f64> = (0..n * n).map(|i| ((i % 5) as f64 + 1.0) / 3.0).collect();
    let mut trace = 0.0;
    for i in 0..n {
        for j in 0..n {
            let c: f64 = (0..n).map(|k| a[i * n + k] * b[k * n + j]).sum();
            if i == j {
                trace += c;
            }
        }
    }
    writeln!(out, "matrix     trace {trace:.6}").unwrap();
}

fn words(out: &mut String, rng: &mut Rng, count: usize) {
    const SYLLABLES: [&str; 12] = ["ka", "ne", "lo", "wa", "sm", "ri", "tu", "ve", "xo", "zi", "mu", "qe"];
    let mut counts: HashMap<String, u32> = HashMap::new();
    for _ in 0..count {
        let len = 1 + (rng.next() % 2) as usize;
        let word: String = (0..len).map(|_| SYLLABLES[(rng.next() % 12) as usize]).collect();
        *counts.entry(word).or_insert(0) += 1;
    }
    // HashMap order depends on its random seeds: sort before printing.
    let mut sorted: Vec<(&String, &u32)> = counts.iter().collect();
    sorted.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    writeln!(out, "words      {} distinct of {count}", counts.len()).unwrap();
    for (w, c) in sorted.iter().take(5) {
        writeln!(out, "  {w:<6}{c:>6}").unwrap();
    }
    let total: u32 = counts.values().sum();
    writeln!(
        out,
        "  total {total}, `kane` {:?}, `zz` {:?}",
        counts.get("kane"),
        counts.get("zz")
    )
    .unwrap();
}

fn heap(out: &mut String, mib: usize) {
    const CHUNK: usize = 1 << 20;
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut checksum = 0u64;
    // Grow in 1 MiB steps, freeing every third chunk on the way, then grow
    // again into the holes.
    for round in 0..2 {
        for i in 0..mib {
            let fill = (i * 7 + round * 13) as u8;
            let chunk = vec![fill; CHUNK];
            checksum = checksum.wrapping_mul(31).wrapping_add(chunk[i * 4099 % CHUNK] as u64);
            chunks.push(chunk);
            if i % 3 == 2 {
                let gone = chunks.swap_remove(chunks.len() / 2);
                checksum ^= gone[CHUNK - 1] as u64;
                std::thread::yield_now();
            }
        }
        writeln!(out, "heap       round {round}: {} chunks live", chunks.len()).unwrap();
    }
    let live: usize = chunks.iter().map(|c| c.len()).sum();
    chunks.clear();
    chunks.shrink_to_fit();
    // One big allocation after freeing everything.
    let big = vec![0x5au8; mib * CHUNK];
    let big_sum: u64 = big.iter().step_by(4096).map(|&b| b as u64).sum();
    writeln!(
        out,
        "heap       {} MiB peak live, checksum {checksum:#018x}, big {big_sum}",
        live >> 20
    )
    .unwrap();
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts = match parse_args(&args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("stress: {e}");
            return ExitCode::from(2);
        }
    };
    let started = std::time::Instant::now();
    let mut out = String::new();
    writeln!(
        out,
        "stress     mib={} words={} seed={}",
        opts.mib, opts.words, opts.seed
    )
    .unwrap();
    writeln!(
        out,
        "format     [{:>8}] [{:<8}] [{:^8}] [{:+}] [{:08.3}] [{:#x}] [{:#b}] [{:?}]",
        "right", "left", "mid", 42, -3.14159, 255, 5u8, "quo\"te"
    )
    .unwrap();
    floats(&mut out);
    let mut rng = Rng(opts.seed.max(1));
    words(&mut out, &mut rng, opts.words);
    heap(&mut out, opts.mib);
    // The clock must run forwards; its value is never printed.
    let monotonic = std::time::Instant::now() >= started;
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .is_ok();
    writeln!(out, "clock      monotonic {monotonic}, after 1970 {wall}").unwrap();
    print!("{out}");
    println!("done, exit {}", opts.exit);
    ExitCode::from(opts.exit)
}
