//! The guest half of `cargo xtask bench`: the host-call and compute
//! benchmarks (hostcall.rs, compute.rs), then the network benchmark, in
//! which the same servers run four ways side by side in one boot, each
//! driven by the same `kwasm-loadgen`.
//!
//! ```text
//! kwasm-guest-tests --bench [--parts hostcall,compute,net] [--calls N] [--profile true|false] [--reps R] [--duration-ms D] [--warmup-ms W] [--conns 1,16,256] [--engine native|pulley]
//! kwasm-guest-tests --kref-serve echo|http ADDR:PORT
//! ```
//!
//! Servers run on CPU 1, the loadgen on CPU 0. Per repetition and server
//! program (echo, then HTTP), every variant's server starts on its own
//! loopback port and is waited for (its "listening on" line); then for
//! each workload and connection count the variants take turns, in an
//! order that rotates with the repetition, so that drift over the run
//! touches all of them alike; then every server gets SIGTERM (SIGKILL
//! after 5 s) and must end. One line per measurement goes to the console
//! for the driver:
//!
//! ```text
//! KWASM-BENCH <rep> <variant> <workload> <conns> ok <the loadgen's JSON line>
//! KWASM-BENCH <rep> <variant> <workload> <conns> FAIL <why>
//! ```
//!
//! each after a `KWASM-BENCH-WINDOW <variant> <workload> <conns>` line
//! that says the measurement started (the profiler's window).
//!
//! and `KWASM-TEST` markers for what must hold around them: every server
//! ended on SIGTERM, the in-kernel reference stops with connections open
//! (one blocked in send) and releases every socket, and its module unloads.
//!
//! The host-call microbenchmark (`hostcall.rs`) runs first, `--reps`
//! times, each `--calls` calls of each kind; then the compute benchmark
//! (`compute.rs`), `--reps` times. Before them the kernel's view of the
//! CPU's vulnerabilities goes to the console (`KWASM-CPU-VULN <name>
//! <status>`). With `--profile true` the
//! modules' symbols go to the console first (`KWASM-KSYM <addr> <type>
//! <name> [<module>]`, from /proc/kallsyms) for the driver's profiler.
//!
//! `--kref-serve` is the in-kernel reference's process: it listens, then
//! hands the socket to bench/kref's kwasm_bench_ref.ko, which serves in
//! the kernel until a signal ends the process.

mod compute;
mod hostcall;

use crate::serving::{run_limited, Server, STOP_FOR};
use crate::{expect, mark_kernel_log};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

const KWASM_KO: &str = "/lib/modules/kwasm.ko";
/// Where `cargo xtask bench` puts bench/kref's module.
const KREF_KO: &str = "/share/kwasm/bench/kwasm_bench_ref.ko";
const KREF_DEVICE: &str = "/dev/kwasm_bench_ref";
/// `_IOW('b', 1, struct bref_serve)` of bench/kref/kwasm_bench_ref.c.
const KREF_IOC_SERVE: u64 = (1 << 30) | ((std::mem::size_of::<KrefServe>() as u64) << 16) | ((b'b' as u64) << 8) | 1;
/// The listen backlog of every server (crates/kwasm-net asks the same).
const BACKLOG: i32 = 4096;
/// Loopback ports: BASE_PORT + 100 * repetition + 10 * program + variant.
const BASE_PORT: u16 = 20000;

/// bench/kref's `struct bref_serve`.
#[repr(C)]
struct KrefServe {
    listen_fd: i32,
    kind: u32,
}

/// A server program of the benchmark.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Program {
    Echo,
    Http,
}

impl Program {
    const ALL: [Program; 2] = [Program::Echo, Program::Http];

    /// The example's name (`examples/<name>`), and kref's kind word.
    fn name(self) -> &'static str {
        match self {
            Program::Echo => "echo-server",
            Program::Http => "http-server",
        }
    }

    fn kref_kind(self) -> &'static str {
        match self {
            Program::Echo => "echo",
            Program::Http => "http",
        }
    }
}

/// A workload: its name (the loadgen's `workload`), its server program and
/// the loadgen's arguments besides address, connections and times.
struct Workload {
    name: &'static str,
    program: Program,
    args: &'static [&'static str],
}

const WORKLOADS: [Workload; 4] = [
    Workload {
        name: "echo-pingpong",
        program: Program::Echo,
        args: &["echo", "--size", "64", "--mode", "pingpong"],
    },
    Workload {
        name: "echo-stream",
        program: Program::Echo,
        args: &["echo", "--size", "16384", "--mode", "stream"],
    },
    Workload {
        name: "http-keepalive",
        program: Program::Http,
        args: &["http"],
    },
    Workload {
        name: "http-close",
        program: Program::Http,
        args: &["http", "--close"],
    },
];

/// One way to run a server program: its name and its command line.
struct Variant {
    name: &'static str,
    argv: fn(&Options, Program, &str) -> Vec<String>,
}

/// The four variants: the program built natively (musl, user space), in the
/// kernel by kwasm, under Wasmtime in user space, and bench/kref's C in the
/// kernel.
const VARIANTS: [Variant; 4] = [
    Variant {
        name: "native",
        argv: |_, p, addr| vec![format!("/bin/{}", p.name()), "--listen".into(), addr.into()],
    },
    Variant {
        name: "kwasm",
        argv: |opts, p, addr| {
            let args = ["kwasm", "run", "--engine", &opts.engine, &wasm(p), "--listen", addr];
            args.map(String::from).to_vec()
        },
    },
    Variant {
        name: "wasmtime",
        argv: |_, p, addr| {
            ["kwasm-reference", &wasm(p), "--listen", addr]
                .map(String::from)
                .to_vec()
        },
    },
    Variant {
        name: "kref",
        argv: |_, p, addr| {
            ["/bin/kwasm-guest-tests", "--kref-serve", p.kref_kind(), addr]
                .map(String::from)
                .to_vec()
        },
    },
];

/// Where the servers and the loadgen run: each on a CPU of its own (the
/// guest has two), always the same, so that the scheduler's placement
/// does not make the figures of one variant differ from another's.
const SERVER_CPU: &str = "1";
const LOADGEN_CPU: &str = "0";

/// `argv` run on `cpu` (busybox's taskset).
fn pinned(cpu: &str, argv: &[String]) -> Command {
    let mut c = Command::new("taskset");
    c.args(["-c", cpu]).args(argv);
    c
}

fn wasm(p: Program) -> String {
    format!("/share/kwasm/examples/{}.wasm", p.name())
}

struct Options {
    /// The host-call microbenchmark.
    hostcall: bool,
    /// The compute benchmark.
    compute: bool,
    /// The network servers.
    net: bool,
    calls: u32,
    /// Print the modules' symbols for the driver's profiler.
    profile: bool,
    reps: u32,
    duration_ms: u64,
    warmup_ms: u64,
    conns: Vec<u32>,
    engine: String,
}

impl Options {
    fn parse(args: &[String]) -> Result<Options, String> {
        let mut o = Options {
            hostcall: true,
            compute: true,
            net: true,
            calls: 1_000_000,
            profile: false,
            reps: 3,
            duration_ms: 2000,
            warmup_ms: 500,
            conns: vec![1, 16, 256],
            engine: "native".into(),
        };
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let num = |what: &str| {
                value
                    .parse::<u64>()
                    .map_err(|_| format!("{what}: not a number: {value}"))
            };
            match flag.as_str() {
                "--parts" => {
                    let parts: Vec<&str> = value.split(',').collect();
                    if let Some(p) = parts.iter().find(|p| !["hostcall", "compute", "net"].contains(p)) {
                        return Err(format!("--parts: unknown part {p} (hostcall, compute, net)"));
                    }
                    o.hostcall = parts.contains(&"hostcall");
                    o.compute = parts.contains(&"compute");
                    o.net = parts.contains(&"net");
                }
                "--calls" => o.calls = num("--calls")? as u32,
                "--profile" => o.profile = value == "true",
                "--reps" => o.reps = num("--reps")? as u32,
                "--duration-ms" => o.duration_ms = num("--duration-ms")?,
                "--warmup-ms" => o.warmup_ms = num("--warmup-ms")?,
                "--engine" => o.engine = value.clone(),
                "--conns" => {
                    o.conns = value
                        .split(',')
                        .map(|c| c.parse().map_err(|_| format!("--conns: not a number: {c}")))
                        .collect::<Result<_, _>>()?
                }
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        Ok(o)
    }
}

/// A variant's server for `program`, started on `addr` (its CPU pinned).
fn start_server(variant: &Variant, opts: &Options, program: Program, addr: &str) -> Result<Started, String> {
    let name = format!("{} {}", variant.name, program.name());
    let server = Server::start(&name, &mut pinned(SERVER_CPU, &(variant.argv)(opts, program, addr)))?;
    Ok(Started {
        server,
        addr: addr.to_string(),
    })
}

/// A running server and where it listens.
struct Started {
    server: Server,
    addr: String,
}

/// Runs the loadgen once: its JSON line, or why the measurement failed.
fn measure(opts: &Options, w: &Workload, conns: u32, addr: &str) -> Result<String, String> {
    let argv: Vec<String> = std::iter::once("kwasm-loadgen")
        .chain(w.args.iter().copied())
        .map(String::from)
        .chain(["--addr".into(), addr.into(), "--conns".into(), conns.to_string()])
        .chain(["--duration-ms".into(), opts.duration_ms.to_string()])
        .chain(["--warmup-ms".into(), opts.warmup_ms.to_string()])
        .collect();
    let cpu_before = cpu_times()?;
    // Connecting hundreds of sockets under TCG takes seconds; a minute
    // more than the run itself means the loadgen hangs.
    let limit = Duration::from_millis(opts.duration_ms + opts.warmup_ms) + Duration::from_secs(60);
    let done = run_limited(&mut pinned(LOADGEN_CPU, &argv), "the loadgen", limit)?;
    let busy = |cpu: &str| -> Result<f64, String> {
        let after = cpu_times()?;
        let (b0, t0) = cpu_before
            .get(cpu)
            .ok_or_else(|| format!("no cpu{cpu} in /proc/stat"))?;
        let (b1, t1) = after.get(cpu).ok_or_else(|| format!("no cpu{cpu} in /proc/stat"))?;
        Ok((b1 - b0) as f64 / (t1 - t0).max(1) as f64)
    };
    let (server_busy, loadgen_busy) = (busy(SERVER_CPU)?, busy(LOADGEN_CPU)?);
    let json = done.stdout;
    let json = if json.starts_with('{') && json.ends_with('}') { json } else { String::new() };
    if done.status.success() && !json.is_empty() {
        // How busy each vCPU was while the loadgen ran: the JSON's first fields.
        Ok(format!(
            "{{\"server_cpu_busy\":{server_busy:.4},\"loadgen_cpu_busy\":{loadgen_busy:.4},{}",
            &json[1..]
        ))
    } else {
        Err(format!("loadgen {}: {} {}", done.status, done.stderr, json))
    }
}

/// (busy, total) clock ticks of each CPU so far, by CPU number, from
/// /proc/stat; busy is all but idle and iowait.
fn cpu_times() -> Result<std::collections::HashMap<String, (u64, u64)>, String> {
    let stat = std::fs::read_to_string("/proc/stat").map_err(|e| e.to_string())?;
    Ok(stat
        .lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            let cpu = words.next()?.strip_prefix("cpu").filter(|n| !n.is_empty())?;
            let ticks: Vec<u64> = words.filter_map(|w| w.parse().ok()).collect();
            let total: u64 = ticks.iter().sum();
            let idle = ticks.get(3)? + ticks.get(4).unwrap_or(&0);
            Some((cpu.to_string(), (total - idle, total)))
        })
        .collect())
}

/// Prints the text symbols of kwasm.ko and kwasm_bench_ref.ko as
/// /proc/kallsyms has them, and where the kernel's text starts (its KASLR
/// offset), for the driver to name profile samples.
fn print_module_symbols() -> Result<(), String> {
    let syms = std::fs::read_to_string("/proc/kallsyms").map_err(|e| e.to_string())?;
    let mut n = 0;
    let mut out = std::io::stdout().lock();
    let wanted = |l: &&str| l.ends_with("[kwasm]") || l.ends_with("[kwasm_bench_ref]") || l.ends_with(" _text");
    for l in syms.lines().filter(wanted) {
        writeln!(out, "KWASM-KSYM {l}").map_err(|e| e.to_string())?;
        n += 1;
    }
    expect(n > 0, || "no kwasm symbols in /proc/kallsyms".into())?;
    let hidden = syms.lines().any(|l| l.ends_with("[kwasm]") && l.starts_with("0000000000000000"));
    expect(!hidden, || "/proc/kallsyms hides addresses".into())
}

/// Prints what the kernel says of the CPU's speculative-execution
/// vulnerabilities and its mitigations for them (`KWASM-CPU-VULN <name>
/// <status>`, from /sys/devices/system/cpu/vulnerabilities): with a CPU
/// the kernel mitigates, every system call pays for it, and the figures
/// mean something else.
fn print_vulnerabilities() -> Result<(), String> {
    const DIR: &str = "/sys/devices/system/cpu/vulnerabilities";
    let mut names: Vec<String> = std::fs::read_dir(DIR)
        .map_err(|e| format!("{DIR}: {e}"))?
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    names.sort();
    expect(!names.is_empty(), || format!("{DIR} is empty"))?;
    let mut out = std::io::stdout().lock();
    for name in names {
        let status = std::fs::read_to_string(format!("{DIR}/{name}")).map_err(|e| format!("{DIR}/{name}: {e}"))?;
        writeln!(out, "KWASM-CPU-VULN {name} {}", status.trim()).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Loads a module unless it is loaded already.
fn insmod(ko: &str, name: &str) -> Result<(), String> {
    let modules = std::fs::read_to_string("/proc/modules").map_err(|e| e.to_string())?;
    if modules.lines().any(|l| l.split(' ').next() == Some(name)) {
        return Ok(());
    }
    let out = Command::new("insmod").arg(ko).output().map_err(|e| e.to_string())?;
    expect(out.status.success(), || {
        format!("insmod {ko}: {}", String::from_utf8_lossy(&out.stderr).trim())
    })
}

/// TCP sockets in use (not TIME_WAIT), from /proc/net/sockstat.
fn tcp_inuse() -> Result<u64, String> {
    let stat = std::fs::read_to_string("/proc/net/sockstat").map_err(|e| e.to_string())?;
    stat.lines()
        .find_map(|l| l.strip_prefix("TCP: inuse "))
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .ok_or_else(|| "no `TCP: inuse` in /proc/net/sockstat".to_string())
}

/// Waits (up to 10 s: closing connections pass through FIN states) until
/// no more TCP sockets are in use than `before`.
fn sockets_back_to(before: u64) -> Result<(), String> {
    let started = Instant::now();
    loop {
        let now = tcp_inuse()?;
        if now <= before {
            return Ok(());
        }
        if started.elapsed() > Duration::from_secs(10) {
            return Err(format!("{now} TCP sockets in use, {before} before"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Moves this process to `cpu`.
fn pin_self(cpu: &str) -> Result<(), String> {
    let cpu: usize = cpu.parse().map_err(|_| format!("not a CPU number: {cpu}"))?;
    // SAFETY: cpu_set_t is plain bits, all-zero is the empty set; CPU_SET
    // stays inside it (cpu < 1024, its size); sched_setaffinity reads it.
    let r = unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set)
    };
    expect(r == 0, || {
        format!("sched_setaffinity: {}", std::io::Error::last_os_error())
    })
}

fn print_test(name: &str, r: Result<(), String>) -> bool {
    match r {
        Ok(()) => println!("KWASM-TEST {name} PASS"),
        Err(why) => println!("KWASM-TEST {name} FAIL {}", why.replace('\n', " | ")),
    }
    std::io::stdout().flush().is_ok()
}

/// `--bench`: every measurement, then the checks. Exits 1 if a
/// measurement or a check failed.
pub fn main(args: &[String]) -> ExitCode {
    let opts = match Options::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("kwasm-guest-tests --bench: {e}");
            return ExitCode::from(2);
        }
    };
    // This driver's own polling stays off the servers' vCPU.
    let mut ok = print_test("bench-pin-driver", pin_self(LOADGEN_CPU));
    for (ko, name) in [(KWASM_KO, "kwasm"), (KREF_KO, "kwasm_bench_ref")] {
        ok &= print_test(&format!("bench-insmod-{name}"), insmod(ko, name));
    }
    ok &= print_test("bench-cpu-vulnerabilities", print_vulnerabilities());
    if opts.profile {
        ok &= print_test("bench-module-symbols", print_module_symbols());
    }
    if opts.hostcall {
        for rep in 1..=opts.reps {
            ok &= hostcall::measure(rep, opts.calls);
        }
    }
    if opts.compute {
        for rep in 1..=opts.reps {
            ok &= compute::measure(rep);
        }
    }
    if !opts.net {
        return if ok { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }
    let sockets_before = tcp_inuse();
    let mut stop_problems = Vec::new();
    for rep in 0..opts.reps {
        // This repetition's order: the variants rotated by one per repetition.
        let order: Vec<usize> = (0..VARIANTS.len())
            .map(|i| (i + rep as usize) % VARIANTS.len())
            .collect();
        for (pi, program) in Program::ALL.into_iter().enumerate() {
            mark_kernel_log(&format!("kwasm-bench: repetition {} {}", rep + 1, program.name()));
            let servers: Vec<Result<Started, String>> = (0..VARIANTS.len())
                .map(|vi| {
                    let port = BASE_PORT + 100 * rep as u16 + 10 * pi as u16 + vi as u16;
                    start_server(&VARIANTS[vi], &opts, program, &format!("127.0.0.1:{port}"))
                })
                .collect();
            let mut servers: Vec<Result<Started, String>> = servers;
            for w in WORKLOADS.iter().filter(|w| w.program == program) {
                for &conns in &opts.conns {
                    for &vi in &order {
                        // `--profile` counts the samples from here to the
                        // result line as this variant's (xtask/src/bench/profile.rs).
                        println!("KWASM-BENCH-WINDOW {} {} {conns}", VARIANTS[vi].name, w.name);
                        let _ = std::io::stdout().flush();
                        let result = match &mut servers[vi] {
                            Err(why) => Err(why.clone()),
                            Ok(s) => match s.server.ended() {
                                Some(why) => Err(why),
                                None => measure(&opts, w, conns, &s.addr),
                            },
                        };
                        let head = format!("KWASM-BENCH {} {} {} {conns}", rep + 1, VARIANTS[vi].name, w.name);
                        match result {
                            Ok(json) => println!("{head} ok {json}"),
                            Err(why) => {
                                ok = false;
                                println!("{head} FAIL {}", why.replace('\n', " | "));
                            }
                        }
                        let _ = std::io::stdout().flush();
                    }
                }
            }
            for s in servers.into_iter().flatten() {
                if let Err(why) = s.server.stop() {
                    stop_problems.push(format!("repetition {} {}: {why}", rep + 1, program.name()));
                }
            }
        }
    }
    ok &= print_test(
        "bench-servers-end-on-sigterm",
        expect(stop_problems.is_empty(), || stop_problems.join("; ")),
    );
    ok &= print_test("bench-kref-stops-with-connections-open", kref_stop_check());
    ok &= print_test("bench-sockets-released", sockets_before.and_then(sockets_back_to));
    let rmmod = Command::new("rmmod").arg("kwasm_bench_ref").output();
    ok &= print_test(
        "bench-kref-rmmod",
        match rmmod {
            Ok(out) => expect(out.status.success(), || {
                String::from_utf8_lossy(&out.stderr).trim().to_string()
            }),
            Err(e) => Err(e.to_string()),
        },
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// The in-kernel reference, ended with connections open: an echo
/// connection whose client never reads (the server blocks in send) and
/// HTTP connections with half a request (blocked in recv). SIGTERM ends it
/// within STOP_FOR, every client sees its connection end, and the TCP
/// sockets in use go back to what they were.
fn kref_stop_check() -> Result<(), String> {
    let opts = Options::parse(&[])?;
    let kref = VARIANTS.iter().find(|v| v.name == "kref").expect("kref is a variant");
    let before = tcp_inuse()?;
    for (i, program) in Program::ALL.into_iter().enumerate() {
        let addr = format!("127.0.0.1:{}", BASE_PORT - 10 + i as u16);
        let server = start_server(kref, &opts, program, &addr)?.server;
        let mut clients = Vec::new();
        for c in 0..4 {
            let mut s = TcpStream::connect(&addr).map_err(|e| format!("connect {addr}: {e}"))?;
            s.set_read_timeout(Some(STOP_FOR)).map_err(|e| e.to_string())?;
            s.set_write_timeout(Some(Duration::from_millis(500)))
                .map_err(|e| e.to_string())?;
            match program {
                // The server echoes until our receive buffer and its send
                // buffer are full, then blocks in send; the write timeout
                // ends our own writing then.
                Program::Echo if c == 0 => {
                    let block = vec![b'x'; 64 * 1024];
                    while s.write_all(&block).is_ok() {}
                }
                Program::Echo => s.write_all(b"ping").map_err(|e| e.to_string())?,
                Program::Http => s
                    .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n")
                    .map_err(|e| e.to_string())?,
            }
            clients.push(s);
        }
        // Let the workers take their connections and block.
        std::thread::sleep(Duration::from_millis(500));
        let stopped = Instant::now();
        server.stop()?;
        expect(stopped.elapsed() < STOP_FOR, || {
            format!("{} took {:?} to end", program.name(), stopped.elapsed())
        })?;
        for (c, mut s) in clients.into_iter().enumerate() {
            // What is left (echoed bytes), then the end: EOF or a reset.
            let mut sink = [0u8; 64 * 1024];
            loop {
                match s.read(&mut sink) {
                    Ok(0) => break,
                    Ok(_) => continue,
                    Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
                    Err(e) => {
                        return Err(format!(
                            "{} client {c}: the connection did not end: {e}",
                            program.name()
                        ))
                    }
                }
            }
        }
    }
    sockets_back_to(before)
}

/// `--kref-serve echo|http ADDR`: listen, say so, and serve in the kernel
/// (bench/kref) until a signal ends this process.
pub fn kref_serve(kind: Option<&str>, addr: Option<&str>) -> ExitCode {
    let (kind, addr) = match (kind, addr) {
        (Some("echo"), Some(addr)) => (1, addr),
        (Some("http"), Some(addr)) => (2, addr),
        _ => {
            eprintln!("usage: kwasm-guest-tests --kref-serve echo|http ADDR:PORT");
            return ExitCode::from(2);
        }
    };
    let fail = |what: String| {
        eprintln!("kref: {what}");
        ExitCode::FAILURE
    };
    let listener = match TcpListener::bind(addr) {
        Ok(l) => l,
        Err(e) => return fail(format!("listen on {addr}: {e}")),
    };
    // std listens with a backlog of 128; ask for what the other servers ask.
    // SAFETY: listen(2) on the socket `listener` owns.
    if unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) } != 0 {
        return fail(format!("listen: {}", std::io::Error::last_os_error()));
    }
    let device = match std::fs::File::open(KREF_DEVICE) {
        Ok(d) => d,
        Err(e) => return fail(format!("{KREF_DEVICE}: {e}")),
    };
    println!("kref-{}: listening on {addr}", if kind == 1 { "echo" } else { "http" });
    let _ = std::io::stdout().flush();
    let request = KrefServe {
        listen_fd: listener.as_raw_fd(),
        kind,
    };
    // SAFETY: the ioctl reads a `struct bref_serve`, which `request` is
    // (same layout, repr(C)), and keeps nothing of it after it returns.
    unsafe { libc::ioctl(device.as_raw_fd(), KREF_IOC_SERVE as _, &request) };
    // Only an error, or a signal that did not end this process, gets here.
    fail(format!("serving ended: {}", std::io::Error::last_os_error()))
}
