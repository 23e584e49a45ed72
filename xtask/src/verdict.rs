//! Judging a guest boot from its logs. QEMU exits 0 even after a guest panic,
//! so pass/fail comes only from what the guest printed:
//!
//! * serial console (ttyS0): the init script's markers and the guest
//!   program's output, including one line per test,
//!   `KWASM-TEST <name> PASS` or `KWASM-TEST <name> FAIL <reason...>`;
//! * the `dmesg` dump between `KWASM-DMESG-BEGIN`/`-END` on ttyS0, and the
//!   kernel console (ttyS1, its own log file), which still holds what the
//!   kernel said if the guest hung or panicked before the dump.

pub const START: &str = "KWASM-GUEST-START";
pub const EXIT: &str = "KWASM-GUEST-EXIT";
pub const DMESG_BEGIN: &str = "KWASM-DMESG-BEGIN";
pub const DMESG_END: &str = "KWASM-DMESG-END";
pub const TAINT: &str = "KWASM-TAINT";
pub const TEST: &str = "KWASM-TEST";

/// Kernel log lines that mean something went wrong in the kernel.
const KERNEL_PROBLEMS: &[&str] = &[
    "Oops",
    "BUG:",
    "BUG ",
    "WARNING:",
    "soft lockup",
    "hard LOCKUP",
    "rcu_sched self-detected stall",
    "rcu: INFO:",
    "Call Trace",
    "general protection fault",
    "Kernel panic",
    "UBSAN:",
    "blocked for more than",
    // The VFS refusing how a module calls it (e.g. kernel_write on a file
    // with both ->write and ->write_iter): a bug in the caller.
    "not supported for file",
];

/// Lines that match a problem pattern and are not one: the kernel's boot
/// report that the CPU it runs on leaves it exposed (a CPU model, not a
/// kernel fault: `cargo xtask bench --cpu mitigated` boots an Intel model
/// whose IBRS QEMU's TCG cannot emulate).
const NOT_PROBLEMS: &[&str] = &["RETBleed: WARNING: Spectre v2 mitigation leaves CPU vulnerable to RETBleed attacks"];

/// Taint bits a test run may set: O (out-of-tree module, 12) and E
/// (unsigned module, 13). Anything else (W after a WARN, D after an oops,
/// ...) fails the run.
pub const ALLOWED_TAINT: u64 = (1 << 12) | (1 << 13);

/// Letters of /proc/sys/kernel/tainted bits (kernel/panic.c `taint_flags`).
const TAINT_LETTERS: &[char] = &[
    'P', 'F', 'S', 'R', 'M', 'B', 'U', 'D', 'A', 'W', 'C', 'I', 'O', 'E', 'L', 'K', 'X', 'T', 'N', 'J',
];

pub fn taint_letters(taint: u64) -> String {
    (0..64)
        .filter(|bit| taint & (1u64 << bit) != 0)
        .map(|bit| {
            TAINT_LETTERS
                .get(bit)
                .map(|c| c.to_string())
                .unwrap_or(format!("bit{bit}"))
        })
        .collect::<Vec<_>>()
        .join("")
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Pass,
    Fail(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestMarker {
    pub name: String,
    pub outcome: Outcome,
}

#[derive(Debug, Default)]
pub struct Verdict {
    pub timed_out: bool,
    /// The init script reached the guest command.
    pub started: bool,
    /// Exit status of the guest command (`KWASM-GUEST-EXIT`).
    pub exit_status: Option<i32>,
    pub tests: Vec<TestMarker>,
    /// Malformed `KWASM-TEST` lines (reported as failures).
    pub bad_test_lines: Vec<String>,
    /// The guest printed the whole dmesg block.
    pub dmesg_complete: bool,
    /// Kernel log lines matching a problem pattern (timestamps stripped,
    /// duplicates between dmesg and the console removed).
    pub kernel_problems: Vec<String>,
    /// The first problem line and the lines after it (a call trace says
    /// where it happened), for the failure message.
    pub kernel_problem_context: Vec<String>,
    /// `/proc/sys/kernel/tainted` at the end.
    pub taint: Option<u64>,
    /// The guest program's own output: serial lines between the start and
    /// exit markers.
    pub guest_output: Vec<String>,
}

impl Verdict {
    /// Guest ran its command to the end and it exited 0.
    pub fn guest_completed(&self) -> Result<(), String> {
        match (self.timed_out, self.started, self.exit_status) {
            (_, _, Some(0)) => Ok(()),
            (_, _, Some(n)) => Err(format!("guest command exited with status {n}")),
            (true, _, None) => Err("timed out before the guest command finished".into()),
            (false, false, None) => Err("the guest never reached its command (kernel or init failed early)".into()),
            (false, true, None) => Err("the guest command never finished (guest died or powered off)".into()),
        }
    }

    /// No problem lines in the kernel log, and no taint beyond O/E.
    pub fn kernel_log_clean(&self) -> Result<(), String> {
        let mut why = vec![];
        if !self.kernel_problems.is_empty() {
            why.push(format!(
                "{} problem line(s) in the kernel log: {}",
                self.kernel_problems.len(),
                self.kernel_problem_context.join(" | ")
            ));
        }
        match self.taint {
            Some(t) if t & !ALLOWED_TAINT != 0 => {
                why.push(format!("kernel tainted {} ({t})", taint_letters(t & !ALLOWED_TAINT)))
            }
            Some(_) => {}
            None => why.push("no taint value reported".into()),
        }
        if !self.dmesg_complete {
            why.push("no complete dmesg dump".into());
        }
        if why.is_empty() {
            Ok(())
        } else {
            Err(why.join("; "))
        }
    }

    pub fn passed(&self) -> bool {
        self.guest_completed().is_ok()
            && self.kernel_log_clean().is_ok()
            && self.bad_test_lines.is_empty()
            && self.tests.iter().all(|t| t.outcome == Outcome::Pass)
    }
}

/// Drops the `[   12.345678] ` printk timestamp, if any.
fn strip_timestamp(line: &str) -> &str {
    let t = line.trim_start();
    if let Some(rest) = t.strip_prefix('[') {
        if let Some((stamp, after)) = rest.split_once(']') {
            if stamp.trim().chars().all(|c| c.is_ascii_digit() || c == '.') {
                return after.trim_start();
            }
        }
    }
    t
}

pub fn is_problem(line: &str) -> bool {
    matches_problem(line, &[])
}

/// Whether `line` shows a problem pattern other than those in `except`.
fn matches_problem(line: &str, except: &[&str]) -> bool {
    KERNEL_PROBLEMS.iter().any(|p| !except.contains(p) && line.contains(p)) && !NOT_PROBLEMS.iter().any(|p| line.contains(p))
}

/// A guest test that makes the OOM killer run on purpose (tests/guest
/// src/memory.rs) writes this to the kernel log first. Until its next
/// `kwasm-guest-tests:` line (the end of that window, or the next test)
/// the OOM killer's report — which prints the allocating task's call
/// trace — is expected; every other problem still counts.
const OOM_EXPECTED: &str = "kwasm-guest-tests: the OOM killer may run now";
/// What the guest writes before each test and after an OOM window.
const GUEST_MARK: &str = "kwasm-guest-tests: ";

/// Whether `line`, in a stretch of log where an OOM kill may be expected,
/// is a problem.
fn is_problem_in(line: &str, oom_expected: bool) -> bool {
    if oom_expected {
        matches_problem(line, &["Call Trace"])
    } else {
        is_problem(line)
    }
}

fn parse_test(rest: &str) -> Option<TestMarker> {
    let mut words = rest.trim().splitn(3, ' ');
    let name = words.next().filter(|n| !n.is_empty())?.to_string();
    let outcome = match (words.next()?, words.next()) {
        ("PASS", None) => Outcome::Pass,
        ("FAIL", reason) => Outcome::Fail(reason.unwrap_or("(no reason given)").trim().to_string()),
        _ => return None,
    };
    Some(TestMarker { name, outcome })
}

/// Kernel log lines shown from the first problem on: enough for a call trace.
const PROBLEM_CONTEXT_LINES: usize = 40;

/// Judges one boot. `serial` is the ttyS0 log, `kernel_console` the ttyS1 log
/// (may be empty), `timed_out` whether the host killed QEMU.
pub fn analyze(serial: &str, kernel_console: &str, timed_out: bool) -> Verdict {
    let mut v = Verdict {
        timed_out,
        ..Verdict::default()
    };
    let mut in_dmesg = false;
    let mut in_guest = false;
    let mut kernel_lines: Vec<&str> = vec![];
    for raw in serial.lines() {
        let line = raw.trim_end_matches('\r');
        if in_dmesg {
            if line.trim() == DMESG_END {
                in_dmesg = false;
                v.dmesg_complete = true;
            } else {
                kernel_lines.push(line);
            }
            continue;
        }
        let trimmed = line.trim();
        if trimmed == START {
            v.started = true;
            in_guest = true;
        } else if let Some(rest) = trimmed.strip_prefix(EXIT) {
            v.exit_status = rest.trim().parse().ok();
            in_guest = false;
        } else if trimmed == DMESG_BEGIN {
            in_dmesg = true;
        } else if let Some(rest) = trimmed.strip_prefix(TAINT) {
            v.taint = rest.trim().parse().ok();
        } else if let Some(rest) = trimmed.strip_prefix(TEST) {
            match parse_test(rest) {
                Some(t) => v.tests.push(t),
                None => v.bad_test_lines.push(trimmed.to_string()),
            }
        } else if in_guest {
            v.guest_output.push(line.to_string());
        }
    }
    // The dmesg dump, then the console: each in order, each its own log.
    let console_from = kernel_lines.len();
    kernel_lines.extend(kernel_console.lines().map(|l| l.trim_end_matches('\r')));
    let mut oom_expected = false;
    for (i, line) in kernel_lines.iter().enumerate() {
        let msg = strip_timestamp(line);
        if i == console_from {
            oom_expected = false;
        }
        if msg.contains(OOM_EXPECTED) {
            oom_expected = true;
        } else if msg.contains(GUEST_MARK) {
            oom_expected = false;
        }
        if is_problem_in(msg, oom_expected) && !v.kernel_problems.iter().any(|p| p == msg) {
            if v.kernel_problems.is_empty() {
                v.kernel_problem_context = kernel_lines[i..]
                    .iter()
                    .take(PROBLEM_CONTEXT_LINES)
                    .map(|l| l.to_string())
                    .collect();
            }
            v.kernel_problems.push(msg.to_string());
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(guest: &str, dmesg: &str, taint: u64) -> String {
        format!("{START}\r\n{guest}{EXIT} 0\r\n{DMESG_BEGIN}\r\n{dmesg}{DMESG_END}\r\n{TAINT} {taint}\r\n")
    }

    const BOOT: &str = "[    0.000000] Linux version 6.12.117+deb12-amd64\n[    1.2] kwasm: loaded\n";

    #[test]
    fn a_vulnerable_cpu_model_is_not_a_problem() {
        let boot = "[    0.045951] RETBleed: WARNING: Spectre v2 mitigation leaves CPU vulnerable to RETBleed attacks, data leaks possible!\n";
        let v = analyze(&log("", boot, 12288), boot, false);
        assert!(v.kernel_problems.is_empty(), "{:?}", v.kernel_problems);
        assert!(is_problem("WARNING: CPU: 1 PID: 7 at mm/vmalloc.c:3377"));
    }

    #[test]
    fn clean_run_passes_with_test_markers() {
        let serial = log(
            "hello\r\nKWASM-TEST wasi/args PASS\r\nKWASM-TEST traps/oob FAIL expected trap, got 3\r\n",
            BOOT,
            12288,
        );
        let v = analyze(&serial, BOOT, false);
        assert!(v.started && v.dmesg_complete);
        assert_eq!(v.exit_status, Some(0));
        assert_eq!(v.guest_output, ["hello"]);
        assert_eq!(
            v.tests,
            [
                TestMarker {
                    name: "wasi/args".into(),
                    outcome: Outcome::Pass
                },
                TestMarker {
                    name: "traps/oob".into(),
                    outcome: Outcome::Fail("expected trap, got 3".into())
                },
            ]
        );
        assert_eq!(v.guest_completed(), Ok(()));
        assert_eq!(v.kernel_log_clean(), Ok(()));
        assert!(!v.passed(), "a FAIL marker fails the run");
    }

    #[test]
    fn oops_in_dmesg_is_unclean_and_deduplicated_with_console() {
        let dmesg = "[   5.1] BUG: kernel NULL pointer dereference, address: 0000000000000000\n\
                     [   5.1] Oops: 0002 [#1] PREEMPT SMP NOPTI\n[   5.1] Call Trace:\n";
        let v = analyze(&log("", dmesg, 4096 | 128), dmesg, false);
        assert_eq!(v.kernel_problems.len(), 3, "{:?}", v.kernel_problems);
        assert_eq!(v.kernel_problems[1], "Oops: 0002 [#1] PREEMPT SMP NOPTI");
        let err = v.kernel_log_clean().unwrap_err();
        assert!(err.contains("3 problem line(s)") && err.contains("tainted D"), "{err}");
    }

    #[test]
    fn warn_taint_is_reported_by_letter() {
        let v = analyze(&log("", BOOT, 512 | 4096 | 8192), "", false);
        assert_eq!(v.kernel_log_clean().unwrap_err(), "kernel tainted W (12800)");
        assert_eq!(taint_letters(1 | 512 | 4096), "PWO");
    }

    #[test]
    fn expected_oom_report_is_no_problem() {
        let oom = "[ 9.1] kwasm-guest-tests: the OOM killer may run now\r\n\
                   [ 9.2] kwasm-guest-tes invoked oom-killer: gfp_mask=0x140dca\r\n\
                   [ 9.2] Call Trace:\r\n\
                   [ 9.3] Out of memory: Killed process 99 (kwasm)\r\n";
        let after = "[ 9.4] kwasm-guest-tests: the OOM killer is not expected any more\r\n";
        let v = analyze(&log("", &format!("{oom}{after}"), 0), "", false);
        assert!(v.kernel_problems.is_empty(), "{:?}", v.kernel_problems);
        // Anything else in the window still counts, and so does a call
        // trace after it.
        let v = analyze(&log("", &format!("{oom}[ 9.3] WARNING: at mm/x.c\r\n"), 0), "", false);
        assert_eq!(v.kernel_problems, ["WARNING: at mm/x.c"]);
        let v = analyze(&log("", &format!("{oom}{after}[ 9.5] Call Trace:\r\n"), 0), "", false);
        assert_eq!(v.kernel_problems, ["Call Trace:"]);
    }

    #[test]
    fn problem_seen_only_on_console_counts() {
        let console = "[  9.0] watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [kwasm:77]\n";
        let v = analyze(&log("", BOOT, 0), console, false);
        assert_eq!(
            v.kernel_problems,
            ["watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [kwasm:77]"]
        );
    }

    #[test]
    fn missing_markers_fail() {
        let v = analyze(
            "[    0.1] Linux version\nKernel panic - not syncing: no init found\n",
            "",
            false,
        );
        assert!(!v.started && !v.dmesg_complete && v.taint.is_none());
        assert!(v.guest_completed().unwrap_err().contains("never reached"));
        assert!(v.kernel_log_clean().is_err());

        let v = analyze(&format!("{START}\nsome output\n"), "", false);
        assert!(v.guest_completed().unwrap_err().contains("never finished"));
    }

    #[test]
    fn timeout_and_nonzero_exit_fail() {
        let v = analyze(&format!("{START}\nKWASM-TEST slow PASS\n"), "", true);
        assert!(v.guest_completed().unwrap_err().contains("timed out"));
        assert!(!v.passed());

        let serial = log("", BOOT, 0).replace(&format!("{EXIT} 0"), &format!("{EXIT} 3"));
        let v = analyze(&serial, "", false);
        assert_eq!(v.guest_completed().unwrap_err(), "guest command exited with status 3");
    }

    #[test]
    fn malformed_test_marker_is_kept_as_failure() {
        let v = analyze(&log("KWASM-TEST onlyname\r\n", BOOT, 0), "", false);
        assert_eq!(v.bad_test_lines, ["KWASM-TEST onlyname"]);
        assert!(!v.passed());
    }
}
