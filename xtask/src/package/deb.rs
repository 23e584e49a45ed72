//! The two Debian packages (issue #16), made with `dpkg-deb` from trees
//! laid out here, as a -dkms package and a static command are laid out in
//! Debian:
//!
//! * `kwasm-dkms` (all): the DKMS source tree in /usr/src/kwasm-VERSION,
//!   its Rust half prebuilt; postinst hands it to dkms (dkms's own
//!   common.postinst, as dh_dkms does), prerm removes it from dkms.
//! * `kwasm` (amd64): the static command, its man pages (made by the
//!   command from its clap definitions), bash/zsh/fish completions, a
//!   commented modules-load.d snippet and a udev rule that pins
//!   /dev/kwasm's mode.
//!
//! `lintian` checks both; [`unpack`] lays them into a scratch root for the
//! tests, which never touch the host's own /usr, /lib or /var.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::paths::Paths;
use crate::process;

/// The Debian revision of these packages (upstream is the crates' version).
const REVISION: &str = "1";
/// Who answers for the packages (a real address when they are published).
const MAINTAINER: &str = "kwasm developers <kwasm-dev@kwasm.invalid>";

/// The two packages made.
pub struct Debs {
    pub dkms: PathBuf,
    pub cli: PathBuf,
    /// The upstream version (the crates', the module's).
    pub version: String,
}

/// /usr/lib/udev/rules.d/60-kwasm.rules: the security model wants
/// /dev/kwasm root's alone (the module also demands CAP_SYS_ADMIN at open);
/// the rule keeps a distribution's catch-all rule for misc devices from
/// loosening it. (An administrator's rule in /etc/udev/rules.d wins.)
const UDEV_RULE: &str = "# kwasm: /dev/kwasm runs code in the kernel; it stays root's alone.\n\
# (kwasm.ko also requires CAP_SYS_ADMIN of whoever opens it.)\n\
SUBSYSTEM==\"misc\", KERNEL==\"kwasm\", OWNER=\"root\", GROUP=\"root\", MODE=\"0600\"\n";

/// /usr/lib/modules-load.d/kwasm.conf, loading nothing as shipped.
const MODULES_LOAD: &str = "# Load kwasm.ko at boot: remove the # below. (Without it, load it\n\
# when wanted with `modprobe kwasm`.)\n\
#kwasm\n";

fn copyright() -> String {
    "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\
     Upstream-Name: kwasm\n\
     Comment: The kwasm command is statically linked with Rust crates (Wasmtime,\n \
     Cranelift, clap and others) under Apache-2.0 WITH LLVM-exception, Apache-2.0\n \
     or MIT; kwasm.ko's prebuilt Rust half likewise contains Wasmtime.\n\
     \n\
     Files: *\n\
     Copyright: 2026 kwasm developers\n\
     License: GPL-2\n \
     This program is free software; you can redistribute it and/or modify it\n \
     under the terms of the GNU General Public License version 2 as published\n \
     by the Free Software Foundation.\n \
     .\n \
     On Debian systems, the full text of the GNU General Public License\n \
     version 2 can be found in the file `/usr/share/common-licenses/GPL-2'.\n"
        .to_string()
}

fn changelog(package: &str, version: &str, date: &str) -> String {
    format!(
        "{package} ({version}-{REVISION}) unstable; urgency=medium\n\n  \
         * Built by `cargo xtask package` from kwasm's repository.\n\n \
         -- {MAINTAINER}  {date}\n"
    )
}

fn control(package: &str, version: &str, arch: &str, size_kib: u64, fields: &str, description: &str) -> String {
    format!(
        "Package: {package}\n\
         Version: {version}-{REVISION}\n\
         Architecture: {arch}\n\
         Maintainer: {MAINTAINER}\n\
         Installed-Size: {size_kib}\n\
         {fields}\
         Section: kernel\n\
         Priority: optional\n\
         Description: {description}\n"
    )
}

fn dkms_postinst(version: &str) -> String {
    format!(
        "#!/bin/sh\n\
         set -e\n\
         # Register the source with dkms and build and install kwasm.ko for the\n\
         # installed kernels that have headers (what dh_dkms's scripts do).\n\
         if [ \"$1\" = configure ]; then\n    \
         /usr/lib/dkms/common.postinst kwasm {version} \"\" \"\" \"$2\"\n\
         fi\n"
    )
}

fn dkms_prerm(version: &str) -> String {
    format!(
        "#!/bin/sh\n\
         set -e\n\
         case \"$1\" in\n    \
         remove|upgrade|deconfigure)\n        \
         if [ \"$(dkms status -m kwasm -v {version})\" ]; then\n            \
         dkms remove -m kwasm -v {version} --all\n        \
         fi\n        \
         ;;\n\
         esac\n"
    )
}

/// Writes `text` at `root/rel` with `mode`, making its directories.
fn put(root: &Path, rel: &str, mode: u32, text: &[u8]) -> Result<()> {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().context("no parent")?)?;
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
    Ok(())
}

/// `gzip -9n` of `text` (no name or time stamp: the same bytes every build).
fn gzip(text: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    let mut child = Command::new("gzip")
        .args(["-9n", "-c"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("running gzip")?;
    child.stdin.take().context("gzip stdin")?.write_all(text)?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!("gzip failed");
    }
    Ok(out.stdout)
}

/// Every directory 0755 and every file 0644 (0755 where it was executable):
/// what a package tree must hold whatever the umask was.
fn normalize_modes(dir: &Path) -> Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let meta = std::fs::symlink_metadata(&path)?;
        if meta.is_dir() {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))?;
            normalize_modes(&path)?;
        } else if meta.is_file() {
            let exec = meta.permissions().mode() & 0o111 != 0;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(if exec { 0o755 } else { 0o644 }))?;
        }
    }
    Ok(())
}

/// Size of the files under `dir`, in KiB as dpkg counts (a KiB per started KiB).
fn size_kib(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = std::fs::symlink_metadata(entry.path())?;
        total += if meta.is_dir() { size_kib(&entry.path())? } else { meta.len().div_ceil(1024) };
    }
    Ok(total)
}

/// What a package says of itself; its files are laid out in its root first.
struct Meta {
    name: &'static str,
    arch: &'static str,
    /// Relationship fields, each a line (`Depends: ...\n`).
    fields: String,
    /// The synopsis line, then the long description's lines (indented).
    description: &'static str,
    /// Its lintian overrides file, each override under a comment saying why.
    overrides: &'static str,
}

/// Adds to the laid-out `root` what every package has (copyright,
/// changelog, lintian overrides, sane modes, DEBIAN/control and any
/// maintainer `scripts`), then `dpkg-deb --build`s it into `out_dir`.
fn finish(root: &Path, out_dir: &Path, meta: &Meta, version: &str, date: &str, scripts: &[(&str, String)]) -> Result<PathBuf> {
    let doc = format!("usr/share/doc/{}", meta.name);
    put(root, &format!("{doc}/copyright"), 0o644, copyright().as_bytes())?;
    put(root, &format!("{doc}/changelog.Debian.gz"), 0o644, &gzip(changelog(meta.name, version, date).as_bytes())?)?;
    put(root, &format!("usr/share/lintian/overrides/{}", meta.name), 0o644, meta.overrides.as_bytes())?;
    normalize_modes(root)?;
    let size = size_kib(root)?;
    let control = control(meta.name, version, meta.arch, size, &meta.fields, meta.description);
    put(root, "DEBIAN/control", 0o644, control.as_bytes())?;
    for (name, text) in scripts {
        put(root, &format!("DEBIAN/{name}"), 0o755, text.as_bytes())?;
    }
    let deb = out_dir.join(format!("{}_{version}-{REVISION}_{}.deb", meta.name, meta.arch));
    process::run(
        Command::new("dpkg-deb")
            .args(["--root-owner-group", "-Zxz", "--build"])
            .arg(root)
            .arg(&deb),
    )?;
    Ok(deb)
}

/// An empty directory at `<out>/deb/<name>` to lay a package out in.
fn fresh_root(out: &Path, name: &str) -> Result<PathBuf> {
    let root = out.join("deb").join(name);
    if root.exists() {
        std::fs::remove_dir_all(&root)?;
    }
    std::fs::create_dir_all(&root)?;
    Ok(root)
}

/// The date of the checkout's last commit (RFC 2822, as changelogs want):
/// the same packages from the same commit.
fn commit_date(paths: &Paths) -> Result<String> {
    let date = process::stdout_of(
        Command::new("git")
            .args(["log", "-1", "--format=%aD"])
            .current_dir(&paths.repo),
    )?;
    let date = date.trim();
    if date.is_empty() {
        bail!("no commit date in {}", paths.repo.display());
    }
    Ok(date.to_string())
}

/// Both packages from the DKMS `tree` and the static `cli`, in
/// `<target>/package/`.
pub fn build_debs(paths: &Paths, tree: &Path, version: &str, cli: &Path) -> Result<Debs> {
    let out = paths.target.join("package");
    let date = commit_date(paths)?;

    let root = fresh_root(&out, "kwasm-dkms")?;
    let src = root.join(format!("usr/src/kwasm-{version}"));
    std::fs::create_dir_all(&src)?;
    process::run(Command::new("cp").arg("-a").arg(format!("{}/.", tree.display())).arg(&src))?;
    let meta = Meta {
        name: "kwasm-dkms",
        arch: "all",
        fields: "Depends: dkms (>= 3)\n".into(),
        description: "WebAssembly in the Linux kernel: kwasm.ko (DKMS source)\n \
             kwasm runs WebAssembly programs inside the Linux kernel, as the calling\n \
             process, with WASI and sockets served by direct calls into the kernel.\n \
             .\n \
             This package builds and installs kwasm.ko with DKMS for every installed\n \
             kernel that has its headers (x86-64). The module's Rust half ships\n \
             prebuilt: building needs only make, the kernel's compiler and headers.",
        overrides: "# The Rust half of kwasm.ko ships prebuilt and kernel-independent, so that\n\
             # dkms builds the module without a Rust toolchain (Kbuild's _shipped files).\n\
             kwasm-dkms: arch-independent-package-contains-binary-or-object [usr/src/kwasm-*/libkwasm_kmod*.a_shipped]\n\
             # Each function has its own .text.NAME section (the kernel's objtool and\n\
             # module loader see them); lintian looks only at the empty plain .text.\n\
             kwasm-dkms: no-code-sections [usr/src/kwasm-*/libkwasm_kmod*.a_shipped]\n",
    };
    let scripts = [("postinst", dkms_postinst(version)), ("prerm", dkms_prerm(version))];
    let dkms = finish(&root, &out, &meta, version, &date, &scripts)?;

    let root = fresh_root(&out, "kwasm")?;
    let bin = root.join("usr/bin/kwasm");
    std::fs::create_dir_all(bin.parent().context("no parent")?)?;
    process::run(Command::new("strip").arg("--strip-all").arg("-o").arg(&bin).arg(cli))?;
    let generated = out.join("deb/man");
    if generated.exists() {
        std::fs::remove_dir_all(&generated)?;
    }
    process::run(Command::new(&bin).arg("manpages").arg(&generated))?;
    let mut pages: Vec<PathBuf> = std::fs::read_dir(&generated)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    pages.sort();
    for page in &pages {
        let name = page.file_name().context("no file name")?.to_string_lossy().into_owned();
        put(&root, &format!("usr/share/man/man1/{name}.gz"), 0o644, &gzip(&std::fs::read(page)?)?)?;
    }
    for (shell, rel) in [
        ("bash", "usr/share/bash-completion/completions/kwasm"),
        ("zsh", "usr/share/zsh/vendor-completions/_kwasm"),
        ("fish", "usr/share/fish/vendor_completions.d/kwasm.fish"),
    ] {
        let script = process::output(Command::new(&bin).args(["completions", shell]))?;
        if !script.status.success() || script.stdout.is_empty() {
            bail!("`kwasm completions {shell}` failed");
        }
        put(&root, rel, 0o644, &script.stdout)?;
    }
    put(&root, "usr/lib/modules-load.d/kwasm.conf", 0o644, MODULES_LOAD.as_bytes())?;
    put(&root, "usr/lib/udev/rules.d/60-kwasm.rules", 0o644, UDEV_RULE.as_bytes())?;
    let meta = Meta {
        name: "kwasm",
        arch: "amd64",
        fields: format!("Recommends: kwasm-dkms (= {version}-{REVISION})\n"),
        description: "WebAssembly in the Linux kernel: the kwasm command\n \
             kwasm runs WebAssembly programs inside the Linux kernel, as the calling\n \
             process, with WASI and sockets served by direct calls into the kernel.\n \
             .\n \
             This package has the command (kwasm run, ps, kill, check, wast), which\n \
             compiles programs in user space and hands them to kwasm.ko (package\n \
             kwasm-dkms), with its man pages and shell completions.",
        overrides: "# A static-pie Rust binary (musl): it needs no shared library at all.\n\
             kwasm: shared-library-lacks-prerequisites [usr/bin/kwasm]\n",
    };
    let cli = finish(&root, &out, &meta, version, &date, &[])?;
    eprintln!("xtask: built {} and {}", dkms.display(), cli.display());
    Ok(Debs {
        dkms,
        cli,
        version: version.to_string(),
    })
}

/// `lintian` over both packages: Ok, or what it reported as errors. Its
/// warnings and notes are printed, not failed on.
pub fn lintian(debs: &Debs) -> Result<(), String> {
    let out = process::output(
        Command::new("lintian")
            .args(["--fail-on", "error", "--tag-display-limit", "0"])
            .arg(&debs.dkms)
            .arg(&debs.cli),
    )
    .map_err(|e| format!("{e:#}"))?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !text.trim().is_empty() {
        eprintln!("xtask: lintian says:\n{text}");
    }
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("lintian found errors:\n{text}"))
    }
}

/// Both packages' files under `root` (`dpkg-deb -x`: no maintainer script
/// runs, nothing outside `root` changes).
pub fn unpack(debs: &Debs, root: &Path) -> Result<()> {
    if root.exists() {
        std::fs::remove_dir_all(root)?;
    }
    std::fs::create_dir_all(root)?;
    for deb in [&debs.dkms, &debs.cli] {
        process::run(Command::new("dpkg-deb").arg("-x").arg(deb).arg(root))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_has_the_fields_dpkg_needs() {
        let c = control("kwasm", "1.2.3", "amd64", 42, "Recommends: x\n", "short\n long");
        for line in [
            "Package: kwasm",
            "Version: 1.2.3-1",
            "Architecture: amd64",
            "Installed-Size: 42",
            "Recommends: x",
            "Section: kernel",
            "Description: short",
            " long",
        ] {
            assert!(c.lines().any(|l| l == line), "no `{line}` in:\n{c}");
        }
        assert!(c.ends_with('\n') && !c.contains("\n\n"), "{c:?}");
    }

    #[test]
    fn maintainer_scripts_hand_the_version_to_dkms() {
        let post = dkms_postinst("1.2.3");
        assert!(post.starts_with("#!/bin/sh\nset -e\n"));
        assert!(post.contains("/usr/lib/dkms/common.postinst kwasm 1.2.3 \"\" \"\" \"$2\""), "{post}");
        let pre = dkms_prerm("1.2.3");
        assert!(pre.contains("dkms remove -m kwasm -v 1.2.3 --all") && pre.contains("remove|upgrade|deconfigure"), "{pre}");
    }

    #[test]
    fn the_udev_rule_keeps_the_device_roots_alone() {
        let rule = UDEV_RULE.lines().find(|l| !l.starts_with('#')).unwrap();
        for part in ["KERNEL==\"kwasm\"", "OWNER=\"root\"", "GROUP=\"root\"", "MODE=\"0600\""] {
            assert!(rule.contains(part), "{rule}");
        }
        // Loading at boot is the administrator's choice: the snippet loads nothing as shipped.
        assert!(MODULES_LOAD.lines().all(|l| l.starts_with('#')));
    }
}
