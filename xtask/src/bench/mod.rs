//! `cargo xtask bench`: one boot of one kernel runs three parts (the guest
//! half is `kwasm-guest-tests --bench`, tests/guest/src/bench/):
//! the host-call microbenchmark (hostcall.rs), the compute benchmark
//! (compute.rs), and the network benchmark,
//! which runs the same echo and HTTP servers four ways side by side, each
//! driven by the same `kwasm-loadgen`. This side builds what the guest
//! needs (with bench/kref's in-kernel reference module), boots, reads one
//! console line per measurement, and writes the report: markdown tables,
//! the raw figures as JSON and a chart.
//!
//! `--cpu default,mitigated` boots once per guest CPU: the rig's, which the
//! kernel finds affected by little, and an Intel model it mitigates fully,
//! as real servers are; each boot writes its report in
//! its own folder and the driver writes their comparison above them.
//!
//! Not part of `cargo xtask test`: it takes many minutes and its figures
//! are for people to read, not for CI to hold.

mod compute;
mod hostcall;
mod profile;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::apt::Apt;
use crate::guest::{self, BootOptions, GuestAction};
use crate::kernels::{Kernel, KernelLine};
use crate::paths::Paths;
use crate::verdict::Outcome;
use crate::{process, setup};

/// The variants, in the order the report shows them; the guest's table
/// (tests/guest/src/bench/mod.rs) says how each is run.
const VARIANTS: [&str; 4] = ["native", "kwasm", "wasmtime", "kref"];

/// What each workload is measured by: (workload, title, loadgen field, unit, chart label).
const METRICS: [(&str, &str, &str, &str, &str); 4] = [
    ("echo-pingpong", "echo 64 B ping-pong", "ops_per_s", "msgs/s", "ping"),
    ("echo-stream", "echo 16 KiB stream", "mib_per_s", "MiB/s", "stream"),
    ("http-keepalive", "HTTP keep-alive", "ops_per_s", "req/s", "keep-alive"),
    ("http-close", "HTTP close", "ops_per_s", "req/s", "close"),
];

/// The guest CPU a benchmark boot runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum CpuMode {
    /// The rig's CPU (QEMU's `max`): the kernel finds it affected by
    /// little (it still uses retpolines), so entering and leaving the
    /// kernel costs little more than its own instructions.
    Default,
    /// An Intel model the kernel treats as vulnerable (Skylake, 2015): it
    /// turns on its default mitigations, and every system call pays for
    /// page-table isolation, return thunks and buffer clearing as well, as
    /// on the servers the 2019 prototype measured on.
    Mitigated,
}

impl CpuMode {
    pub fn by_name(name: &str) -> Option<CpuMode> {
        match name {
            "default" => Some(CpuMode::Default),
            "mitigated" => Some(CpuMode::Mitigated),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            CpuMode::Default => "default",
            CpuMode::Mitigated => "mitigated",
        }
    }

    /// QEMU's `-cpu`. Skylake-Client-v4 is Skylake with IBRS and without
    /// TSX; QEMU's TCG drops what it cannot emulate (XSAVEC/XSAVES, and
    /// the IBRS MSR itself, so retbleed stays unmitigated). CMPXCHG16B is
    /// off as in [`guest::CPU`], for the same emulator defect.
    fn qemu_cpu(self) -> &'static str {
        match self {
            CpuMode::Default => guest::CPU,
            CpuMode::Mitigated => "Skylake-Client-v4,cx16=off",
        }
    }

    fn targets(self) -> &'static [Target] {
        match self {
            CpuMode::Default => &TARGETS,
            CpuMode::Mitigated => &MITIGATED_TARGETS,
        }
    }
}

/// The targets (issue #14): kwasm's median over the baseline's median, at
/// least `ratio`, for each connection count of these workloads.
#[derive(Clone, Copy)]
struct Target {
    what: &'static str,
    workloads: &'static [&'static str],
    versus: &'static str,
    ratio: f64,
}

const ALL_WORKLOADS: &[&str] = &["echo-pingpong", "echo-stream", "http-keepalive", "http-close"];

/// With the default guest CPU.
const TARGETS: [Target; 2] = [
    Target {
        what: "kwasm ≥ 0.98× kref (the wasm layer costs at most 2% over C in the kernel)",
        workloads: ALL_WORKLOADS,
        versus: "kref",
        ratio: 0.98,
    },
    Target {
        what: "kwasm ≥ 1.05× native",
        workloads: ALL_WORKLOADS,
        versus: "native",
        ratio: 1.05,
    },
];

/// With the mitigated guest CPU: the wasm layer's cost over C as before,
/// and at least the 2019 prototype's gains over native user space.
const MITIGATED_TARGETS: [Target; 3] = [
    TARGETS[0],
    Target {
        what: "kwasm ≥ 1.10× native (the 2019 prototype's echo figure)",
        workloads: &["echo-pingpong", "echo-stream"],
        versus: "native",
        ratio: 1.10,
    },
    Target {
        what: "kwasm ≥ 1.06× native (the 2019 prototype's HTTP figure)",
        workloads: &["http-keepalive", "http-close"],
        versus: "native",
        ratio: 1.06,
    },
];

/// The vCPU the guest runs every server and `kwasm run` on
/// (tests/guest/src/bench/mod.rs).
const SERVER_CPU: u32 = 1;
/// The guest's console line after which the profile starts: the modules'
/// symbols are printed, the measurements come next.
const PROFILE_FROM: &str = "KWASM-TEST bench-module-symbols";
/// Where bench/kref's module goes in the guest (tests/guest/src/bench/mod.rs).
const KREF_GUEST_PATH: &str = "share/kwasm/bench/kwasm_bench_ref.ko";
/// `--icount`: QEMU counts guest time in instructions, 2^2 = 4 ns each,
/// and skips idle time (`sleep=off`), so what the guest measures does not
/// depend on what else the host runs; both vCPUs then share one host thread.
const ICOUNT: [&str; 2] = ["-icount", "shift=2,sleep=off"];
/// The chart's font, from Debian's fonts-dejavu-core.
const FONT_PACKAGE: &str = "fonts-dejavu-core";
const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

pub struct BenchOptions {
    pub kernel: KernelLine,
    /// The host-call microbenchmark, and how many calls of each kind.
    pub hostcall: bool,
    pub calls: u32,
    /// The compute benchmark.
    pub compute: bool,
    /// The network benchmark.
    pub net: bool,
    /// Sample the servers' vCPU and report where its time goes.
    pub profile: bool,
    pub reps: u32,
    pub duration_ms: u64,
    pub warmup_ms: u64,
    pub conns: Vec<u32>,
    pub engine: String,
    /// Guest time in instructions (QEMU `-icount`), not the host's clock.
    pub icount: bool,
    /// The guest CPUs, a boot each (at least one).
    pub cpus: Vec<CpuMode>,
    /// Where the report goes.
    pub out: PathBuf,
    /// Guest timeout; default: an estimate from the plan.
    pub timeout: Option<Duration>,
    /// How the command was given, for the report.
    pub command_line: String,
}

/// One measurement line of the guest.
#[derive(Debug, PartialEq)]
struct Measurement {
    rep: u32,
    variant: String,
    workload: String,
    conns: u32,
    /// The loadgen's JSON, or why there is none.
    result: Result<Value, String>,
}

/// Reads `KWASM-BENCH <rep> <variant> <workload> <conns> ok <json>` or
/// `... FAIL <why>`. A line that does not parse is an error.
fn parse_line(line: &str) -> Option<Result<Measurement, String>> {
    let rest = line.trim().strip_prefix("KWASM-BENCH ")?;
    let mut words = rest.splitn(6, ' ');
    let mut next = || words.next().unwrap_or_default();
    let (rep, variant, workload, conns, status, tail) = (next(), next(), next(), next(), next(), next());
    let (Ok(rep), Ok(conns)) = (rep.parse(), conns.parse()) else {
        return Some(Err(line.to_string()));
    };
    let result = match status {
        "ok" => match serde_json::from_str::<Value>(tail) {
            Ok(v) if v["workload"] == workload && v["conns"] == conns && v["errors"] == 0 => Ok(v),
            Ok(v) => Err(format!("the loadgen's figures do not match the line: {v}")),
            Err(e) => Err(format!("the loadgen's output is not JSON ({e}): {tail}")),
        },
        "FAIL" => Err(tail.to_string()),
        _ => return Some(Err(line.to_string())),
    };
    Some(Ok(Measurement {
        rep,
        variant: variant.to_string(),
        workload: workload.to_string(),
        conns,
        result,
    }))
}

/// Median, min and max of one workload × conns × variant over the
/// repetitions that succeeded, and how many did not.
#[derive(Debug, Default, Clone, PartialEq)]
struct Stats {
    values: Vec<f64>,
    failed: usize,
}

impl Stats {
    fn median(&self) -> Option<f64> {
        let mut v = self.values.clone();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        match n {
            0 => None,
            _ if n % 2 == 1 => Some(v[n / 2]),
            _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
        }
    }

    fn min(&self) -> Option<f64> {
        self.values.iter().copied().reduce(f64::min)
    }

    fn max(&self) -> Option<f64> {
        self.values.iter().copied().reduce(f64::max)
    }
}

/// (workload, conns, variant) → one figure over the repetitions.
type Table = BTreeMap<(String, u32, String), Stats>;

/// A workload's throughput figure from the loadgen's JSON.
fn throughput(workload: &str, v: &Value) -> Option<f64> {
    v[METRICS.iter().find(|m| m.0 == workload).map_or("ops_per_s", |m| m.2)].as_f64()
}

/// Microseconds of the server's vCPU per operation: how busy it was over
/// how many operations a second were done (the busy share is measured over
/// the loadgen's whole run, warm-up included, which runs the same load).
fn server_us_per_op(_: &str, v: &Value) -> Option<f64> {
    let ops = v["ops_per_s"].as_f64().filter(|&x| x > 0.0)?;
    Some(v["server_cpu_busy"].as_f64()? * 1e6 / ops)
}

fn tabulate(ms: &[Measurement], value: impl Fn(&str, &Value) -> Option<f64>) -> Table {
    let mut t = Table::new();
    for m in ms {
        let s = t.entry((m.workload.clone(), m.conns, m.variant.clone())).or_default();
        match m.result.as_ref().ok().and_then(|v| value(&m.workload, v)) {
            Some(x) => s.values.push(x),
            None => s.failed += 1,
        }
    }
    t
}

/// The median of a table's cell.
fn median(t: &Table, workload: &str, conns: u32, variant: &str) -> Option<f64> {
    t.get(&(workload.to_string(), conns, variant.to_string()))
        .and_then(Stats::median)
}

fn ratio(t: &Table, workload: &str, conns: u32, a: &str, b: &str) -> Option<f64> {
    match (median(t, workload, conns, a), median(t, workload, conns, b)) {
        (Some(x), Some(y)) if y > 0.0 => Some(x / y),
        _ => None,
    }
}

fn num(x: f64) -> String {
    if x >= 100.0 {
        format!("{x:.0}")
    } else if x >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

fn cell(s: Option<&Stats>) -> String {
    let Some(s) = s else { return "—".into() };
    let mut c = match (s.median(), s.min(), s.max()) {
        (Some(m), Some(lo), Some(hi)) => format!("{} ({}–{})", num(m), num(lo), num(hi)),
        _ => "—".into(),
    };
    if s.failed > 0 {
        let _ = write!(c, " **{} failed**", s.failed);
    }
    c
}

fn ratio_cell(r: Option<f64>) -> String {
    r.map_or("—".into(), |r| format!("{r:.2}"))
}

/// The facts a reader needs to place the figures.
struct Facts {
    date: String,
    kernel: String,
    host_cpu: String,
    host_cpus: usize,
    host_kernel: String,
    qemu: String,
    /// The host's 1-minute load average before and after the boot: QEMU
    /// shares the host with whatever else runs there.
    host_load: (String, String),
    kernel_log: Result<(), String>,
    checks: Vec<(String, Outcome)>,
    cpu: CpuMode,
    /// What the guest kernel says of the CPU's vulnerabilities: (name,
    /// status) from /sys/devices/system/cpu/vulnerabilities.
    vulnerabilities: Vec<(String, String)>,
}

/// The host's 1-minute load average now.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_string))
        .unwrap_or_else(|| "unknown".into())
}

/// Reads a `KWASM-CPU-VULN <name> <status>` line; `None` for any other.
fn parse_vulnerability(line: &str) -> Option<(String, String)> {
    let (name, status) = line.trim().strip_prefix("KWASM-CPU-VULN ")?.split_once(' ')?;
    Some((name.to_string(), status.to_string()))
}

fn facts(k: &Kernel, v: &crate::verdict::Verdict, load_before: String, cpu: CpuMode) -> Facts {
    let first_line = |cmd: &mut Command| {
        process::stdout_of(cmd)
            .map(|s| s.lines().next().unwrap_or_default().trim().to_string())
            .unwrap_or_else(|e| format!("unknown ({e:#})"))
    };
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    Facts {
        date: first_line(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"])),
        kernel: k.release.clone(),
        host_cpu: cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name"))
            .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
            .unwrap_or_else(|| "unknown".into()),
        host_cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        host_kernel: first_line(Command::new("uname").arg("-r")),
        qemu: first_line(Command::new("qemu-system-x86_64").arg("--version")),
        host_load: (load_before, load_average()),
        kernel_log: v.kernel_log_clean(),
        checks: v.tests.iter().map(|t| (t.name.clone(), t.outcome.clone())).collect(),
        cpu,
        vulnerabilities: v.guest_output.iter().filter_map(|l| parse_vulnerability(l)).collect(),
    }
}

fn markdown(
    opts: &BenchOptions,
    f: &Facts,
    ms: &[Measurement],
    hs: &[hostcall::HostCall],
    cs: &[compute::Run],
    bad_lines: &[String],
) -> String {
    let mut md = String::from("# kwasm benchmark\n\n");
    md.push_str(
        "**All absolute figures below are QEMU TCG figures**: the guest's CPU is emulated in \
         software, so they say nothing about real hardware (on the host's clock a system call \
         costs some 9 µs under TCG; with `--icount` every instruction counts 4 ns, whatever it \
         does). Only the comparison between the variants, all measured in the same guest boot with \
         the same client and settings, means something.\n\n",
    );
    let _ = writeln!(md, "* Command: `{}`", opts.command_line);
    let _ = writeln!(md, "* Date: {}", f.date);
    let _ = writeln!(
        md,
        "* Guest: Debian kernel {} (its default command line: voluntary preemption), QEMU TCG \
         `-cpu {}` (CPU mode `{}`), {} vCPUs, {} of memory{}",
        f.kernel,
        f.cpu.qemu_cpu(),
        f.cpu.name(),
        guest::VCPUS,
        guest::MEMORY,
        if opts.icount {
            format!(
                ", `{}`: guest time is the count of instructions executed (4 ns each), by both \
                 vCPUs together as they then take turns on one host thread, and idle time is \
                 skipped; so the figures do not depend on the host's load, and a throughput counts \
                 the instructions of server and client together per operation",
                ICOUNT.join(" ")
            )
        } else {
            "; guest time is the host's (`--icount` would count instructions instead)".to_string()
        }
    );
    let _ = writeln!(
        md,
        "* Host: {}, {} CPUs, Linux {}; {}; load average {} before the boot, {} after \
         (other work on the host slows the guest down, for all variants alike)",
        f.host_cpu, f.host_cpus, f.host_kernel, f.qemu, f.host_load.0, f.host_load.1
    );
    if opts.net {
        let _ = writeln!(
            md,
            "* {} repetition(s); each network measurement: {} ms measured after {} ms of warm-up, \
             `kwasm-loadgen` with one thread; kwasm's engine: {}",
            opts.reps, opts.duration_ms, opts.warmup_ms, opts.engine
        );
    }
    if !f.vulnerabilities.is_empty() {
        let shown: Vec<String> = f
            .vulnerabilities
            .iter()
            .filter(|(_, s)| s != "Not affected")
            .map(|(n, s)| format!("{n}: {s}"))
            .collect();
        let _ = writeln!(
            md,
            "* CPU vulnerabilities as the guest kernel reports them (`Not affected` left out): {}",
            if shown.is_empty() { "none".to_string() } else { shown.join("; ") }
        );
    }
    let _ = writeln!(
        md,
        "* Guest kernel log: {}",
        match &f.kernel_log {
            Ok(()) => "clean (no Oops, BUG, WARNING, lockup or stall; taint only O/E)".to_string(),
            Err(why) => format!("**NOT CLEAN**: {why}"),
        }
    );
    for (name, outcome) in &f.checks {
        let _ = writeln!(
            md,
            "* Check `{name}`: {}",
            match outcome {
                Outcome::Pass => "passed".to_string(),
                Outcome::Fail(why) => format!("**FAILED**: {why}"),
            }
        );
    }
    if !hs.is_empty() {
        md.push_str(&hostcall::markdown(hs, opts.icount));
    }
    if !cs.is_empty() {
        md.push_str(&compute::markdown(cs));
    }
    if opts.net {
        md.push_str(&network_markdown(opts, f.cpu, ms));
    }
    let failed: Vec<&Measurement> = ms.iter().filter(|m| m.result.is_err()).collect();
    let failed_calls: Vec<&hostcall::HostCall> = hs.iter().filter(|h| h.result.is_err()).collect();
    let failed_compute: Vec<&compute::Run> = cs.iter().filter(|c| c.result.is_err()).collect();
    let disagreements = compute::disagreements(cs);
    if !failed.is_empty()
        || !failed_calls.is_empty()
        || !failed_compute.is_empty()
        || !disagreements.is_empty()
        || !bad_lines.is_empty()
    {
        md.push_str("\n## Failed measurements\n\n");
        for m in failed {
            let why = m.result.as_ref().err().map_or("", String::as_str);
            let _ = writeln!(
                md,
                "* repetition {} {} {} ×{}: {}",
                m.rep, m.variant, m.workload, m.conns, why
            );
        }
        for h in failed_calls {
            let why = h.result.as_ref().err().map_or("", String::as_str);
            let _ = writeln!(md, "* repetition {} host calls {} {}: {why}", h.rep, h.engine, h.kind);
        }
        for c in failed_compute {
            let why = c.result.as_ref().err().map_or("", String::as_str);
            let _ = writeln!(md, "* repetition {} compute {} {}: {why}", c.rep, c.variant, c.program);
        }
        for d in disagreements {
            let _ = writeln!(md, "* compute checksums differ: {d}");
        }
        for l in bad_lines {
            let _ = writeln!(md, "* unreadable line: `{l}`");
        }
    }
    md.push_str(
        "\n## How it is made\n\n\
         `cargo xtask bench` (xtask/src/bench/) builds kwasm.ko, the static guest programs, the \
         examples (wasm and native) and bench/kref's module for the kernel, boots it once and runs \
         `kwasm-guest-tests --bench` (tests/guest/src/bench/): first the host-call microbenchmark, \
         then the compute benchmark, then the network benchmark, which starts the servers, runs `kwasm-loadgen` (bench/loadgen) \
         against each and prints one line per measurement; the driver checks the guest's kernel log \
         as the tests do, and writes this file, results.json and chart.png (bench/chart). Options: \
         `--kernel`, `--parts hostcall,compute,net`, `--calls`, `--reps`, `--duration-ms`, `--warmup-ms`, \
         `--conns`, `--engine native|pulley`, `--cpu default,mitigated` (a boot per guest CPU, \
         and a report comparing them above each mode's own), `--icount`, `--quick`, `--out`.\n",
    );
    md
}

/// The network benchmark's sections.
fn network_markdown(opts: &BenchOptions, cpu: CpuMode, ms: &[Measurement]) -> String {
    let t = tabulate(ms, throughput);
    let conns = conn_counts(ms);
    let mut md = String::new();
    md.push_str(
        "\n## Variants\n\n\
         | variant | what runs |\n|---|---|\n\
         | native | `examples/echo-server`, `examples/http-server` built for x86_64-unknown-linux-musl (static), in user space |\n\
         | kwasm | the same source built for wasm32-wasip1, `kwasm run` in the kernel (kwasm_net) |\n\
         | wasmtime | the same `.wasm` under Wasmtime in user space (`kwasm-reference`, kwasm_net over libc and epoll) |\n\
         | kref | `bench/kref`: the same servers in C in the kernel (`kwasm_bench_ref.ko`: one thread, an event loop over the sockets' wait queues, kernel socket calls; no wasm, no system calls) |\n\
         \n\
         Every server runs on vCPU 1 and the client on vCPU 0 (`taskset`). \
         Per repetition every variant's server is started on its own loopback port and waited for; \
         then for each workload and connection count the variants take turns, in an order rotated \
         by one per repetition, so that drift affects all of them alike; then every server gets \
         SIGTERM and must end.\n\n\
         Workloads: echo ping-pong (64-byte messages, one in flight per connection; msgs/s), \
         echo stream (16 KiB messages, up to 4 in flight per connection; MiB/s echoed), \
         HTTP keep-alive (`GET /` answered `Hello, world!`; req/s) and HTTP close (`Connection: close`, \
         a new connection per request; req/s).\n",
    );
    let _ = writeln!(
        md,
        "\n## Throughput: median (min–max) over {} repetition(s)\n",
        opts.reps
    );
    let _ = writeln!(md, "| workload | conns | {} |", VARIANTS.join(" | "));
    let _ = writeln!(md, "|---|---:|{}", "---:|".repeat(VARIANTS.len()));
    for (w, title, _, unit, _) in METRICS {
        for &c in &conns {
            let cells: Vec<String> = VARIANTS
                .iter()
                .map(|v| cell(t.get(&(w.to_string(), c, v.to_string()))))
                .collect();
            let _ = writeln!(md, "| {title} ({unit}) | {c} | {} |", cells.join(" | "));
        }
    }
    let cost = tabulate(ms, server_us_per_op);
    md.push_str(
        "\n## Ratios of the medians\n\nThroughput ratios; the last column is server vCPU time per \
         operation, native's over kwasm's (above 1: kwasm's server does an operation with less CPU; \
         see *Where the time goes*).\n\n\
         | workload | conns | kwasm/native | kwasm/wasmtime | kwasm/kref | wasmtime/native | kref/native | CPU per op, native/kwasm |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for (w, title, _, _, _) in METRICS {
        for &c in &conns {
            let r = |a: &str, b: &str| ratio_cell(ratio(&t, w, c, a, b));
            let _ = writeln!(
                md,
                "| {title} | {c} | {} | {} | {} | {} | {} | {} |",
                r("kwasm", "native"),
                r("kwasm", "wasmtime"),
                r("kwasm", "kref"),
                r("wasmtime", "native"),
                r("kref", "native"),
                ratio_cell(ratio(&cost, w, c, "native", "kwasm"))
            );
        }
    }
    let _ = write!(
        md,
        "\n## Targets (CPU mode `{}`)\n\n| target | workload | conns | ratio | |\n|---|---|---:|---:|---|\n",
        cpu.name()
    );
    let rows = target_rows(cpu, ms);
    for r in &rows {
        let _ = writeln!(md, "| {} | {} | {} | {} | {} |", r.what, r.workload, r.conns, ratio_cell(r.ratio), r.verdict());
    }
    let met = rows.iter().filter(|r| r.met()).count();
    let _ = writeln!(md, "\n{met} of {} targets met.", rows.len());
    let field = |name: &'static str, scale: f64| move |_: &str, v: &Value| v[name].as_f64().map(|x| x * scale);
    let cpu_tables = [
        tabulate(ms, field("server_cpu_busy", 100.0)),
        tabulate(ms, field("loadgen_cpu_busy", 100.0)),
        tabulate(ms, server_us_per_op),
    ];
    let _ = write!(
        md,
        "\n## Where the time goes: vCPU busy, server / client (%), and server vCPU µs per operation\n\n\
         Medians over the repetitions; busy shares are taken from /proc/stat over the loadgen's run. \
         Where the client's vCPU is near 100% and the server's is not, the client is the bottleneck \
         and the throughput ratios understate how the servers differ: compare the µs per operation then \
         (for kwasm and kref they include the kernel's own socket work, as they do for every variant).{}\n\n",
        if opts.icount {
            " With `--icount` a vCPU counts as busy while it has work even when the other one is \
             executing, so the shares run high and the µs per operation include some of the \
             client's instructions."
        } else {
            ""
        }
    );
    md.push_str(&median_table(&conns, &cpu_tables, |[a, b, c]| {
        format!("{:.0} / {:.0} · {}", a, b, num(c))
    }));
    let latency = [
        tabulate(ms, field("lat_us_p50", 1.0)),
        tabulate(ms, field("lat_us_p99", 1.0)),
    ];
    md.push_str("\n## Latency: p50 / p99 in µs (medians over the repetitions)\n\n");
    md.push_str(&median_table(&conns, &latency, |[a, b]| {
        format!("{} / {}", num(a), num(b))
    }));
    md.push_str(
        "\n## Chart\n\nTop: median throughput of each variant over native's; bottom: native's server vCPU \
         time per operation over each variant's (both: native = 1, the dashed line; higher is better).\n\n\
         ![ratio to native](chart.png)\n\n\
         Files: `results.json` holds every measurement as the loadgen reported it.\n",
    );
    md
}

/// The connection counts measured, in order.
fn conn_counts<'a>(ms: impl IntoIterator<Item = &'a Measurement>) -> Vec<u32> {
    let mut conns: Vec<u32> = ms.into_iter().map(|m| m.conns).collect();
    conns.sort_unstable();
    conns.dedup();
    conns
}

/// One target at one workload and connection count.
struct TargetRow {
    what: &'static str,
    workload: &'static str,
    conns: u32,
    ratio: Option<f64>,
    wanted: f64,
}

impl TargetRow {
    fn met(&self) -> bool {
        self.ratio.is_some_and(|r| r >= self.wanted)
    }

    fn verdict(&self) -> &'static str {
        match self.ratio {
            Some(_) if self.met() => "met",
            Some(_) => "**missed**",
            None => "**no data**",
        }
    }
}

/// The targets of CPU mode `cpu` against the network measurements.
fn target_rows(cpu: CpuMode, ms: &[Measurement]) -> Vec<TargetRow> {
    let t = tabulate(ms, throughput);
    let conns = conn_counts(ms);
    let mut rows = Vec::new();
    for target in cpu.targets() {
        for &workload in target.workloads {
            for &c in &conns {
                rows.push(TargetRow {
                    what: target.what,
                    workload,
                    conns: c,
                    ratio: ratio(&t, workload, c, "kwasm", target.versus),
                    wanted: target.ratio,
                });
            }
        }
    }
    rows
}

/// The report of several CPU modes: what differs between them, side by
/// side; each mode's whole report is in its own folder.
fn modes_markdown(opts: &BenchOptions, runs: &[ModeRun]) -> String {
    let modes: Vec<&str> = runs.iter().map(|r| r.facts.cpu.name()).collect();
    let head = |first: &str| {
        format!(
            "| {first} | {} |\n|---|{}\n",
            modes.join(" | "),
            "---:|".repeat(modes.len())
        )
    };
    let mut md = String::from("# kwasm benchmark: guest CPU modes side by side\n\n");
    let _ = writeln!(
        md,
        "The same measurements in one boot per guest CPU mode; each mode's whole report (QEMU TCG \
         figures: only the comparisons mean something) is in its folder: {}.\n",
        modes.iter().map(|m| format!("[{m}]({m}/README.md)")).collect::<Vec<_>>().join(", ")
    );
    let _ = writeln!(md, "* Command: `{}`", opts.command_line);
    for r in runs {
        let f = &r.facts;
        let _ = writeln!(
            md,
            "* `{}`: `-cpu {}`, Debian kernel {}, {}; guest kernel log {}",
            f.cpu.name(),
            f.cpu.qemu_cpu(),
            f.kernel,
            f.date,
            if f.kernel_log.is_ok() { "clean" } else { "**NOT CLEAN**" }
        );
    }
    md.push_str(
        "\n## What the guest kernel says of each CPU\n\n\
         /sys/devices/system/cpu/vulnerabilities: what the kernel mitigates (and so what every \
         system call and interrupt pays for) on each CPU.\n\n",
    );
    md.push_str(&head("vulnerability"));
    let mut names: Vec<&str> = runs
        .iter()
        .flat_map(|r| r.facts.vulnerabilities.iter().map(|(n, _)| n.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    for name in names {
        let cells: Vec<&str> = runs
            .iter()
            .map(|r| {
                r.facts
                    .vulnerabilities
                    .iter()
                    .find(|(n, _)| n == name)
                    .map_or("—", |(_, s)| s.as_str())
            })
            .collect();
        let _ = writeln!(md, "| {name} | {} |", cells.join(" | "));
    }
    if runs.iter().any(|r| !r.hs.is_empty()) {
        let _ = write!(
            md,
            "\n## Host calls: ns per call, medians{}\n\n",
            if opts.icount { " (with `--icount`, 4 ns per instruction)" } else { "" }
        );
        md.push_str(&head("engine: call"));
        let per_mode: Vec<_> = runs.iter().map(|r| hostcall::medians(&r.hs)).collect();
        for (i, (engine, what, _)) in per_mode[0].iter().enumerate() {
            let cells: Vec<String> = per_mode.iter().map(|m| m[i].2.map_or("—".into(), num)).collect();
            let _ = writeln!(md, "| {engine}: {what} | {} |", cells.join(" | "));
        }
    }
    if runs.iter().any(|r| !r.cs.is_empty()) {
        md.push_str("\n## Compute: kwasm's speed over the others'\n\n");
        let per_mode: Vec<_> = runs.iter().map(|r| compute::speeds(&r.cs)).collect();
        let _ = write!(md, "| program | ratio | {} |\n|---|---|{}\n", modes.join(" | "), "---:|".repeat(modes.len()));
        for (program, ratios) in &per_mode[0] {
            for (k, (label, _)) in ratios.iter().enumerate() {
                let cells: Vec<String> = per_mode
                    .iter()
                    .map(|m| {
                        m.iter()
                            .find(|(p, _)| p == program)
                            .map_or("—".into(), |(_, r)| ratio_cell(r[k].1))
                    })
                    .collect();
                let _ = writeln!(md, "| {program} | {label} | {} |", cells.join(" | "));
            }
        }
    }
    if runs.iter().any(|r| !r.ms.is_empty()) {
        md.push_str("\n## Network: ratios of the median throughputs\n\n");
        let _ = write!(
            md,
            "| workload | conns | ratio | {} |\n|---|---:|---|{}\n",
            modes.join(" | "),
            "---:|".repeat(modes.len())
        );
        let tables: Vec<Table> = runs.iter().map(|r| tabulate(&r.ms, throughput)).collect();
        let conns = conn_counts(runs.iter().flat_map(|r| &r.ms));
        for (w, title, _, _, _) in METRICS {
            for &c in &conns {
                for (a, b) in [("kwasm", "native"), ("kwasm", "kref"), ("kref", "native")] {
                    let cells: Vec<String> = tables.iter().map(|t| ratio_cell(ratio(t, w, c, a, b))).collect();
                    let _ = writeln!(md, "| {title} | {c} | {a}/{b} | {} |", cells.join(" | "));
                }
            }
        }
        md.push_str("\n## Targets\n\n| target | CPU mode | workload | conns | ratio | |\n|---|---|---|---:|---:|---|\n");
        let (mut met, mut all) = (0, 0);
        for r in runs {
            for row in target_rows(r.facts.cpu, &r.ms) {
                met += usize::from(row.met());
                all += 1;
                let _ = writeln!(
                    md,
                    "| {} | {} | {} | {} | {} | {} |",
                    row.what,
                    r.facts.cpu.name(),
                    row.workload,
                    row.conns,
                    ratio_cell(row.ratio),
                    row.verdict()
                );
            }
        }
        let _ = writeln!(md, "\n{met} of {all} targets met.");
    }
    md
}

/// A table of workload × conns rows and a column per variant, each cell
/// made by `show` from the medians of N tables (or `—` if one is missing).
fn median_table<const N: usize>(conns: &[u32], tables: &[Table; N], show: impl Fn([f64; N]) -> String) -> String {
    let mut md = format!(
        "| workload | conns | {} |\n|---|---:|{}\n",
        VARIANTS.join(" | "),
        "---:|".repeat(VARIANTS.len())
    );
    for (w, title, _, _, _) in METRICS {
        for &c in conns {
            let cells: Vec<String> = VARIANTS
                .iter()
                .map(|v| {
                    let medians: Option<Vec<f64>> = tables.iter().map(|t| median(t, w, c, v)).collect();
                    medians.map_or("—".into(), |m| show(m.try_into().expect("N medians")))
                })
                .collect();
            let _ = writeln!(md, "| {title} | {c} | {} |", cells.join(" | "));
        }
    }
    md
}

fn results_json(
    opts: &BenchOptions,
    f: &Facts,
    ms: &[Measurement],
    hs: &[hostcall::HostCall],
    cs: &[compute::Run],
) -> Value {
    let measurements: Vec<Value> = ms
        .iter()
        .map(|m| {
            json!({
                "rep": m.rep,
                "variant": m.variant,
                "workload": m.workload,
                "conns": m.conns,
                "ok": m.result.is_ok(),
                "loadgen": m.result.as_ref().ok(),
                "error": m.result.as_ref().err(),
            })
        })
        .collect();
    json!({
        "command": opts.command_line,
        "date": f.date,
        "kernel": f.kernel,
        "guest": {"accel": "tcg", "cpu": f.cpu.qemu_cpu(), "cpu_mode": f.cpu.name(), "vcpus": guest::VCPUS, "memory": guest::MEMORY},
        "cpu_vulnerabilities": f.vulnerabilities.iter().map(|(n, s)| (n.clone(), json!(s))).collect::<serde_json::Map<_, _>>(),
        "host": {
            "cpu": f.host_cpu,
            "cpus": f.host_cpus,
            "kernel": f.host_kernel,
            "qemu": f.qemu,
            "load_average_before": f.host_load.0,
            "load_average_after": f.host_load.1,
        },
        "engine": opts.engine,
        "qemu_extra": if opts.icount { ICOUNT.to_vec() } else { vec![] },
        "reps": opts.reps,
        "duration_ms": opts.duration_ms,
        "warmup_ms": opts.warmup_ms,
        "kernel_log_clean": f.kernel_log.is_ok(),
        "kernel_log_problems": f.kernel_log.as_ref().err(),
        "checks": f.checks.iter().map(|(name, o)| json!({
            "name": name,
            "pass": *o == Outcome::Pass,
            "why": match o { Outcome::Fail(why) => Some(why), Outcome::Pass => None },
        })).collect::<Vec<_>>(),
        "measurements": measurements,
        "host_calls": hostcall::json(hs),
        "compute": compute::json(cs),
    })
}

/// The chart's tables: a group per workload × conns, kwasm, wasmtime and
/// kref against native: throughput, and the server vCPU's time per
/// operation (native's over theirs, so that higher is better in both).
fn chart_tables(ms: &[Measurement]) -> String {
    let conns = conn_counts(ms);
    let series = &VARIANTS[1..];
    let panels = [
        ("throughput / native's", tabulate(ms, throughput), false),
        (
            "server vCPU µs per op: native's / theirs",
            tabulate(ms, server_us_per_op),
            true,
        ),
    ];
    let mut out = String::new();
    for (title, t, inverse) in panels {
        let _ = writeln!(out, "{title}\t{}", series.join("\t"));
        for (w, _, _, _, label) in METRICS {
            for &c in &conns {
                let cells: Vec<String> = series
                    .iter()
                    .map(|v| {
                        let r = if inverse {
                            ratio(&t, w, c, "native", v)
                        } else {
                            ratio(&t, w, c, v, "native")
                        };
                        r.map_or("-".into(), |r| format!("{r:.4}"))
                    })
                    .collect();
                let _ = writeln!(out, "{label} ×{c}\t{}", cells.join("\t"));
            }
        }
        out.push('\n');
    }
    out
}

/// Builds bench/chart (its own workspace) and draws `tables` into `png`.
fn draw_chart(paths: &Paths, tables: &str, png: &Path, title: &str) -> Result<()> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let target = paths.target.join("bench-chart");
    process::run(
        Command::new(cargo)
            .args(["build", "--release", "--quiet", "--manifest-path"])
            .arg(paths.repo.join("bench/chart/Cargo.toml"))
            .arg("--target-dir")
            .arg(&target),
    )
    .context("building bench/chart failed (compiler output above)")?;
    let mut child = Command::new(target.join("release/kwasm-bench-chart"))
        .arg(FONT)
        .arg(png)
        .arg(title)
        .stdin(Stdio::piped())
        .spawn()
        .context("running kwasm-bench-chart")?;
    {
        use std::io::Write;
        child.stdin.take().unwrap().write_all(tables.as_bytes())?;
    }
    let status = child.wait()?;
    if !status.success() {
        bail!("kwasm-bench-chart failed ({status})");
    }
    Ok(())
}

/// Builds bench/kref's module for `k` from a copy of its sources under
/// `<target>/kref/<release>/` (Kbuild writes its products next to them).
fn build_kref(paths: &Paths, k: &Kernel) -> Result<PathBuf> {
    let dir = paths.target.join("kref").join(&k.release);
    std::fs::create_dir_all(&dir)?;
    for file in ["Kbuild", "kwasm_bench_ref.c"] {
        let from = paths.repo.join("bench/kref").join(file);
        std::fs::copy(&from, dir.join(file)).with_context(|| format!("copying {}", from.display()))?;
    }
    eprintln!("xtask: building kwasm_bench_ref.ko for {}", k.release);
    let mut make = Command::new("make");
    make.arg("-C")
        .arg(k.kdir())
        .arg(format!("M={}", dir.display()))
        .arg("modules");
    let out = process::output(&mut make)?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("warning") || l.contains("WARNING") || l.contains("objtool"))
        .collect();
    if !out.status.success() || !warnings.is_empty() {
        bail!(
            "building kwasm_bench_ref.ko (`{}`) failed or warned:\n{log}",
            process::display(&make)
        );
    }
    Ok(dir.join("kwasm_bench_ref.ko"))
}

/// A guest timeout that the plan fits in: each measurement, each server
/// start (the wasm variants compile first), and the boot and checks.
/// (With `--icount` the guest's seconds take some three of the host's.)
fn estimate(opts: &BenchOptions) -> Duration {
    let per = opts.duration_ms + opts.warmup_ms + 4000;
    let n = u64::from(opts.reps) * METRICS.len() as u64 * opts.conns.len() as u64 * VARIANTS.len() as u64;
    let net = if opts.net {
        Duration::from_millis(n * per) + Duration::from_secs(u64::from(opts.reps) * 2 * 240)
    } else {
        Duration::ZERO
    };
    // Host calls: six `kwasm run`s a repetition, each compiling first, and
    // (at some 10 µs a call under TCG) a second per 100 000 calls.
    let calls = if opts.hostcall {
        Duration::from_secs(u64::from(opts.reps) * (6 * 20 + 6 * u64::from(opts.calls) / 100_000))
    } else {
        Duration::ZERO
    };
    // Compute: twenty runs a repetition, the wasm ones compiling first.
    let compute = if opts.compute {
        Duration::from_secs(u64::from(opts.reps) * 20 * 60)
    } else {
        Duration::ZERO
    };
    let t = net + calls + compute + Duration::from_secs(900);
    if opts.icount {
        t * 3
    } else {
        t
    }
}

pub fn bench(paths: &Paths, opts: &BenchOptions) -> Result<i32> {
    let k = setup::setup(paths, &[opts.kernel])?.remove(0);
    Apt::default().ensure_installed(&[FONT_PACKAGE])?;
    let kref = build_kref(paths, &k)?;
    let mut runs = Vec::new();
    for &cpu in &opts.cpus {
        // One mode writes where --out says; several, a folder each and
        // their comparison above them.
        let out = if opts.cpus.len() == 1 { opts.out.clone() } else { opts.out.join(cpu.name()) };
        runs.push(bench_on(paths, opts, &kref, cpu, &out)?);
    }
    if runs.len() > 1 {
        std::fs::write(opts.out.join("README.md"), modes_markdown(opts, &runs))?;
        eprintln!("xtask: wrote {}/README.md, the CPU modes side by side", opts.out.display());
    }
    Ok(if runs.iter().all(|r| r.ok) { 0 } else { 1 })
}

/// What one boot measured.
struct ModeRun {
    facts: Facts,
    ms: Vec<Measurement>,
    hs: Vec<hostcall::HostCall>,
    cs: Vec<compute::Run>,
    /// Every check passed and every measurement was made.
    ok: bool,
}

/// One boot on one guest CPU: the measurements, and its report in `out`.
fn bench_on(paths: &Paths, opts: &BenchOptions, kref: &Path, cpu: CpuMode, out: &Path) -> Result<ModeRun> {
    let argv = vec![
        "/bin/kwasm-guest-tests".to_string(),
        "--bench".into(),
        "--parts".into(),
        [(opts.hostcall, "hostcall"), (opts.compute, "compute"), (opts.net, "net")]
            .iter()
            .filter(|p| p.0)
            .map(|p| p.1)
            .collect::<Vec<_>>()
            .join(","),
        "--calls".into(),
        opts.calls.to_string(),
        "--profile".into(),
        opts.profile.to_string(),
        "--reps".into(),
        opts.reps.to_string(),
        "--duration-ms".into(),
        opts.duration_ms.to_string(),
        "--warmup-ms".into(),
        opts.warmup_ms.to_string(),
        "--engine".into(),
        opts.engine.clone(),
        "--conns".into(),
        opts.conns.iter().map(u32::to_string).collect::<Vec<_>>().join(","),
    ];
    let action = GuestAction::Command(argv);
    let (k, initramfs) = guest::prepare_with(
        paths,
        opts.kernel,
        &action,
        true,
        "bench",
        &[(KREF_GUEST_PATH.to_string(), kref.to_path_buf())],
    )?;
    let timeout = opts.timeout.unwrap_or_else(|| estimate(opts));
    eprintln!(
        "xtask: booting {} for the benchmark, CPU mode {} (at most {} min)",
        k.release,
        cpu.name(),
        timeout.as_secs().div_ceil(60)
    );
    let boot_opts = BootOptions {
        timeout: Some(timeout),
        echo: true,
        cpu: Some(cpu.qemu_cpu().to_string()),
        ..Default::default()
    };
    let load_before = load_average();
    let mut qemu_extra: Vec<String> = Vec::new();
    if opts.icount {
        qemu_extra.extend(ICOUNT.map(String::from));
    }
    let socket = profile::socket_path(&paths.target);
    let sampler = if opts.profile {
        let _ = std::fs::remove_file(&socket);
        qemu_extra.extend(profile::qemu_args(&socket));
        let serial_log = paths.guest_logs().join(format!("{}-bench.log", k.release));
        // The last boot's log would show the start line at once.
        let _ = std::fs::remove_file(&serial_log);
        Some(profile::Sampler::start(socket.clone(), SERVER_CPU, serial_log, PROFILE_FROM))
    } else {
        None
    };
    let qemu_extra: Vec<&str> = qemu_extra.iter().map(String::as_str).collect();
    let r = guest::boot_with(paths, &k, &initramfs, "bench", false, &boot_opts, &qemu_extra);
    let samples = sampler.map(profile::Sampler::finish);
    let _ = std::fs::remove_file(&socket);
    let r = r?;
    let passed = guest::report(&k, &r);
    let mut ms = Vec::new();
    let mut hs = Vec::new();
    let mut cs = Vec::new();
    let mut bad_lines = Vec::new();
    for line in &r.verdict.guest_output {
        if let Some(m) = parse_line(line) {
            m.map_or_else(|bad| bad_lines.push(bad), |m| ms.push(m));
        } else if let Some(h) = hostcall::parse_line(line) {
            h.map_or_else(|bad| bad_lines.push(bad), |h| hs.push(h));
        } else if let Some(c) = compute::parse_line(line) {
            c.map_or_else(|bad| bad_lines.push(bad), |c| cs.push(c));
        }
    }
    if ms.is_empty() && hs.is_empty() && cs.is_empty() {
        bail!("the guest reported no measurement: see {}", r.serial_log.display());
    }
    let f = facts(&k, &r.verdict, load_before, cpu);
    let profile = match &samples {
        Some(samples) => {
            let vmlinux = crate::symbolize::debug_vmlinux(paths, &k)?;
            let nm = process::stdout_of(Command::new("nm").arg("--defined-only").arg(&vmlinux))?;
            let symbols = profile::Symbols::load(&nm, &r.verdict.guest_output)?;
            std::fs::create_dir_all(&out)?;
            std::fs::write(out.join("profile.tsv"), profile::tsv(&samples.all, &symbols))?;
            Some(
                profile::markdown(&samples.all, &symbols, SERVER_CPU)
                    + &profile::windows_markdown(&samples.windows, &symbols),
            )
        }
        None => None,
    };
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(out.join("README.md"), markdown(opts, &f, &ms, &hs, &cs, &bad_lines) + profile.as_deref().unwrap_or_default())?;
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&results_json(opts, &f, &ms, &hs, &cs))? + "\n",
    )?;
    if opts.net {
        draw_chart(
            paths,
            &chart_tables(&ms),
            &out.join("chart.png"),
            &format!(
                "kwasm benchmark, Linux {} under QEMU TCG{}, CPU mode {}",
                k.release,
                if opts.icount { " (-icount)" } else { "" },
                cpu.name()
            ),
        )?;
    }
    let failed = ms.iter().filter(|m| m.result.is_err()).count()
        + hs.iter().filter(|h| h.result.is_err()).count()
        + cs.iter().filter(|c| c.result.is_err()).count()
        + compute::disagreements(&cs).len();
    eprintln!(
        "xtask: {} network measurements, {} host-call figures, {} compute runs, {failed} failed; wrote {}/README.md, results.json{}",
        ms.len(),
        hs.len(),
        cs.len(),
        out.display(),
        if opts.net { ", chart.png" } else { "" }
    );
    Ok(ModeRun {
        ok: passed && failed == 0 && bad_lines.is_empty(),
        facts: f,
        ms,
        hs,
        cs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measurement_lines_parse() {
        let ok = r#"KWASM-BENCH 2 kwasm echo-pingpong 16 ok {"workload":"echo-pingpong","conns":16,"size":64,"ops_per_s":1234.5,"errors":0}"#;
        let m = parse_line(ok).unwrap().unwrap();
        assert_eq!(
            (m.rep, m.variant.as_str(), m.workload.as_str(), m.conns),
            (2, "kwasm", "echo-pingpong", 16)
        );
        assert_eq!(m.result.unwrap()["ops_per_s"], 1234.5);

        let fail = "KWASM-BENCH 1 kref http-close 256 FAIL loadgen exit status: 1: conn 3: reset";
        let m = parse_line(fail).unwrap().unwrap();
        assert_eq!(m.result.unwrap_err(), "loadgen exit status: 1: conn 3: reset");

        let mismatch = r#"KWASM-BENCH 1 native echo-stream 1 ok {"workload":"echo-pingpong","conns":1,"errors":0}"#;
        assert!(parse_line(mismatch).unwrap().unwrap().result.is_err());
        assert!(parse_line("KWASM-BENCH x native").unwrap().is_err());
        assert!(parse_line("KWASM-TEST a PASS").is_none());
    }

    #[test]
    fn cpu_modes_side_by_side() {
        let facts = |cpu: CpuMode, meltdown: &str| Facts {
            date: "today".into(),
            kernel: "6.12".into(),
            host_cpu: String::new(),
            host_cpus: 2,
            host_kernel: String::new(),
            qemu: String::new(),
            host_load: (String::new(), String::new()),
            kernel_log: Ok(()),
            checks: vec![],
            cpu,
            vulnerabilities: vec![("meltdown".into(), meltdown.into())],
        };
        let m = |v: &str, ops: f64| Measurement {
            rep: 1,
            variant: v.into(),
            workload: "echo-pingpong".into(),
            conns: 16,
            result: Ok(json!({ "ops_per_s": ops })),
        };
        let getppid = |ns| hostcall::HostCall {
            rep: 1,
            engine: "linux".into(),
            kind: "getppid".into(),
            calls: 10,
            result: Ok(ns),
        };
        let run = |cpu, meltdown, native, ns| ModeRun {
            facts: facts(cpu, meltdown),
            ms: vec![m("native", native), m("kwasm", 110.0), m("kref", 111.0)],
            hs: vec![getppid(ns)],
            cs: vec![],
            ok: true,
        };
        let opts = BenchOptions {
            kernel: KernelLine::V6_12,
            hostcall: true,
            calls: 10,
            compute: false,
            net: true,
            profile: false,
            reps: 1,
            duration_ms: 1,
            warmup_ms: 1,
            conns: vec![16],
            engine: "native".into(),
            icount: true,
            cpus: vec![CpuMode::Default, CpuMode::Mitigated],
            out: PathBuf::new(),
            timeout: None,
            command_line: "cargo xtask bench".into(),
        };
        let runs = [
            run(CpuMode::Default, "Not affected", 104.0, 13_140),
            run(CpuMode::Mitigated, "Mitigation: PTI", 100.0, 13_780),
        ];
        let md = modes_markdown(&opts, &runs);
        for line in [
            "| meltdown | Not affected | Mitigation: PTI |",
            "| linux: the `getppid` system call from a native program | 1314 | 1378 |",
            "| echo 64 B ping-pong | 16 | kwasm/native | 1.06 | 1.10 |",
            "| kwasm ≥ 1.05× native | default | echo-pingpong | 16 | 1.06 | met |",
            "| kwasm ≥ 1.10× native (the 2019 prototype's echo figure) | mitigated | echo-pingpong | 16 | 1.10 | met |",
            "| kwasm ≥ 0.98× kref (the wasm layer costs at most 2% over C in the kernel) | mitigated | echo-pingpong | 16 | 0.99 | met |",
        ] {
            assert!(md.contains(line), "no `{line}` in:\n{md}");
        }
        // 8 rows a mode, the echo ping-pong ones met (the rest have no data).
        assert!(md.contains("4 of 16 targets met."), "{md}");
        assert_eq!(parse_vulnerability("KWASM-CPU-VULN mds Vulnerable: no microcode"), Some(("mds".into(), "Vulnerable: no microcode".into())));
    }

    #[test]
    fn medians_and_ratios() {
        let s = Stats {
            values: vec![3.0, 1.0, 2.0, 10.0],
            failed: 1,
        };
        assert_eq!((s.median(), s.min(), s.max()), (Some(2.5), Some(1.0), Some(10.0)));
        assert_eq!(Stats::default().median(), None);
        let line = |v: &str, x: f64| Measurement {
            rep: 1,
            variant: v.into(),
            workload: "echo-stream".into(),
            conns: 1,
            result: Ok(json!({ "mib_per_s": x, "ops_per_s": 1.0 })),
        };
        let t = tabulate(&[line("kwasm", 30.0), line("native", 20.0)], throughput);
        assert_eq!(ratio(&t, "echo-stream", 1, "kwasm", "native"), Some(1.5));
        assert_eq!(ratio(&t, "echo-stream", 1, "kwasm", "kref"), None);
    }
}
