//! `kwasm run`: programs run in the kernel on both engines, and every
//! safety mechanism holds: traps for bad memory accesses and deep
//! recursion, timeouts, fuel, signals, FPU/SIMD state under preemption, and
//! clean refusals of bad images and requests.

use crate::raw::RawDevice;
use crate::{expect, Test};
use kwasm_abi::errno::{EBADMSG, EFAULT, EOPNOTSUPP};
use kwasm_abi::{ioctl, Outcome, RunRequest, UserBuf, ENGINE_NATIVE, ENGINE_PULLEY};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const MODULE: &str = "/lib/modules/kwasm.ko";
const EXAMPLES: &str = "/share/kwasm/examples";
const WAT: &str = "/share/kwasm/tests";

pub const TESTS: &[Test] = &[
    ("run-load-module", load_module),
    ("run-hello-pulley", || hello("pulley")),
    ("run-hello-native", || hello("native")),
    ("run-cowsay-native", cowsay),
    ("run-differential-pulley", || differential("pulley")),
    ("run-differential-native", || differential("native")),
    ("run-oob-pulley", || oob("pulley")),
    ("run-oob-native", || oob("native")),
    ("run-oob-native-explicit", || oob("native-explicit")),
    ("run-guard-regions", guard_regions),
    ("run-memory-limit-native", memory_limit),
    ("run-recursion-pulley", || recursion("pulley")),
    ("run-recursion-native", || recursion("native")),
    ("run-recursion-native-explicit", || recursion("native-explicit")),
    ("run-traps-pulley", || traps("pulley")),
    ("run-traps-native", || traps("native")),
    ("run-traps-native-explicit", || traps("native-explicit")),
    ("run-timeout-pulley", || timeout("pulley")),
    ("run-timeout-native", || timeout("native")),
    ("run-fuel-pulley", || fuel("pulley")),
    ("run-fuel-native", || fuel("native")),
    ("run-no-lockup-native", || no_lockup("native")),
    ("run-no-lockup-pulley", || no_lockup("pulley")),
    ("run-asleep-costs-no-ticks", asleep_costs_no_ticks),
    ("run-sigint-native", || signal("native", libc::SIGINT, "spin")),
    ("run-sigkill-native", || signal("native", libc::SIGKILL, "spin")),
    ("run-sigint-pulley", || signal("pulley", libc::SIGINT, "spin_calls")),
    ("run-float-native", || float("native")),
    ("run-float-pulley", || float("pulley")),
    ("run-float-preempted-native", float_preempted),
    ("run-concurrent", concurrent),
    ("run-unsupported-import", unsupported_import),
    ("run-bad-requests", bad_requests),
    ("run-ps-kill", ps_kill),
    ("run-module-limits", module_limits),
    ("run-rmmod-while-running", rmmod_while_running),
];

/// Runs after every other test: the module unloads once nothing uses it.
pub const LAST: &[Test] = &[("run-unload-module", unload_module)];

/// `kwasm run` options for an engine configuration: `native` (guard
/// regions, the default), `native-explicit` (native code with explicit
/// bounds checks) or `pulley`.
fn engine_args(engine: &str) -> Vec<&str> {
    match engine {
        "native-explicit" => vec!["--engine", "native", "--bounds-checks", "explicit"],
        _ => vec!["--engine", engine],
    }
}

/// `kwasm run ENGINE-OPTIONS ARGS...`
pub fn kwasm(engine: &str, args: &[&str]) -> Result<Output, String> {
    Command::new("kwasm")
        .arg("run")
        .args(engine_args(engine))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run kwasm: {e}"))
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn describe(out: &Output) -> String {
    let (o, e) = text(out);
    format!("{} | stdout: {o} | stderr: {e}", out.status)
}

/// `--invoke NAME` on a WAT test program; Ok(stdout) if it returned.
fn invoke(engine: &str, file: &str, extra: &[&str], name: &str, args: &[&str]) -> Result<Output, String> {
    let path = format!("{WAT}/{file}");
    let mut all: Vec<&str> = extra.to_vec();
    all.extend(["--invoke", name, &path]);
    all.extend(args);
    kwasm(engine, &all)
}

fn returns(engine: &str, file: &str, name: &str, args: &[&str]) -> Result<String, String> {
    let out = invoke(engine, file, &[], name, args)?;
    expect(out.status.success(), || {
        format!("{name} {args:?} failed: {}", describe(&out))
    })?;
    Ok(text(&out).0.trim().to_string())
}

/// The invocation must fail and its stderr mention `needle`.
fn fails_with(out: &Output, needle: &str) -> Result<(), String> {
    let (_, err) = text(out);
    expect(!out.status.success() && err.contains(needle), || {
        format!("want a failure mentioning {needle:?}: {}", describe(out))
    })
}

fn load_module() -> Result<(), String> {
    let out = Command::new("insmod").arg(MODULE).output().map_err(|e| e.to_string())?;
    expect(out.status.success(), || format!("insmod: {}", describe(&out)))
}

fn unload_module() -> Result<(), String> {
    let out = Command::new("rmmod").arg("kwasm").output().map_err(|e| e.to_string())?;
    expect(out.status.success(), || format!("rmmod after runs: {}", describe(&out)))
}

/// Starts `kwasm run --engine E --invoke EXPORT loop.wat` in the background
/// (an endless loop) and gives it time to compile and enter the kernel.
fn spawn_loop(engine: &str, export: &str) -> Result<Child, String> {
    let child = Command::new("kwasm")
        .arg("run")
        .args(engine_args(engine))
        .args(["--invoke", export, &format!("{WAT}/loop.wat")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run kwasm: {e}"))?;
    std::thread::sleep(Duration::from_secs(2));
    Ok(child)
}

/// `kwasm ps` lists a running program with its pid, engine, state and
/// name; `kwasm kill PID` ends it; pids that run no program are refused.
fn ps_kill() -> Result<(), String> {
    let mut child = spawn_loop("pulley", "spin")?;
    let pid = child.id().to_string();
    let listed = Command::new("kwasm").arg("ps").output().map_err(|e| e.to_string());
    let killed = Command::new("kwasm")
        .args(["kill", &pid])
        .output()
        .map_err(|e| e.to_string());
    let sent = Instant::now();
    let mut status = None;
    while sent.elapsed() < Duration::from_secs(20) && status.is_none() {
        status = child.try_wait().map_err(|e| e.to_string())?;
        std::thread::sleep(Duration::from_millis(50));
    }
    if status.is_none() {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (listed, killed) = (listed?, killed?);
    let table = text(&listed).0;
    let row = table
        .lines()
        .find(|l| l.split_whitespace().next() == Some(pid.as_str()));
    expect(
        row.is_some_and(|r| r.contains("pulley") && r.contains("running") && r.contains("loop.wat")),
        || format!("no running row for pid {pid} in:\n{table}"),
    )?;
    expect(killed.status.success(), || {
        format!("kwasm kill {pid}: {}", describe(&killed))
    })?;
    expect(status.is_some(), || "still running 20 s after kwasm kill".into())?;
    let after = Command::new("kwasm").arg("ps").output().map_err(|e| e.to_string())?;
    expect(
        !text(&after)
            .0
            .lines()
            .any(|l| l.split_whitespace().next() == Some(pid.as_str())),
        || format!("pid {pid} still listed after it ended: {}", describe(&after)),
    )?;
    let init = Command::new("kwasm")
        .args(["kill", "1"])
        .output()
        .map_err(|e| e.to_string())?;
    fails_with(&init, "no program is running in kwasm.ko as pid 1")
}

fn set_param(name: &str, value: &str) -> Result<(), String> {
    std::fs::write(format!("/sys/module/kwasm/parameters/{name}"), value).map_err(|e| format!("set {name}: {e}"))
}

/// The module parameters cap what any run may ask for.
fn module_limits() -> Result<(), String> {
    for (name, default) in [
        ("max_instances", "64"),
        ("max_memory_mib", "0"),
        ("max_timeout_ms", "0"),
    ] {
        let v = std::fs::read_to_string(format!("/sys/module/kwasm/parameters/{name}"))
            .map_err(|e| format!("{name}: {e}"))?;
        expect(v.trim() == default, || format!("{name} reads {v:?}, want {default}"))?;
    }
    let hello = format!("{EXAMPLES}/hello.wasm");

    // A run time cap ends an endless loop that asked for no timeout.
    set_param("max_timeout_ms", "1000")?;
    let timed = invoke("native", "loop.wat", &[], "spin", &[]);
    set_param("max_timeout_ms", "0")?;
    fails_with(&timed?, "max_timeout_ms")?;

    // A memory cap below the program's initial memory (17 pages) stops it
    // before it starts.
    set_param("max_memory_mib", "1")?;
    let small = kwasm("native", &[&hello]);
    set_param("max_memory_mib", "0")?;
    let small = small?;
    expect(!small.status.success() && small.status.code() == Some(1), || {
        format!("hello under a 1 MiB cap: {}", describe(&small))
    })?;

    // One instance at most: a second run is refused while the first runs.
    set_param("max_instances", "1")?;
    let mut first = spawn_loop("native", "spin");
    let second = kwasm("native", &[&hello]);
    if let Ok(child) = first.as_mut() {
        let _ = child.kill();
        let _ = child.wait();
    }
    set_param("max_instances", "64")?;
    first?;
    fails_with(&second?, "as many programs as it allows")?;
    // And the limit lifted, runs go again.
    let again = kwasm("native", &[&hello])?;
    expect(again.status.success(), || {
        format!("after the limits: {}", describe(&again))
    })
}

/// `rmmod` while a program runs is refused (the open device holds the
/// module), the program is unaffected, and once it ends the module unloads
/// (the next test).
fn rmmod_while_running() -> Result<(), String> {
    let mut child = spawn_loop("native", "spin")?;
    let rmmod = Command::new("rmmod").arg("kwasm").output().map_err(|e| e.to_string());
    let still_running = child.try_wait().map_err(|e| e.to_string())?.is_none();
    let _ = child.kill();
    let _ = child.wait();
    let rmmod = rmmod?;
    expect(!rmmod.status.success(), || {
        "rmmod succeeded under a running program".into()
    })?;
    let loaded = std::fs::read_to_string("/proc/modules").map_err(|e| e.to_string())?;
    expect(loaded.lines().any(|l| l.starts_with("kwasm ")), || {
        format!("kwasm gone after a refused rmmod: {}", describe(&rmmod))
    })?;
    expect(still_running, || "the program did not survive the refused rmmod".into())
}

/// Arguments, environment, stdout through a pipe, and the exit code.
fn hello(engine: &str) -> Result<(), String> {
    let wasm = format!("{EXAMPLES}/hello.wasm");
    let out = kwasm(engine, &["--env", "NAME=ring0", &wasm, "a b", "--exit", "3"])?;
    let (stdout, _) = text(&out);
    expect(out.status.code() == Some(3), || {
        format!("want exit 3: {}", describe(&out))
    })?;
    for line in [
        "Hello, ring0! This is WebAssembly speaking.",
        "argc = 4",
        "argv[1] = \"a b\"",
        "exiting with 3",
    ] {
        expect(stdout.lines().any(|l| l == line), || {
            format!("no line {line:?} in: {stdout}")
        })?;
    }
    // Standard streams on character devices: /dev/null takes the output
    // (it has both ->write and ->write_iter, which kernel_write refuses).
    let null = || std::fs::OpenOptions::new().read(true).write(true).open("/dev/null");
    let quiet = Command::new("kwasm")
        .args(["run", "--engine", engine, &wasm])
        .stdin(null().map_err(|e| e.to_string())?)
        .stdout(null().map_err(|e| e.to_string())?)
        .output()
        .map_err(|e| format!("cannot run kwasm: {e}"))?;
    expect(quiet.status.success(), || {
        format!("hello > /dev/null: {}", describe(&quiet))
    })
}

fn cowsay() -> Result<(), String> {
    let out = kwasm(
        "native",
        &[&format!("{EXAMPLES}/cowsay.wasm"), "Hello", "from", "ring", "0"],
    )?;
    let (stdout, _) = text(&out);
    expect(
        out.status.success() && stdout.contains("< Hello from ring 0 >") && stdout.contains("(oo)"),
        || format!("no cow: {}", describe(&out)),
    )
}

/// The same program under Wasmtime in user space (the reference) and in
/// the kernel: the same bytes out, the same exit code.
fn differential(engine: &str) -> Result<(), String> {
    let wasm = format!("{EXAMPLES}/stress.wasm");
    let args = ["--mib", "24", "--words", "5000", "--seed", "7", "--exit", "5"];
    let mut all = vec![wasm.as_str()];
    all.extend(args);
    let kernel = kwasm(engine, &all)?;
    let reference = Command::new("kwasm-reference")
        .arg(&wasm)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run kwasm-reference: {e}"))?;
    expect(reference.status.code() == Some(5), || {
        format!("reference run: {}", describe(&reference))
    })?;
    expect(kernel.status.code() == reference.status.code(), || {
        format!(
            "exit codes differ: kernel {:?}, reference {:?}: {}",
            kernel.status.code(),
            reference.status.code(),
            describe(&kernel)
        )
    })?;
    expect(kernel.stdout == reference.stdout, || {
        let (k, r) = (text(&kernel).0, text(&reference).0);
        let at = k.lines().zip(r.lines()).position(|(a, b)| a != b);
        format!(
            "stdout differs (first differing line {at:?}); kernel {} bytes, reference {} bytes",
            k.len(),
            r.len()
        )
    })
}

fn oob(engine: &str) -> Result<(), String> {
    expect(returns(engine, "oob-load.wat", "load", &["65532"])? == "0", || {
        "last in-bounds load".into()
    })?;
    for addr in ["65533", "65536", "-1", "2147483647"] {
        fails_with(
            &invoke(engine, "oob-load.wat", &[], "load", &[addr])?,
            "out of bounds memory access",
        )?;
    }
    fails_with(
        &invoke(engine, "oob-load.wat", &[], "store", &["65534", "7"])?,
        "out of bounds memory access",
    )?;
    for name in ["load_offset_2g", "load_offset_4g"] {
        fails_with(
            &invoke(engine, "oob-load.wat", &[], name, &[])?,
            "out of bounds memory access",
        )?;
    }
    fails_with(
        &invoke(engine, "oob-load.wat", &[], "store_offset_2g", &["1"])?,
        "out of bounds memory access",
    )?;
    // memory.grow up to the module's maximum (2 pages) and no further.
    expect(returns(engine, "oob-load.wat", "grow", &["1"])? == "1", || {
        "grow by 1 page".into()
    })?;
    expect(returns(engine, "oob-load.wat", "grow", &["2"])? == "-1", || {
        "grow past the maximum".into()
    })?;
    // Grown pages are zeroed and usable at once; past them still traps.
    expect(returns(engine, "oob-load.wat", "grow_store_load", &["65536"])? == "0\n42", || {
        "the first byte of a grown page".into()
    })?;
    expect(returns(engine, "oob-load.wat", "grow_store_load", &["131068"])? == "0\n42", || {
        "the last word of a grown page".into()
    })?;
    fails_with(
        &invoke(engine, "oob-load.wat", &[], "grow_store_load", &["131069"])?,
        "out of bounds memory access",
    )
}

const RESERVED: &str = "/sys/class/misc/kwasm/reserved_bytes";

fn reserved() -> Result<u64, String> {
    let text = std::fs::read_to_string(RESERVED).map_err(|e| format!("{RESERVED}: {e}"))?;
    text.trim().parse().map_err(|e| format!("{RESERVED}: {text:?}: {e}"))
}

/// Native code runs without bounds checks by default: its memory is a
/// 4 GiB reservation plus a 32 MiB guard region while it runs. A memory
/// with explicit checks (`--bounds-checks explicit`, Pulley) reserves no
/// guard region, only what it could ever hold: its maximum, at most the
/// machine's RAM (`loop.wat`'s memory has no maximum). All of it is given
/// back when the run ends, and `kwasm run -v` says which mode runs.
fn guard_regions() -> Result<(), String> {
    const GUARDED: u64 = (4 << 30) + (32 << 20);
    let ram = crate::memory::meminfo_kib("MemTotal")? << 10;
    expect(reserved()? == 0, || "address space reserved before any run".into())?;
    for (engine, guarded) in [("native", true), ("native-explicit", false), ("pulley", false)] {
        let mut child = spawn_loop(engine, "spin")?;
        let during = reserved();
        let _ = child.kill();
        let _ = child.wait();
        let during = during?;
        let wanted = if guarded { during == GUARDED } else { during > 0 && during <= ram };
        expect(wanted, || {
            format!("{engine}: {during} bytes of address space reserved while it runs (RAM: {ram} bytes)")
        })?;
        let described = kwasm(engine, &["-v", "--invoke", "size", &format!("{WAT}/oob-load.wat")])?;
        let explicit = text(&described).1.contains("+explicit-bounds");
        expect(described.status.success() && explicit == (engine == "native-explicit"), || {
            format!("{engine}: kwasm run -v: {}", describe(&described))
        })?;
    }
    expect(reserved()? == 0, || "address space still reserved after the runs".into())?;
    let out = Command::new("kwasm")
        .args(["run", "--engine", "pulley", "--bounds-checks", "guard", "--invoke", "size"])
        .arg(format!("{WAT}/oob-load.wat"))
        .output()
        .map_err(|e| e.to_string())?;
    fails_with(&out, "Pulley always checks bounds explicitly")
}

/// `--max-memory` caps growth below the module's own maximum.
fn memory_limit() -> Result<(), String> {
    let out = invoke("native", "oob-load.wat", &["--max-memory", "65536"], "grow", &["1"])?;
    expect(out.status.success() && text(&out).0.trim() == "-1", || {
        format!("grow under --max-memory 64KiB: {}", describe(&out))
    })
}

fn recursion(engine: &str) -> Result<(), String> {
    expect(
        returns(engine, "recursion.wat", "bounded", &["2000"])? == "2000",
        || "bounded recursion".into(),
    )?;
    for name in ["deep", "deep_wide"] {
        let out = invoke(engine, "recursion.wat", &[], name, &["0"])?;
        fails_with(&out, "call stack exhausted")?;
        fails_with(&out, "stack overflow")?;
    }
    Ok(())
}

fn traps(engine: &str) -> Result<(), String> {
    let cases = [
        ("div_zero", "integer divide by zero"),
        ("rem_zero", "integer divide by zero"),
        ("div_overflow", "integer overflow"),
        ("trunc_overflow", "integer overflow"),
        ("trunc_nan", "invalid conversion to integer"),
        ("unreachable", "unreachable"),
        ("call_wrong_type", "indirect call type mismatch"),
        ("call_null", "uninitialized element"),
        ("call_out_of_table", "undefined element"),
    ];
    for (name, needle) in cases {
        fails_with(&invoke(engine, "traps.wat", &[], name, &[])?, needle).map_err(|e| format!("{name}: {e}"))?;
    }
    expect(
        returns(engine, "traps.wat", "call_ok", &[])?.parse::<i32>().is_ok(),
        || "call_ok".into(),
    )
}

fn timeout(engine: &str) -> Result<(), String> {
    let started = Instant::now();
    let out = invoke(engine, "loop.wat", &["--timeout", "1s"], "spin", &[])?;
    fails_with(&out, "timeout")?;
    expect(started.elapsed() >= Duration::from_secs(1), || {
        "ended before its timeout".into()
    })?;
    // A loop that finishes well within its time is not cut short.
    let out = invoke(engine, "loop.wat", &["--timeout", "60s"], "count", &["1000"])?;
    expect(out.status.success() && text(&out).0.trim() == "1000", || {
        format!("count under a timeout: {}", describe(&out))
    })
}

/// An endless loop with no calls, for longer than the (test-lowered)
/// soft-lockup and RCU-stall thresholds: the kernel log must stay clean,
/// whatever the preemption model (the host checks the log).
fn no_lockup(engine: &str) -> Result<(), String> {
    fails_with(
        &invoke(engine, "loop.wat", &["--timeout", "6s"], "spin", &[])?,
        "timeout",
    )
}

/// Local timer interrupts so far, all CPUs (`LOC` in /proc/interrupts).
fn timer_interrupts() -> Result<u64, String> {
    let table = std::fs::read_to_string("/proc/interrupts").map_err(|e| e.to_string())?;
    let row = table
        .lines()
        .find(|l| l.trim_start().starts_with("LOC:"))
        .ok_or("/proc/interrupts has no LOC row")?;
    Ok(row.split_whitespace().skip(1).map_while(|w| w.parse::<u64>().ok()).sum())
}

/// Timer interrupts per second over two seconds.
fn timer_rate() -> Result<u64, String> {
    let before = timer_interrupts()?;
    std::thread::sleep(Duration::from_secs(2));
    Ok((timer_interrupts()? - before) / 2)
}

/// Programs asleep in a host call cost no timer interrupts of their own:
/// the module has one epoch timer for all running instances (it used to be
/// one 1 kHz timer per instance, running even while its program slept).
/// One sleeper, then sixteen: the timer interrupt rate must not grow by
/// anything like the 15 000 a second fifteen more timers would add.
fn asleep_costs_no_ticks() -> Result<(), String> {
    let sleeper = || {
        Command::new("kwasm")
            .args(["run", "--timeout", "30s", "--invoke", "sleep_an_hour", "/share/kwasm/hostile/poll.wat"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot run kwasm: {e}"))
    };
    let mut children = vec![sleeper()?];
    std::thread::sleep(Duration::from_millis(1500));
    let one = timer_rate();
    for _ in 0..15 {
        match sleeper() {
            Ok(c) => children.push(c),
            Err(e) => {
                children.iter_mut().for_each(|c| drop(c.kill()));
                return Err(e);
            }
        }
    }
    std::thread::sleep(Duration::from_millis(1500));
    let sixteen = timer_rate();
    let asleep = Command::new("kwasm").arg("ps").output().map(|o| text(&o).0.lines().count().saturating_sub(1));
    for c in &mut children {
        let _ = c.kill();
        let _ = c.wait();
    }
    let (one, sixteen, asleep) = (one?, sixteen?, asleep.map_err(|e| e.to_string())?);
    println!("run: timer interrupts/s with 1 program asleep: {one}, with {asleep} asleep: {sixteen}");
    expect(asleep == 16, || format!("kwasm ps listed {asleep} programs, not the 16 asleep"))?;
    expect(sixteen < one + 3000, || {
        format!("16 programs asleep raised timer interrupts from {one}/s to {sixteen}/s")
    })
}

fn fuel(engine: &str) -> Result<(), String> {
    fails_with(&invoke(engine, "loop.wat", &["--fuel", "100000"], "spin", &[])?, "fuel")?;
    let out = invoke(engine, "loop.wat", &["--fuel", "100000000"], "count", &["1000"])?;
    expect(out.status.success() && text(&out).0.trim() == "1000", || {
        format!("count with enough fuel: {}", describe(&out))
    })
}

/// An endless loop ends promptly on a signal: the run yields at every
/// epoch tick and checks for pending signals.
fn signal(engine: &str, sig: i32, export: &str) -> Result<(), String> {
    let mut child = spawn_loop(engine, export)?;
    expect(child.try_wait().map_err(|e| e.to_string())?.is_none(), || {
        "the endless loop ended by itself".into()
    })?;
    // SAFETY: sending a signal to our own child.
    unsafe { libc::kill(child.id() as i32, sig) };
    let sent = Instant::now();
    while sent.elapsed() < Duration::from_secs(20) {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            use std::os::unix::process::ExitStatusExt;
            return expect(status.signal() == Some(sig) || status.code() == Some(128 + sig), || {
                format!("ended with {status}, not by signal {sig}")
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    Err(format!("still running 20 s after signal {sig}"))
}

/// Expected results, computed here the same way (IEEE operations are
/// exactly specified, so the bits must match).
fn f64_sqrt_sum(n: u32) -> f64 {
    (0..n).fold(0.0f64, |acc, i| acc + (i as f64).sqrt())
}
fn f32_sqrt_sum(n: u32) -> f32 {
    (0..n).fold(0.0f32, |acc, i| acc + (i as f32).sqrt())
}

/// The result of a float export; f32 results are printed as f32 (shortest
/// form that reads back as the same f32), so they are read back as f32.
fn float_value(engine: &str, name: &str, args: &[&str]) -> Result<f64, String> {
    let s = returns(engine, "float.wat", name, args)?;
    let f32_result = name.starts_with("f32") || name == "simd_loop";
    let v = if f32_result {
        s.parse::<f32>().map(f64::from)
    } else {
        s.parse::<f64>()
    };
    v.map_err(|_| format!("{name} printed {s:?}"))
}

fn float(engine: &str) -> Result<(), String> {
    let checks: [(&str, &[&str], f64); 7] = [
        ("f64_sqrt_sum", &["1000"], f64_sqrt_sum(1000)),
        ("f32_sqrt_sum", &["1000"], f32_sqrt_sum(1000) as f64),
        ("f32x4_dot", &[], 70.0),
        ("f64x2_mul_add", &[], 27.0),
        ("f64_rounding", &[], -1.0),
        ("f32_rounding", &[], 1.0),
        ("i32x4_sum", &["7"], 70.0),
    ];
    for (name, args, want) in checks {
        let got = float_value(engine, name, args)?;
        let want_bits = if name.starts_with("f32") {
            (want as f32) as f64
        } else {
            want
        };
        expect(got == want_bits, || format!("{name}{args:?} = {got}, want {want_bits}"))?;
    }
    Ok(())
}

/// Long SIMD and f64 loops give exact results while user-space processes
/// hammer the FPU on both CPUs and the run is preempted many times; the
/// burners check their own FPU state was never disturbed.
fn float_preempted() -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let burners: Vec<_> = (0..2)
        .map(|_| {
            Command::new(&exe)
                .args(["--fpu-burner", "20"])
                .stdout(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let n: u32 = 4_000_000;
    let mut result = Ok(());
    for round in 0..3 {
        let simd = float_value("native", "simd_loop", &[&n.to_string()]);
        let f64s = float_value("native", "f64_loop", &[&n.to_string()]);
        let ok = simd == Ok(4.0 * n as f64) && f64s == Ok(n as f64 / 2.0);
        if !ok {
            result = Err(format!("round {round}: simd_loop = {simd:?}, f64_loop = {f64s:?}"));
            break;
        }
    }
    for b in burners {
        let out = b.wait_with_output().map_err(|e| e.to_string())?;
        let said = String::from_utf8_lossy(&out.stdout).into_owned();
        if result.is_ok() && !(out.status.success() && said.trim() == "ok") {
            result = Err(format!("a user-space FPU burner saw corruption: {said}"));
        }
    }
    result
}

/// `--fpu-burner SECS`: vector and float math in user space for SECS
/// seconds, checking every result; prints "ok" or what went wrong.
pub fn fpu_burner(secs: u64) -> std::process::ExitCode {
    let until = Instant::now() + Duration::from_secs(secs);
    let mut rounds = 0u64;
    while Instant::now() < until {
        let mut acc = [0.0f64; 4];
        for i in 0..10_000u32 {
            let x = std::hint::black_box(i as f64);
            acc[0] += x * 0.5;
            acc[1] += x.sqrt() * 0.0;
            acc[2] += 1.25;
            acc[3] += (x * 2.0) - x - x;
        }
        let want = [(0..10_000u32).map(|i| i as f64 * 0.5).sum::<f64>(), 0.0, 12_500.0, 0.0];
        if acc != want {
            println!("corrupt after {rounds} rounds: {acc:?} != {want:?}");
            return std::process::ExitCode::FAILURE;
        }
        rounds += 1;
    }
    println!("ok");
    std::process::ExitCode::SUCCESS
}

/// Several instances at once, on both engines: each gets its own result
/// (per-task state, Wasmtime's locks and the epoch ticker are per run).
fn concurrent() -> Result<(), String> {
    let runs = [
        ("native", 3_000_000u32),
        ("pulley", 100_000),
        ("native", 2_000_000),
        ("pulley", 150_000),
    ];
    let children: Vec<_> = runs
        .iter()
        .map(|(engine, n)| {
            Command::new("kwasm")
                .args([
                    "run",
                    "--engine",
                    engine,
                    "--invoke",
                    "f64_loop",
                    &format!("{WAT}/float.wat"),
                    &n.to_string(),
                ])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
        })
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    for ((engine, n), child) in runs.iter().zip(children) {
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        let got = text(&out).0.trim().parse::<f64>().ok();
        expect(out.status.success() && got == Some(*n as f64 / 2.0), || {
            format!("{engine} f64_loop {n}: {}", describe(&out))
        })?;
    }
    Ok(())
}

fn unsupported_import() -> Result<(), String> {
    let out = kwasm("native", &[&format!("{WAT}/unsupported-import.wat")])?;
    fails_with(&out, "unknown import `wasi_snapshot_preview1::fd_teleport`")?;
    let out = kwasm("pulley", &[&format!("{WAT}/foreign-import.wat")])?;
    fails_with(&out, "unknown import module `env`")
}

/// Requests `kwasm` would never send: refused with their errno, or run and
/// reported as a clean load failure, never a crash.
fn bad_requests() -> Result<(), String> {
    let dev = RawDevice::open().map_err(|e| format!("open: errno {e}"))?;
    let garbage: Vec<u8> = (0..4096u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    let args = b"prog\0".to_vec();
    let mut message = vec![0u8; 1024];
    let message_buf = UserBuf {
        ptr: message.as_mut_ptr() as u64,
        len: message.len() as u64,
    };
    let base = |engine| {
        let mut r = RunRequest::new();
        r.engine.engine = engine;
        r.image = UserBuf {
            ptr: garbage.as_ptr() as u64,
            len: garbage.len() as u64,
        };
        r.wasi.args = UserBuf {
            ptr: args.as_ptr() as u64,
            len: args.len() as u64,
        };
        r.wasi.args_count = 1;
        r.reply.message = message_buf;
        r
    };
    let send = |r: &mut RunRequest| dev.ioctl(ioctl::RUN, r as *mut RunRequest as usize);

    // Garbage images, for each engine: a load failure with a message.
    for engine in [ENGINE_PULLEY, ENGINE_NATIVE] {
        let mut r = base(engine);
        let got = send(&mut r);
        expect(got == Ok(()), || format!("garbage image: ioctl {got:?}"))?;
        expect(
            r.reply.outcome == Outcome::LoadFailed as u32 && r.reply.message_len > 0,
            || {
                format!(
                    "garbage image: outcome {}, message {:?}",
                    r.reply.outcome,
                    String::from_utf8_lossy(&message[..r.reply.message_len as usize])
                )
            },
        )?;
    }
    type Case = (fn(&mut RunRequest), i32, &'static str);
    let cases: [Case; 5] = [
        (|r| r.engine.engine = 9, EOPNOTSUPP, "unknown engine"),
        (|r| r.engine.flags = 1 << 9, EOPNOTSUPP, "unknown flag"),
        (|r| r.image.len = 0, EBADMSG, "empty image"),
        (|r| r.image.ptr = 0xdead_0000, EFAULT, "unmapped image"),
        (|r| r.wasi.args_count = 2, EBADMSG, "argument count that does not match"),
    ];
    for (mutate, want, what) in cases {
        let mut r = base(ENGINE_PULLEY);
        mutate(&mut r);
        let got = send(&mut r);
        expect(got == Err(want), || format!("{what}: got {got:?}, want errno {want}"))?;
    }
    Ok(())
}
