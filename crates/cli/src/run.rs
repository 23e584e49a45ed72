//! `kwasm run`: compile (or fetch from the cache), hand the image to
//! kwasm.ko, and report how the program ended.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use kwasm_abi::Value;
use kwasm_engine::{EngineKind, Settings};
use std::io::Write;
use std::path::Path;

use crate::compile::{self, CacheStatus};
use crate::device::Device;
use crate::invoke;
use crate::outcome::{self, RunContext};
use crate::request::{Limits, Listeners, Preopens, Reply, Run, StringList, Wasi};
use crate::session::{Session, SessionOptions};
use crate::units;

/// Which engine runs the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EngineArg {
    /// x86-64 machine code compiled by Cranelift for this CPU (loading it
    /// needs CAP_SYS_ADMIN)
    Native,
    /// Wasmtime's Pulley interpreter: no executable kernel memory at all
    Pulley,
}

impl EngineArg {
    pub fn kind(self) -> EngineKind {
        match self {
            EngineArg::Native => EngineKind::Native,
            EngineArg::Pulley => EngineKind::Pulley,
        }
    }
}

/// How native code keeps memory accesses in bounds (`--bounds-checks`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BoundsArg {
    /// No checks in the code: each linear memory sits in a 4 GiB
    /// reservation with a guard region, and an access outside it faults
    /// into a trap (the default for native code)
    Guard,
    /// A check before every access, no reservation (Pulley always checks)
    Explicit,
}

/// `settings` with the bounds mode `arg` asks for (none: the engine's
/// default).
pub fn with_bounds(settings: Settings, arg: Option<BoundsArg>) -> Result<Settings> {
    match (arg, settings.kind) {
        (Some(BoundsArg::Explicit), _) => Ok(settings.with_explicit_bounds()),
        (Some(BoundsArg::Guard), EngineKind::Pulley) => {
            anyhow::bail!("--bounds-checks guard needs the native engine: Pulley always checks bounds explicitly")
        }
        _ => Ok(settings),
    }
}

/// The engine without `--engine` (see `compile::DEFAULT_ENGINE`).
pub fn default_engine() -> EngineArg {
    match compile::DEFAULT_ENGINE {
        EngineKind::Native => EngineArg::Native,
        EngineKind::Pulley => EngineArg::Pulley,
    }
}

/// Run a WebAssembly program (a WASI command, or one export with --invoke)
/// inside the kernel, as this process: its stdin/stdout/stderr, its
/// credentials. Exits with the program's exit code.
#[derive(Args, Debug)]
#[command(after_help = "\
The module is compiled in user space (Wasmtime + Cranelift) and cached in \
$KWASM_CACHE_DIR, else $XDG_CACHE_HOME/kwasm, else $HOME/.cache/kwasm; \
delete that directory to drop the cache. `.wat` text is accepted too.

Exit status: the program's exit code; 134 if it trapped, ran out of fuel or \
hit --timeout (as `wasmtime run`); 130 if a signal ended it; 1 if it could \
not run.")]
pub struct RunArgs {
    /// Pass an environment variable to the program: `NAME=VAL`, or `NAME` to
    /// pass this process's value (left unset if it has none)
    #[arg(long = "env", value_name = "NAME[=VAL]")]
    pub env: Vec<String>,

    /// Give the program a directory: HOST_DIR, seen by the program at
    /// GUEST_PATH (default: HOST_DIR). It reaches nothing outside its
    /// directories; this process's permissions decide what it may do inside
    #[arg(long = "dir", value_name = "HOST_DIR[::GUEST_PATH]")]
    pub dirs: Vec<String>,

    /// Listen on this TCP address (e.g. 127.0.0.1:8080) and give the
    /// program the listening socket (fd 3, then 4, ..., before --dir
    /// directories) to accept connections on
    #[arg(long = "tcplisten", value_name = "ADDR:PORT")]
    pub tcplisten: Vec<String>,

    /// The engine that runs the program: native x86-64 code from Cranelift
    /// (the default), or Wasmtime's Pulley interpreter (no executable memory)
    #[arg(long, value_enum, value_name = "ENGINE")]
    pub engine: Option<EngineArg>,

    /// Give the program a budget of N fuel units (about one per wasm
    /// instruction) and stop it when it runs out
    #[arg(long, value_name = "N")]
    pub fuel: Option<u64>,

    /// How native code keeps memory accesses in bounds: guard regions
    /// (the default) or explicit checks
    #[arg(long, value_enum, value_name = "MODE")]
    pub bounds_checks: Option<BoundsArg>,

    /// Stop the program after this much wall-clock time: 500ms, 2s, 1m (a
    /// bare number is seconds)
    #[arg(long, value_name = "DURATION", value_parser = parse_duration_arg)]
    pub timeout: Option<(String, u64)>,

    /// Cap each of the program's linear memories (and tables, at 8 bytes an
    /// element): bytes, or with K/KiB, M/MiB, G/GiB (powers of 1024), e.g.
    /// 64MiB [default: the module's own maximum]
    #[arg(long, value_name = "SIZE", value_parser = units::parse_size)]
    pub max_memory: Option<u64>,

    /// Call this exported function instead of the WASI command's `_start`:
    /// the arguments after the module are its parameters (i32, i64, f32,
    /// f64; integers also as 0x hex), and its results are printed one per
    /// line
    #[arg(long, value_name = "FUNCTION")]
    pub invoke: Option<String>,

    /// Say which engine runs the program and whether the compiled module
    /// came from the cache (on stderr)
    #[arg(long, short)]
    pub verbose: bool,

    /// The WebAssembly module (.wasm or .wat), then the program's arguments
    #[arg(required = true, trailing_var_arg = true, value_name = "MODULE [ARGS]...")]
    pub module_and_args: Vec<String>,
}

fn parse_duration_arg(s: &str) -> Result<(String, u64), String> {
    let ns = units::duration_to_ns(units::parse_duration(s)?)?;
    Ok((s.to_string(), ns))
}

/// The program's argv: argv[0] is the module's file name without its
/// directories (as `wasmtime run` passes it, not to leak host paths).
pub fn program_argv(module: &str, args: &[String]) -> Vec<String> {
    let argv0 = Path::new(module)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| module.to_string());
    std::iter::once(argv0).chain(args.iter().cloned()).collect()
}

/// `--env` flags to `NAME=VAL` strings; `NAME` alone takes `lookup(NAME)`
/// and is left out if that has no value (as in `wasmtime run`).
pub fn program_env(flags: &[String], lookup: impl Fn(&str) -> Option<String>) -> Result<Vec<String>> {
    let mut env = Vec::new();
    for flag in flags {
        match flag.split_once('=') {
            Some(("", _)) => anyhow::bail!("--env `{flag}` has an empty name: use --env NAME=VALUE"),
            Some(_) => env.push(flag.clone()),
            None if flag.is_empty() => anyhow::bail!("--env needs NAME=VALUE or NAME"),
            None => {
                if let Some(v) = lookup(flag) {
                    env.push(format!("{flag}={v}"));
                }
            }
        }
    }
    Ok(env)
}

/// Runs the program; returns the exit code `kwasm` should exit with.
pub fn run(args: RunArgs) -> Result<i32> {
    let (module, program_args) = args.module_and_args.split_first().expect("clap requires the module");
    let kind = args.engine.unwrap_or_else(default_engine).kind();
    let settings = compile::settings_for(kind, args.fuel.is_some(), compile::host_cpu_features())?;
    let settings = with_bounds(settings, args.bounds_checks)?;

    let wasm = compile::read_wasm(Path::new(module))?;
    let params = match &args.invoke {
        Some(name) => {
            let sig = invoke::export_signature(&wasm, name).with_context(|| format!("cannot --invoke `{name}`"))?;
            invoke::parse_args(name, &sig, program_args)?
        }
        None => Vec::new(),
    };
    let argv = program_argv(module, program_args);
    let env = program_env(&args.env, |k| std::env::var(k).ok())?;

    let cache_dir = compile::cache_dir();
    let compiled = compile::compile_cached(&wasm, &settings, cache_dir.as_deref())
        .with_context(|| format!("cannot compile `{module}` for {}", settings.describe()))?;
    if args.verbose {
        eprintln!("kwasm: engine {}", settings.describe());
        match &compiled.cache {
            CacheStatus::Hit(p) => eprintln!("kwasm: compiled module from the cache: {}", p.display()),
            CacheStatus::Stored(p) => eprintln!("kwasm: compiled and cached: {}", p.display()),
            CacheStatus::Uncached(why) => eprintln!("kwasm: compiled, not cached: {why}"),
        }
    }

    let wasi = Wasi {
        args: StringList::pack("arguments", &argv)?,
        env: StringList::pack("environment variables", &env)?,
        dirs: Preopens::open(&args.dirs)?,
        listeners: Listeners::bind(&args.tcplisten)?,
    };
    let limits = Limits {
        fuel: args.fuel,
        timeout_ns: args.timeout.as_ref().map_or(0, |t| t.1),
        max_memory: args.max_memory.unwrap_or(0),
    };
    let reply = match &args.invoke {
        None => Run::new(&settings, compiled.image, wasi, limits)?.submit(&Device::open()?)?,
        Some(name) => invoke_in_session(&settings, &compiled.image, &wasi, limits, name, &params)?,
    };

    let ctx = RunContext {
        module,
        invoke: args.invoke.as_deref(),
        timeout: args.timeout.as_ref().map(|t| t.0.as_str()),
        fuel: args.fuel,
    };
    let report = outcome::report(&reply, &ctx);
    let mut stdout = std::io::stdout().lock();
    for line in &report.stdout {
        writeln!(stdout, "{line}").context("writing the results to stdout")?;
    }
    stdout.flush().context("writing the results to stdout")?;
    if let Some(text) = &report.stderr {
        eprintln!("{text}");
    }
    Ok(report.exit_code)
}

/// `--invoke`: instantiate in a session, then call the export; the reply
/// of whichever step ended it.
fn invoke_in_session(
    settings: &Settings,
    image: &[u8],
    wasi: &Wasi,
    limits: Limits,
    name: &str,
    params: &[Value],
) -> Result<Reply> {
    let options = SessionOptions {
        settings,
        wasi,
        limits,
        spectest: false,
    };
    let mut session = match Session::open(&options)? {
        Ok(session) => session,
        Err(reply) => return Ok(reply),
    };
    let handle = match session.instantiate(image)? {
        Ok(handle) => handle,
        Err(reply) => return Ok(reply),
    };
    Ok(session.call(handle, name, params)??)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    #[test]
    fn bounds_checks_pick_the_mode() {
        use kwasm_engine::{Bounds, REQUIRED_CPU_FEATURES};
        let native = Settings::native(false, REQUIRED_CPU_FEATURES);
        assert_eq!(native.bounds, Bounds::Guard, "native code defaults to guard regions");
        let args = parse(&["--bounds-checks", "explicit", "m.wasm"]);
        let explicit = with_bounds(native, args.bounds_checks).unwrap();
        assert_eq!(explicit.bounds, Bounds::Explicit);
        assert_ne!(explicit.fingerprint(), native.fingerprint());
        assert_eq!(with_bounds(native, None).unwrap(), native);
        let pulley = Settings::pulley(false);
        assert_eq!(with_bounds(pulley, Some(BoundsArg::Explicit)).unwrap(), pulley);
        let e = with_bounds(pulley, Some(BoundsArg::Guard)).unwrap_err();
        assert!(e.to_string().contains("Pulley always checks bounds explicitly"), "{e}");
    }

    fn parse(argv: &[&str]) -> RunArgs {
        Cli::try_parse_from(std::iter::once("kwasm-run").chain(argv.iter().copied()))
            .unwrap()
            .run
    }

    #[test]
    fn flags_before_the_module_are_ours_after_it_the_programs() {
        let a = parse(&[
            "--env",
            "A=1",
            "--fuel",
            "100",
            "--timeout",
            "500ms",
            "--max-memory",
            "64MiB",
            "--engine",
            "native",
            "app.wasm",
            "--fuel",
            "-x",
            "--",
            "y",
        ]);
        assert_eq!(a.env, ["A=1"]);
        assert_eq!(a.fuel, Some(100));
        assert_eq!(a.timeout, Some(("500ms".to_string(), 500_000_000)));
        assert_eq!(a.max_memory, Some(64 << 20));
        assert_eq!(a.engine, Some(EngineArg::Native));
        assert_eq!(a.module_and_args, ["app.wasm", "--fuel", "-x", "--", "y"]);
        let d = parse(&["hello.wasm"]);
        assert_eq!((d.engine, d.fuel, d.timeout, d.invoke), (None, None, None, None));
        assert!(Cli::try_parse_from(["kwasm-run", "--timeout", "soon", "a.wasm"]).is_err());
        assert!(Cli::try_parse_from(["kwasm-run", "--fuel", "1"]).is_err());
    }

    #[test]
    fn the_default_engine_is_native() {
        assert_eq!(default_engine(), EngineArg::Native);
    }

    #[test]
    fn argv0_is_the_modules_file_name() {
        assert_eq!(
            program_argv("/usr/share/kwasm/examples/hello.wasm", &["a".into(), "b".into()]),
            ["hello.wasm", "a", "b"]
        );
        assert_eq!(program_argv("hello.wasm", &[]), ["hello.wasm"]);
    }

    #[test]
    fn env_flags_set_or_inherit() {
        let lookup = |k: &str| (k == "HOME").then(|| "/root".to_string());
        let env = program_env(
            &["A=1".into(), "B=x=y".into(), "HOME".into(), "UNSET".into(), "C=".into()],
            lookup,
        )
        .unwrap();
        assert_eq!(env, ["A=1", "B=x=y", "HOME=/root", "C="]);
        assert!(program_env(&["=v".into()], lookup).is_err());
        assert!(program_env(&["".into()], lookup).is_err());
    }

    /// Everything before the ioctl works without kwasm.ko: the module is
    /// compiled and cached, then the missing device is reported.
    #[test]
    fn without_the_module_it_compiles_then_says_so() {
        let dir = std::env::temp_dir().join(format!("kwasm-cli-run-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let wat = dir.join("answer.wat");
        std::fs::write(&wat, r#"(module (func (export "answer") (result i32) i32.const 42))"#).unwrap();
        let cache = dir.join("cache");
        // SAFETY (of set_var): this is the only test that reads or writes
        // KWASM_CACHE_DIR.
        unsafe { std::env::set_var("KWASM_CACHE_DIR", &cache) };
        if Path::new(kwasm_abi::DEVICE_PATH).exists() {
            eprintln!("skipping: this machine has {}", kwasm_abi::DEVICE_PATH);
            return;
        }
        for _ in 0..2 {
            let a = parse(&["--invoke", "answer", wat.to_str().unwrap()]);
            let e = run(a).unwrap_err();
            assert!(e.to_string().contains("kwasm.ko is not loaded"), "{e:#}");
        }
        let entries: Vec<_> = std::fs::read_dir(&cache).unwrap().collect();
        assert_eq!(entries.len(), 1, "one cached image expected");
        let a = parse(&["--invoke", "answer", wat.to_str().unwrap(), "extra"]);
        let e = run(a).unwrap_err();
        assert!(e.to_string().contains("takes 0 argument(s)"), "{e:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
