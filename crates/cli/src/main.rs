//! `kwasm`: the user-space half of kwasm.

mod check;
mod compile;
mod device;
mod invoke;
mod outcome;
mod ps;
mod request;
mod run;
mod session;
mod units;
mod wast;

use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, Subcommand};
use device::Device;

/// Run WebAssembly programs inside the Linux kernel (kwasm.ko).
#[derive(Parser)]
#[command(name = "kwasm", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the versions of this command and of the loaded kwasm.ko, and
    /// check that they speak the same ABI.
    Version,
    Run(run::RunArgs),
    /// List the programs running in the kernel now.
    Ps,
    Wast(wast::WastArgs),
    /// End the program a process runs in the kernel (SIGKILL to that pid).
    Kill {
        /// The pid `kwasm ps` shows.
        pid: i32,
    },
    /// Check whether `kwasm run` works on this machine: the kernel, the
    /// module and its ABI, permission, the CPU, the module's parameters,
    /// the compile cache, and a trial run on each engine. Each problem is
    /// printed with what fixes it; exit status 0 only if there is none.
    Check,
    /// Print the shell completion script for kwasm (packages install it;
    /// by hand e.g. `kwasm completions bash > /etc/bash_completion.d/kwasm`).
    Completions {
        shell: clap_complete::Shell,
    },
    /// Write kwasm's man pages (kwasm.1 and kwasm-SUBCOMMAND.1) into DIR:
    /// how packages make them from these definitions.
    #[command(hide = true)]
    Manpages { dir: PathBuf },
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Version => version().map(|()| 0).map_err(anyhow::Error::from),
        Command::Run(args) => run::run(args),
        Command::Ps => ps::ps(),
        Command::Wast(args) => wast::wast(args),
        Command::Kill { pid } => ps::kill(pid),
        Command::Check => check::check(),
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut visible_command(), "kwasm", &mut std::io::stdout());
            Ok(0)
        }
        Command::Manpages { dir } => manpages(&dir).map(|()| 0),
    };
    // The exit code is the program's, which may be any i32 (as wasmtime
    // passes proc_exit's code to exit(); the OS keeps the low 8 bits).
    std::process::exit(match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kwasm: {e:#}");
            outcome::EXIT_FAILURE
        }
    });
}

fn version() -> Result<(), device::DeviceError> {
    println!("kwasm {} (ABI {})", env!("CARGO_PKG_VERSION"), kwasm_abi::ABI_VERSION);
    let module = Device::open()?.version()?;
    println!("kwasm.ko {} (ABI {})", module.version, module.abi_version);
    Ok(())
}

/// The command line without its hidden subcommands, which clap_complete
/// would otherwise offer (the top level has no arguments of its own).
fn visible_command() -> clap::Command {
    let full = Cli::command();
    let mut visible = clap::Command::new("kwasm")
        .about(full.get_about().cloned().unwrap_or_default())
        .version(env!("CARGO_PKG_VERSION"));
    for sub in full.get_subcommands().filter(|s| !s.is_hide_set()) {
        visible = visible.subcommand(sub.clone());
    }
    visible
}

fn manpages(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::generate_to(Cli::command(), dir)?;
    Ok(())
}
