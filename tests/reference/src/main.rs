//! `kwasm-reference`: the differential test's reference. Runs a WASI
//! (preview 1) program under Wasmtime in user space, the way
//! `wasmtime run` does, taking its arguments the way `kwasm run` does:
//!
//!     kwasm-reference [--env NAME[=VAL]]... [--dir HOST[::GUEST]]... app.wasm [args...]
//!
//! `--dir` preopens a host directory read-write as GUEST (default: the HOST
//! path itself), as `wasmtime run --dir` does. stdio is inherited; argv[0]
//! is the module's file name; the exit status is the program's
//! (`proc_exit`), 134 after a trap (128 + SIGABRT, as `wasmtime run` on
//! Unix), 1 if it could not run. Comparing its stdout, exit status and (with
//! `--dir`) the directory tree it leaves with `kwasm run`'s is the
//! differential test.

use clap::Parser;
use std::path::Path;
use wasmtime::error::Context;
use wasmtime::{Config, Engine, Linker, Module, Result, Store, Trap};
use wasmtime_wasi::p1::{self, WasiP1Ctx};
use wasmtime_wasi::{FsPerms, I32Exit, WasiCtxBuilder};

/// Exit status after a trap, as `wasmtime run` on Unix.
const EXIT_TRAP: i32 = 134;

/// Run a WASI program under Wasmtime in user space (the reference for
/// kwasm's differential test).
#[derive(Parser)]
#[command(name = "kwasm-reference")]
struct Cli {
    /// Pass an environment variable: `NAME=VAL`, or `NAME` to pass this
    /// process's value (left unset if it has none)
    #[arg(long = "env", value_name = "NAME[=VAL]")]
    env: Vec<String>,

    /// Preopen a host directory, read-write: `HOST::GUEST` makes HOST the
    /// guest's GUEST, plain `HOST` keeps its path (wasmtime's syntax)
    #[arg(long = "dir", value_name = "HOST[::GUEST]")]
    dir: Vec<String>,

    /// The WebAssembly module (.wasm or .wat), then the program's arguments
    #[arg(required = true, trailing_var_arg = true, value_name = "MODULE [ARGS]...")]
    module_and_args: Vec<String>,
}

fn main() {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("kwasm-reference: {e:?}");
            std::process::exit(1);
        }
    }
}

fn run(cli: &Cli) -> Result<i32> {
    let (module_path, args) = cli.module_and_args.split_first().expect("clap requires the module");
    let argv0 = Path::new(module_path)
        .file_name()
        .map_or_else(|| module_path.clone(), |n| n.to_string_lossy().into_owned());

    let mut wasi = WasiCtxBuilder::new();
    wasi.inherit_stdio().args(&[argv0]).args(args);
    for flag in &cli.env {
        match flag.split_once('=') {
            Some((k, v)) => {
                wasi.env(k, v);
            }
            None => {
                if let Ok(v) = std::env::var(flag) {
                    wasi.env(flag, v);
                }
            }
        }
    }
    for dir in &cli.dir {
        let (host, guest) = dir.split_once("::").unwrap_or((dir, dir));
        wasi.preopened_dir(host, guest, FsPerms::ReadWrite)
            .with_context(|| format!("cannot preopen `{host}`"))?;
    }

    let engine = Engine::new(&Config::new())?;
    let module = Module::from_file(&engine, module_path).with_context(|| format!("cannot load `{module_path}`"))?;
    let mut linker: Linker<WasiP1Ctx> = Linker::new(&engine);
    p1::add_to_linker_sync(&mut linker, |t| t)?;
    let mut store = Store::new(&engine, wasi.build_p1());

    let result = linker
        .module(&mut store, "", &module)
        .and_then(|linker| linker.get_default(&mut store, ""))
        .and_then(|start| start.typed::<(), ()>(&store))
        .and_then(|start| start.call(&mut store, ()));
    match result {
        Ok(()) => Ok(0),
        Err(e) => {
            if let Some(exit) = e.downcast_ref::<I32Exit>() {
                return Ok(exit.0);
            }
            if e.is::<Trap>() {
                eprintln!("Error: failed to run main module `{module_path}`\n\nCaused by:\n    {e:?}");
                return Ok(EXIT_TRAP);
            }
            Err(e).with_context(|| format!("failed to run main module `{module_path}`"))
        }
    }
}
