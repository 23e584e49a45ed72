//! Debian kernels in the cache: which release a kernel line means today,
//! fetching its image and headers, and where the pieces are.
//!
//! Layout, one directory per release:
//!
//! ```text
//! <cache>/kernels/6.1.release           "6.1.0-56-amd64": what `--kernel 6.1` means
//! <cache>/kernels/<release>/root/       image (boot/ and the e1000 module only), headers, -common, kbuild (dpkg -x)
//! <cache>/kernels/<release>/vmlinux     uncompressed kernel, booted by QEMU
//! <cache>/kernels/<release>/host-packages   apt packages the headers need on the host
//! <cache>/kernels/<release>/complete    stamp: everything above is in place
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, ensure, Context, Result};

use crate::apt::Apt;
use crate::paths::Paths;
use crate::{process, vmlinux};

/// A kernel line as users name it; the release behind it moves with
/// security updates and is resolved at setup time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelLine {
    V6_1,
    V6_12,
}

impl KernelLine {
    pub const ALL: [KernelLine; 2] = [KernelLine::V6_1, KernelLine::V6_12];

    pub fn name(self) -> &'static str {
        match self {
            KernelLine::V6_1 => "6.1",
            KernelLine::V6_12 => "6.12",
        }
    }

    pub fn from_name(s: &str) -> Option<KernelLine> {
        Self::ALL.into_iter().find(|k| k.name() == s)
    }

    pub fn names() -> String {
        Self::ALL.map(|k| k.name()).join(", ")
    }

    /// The metapackage whose dependency names the newest image of this line.
    fn image_metapackage(self) -> &'static str {
        match self {
            KernelLine::V6_1 => "linux-image-amd64",
            KernelLine::V6_12 => "linux-image-6.12-amd64",
        }
    }

    fn release_file(self, paths: &Paths) -> PathBuf {
        paths.kernels_dir().join(format!("{}.release", self.name()))
    }
}

/// A kernel release that setup has put in the cache.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// `uname -r` of the kernel, e.g. `6.12.117+deb12-amd64`.
    pub release: String,
    pub dir: PathBuf,
}

impl Kernel {
    fn at(paths: &Paths, release: &str) -> Kernel {
        Kernel {
            release: release.to_string(),
            dir: paths.kernels_dir().join(release),
        }
    }

    /// The cached kernel of this line, as recorded by the last setup.
    pub fn installed(paths: &Paths, line: KernelLine) -> Result<Kernel> {
        let file = line.release_file(paths);
        let release = std::fs::read_to_string(&file).map(|s| s.trim().to_string()).ok();
        let Some(release) = release.filter(|r| !r.is_empty()) else {
            bail!(
                "kernel {} is not set up yet: run `cargo xtask setup --kernel {}`",
                line.name(),
                line.name()
            );
        };
        let k = Kernel::at(paths, &release);
        if !k.is_complete() {
            bail!(
                "the cache entry for kernel {release} at {} is incomplete: run `cargo xtask setup --kernel {}`",
                k.dir.display(),
                line.name()
            );
        }
        Ok(k)
    }

    pub fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// The headers tree to build modules against (`make -C <kdir> M=...`).
    pub fn kdir(&self) -> PathBuf {
        self.root()
            .join("usr/src")
            .join(format!("linux-headers-{}", self.release))
    }

    pub fn vmlinux(&self) -> PathBuf {
        self.dir.join("vmlinux")
    }

    fn stamp(&self) -> PathBuf {
        self.dir.join("complete")
    }

    fn host_packages_file(&self) -> PathBuf {
        self.dir.join("host-packages")
    }

    /// The guest's network card driver (e1000, which QEMU emulates), as
    /// the image package ships it: `e1000.ko`, or `e1000.ko.xz` on kernels
    /// that compress their modules.
    pub fn nic_module(&self) -> Option<PathBuf> {
        let dir = self.root().join(format!("lib/modules/{}/{NIC_MODULE_DIR}", self.release));
        ["e1000.ko", "e1000.ko.xz"].map(|f| dir.join(f)).into_iter().find(|p| p.is_file())
    }

    pub fn is_complete(&self) -> bool {
        self.stamp().is_file()
            && self.vmlinux().is_file()
            && self.kdir().join("Makefile").is_file()
            && self.nic_module().is_some()
    }

    /// Apt packages the headers need on the host (compiler, kbuild's
    /// shared libraries, pahole), as recorded at fetch time.
    pub fn host_packages(&self) -> Result<Vec<String>> {
        let text = std::fs::read_to_string(self.host_packages_file())?;
        Ok(text.split_whitespace().map(str::to_string).collect())
    }
}

/// Today's release of a kernel line, from the metapackage's dependency.
pub fn resolve_release(apt: &mut Apt, line: KernelLine) -> Result<String> {
    let meta = line.image_metapackage();
    let deps = apt.depends(meta)?;
    let image = deps
        .iter()
        .find_map(|d| d.package.strip_prefix("linux-image-"))
        .with_context(|| format!("`apt-cache depends {meta}` names no linux-image-* package"))?;
    ensure!(
        image.starts_with(&format!("{}.", line.name())),
        "{meta} depends on linux-image-{image}, which is not a {} kernel",
        line.name()
    );
    Ok(image.to_string())
}

/// Makes the newest release of `line` available in the cache (or keeps the
/// recorded one when apt cannot be asked), and records it for later commands.
pub fn ensure_kernel(paths: &Paths, apt: &mut Apt, line: KernelLine) -> Result<Kernel> {
    let release = match resolve_release(apt, line) {
        Ok(r) => r,
        Err(e) => match Kernel::installed(paths, line) {
            Ok(k) => {
                eprintln!(
                    "xtask: warning: cannot resolve the newest {} kernel ({e:#}); keeping {}",
                    line.name(),
                    k.release
                );
                k.release
            }
            Err(_) => return Err(e),
        },
    };
    let kernel = Kernel::at(paths, &release);
    if !kernel.is_complete() {
        fetch(apt, &kernel).with_context(|| format!("setting up kernel {release} in {}", kernel.dir.display()))?;
    }
    let host_packages = kernel.host_packages()?;
    apt.ensure_installed(&host_packages.iter().map(String::as_str).collect::<Vec<_>>())?;
    std::fs::write(line.release_file(paths), format!("{release}\n"))?;
    Ok(kernel)
}

fn is_kernel_package(name: &str) -> bool {
    ["linux-image-", "linux-headers-", "linux-kbuild-"]
        .iter()
        .any(|p| name.starts_with(p))
}

fn fetch(apt: &mut Apt, k: &Kernel) -> Result<()> {
    eprintln!("xtask: fetching kernel {} into {}", k.release, k.dir.display());
    let image = format!("linux-image-{}", k.release);
    let headers = format!("linux-headers-{}", k.release);
    let header_deps = apt.depends(&headers)?;
    let common = header_deps
        .iter()
        .map(|d| &d.package)
        .find(|p| p.starts_with("linux-headers-") && p.ends_with("-common"))
        .with_context(|| format!("{headers} depends on no linux-headers-*-common package"))?
        .clone();
    let kbuild = header_deps
        .iter()
        .map(|d| &d.package)
        .find(|p| p.starts_with("linux-kbuild-"))
        .with_context(|| format!("{headers} depends on no linux-kbuild-* package"))?
        .clone();
    // Everything else the headers and kbuild depend on must be on the host:
    // the compiler (gcc-12), kbuild's shared libraries, pahole (BTF for 6.12).
    let mut host: Vec<String> = vec![];
    let kbuild_deps = apt.depends(&kbuild)?;
    for d in header_deps.iter().chain(&kbuild_deps) {
        if d.is_virtual || is_kernel_package(&d.package) || host.contains(&d.package) {
            continue;
        }
        host.push(d.package.clone());
    }

    if k.dir.exists() {
        std::fs::remove_dir_all(&k.dir).with_context(|| format!("removing stale {}", k.dir.display()))?;
    }
    let debs = k.dir.join("debs");
    let root = k.root();
    std::fs::create_dir_all(&debs)?;
    std::fs::create_dir_all(&root)?;
    apt.download(&[image.clone(), headers.clone(), common, kbuild], &debs)?;

    for entry in std::fs::read_dir(&debs)? {
        let deb = entry?.path();
        let name = deb.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with(&format!("{image}_")) {
            // Only boot/ and the guest's network driver of the image: its
            // 100-400 MB of other modules are not needed.
            unpack_image_boot(&deb, &root, &k.release)?;
        } else {
            process::run(Command::new("dpkg").arg("-x").arg(&deb).arg(&root))?;
        }
    }
    relocate_headers(k)?;
    vmlinux::extract(&root.join(format!("boot/vmlinuz-{}", k.release)), &k.vmlinux())?;
    std::fs::write(k.host_packages_file(), host.join("\n") + "\n")?;
    std::fs::remove_dir_all(&debs)?;
    std::fs::write(k.stamp(), "")?;
    Ok(())
}

/// Where the image package keeps the e1000 driver, under lib/modules/<release>/.
const NIC_MODULE_DIR: &str = "kernel/drivers/net/ethernet/intel/e1000";

fn unpack_image_boot(deb: &Path, root: &Path, release: &str) -> Result<()> {
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .context("could not run dpkg-deb")?;
    let files = ["vmlinuz", "config", "System.map"].map(|f| format!("./boot/{f}-{release}"));
    let nic = format!("./lib/modules/{release}/{NIC_MODULE_DIR}/e1000.ko*");
    let mut tar = Command::new("tar");
    tar.arg("-x").arg("-C").arg(root).arg("-f").arg("-").args(&files).arg("--wildcards").arg(nic);
    tar.stdin(dpkg.stdout.take().unwrap());
    let tar_result = process::run(&mut tar);
    let dpkg_status = dpkg.wait()?;
    tar_result.with_context(|| format!("unpacking boot/ from {}", deb.display()))?;
    ensure!(
        dpkg_status.success(),
        "dpkg-deb --fsys-tarfile {} failed",
        deb.display()
    );
    Ok(())
}

/// Debian's headers tree is meant to live at /usr/src. Its Makefile is one
/// line, `include /usr/src/linux-headers-<X>-common/Makefile`: point it into
/// the cache. The `scripts`/`tools` symlinks are relative
/// (`../../lib/linux-kbuild-*`) and resolve inside the cache root already;
/// nothing else in the tree names /usr/src or /usr/lib.
fn relocate_headers(k: &Kernel) -> Result<()> {
    let kdir = k.kdir();
    let makefile = kdir.join("Makefile");
    let text = std::fs::read_to_string(&makefile).with_context(|| format!("reading {}", makefile.display()))?;
    let usr_src = format!("{}/", k.root().join("usr/src").display());
    let mut changed = false;
    let fixed: String = text
        .lines()
        .map(|line| match line.strip_prefix("include /usr/src/") {
            Some(rest) => {
                changed = true;
                format!("include {usr_src}{rest}\n")
            }
            None => format!("{line}\n"),
        })
        .collect();
    ensure!(
        changed,
        "{} has no `include /usr/src/...` line: Debian changed its headers layout",
        makefile.display()
    );
    std::fs::write(&makefile, fixed)?;
    for needed in [
        "scripts/mod/modpost",
        "tools/objtool/objtool",
        ".config",
        "Module.symvers",
    ] {
        ensure!(
            kdir.join(needed).exists(),
            "{} is missing from the unpacked headers",
            kdir.join(needed).display()
        );
    }
    Ok(())
}
