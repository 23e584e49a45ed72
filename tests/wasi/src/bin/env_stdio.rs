//! Arguments, environment and standard streams: argv (argv[0] is the
//! module's file name), every environment variable (sorted), stdin (null:
//! EOF at once), terminals (none), many lines on stdout, a few on stderr,
//! the working directory, and the exit status the arguments ask for.
//!
//! `env_stdio [--exit N] [args...]`

use kwasm_wasi_corpus::{err, show};
use std::io::{IsTerminal, Read, Write};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    println!("argc: {}", args.len());
    for (i, a) in args.iter().enumerate() {
        println!("argv[{i}]: {a:?}");
    }
    let raw: Vec<_> = std::env::args_os().map(|a| a.len()).collect();
    println!("argument byte lengths: {raw:?}");

    let mut vars: Vec<(String, String)> = std::env::vars().collect();
    vars.sort();
    println!("environment: {} variables", vars.len());
    for (k, v) in &vars {
        println!("  {k}={v:?}");
    }
    println!("var KWASM_A: {:?}", std::env::var("KWASM_A"));
    println!("var UNSET: {:?}", std::env::var("UNSET").map_err(|e| e.to_string()));
    println!("var EMPTY: {:?}", std::env::var("EMPTY"));

    let mut input = Vec::new();
    show("stdin read_to_end", std::io::stdin().read_to_end(&mut input));
    println!(
        "terminals: stdin {} stdout {} stderr {}",
        std::io::stdin().is_terminal(),
        std::io::stdout().is_terminal(),
        std::io::stderr().is_terminal()
    );
    show("current_dir", std::env::current_dir());

    // Many lines, and one large write, through one locked handle.
    {
        let mut out = std::io::stdout().lock();
        for i in 0..500 {
            if let Err(e) = writeln!(out, "line {i:03}: {}", "=".repeat(i % 70)) {
                eprintln!("stdout line {i}: {}", err(&e));
            }
        }
        let block = "0123456789abcdef".repeat(4096);
        if let Err(e) = writeln!(out, "{block}").and_then(|_| out.flush()) {
            eprintln!("stdout block: {}", err(&e));
        }
    }
    for i in 0..3 {
        eprintln!("stderr line {i}");
    }

    let code = args
        .iter()
        .position(|a| a == "--exit")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    println!("exiting with {code}");
    std::process::exit(code);
}
