//! A program's kernel memory is its process's own when memory runs short:
//! it shows in the process's RSS (and `kwasm ps`), `memory.grow` is
//! refused rather than waking the OOM killer, and when the OOM killer runs
//! anyway (another process asks) it picks the biggest kwasm program over a
//! smaller innocent process. The program is `grow.wat` (four memories
//! grown 16 MiB at a time); the innocent process is this binary's
//! `--hold-memory MIB`.

use crate::cgroup::Cgroup;
use crate::kmem::{back_to_baseline, kernel_memory, TOLERANCE_KIB};
use crate::{expect, mark_kernel_log, Test, OOM_EXPECTED, OOM_NOT_EXPECTED};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

const WAT: &str = "/share/kwasm/tests";
const ENGINES: [&str; 2] = ["native", "pulley"];

/// Longest wait for a program to allocate what it was asked to.
const ALLOCATING: Duration = Duration::from_secs(60);

pub const TESTS: &[Test] = &[
    ("memory-rss-native", || counts_as_rss("native")),
    ("memory-rss-pulley", || counts_as_rss("pulley")),
    ("memory-grow-refused-native", || grow_refused("native")),
    ("memory-grow-refused-pulley", || grow_refused("pulley")),
    ("memory-oom-picks-biggest", oom_picks_biggest),
    ("memory-cgroup-limit", cgroup_limit),
];

/// `--hold-memory MIB`: allocates and touches MIB MiB, says "held", and
/// keeps it until its stdin closes.
pub fn hold(mib: usize) -> std::process::ExitCode {
    let held = vec![1u8; mib << 20];
    println!("held {mib}");
    let _ = std::io::stdout().flush();
    let _ = std::io::stdin().read(&mut [0u8; 1]);
    std::hint::black_box(&held);
    std::process::ExitCode::SUCCESS
}

/// A process under test and the lines it prints, read as they come.
struct Proc {
    child: Child,
    lines: Receiver<String>,
    what: String,
}

impl Proc {
    fn start(mut command: Command, what: &str) -> Result<Proc, String> {
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        let stdout: ChildStdout = child.stdout.take().ok_or("no stdout")?;
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Proc {
            child,
            lines,
            what: what.into(),
        })
    }

    /// `grow.wat MIB SECONDS` on `engine` (MIB 0: until refused).
    fn grow(engine: &str, mib: u64, seconds: u64) -> Result<Proc, String> {
        let mut c = Command::new("kwasm");
        c.args(["run", "--engine", engine, &format!("{WAT}/grow.wat")])
            .args([mib.to_string(), seconds.to_string()]);
        Proc::start(c, &format!("kwasm ({engine}, {mib} MiB)"))
    }

    /// This binary holding `mib` MiB of its own memory.
    fn innocent(mib: u64) -> Result<Proc, String> {
        let mut c = Command::new("/proc/self/exe");
        c.args(["--hold-memory", &mib.to_string()]);
        let mut p = Proc::start(c, &format!("an innocent process holding {mib} MiB"))?;
        p.line()?;
        Ok(p)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line it prints.
    fn line(&mut self) -> Result<String, String> {
        self.lines.recv_timeout(ALLOCATING).map_err(|_| {
            show_blocked_tasks();
            format!("{} printed nothing within {ALLOCATING:?}", self.what)
        })
    }

    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Ends it (SIGKILL) and reaps it.
    fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for it to end; Err if it takes longer than `ALLOCATING`.
    fn wait(&mut self) -> Result<std::process::ExitStatus, String> {
        for _ in 0..ALLOCATING.as_millis() / 50 {
            if let Some(status) = self.child.try_wait().map_err(|e| e.to_string())? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        show_blocked_tasks();
        Err(format!("{} did not end within {ALLOCATING:?}", self.what))
    }
}

/// Puts every blocked task's stack and every CPU's backtrace in the kernel
/// log (SysRq w and l), so a test that stalls says where.
fn show_blocked_tasks() {
    for key in ["w", "l"] {
        let _ = std::fs::write("/proc/sysrq-trigger", key);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// MiB the kernel could give out now without swapping (`MemAvailable`).
fn available_mib() -> Result<u64, String> {
    meminfo_kib("MemAvailable").map(|kib| kib >> 10)
}

/// A field of /proc/meminfo in KiB (`MemTotal`, `MemAvailable`).
pub fn meminfo_kib(field: &str) -> Result<u64, String> {
    let info = std::fs::read_to_string("/proc/meminfo").map_err(|e| e.to_string())?;
    info.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .ok_or_else(|| format!("/proc/meminfo has no {field}"))
}

/// A field of /proc/PID/status, in MiB (`RssAnon:`, `VmRSS:`).
fn status_mib(pid: u32, field: &str) -> Result<u64, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).map_err(|e| e.to_string())?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib >> 10)
        .ok_or_else(|| format!("/proc/{pid}/status has no {field}"))
}

/// "grown N MiB reached|refused" → (N, refused).
fn grown(line: &str) -> Result<(u64, bool), String> {
    let mut words = line.split_whitespace();
    match (words.next(), words.next().and_then(|n| n.parse().ok()), words.nth(1)) {
        (Some("grown"), Some(mib), Some(how @ ("reached" | "refused"))) => Ok((mib, how == "refused")),
        _ => Err(format!("grow.wat printed {line:?}")),
    }
}

/// Kernel log lines since the last line containing `mark`.
fn kernel_log_since(mark: &str) -> Result<Vec<String>, String> {
    let out = Command::new("dmesg").output().map_err(|e| e.to_string())?;
    let log = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = log.lines().collect();
    let from = lines.iter().rposition(|l| l.contains(mark)).unwrap_or(0);
    Ok(lines[from..].iter().map(|l| l.to_string()).collect())
}

/// The victims of OOM kills in the kernel log since `mark`.
fn oom_victims(mark: &str) -> Result<Vec<u32>, String> {
    Ok(kernel_log_since(mark)?
        .iter()
        .filter_map(|l| l.split("Out of memory").nth(1)?.split("Killed process ").nth(1))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect())
}

/// `OOM_EXPECTED` in the kernel log for as long as this lives.
struct OomExpected;

impl OomExpected {
    fn new() -> OomExpected {
        mark_kernel_log(OOM_EXPECTED);
        OomExpected
    }
}

impl Drop for OomExpected {
    fn drop(&mut self) {
        mark_kernel_log(OOM_NOT_EXPECTED);
    }
}

/// A program holding 64 MiB of linear memory: its process's RssAnon,
/// `kwasm ps` and the module's `memory_bytes` all show it, and it is gone
/// once the program is.
fn counts_as_rss(engine: &str) -> Result<(), String> {
    let before = kernel_memory()?;
    let mut program = Proc::grow(engine, 64, 60)?;
    let (mib, refused) = grown(&program.line()?)?;
    expect(mib == 64 && !refused, || {
        format!("{engine}: grew {mib} MiB (refused: {refused}), wanted 64")
    })?;
    let rss = status_mib(program.pid(), "RssAnon:")?;
    let vmrss = status_mib(program.pid(), "VmRSS:")?;
    expect(rss >= 64 && vmrss >= 64, || {
        format!("{engine}: a program holding 64 MiB of linear memory has RssAnon {rss} MiB, VmRSS {vmrss} MiB")
    })?;
    let ps = Command::new("kwasm").arg("ps").output().map_err(|e| e.to_string())?;
    let ps = String::from_utf8_lossy(&ps.stdout).into_owned();
    let shown = ps
        .lines()
        .find(|l| l.split_whitespace().next() == Some(&program.pid().to_string()))
        .and_then(|row| row.split_whitespace().nth(3)?.trim_end_matches('M').parse::<f64>().ok());
    expect(shown.is_some_and(|m| m >= 64.0), || {
        format!("{engine}: kwasm ps should show at least 64 MiB for the program: {ps}")
    })?;
    let held = module_memory()?;
    expect(held >= 64 << 20, || {
        format!("{engine}: {MODULE_MEMORY} says {held} while a program holds 64 MiB")
    })?;
    println!(
        "memory: {engine}: 64 MiB of linear memory: RssAnon {rss} MiB, VmRSS {vmrss} MiB, kwasm ps {:.1} MiB",
        shown.unwrap_or(0.0)
    );
    program.kill();
    let mut left = module_memory()?;
    for _ in 0..50 {
        if left == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        left = module_memory()?;
    }
    expect(left == 0, || {
        format!("{engine}: {MODULE_MEMORY} still says {left} after the program ended")
    })?;
    back_to_baseline(engine, &before, TOLERANCE_KIB).map(|_| ())
}

/// The module's count of the kernel memory all programs hold.
const MODULE_MEMORY: &str = "/sys/class/misc/kwasm/memory_bytes";

fn module_memory() -> Result<u64, String> {
    let text = std::fs::read_to_string(MODULE_MEMORY).map_err(|e| format!("{MODULE_MEMORY}: {e}"))?;
    text.trim().parse().map_err(|_| format!("{MODULE_MEMORY}: {text:?}"))
}

/// How a program growing until refused ended.
enum Grown {
    /// It saw `memory.grow` return -1 after this many MiB, and exited 0.
    Refused(u64),
    /// Someone else's allocation found memory exhausted first, and the OOM
    /// killer chose the program (SIGKILL).
    OomKilled,
}

impl std::fmt::Display for Grown {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Grown::Refused(mib) => write!(f, "refused after {mib} MiB"),
            Grown::OomKilled => f.write_str("OOM-killed"),
        }
    }
}

/// Waits for a `grow.wat 0 0` program to end one of the two right ways.
fn until_refused(program: &mut Proc) -> Result<Grown, String> {
    match program.line() {
        Ok(line) => {
            let (mib, refused) = grown(&line)?;
            expect(refused, || format!("{}: {line}: growth never refused", program.what))?;
            let status = program.wait()?;
            expect(status.success(), || {
                format!("{}: after {line:?} it ended {status}", program.what)
            })?;
            Ok(Grown::Refused(mib))
        }
        Err(_) => {
            let status = program.wait()?;
            expect(status.signal() == Some(libc::SIGKILL), || {
                format!("{}: printed nothing and ended {status}", program.what)
            })?;
            Ok(Grown::OomKilled)
        }
    }
}

/// An innocent process holds a third of the free memory; a kwasm program
/// grows until it cannot. The program is refused while the machine still
/// has its reserve (1/32 of RAM, at least 32 MiB): no OOM killer, no
/// reclaim storm, the innocent process lives on, and the memory comes back.
fn grow_refused(engine: &str) -> Result<(), String> {
    let before = kernel_memory()?;
    let innocent_mib = available_mib()? / 3;
    let mut innocent = Proc::innocent(innocent_mib)?;
    let mut program = Proc::grow(engine, 0, 0)?;
    let outcome = until_refused(&mut program)?;
    let left = available_mib()?;
    expect(matches!(outcome, Grown::Refused(_)), || {
        format!("{engine}: the program was {outcome} instead of refused")
    })?;
    expect(innocent.alive(), || {
        format!("{engine}: the innocent process holding {innocent_mib} MiB died while the program was {outcome}")
    })?;
    println!(
        "memory: {engine}: a program growing beside a {innocent_mib} MiB process was {outcome}; that process lives \
         ({left} MiB available after)"
    );
    innocent.kill();
    back_to_baseline(engine, &before, TOLERANCE_KIB).map(|_| ())
}

/// Two kwasm programs hold half and a tenth of the free memory; an
/// innocent process then asks for half. The OOM killer must end the big
/// kwasm program — the biggest process once its kernel memory counts —
/// and only it: the small one and the innocent process carry on.
fn oom_picks_biggest() -> Result<(), String> {
    let before = kernel_memory()?;
    let available = available_mib()?;
    let (big_mib, small_mib) = (available / 2, available / 10);
    let mut big = Proc::grow("native", big_mib, 120)?;
    let mut small = Proc::grow("pulley", small_mib, 120)?;
    for p in [&mut big, &mut small] {
        let line = p.line()?;
        let (_, refused) = grown(&line)?;
        expect(!refused, || format!("{}: {line}", p.what))?;
    }
    let big_score = std::fs::read_to_string(format!("/proc/{}/oom_score", big.pid())).unwrap_or_default();
    let expected = OomExpected::new();
    let mut innocent = Proc::innocent(available / 2);
    drop(expected);
    let victims = oom_victims(OOM_EXPECTED)?;
    let big_status = big.wait();
    let (big_pid, small_pid) = (big.pid(), small.pid());
    let survivors = (small.alive(), innocent.as_mut().map(|p| p.alive()).unwrap_or(false));
    expect(victims == [big_pid] && survivors == (true, true), || {
        format!(
            "OOM kills {victims:?}; wanted only the big kwasm program {big_pid} ({big_mib} MiB, oom_score {}), \
             not the small one {small_pid} ({small_mib} MiB, alive: {}) or the innocent process (alive: {}); \
             the big one ended {big_status:?}",
            big_score.trim(),
            survivors.0,
            survivors.1
        )
    })?;
    println!(
        "memory: the OOM killer chose the {big_mib} MiB kwasm program (oom_score {}) over a {small_mib} MiB one \
         and the {} MiB process that asked",
        big_score.trim(),
        available / 2
    );
    small.kill();
    if let Ok(p) = innocent {
        p.kill();
    }
    back_to_baseline("after the OOM kill", &before, TOLERANCE_KIB).map(|_| ())
}

/// In a memory cgroup with `memory.max` 128 MiB, beside a process of the
/// group holding 32 MiB, a program that grows until refused stays below
/// the limit and sees the refusal (or, when another allocation in the
/// group finds it full first, is the one the group's OOM killer ends);
/// the other process lives.
fn cgroup_limit() -> Result<(), String> {
    const LIMIT_MIB: u64 = 128;
    let before = kernel_memory()?;
    for engine in ENGINES {
        let group = Cgroup::empty("kwasm-memory")?;
        group.set("memory.max", &(LIMIT_MIB << 20).to_string())?;
        // Both are started from inside the group, then this process
        // leaves it.
        group.add(std::process::id())?;
        let innocent = Proc::innocent(32);
        let expected = OomExpected::new();
        let started = Proc::grow(engine, 0, 0);
        std::fs::write("/sys/fs/cgroup/cgroup.procs", std::process::id().to_string())
            .map_err(|e| format!("leaving the group: {e}"))?;
        let mut innocent = innocent?;
        let outcome = until_refused(&mut started?);
        drop(expected);
        let outcome = outcome?;
        let events = group.read("memory.events")?;
        let oom_kills = events
            .lines()
            .find_map(|l| l.strip_prefix("oom_kill "))
            .and_then(|n| n.trim().parse::<u64>().ok());
        let right = match outcome {
            Grown::Refused(mib) => mib < LIMIT_MIB && oom_kills == Some(0),
            Grown::OomKilled => oom_kills == Some(1),
        };
        let alive = innocent.alive();
        expect(right && alive, || {
            format!(
                "{engine}: in a group limited to {LIMIT_MIB} MiB the program was {outcome}, the process beside it \
                 holding 32 MiB is alive: {alive}; memory.events: {events}"
            )
        })?;
        println!("memory: {engine}: in a group limited to {LIMIT_MIB} MiB the program was {outcome}; the 32 MiB process beside it lives");
        innocent.kill();
    }
    back_to_baseline("after the cgroup runs", &before, TOLERANCE_KIB).map(|_| ())
}
