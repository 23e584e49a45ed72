//! The smallest kwasm demo: prints a greeting, its arguments and the
//! `NAME` environment variable, then exits with the code `--exit N` asks
//! for.
//!
//!     kwasm run --env NAME=kernel hello.wasm a b --exit 3   # exits 3

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let name = std::env::var("NAME").unwrap_or_else(|_| "world".to_string());
    println!("Hello, {name}! This is WebAssembly speaking.");
    println!("argc = {}", args.len());
    for (i, a) in args.iter().enumerate() {
        println!("argv[{i}] = {a:?}");
    }
    let mut code = 0u8;
    let mut rest = args.iter().skip(1);
    while let Some(a) = rest.next() {
        if a == "--exit" {
            match rest.next().map(|n| n.parse::<u8>()) {
                Some(Ok(n)) => code = n,
                _ => {
                    eprintln!("hello: --exit needs a code from 0 to 255");
                    return ExitCode::from(2);
                }
            }
        }
    }
    println!("exiting with {code}");
    ExitCode::from(code)
}
