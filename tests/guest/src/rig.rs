//! Checks of the test rig itself, before anything of kwasm runs: the
//! emulated CPU must execute what the kernel relies on correctly, or a
//! kernel crash in a later test says nothing about kwasm.

use crate::Test;
use core::arch::x86_64::__cpuid;

pub const TESTS: &[Test] = &[("rig-cmpxchg16b", cmpxchg16b), ("rig-sched-clock", sched_clock)];

/// What the kernel logs when it live-patches `sched_clock`'s static branch.
const SCHED_CLOCK_STABLE: &str = "sched_clock: Marking stable";

/// The kernel must not have marked `sched_clock` stable. Doing so patches
/// a static branch that the other vCPU runs, and QEMU's multi-threaded TCG
/// can then execute the patch's transient `int3` after the kernel stopped
/// expecting it: `Oops: int3` in `sched_clock_cpu`, 2 s into a 6.12 boot,
/// before anything of kwasm runs. The rig boots with `tsc=unstable`
/// (`xtask::guest::RIG_CMDLINE`), which keeps the kernel from ever making
/// that flip (docs/reliability.md).
fn sched_clock() -> Result<(), String> {
    let out = std::process::Command::new("dmesg")
        .output()
        .map_err(|e| format!("dmesg: {e}"))?;
    let log = String::from_utf8_lossy(&out.stdout);
    if let Some(line) = log.lines().find(|l| l.contains(SCHED_CLOCK_STABLE)) {
        return Err(format!(
            "the kernel marked sched_clock stable ({}): it live-patched a static branch the other vCPU runs, \
             which the emulator can turn into an int3 Oops; boot the rig with tsc=unstable",
            line.trim()
        ));
    }
    let tsc = log
        .lines()
        .find(|l| l.contains("TSC unstable") || l.contains("TSCs unsynchronized"));
    println!(
        "rig: sched_clock never marked stable ({})",
        tsc.map_or("the kernel did not say why", str::trim)
    );
    Ok(())
}

/// EFLAGS.ZF, the only flag `cmpxchg16b` may change.
const ZF: u64 = 1 << 6;

/// `cmpxchg16b` must leave every flag but ZF as it was (Intel SDM). QEMU
/// 7.2's TCG computes them from a stale condition-code state instead, which
/// can put a register's value, system bits included, into EFLAGS; Linux's
/// SLUB runs the instruction on every fast-path allocation. The rig hides
/// the feature from the guest (`xtask::guest::CPU`); with it visible this
/// test shows whether the emulator gets it right (docs/reliability.md).
fn cmpxchg16b() -> Result<(), String> {
    if __cpuid(1).ecx & (1 << 13) == 0 {
        println!("rig: the guest CPU has no CMPXCHG16B; the kernel emulates it and never executes the instruction");
        return Ok(());
    }
    let traps = interrupt_frames()?;
    let mut wrong = Vec::new();
    for i in 0..1000u64 {
        let (expected, got, clobbered) = probe(2 + i);
        if got != expected || clobbered != expected {
            wrong.push(format!("#{i}: {got:#x} and {clobbered:#x}, expected {expected:#x}"));
        }
    }
    if wrong.is_empty() && traps == 0 {
        println!("rig: cmpxchg16b kept the flags in 1000 of 1000 runs, and no interrupt frame carried a trap flag");
        Ok(())
    } else {
        Err(format!(
            "the emulated CPU's cmpxchg16b changed flags besides ZF in {} of 1000 runs (first: {}), and \
             {traps} interrupts taken right after it returned with the trap flag set that a register held: \
             an emulator defect that corrupts EFLAGS, the kernel's too; run the rig with CMPXCHG16B hidden",
            wrong.len(),
            wrong.first().map_or("-", String::as_str)
        ))
    }
}

/// One successful `cmpxchg16b` after a `cmp` that borrows, twice: once with
/// the emulator's condition codes last stored by a `test`, once by a
/// `popfq` (where a stale state makes EFLAGS a register's value). Returns
/// the flags the `cmp` gave with ZF set, and the flags after each exchange.
fn probe(b: u64) -> (u64, u64, u64) {
    #[repr(C, align(16))]
    struct Pair([u64; 2]);
    let mut pair = Pair([5, 6]);
    let (cmp_flags, after_test, after_popf): (u64, u64, u64);
    // SAFETY: `pair` is 16-byte aligned and lives across the asm; rbx
    // (which cmpxchg16b needs and LLVM reserves) is saved and restored, and
    // every operand has an explicit register so none is rbx; every other
    // register written is an output or clobber; the pushes are popped.
    unsafe {
        core::arch::asm!(
            "push rbx",
            "mov rbx, 7",
            "mov rcx, 8",
            // QEMU stores its condition-code op at the pushfq.
            "test rax, rax",
            "pushfq",
            "pop r10",
            "mov rax, 5",
            "mov rdx, 6",
            "cmp r8, r9",
            "cmpxchg16b xmmword ptr [rsi]",
            "pushfq",
            "pop r11",
            // Again, after a popfq (QEMU: the flags are in CC_SRC).
            "mov qword ptr [rsi], 5",
            "mov qword ptr [rsi + 8], 6",
            "pushfq",
            "popfq",
            "mov rax, 5",
            "mov rdx, 6",
            "cmp r8, r9",
            "cmpxchg16b xmmword ptr [rsi]",
            "pushfq",
            "pop rdi",
            // The flags this cmp really gives.
            "cmp r8, r9",
            "pushfq",
            "pop r10",
            "pop rbx",
            in("r8") 1u64,
            in("r9") b,
            in("rsi") pair.0.as_mut_ptr(),
            out("r10") cmp_flags,
            out("r11") after_test,
            out("rdi") after_popf,
            out("rax") _,
            out("rcx") _,
            out("rdx") _,
        );
    }
    (cmp_flags | ZF, after_test, after_popf)
}

/// EFLAGS.TF.
const TF: u64 = 1 << 8;

/// Single-step traps the loop below took.
static TRAPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// EFLAGS of the context the last SIGALRM interrupted.
static ALARM_FLAGS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static ALARMS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

static LOOP_AT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

extern "C" fn on_alarm(_: libc::c_int, _: *mut libc::siginfo_t, context: *mut libc::c_void) {
    // SAFETY: the kernel passes the interrupted context.
    let regs = unsafe { (*(context as *mut libc::ucontext_t)).uc_mcontext.gregs };
    if regs[libc::REG_RIP as usize] as u64 == LOOP_AT.load(std::sync::atomic::Ordering::Relaxed) {
        ALARMS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ALARM_FLAGS.fetch_or(
            regs[libc::REG_EFL as usize] as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

extern "C" fn on_trap(_: libc::c_int, _: *mut libc::siginfo_t, context: *mut libc::c_void) {
    TRAPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    // SAFETY: the kernel passes the interrupted context; clearing TF there
    // lets the loop go on untraced.
    unsafe { (*(context as *mut libc::ucontext_t)).uc_mcontext.gregs[libc::REG_EFL as usize] &= !(TF as i64) };
}

/// What an interrupt sees right after `cmpxchg16b`: a `cmpxchg16b` whose
/// emulated flags come from a register holding TF, then a stretch of
/// `loop` (which sets no flags, and where the emulator takes interrupts)
/// for the timer to land in, for up to two seconds. A CPU pushes the real
/// EFLAGS on the interrupt and IRET restores them; with the emulator
/// defect the frame carries the register's TF, IRET sets it, and this
/// process gets SIGTRAP. Returns how many it got.
fn interrupt_frames() -> Result<usize, String> {
    // SAFETY: installs a handler that only counts and edits the context
    // it is given; restored below.
    let mut old: libc::sigaction = unsafe { core::mem::zeroed() };
    unsafe {
        let mut sa: libc::sigaction = core::mem::zeroed();
        sa.sa_sigaction = on_trap as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        if libc::sigaction(libc::SIGTRAP, &sa, &mut old) != 0 {
            return Err("cannot install a SIGTRAP handler".into());
        }
        sa.sa_sigaction = on_alarm as *const () as usize;
        libc::sigaction(libc::SIGALRM, &sa, core::ptr::null_mut());
        let tick = libc::timeval {
            tv_sec: 0,
            tv_usec: 1000,
        };
        let timer = libc::itimerval {
            it_interval: tick,
            it_value: tick,
        };
        libc::setitimer(libc::ITIMER_REAL, &timer, core::ptr::null_mut());
    }
    #[repr(C, align(16))]
    struct Pair([u64; 2]);
    let mut pair = Pair([5, 6]);
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(2) && TRAPS.load(std::sync::atomic::Ordering::Relaxed) == 0 {
        for _ in 0..100 {
            pair.0 = [5, 6];
            // SAFETY: as in `probe`; rcx counts the `loop` down to 0.
            unsafe {
                core::arch::asm!(
                    "push rbx",
                    "mov rbx, 7",
                    "pushfq",
                    "popfq",
                    "mov rax, 5",
                    "mov rdx, 6",
                    "add r8, r9",
                    "mov rcx, 8",
                    "cmpxchg16b xmmword ptr [rsi]",
                    "lea r10, [rip + 2f]",
                    "mov qword ptr [rdi], r10",
                    "mov rcx, 20000",
                    "2:",
                    "loop 2b",
                    "pop rbx",
                    inout("r8") 0u64 => _,
                    in("r9") TF,
                    in("rsi") pair.0.as_mut_ptr(),
                    in("rdi") LOOP_AT.as_ptr(),
                    out("r10") _,
                    out("rax") _,
                    out("rcx") _,
                    out("rdx") _,
                );
            }
        }
    }
    // SAFETY: stops the timer, puts back the handlers found above.
    unsafe {
        libc::setitimer(libc::ITIMER_REAL, &core::mem::zeroed(), core::ptr::null_mut());
        libc::signal(libc::SIGALRM, libc::SIG_DFL);
        libc::sigaction(libc::SIGTRAP, &old, core::ptr::null_mut());
    }
    println!(
        "rig: {} timer signals landed right after cmpxchg16b; the EFLAGS bits they saw: {:#x}",
        ALARMS.load(std::sync::atomic::Ordering::Relaxed),
        ALARM_FLAGS.load(std::sync::atomic::Ordering::Relaxed)
    );
    Ok(TRAPS.load(std::sync::atomic::Ordering::Relaxed))
}
