//! `cargo xtask package`: kwasm's DKMS source tree and Debian packages
//! (issue #16). The tree is what
//! `dkms add/build/install` needs to build kwasm.ko for any installed
//! kernel with headers and no Rust toolchain: the C glue, Kbuild, and the
//! Rust half prebuilt as Kbuild `_shipped` staticlibs. The Rust half uses
//! no kernel header, so one staticlib serves every kernel but for IBT
//! (ENDBR landing pads): two are shipped and Kbuild picks one
//! (kmod/Kbuild). With `--dkms-build`, dkms itself then builds the tree
//! against cached kernels' headers, in a scratch dkms tree (nothing under
//! /var/lib/dkms), and each module is checked as `build-module` checks its
//! own (vermagic, no warning or objtool complaint in the build log).
//! `cargo xtask test` builds the packages, unpacks them into a scratch
//! root and boots every kernel with the module dkms built from there.

mod deb;

pub use deb::{lintian, unpack, Debs};

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::apt::Apt;
use crate::chroot::Chroot;
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
/// scratch dkms tree, where the kernel's own compiler lives; returns the
/// dkms tree's directory for this build (`module/kwasm.ko`, `log/make.log`).
pub fn dkms_build(paths: &Paths, tree: &Path, version: &str, k: &Kernel) -> Result<PathBuf> {
    let dkms_tree = paths.target.join("package/dkms").join(&k.release);
    if dkms_tree.exists() {
        std::fs::remove_dir_all(&dkms_tree)?;
    }
    std::fs::create_dir_all(&dkms_tree)?;
    // dkms takes its source from <sourcetree>/<name>-<version>: the tree.
    let source_tree = tree.parent().context("the DKMS tree has no parent")?;
    let kdir = k.kdir();
    let dkms = |action: &str| -> Result<Command> {
        let argv: Vec<String> = [
            "dkms",
            action,
            "-m",
            "kwasm",
            "-v",
            version,
            "-k",
            &k.release,
            "--dkmstree",
            &dkms_tree.display().to_string(),
            "--sourcetree",
            &source_tree.display().to_string(),
            "--kernelsourcedir",
            &kdir.display().to_string(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        match k.line.build_chroot() {
            None => {
                let mut c = Command::new(&argv[0]);
                c.args(&argv[1..]);
                Ok(c)
            }
            Some(release) => {
                // Its base packages include dkms.
                let chroot = Chroot::ensure(paths, release, &[])?;
                chroot.command(&[&dkms_tree, source_tree, &k.dir], &dkms_tree, &[], &argv)
            }
        }
    };
    eprintln!("xtask: dkms build of kwasm {version} for {}", k.release);
    for action in ["add", "build"] {
        let mut cmd = dkms(action)?;
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
    module::check_vermagic(&built.join("module/kwasm.ko"), &k.release)?;
    eprintln!("xtask: dkms built {}", built.join("module/kwasm.ko").display());
    Ok(built)
}

/// The packages, built, checked by lintian and unpacked for the tests.
pub struct Unpacked {
    pub debs: Debs,
    /// Where both packages' files lie (`usr/src/kwasm-VERSION`, `usr/bin/kwasm`).
    pub root: PathBuf,
}

impl Unpacked {
    pub fn tree(&self) -> PathBuf {
        self.root.join(format!("usr/src/kwasm-{}", self.debs.version))
    }

    pub fn cli(&self) -> PathBuf {
        self.root.join("usr/bin/kwasm")
    }
}

/// Both packages from this checkout: the DKMS tree and the static command
/// (built for musl, as the guests run it).
pub fn build_packages(paths: &Paths) -> Result<Debs> {
    let (tree, version) = dkms_tree(paths)?;
    let cli = crate::guest::build_binaries(paths)?.kwasm;
    deb::build_debs(paths, &tree, &version, &cli)
}

/// [`build_packages`], then `dpkg-deb -x` of both into
/// `<target>/package/root`.
pub fn build_and_unpack(paths: &Paths) -> Result<Unpacked> {
    Apt::default().ensure_installed(&["dkms", "lintian"])?;
    let debs = build_packages(paths)?;
    let root = paths.target.join("package/root");
    unpack(&debs, &root)?;
    Ok(Unpacked { debs, root })
}

/// The module dkms builds from the unpacked `kwasm-dkms` for `k`, put where
/// the rig's own build puts its module (`<target>/kmod/<release>/`, with
/// its make.log for the objtool verdict), so that the guest boots with it.
pub fn install_dkms_module(paths: &Paths, unpacked: &Unpacked, k: &Kernel) -> Result<PathBuf> {
    let built = dkms_build(paths, &unpacked.tree(), &unpacked.debs.version, k)?;
    let out_dir = paths.kmod_out(&k.release);
    std::fs::create_dir_all(&out_dir)?;
    std::fs::copy(built.join("log/make.log"), out_dir.join("make.log"))?;
    let ko = out_dir.join("kwasm.ko");
    std::fs::copy(built.join("module/kwasm.ko"), &ko)?;
    Ok(ko)
}

/// Installs both packages with dpkg, as a user would, on a Debian system
/// of `k`'s line (its build chroot, through an overlay: nothing persists)
/// with `k`'s headers at /lib/modules/<release>/build: the postinst must
/// leave kwasm.ko of this version installed by dkms, the command, its man
/// page and completions in place; purging both must take every file away
/// again, the module included (prerm's `dkms remove`).
pub fn install_remove(paths: &Paths, debs: &Debs, k: &Kernel) -> Result<(), String> {
    let Some(release) = k.line.build_chroot() else {
        return Err(format!("{}: the install test needs a chroot of its Debian release", k.release));
    };
    let run = || -> Result<std::process::Output> {
        let chroot = Chroot::ensure(paths, release, &[])?;
        let dir = debs.dkms.parent().context("no package directory")?;
        let (dkms_deb, cli_deb) = (debs.dkms.display().to_string(), debs.cli.display().to_string());
        let (r, v, kdir) = (&k.release, &debs.version, k.kdir().display().to_string());
        let script = format!(
            "set -ex\n\
             mkdir -p /lib/modules/{r} && ln -s {kdir} /lib/modules/{r}/build\n\
             dpkg -i {dkms_deb} {cli_deb}\n\
             dkms status kwasm\n\
             test \"$(modinfo -F version /lib/modules/{r}/updates/dkms/kwasm.ko)\" = {v}\n\
             test \"$(kwasm --version)\" = \"kwasm {v}\"\n\
             test -s /usr/share/man/man1/kwasm-run.1.gz && test -s /usr/share/bash-completion/completions/kwasm\n\
             dpkg --purge kwasm kwasm-dkms\n\
             test ! -e /lib/modules/{r}/updates/dkms/kwasm.ko && test ! -e /usr/src/kwasm-{v} && test ! -e /usr/bin/kwasm\n\
             test -z \"$(dkms status kwasm)\"\n\
             echo KWASM-INSTALL-REMOVE-OK\n"
        );
        let scratch = paths.target.join("package/install").join(&k.release);
        let mut cmd = chroot.overlay_command(&scratch, &[dir, &k.dir], &script)?;
        let out = process::output(&mut cmd)?;
        // The overlay's upper layer is what the install left: not wanted.
        let _ = std::fs::remove_dir_all(&scratch);
        Ok(out)
    };
    let out = run().map_err(|e| format!("{e:#}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.success() && text.contains("KWASM-INSTALL-REMOVE-OK") {
        Ok(())
    } else {
        Err(format!("installing and purging the packages on {} failed:\n{text}", k.release))
    }
}

/// `cargo xtask package [--dkms-build K,...]`.
pub fn package(paths: &Paths, dkms_kernels: &[KernelLine]) -> Result<()> {
    let unpacked = build_and_unpack(paths)?;
    lintian(&unpacked.debs).map_err(anyhow::Error::msg)?;
    for k in crate::setup::setup(paths, dkms_kernels)? {
        dkms_build(paths, &unpacked.tree(), &unpacked.debs.version, &k)?;
        if k.line.build_chroot().is_some() {
            install_remove(paths, &unpacked.debs, &k).map_err(anyhow::Error::msg)?;
            eprintln!("xtask: installed and purged both packages on {}", k.release);
        }
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
        let kbuild = include_str!("../../../kmod/Kbuild");
        for object in ["kwasm_glue.o", "kwasm_fs_glue.o", "kwasm_net_glue.o", "kwasm_guard_glue.o", "kwasm_fiber.o"] {
            let source = object.replace(".o", if object == "kwasm_fiber.o" { ".S" } else { ".c" });
            assert!(kbuild.contains(object) && SOURCES.contains(&source.as_str()), "{source}");
        }
        assert!(kbuild.contains("libkwasm_kmod.a_shipped") && kbuild.contains("libkwasm_kmod$(if $(CONFIG_X86_KERNEL_IBT),-ibt).a"));
    }
}
