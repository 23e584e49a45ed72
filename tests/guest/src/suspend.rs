//! A run behaves like a process: stop signals, the cgroup freezer, the
//! kernel's suspend freezer and ptrace suspend a program, which then
//! carries on where it was — computing, asleep in `poll_oneoff`, blocked
//! reading a pipe, serving connections — with the output and exit status
//! of an undisturbed run. A program killed while stopped leaves nothing
//! behind. Each test also checks that the module really parked the run
//! (`kwasm ps` said "stopped"), so it cannot pass by the program ending
//! before it was disturbed.

use crate::cgroup::Cgroup;
use crate::kmem::{back_to_baseline, kernel_memory, TOLERANCE_KIB};
use crate::{expect, Test};
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const EXAMPLES: &str = "/share/kwasm/examples";
const WAT: &str = "/share/kwasm/tests";
/// How long a disturbed program may take to show it (stop, freeze).
const SETTLE: Duration = Duration::from_secs(10);
/// How long a program may take to start running in the kernel: the first
/// run of each program compiles it, in user space, under the emulator.
const STARTUP: Duration = Duration::from_secs(180);
const ENGINES: [&str; 2] = ["native", "pulley"];

pub const TESTS: &[Test] = &[
    ("suspend-stop-continue", stop_continue),
    ("suspend-cgroup-freeze", cgroup_freeze),
    ("suspend-blocking-waits", blocking_waits),
    ("suspend-ptrace", ptrace),
    ("suspend-invoke", invoke),
    ("suspend-signal-handler", signal_handler),
    ("suspend-signal-storm", signal_storm),
    ("suspend-system-freezer", system_freezer),
    ("suspend-killed-while-stopped", killed_while_stopped),
];

/// The compute program's arguments: a few seconds of work on each engine.
fn compute_args(engine: &str) -> Vec<String> {
    let words = if engine == "native" { "600000" } else { "24000" };
    ["--mib", "4", "--words", words, "--seed", "7"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// What the compute program prints under Wasmtime in user space.
fn compute_reference(engine: &str) -> Result<Output, String> {
    Command::new("kwasm-reference")
        .arg(format!("{EXAMPLES}/stress.wasm"))
        .args(compute_args(engine))
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run kwasm-reference: {e}"))
}

/// Starts `kwasm run` in a process group of its own: the test's own group
/// (the guest's init's) is orphaned, and the kernel discards SIGTSTP sent
/// to an orphaned group instead of stopping it.
fn spawn(engine: &str, program: &str, args: &[String], stdin: Stdio) -> Result<Child, String> {
    Command::new("kwasm")
        .process_group(0)
        .args(["run", "--engine", engine, program])
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run kwasm: {e}"))
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: signalling our own child process.
    unsafe { libc::kill(child.id() as i32, sig) };
}

/// `kwasm ps` shows this pid as stopped.
fn listed_stopped(pid: u32) -> bool {
    let Ok(out) = Command::new("kwasm").arg("ps").output() else {
        return false;
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .any(|l| l.split_whitespace().next() == Some(&pid.to_string()) && l.contains("stopped"))
}

/// The process's state letter in /proc (`T` stopped, `t` traced).
fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// Waits until `done` holds (polling), or fails saying `what` did not
/// happen; also fails if the child ended meanwhile.
fn wait_for(child: &mut Child, what: &str, done: impl FnMut() -> bool) -> Result<(), String> {
    wait_up_to(SETTLE, child, what, done)
}

fn wait_up_to(limit: Duration, child: &mut Child, what: &str, mut done: impl FnMut() -> bool) -> Result<(), String> {
    let start = Instant::now();
    loop {
        if done() {
            return Ok(());
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "the program ended ({status}) before {what}: it must run longer"
            ));
        }
        if start.elapsed() > limit {
            let pid = child.id();
            let ps = Command::new("kwasm")
                .arg("ps")
                .output()
                .map(|o| o.stdout)
                .unwrap_or_default();
            return Err(format!(
                "{what} did not happen within {limit:?}: /proc state {:?}, kwasm ps: {}",
                proc_state(pid),
                String::from_utf8_lossy(&ps).replace('\n', " | ")
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts a program and waits until it runs in the kernel (compiled and
/// loaded), so what comes next disturbs the run itself.
fn start(engine: &str, program: &str, args: &[String], stdin: Stdio) -> Result<Child, String> {
    let mut child = spawn(engine, program, args, stdin)?;
    wait_running(&mut child, &format!("{engine} {program}"))?;
    Ok(child)
}

/// Starts the compute program ([`compute_args`]) running in the kernel.
fn start_compute(engine: &str) -> Result<Child, String> {
    start(
        engine,
        &format!("{EXAMPLES}/stress.wasm"),
        &compute_args(engine),
        Stdio::null(),
    )
}

/// Waits until `kwasm ps` lists the child running.
fn wait_running(child: &mut Child, what: &str) -> Result<(), String> {
    let pid = child.id().to_string();
    wait_up_to(STARTUP, child, &format!("{what} running"), || {
        Command::new("kwasm").arg("ps").output().is_ok_and(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.split_whitespace().next() == Some(pid.as_str()) && l.contains("running"))
        })
    })
}

/// The program's output must be what an undisturbed run gives.
fn finish(child: Child, expected: &Output, what: &str) -> Result<(), String> {
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    expect(
        out.status.code() == expected.status.code() && out.stdout == expected.stdout,
        || {
            format!(
                "{what}: ended {} with {} bytes of output (an undisturbed run: {} with {} bytes); stderr: {}",
                out.status,
                out.stdout.len(),
                expected.status,
                expected.stdout.len(),
                String::from_utf8_lossy(&out.stderr).trim()
            )
        },
    )
}

/// SIGSTOP/SIGCONT three times, then SIGTSTP/SIGCONT (Ctrl-Z and `fg`),
/// while the program computes; at least two of them must land before it
/// ends (how long it computes depends on the machine).
fn stop_continue() -> Result<(), String> {
    for engine in ENGINES {
        let expected = compute_reference(engine)?;
        let mut child = start_compute(engine)?;
        let pid = child.id();
        let mut stops = 0;
        for (round, stop) in [libc::SIGSTOP, libc::SIGTSTP, libc::SIGSTOP, libc::SIGSTOP]
            .into_iter()
            .enumerate()
        {
            if child.try_wait().map_err(|e| e.to_string())?.is_some() {
                break;
            }
            signal(&child, stop);
            let what = format!("{engine}: stop {round}: the process stopped and kwasm ps said so");
            let stopped = wait_for(&mut child, &what, || {
                proc_state(pid) == Some('T') && listed_stopped(pid)
            });
            signal(&child, libc::SIGCONT);
            match stopped {
                Ok(()) => stops += 1,
                // It finished just before the signal could stop it.
                Err(_) if child.try_wait().is_ok_and(|s| s.is_some()) => break,
                Err(e) => return Err(e),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        expect(stops >= 2, || {
            format!("{engine}: only {stops} stops landed before the program ended: it must run longer")
        })?;
        finish(
            child,
            &expected,
            &format!("{engine}, stopped and continued {stops} times"),
        )?;
    }
    Ok(())
}


/// What `docker pause`, `systemctl freeze` and Kubernetes do: the cgroup
/// freezer, during compute and during a 3 s sleep; the sleep lasts its
/// 3 s and no more than it must (the frozen second included).
fn cgroup_freeze() -> Result<(), String> {
    for engine in ENGINES {
        let expected = compute_reference(engine)?;
        let mut child = start_compute(engine)?;
        let pid = child.id();
        let group = Cgroup::new("kwasm-freeze", pid)?;
        group.freeze(true)?;
        let frozen = wait_for(&mut child, &format!("{engine}: the computing program froze"), || {
            group.frozen() && listed_stopped(pid)
        });
        std::thread::sleep(Duration::from_millis(300));
        group.freeze(false)?;
        frozen?;
        drop(group);
        finish(child, &expected, &format!("{engine}, computing, frozen and thawed"))?;

        let started = Instant::now();
        let mut child = start(engine, &format!("{WAT}/sleep.wat"), &[], Stdio::null())?;
        let pid = child.id();
        std::thread::sleep(Duration::from_millis(500));
        let group = Cgroup::new("kwasm-freeze", pid)?;
        group.freeze(true)?;
        let frozen = wait_for(&mut child, &format!("{engine}: the sleeping program froze"), || {
            group.frozen() && listed_stopped(pid)
        });
        std::thread::sleep(Duration::from_millis(1000));
        group.freeze(false)?;
        frozen?;
        drop(group);
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        let took = started.elapsed();
        expect(out.status.success() && out.stdout == b"slept\n", || {
            format!(
                "{engine}: the sleeper, frozen and thawed, ended {} with stdout {:?}, stderr {:?}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
        expect(took >= Duration::from_secs(3), || {
            format!("{engine}: a 3 s sleep, frozen and thawed, ended after {took:?}")
        })?;
    }
    Ok(())
}

/// Stopped while blocked in the kernel: reading an empty pipe (then it
/// gets its data and copies it), and an echo server waiting for a client
/// (then it serves it).
fn blocking_waits() -> Result<(), String> {
    for engine in ENGINES {
        let mut child = start(engine, &format!("{WAT}/cat.wat"), &[], Stdio::piped())?;
        let pid = child.id();
        std::thread::sleep(Duration::from_millis(300));
        for round in 0..2 {
            signal(&child, libc::SIGSTOP);
            let what = format!("{engine}: cat blocked on a pipe stopped ({round})");
            let stopped = wait_for(&mut child, &what, || {
                proc_state(pid) == Some('T') && listed_stopped(pid)
            });
            signal(&child, libc::SIGCONT);
            stopped?;
            std::thread::sleep(Duration::from_millis(300));
        }
        let mut stdin = child.stdin.take().ok_or("no stdin pipe")?;
        stdin.write_all(b"after the stops\n").map_err(|e| e.to_string())?;
        drop(stdin);
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        expect(out.status.success() && out.stdout == b"after the stops\n", || {
            format!(
                "{engine}: cat, stopped while reading, ended {} with stdout {:?}, stderr {:?}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;

        let addr = format!("127.0.0.1:{}", if engine == "native" { 7811 } else { 7812 });
        let mut server = crate::net::server(engine, &addr, &["1"])?;
        let pid = server.id();
        wait_running(&mut server, &format!("{engine} echo server"))?;
        std::thread::sleep(Duration::from_millis(300));
        signal(&server, libc::SIGSTOP);
        let stopped = wait_for(
            &mut server,
            &format!("{engine}: the waiting echo server stopped"),
            || proc_state(pid) == Some('T') && listed_stopped(pid),
        );
        signal(&server, libc::SIGCONT);
        stopped?;
        let served = crate::net::round_trip(&addr, 1);
        let out = server.wait_with_output().map_err(|e| e.to_string())?;
        served.map_err(|e| format!("{engine}: the echo server, stopped and continued: {e}"))?;
        expect(out.status.success(), || {
            format!("{engine}: the echo server, stopped and continued, ended {}", out.status)
        })?;
    }
    Ok(())
}

/// A tracer seizes the running program, interrupts it, reads its state
/// and detaches; the program carries on.
fn ptrace() -> Result<(), String> {
    for engine in ENGINES {
        let expected = compute_reference(engine)?;
        let child = start_compute(engine)?;
        let pid = child.id() as i32;
        // SAFETY: ptrace and waitpid on our own child, with no pointers
        // but the status word.
        let traced = unsafe {
            let seized = libc::ptrace(libc::PTRACE_SEIZE, pid, 0, 0) == 0;
            let interrupted = seized && libc::ptrace(libc::PTRACE_INTERRUPT, pid, 0, 0) == 0;
            let mut status = 0;
            let stopped =
                interrupted && libc::waitpid(pid, &mut status, libc::__WALL) == pid && libc::WIFSTOPPED(status);
            (seized, stopped)
        };
        let state = proc_state(pid as u32);
        let listed = listed_stopped(pid as u32);
        // SAFETY: as above; detaching resumes the tracee.
        let detached = unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0) == 0 };
        expect(
            traced == (true, true) && state == Some('t') && listed && detached,
            || {
                format!(
                "{engine}: seized/stopped {traced:?}, /proc state {state:?}, kwasm ps said stopped: {listed}, detached: {detached}"
            )
            },
        )?;
        finish(child, &expected, &format!("{engine}, traced and released"))?;
    }
    Ok(())
}

/// `--invoke` (a call in a session) is stopped and continued like a run.
fn invoke() -> Result<(), String> {
    for (engine, n) in [("native", 100_000_000u64), ("pulley", 3_000_000)] {
        let n_arg = n.to_string();
        let args = [
            "--invoke".to_string(),
            "f64_loop".into(),
            format!("{WAT}/float.wat"),
            n_arg,
        ];
        let mut child = Command::new("kwasm")
            .process_group(0)
            .args(["run", "--engine", engine])
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run kwasm: {e}"))?;
        wait_running(&mut child, &format!("{engine} --invoke f64_loop"))?;
        let pid = child.id();
        for round in 0..2 {
            signal(&child, libc::SIGTSTP);
            let what = format!("{engine}: --invoke stopped ({round})");
            let stopped = wait_for(&mut child, &what, || {
                proc_state(pid) == Some('T') && listed_stopped(pid)
            });
            signal(&child, libc::SIGCONT);
            stopped?;
            std::thread::sleep(Duration::from_millis(200));
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        let printed = String::from_utf8_lossy(&out.stdout);
        expect(out.status.success() && printed.trim() == (n / 2).to_string(), || {
            format!(
                "{engine}: --invoke f64_loop {n}, stopped and continued, ended {} printing {:?} (stderr {:?})",
                out.status,
                printed.trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            )
        })?;
    }
    Ok(())
}

/// Counts SIGUSR1 deliveries for [`usr1_during_run`].
static HANDLED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

extern "C" fn on_usr1(_: libc::c_int) {
    HANDLED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// A command that counts to 300 million and exits with 7.
const COUNT_AND_EXIT: &str = r#"(module
  (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
  (memory (export "memory") 1)
  (func (export "_start")
    (local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 300000000))))
    (call $exit (i32.const 7))))"#;

/// A signal the calling process has a handler for — installed without
/// SA_RESTART — arrives again and again during a RUN (made here, not by
/// `kwasm`, which installs no handlers): each time the handler runs and
/// the run carries on; the one ioctl returns the program's own exit.
fn signal_handler() -> Result<(), String> {
    usr1_during_run(1, Some(Duration::from_millis(100)))
}

/// The same with two threads sending the signal as fast as they can: the
/// run's yield points find a signal pending nearly every time and take
/// the task's signal lock while the senders hold it (on PREEMPT_RT a
/// sleeping lock, which the module must not take with preemption off).
fn signal_storm() -> Result<(), String> {
    usr1_during_run(2, None)
}

/// Runs a counting program with `senders` threads signalling the running
/// thread with SIGUSR1, each pausing `interval` between signals (or not at
/// all).
fn usr1_during_run(senders: usize, interval: Option<Duration>) -> Result<(), String> {
    use kwasm_abi::{ioctl, Outcome, RunRequest, UserBuf};
    use std::sync::atomic::{AtomicBool, Ordering};
    let settings = kwasm_engine::Settings::native(false, kwasm_engine::REQUIRED_CPU_FEATURES);
    let image = crate::raw::compile(&settings, COUNT_AND_EXIT);
    let dev = crate::raw::RawDevice::open().map_err(|e| format!("open: errno {e}"))?;
    let args = b"handled\0".to_vec();
    let mut message = vec![0u8; 512];
    let mut r = RunRequest::new();
    r.engine = settings.spec();
    r.image = crate::raw::buf(&image);
    r.wasi.args = crate::raw::buf(&args);
    r.wasi.args_count = 1;
    r.reply.message = UserBuf {
        ptr: message.as_mut_ptr() as u64,
        len: message.len() as u64,
    };
    // SAFETY: installs a handler that only bumps an atomic (async-signal
    // safe), with no SA_RESTART; restored below.
    let old = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_usr1 as extern "C" fn(libc::c_int) as usize;
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGUSR1, &action, &mut old);
        old
    };
    HANDLED.store(0, Ordering::Relaxed);
    let done = AtomicBool::new(false);
    // SAFETY: gettid/getpid have no memory effects.
    let (pid, tid) = unsafe { (libc::getpid(), libc::gettid()) };
    let (got, signals) = std::thread::scope(|s| {
        let senders: Vec<_> = (0..senders)
            .map(|_| {
                s.spawn(|| {
                    let mut sent = 0;
                    while !done.load(Ordering::Relaxed) {
                        if let Some(interval) = interval {
                            std::thread::sleep(interval);
                        }
                        // SAFETY: signals this test's own thread.
                        unsafe { libc::syscall(libc::SYS_tgkill, pid, tid, libc::SIGUSR1) };
                        sent += 1;
                    }
                    sent
                })
            })
            .collect();
        let got = dev.ioctl(ioctl::RUN, &mut r as *mut RunRequest as usize);
        done.store(true, Ordering::Relaxed);
        (got, senders.into_iter().map(|t| t.join().unwrap_or(0)).sum::<usize>())
    });
    // SAFETY: puts back the disposition saved above.
    unsafe { libc::sigaction(libc::SIGUSR1, &old, std::ptr::null_mut()) };
    let handled = HANDLED.load(Ordering::Relaxed);
    expect(
        got == Ok(()) && r.reply.outcome == Outcome::Exited as u32 && r.reply.exit_code == 7 && handled >= 3,
        || {
            format!(
                "ioctl {got:?}, outcome {} exit {} ({:?}); {handled} of {signals} signals handled",
                r.reply.outcome,
                r.reply.exit_code,
                String::from_utf8_lossy(&message[..r.reply.message_len as usize])
            )
        },
    )
}

/// The kernel's suspend freezer, without suspending (`pm_test=freezer`:
/// freeze every user task, wait, thaw), with a computing and a sleeping
/// program running: both survive and the freeze succeeds.
fn system_freezer() -> Result<(), String> {
    let engine = "native";
    let expected = compute_reference(engine)?;
    let started = Instant::now();
    let computing = start_compute(engine)?;
    let sleeping = start(engine, &format!("{WAT}/sleep.wat"), &[], Stdio::null())?;
    // The test level holds the freeze for pm_test_delay seconds in mdelay()
    // (5 by default), longer than the rig's soft-lockup threshold (4 s).
    let delay = "/sys/module/suspend/parameters/pm_test_delay";
    let old_delay = std::fs::read_to_string(delay).unwrap_or_else(|_| "5".into());
    std::fs::write(delay, "1").map_err(|e| format!("{delay}: {e}"))?;
    std::fs::write("/sys/power/pm_test", "freezer").map_err(|e| format!("/sys/power/pm_test: {e}"))?;
    let suspended = std::fs::write("/sys/power/state", "freeze");
    let _ = std::fs::write("/sys/power/pm_test", "none");
    let _ = std::fs::write(delay, old_delay.trim());
    suspended.map_err(|e| format!("writing `freeze` to /sys/power/state (pm_test=freezer): {e}"))?;
    let log = Command::new("dmesg").output().map_err(|e| e.to_string())?;
    let log = String::from_utf8_lossy(&log.stdout);
    expect(log.contains("Freezing user space processes"), || {
        "the kernel log does not show the freezer at work".into()
    })?;
    expect(!log.contains("Freezing of tasks failed"), || {
        "the kernel log says freezing tasks failed".into()
    })?;
    finish(computing, &expected, "computing through a system freeze")?;
    let out = sleeping.wait_with_output().map_err(|e| e.to_string())?;
    let took = started.elapsed();
    expect(
        out.status.success() && out.stdout == b"slept\n" && took >= Duration::from_secs(3),
        || {
            format!(
                "the sleeper, through a system freeze, ended {} after {took:?} with stdout {:?}",
                out.status,
                String::from_utf8_lossy(&out.stdout)
            )
        },
    )
}

/// SIGKILL while stopped (and so parked) ends the program at once, as
/// SIGTERM does a running one (a signal that ends the process still ends
/// the run within a tick); neither leaves an instance or memory behind.
fn killed_while_stopped() -> Result<(), String> {
    // Warm the compile cache and Wasmtime's lazily built state first.
    let _ = spawn("native", &format!("{WAT}/sleep.wat"), &[], Stdio::null())?.wait_with_output();
    let before = kernel_memory()?;
    for engine in ENGINES {
        for program in [format!("{EXAMPLES}/stress.wasm"), format!("{WAT}/sleep.wat")] {
            let args = if program.ends_with(".wasm") {
                compute_args(engine)
            } else {
                Vec::new()
            };
            let mut child = start(engine, &program, &args, Stdio::null())?;
            let pid = child.id();
            signal(&child, libc::SIGSTOP);
            wait_for(&mut child, &format!("{engine} {program} stopped"), || {
                listed_stopped(pid)
            })?;
            signal(&child, libc::SIGKILL);
            let killed = Instant::now();
            let status = child.wait().map_err(|e| e.to_string())?;
            expect(status.code().is_none() && killed.elapsed() < SETTLE, || {
                format!(
                    "{engine} {program}, killed while stopped: {status} after {:?}",
                    killed.elapsed()
                )
            })?;
        }
    }
    for engine in ENGINES {
        let mut child = start_compute(engine)?;
        signal(&child, libc::SIGTERM);
        let sent = Instant::now();
        let status = child.wait().map_err(|e| e.to_string())?;
        use std::os::unix::process::ExitStatusExt;
        expect(
            status.signal() == Some(libc::SIGTERM) && sent.elapsed() < SETTLE,
            || format!("{engine}: SIGTERM while computing: {status} after {:?}", sent.elapsed()),
        )?;
    }
    back_to_baseline("after killing stopped programs", &before, TOLERANCE_KIB).map(|_| ())
}
