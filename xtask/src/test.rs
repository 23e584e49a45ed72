//! `cargo xtask test`: host unit tests, then the guest tests on each kernel,
//! one table of results, and a last line `N passed, N failed`.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Result;

use crate::guest::{self, BootOptions, GuestAction};
use crate::kernels::{Kernel, KernelLine};
use crate::paths::Paths;
use crate::verdict::Outcome;
use crate::{module, package, process, setup};

pub struct TestOptions {
    pub kernels: Vec<KernelLine>,
    pub host: bool,
    pub timeout: Duration,
    pub verbose: bool,
}

struct TestResult {
    name: String,
    outcome: Outcome,
}

#[derive(Default)]
struct Results {
    list: Vec<TestResult>,
    /// Host tests that passed, counted but not listed one by one.
    host_passed: usize,
}

impl Results {
    fn add(&mut self, name: String, outcome: Outcome) {
        self.list.push(TestResult { name, outcome });
    }

    fn check(&mut self, name: String, r: Result<(), String>) {
        self.add(name, r.map_or_else(Outcome::Fail, |()| Outcome::Pass));
    }
}

/// Counts from libtest's output: (passed, failed, names of failed tests).
pub fn parse_cargo_test(stdout: &str) -> (usize, usize, Vec<String>) {
    let (mut passed, mut failed, mut names) = (0, 0, vec![]);
    for line in stdout.lines() {
        if let Some(rest) = line.strip_prefix("test result: ") {
            for part in rest.split(';') {
                let words: Vec<&str> = part.split_whitespace().collect();
                let n = |w: &[&str]| w.iter().rev().nth(1).and_then(|x| x.parse::<usize>().ok()).unwrap_or(0);
                match words.last() {
                    Some(&"passed") => passed += n(&words),
                    Some(&"failed") => failed += n(&words),
                    _ => {}
                }
            }
        } else if let Some(name) = line.strip_prefix("test ").and_then(|l| l.strip_suffix(" ... FAILED")) {
            names.push(name.to_string());
        }
    }
    (passed, failed, names)
}

/// Host unit tests: the main workspace, then the examples' (their own
/// workspace, tested natively in the target directory their wasm and musl
/// builds use, under the host triple's own subdirectory).
fn host_tests(paths: &Paths, results: &mut Results) -> Result<()> {
    cargo_test(results, "cargo test --workspace", &paths.repo, &[])?;
    let examples_target = paths
        .target
        .join("examples")
        .into_os_string()
        .into_string()
        .unwrap_or_default();
    cargo_test(
        results,
        "cargo test (examples)",
        &paths.repo.join("examples"),
        &["--target", "x86_64-unknown-linux-gnu", "--target-dir", &examples_target],
    )
}

/// One `cargo test --workspace` in `dir`; each failing test is a result.
fn cargo_test(results: &mut Results, what: &str, dir: &Path, extra: &[&str]) -> Result<()> {
    eprintln!("xtask: {what}");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["test", "--workspace"])
        .args(extra)
        .current_dir(dir)
        .stderr(Stdio::inherit());
    let out = process::output(&mut cmd)?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let (passed, failed, names) = parse_cargo_test(&stdout);
    results.host_passed += passed;
    for name in &names {
        results.add(
            format!("host/{name}"),
            Outcome::Fail(format!("see `{what}` output above")),
        );
    }
    if failed > names.len() {
        results.add(
            "host/unnamed-failures".into(),
            Outcome::Fail(format!("{} failed tests not named in the output", failed - names.len())),
        );
    }
    if !out.status.success() && failed == 0 {
        print!("{stdout}");
        results.add(
            format!("host/{what}"),
            Outcome::Fail(format!(
                "`{what}` failed ({}) without a failing test: a build error? (see above)",
                out.status
            )),
        );
    } else if !out.status.success() {
        // Show libtest's failure details (panics, assertion messages).
        print!("{stdout}");
    }
    Ok(())
}

fn tail(text: &str, n: usize) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}

/// Kernel parameters for the test boots. Each kernel runs under a different
/// preemption model (Debian's default is voluntary): 6.1 with none at all,
/// where only our own yield points let anything else run on a CPU running
/// wasm, 6.12 fully preemptible, where wasm is preempted at any
/// instruction outside the FPU section, and 7.3 lazily preemptible (its
/// Debian default, PREEMPT_LAZY: full preemption for real-time tasks, at the
/// next tick for the others); 6.12-rt is PREEMPT_RT, which has no choice
/// to make (always fully preemptible, spinlocks that sleep, interrupts and
/// softirqs in threads). The lockup and RCU-stall detectors
/// are made impatient (4 s, 5 s; the kernel's defaults are 20 s and 21 s)
/// so that a run that failed to yield shows up in the kernel log within the
/// tests' 6-second endless loops. Not lower: TCG runs the guest some 20-50
/// times slower than hardware, and at 2 s the 6.1 guest twice reported a
/// lockup late in the hostile corpus of a full CI run, in Pulley code that
/// reaches a yield point every millisecond; run alone, never. (Each hostile
/// case is marked in the kernel log, should it come back.)
pub fn test_cmdline(line: KernelLine) -> &'static str {
    match line {
        KernelLine::V6_1 => "preempt=none watchdog_thresh=2 rcupdate.rcu_cpu_stall_timeout=5",
        KernelLine::V6_12 => "preempt=full watchdog_thresh=2 rcupdate.rcu_cpu_stall_timeout=5",
        KernelLine::V6_12Rt => "watchdog_thresh=2 rcupdate.rcu_cpu_stall_timeout=5",
        KernelLine::V7_3 => "preempt=lazy watchdog_thresh=2 rcupdate.rcu_cpu_stall_timeout=5",
    }
}

/// The kernel's own debugging switched on from its command line
/// (`--hardened`): red zones, poisoning and owner tracking of every slab
/// object, freed memory poisoned and checked, KFENCE on every allocation it
/// can sample; and freed pages unmapped where the kernel has
/// CONFIG_DEBUG_PAGEALLOC (Debian's 6.1 and 6.12 do not).
///
/// Every slab cache but ACPICA's own five: the AML interpreter allocates
/// and frees its objects by the thousand, and with owner tracking (a stack
/// trace per allocation) under the emulator each e1000's `_PRT` lookup at
/// poweroff took 3 s of CPU time on non-preemptible 6.1 (0.15 s without
/// debugging, 0.18 s with these caches left out), enough with the host busy
/// for the 4 s soft-lockup detector to fire in `poweroff` (2 of 5 hardened
/// 6.1 boots; docs/reliability.md). kwasm allocates nothing from them.
const HARDENED: &str = "slub_debug=FZPU;-,Acpi-Namespace,Acpi-State,Acpi-Parse,Acpi-ParseExt,Acpi-Operand \
                        init_on_free=1 page_poison=1 kfence.sample_interval=1";

/// The kernel command line of a test or soak boot: [`test_cmdline`], plus
/// the hardened switches if asked for.
pub fn boot_cmdline(k: &Kernel, line: KernelLine, hardened: bool) -> String {
    let mut c = test_cmdline(line).to_string();
    if hardened {
        c.push(' ');
        c.push_str(HARDENED);
        if k.config_enabled("DEBUG_PAGEALLOC") {
            c.push_str(" debug_pagealloc=on");
        }
    }
    c
}

/// Whether the test boot of `line` runs hardened: 6.12's does (SLUB
/// debugging catches a use-after-free or overflow of kwasm's own objects
/// the moment it happens); it adds some 5 minutes to its boot, which the
/// CI budget has room for once, not three times.
pub fn tests_hardened(line: KernelLine) -> bool {
    line == KernelLine::V6_12
}

/// The Debian packages, built, lintian-checked and unpacked into a scratch
/// root: the guests then run what a user installs (the module dkms builds
/// from `kwasm-dkms`, the command from `kwasm`). None if they could not be
/// built (a failed result says why; the guests are not booted).
fn packages(paths: &Paths, results: &mut Results) -> Option<package::Unpacked> {
    match package::build_and_unpack(paths) {
        Ok(unpacked) => {
            results.check("package/lintian".into(), package::lintian(&unpacked.debs));
            Some(unpacked)
        }
        Err(e) => {
            results.add("package/build".into(), Outcome::Fail(format!("{e:#}")));
            None
        }
    }
}

fn guest_tests(paths: &Paths, line: KernelLine, packaged: &package::Unpacked, opts: &TestOptions, results: &mut Results) {
    let prefix = line.name();
    let prepared = Kernel::installed(paths, line).and_then(|k| {
        package::install_dkms_module(paths, packaged, &k)?;
        results.check(format!("{prefix}/objtool-clean"), module::objtool_verdict(paths, &k));
        if line.build_chroot().is_some() {
            // dpkg -i and --purge, maintainer scripts and all, on a Debian
            // system of this kernel's release (where the rig has one).
            results.check(format!("{prefix}/package-install-remove"), package::install_remove(paths, &packaged.debs, &k));
        }
        guest::build_guest(paths)?;
        // The packaged command replaces the one built for the guest.
        let cli = [("bin/kwasm".to_string(), packaged.cli())];
        guest::prepare_with(paths, line, &GuestAction::tests_for(line), false, "test", &cli)
    });
    let (k, initramfs) = match prepared {
        Ok(p) => p,
        Err(e) => {
            results.add(format!("{prefix}/build"), Outcome::Fail(format!("{e:#}")));
            return;
        }
    };
    eprintln!("xtask: booting {} for the guest tests", k.release);
    let boot_opts = BootOptions {
        timeout: Some(opts.timeout),
        echo: opts.verbose,
        append: Some(boot_cmdline(&k, line, tests_hardened(line))),
        ..Default::default()
    };
    let mut r = match guest::boot(paths, &k, &initramfs, "test", false, &boot_opts) {
        Ok(r) => r,
        Err(e) => {
            results.add(format!("{prefix}/boot"), Outcome::Fail(format!("{e:#}")));
            return;
        }
    };
    // A kernel that dies before the guest's first marker has not run any of
    // our code yet (the module loads later, from the tests). Under TCG a
    // stock kernel very rarely oopses this early (seen once: an int3 from
    // boot-time code patching racing between vCPUs); boot once more rather
    // than fail the run, and say so.
    if !r.verdict.started && !r.verdict.timed_out {
        eprintln!(
            "xtask: {} died before the guest started (our code had not run); booting again. First boot's kernel log: {}",
            k.release,
            r.kernel_log.display()
        );
        let first_log = r.kernel_log.with_extension("first-boot.log");
        let _ = std::fs::rename(&r.kernel_log, &first_log);
        r = match guest::boot(paths, &k, &initramfs, "test", false, &boot_opts) {
            Ok(r) => r,
            Err(e) => {
                results.add(format!("{prefix}/boot"), Outcome::Fail(format!("{e:#}")));
                return;
            }
        };
    }
    let v = &r.verdict;
    for t in &v.tests {
        results.add(format!("{prefix}/{}", t.name), t.outcome.clone());
    }
    for bad in &v.bad_test_lines {
        results.add(
            format!("{prefix}/malformed-marker"),
            Outcome::Fail(format!("cannot parse `{bad}`")),
        );
    }
    results.check(format!("{prefix}/guest-completed"), v.guest_completed());
    results.check(format!("{prefix}/kernel-log-clean"), v.kernel_log_clean());

    eprintln!(
        "xtask: {} boot took {:.1}s; logs: {}, {}",
        k.release,
        r.elapsed.as_secs_f64(),
        r.serial_log.display(),
        r.kernel_log.display()
    );
    if !v.kernel_problems.is_empty() {
        eprintln!("xtask: {} kernel log problems:", k.release);
        for l in v.kernel_problems.iter().take(40) {
            eprintln!("    {l}");
        }
    }
    if v.guest_completed().is_err() {
        let serial = std::fs::read_to_string(&r.serial_log).unwrap_or_default();
        let console = std::fs::read_to_string(&r.kernel_log).unwrap_or_default();
        eprintln!("xtask: {} guest did not complete; last serial lines:", k.release);
        for l in tail(&serial, 30) {
            eprintln!("    {}", l.trim_end_matches('\r'));
        }
        eprintln!("xtask: last kernel console lines:");
        for l in tail(&console, 30) {
            eprintln!("    {}", l.trim_end_matches('\r'));
        }
    }
}

pub fn run_tests(paths: &Paths, opts: &TestOptions) -> Result<i32> {
    setup::setup(paths, &opts.kernels)?;
    let mut results = Results::default();
    if opts.host {
        host_tests(paths, &mut results)?;
    }
    if !opts.kernels.is_empty() {
        if let Some(packaged) = packages(paths, &mut results) {
            for &line in &opts.kernels {
                guest_tests(paths, line, &packaged, opts, &mut results);
            }
        }
    }

    let failed = results.list.iter().filter(|r| r.outcome != Outcome::Pass).count();
    let passed = results.host_passed + results.list.len() - failed;
    println!();
    if opts.host {
        println!(
            "PASS  host: {} unit tests (cargo test --workspace)",
            results.host_passed
        );
    }
    for r in &results.list {
        match &r.outcome {
            Outcome::Pass => println!("PASS  {}", r.name),
            Outcome::Fail(why) => println!("FAIL  {}: {why}", r.name),
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::parse_cargo_test;

    #[test]
    fn counts_libtest_summaries_and_failures() {
        let out = "running 3 tests\ntest a::b ... ok\ntest a::c ... FAILED\ntest d ... ignored\n\n\
                   test result: FAILED. 1 passed; 1 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.00s\n\
                   test result: ok. 7 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s\n";
        assert_eq!(parse_cargo_test(out), (8, 1, vec!["a::c".to_string()]));
    }
}
