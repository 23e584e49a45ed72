//! Building kwasm.ko against a cached kernel's headers, and objtool over it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

use crate::kernels::Kernel;
use crate::paths::Paths;
use crate::process;

/// `make -C <KDIR> M=<repo>/kmod`, then copy `kwasm.ko` to
/// `<target>/kmod/<release>/kwasm.ko`. The kmod Makefile receives
/// `KWASM_TARGET_DIR=<target>/kmod/<release>` (cargo's target dir for the
/// Rust half, so the two kernels' builds do not clobber each other) and
/// `KWASM_KERNEL_RELEASE=<release>` in its environment.
pub fn build_module(paths: &Paths, k: &Kernel) -> Result<PathBuf> {
    let kmod = paths.repo.join("kmod");
    let out_dir = paths.kmod_out(&k.release);
    std::fs::create_dir_all(&out_dir)?;
    clean_products(&kmod)?;
    eprintln!("xtask: building kwasm.ko for {}", k.release);
    let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let mut make = Command::new("make");
    make.arg("-C")
        .arg(k.kdir())
        .arg(format!("M={}", kmod.display()))
        .arg(format!("-j{jobs}"))
        .arg("modules")
        .env("KWASM_TARGET_DIR", &out_dir)
        .env("KWASM_KERNEL_RELEASE", &k.release);
    let out = process::output(&mut make)?;
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::write(out_dir.join("make.log"), &log)?;
    if !out.status.success() {
        eprintln!("{log}");
        bail!(
            "building kwasm.ko for {} failed (`{}`, output above and in {})",
            k.release,
            process::display(&make),
            out_dir.join("make.log").display()
        );
    }
    for line in log.lines().filter(|l| l.contains("warning:")) {
        eprintln!("{line}");
    }
    let ko = out_dir.join("kwasm.ko");
    std::fs::copy(kmod.join("kwasm.ko"), &ko)
        .with_context(|| format!("make succeeded but left no {}", kmod.join("kwasm.ko").display()))?;
    check_vermagic(&ko, &k.release)?;
    Ok(ko)
}

/// Removes kmod/'s Kbuild products so the next build links and runs objtool
/// afresh (cargo's own cache, per kernel, keeps that cheap). Without this a
/// build for the same kernel twice would skip objtool and hide its verdict.
fn clean_products(kmod: &Path) -> Result<()> {
    for entry in std::fs::read_dir(kmod)? {
        let path = entry?.path();
        let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let product = [".o", ".ko", ".mod", ".mod.c", ".cmd", ".symvers", ".order"]
            .iter()
            .any(|ext| name.ends_with(ext));
        if product && path.is_file() {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

/// Whether objtool passed the module: Kbuild runs the kernel's own objtool,
/// with the kernel's own flags, over the Rust object (kmod/Kbuild's rule, on
/// 6.1) or the linked module (IBT kernels, 6.12). It must have printed
/// nothing, and must have seen the Rust code: its ORC unwind table has to
/// cover the Rust entry points.
pub fn objtool_verdict(paths: &Paths, k: &Kernel) -> Result<(), String> {
    let out_dir = paths.kmod_out(&k.release);
    let log = std::fs::read_to_string(out_dir.join("make.log")).map_err(|e| format!("no make.log: {e}"))?;
    let complaints: Vec<&str> = log.lines().filter(|l| l.contains("objtool")).collect();
    if !complaints.is_empty() {
        return Err(format!("objtool printed:\n{}", complaints.join("\n")));
    }
    let relocs = process::stdout_of(Command::new("readelf").arg("-rW").arg(out_dir.join("kwasm.ko")))
        .map_err(|e| format!("{e:#}"))?;
    if orc_covers(&relocs, ".text.kwasm_rust_ioctl") {
        Ok(())
    } else {
        Err("objtool did not process the Rust code: no ORC entries for kwasm_rust_ioctl".into())
    }
}

/// Whether the `.rela.orc_unwind_ip` section of `readelf -rW` output points
/// into `section`.
fn orc_covers(readelf_relocs: &str, section: &str) -> bool {
    let mut in_orc = false;
    for line in readelf_relocs.lines() {
        if line.starts_with("Relocation section") {
            in_orc = line.contains("'.rela.orc_unwind_ip'");
        } else if in_orc && line.split_whitespace().any(|w| w == section) {
            return true;
        }
    }
    false
}

fn check_vermagic(ko: &Path, release: &str) -> Result<()> {
    let vermagic = process::stdout_of(Command::new("modinfo").args(["-F", "vermagic"]).arg(ko))?;
    ensure!(
        vermagic.trim().starts_with(&format!("{release} ")),
        "{} has vermagic `{}`, not built for {release}: was kmod/ built against another KDIR?",
        ko.display(),
        vermagic.trim()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::orc_covers;

    #[test]
    fn orc_coverage_is_read_from_the_right_section() {
        let relocs = "\
Relocation section '.rela.text.kwasm_rust_open' at offset 0x1 contains 1 entry:
0000000000000001  0000001200000004 R_X86_64_PLT32  0000000000000000 .text.kwasm_rust_ioctl - 4
Relocation section '.rela.orc_unwind_ip' at offset 0x2 contains 2 entries:
00000000000002a4  0000001200000002 R_X86_64_PC32   0000000000000000 .text.kwasm_rust_exit + 0
";
        assert!(orc_covers(relocs, ".text.kwasm_rust_exit"));
        assert!(!orc_covers(relocs, ".text.kwasm_rust_ioctl"));
    }
}
