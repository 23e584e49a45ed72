//! `cargo xtask package`: kwasm's DKMS source tree (issue #16), what
//! `dkms add/build/install` needs to build kwasm.ko for any installed
//! kernel with headers and no Rust toolchain: the C glue, Kbuild, and the
//! Rust half prebuilt as Kbuild `_shipped` staticlibs. The Rust half uses
//! no kernel header, so one staticlib serves every kernel but for IBT
//! (ENDBR landing pads): two are shipped and Kbuild picks one
//! (kmod/Kbuild). With `--dkms-build`, dkms itself then builds the tree
//! against cached kernels' headers, in a scratch dkms tree (nothing under
//! /var/lib/dkms), and each module is checked as `build-module` checks its
//! own (vermagic, no warning or objtool complaint in the build log).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::apt::Apt;
use crate::kernels::{Kernel, KernelLine};
use crate::module;
use crate::paths::Paths;
use crate::process;

/// What the tree holds from kmod/, besides the generated files.
const SOURCES: [&str; 8] = [
    "Kbuild",
    "Makefile",
    "kwasm_glue.c",
    "kwasm_fs_glue.c",
    "kwasm_net_glue.c",
    "kwasm_guard_glue.c",
    "kwasm_fiber.S",
    "scripts/wasmtime-objtool-annotations.sh",
];

/// The module's version: kmod/rust/Cargo.toml's.
fn version(paths: &Paths) -> Result<String> {
    let manifest = paths.repo.join("kmod/rust/Cargo.toml");
    let text = std::fs::read_to_string(&manifest).with_context(|| format!("reading {}", manifest.display()))?;
    text.lines()
        .find_map(|l| l.strip_prefix("version = \"")?.strip_suffix('"'))
        .map(str::to_string)
        .with_context(|| format!("no version in {}", manifest.display()))
}

/// dkms.conf: built with the kernel's own Kbuild (the default MAKE), for
/// x86-64 only, rebuilt for every kernel installed later.
fn dkms_conf(version: &str) -> String {
    format!(
        "# kwasm: WebAssembly in the Linux kernel. The Rust half is prebuilt\n\
         # (libkwasm_kmod*.a_shipped); building needs only make, the kernel's\n\
         # compiler and its headers.\n\
         PACKAGE_NAME=\"kwasm\"\n\
         PACKAGE_VERSION=\"{version}\"\n\
         BUILT_MODULE_NAME[0]=\"kwasm\"\n\
         DEST_MODULE_LOCATION[0]=\"/updates/dkms\"\n\
         MAKE[0]=\"make -C ${{kernel_source_dir}} M=${{dkms_tree}}/${{PACKAGE_NAME}}/${{PACKAGE_VERSION}}/build modules\"\n\
         CLEAN=\"make -C ${{kernel_source_dir}} M=${{dkms_tree}}/${{PACKAGE_NAME}}/${{PACKAGE_VERSION}}/build clean\"\n\
         BUILD_EXCLUSIVE_ARCH=\"x86_64\"\n\
         AUTOINSTALL=\"yes\"\n"
    )
}

/// Builds the tree at `<target>/package/kwasm-<version>/`: returns it and
/// the version.
pub fn dkms_tree(paths: &Paths) -> Result<(PathBuf, String)> {
    let version = version(paths)?;
    let kmod = paths.repo.join("kmod");
    let tree = paths.target.join("package").join(format!("kwasm-{version}"));
    if tree.exists() {
        std::fs::remove_dir_all(&tree).with_context(|| format!("removing {}", tree.display()))?;
    }
    std::fs::create_dir_all(tree.join("scripts"))?;
    for file in SOURCES {
        std::fs::copy(kmod.join(file), tree.join(file)).with_context(|| format!("copying kmod/{file}"))?;
    }
    for (ibt, shipped) in [(false, "libkwasm_kmod.a_shipped"), (true, "libkwasm_kmod-ibt.a_shipped")] {
        let target_dir = paths.target.join("kmod").join(if ibt { "rust-ibt" } else { "rust" });
        std::fs::create_dir_all(&target_dir)?;
        eprintln!("xtask: building the Rust half of kwasm.ko ({})", if ibt { "IBT" } else { "no IBT" });
        let jobs = std::thread::available_parallelism().map_or(1, |n| n.get());
        module::build_rust(&kmod, &target_dir, ibt, jobs)?;
        let lib = target_dir.join("x86_64-unknown-none/release/libkwasm_kmod.a");
        std::fs::copy(&lib, tree.join(shipped)).with_context(|| format!("copying {}", lib.display()))?;
    }
    std::fs::write(tree.join("VERSION"), format!("{version}\n"))?;
    std::fs::write(tree.join("dkms.conf"), dkms_conf(&version))?;
    eprintln!("xtask: DKMS source tree in {}", tree.display());
    Ok((tree, version))
}

/// `dkms add` and `dkms build` of `tree` (kwasm `version`) for `k`, in a
/// scratch dkms tree; returns the module dkms built.
pub fn dkms_build(paths: &Paths, tree: &Path, version: &str, k: &Kernel) -> Result<PathBuf> {
    if k.line.build_chroot().is_some() {
        bail!(
            "{}: its compiler is not the host's (the rig builds it in a chroot); dkms builds here only for 6.x",
            k.release
        );
    }
    let dkms_tree = paths.target.join("package/dkms").join(&k.release);
    if dkms_tree.exists() {
        std::fs::remove_dir_all(&dkms_tree)?;
    }
    std::fs::create_dir_all(&dkms_tree)?;
    // dkms takes its source from <sourcetree>/<name>-<version>: the tree.
    let source_tree = tree.parent().context("the DKMS tree has no parent")?;
    let dkms = |action: &str| {
        let mut c = Command::new("dkms");
        c.arg(action)
            .args(["-m", "kwasm", "-v", version, "-k", &k.release])
            .arg("--dkmstree")
            .arg(&dkms_tree)
            .arg("--sourcetree")
            .arg(source_tree)
            .arg("--kernelsourcedir")
            .arg(k.kdir());
        c
    };
    eprintln!("xtask: dkms build of kwasm {version} for {}", k.release);
    for action in ["add", "build"] {
        let mut cmd = dkms(action);
        let out = process::output(&mut cmd)?;
        if !out.status.success() {
            let log = dkms_tree.join(format!("kwasm/{version}/build/make.log"));
            bail!(
                "`{}` failed:\n{}{}\n{}",
                process::display(&cmd),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
    }
    // dkms keeps the build's log and module, and removes the build.
    let built = dkms_tree.join(format!("kwasm/{version}/{}/x86_64", k.release));
    let log = std::fs::read_to_string(built.join("log/make.log")).context("dkms left no make.log")?;
    let complaints: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("warning:") || l.contains("objtool") || l.contains("WARNING"))
        .collect();
    if !complaints.is_empty() {
        bail!("dkms built kwasm.ko for {} with complaints:\n{}", k.release, complaints.join("\n"));
    }
    let ko = built.join("module/kwasm.ko");
    module::check_vermagic(&ko, &k.release)?;
    eprintln!("xtask: dkms built {}", ko.display());
    Ok(ko)
}

/// `cargo xtask package [--dkms-build K,...]`.
pub fn package(paths: &Paths, dkms_kernels: &[KernelLine]) -> Result<()> {
    let (tree, version) = dkms_tree(paths)?;
    if dkms_kernels.is_empty() {
        return Ok(());
    }
    Apt::default().ensure_installed(&["dkms"])?;
    for k in crate::setup::setup(paths, dkms_kernels)? {
        dkms_build(paths, &tree, &version, &k)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dkms_conf_builds_with_kbuild_for_every_kernel() {
        let conf = dkms_conf("1.2.3");
        for line in [
            "PACKAGE_NAME=\"kwasm\"",
            "PACKAGE_VERSION=\"1.2.3\"",
            "BUILT_MODULE_NAME[0]=\"kwasm\"",
            "MAKE[0]=\"make -C ${kernel_source_dir} M=${dkms_tree}/${PACKAGE_NAME}/${PACKAGE_VERSION}/build modules\"",
            "AUTOINSTALL=\"yes\"",
        ] {
            assert!(conf.lines().any(|l| l == line), "no `{line}` in:\n{conf}");
        }
    }

    #[test]
    fn the_tree_ships_what_kbuild_uses() {
        let kbuild = include_str!("../../kmod/Kbuild");
        for object in ["kwasm_glue.o", "kwasm_fs_glue.o", "kwasm_net_glue.o", "kwasm_guard_glue.o", "kwasm_fiber.o"] {
            let source = object.replace(".o", if object == "kwasm_fiber.o" { ".S" } else { ".c" });
            assert!(kbuild.contains(object) && SOURCES.contains(&source.as_str()), "{source}");
        }
        assert!(kbuild.contains("libkwasm_kmod.a_shipped") && kbuild.contains("libkwasm_kmod$(if $(CONFIG_X86_KERNEL_IBT),-ibt).a"));
    }
}
