//! `kwasm`: the user-space half of kwasm.

mod device;

use clap::{Parser, Subcommand};
use device::Device;
use std::process::ExitCode;

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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Version => version(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kwasm: {e}");
            ExitCode::FAILURE
        }
    }
}

fn version() -> Result<(), device::DeviceError> {
    println!("kwasm {} (ABI {})", env!("CARGO_PKG_VERSION"), kwasm_abi::ABI_VERSION);
    let module = Device::open()?.version()?;
    println!("kwasm.ko {} (ABI {})", module.version, module.abi_version);
    Ok(())
}
