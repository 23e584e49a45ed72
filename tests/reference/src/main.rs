//! `kwasm-reference`: the differential test's reference. Runs a WASI
//! (preview 1) program under Wasmtime in user space, the way
//! `wasmtime run` does, taking its arguments the way `kwasm run` does:
//!
//!     kwasm-reference [--env NAME[=VAL]]... [--dir HOST[::GUEST]]... [--tcplisten ADDR:PORT]... app.wasm [args...]
//!
//! `--dir` preopens a host directory read-write as GUEST (default: the HOST
//! path itself), as `wasmtime run --dir` does. A program that imports
//! `kwasm_net` (docs/kwasm_net.md) gets it, in user space (`net.rs`).
//! `--tcplisten` binds and listens here, as `kwasm run` does, and hands the
//! socket to the program as fd 3 (then 4, ...) of kwasm_net's table.
//! wasmtime-wasi's preview1 has no socket descriptors (recent `wasmtime
//! run` refuses `--tcplisten` for that reason), so unlike in kwasm.ko the
//! sockets are not in the WASI fd table: `--dir` preopens keep their own
//! numbers from 3, and only kwasm_net calls see the sockets; a program
//! that does not import kwasm_net cannot be given one. stdio is inherited;
//! argv[0] is the module's file name; the exit status is the program's
//! (`proc_exit`), 134 after a trap (128 + SIGABRT, as `wasmtime run` on
//! Unix), 1 if it could not run. Comparing its stdout, exit status and (with
//! `--dir`) the directory tree it leaves with `kwasm run`'s is the
//! differential test.

mod net;

use clap::Parser;
use net::Net;
use std::os::fd::OwnedFd;
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

    /// Bind and listen on a TCP address, handing the socket to the program
    /// as kwasm_net fd 3, 4, ... in the order given (kwasm's and wasmtime's flag)
    #[arg(long = "tcplisten", value_name = "ADDR:PORT")]
    tcplisten: Vec<String>,

    /// Compile an epoch check into every function entry and loop header, as
    /// kwasm does so that a running program can be stopped, with a deadline
    /// never reached: what those checks cost, measured in user space
    #[arg(long)]
    epoch_interruption: bool,

    /// The WebAssembly module (.wasm or .wat), then the program's arguments
    #[arg(required = true, trailing_var_arg = true, value_name = "MODULE [ARGS]...")]
    module_and_args: Vec<String>,
}

/// What the program's imports reach: preview1 and kwasm_net.
struct Host {
    wasi: WasiP1Ctx,
    net: Net,
}

/// Raises the soft open-file limit to the hard one: a server holds a host
/// descriptor per connection, and benchmarks open thousands.
fn raise_nofile_limit() -> std::io::Result<()> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid rlimit to fill in.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: `lim` is a valid rlimit, only read.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
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

    // Bound before compiling, as `kwasm run` does: clients may connect
    // while the program is still being compiled.
    let listeners = cli
        .tcplisten
        .iter()
        .map(|a| {
            std::net::TcpListener::bind(a.as_str())
                .map(OwnedFd::from)
                .with_context(|| format!("--tcplisten `{a}`"))
        })
        .collect::<Result<Vec<_>>>()?;

    let engine = Engine::new(Config::new().epoch_interruption(cli.epoch_interruption))?;
    let module = Module::from_file(&engine, module_path).with_context(|| format!("cannot load `{module_path}`"))?;
    let mut linker: Linker<Host> = Linker::new(&engine);
    p1::add_to_linker_sync(&mut linker, |h: &mut Host| &mut h.wasi)?;
    if module.imports().any(|i| i.module() == kwasm_wasi::net::MODULE) {
        net::add_to_linker(&mut linker, |h: &mut Host| &mut h.net)?;
        if let Err(e) = raise_nofile_limit() {
            eprintln!("kwasm-reference: cannot raise the open-file limit: {e}");
        }
    } else if !listeners.is_empty() {
        wasmtime::bail!(
            "--tcplisten: `{module_path}` does not import kwasm_net, and wasmtime-wasi's preview1 has no \
             sockets, so it could not use the listening socket"
        );
    }
    // Dropping the store at the end of the run closes every socket and poller.
    let mut store = Store::new(
        &engine,
        Host {
            wasi: wasi.build_p1(),
            net: Net::new(listeners),
        },
    );
    if cli.epoch_interruption {
        // The epoch never advances: no check ever fires.
        store.set_epoch_deadline(1);
    }

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
