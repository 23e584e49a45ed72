//! Building kwasm.ko against a cached kernel's headers, and objtool over it.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};

use crate::chroot::Chroot;
use crate::kernels::Kernel;
use crate::paths::Paths;
use crate::process;

/// Builds the Rust staticlib on the host (kmod/rust.mk), then runs
/// `make -C <KDIR> M=<repo>/kmod KWASM_RUST_PREBUILT=1` where the kernel's
/// own toolchain lives (the host for 6.x, the line's Debian chroot for 7.x),
/// then copies `kwasm.ko` to `<target>/kmod/<release>/kwasm.ko`. Both makes
/// receive `KWASM_TARGET_DIR` (cargo's target dir for the Rust half: one per
/// set of code-generation flags, `<target>/kmod/rust` or `rust-ibt`, since
/// the staticlib depends on nothing else of the kernel; 6.12 and 7.3 share
/// one) and `KWASM_KERNEL_RELEASE=<release>`.
pub fn build_module(paths: &Paths, k: &Kernel) -> Result<PathBuf> {
    let kmod = paths.repo.join("kmod");
    let out_dir = paths.kmod_out(&k.release);
    std::fs::create_dir_all(&out_dir)?;
    let ibt = k.config_enabled("X86_KERNEL_IBT");
    let rust_dir = paths.target.join("kmod").join(if ibt { "rust-ibt" } else { "rust" });
    std::fs::create_dir_all(&rust_dir)?;
    clean_products(&kmod)?;
    eprintln!("xtask: building kwasm.ko for {}", k.release);
    let jobs = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    build_rust(&kmod, &rust_dir, ibt, jobs)
        .with_context(|| format!("building the Rust half of kwasm.ko for {}", k.release))?;
    let args = vec![
        "-C".to_string(),
        k.kdir().display().to_string(),
        format!("M={}", kmod.display()),
        format!("-j{jobs}"),
        "KWASM_RUST_PREBUILT=1".to_string(),
        "modules".to_string(),
    ];
    let env = [
        ("KWASM_TARGET_DIR", rust_dir.display().to_string()),
        ("KWASM_KERNEL_RELEASE", k.release.clone()),
    ];
    let mut make = match k.line.build_chroot() {
        None => {
            let mut make = Command::new("make");
            make.args(&args).envs(env.iter().map(|(k, v)| (k, v)));
            make
        }
        Some(release) => {
            let chroot = Chroot::at(paths, release);
            let mut argv = vec!["make".to_string()];
            argv.extend(args);
            chroot.command(&[&kmod, &k.dir, &rust_dir], &kmod, &env, &argv)?
        }
    };
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

/// The Rust staticlib, built on the host with the flags kmod/rust.mk gives
/// (only IBT matters: the Rust half uses no kernel header).
pub fn build_rust(kmod: &Path, target_dir: &Path, ibt: bool, jobs: usize) -> Result<()> {
    let mut make = Command::new("make");
    make.arg("-f")
        .arg(kmod.join("rust.mk"))
        .arg(format!("-j{jobs}"))
        .arg(format!("KWASM_TARGET_DIR={}", target_dir.display()))
        .arg("kwasm-rust");
    if ibt {
        make.arg("CONFIG_X86_KERNEL_IBT=y");
    }
    let out = process::output(&mut make)?;
    if !out.status.success() {
        bail!(
            "`{}` failed:\n{}{}",
            process::display(&make),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
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
    let readelf = |flag: &str| {
        process::stdout_of(Command::new("readelf").arg(flag).arg(out_dir.join("kwasm.ko")))
            .map_err(|e| format!("{e:#}"))
    };
    let (relocs, symbols, sections) = (readelf("-rW")?, readelf("-sW")?, readelf("-SW")?);
    let Some(function) = function_place(&symbols, &sections, "kwasm_rust_ioctl") else {
        return Err("kwasm.ko has no kwasm_rust_ioctl".into());
    };
    if orc_covers(&relocs, &function) {
        Ok(())
    } else {
        Err("objtool did not process the Rust code: no ORC entries for kwasm_rust_ioctl".into())
    }
}

/// Where a function lies: its section's name, offset and size in it.
#[derive(Debug, PartialEq, Eq)]
struct Place {
    section: String,
    start: u64,
    size: u64,
}

/// The place of `name` from `readelf -sW` and `readelf -SW` output. Up to
/// 6.12 each Rust function keeps its own `.text.<name>` section in the
/// module; 7.x's module linker script merges them all into `.text`.
fn function_place(symbols: &str, sections: &str, name: &str) -> Option<Place> {
    let sym = symbols
        .lines()
        .find(|l| l.split_whitespace().last() == Some(name) && l.contains(" FUNC "))?;
    let w: Vec<&str> = sym.split_whitespace().collect();
    let (start, size, ndx) = (u64::from_str_radix(w[1], 16).ok()?, w[2].parse().ok()?, w[6]);
    let section = sections.lines().find_map(|l| {
        let (index, rest) = l.trim_start().strip_prefix('[')?.split_once(']')?;
        (index.trim() == ndx).then(|| rest.split_whitespace().next().unwrap_or("").to_string())
    })?;
    Some(Place { section, start, size })
}

/// Whether the `.rela.orc_unwind_ip` section of `readelf -rW` output points
/// into `place`.
fn orc_covers(readelf_relocs: &str, place: &Place) -> bool {
    let mut in_orc = false;
    for line in readelf_relocs.lines() {
        if line.starts_with("Relocation section") {
            in_orc = line.contains("'.rela.orc_unwind_ip'");
            continue;
        }
        if !in_orc {
            continue;
        }
        // "... R_X86_64_PC32 0000000000000000 .text + 24"
        let w: Vec<&str> = line.split_whitespace().collect();
        let Some(at) = w.iter().position(|x| *x == place.section) else {
            continue;
        };
        let addend = match (w.get(at + 1), w.get(at + 2)) {
            (Some(&"+"), Some(a)) => u64::from_str_radix(a, 16).ok(),
            (None, _) => Some(0),
            _ => None,
        };
        if addend.is_some_and(|a| a >= place.start && a < place.start + place.size) {
            return true;
        }
    }
    false
}

pub fn check_vermagic(ko: &Path, release: &str) -> Result<()> {
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
    use super::{function_place, orc_covers, Place};

    fn place(section: &str, start: u64, size: u64) -> Place {
        Place {
            section: section.into(),
            start,
            size,
        }
    }

    #[test]
    fn orc_coverage_is_read_from_the_right_section() {
        let relocs = "\
Relocation section '.rela.text.kwasm_rust_open' at offset 0x1 contains 1 entry:
0000000000000001  0000001200000004 R_X86_64_PLT32  0000000000000000 .text.kwasm_rust_ioctl - 4
Relocation section '.rela.orc_unwind_ip' at offset 0x2 contains 2 entries:
00000000000002a4  0000001200000002 R_X86_64_PC32   0000000000000000 .text.kwasm_rust_exit + 0
00000000000002a8  0000000500000002 R_X86_64_PC32   0000000000000000 .text + 631d0
";
        assert!(orc_covers(relocs, &place(".text.kwasm_rust_exit", 0, 10)));
        assert!(!orc_covers(relocs, &place(".text.kwasm_rust_ioctl", 0, 10)));
        // 7.x: one merged .text.
        assert!(orc_covers(relocs, &place(".text", 0x631c0, 9175)));
        assert!(!orc_covers(relocs, &place(".text", 0x10, 0x20)));
    }

    #[test]
    fn function_place_from_symbols_and_sections() {
        let symbols = "  2116: 00000000000631c0  9175 FUNC    GLOBAL DEFAULT    9 kwasm_rust_ioctl\n";
        let sections = "  [ 9] .text             PROGBITS        0000000000000000 000450 0ef79d 00  AX  0   0 32\n";
        assert_eq!(
            function_place(symbols, sections, "kwasm_rust_ioctl"),
            Some(place(".text", 0x631c0, 9175))
        );
        assert_eq!(function_place(symbols, sections, "kwasm_rust_open"), None);
    }
}
