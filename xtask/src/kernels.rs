//! Debian kernels in the cache: which release a kernel line means today,
//! fetching its image and headers, and where the pieces are.
//!
//! Each kernel comes from the Debian release it belongs to: 6.1 and 6.12
//! (and 6.12's PREEMPT_RT flavour) through the host's apt (bookworm), 7.x
//! through a private apt of trixie-backports (see `apt`), and its module is
//! built with that release's own compiler: on the host for bookworm
//! kernels, in a trixie chroot for 7.x (see `chroot`).
//!
//! Layout, one directory per release:
//!
//! ```text
//! <cache>/kernels/6.1.release           "6.1.0-56-amd64": what `--kernel 6.1` means
//! <cache>/kernels/<release>/root/       image (vmlinuz, config, System.map and the e1000 module only), headers, -common, kbuild (dpkg -x)
//! <cache>/kernels/<release>/vmlinux     uncompressed kernel, booted by QEMU
//! <cache>/kernels/<release>/host-packages   apt packages the headers need where the module is built (host or chroot)
//! <cache>/kernels/<release>/complete    stamp: everything above is in place
//! ```

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, ensure, Context, Result};

use crate::apt::{self, Apt, Suite};
use crate::chroot::Chroot;
use crate::paths::Paths;
use crate::{process, vmlinux};

/// A kernel line as users name it; the release behind it moves with
/// security updates and is resolved at setup time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KernelLine {
    V6_1,
    V6_12,
    /// Debian's PREEMPT_RT build of 6.12 (bookworm-security): spinlocks
    /// sleep, softirqs run in threads, only HARD hrtimers fire in interrupt
    /// context. The sternest check of the module's atomic-context rules.
    V6_12Rt,
    V7_3,
}

impl KernelLine {
    pub const ALL: [KernelLine; 4] = [KernelLine::V6_1, KernelLine::V6_12, KernelLine::V6_12Rt, KernelLine::V7_3];

    /// The lines `setup`, `test` and `spec` use when no `--kernel` is given:
    /// the oldest and newest kernels and 6.12 between them. Not 6.12-rt: a
    /// fourth whole-suite boot would take CI past its time budget (the
    /// README says when it last passed).
    pub const DEFAULT: [KernelLine; 3] = [KernelLine::V6_1, KernelLine::V6_12, KernelLine::V7_3];

    pub fn name(self) -> &'static str {
        match self {
            KernelLine::V6_1 => "6.1",
            KernelLine::V6_12 => "6.12",
            KernelLine::V6_12Rt => "6.12-rt",
            KernelLine::V7_3 => "7.3",
        }
    }

    /// Where the line's packages come from: None for the host's apt
    /// (bookworm and its security suite), else a private apt of that suite.
    pub fn apt_suite(self) -> Option<Suite> {
        match self {
            KernelLine::V6_1 | KernelLine::V6_12 | KernelLine::V6_12Rt => None,
            KernelLine::V7_3 => Some(apt::TRIXIE_BACKPORTS),
        }
    }

    /// The Debian release whose chroot builds the module (None: the host,
    /// whose bookworm gcc-12 is the 6.x kernels' own compiler). 7.x headers
    /// need trixie's gcc-14 and kbuild binaries linked against trixie's libc.
    pub fn build_chroot(self) -> Option<&'static str> {
        match self {
            KernelLine::V6_1 | KernelLine::V6_12 | KernelLine::V6_12Rt => None,
            KernelLine::V7_3 => Some("trixie"),
        }
    }

    /// What a resolved release must start with. The 7.3 line follows
    /// trixie-backports' newest 7.x (Debian moves it to 7.4 and on with
    /// stable updates); a release other than 7.3.* is accepted and said.
    fn release_prefix(self) -> &'static str {
        match self {
            KernelLine::V6_1 => "6.1.",
            KernelLine::V6_12 | KernelLine::V6_12Rt => "6.12.",
            KernelLine::V7_3 => "7.",
        }
    }

    /// The kernel version the line is named after ("6.12" for both 6.12
    /// flavours).
    pub fn version(self) -> &'static str {
        self.name().trim_end_matches("-rt")
    }

    /// A PREEMPT_RT build (no `preempt=` choice: it is always fully
    /// preemptible, with sleeping spinlocks).
    pub fn is_rt(self) -> bool {
        self == KernelLine::V6_12Rt
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
            KernelLine::V6_12Rt => "linux-image-6.12-rt-amd64",
            // In the private apt, trixie-backports' version wins.
            KernelLine::V7_3 => "linux-image-amd64",
        }
    }

    /// The apt to resolve and fetch this line with.
    pub fn apt(self, paths: &Paths) -> Result<Apt> {
        match self.apt_suite() {
            None => Ok(Apt::default()),
            Some(suite) => Apt::private(&paths.cache, suite),
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
    /// The line it was set up for: where its packages come from and
    /// where its module is built.
    pub line: KernelLine,
}

impl Kernel {
    fn at(paths: &Paths, line: KernelLine, release: &str) -> Kernel {
        Kernel {
            release: release.to_string(),
            dir: paths.kernels_dir().join(release),
            line,
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
        let k = Kernel::at(paths, line, &release);
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
        self.modules_dirs()
            .into_iter()
            .flat_map(|dir| ["e1000.ko", "e1000.ko.xz"].map(|f| dir.join(NIC_MODULE_DIR).join(f)))
            .find(|p| p.is_file())
    }

    /// `lib/modules/<release>` (6.x) and `usr/lib/modules/<release>` (7.x,
    /// merged /usr, which also holds vmlinuz, config and System.map).
    fn modules_dirs(&self) -> [PathBuf; 2] {
        ["lib/modules", "usr/lib/modules"].map(|d| self.root().join(d).join(&self.release))
    }

    /// One of the image's files: `boot/<name>-<release>` (6.x) or
    /// `usr/lib/modules/<release>/<name>` (7.x).
    fn image_file(&self, name: &str) -> Option<PathBuf> {
        [
            self.root().join("boot").join(format!("{name}-{}", self.release)),
            self.modules_dirs()[1].join(name),
        ]
        .into_iter()
        .find(|p| p.is_file())
    }

    /// Whether the kernel was built with `CONFIG_<option>=y` (its headers'
    /// `.config`, what Kbuild reads).
    pub fn config_enabled(&self, option: &str) -> bool {
        let want = format!("CONFIG_{option}=y");
        std::fs::read_to_string(self.kdir().join(".config")).is_ok_and(|c| c.lines().any(|l| l == want))
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
    debug_assert_eq!(apt.suite(), line.apt_suite());
    let meta = line.image_metapackage();
    let deps = apt.depends(meta)?;
    let image = deps
        .iter()
        .find_map(|d| d.package.strip_prefix("linux-image-"))
        .with_context(|| format!("`apt-cache depends {meta}` names no linux-image-* package"))?;
    ensure!(
        image.starts_with(line.release_prefix()),
        "{meta} depends on linux-image-{image}, which is not a {} kernel",
        line.name()
    );
    ensure!(
        image.ends_with("-rt-amd64") == line.is_rt(),
        "{meta} depends on linux-image-{image}, which is not the {} kernel's flavour",
        line.name()
    );
    if !image.starts_with(&format!("{}.", line.version())) {
        eprintln!("xtask: note: the newest kernel of line {} is now {image}", line.name());
    }
    Ok(image.to_string())
}

/// Makes the newest release of `line` available in the cache (or keeps the
/// recorded one when apt cannot be asked), and records it for later commands.
/// `host_apt` installs what the headers need when the module is built on the
/// host; lines of another Debian release use their own private apt and
/// chroot.
pub fn ensure_kernel(paths: &Paths, host_apt: &mut Apt, line: KernelLine) -> Result<Kernel> {
    let mut private = match line.apt_suite() {
        None => None,
        Some(_) => Some(line.apt(paths)?),
    };
    let apt: &mut Apt = match private.as_mut() {
        Some(private) => private,
        None => &mut *host_apt,
    };
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
    let kernel = Kernel::at(paths, line, &release);
    if !kernel.is_complete() {
        fetch(apt, &kernel).with_context(|| format!("setting up kernel {release} in {}", kernel.dir.display()))?;
    }
    let host_packages = kernel.host_packages()?;
    let host_packages: Vec<&str> = host_packages.iter().map(String::as_str).collect();
    match line.build_chroot() {
        None => host_apt.ensure_installed(&host_packages)?,
        Some(release) => {
            Chroot::ensure(paths, release, &host_packages)?;
        }
    }
    std::fs::write(line.release_file(paths), format!("{release}\n"))?;
    eprintln!("xtask: kernel {} resolved to {release}", line.name());
    Ok(kernel)
}

fn is_kernel_package(name: &str) -> bool {
    [
        "linux-image-",
        "linux-headers-",
        "linux-kbuild-",
        "linux-base-",
        "linux-binary-",
        "linux-modules-",
    ]
    .iter()
    .any(|p| name.starts_with(p))
}

/// The packages holding the image's files: the image package itself and,
/// since Debian split it (7.x), what it depends on for this release:
/// `linux-binary-<release>` (vmlinuz), `linux-modules-<release>` (modules),
/// `linux-base-<release>` (config, System.map).
fn image_packages(apt: &mut Apt, k: &Kernel) -> Result<Vec<String>> {
    let image = format!("linux-image-{}", k.release);
    let mut out = vec![image.clone()];
    for d in apt.depends(&image)? {
        let part = ["linux-binary-", "linux-modules-", "linux-base-"]
            .iter()
            .any(|p| d.package == format!("{p}{}", k.release));
        if part && !d.is_virtual && !out.contains(&d.package) {
            out.push(d.package);
        }
    }
    Ok(out)
}

fn fetch(apt: &mut Apt, k: &Kernel) -> Result<()> {
    eprintln!("xtask: fetching kernel {} into {}", k.release, k.dir.display());
    let image_parts = image_packages(apt, k)?;
    let headers = format!("linux-headers-{}", k.release);
    let header_deps = apt.depends(&headers)?;
    let common = header_deps
        .iter()
        .map(|d| &d.package)
        // The architecture-independent headers: `-common`, or `-common-rt`
        // for the PREEMPT_RT flavour.
        .find(|p| p.starts_with("linux-headers-") && (p.ends_with("-common") || p.ends_with("-common-rt")))
        .with_context(|| format!("{headers} depends on no linux-headers-*-common package"))?
        .clone();
    let kbuild = header_deps
        .iter()
        .map(|d| &d.package)
        .find(|p| p.starts_with("linux-kbuild-"))
        .with_context(|| format!("{headers} depends on no linux-kbuild-* package"))?
        .clone();
    // Everything else the headers and kbuild depend on must be where the
    // module is built (the host, or the line's chroot): the compiler (gcc-12,
    // gcc-14-for-host), kbuild's shared libraries, pahole (BTF since 6.12).
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
    let mut wanted = image_parts.clone();
    wanted.extend([headers.clone(), common, kbuild]);
    apt.download(&wanted, &debs)?;

    for entry in std::fs::read_dir(&debs)? {
        let deb = entry?.path();
        let name = deb.file_name().unwrap().to_string_lossy().into_owned();
        if image_parts.iter().any(|p| name.starts_with(&format!("{p}_"))) {
            // Only vmlinuz, config, System.map and the guest's network
            // driver of the image: its 100-400 MB of other modules are not
            // needed.
            unpack_image_files(&deb, &root, &k.release)?;
        } else {
            process::run(Command::new("dpkg").arg("-x").arg(&deb).arg(&root))?;
        }
    }
    relocate_headers(k)?;
    let vmlinuz = k
        .image_file("vmlinuz")
        .with_context(|| format!("no vmlinuz in {}", image_parts.join(", ")))?;
    vmlinux::extract(&vmlinuz, &k.vmlinux())?;
    std::fs::write(k.host_packages_file(), host.join("\n") + "\n")?;
    std::fs::remove_dir_all(&debs)?;
    std::fs::write(k.stamp(), "")?;
    Ok(())
}

/// Where the image package keeps the e1000 driver, under lib/modules/<release>/.
const NIC_MODULE_DIR: &str = "kernel/drivers/net/ethernet/intel/e1000";

/// Whether `member` (a path in an image package, `./...`) is one the cache
/// keeps: vmlinuz, config, System.map (in boot/ up to 6.x, in
/// usr/lib/modules/<release>/ since 7.x) and the e1000 driver.
fn is_image_file(member: &str, release: &str) -> bool {
    let m = member.trim_start_matches("./");
    let boot = ["vmlinuz", "config", "System.map"]
        .iter()
        .any(|f| m == format!("boot/{f}-{release}"));
    let modules = ["vmlinuz", "config", "System.map"]
        .iter()
        .any(|f| m == format!("usr/lib/modules/{release}/{f}"));
    let nic = ["lib/modules", "usr/lib/modules"].iter().any(|d| {
        m.strip_prefix(&format!("{d}/{release}/{NIC_MODULE_DIR}/"))
            .is_some_and(|f| f.starts_with("e1000.ko"))
    });
    boot || modules || nic
}

/// `dpkg-deb --fsys-tarfile`: the .deb's data archive on the child's stdout.
fn fsys_tarfile(deb: &Path) -> Result<std::process::Child> {
    Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(Stdio::piped())
        .spawn()
        .context("could not run dpkg-deb")
}

/// The members of a .deb's data archive.
fn deb_members(deb: &Path) -> Result<Vec<String>> {
    let mut dpkg = fsys_tarfile(deb)?;
    let mut tar = Command::new("tar");
    // Not process::output: that would close the pipe for stdin.
    let list = tar
        .arg("-t")
        .arg("-f")
        .arg("-")
        .stdin(dpkg.stdout.take().unwrap())
        .output();
    let dpkg_status = dpkg.wait()?;
    let list = list.context("could not run tar")?;
    ensure!(
        list.status.success() && dpkg_status.success(),
        "listing {} failed: {}",
        deb.display(),
        String::from_utf8_lossy(&list.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&list.stdout)
        .lines()
        .map(str::to_string)
        .collect())
}

fn unpack_image_files(deb: &Path, root: &Path, release: &str) -> Result<()> {
    let files: Vec<String> = deb_members(deb)?
        .into_iter()
        .filter(|m| is_image_file(m, release))
        .collect();
    if files.is_empty() {
        return Ok(());
    }
    let mut dpkg = fsys_tarfile(deb)?;
    let mut tar = Command::new("tar");
    tar.arg("-x").arg("-C").arg(root).arg("-f").arg("-").args(&files);
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
/// line, `include /usr/src/linux-headers-<X>-common/Makefile` (7.x adds
/// `KBUILD_OUTPUT=/usr/src/linux-headers-<X>` before it): point both into
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
        .map(|line| {
            if let Some(rest) = line.strip_prefix("include /usr/src/") {
                changed = true;
                format!("include {usr_src}{rest}\n")
            } else if let Some(rest) = line.strip_prefix("KBUILD_OUTPUT=/usr/src/") {
                format!("KBUILD_OUTPUT={usr_src}{rest}\n")
            } else {
                format!("{line}\n")
            }
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

#[cfg(test)]
mod tests {
    use super::is_image_file;

    #[test]
    fn keeps_the_image_files_of_both_layouts() {
        let r = "7.3.4+deb13-amd64";
        assert!(is_image_file("./usr/lib/modules/7.3.4+deb13-amd64/vmlinuz", r));
        assert!(is_image_file("./usr/lib/modules/7.3.4+deb13-amd64/config", r));
        assert!(is_image_file(
            "./usr/lib/modules/7.3.4+deb13-amd64/kernel/drivers/net/ethernet/intel/e1000/e1000.ko.xz",
            r
        ));
        assert!(!is_image_file(
            "./usr/lib/modules/7.3.4+deb13-amd64/kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko.xz",
            r
        ));
        assert!(!is_image_file("./usr/lib/modules/7.3.4+deb13-amd64/modules.order", r));
        let r = "6.1.0-57-amd64";
        assert!(is_image_file("./boot/vmlinuz-6.1.0-57-amd64", r));
        assert!(is_image_file("./boot/System.map-6.1.0-57-amd64", r));
        assert!(is_image_file(
            "./lib/modules/6.1.0-57-amd64/kernel/drivers/net/ethernet/intel/e1000/e1000.ko",
            r
        ));
        assert!(!is_image_file("./boot/vmlinuz-6.1.0-56-amd64", r));
    }
}
