//! The wasm programs the guest carries: the Rust examples (`examples/`,
//! their own workspace, built for wasm32-wasip1) and the WAT programs of the
//! guest safety tests (`tests/guest/wasm/`), installed under /share/kwasm.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::guest::MUSL;
use crate::paths::Paths;
use crate::process;

const WASI: &str = "wasm32-wasip1";
/// The examples that also build as native programs (static, musl) from the
/// same source: the benchmark's user-space baselines, in the guest's /bin.
const NATIVE: [&str; 3] = ["echo-server", "http-server", "compute"];
/// The example programs (members of `examples/Cargo.toml`).
const EXAMPLES: [&str; 8] = [
    "hello",
    "cowsay",
    "stress",
    "echo-std",
    "echo-server",
    "http-server",
    "http-std",
    "compute",
];

/// Where the examples are built: their own target directory, so they never
/// share (or invalidate) the host and musl builds.
fn out_dir(paths: &Paths) -> PathBuf {
    paths.target.join("examples").join(WASI).join("release")
}

/// `cargo build --release --target wasm32-wasip1` in `examples/`, then
/// checks that each program imports only what kwasm.ko provides.
pub fn build(paths: &Paths) -> Result<()> {
    eprintln!("xtask: building the examples ({WASI})");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    process::run(
        Command::new(cargo)
            .args(["build", "--release", "--target", WASI, "--target-dir"])
            .arg(paths.target.join("examples"))
            .current_dir(paths.repo.join("examples")),
    )
    .context("building the examples failed (compiler output above)")?;
    let mut native = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    native
        .args(["build", "--release", "--target", MUSL, "--target-dir"])
        .arg(paths.target.join("examples"))
        .args(NATIVE.iter().flat_map(|name| ["-p", name]))
        .current_dir(paths.repo.join("examples"));
    process::run(&mut native).context("building the native examples failed (compiler output above)")?;
    for name in EXAMPLES {
        let wasm = out_dir(paths).join(format!("{name}.wasm"));
        let bytes = std::fs::read(&wasm).with_context(|| format!("cargo built no {}", wasm.display()))?;
        let unsupported: Vec<String> = imports(&bytes)
            .with_context(|| format!("reading the imports of {}", wasm.display()))?
            .into_iter()
            .filter(|(module, field)| kwasm_wasi::unsupported_import(module, field).is_some())
            .map(|(module, field)| format!("{module}::{field}"))
            .collect();
        if !unsupported.is_empty() {
            bail!(
                "example `{name}` imports what kwasm.ko does not provide yet: {}",
                unsupported.join(", ")
            );
        }
    }
    Ok(())
}

/// (module, name) of every import of a wasm binary.
fn imports(wasm: &[u8]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(wasm) {
        if let wasmparser::Payload::ImportSection(reader) = payload? {
            for import in reader.into_imports() {
                let import = import?;
                out.push((import.module.to_string(), import.name.to_string()));
            }
        }
    }
    Ok(out)
}

/// The native builds of the [`NATIVE`] examples that exist.
pub fn native_binaries(paths: &Paths) -> Vec<PathBuf> {
    let dir = paths.target.join("examples").join(MUSL).join("release");
    NATIVE
        .iter()
        .map(|name| dir.join(name))
        .filter(|p| p.is_file())
        .collect()
}

/// Files for the guest's /share/kwasm: (path in the guest, file on the
/// host). Examples not built yet are left out.
pub fn share_files(paths: &Paths) -> Result<Vec<(String, PathBuf)>> {
    let mut files = Vec::new();
    for name in EXAMPLES {
        let wasm = out_dir(paths).join(format!("{name}.wasm"));
        if wasm.is_file() {
            files.push((format!("share/kwasm/examples/{name}.wasm"), wasm));
        }
    }
    let tests = paths.repo.join("tests/guest/wasm");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&tests)
        .with_context(|| format!("listing {}", tests.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    for path in entries.into_iter().filter(|p| p.is_file()) {
        let name = file_name(&path)?;
        files.push((format!("share/kwasm/tests/{name}"), path));
    }
    let hostile = paths.repo.join("tests/hostile");
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&hostile)
        .with_context(|| format!("listing {}", hostile.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    entries.sort();
    for path in entries
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "wat"))
    {
        let name = file_name(&path)?;
        files.push((format!("share/kwasm/hostile/{name}"), path));
    }
    Ok(files)
}

fn file_name(path: &Path) -> Result<String> {
    Ok(path
        .file_name()
        .with_context(|| format!("{} has no file name", path.display()))?
        .to_string_lossy()
        .into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_listed_in_order() {
        // (module (import "wasi_snapshot_preview1" "fd_write" (func)) (import "env" "m" (memory 1)))
        let wasm = [
            0, 97, 115, 109, 1, 0, 0, 0, // header
            1, 4, 1, 96, 0, 0, // type section: one () -> ()
            2, 44, 2, // import section: 44 bytes, 2 imports
            22, b'w', b'a', b's', b'i', b'_', b's', b'n', b'a', b'p', b's', b'h', b'o', b't', b'_', b'p', b'r', b'e',
            b'v', b'i', b'e', b'w', b'1', 8, b'f', b'd', b'_', b'w', b'r', b'i', b't', b'e', 0, 0, 3, b'e', b'n', b'v',
            1, b'm', 2, 0, 1,
        ];
        let got = imports(&wasm).unwrap();
        assert_eq!(
            got,
            [
                ("wasi_snapshot_preview1".to_string(), "fd_write".to_string()),
                ("env".to_string(), "m".to_string())
            ]
        );
    }
}
