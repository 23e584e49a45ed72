//! The compute benchmark's programs: CPU-bound work done by well-known
//! crates, the same source built natively and for wasm32-wasip1.
//!
//! ```text
//! compute <program> <rounds>
//! ```
//!
//! prints `compute <program> <rounds> <checksum> <ns>`: the nanoseconds the
//! rounds took by the program's own monotonic clock (so compiling and
//! loading are not counted), and a checksum of what a round computes: every
//! round does the same work, so every way of running the program must
//! print the same checksum, however many rounds it ran.
//!
//! * `sha256`: SHA-256 (`sha2`) of a 1 MiB buffer, once a round.
//! * `deflate`: `miniz_oxide` compresses 256 KiB of generated text at level
//!   6 and decompresses it again, once a round.
//! * `json`: `serde_json` parses a generated 200 KiB document into a value
//!   and prints it again, once a round.
//! * `regex`: `regex` finds every e-mail-like word and every date in 256 KiB
//!   of generated text, once a round.
//! * `matmul`: a 96×96 f64 matrix product (floats; vectorised where the
//!   compiler can), once a round.

use std::hint::black_box;
use std::process::ExitCode;
use std::time::Instant;

use sha2::{Digest, Sha256};

const PROGRAMS: [&str; 5] = ["sha256", "deflate", "json", "regex", "matmul"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(program), Some(Ok(rounds))) = (args.get(1), args.get(2).map(|r| r.parse::<u32>())) else {
        eprintln!("usage: compute <{}> <rounds>", PROGRAMS.join("|"));
        return ExitCode::from(2);
    };
    let run: fn(u32) -> u64 = match program.as_str() {
        "sha256" => sha256,
        "deflate" => deflate,
        "json" => json,
        "regex" => regex,
        "matmul" => matmul,
        _ => {
            eprintln!("unknown program {program}: {}", PROGRAMS.join(", "));
            return ExitCode::from(2);
        }
    };
    let started = Instant::now();
    let checksum = run(rounds);
    let ns = started.elapsed().as_nanos();
    println!("compute {program} {rounds} {checksum:016x} {ns}");
    ExitCode::SUCCESS
}

/// A deterministic pseudo-random sequence (xorshift64*), the same everywhere.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// `len` bytes of text made of words, some of them e-mail addresses and
/// dates, so that it compresses like prose and the regexes find something.
fn text(len: usize) -> String {
    const WORDS: [&str; 16] = [
        "the", "kernel", "runs", "webassembly", "module", "socket", "page", "fault", "guard", "trap", "stack",
        "memory", "call", "host", "signal", "timer",
    ];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut s = String::with_capacity(len + 32);
    while s.len() < len {
        let r = rng.next();
        match r % 23 {
            0 => s.push_str(&format!("{}{}@example{}.org", WORDS[(r >> 8) as usize % 16], r >> 40 & 0xff, r >> 20 & 7)),
            1 => s.push_str(&format!("20{:02}-{:02}-{:02}", r >> 8 & 63, 1 + (r >> 16) % 12, 1 + (r >> 24) % 28)),
            _ => s.push_str(WORDS[(r >> 8) as usize % 16]),
        }
        s.push(if r >> 60 == 0 { '\n' } else { ' ' });
    }
    s.truncate(len);
    s
}

/// FNV-1a.
const BASIS: u64 = 0xcbf2_9ce4_8422_2325;

fn fold(sum: u64, bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(sum, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

fn sha256(rounds: u32) -> u64 {
    let mut buf = vec![0u8; 1 << 20];
    let mut rng = Rng(1);
    for chunk in buf.chunks_mut(8) {
        chunk.copy_from_slice(&rng.next().to_le_bytes());
    }
    let mut sum = 0;
    for _ in 0..rounds {
        sum = fold(BASIS, &Sha256::digest(black_box(&buf)));
    }
    sum
}

fn deflate(rounds: u32) -> u64 {
    let input = text(256 << 10);
    let mut sum = 0;
    for _ in 0..rounds {
        let packed = miniz_oxide::deflate::compress_to_vec(black_box(input.as_bytes()), 6);
        let unpacked = miniz_oxide::inflate::decompress_to_vec(&packed).expect("inflate what deflate made");
        assert_eq!(unpacked, input.as_bytes());
        sum = fold(fold(BASIS, &packed), &(packed.len() as u64).to_le_bytes());
    }
    sum
}

fn json(rounds: u32) -> u64 {
    let mut rng = Rng(7);
    let mut doc = String::from("[");
    while doc.len() < 200 << 10 {
        let r = rng.next();
        doc.push_str(&format!(
            r#"{{"id":{},"name":"user{}","score":{}.{},"tags":["a{}","b{}"],"active":{},"nested":{{"x":{},"y":[1,2,3]}}}},"#,
            r % 100_000,
            r >> 20 & 0xffff,
            r >> 8 & 0xff,
            r >> 16 & 0xf,
            r >> 30 & 7,
            r >> 33 & 7,
            r >> 36 & 1 == 1,
            r >> 40 & 0xfff
        ));
    }
    doc.pop();
    doc.push(']');
    let mut sum = 0;
    for _ in 0..rounds {
        let value: serde_json::Value = serde_json::from_str(black_box(&doc)).expect("the document is JSON");
        let again = serde_json::to_string(&value).expect("a value prints");
        sum = fold(fold(BASIS, again.as_bytes()), &(value.as_array().map_or(0, Vec::len) as u64).to_le_bytes());
    }
    sum
}

fn regex(rounds: u32) -> u64 {
    let input = text(256 << 10);
    let email = regex::Regex::new(r"\b[a-z]+[0-9]*@[a-z]+[0-9]\.(org|com)\b").expect("a valid regex");
    let date = regex::Regex::new(r"\b(20[0-9]{2})-(0[1-9]|1[0-2])-([0-2][0-9])\b").expect("a valid regex");
    let mut sum = 0;
    for _ in 0..rounds {
        let emails = email.find_iter(black_box(&input)).count() as u64;
        let dates: u64 = date
            .captures_iter(&input)
            .map(|c| c[2].parse::<u64>().unwrap_or(0))
            .sum();
        sum = fold(fold(BASIS, &emails.to_le_bytes()), &dates.to_le_bytes());
    }
    sum
}

fn matmul(rounds: u32) -> u64 {
    const N: usize = 96;
    let mut rng = Rng(3);
    let mut a = vec![0f64; N * N];
    let mut b = vec![0f64; N * N];
    for x in a.iter_mut().chain(b.iter_mut()) {
        *x = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 - 0.5;
    }
    let mut c = vec![0f64; N * N];
    let mut sum = 0;
    for _ in 0..rounds {
        let (a, b) = (black_box(&a), black_box(&b));
        for i in 0..N {
            let row = &mut c[i * N..(i + 1) * N];
            row.fill(0.0);
            for k in 0..N {
                let aik = a[i * N + k];
                for (cij, bkj) in row.iter_mut().zip(&b[k * N..(k + 1) * N]) {
                    *cij += aik * bkj;
                }
            }
        }
        let trace: f64 = (0..N).map(|i| black_box(&c)[i * N + i]).sum();
        sum = fold(BASIS, &trace.to_bits().to_le_bytes());
    }
    sum
}
