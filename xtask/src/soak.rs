//! `cargo xtask soak`: the reliability campaign (docs/reliability.md). Boots
//! one kernel again and again with one guest test plan — or once with a long
//! mixed soak — and appends every boot's outcome to a record in the
//! repository, so evidence accumulates across sessions. A boot is clean only
//! if every test passed and the kernel log holds no problem; the logs of any
//! other boot are kept, with the kernel's trace symbolized.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result};

use crate::guest::{self, BootOptions, BootResult, GuestAction};
use crate::kernels::{Kernel, KernelLine};
use crate::paths::Paths;
use crate::{process, symbolize, test};

/// What every plan starts with: the rig's own checks, then loading the
/// module.
const PLAN_START: &[&str] = &["rig-cmpxchg16b", "rig-sched-clock", "insmod"];

/// The stress plan: what the double faults of 6.12 ran under (hostile
/// corpus, kills with sockets open, the kill storm, the 32-instance soak),
/// after [`PLAN_START`].
pub const STRESS_PLAN: &[&str] = &[
    "rig-cmpxchg16b",
    "rig-sched-clock",
    "insmod",
    "hostile-corpus",
    "net-kill-releases-sockets",
    "stress-kill-anytime",
    "stress-soak-32",
];

/// The record every boot is appended to (one line each, tab-separated).
pub const RECORD: &str = "docs/reliability/boots.tsv";
const RECORD_HEADER: &str = "# date\tcommit\tkernel\tplan\tvcpus\tcpu\toptions\tresult\tseconds\tdetail\n";

pub struct SoakOptions {
    pub kernel: KernelLine,
    pub boots: u32,
    /// Comma-separated guest tests, or `all` for the whole suite; default
    /// [`STRESS_PLAN`].
    pub only: Option<String>,
    pub vcpus: Option<u32>,
    /// Keep every host core busy while the guest runs.
    pub host_load: bool,
    pub hardened: bool,
    /// A long mixed soak of this many minutes instead of a test plan.
    pub minutes: Option<u32>,
    pub cpu: Option<String>,
    /// QEMU's single-threaded TCG ([`BootOptions::single_thread`]).
    pub single_thread: bool,
    /// Build the module and guest binaries first.
    pub build: bool,
}

impl SoakOptions {
    fn plan_name(&self) -> String {
        match (self.minutes, self.only.as_deref()) {
            (Some(m), _) => format!("long-soak-{m}min"),
            (None, None) => "stress-plan".into(),
            (None, Some(only)) => only.to_string(),
        }
    }

    fn action(&self) -> GuestAction {
        let tests = |list: String| GuestAction::Command(vec!["/bin/kwasm-guest-tests".into(), "--only".into(), list]);
        match (self.minutes, self.only.as_deref()) {
            (Some(m), _) => GuestAction::Command(vec![
                "/bin/kwasm-guest-tests".into(),
                "--long-soak".into(),
                m.to_string(),
            ]),
            (None, Some("all")) => GuestAction::default_tests(),
            (None, Some(only)) => {
                // The module must be loaded before anything else runs.
                let mut list: Vec<&str> = PLAN_START.to_vec();
                list.extend(only.split(',').filter(|t| !PLAN_START.contains(t)));
                tests(list.join(","))
            }
            (None, None) => tests(STRESS_PLAN.join(",")),
        }
    }

    fn timeout(&self) -> Duration {
        let minutes = match (self.minutes, self.only.as_deref()) {
            (Some(m), _) => u64::from(m) + 15,
            (None, Some("all")) => 40,
            _ => 25,
        };
        Duration::from_secs(minutes * 60)
    }

    fn options_label(&self) -> String {
        let mut o = vec![];
        if self.hardened {
            o.push("hardened");
        }
        if self.host_load {
            o.push("host-load");
        }
        if self.single_thread {
            o.push("tcg-single-thread");
        }
        if o.is_empty() {
            "-".into()
        } else {
            o.join(",")
        }
    }
}

/// Busy threads on every host core until dropped.
struct HostLoad {
    stop: &'static AtomicBool,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl HostLoad {
    fn start() -> HostLoad {
        let stop: &'static AtomicBool = Box::leak(Box::new(AtomicBool::new(false)));
        let n = std::thread::available_parallelism().map_or(2, |n| n.get());
        let threads = (0..n)
            .map(|_| {
                std::thread::spawn(move || {
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                    }
                })
            })
            .collect();
        HostLoad { stop, threads }
    }
}

impl Drop for HostLoad {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn command_text(cmd: &mut Command) -> String {
    process::stdout_of(cmd)
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `<short hash>` of HEAD, `-dirty` if the tree has changes.
fn commit(paths: &Paths) -> String {
    let hash = command_text(
        Command::new("git")
            .args(["rev-parse", "--short", "HEAD"])
            .current_dir(&paths.repo),
    );
    let dirty = !Command::new("git")
        .args(["diff", "--quiet", "HEAD"])
        .current_dir(&paths.repo)
        .status()
        .is_ok_and(|s| s.success());
    format!(
        "{}{}",
        if hash.is_empty() { "?" } else { &hash },
        if dirty { "-dirty" } else { "" }
    )
}

fn append_record(paths: &Paths, row: &[String]) -> Result<()> {
    let path = paths.repo.join(RECORD);
    std::fs::create_dir_all(path.parent().unwrap())?;
    let new = !path.is_file();
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
    if new {
        f.write_all(RECORD_HEADER.as_bytes())?;
    }
    let line: Vec<String> = row.iter().map(|c| c.replace(['\t', '\n'], " ")).collect();
    writeln!(f, "{}", line.join("\t"))?;
    Ok(())
}

/// What a boot came to: `clean`, or why not (kept short for the record).
fn outcome(r: &BootResult) -> (bool, String) {
    let v = &r.verdict;
    let mut why = vec![];
    if let Some(first) = v.kernel_problems.first() {
        why.push(format!("kernel: {first}"));
    }
    for t in &v.tests {
        if let crate::verdict::Outcome::Fail(reason) = &t.outcome {
            why.push(format!(
                "{} failed: {}",
                t.name,
                reason.chars().take(200).collect::<String>()
            ));
        }
    }
    if let Err(e) = v.guest_completed() {
        why.push(e);
    }
    if v.tests.is_empty() {
        why.push("no test reported".into());
    }
    (why.is_empty(), why.join("; "))
}

/// Keeps a failed boot's logs (and its symbolized trace) under
/// `target/soak/LABEL/`, before the next boot of the same name overwrites
/// them; returns the folder. `soak` and `boot` use it.
pub fn keep_logs(paths: &Paths, k: &Kernel, r: &BootResult, label: &str) -> Result<PathBuf> {
    let dir = paths.target.join("soak").join(label);
    std::fs::create_dir_all(&dir)?;
    for log in [&r.serial_log, &r.kernel_log] {
        if let Some(name) = log.file_name() {
            let _ = std::fs::copy(log, dir.join(name));
        }
    }
    let console = std::fs::read_to_string(&r.kernel_log).unwrap_or_default();
    match symbolize::trace(paths, k, &console) {
        Ok(text) if !text.is_empty() => std::fs::write(dir.join("symbolized.txt"), text)?,
        Ok(_) => {}
        Err(e) => std::fs::write(dir.join("symbolized.txt"), format!("could not symbolize: {e:#}\n"))?,
    }
    Ok(dir)
}

/// The host's load average over the last five minutes, as /proc/loadavg
/// gives it (`?` if unreadable).
fn host_load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
        .unwrap_or_else(|| "?".into())
}

pub fn date(format: &str) -> String {
    command_text(Command::new("date").args(["-u", format]))
}

pub fn soak(paths: &Paths, opts: &SoakOptions) -> Result<i32> {
    let line = opts.kernel;
    let action = opts.action();
    let (k, initramfs) = guest::prepare(paths, line, &action, opts.build, "soak")?;
    let boot_opts = BootOptions {
        timeout: Some(opts.timeout()),
        echo: false,
        append: Some(test::boot_cmdline(&k, line, opts.hardened)),
        cpu: opts.cpu.clone(),
        vcpus: opts.vcpus,
        single_thread: opts.single_thread,
    };
    let plan = opts.plan_name();
    let vcpus = opts.vcpus.map_or_else(|| guest::VCPUS.to_string(), |n| n.to_string());
    let cpu = opts.cpu.clone().unwrap_or_else(|| guest::CPU.to_string());
    let commit = commit(paths);
    eprintln!(
        "xtask: soak: {} boot(s) of {} ({plan}), {vcpus} vCPUs, -cpu {cpu}, options {}; command line: {}",
        opts.boots,
        k.release,
        opts.options_label(),
        boot_opts.append.as_deref().unwrap_or("")
    );
    let mut clean = 0;
    for n in 1..=opts.boots {
        let started = date("+%Y-%m-%dT%H:%M:%SZ");
        let load = opts.host_load.then(HostLoad::start);
        let r = guest::boot(paths, &k, &initramfs, "soak", false, &boot_opts).context("booting the guest")?;
        drop(load);
        let (ok, detail) = outcome(&r);
        let detail = if ok {
            r.verdict
                .guest_output
                .iter()
                .filter(|l| l.starts_with("soak:") || l.starts_with("stress:") || l.starts_with("long soak:"))
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        } else {
            let label = format!("{}-{}-boot{n}", date("+%Y%m%dT%H%M%SZ"), k.release);
            let dir = keep_logs(paths, &k, &r, &label)?;
            format!(
                "{detail} (logs: target/soak/{})",
                dir.file_name().unwrap_or_default().to_string_lossy()
            )
        };
        if ok {
            clean += 1;
        }
        // Other work on the host slows the guest's vCPUs unevenly, which a
        // timing-sensitive report (soft lockup, RCU stall) can come from.
        let detail = format!("{detail} [host load over 5 min: {}]", host_load());
        append_record(
            paths,
            &[
                started,
                commit.clone(),
                k.release.clone(),
                plan.clone(),
                vcpus.clone(),
                cpu.clone(),
                opts.options_label(),
                if ok { "clean" } else { "FAILED" }.into(),
                format!("{:.0}", r.elapsed.as_secs_f64()),
                detail.clone(),
            ],
        )?;
        eprintln!(
            "xtask: soak boot {n}/{}: {} in {:.0}s{}",
            opts.boots,
            if ok { "clean" } else { "FAILED" },
            r.elapsed.as_secs_f64(),
            if ok { String::new() } else { format!(": {detail}") }
        );
        if !ok {
            for l in r.verdict.kernel_problem_context.iter().take(60) {
                eprintln!("    {l}");
            }
        }
    }
    println!(
        "soak: {clean} of {} boots of {} clean ({plan}, {vcpus} vCPUs, -cpu {cpu}, {}); recorded in {RECORD}",
        opts.boots,
        k.release,
        opts.options_label()
    );
    Ok(if clean == opts.boots { 0 } else { 1 })
}
