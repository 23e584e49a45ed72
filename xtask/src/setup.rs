//! `cargo xtask setup`: host packages, the pinned Rust toolchain, kernels.
//! Every step checks before it acts, so a second run takes ~2 s (apt-cache).

use std::process::Command;

use anyhow::{Context, Result};

use crate::apt::Apt;
use crate::kernels::{self, Kernel, KernelLine};
use crate::paths::Paths;
use crate::process;

/// Host packages every workflow needs, beyond what each kernel's headers ask
/// for (gcc-12, pahole, kbuild's libraries: see `kernels`).
const HOST_PACKAGES: &[&str] = &[
    "qemu-system-x86", // boots the guest kernels (TCG)
    "busybox-static",  // the guest's userland
    "make",            // Kbuild
    "kmod",            // modinfo on the host
    "xz-utils",        // 6.1's vmlinuz payload
    "zstd",            // 6.12's vmlinuz payload
    "musl-tools",      // musl-gcc: Wasmtime's runtime has a C helper, built for the static guest binaries
    // The WASI corpus's C programs (tests/wasi/c): clang for wasm32-wasi,
    // wasm-ld, wasi-libc (the sysroot), compiler-rt's wasm32 builtins.
    "clang-14",
    "lld-14",
    "wasi-libc",
    "libclang-rt-14-dev-wasm32",
];

pub fn setup(paths: &Paths, lines: &[KernelLine]) -> Result<Vec<Kernel>> {
    let started = std::time::Instant::now();
    let mut apt = Apt::default();
    apt.ensure_installed(HOST_PACKAGES)?;
    ensure_toolchain(paths)?;
    let mut out = vec![];
    for &line in lines {
        let k = kernels::ensure_kernel(paths, &mut apt, line)?;
        eprintln!(
            "xtask: kernel {} = {} (KDIR {})",
            line.name(),
            k.release,
            k.kdir().display()
        );
        out.push(k);
    }
    eprintln!("xtask: setup done in {:.1}s", started.elapsed().as_secs_f64());
    Ok(out)
}

/// The `components`/`targets` arrays of rust-toolchain.toml (just enough TOML).
fn toolchain_list(toml: &str, key: &str) -> Vec<String> {
    let Some(start) = toml
        .lines()
        .position(|l| l.trim_start().starts_with(key) && l.contains('='))
    else {
        return vec![];
    };
    let mut text = String::new();
    for line in toml.lines().skip(start) {
        text.push_str(line.split('#').next().unwrap_or(""));
        if line.contains(']') {
            break;
        }
    }
    let inner = text.split_once('[').map(|x| x.1).unwrap_or("");
    let inner = inner.split(']').next().unwrap_or("");
    inner
        .split(',')
        .map(|s| s.trim().trim_matches('"').to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

/// Makes sure the toolchain pinned by rust-toolchain.toml has its targets and
/// components. (Running cargo in the repo already made rustup install the
/// toolchain itself; components and targets may still be missing.)
fn ensure_toolchain(paths: &Paths) -> Result<()> {
    let file = paths.repo.join("rust-toolchain.toml");
    let toml = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
    let rustup = |args: &[&str]| {
        process::stdout_of(Command::new("rustup").args(args).current_dir(&paths.repo))
            .context("rustup failed: is rustup installed (https://rustup.rs)?")
    };
    let installed_targets = rustup(&["target", "list", "--installed"])?;
    let installed_components = rustup(&["component", "list", "--installed"])?;
    for target in toolchain_list(&toml, "targets") {
        if !installed_targets.lines().any(|l| l.trim() == target) {
            eprintln!("xtask: rustup target add {target}");
            process::run(
                Command::new("rustup")
                    .args(["target", "add", &target])
                    .current_dir(&paths.repo),
            )?;
        }
    }
    for component in toolchain_list(&toml, "components") {
        let present = installed_components
            .lines()
            .any(|l| l.trim() == component || l.trim().starts_with(&format!("{component}-x86_64")));
        if !present {
            eprintln!("xtask: rustup component add {component}");
            process::run(
                Command::new("rustup")
                    .args(["component", "add", &component])
                    .current_dir(&paths.repo),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::toolchain_list;

    #[test]
    fn reads_toolchain_arrays() {
        let toml = "# c\n[toolchain]\nchannel = \"1.99.1\"\ncomponents = [\"rust-src\", \"rustfmt\"]\ntargets = [\n  \"x86_64-unknown-none\", # kernel\n  \"wasm32-wasip1\",\n]\n";
        assert_eq!(toolchain_list(toml, "components"), ["rust-src", "rustfmt"]);
        assert_eq!(
            toolchain_list(toml, "targets"),
            ["x86_64-unknown-none", "wasm32-wasip1"]
        );
        assert!(toolchain_list(toml, "profile").is_empty());
    }
}
