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

use clap::{Parser, Subcommand};
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
