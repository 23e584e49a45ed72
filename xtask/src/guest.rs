//! The guest: static binaries, the initramfs, and booting it in QEMU.

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::cpio::Archive;
use crate::kernels::{Kernel, KernelLine};
use crate::paths::Paths;
use crate::verdict::{self, Verdict};
use crate::{examples, module, process, setup, spec, wasi_corpus, BootArgs};

pub const MUSL: &str = "x86_64-unknown-linux-musl";
const BUSYBOX: &str = "/bin/busybox";
/// The guest machine: QEMU's `-m` and `-smp`.
pub const MEMORY: &str = "1G";
pub const VCPUS: &str = "2";
/// The guest CPU: QEMU's `max`, without CMPXCHG16B. QEMU 7.2's TCG (what
/// Debian 12 ships) computes the flags of `cmpxchg16b` from a stale
/// condition-code state: every flag but ZF comes out wrong, and when the
/// stale state says "flags are in CC_SRC" they are a register's value,
/// system bits (IF, TF, NT, AC, VM, ...) included. An interrupt taken right
/// after the instruction pushes those bits and its IRET loads them. Linux
/// runs `cmpxchg16b` on every SLUB fast-path allocation; this is what
/// double-faulted 6.12 guests in `kmalloc` (docs/reliability.md). Without
/// the feature the kernel uses its own emulation (pushf/cli/popf) and never
/// executes the instruction; the guest test `rig-cmpxchg16b` checks it.
pub const CPU: &str = "max,cx16=off";

/// Kernel parameters every boot gets, for the emulator's sake.
/// `tsc=unstable`: QEMU's multi-threaded TCG can run an `int3` the kernel
/// has already patched away when it live-patches code another vCPU is
/// executing (`text_poke_bp_batch`, for a static branch or static call),
/// and the kernel then dies with `Oops: int3` (seen in QEMU 7.2 and 10.0;
/// docs/reliability.md). The one such patch seen to kill a rig boot is
/// 6.12's `sched_clock` being marked stable 2 s into boot (and again if the
/// clocksource watchdog later gives up on the TSC under load); with the TSC
/// unstable from the start the kernel never makes that flip, as 6.1 on this
/// emulator already does by itself. The guest test `rig-sched-clock`
/// checks it. The few other runtime patches of a boot (once-keys, netfilter
/// hooks) stay exposed; `BootOptions::single_thread` closes the whole class.
pub const RIG_CMDLINE: &str = "tsc=unstable";

/// The guest's user-space programs, built static for musl.
pub struct GuestBinaries {
    pub kwasm: PathBuf,
    pub guest_tests: PathBuf,
    /// Wasmtime in user space: the differential test's reference.
    pub reference: PathBuf,
    /// The benchmark's client (bench/loadgen).
    pub loadgen: PathBuf,
}

impl GuestBinaries {
    fn at(paths: &Paths) -> GuestBinaries {
        let dir = paths.target.join(MUSL).join("release");
        GuestBinaries {
            kwasm: dir.join("kwasm"),
            guest_tests: dir.join("kwasm-guest-tests"),
            reference: dir.join("kwasm-reference"),
            loadgen: dir.join("kwasm-loadgen"),
        }
    }

    pub fn all(&self) -> [&PathBuf; 4] {
        [&self.kwasm, &self.guest_tests, &self.reference, &self.loadgen]
    }
}

/// [`build_binaries`], then the examples (wasm, and the benchmark's servers
/// natively) and the WASI corpus.
pub fn build_guest(paths: &Paths) -> Result<GuestBinaries> {
    let bins = build_binaries(paths)?;
    examples::build(paths)?;
    wasi_corpus::build(paths)?;
    Ok(bins)
}

/// `cargo build --release --target x86_64-unknown-linux-musl -p kwasm-cli
/// -p kwasm-guest-tests -p kwasm-reference -p kwasm-loadgen`: always the
/// four together (cargo unifies their dependencies' features, so building
/// one alone would build another `kwasm` and rebuild Wasmtime).
pub fn build_binaries(paths: &Paths) -> Result<GuestBinaries> {
    eprintln!("xtask: building guest binaries ({MUSL})");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    process::run(
        Command::new(cargo)
            .args([
                "build",
                "--release",
                "--target",
                MUSL,
                "-p",
                "kwasm-cli",
                "-p",
                "kwasm-guest-tests",
                "-p",
                "kwasm-reference",
                "-p",
                "kwasm-loadgen",
            ])
            .current_dir(&paths.repo),
    )
    .context("building the guest binaries failed (compiler output above)")?;
    let bins = GuestBinaries::at(paths);
    for b in bins.all() {
        if !b.is_file() {
            bail!("cargo built no {}: is the binary still named that way?", b.display());
        }
    }
    Ok(bins)
}

/// What the guest does after boot.
#[derive(Clone, Debug)]
pub enum GuestAction {
    /// Run this command (argv), then report.
    Command(Vec<String>),
    /// An interactive shell on the serial console, then report.
    Shell,
}

impl GuestAction {
    pub fn default_tests() -> GuestAction {
        GuestAction::Command(vec!["/bin/kwasm-guest-tests".into()])
    }

    /// The guest tests `cargo xtask test` runs on `line`, sized so that CI
    /// fits its budget on a slow day. 6.12 (the kernel CI boots hardened)
    /// runs all of them but the spec testsuite on Pulley (the host tests
    /// run the whole testsuite on kwasm's Pulley configuration). 6.1 and 7.3
    /// run the kernel plan: what meets the kernel's own APIs and behaviour
    /// (module, runs on both engines, traps and memories, hostile corpus,
    /// WASI corpus natively, network, stop/freeze/ptrace, memory pressure),
    /// leaving out engine conformance (spec testsuite, differential runs),
    /// the ioctl fuzzers (the module's request handling is the same Rust on
    /// every kernel; 6.12 runs them) and the long stress tests, which
    /// `cargo xtask soak` runs on any kernel. 7.3 leaves out, beyond that,
    /// what 6.1 and 6.12 already run the same way (the hostile corpus, the
    /// slower stop/freeze, OOM and preemption tests). `cargo xtask spec`
    /// runs every spec combination; `cargo xtask soak --only all` the whole
    /// suite.
    pub fn tests_for(line: KernelLine) -> GuestAction {
        let plan = |env: &[&str], skip: &[&str]| {
            let mut argv: Vec<String> = env.iter().map(|e| e.to_string()).collect();
            argv.extend(["/bin/kwasm-guest-tests".to_string(), "--skip".into(), skip.join(",")]);
            GuestAction::Command(argv)
        };
        match line {
            KernelLine::V6_1 => plan(WASI_NATIVE_ONLY, KERNEL_PLAN_SKIPS),
            KernelLine::V7_3 => plan(WASI_NATIVE_ONLY, &[KERNEL_PLAN_SKIPS, NEWEST_PLAN_SKIPS].concat()),
            KernelLine::V6_12 => plan(&[], &["spec-pulley"]),
            KernelLine::V6_12Rt => GuestAction::default_tests(),
        }
    }
}

/// The kernel plan's WASI corpus: the native engine only.
const WASI_NATIVE_ONLY: &[&str] = &["env", "KWASM_WASI_SUBJECT=native"];

/// What 7.3's plan leaves out beyond the kernel plan's.
const NEWEST_PLAN_SKIPS: &[&str] = &[
    "hostile-corpus",
    "suspend-cgroup-freeze",
    "suspend-ptrace",
    "suspend-invoke",
    "suspend-system-freezer",
    "memory-oom-picks-biggest",
    "run-float-preempted-native",
];

/// What the kernel plan (6.1, 7.3 in CI) leaves out: see [`GuestAction::tests_for`].
const KERNEL_PLAN_SKIPS: &[&str] = &[
    "spec-native",
    "spec-pulley",
    "run-differential-native",
    "run-differential-pulley",
    "fuzz-requests",
    "fuzz-sessions",
    "stress-kill-anytime",
    "stress-soak-32",
    "suspend-signal-storm",
];

/// Quotes one word for the guest's `sh`.
fn sh_quote(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The guest's /init. Kernel messages go to ttyS1 (their own log file), so
/// after devtmpfs is up the script moves its own output to ttyS0: the test
/// output stays readable and the kernel log stays complete even if the guest
/// hangs before the final dmesg dump.
pub fn init_script(action: &GuestAction) -> String {
    let run = match action {
        GuestAction::Command(argv) => argv.iter().map(|w| sh_quote(w)).collect::<Vec<_>>().join(" "),
        GuestAction::Shell => "echo 'kwasm guest shell: kwasm.ko is /lib/modules/kwasm.ko; exit or Ctrl-D powers off, Ctrl-A X kills QEMU'\n\
             setsid -c sh -l\n\
             # The shell's session ended, hanging up ttyS0: reopen it.\n\
             exec </dev/ttyS0 >/dev/ttyS0 2>&1"
            .to_string(),
    };
    format!(
        r#"#!/bin/busybox sh
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin HOME=/root
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
ip link set lo up
insmod /lib/modules/e1000.ko
exec </dev/ttyS0 >/dev/ttyS0 2>&1
stty -F /dev/ttyS0 -onlcr 2>/dev/null
hostname kwasm-guest
cd /root
echo {start}
{run}
echo "{exit} $?"
echo {dmesg_begin}
dmesg
echo {dmesg_end}
echo "{taint} $(cat /proc/sys/kernel/tainted)"
poweroff -f
"#,
        start = verdict::START,
        exit = verdict::EXIT,
        dmesg_begin = verdict::DMESG_BEGIN,
        dmesg_end = verdict::DMESG_END,
        taint = verdict::TAINT,
    )
}

/// Builds the initramfs: busybox, kwasm.ko, the guest binaries that exist,
/// the wasm programs under /share/kwasm (`share`: guest path, host file),
/// /etc/passwd+group with root and nobody, and the generated /init.
pub fn build_initramfs(
    out: &Path,
    module: Option<&Path>,
    binaries: &[&Path],
    share: &[(String, PathBuf)],
    action: &GuestAction,
) -> Result<()> {
    let mut a = Archive::default();
    for dir in [
        "bin",
        "sbin",
        "usr",
        "usr/bin",
        "usr/sbin",
        "lib",
        "lib/modules",
        "etc",
        "proc",
        "sys",
        "dev",
        "root",
        "run",
    ] {
        a.dir(dir, 0o755);
    }
    a.dir("tmp", 0o1777);
    let busybox = std::fs::read(BUSYBOX)
        .with_context(|| format!("reading {BUSYBOX}: run `cargo xtask setup` (installs busybox-static)"))?;
    a.file("bin/busybox", 0o755, &busybox);
    a.symlink("bin/sh", "busybox");
    if let Some(ko) = module {
        a.file(
            "lib/modules/kwasm.ko",
            0o644,
            &std::fs::read(ko).with_context(|| format!("reading {}", ko.display()))?,
        );
    }
    for bin in binaries {
        let name = bin
            .file_name()
            .context("binary path has no file name")?
            .to_string_lossy();
        a.file(
            &format!("bin/{name}"),
            0o755,
            &std::fs::read(bin).with_context(|| format!("reading {}", bin.display()))?,
        );
    }
    let mut dirs = std::collections::BTreeSet::new();
    for (guest, host) in share {
        // Parent directories first, once each (cpio needs them listed).
        let mut parent = Path::new(guest).parent();
        let mut missing = Vec::new();
        while let Some(p) = parent.filter(|p| !p.as_os_str().is_empty()) {
            if dirs.insert(p.to_path_buf()) {
                missing.push(p.to_string_lossy().into_owned());
            }
            parent = p.parent();
        }
        for dir in missing.iter().rev() {
            a.dir(dir, 0o755);
        }
        let data = std::fs::read(host).with_context(|| format!("reading {}", host.display()))?;
        let executable = std::fs::metadata(host)?.permissions().mode() & 0o111 != 0;
        a.file(guest, if executable { 0o755 } else { 0o644 }, &data);
    }
    a.file(
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    );
    a.file("etc/group", 0o644, b"root:x:0:\nnobody:x:65534:\nnogroup:x:65534:\n");
    a.file("init", 0o755, init_script(action).as_bytes());
    std::fs::create_dir_all(out.parent().unwrap())?;
    std::fs::write(out, a.finish()).with_context(|| format!("writing {}", out.display()))?;
    Ok(())
}

#[derive(Default)]
pub struct BootOptions {
    pub timeout: Option<Duration>,
    /// Copy the serial console to our stdout while it runs.
    pub echo: bool,
    /// Extra kernel command-line parameters.
    pub append: Option<String>,
    /// QEMU's `-cpu` instead of [`CPU`] (e.g. `max`, to show the emulator
    /// defect [`CPU`] works around).
    pub cpu: Option<String>,
    /// vCPUs instead of [`VCPUS`] (more than the host has cores changes
    /// how guest threads interleave).
    pub vcpus: Option<u32>,
    /// All vCPUs on one host thread (`-accel tcg,thread=single`): QEMU then
    /// never translates code while another vCPU writes it, at the cost of
    /// real parallelism (vCPUs take turns).
    pub single_thread: bool,
}

pub struct BootResult {
    pub serial_log: PathBuf,
    pub kernel_log: PathBuf,
    pub verdict: Verdict,
    pub elapsed: Duration,
}

fn qemu_command(k: &Kernel, initramfs: &Path, kernel_log: &Path, interactive: bool, opts: &BootOptions) -> Command {
    let mut cmdline = format!("console=ttyS1 panic=-1 loglevel=7 printk.time=1 {RIG_CMDLINE}");
    if let Some(extra) = &opts.append {
        cmdline.push(' ');
        cmdline.push_str(extra);
    }
    let vcpus = opts.vcpus.map_or_else(|| VCPUS.to_string(), |n| n.to_string());
    let mut q = Command::new("qemu-system-x86_64");
    q.args([
        "-accel",
        if opts.single_thread { "tcg,thread=single" } else { "tcg" },
        "-cpu",
        opts.cpu.as_deref().unwrap_or(CPU),
        "-m",
        MEMORY,
        "-smp",
        &vcpus,
    ]);
    q.args([
        // Two network cards on one emulated segment (a QEMU hub, nothing
        // on the host): tests reach a server through a real interface by
        // putting the second card in its own network namespace.
        "-netdev",
        "hubport,id=net0,hubid=0",
        "-device",
        "e1000,netdev=net0,mac=52:54:00:12:34:01",
        "-netdev",
        "hubport,id=net1,hubid=0",
        "-device",
        "e1000,netdev=net1,mac=52:54:00:12:34:02",
        "-no-reboot",
    ])
    .arg("-kernel")
    .arg(k.vmlinux())
    .arg("-initrd")
    .arg(initramfs)
    .args(["-append", &cmdline])
    .args(["-display", "none", "-vga", "none"]);
    // ttyS0: init's markers and the guest program (our stdout); ttyS1: the
    // kernel console, written straight to a file by QEMU.
    if interactive {
        q.args(["-serial", "mon:stdio"]);
    } else {
        q.args(["-monitor", "none", "-serial", "stdio"]);
    }
    q.arg("-serial").arg(format!("file:{}", kernel_log.display()));
    q
}

/// How the serial console is copied to our stdout while the guest runs.
enum Echo {
    Off,
    /// Byte for byte (interactive shell: prompts have no newline).
    Raw,
    /// Line by line, leaving out the dmesg dump (it is in the logs).
    Lines {
        in_dmesg: bool,
        partial: Vec<u8>,
    },
}

impl Echo {
    fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        match self {
            Echo::Off => return Ok(()),
            Echo::Raw => out.write_all(data)?,
            Echo::Lines { in_dmesg, partial } => {
                partial.extend_from_slice(data);
                while let Some(pos) = partial.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = partial.drain(..=pos).collect();
                    let text = String::from_utf8_lossy(&line);
                    let text = text.trim_end();
                    if text == verdict::DMESG_BEGIN {
                        *in_dmesg = true;
                        writeln!(out, "[dmesg dump omitted here: see the logs]")?;
                    } else if text == verdict::DMESG_END {
                        *in_dmesg = false;
                    } else if !*in_dmesg {
                        writeln!(out, "{text}")?;
                    }
                }
            }
        }
        out.flush()
    }
}

/// Boots `k` with the given initramfs; waits for poweroff or the timeout.
pub fn boot(
    paths: &Paths,
    k: &Kernel,
    initramfs: &Path,
    name: &str,
    interactive: bool,
    opts: &BootOptions,
) -> Result<BootResult> {
    boot_with(paths, k, initramfs, name, interactive, opts, &[])
}

/// [`boot`], with more QEMU arguments (e.g. the benchmark's `-icount`).
pub fn boot_with(
    paths: &Paths,
    k: &Kernel,
    initramfs: &Path,
    name: &str,
    interactive: bool,
    opts: &BootOptions,
    qemu_extra: &[&str],
) -> Result<BootResult> {
    let logs = paths.guest_logs();
    std::fs::create_dir_all(&logs)?;
    let serial_log = logs.join(format!("{}-{name}.log", k.release));
    let kernel_log = logs.join(format!("{}-{name}.kernel.log", k.release));
    let _ = std::fs::remove_file(&kernel_log);
    let mut q = qemu_command(k, initramfs, &kernel_log, interactive, opts);
    q.args(qemu_extra);
    if !process::on_path("qemu-system-x86_64") {
        bail!("qemu-system-x86_64 not found: run `cargo xtask setup`");
    }
    let started = Instant::now();
    q.stdout(Stdio::piped()).stderr(Stdio::inherit());
    q.stdin(if interactive { Stdio::inherit() } else { Stdio::null() });
    let mut child = q
        .spawn()
        .with_context(|| format!("could not start `{}`", process::display(&q)))?;
    let mut stdout = child.stdout.take().unwrap();
    let mut file = std::fs::File::create(&serial_log)?;
    let echo = if interactive {
        Echo::Raw
    } else if opts.echo {
        Echo::Lines {
            in_dmesg: false,
            partial: vec![],
        }
    } else {
        Echo::Off
    };
    let reader = std::thread::spawn(move || -> std::io::Result<Vec<u8>> {
        let mut echo = echo;
        let mut all = vec![];
        let mut buf = [0u8; 8192];
        loop {
            let n = stdout.read(&mut buf)?;
            if n == 0 {
                return Ok(all);
            }
            file.write_all(&buf[..n])?;
            echo.write(&buf[..n])?;
            all.extend_from_slice(&buf[..n]);
        }
    });
    let mut timed_out = false;
    loop {
        if child.try_wait()?.is_some() {
            break;
        }
        if opts.timeout.is_some_and(|t| started.elapsed() > t) {
            timed_out = true;
            let _ = child.kill();
            let _ = child.wait();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let elapsed = started.elapsed();
    let serial = reader
        .join()
        .expect("serial reader panicked")
        .context("reading QEMU's output")?;
    let console = std::fs::read(&kernel_log).unwrap_or_default();
    let verdict = verdict::analyze(
        &String::from_utf8_lossy(&serial),
        &String::from_utf8_lossy(&console),
        timed_out,
    );
    Ok(BootResult {
        serial_log,
        kernel_log,
        verdict,
        elapsed,
    })
}

/// Everything a boot needs, built: returns the kernel and the initramfs path.
pub fn prepare(
    paths: &Paths,
    line: KernelLine,
    action: &GuestAction,
    build: bool,
    name: &str,
) -> Result<(Kernel, PathBuf)> {
    prepare_with(paths, line, action, build, name, &[])
}

/// [`prepare`], with `extra` files in the initramfs too (guest path, host
/// file), e.g. the benchmark's reference module.
pub fn prepare_with(
    paths: &Paths,
    line: KernelLine,
    action: &GuestAction,
    build: bool,
    name: &str,
    extra: &[(String, PathBuf)],
) -> Result<(Kernel, PathBuf)> {
    let k = match Kernel::installed(paths, line) {
        Ok(k) => k,
        Err(_) if build => setup::setup(paths, &[line])?.remove(0),
        Err(e) => return Err(e),
    };
    let (ko, bins) = if build {
        (module::build_module(paths, &k)?, build_guest(paths)?)
    } else {
        (paths.kmod_out(&k.release).join("kwasm.ko"), GuestBinaries::at(paths))
    };
    let ko = ko.is_file().then_some(ko);
    if ko.is_none() {
        eprintln!(
            "xtask: warning: no kwasm.ko for {} yet; the guest will have none",
            k.release
        );
    }
    let native = examples::native_binaries(paths);
    let bins: Vec<&Path> = bins
        .all()
        .into_iter()
        .chain(&native)
        .filter(|b| b.is_file())
        // An extra file at a binary's place replaces it.
        .filter(|b| {
            let guest = b.file_name().map(|n| format!("bin/{}", n.to_string_lossy()));
            !extra.iter().any(|(path, _)| Some(path) == guest.as_ref())
        })
        .map(PathBuf::as_path)
        .collect();
    let initramfs = paths.initramfs_dir().join(format!("{}-{name}.cpio", k.release));
    let mut share = examples::share_files(paths)?;
    share.extend(spec::share_files(paths)?);
    share.extend(wasi_corpus::share_files(paths)?);
    share.extend_from_slice(extra);
    share.push(("lib/modules/e1000.ko".into(), nic_module(paths, &k)?));
    build_initramfs(&initramfs, ko.as_deref(), &bins, &share, action)?;
    Ok((k, initramfs))
}

/// The guest's network driver, uncompressed (busybox insmod hands the
/// kernel the file as it is).
fn nic_module(paths: &Paths, k: &Kernel) -> Result<PathBuf> {
    let shipped = k.nic_module().with_context(|| {
        format!(
            "kernel {} has no e1000 module in the cache: run `cargo xtask setup`",
            k.release
        )
    })?;
    if shipped.extension().is_some_and(|e| e == "ko") {
        return Ok(shipped);
    }
    let out = paths.initramfs_dir().join(format!("{}-e1000.ko", k.release));
    let xz = process::output(Command::new("xz").arg("-dc").arg(&shipped))?;
    if !xz.status.success() {
        bail!(
            "xz -dc {} failed: {}",
            shipped.display(),
            String::from_utf8_lossy(&xz.stderr).trim()
        );
    }
    std::fs::create_dir_all(paths.initramfs_dir())?;
    std::fs::write(&out, &xz.stdout).with_context(|| format!("writing {}", out.display()))?;
    Ok(out)
}

/// Prints the boot's summary; returns whether it passed.
pub fn report(k: &Kernel, r: &BootResult) -> bool {
    let v = &r.verdict;
    eprintln!(
        "xtask: {} booted in {:.1}s; serial log {}, kernel log {}",
        k.release,
        r.elapsed.as_secs_f64(),
        r.serial_log.display(),
        r.kernel_log.display()
    );
    let mut ok = true;
    match v.guest_completed() {
        Ok(()) => eprintln!("xtask: guest command: exit status 0"),
        Err(e) => {
            ok = false;
            eprintln!("xtask: guest command: FAILED: {e}")
        }
    }
    match v.kernel_log_clean() {
        Ok(()) => eprintln!("xtask: kernel log: clean (taint {})", v.taint.unwrap_or(0)),
        Err(e) => {
            ok = false;
            eprintln!("xtask: kernel log: NOT CLEAN: {e}");
            for line in v.kernel_problems.iter().take(40) {
                eprintln!("    {line}");
            }
        }
    }
    for t in &v.tests {
        if let verdict::Outcome::Fail(why) = &t.outcome {
            eprintln!("xtask: test {} FAILED: {why}", t.name);
        }
    }
    for bad in &v.bad_test_lines {
        eprintln!("xtask: malformed test marker: {bad}");
    }
    ok && v.passed()
}

pub fn boot_command(paths: &Paths, args: BootArgs) -> Result<i32> {
    let action = if args.shell {
        GuestAction::Shell
    } else if args.command.is_empty() {
        GuestAction::default_tests()
    } else {
        GuestAction::Command(args.command.clone())
    };
    let name = if args.shell { "shell" } else { "boot" };
    let (k, initramfs) = prepare(paths, args.kernel, &action, !args.no_build, name)?;
    let opts = BootOptions {
        timeout: (!args.shell).then(|| Duration::from_secs(args.timeout)),
        echo: true,
        append: args.append,
        cpu: args.cpu,
        ..Default::default()
    };
    let r = boot(paths, &k, &initramfs, name, args.shell, &opts)?;
    let ok = report(&k, &r);
    if !ok && !args.shell {
        let label = format!("{}-{}-{name}", crate::soak::date("+%Y%m%dT%H%M%SZ"), k.release);
        let dir = crate::soak::keep_logs(paths, &k, &r, &label)?;
        eprintln!("xtask: this boot's logs are kept in {}", dir.display());
    }
    Ok(if ok { 0 } else { 1 })
}

/// `cargo xtask demo`: load the module and print `kwasm version`.
pub fn demo(paths: &Paths, line: KernelLine) -> Result<i32> {
    setup::setup(paths, &[line])?;
    // Echo each step, like a person typing it, then run it in the kernel.
    let script = concat!(
        "set -e; ",
        "step() { echo \"# $*\"; \"$@\"; }; ",
        "step insmod /lib/modules/kwasm.ko; ",
        "step kwasm version; ",
        "step kwasm run --env NAME=kernel /share/kwasm/examples/hello.wasm a b; ",
        "step kwasm run /share/kwasm/examples/cowsay.wasm Hello from ring 0; ",
        "step kwasm run --engine pulley /share/kwasm/examples/cowsay.wasm Same cow, interpreted; ",
        "step rmmod kwasm"
    );
    let action = GuestAction::Command(vec!["sh".into(), "-c".into(), script.into()]);
    let (k, initramfs) = prepare(paths, line, &action, true, "demo")?;
    eprintln!("xtask: booting {} and running: {script}", k.release);
    let opts = BootOptions {
        timeout: Some(Duration::from_secs(300)),
        echo: false,
        ..Default::default()
    };
    let r = boot(paths, &k, &initramfs, "demo", false, &opts)?;
    println!("--- guest ({}) ---", k.release);
    for line in &r.verdict.guest_output {
        println!("{line}");
    }
    println!("---");
    let ok = report(&k, &r);
    Ok(if ok { 0 } else { 1 })
}
