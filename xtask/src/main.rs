//! `cargo xtask`: kwasm's build and test driver.
//!
//! The development machines cannot load kernel modules, so every kernel test
//! boots a Debian kernel under QEMU TCG with a busybox initramfs (the design's
//! "How it is tested"). This binary owns that whole loop:
//! fetching kernels and headers into a cache, building `kwasm.ko` against
//! them, building the static guest binaries, booting, and judging the boot
//! from markers the guest prints.

mod apt;
mod bench;
mod chroot;
mod cpio;
mod examples;
mod guest;
mod kernels;
mod module;
mod package;
mod paths;
mod process;
mod setup;
mod soak;
mod spec;
mod symbolize;
mod test;
mod verdict;
mod vmlinux;
mod wasi_corpus;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};

use crate::kernels::KernelLine;

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Build and test kwasm: kernels, module, guest boots")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Install what the build needs (apt packages, pinned Rust toolchain) and
    /// fetch Debian kernels + headers into the cache. Idempotent.
    Setup {
        #[command(flatten)]
        kernels: KernelsArg,
        /// Only check/install host packages and the toolchain; fetch no kernel.
        #[arg(long)]
        no_kernels: bool,
    },
    /// Build kwasm.ko against one cached kernel's headers.
    BuildModule {
        #[arg(long, value_parser = parse_kernel)]
        kernel: KernelLine,
    },
    /// Build the static (musl) guest binaries (`kwasm`, `kwasm-guest-tests`,
    /// `kwasm-reference`) and the wasm examples.
    BuildGuest,
    /// Boot a kernel in QEMU with the module and guest binaries in an
    /// initramfs, and run a command in it (default: the guest test binary).
    Boot(BootArgs),
    /// Run every test: host unit tests, then the guest tests on each kernel.
    Test {
        #[command(flatten)]
        kernels: KernelsArg,
        /// Run only `cargo test --workspace` on the host.
        #[arg(long, conflicts_with = "guest_only")]
        host_only: bool,
        /// Skip the host unit tests.
        #[arg(long)]
        guest_only: bool,
        /// Guest timeout per kernel, in seconds (6.12's hardened whole
        /// suite takes some 1000 s on a busy 2-core host).
        #[arg(long, default_value_t = 2400)]
        timeout: u64,
        /// Echo the guest's serial console while it runs.
        #[arg(long, short)]
        verbose: bool,
    },
    /// Run the WebAssembly spec testsuite in the kernel on each kernel and
    /// engine; write docs/conformance.md and the CI baseline.
    Spec {
        #[command(flatten)]
        kernels: KernelsArg,
    },
    /// Run the host fuzzers (request checks, ioctl decoding, string lists,
    /// engine acceptance, image seal and loading) for longer than CI does:
    /// a release build of `kwasm-fuzz`, N seconds per target.
    Fuzz {
        /// Seconds per target.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Seed (decimal or 0x-hex; default: the CI seed).
        #[arg(long)]
        seed: Option<String>,
        /// Only these targets (default: all).
        targets: Vec<String>,
    },
    /// The network benchmark (not part of `test`): in one boot, the echo and
    /// HTTP servers natively, in the kernel by kwasm, under Wasmtime, and as
    /// bench/kref's in-kernel C, driven alike by kwasm-loadgen; writes
    /// bench/results/ (README.md, results.json, chart.png).
    Bench(BenchArgs),
    /// The reliability campaign (not part of `test`): boot one kernel N times
    /// with a guest test plan (default: the stress plan) or once with a long
    /// mixed soak; every boot's outcome is appended to
    /// docs/reliability/boots.tsv, a failed boot's logs and symbolized trace
    /// kept under target/soak/. Exits non-zero if any boot was not clean.
    Soak(SoakArgs),
    /// Build kwasm's Debian packages, target/package/kwasm-dkms_V-1_all.deb
    /// (the DKMS source tree: C glue, Kbuild, dkms.conf and the Rust half
    /// prebuilt, so that dkms builds kwasm.ko with make, the kernel's
    /// compiler and headers alone) and kwasm_V-1_amd64.deb (the static
    /// command, man pages, completions, udev rule), and check them with
    /// lintian. `test` builds them too and boots its guests with them.
    Package {
        /// Then build it with dkms against these cached kernels' headers
        /// (comma-separated: 6.1, 6.12), in a scratch dkms tree.
        #[arg(long, value_delimiter = ',', value_parser = parse_kernel)]
        dkms_build: Vec<KernelLine>,
    },
    /// Set up, build, boot a kernel, load kwasm.ko and run the example programs in it.
    Demo {
        #[arg(long, value_parser = parse_kernel, default_value = "6.12")]
        kernel: KernelLine,
    },
}

#[derive(Args)]
struct KernelsArg {
    /// Kernel line(s) to use: 6.1, 6.12, 7.3 (repeatable; default: 6.1 and 6.12).
    #[arg(long = "kernel", value_parser = parse_kernel)]
    kernels: Vec<KernelLine>,
}

impl KernelsArg {
    fn selected(&self) -> Vec<KernelLine> {
        if self.kernels.is_empty() {
            KernelLine::DEFAULT.to_vec()
        } else {
            let mut v = self.kernels.clone();
            v.dedup();
            v
        }
    }
}

#[derive(Args)]
pub struct BootArgs {
    #[arg(long, value_parser = parse_kernel)]
    kernel: KernelLine,
    /// Kill QEMU after this many seconds and report a timeout.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Give an interactive busybox shell on the serial console instead of
    /// running a command (Ctrl-A X quits QEMU).
    #[arg(long, conflicts_with = "command")]
    shell: bool,
    /// Use the module and guest binaries as they are; build nothing.
    #[arg(long)]
    no_build: bool,
    /// Extra kernel command-line parameters (e.g. `preempt=none`).
    #[arg(long)]
    append: Option<String>,
    /// QEMU's `-cpu` model instead of the rig's (`max,cx16=off`).
    #[arg(long)]
    cpu: Option<String>,
    /// Command to run in the guest (after `--`).
    #[arg(last = true)]
    command: Vec<String>,
}

#[derive(Args)]
pub struct BenchArgs {
    #[arg(long, value_parser = parse_kernel, default_value = "6.12")]
    kernel: KernelLine,
    /// Repetitions of every measurement (the report gives median, min, max).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    reps: u32,
    /// Length of each measured window.
    #[arg(long, default_value_t = 2000)]
    duration_ms: u64,
    /// Warm-up before each window (not counted).
    #[arg(long, default_value_t = 500)]
    warmup_ms: u64,
    /// Connection counts, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,256")]
    conns: Vec<u32>,
    /// kwasm's engine for the network servers (the host-call
    /// microbenchmark measures both).
    #[arg(long, default_value = "native", value_parser = ["native", "pulley"])]
    engine: String,
    /// What to measure, comma-separated: `hostcall` (the cost of one call
    /// from wasm into the kernel, in both engines, beside one system call),
    /// `compute` (CPU-bound programs natively, under Wasmtime in user space
    /// and in the kernel), `net` (the echo and HTTP servers four ways).
    #[arg(long, value_delimiter = ',', default_value = "hostcall,compute,net", value_parser = ["hostcall", "compute", "net"])]
    parts: Vec<String>,
    /// Host calls of each kind per measurement with native code (Pulley
    /// makes a twentieth as many).
    #[arg(long, default_value_t = 1_000_000)]
    calls: u32,
    /// Sample the vCPU the servers run on through QEMU's monitor and add
    /// its time by kernel function to the report (and every sampled
    /// address to profile.tsv).
    #[arg(long)]
    profile: bool,
    /// Count guest time in instructions (QEMU `-icount shift=2,sleep=off`)
    /// instead of the host's clock: figures that do not move with the host's
    /// load, at some three times the wall-clock time.
    #[arg(long)]
    icount: bool,
    /// The guest CPU, comma-separated: `default` (the rig's `max`, which
    /// the kernel finds affected by little: retpolines only) and/or
    /// `mitigated` (an Intel Skylake model: the kernel then also turns on
    /// page-table isolation, return thunks and buffer clearing, as on the
    /// servers the seed measured on). Two modes boot twice and report side
    /// by side.
    #[arg(long, value_delimiter = ',', default_value = "default", value_parser = ["default", "mitigated"])]
    cpu: Vec<String>,
    /// A short smoke run: one repetition, 1000 ms windows, 200 ms warm-up
    /// (shorter windows fail 16 KiB streaming on 256 connections: the loadgen
    /// wants every connection answered within the window);
    /// the report goes to target/bench-quick/ unless --out says otherwise.
    #[arg(long)]
    quick: bool,
    /// Where to write the report [default: bench/results].
    #[arg(long)]
    out: Option<std::path::PathBuf>,
    /// Guest timeout in seconds [default: an estimate from the plan].
    #[arg(long)]
    timeout: Option<u64>,
}

#[derive(Args)]
pub struct SoakArgs {
    #[arg(long, value_parser = parse_kernel, default_value = "6.12")]
    kernel: KernelLine,
    /// How many boots.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    boots: u32,
    /// Guest tests to run (comma-separated; `insmod` is added first), or
    /// `all` for the whole suite [default: the stress plan].
    #[arg(long, conflicts_with = "minutes")]
    only: Option<String>,
    /// vCPUs (more than the host's cores changes interleavings).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=16))]
    smp: Option<u32>,
    /// Keep every host core busy while the guest runs.
    #[arg(long)]
    host_load: bool,
    /// The kernel's own debugging on (slub_debug=FZPU, init_on_free,
    /// page_poison, KFENCE on every sample; debug_pagealloc where built in).
    #[arg(long)]
    hardened: bool,
    /// One long soak of this many minutes instead: 32 instances of mixed
    /// compute, output, file I/O, sockets and kills.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=600))]
    minutes: Option<u32>,
    /// QEMU's `-cpu` model instead of the rig's (`max` shows the emulator
    /// defect the rig works around).
    #[arg(long)]
    cpu: Option<String>,
    /// All vCPUs on one host thread (`-accel tcg,thread=single`): closes
    /// the emulator's live-patching defect at the cost of real parallelism.
    #[arg(long)]
    single_thread: bool,
    /// Use the module and guest binaries as they are; build nothing.
    #[arg(long)]
    no_build: bool,
}

fn parse_kernel(s: &str) -> Result<KernelLine, String> {
    KernelLine::from_name(s).ok_or_else(|| format!("unknown kernel `{s}`: use one of {}", KernelLine::names()))
}

fn main() {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            std::process::exit(1);
        }
    }
}

/// Runs one subcommand; the returned value is the process exit code.
fn run(cli: Cli) -> Result<i32> {
    let paths = paths::Paths::discover()?;
    match cli.command {
        Command::Setup { kernels, no_kernels } => {
            let lines = if no_kernels { vec![] } else { kernels.selected() };
            setup::setup(&paths, &lines)?;
            Ok(0)
        }
        Command::Package { dkms_build } => package::package(&paths, &dkms_build).map(|()| 0),
        Command::BuildModule { kernel } => {
            let k = kernels::Kernel::installed(&paths, kernel)?;
            let ko = module::build_module(&paths, &k)?;
            match module::objtool_verdict(&paths, &k) {
                Ok(()) => eprintln!("xtask: objtool: clean, ORC covers the Rust entry points"),
                Err(e) => eprintln!("xtask: objtool: NOT CLEAN: {e}"),
            }
            println!("{}", ko.display());
            Ok(0)
        }
        Command::BuildGuest => {
            let bins = guest::build_guest(&paths)?;
            for b in bins.all().into_iter().chain(&examples::native_binaries(&paths)) {
                println!("{}", b.display());
            }
            for (_, file) in examples::share_files(&paths)? {
                println!("{}", file.display());
            }
            Ok(0)
        }
        Command::Boot(args) => guest::boot_command(&paths, args),
        Command::Test {
            kernels,
            host_only,
            guest_only,
            timeout,
            verbose,
        } => {
            let opts = test::TestOptions {
                kernels: if host_only { vec![] } else { kernels.selected() },
                host: !guest_only,
                timeout: std::time::Duration::from_secs(timeout),
                verbose,
            };
            test::run_tests(&paths, &opts)
        }
        Command::Demo { kernel } => guest::demo(&paths, kernel),
        Command::Bench(args) => {
            let opts = bench::BenchOptions {
                kernel: args.kernel,
                hostcall: args.parts.iter().any(|p| p == "hostcall"),
                calls: if args.quick { args.calls.min(100_000) } else { args.calls },
                compute: args.parts.iter().any(|p| p == "compute"),
                net: args.parts.iter().any(|p| p == "net"),
                profile: args.profile,
                reps: if args.quick { 1 } else { args.reps },
                duration_ms: if args.quick { 1000 } else { args.duration_ms },
                warmup_ms: if args.quick { 200 } else { args.warmup_ms },
                conns: args.conns,
                engine: args.engine,
                icount: args.icount,
                cpus: {
                    let mut cpus: Vec<bench::CpuMode> = args.cpu.iter().filter_map(|c| bench::CpuMode::by_name(c)).collect();
                    cpus.sort();
                    cpus.dedup();
                    cpus
                },
                out: args.out.unwrap_or_else(|| {
                    if args.quick {
                        paths.target.join("bench-quick")
                    } else {
                        paths.repo.join("bench/results")
                    }
                }),
                timeout: args.timeout.map(std::time::Duration::from_secs),
                command_line: std::iter::once("cargo xtask".to_string())
                    .chain(std::env::args().skip(1))
                    .collect::<Vec<_>>()
                    .join(" "),
            };
            bench::bench(&paths, &opts)
        }
        Command::Fuzz { seconds, seed, targets } => {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let mut cmd = std::process::Command::new(cargo);
            cmd.args(["run", "--release", "-q", "-p", "kwasm-fuzz", "--", "--seconds"])
                .arg(seconds.to_string())
                .args(seed.iter().flat_map(|s| ["--seed".to_string(), s.clone()]))
                .args(&targets)
                .current_dir(&paths.repo);
            let status = cmd.status()?;
            Ok(status.code().unwrap_or(1))
        }
        Command::Spec { kernels } => spec::report(&paths, &kernels.selected()),
        Command::Soak(args) => soak::soak(
            &paths,
            &soak::SoakOptions {
                kernel: args.kernel,
                boots: if args.minutes.is_some() { 1 } else { args.boots },
                only: args.only,
                vcpus: args.smp,
                host_load: args.host_load,
                hardened: args.hardened,
                minutes: args.minutes,
                cpu: args.cpu,
                single_thread: args.single_thread,
                build: !args.no_build,
            },
        ),
    }
}
