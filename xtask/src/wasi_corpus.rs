//! The differential WASI conformance corpus (`tests/wasi`): Rust programs
//! (their own workspace, built for wasm32-wasip1) and C programs (`c/*.c`,
//! built with clang for wasm32-wasi against Debian's wasi-libc), gathered
//! in one directory and installed in the guest under /share/kwasm/wasi,
//! where the guest test `wasi-corpus` runs each in the kernel and under
//! the reference.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{bail, Context, Result};

use crate::paths::Paths;
use crate::process;

const WASI: &str = "wasm32-wasip1";
/// Debian 12's clang (packages clang-14, lld-14 for wasm-ld, wasi-libc,
/// libclang-rt-14-dev-wasm32 for the builtins): see setup's HOST_PACKAGES.
const CLANG: &str = "clang-14";
const GUEST_DIR: &str = "share/kwasm/wasi";

fn corpus_dir(paths: &Paths) -> PathBuf {
    paths.repo.join("tests/wasi")
}

/// Every program ends up here as NAME.wasm: what the guest gets, and
/// what `KWASM_WASI_CORPUS` points at for a host run (see tests/wasi/README.md).
pub fn out_dir(paths: &Paths) -> PathBuf {
    paths.target.join("wasi-corpus").join("share")
}

/// Builds the Rust programs (`cargo build --release`) and the C programs
/// that changed, and gathers them in `out_dir`.
pub fn build(paths: &Paths) -> Result<()> {
    eprintln!("xtask: building the WASI corpus (tests/wasi)");
    let dir = corpus_dir(paths);
    let target_dir = paths.target.join("wasi-corpus");
    let out = out_dir(paths);
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;

    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    process::run(
        Command::new(cargo)
            .args(["build", "--release", "--target", WASI, "--target-dir"])
            .arg(&target_dir)
            .current_dir(&dir),
    )
    .context("building the WASI corpus failed (compiler output above)")?;
    let built = target_dir.join(WASI).join("release");
    for name in sources(&dir.join("src/bin"), "rs")? {
        let wasm = built.join(format!("{name}.wasm"));
        let dest = out.join(format!("{name}.wasm"));
        if newer(&wasm, &dest) {
            std::fs::copy(&wasm, &dest).with_context(|| format!("copying {} (did cargo build it?)", wasm.display()))?;
        }
    }

    let c = dir.join("c");
    let header = c.join("corpus.h");
    for name in sources(&c, "c")? {
        let src = c.join(format!("{name}.c"));
        let dest = out.join(format!("{name}.wasm"));
        if !newer(&src, &dest) && !newer(&header, &dest) {
            continue;
        }
        if !process::on_path(CLANG) {
            bail!("{CLANG} not found: run `cargo xtask setup` (installs clang-14, lld-14, wasi-libc)");
        }
        process::run(
            Command::new(CLANG)
                .args(["--target=wasm32-wasi", "-O2", "-Wall", "-Wextra", "-o"])
                .arg(&dest)
                .arg(&src),
        )
        .with_context(|| format!("compiling {} failed (compiler output above)", src.display()))?;
    }
    Ok(())
}

/// The stems of `dir/*.EXT`, sorted.
fn sources(dir: &Path, ext: &str) -> Result<Vec<String>> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    Ok(names)
}

/// Whether `src` was modified after `output` was (or there is no output).
fn newer(src: &Path, output: &Path) -> bool {
    let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let src_time = mtime(src).unwrap_or(SystemTime::now());
    mtime(output).is_none_or(|t| t < src_time)
}

/// Files for the guest's /share/kwasm/wasi: (path in the guest, file on
/// the host). Nothing if the corpus is not built yet.
pub fn share_files(paths: &Paths) -> Result<Vec<(String, PathBuf)>> {
    let out = out_dir(paths);
    if !out.is_dir() {
        return Ok(vec![]);
    }
    Ok(sources(&out, "wasm")?
        .into_iter()
        .map(|name| (format!("{GUEST_DIR}/{name}.wasm"), out.join(format!("{name}.wasm"))))
        .collect())
}
