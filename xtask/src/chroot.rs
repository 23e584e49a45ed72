//! A minimal Debian chroot per release, for building modules against a
//! kernel of another Debian release than the host's: 7.x headers need
//! trixie's gcc-14 and kbuild binaries, linked against trixie's libc, which
//! do not run on a bookworm host.
//!
//! ```text
//! <cache>/chroot/<release>/            mmdebstrap --variant=apt + the build packages
//! <cache>/chroot/<release>.packages    stamp: the packages it holds, one a line
//! ```
//!
//! Made once (about 20 s against a nearby mirror), reused afterwards, made
//! again only when a kernel needs a package it lacks. Commands run in it
//! through `unshare --mount`: the bind mounts (the repository's kmod/, the
//! kernel's cache entry, the build output) and /proc live in a private mount
//! namespace that disappears with the command, however it ends, so nothing
//! is ever left mounted on the host. Needs root (mount namespaces, chroot).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, ensure, Context, Result};

use crate::apt::{Apt, MIRROR};
use crate::paths::Paths;
use crate::process;

/// What every build chroot holds besides what the kernel's headers ask for
/// (dkms: the tests build the packaged module with it, as a user's machine does).
const BASE_PACKAGES: &[&str] = &["make", "kmod", "binutils", "dkms"];

pub struct Chroot {
    pub dir: PathBuf,
}

impl Chroot {
    pub fn at(paths: &Paths, release: &str) -> Chroot {
        Chroot {
            dir: paths.cache.join("chroot").join(release),
        }
    }

    fn stamp(&self) -> PathBuf {
        self.dir.with_extension("packages")
    }

    /// The packages the chroot was made with (empty: not made yet).
    fn packages(&self) -> Vec<String> {
        std::fs::read_to_string(self.stamp())
            .map(|t| t.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default()
    }

    /// The chroot of `release` holding `packages`: made if missing, made
    /// again (with the union) if it lacks one of them.
    pub fn ensure(paths: &Paths, release: &str, packages: &[&str]) -> Result<Chroot> {
        let chroot = Chroot::at(paths, release);
        let have = chroot.packages();
        let missing: Vec<&str> = BASE_PACKAGES
            .iter()
            .chain(packages)
            .copied()
            .filter(|p| !have.iter().any(|h| h == p))
            .collect();
        if missing.is_empty() && chroot.dir.join("usr/bin/make").is_file() {
            return Ok(chroot);
        }
        ensure_root("making a build chroot")?;
        Apt::default().ensure_installed(&["mmdebstrap"])?;
        chroot.refuse_if_mounted()?;
        if chroot.dir.exists() {
            eprintln!(
                "xtask: the {release} chroot lacks {}: making it again",
                missing.join(" ")
            );
            std::fs::remove_dir_all(&chroot.dir).with_context(|| format!("removing {}", chroot.dir.display()))?;
        }
        let _ = std::fs::remove_file(chroot.stamp());
        let mut all: Vec<String> = have;
        all.extend(missing.iter().map(|s| s.to_string()));
        all.sort();
        all.dedup();
        std::fs::create_dir_all(chroot.dir.parent().unwrap())?;
        eprintln!(
            "xtask: making a {release} chroot in {} with {}",
            chroot.dir.display(),
            all.join(" ")
        );
        let started = Instant::now();
        process::run(
            Command::new("mmdebstrap")
                .arg("--quiet")
                .arg("--variant=apt")
                .arg(format!("--include={}", all.join(",")))
                .arg(release)
                .arg(&chroot.dir)
                .arg(MIRROR),
        )
        .with_context(|| format!("mmdebstrap of {release} into {} failed", chroot.dir.display()))?;
        eprintln!(
            "xtask: {release} chroot made in {:.1}s",
            started.elapsed().as_secs_f64()
        );
        std::fs::write(chroot.stamp(), all.join("\n") + "\n")?;
        Ok(chroot)
    }

    /// Refuses to go on while anything is mounted inside the chroot (a
    /// `remove_dir_all` would then delete what the mount shows).
    fn refuse_if_mounted(&self) -> Result<()> {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let dir = self.dir.to_string_lossy();
        if let Some(m) = mounts
            .lines()
            .filter_map(|l| l.split_whitespace().nth(4))
            .find(|m| m.starts_with(dir.as_ref()))
        {
            bail!("{m} is mounted inside the chroot {dir}: unmount it first");
        }
        Ok(())
    }

    /// `argv` run inside the chroot as root, in `cwd`, with only `env` (and
    /// a standard PATH) in its environment; each of `binds` (absolute host
    /// paths) appears at the same path inside. The mounts are private to
    /// the command's mount namespace.
    pub fn command(&self, binds: &[&Path], cwd: &Path, env: &[(&str, String)], argv: &[String]) -> Result<Command> {
        ensure_root("building in a chroot")?;
        self.in_namespace(None, binds, cwd, env, argv)
    }

    /// `script` (sh) run as [`Chroot::command`] runs its command, but in a
    /// throwaway copy of the chroot: an overlay whose upper layer is
    /// `scratch` (emptied first), so that installing packages there leaves
    /// the chroot itself as it was.
    pub fn overlay_command(&self, scratch: &Path, binds: &[&Path], script: &str) -> Result<Command> {
        ensure_root("running in a chroot overlay")?;
        if scratch.exists() {
            std::fs::remove_dir_all(scratch)?;
        }
        std::fs::create_dir_all(scratch)?;
        let argv = ["sh".to_string(), "-c".to_string(), script.to_string()];
        self.in_namespace(Some(scratch), binds, Path::new("/"), &[], &argv)
    }

    /// The `unshare` command both of the above are: a private mount
    /// namespace, the overlay if any, the bind mounts and /proc, then
    /// `argv` chrooted.
    fn in_namespace(
        &self,
        overlay: Option<&Path>,
        binds: &[&Path],
        cwd: &Path,
        env: &[(&str, String)],
        argv: &[String],
    ) -> Result<Command> {
        const SCRIPT: &str = r#"set -e
root=$1 overlay=$2; shift 2
if [ -n "$overlay" ]; then
    mkdir -p "$overlay/upper" "$overlay/work" "$overlay/root"
    mount -t overlay overlay -o "lowerdir=$root,upperdir=$overlay/upper,workdir=$overlay/work" "$overlay/root"
    root=$overlay/root
fi
while [ "$1" != "--" ]; do
    mkdir -p "$root$1"
    mount --bind "$1" "$root$1"
    shift
done
shift
mount -t proc proc "$root/proc"
cwd=$1; shift
exec chroot "$root" /bin/sh -c 'cd "$1" && shift && exec "$@"' sh "$cwd" "$@"
"#;
        let mut c = Command::new("unshare");
        c.args(["--mount", "--propagation", "private", "--", "sh", "-c", SCRIPT, "sh"]);
        c.arg(&self.dir).arg(overlay.unwrap_or(Path::new("")));
        for b in binds {
            ensure!(b.is_absolute(), "bind mount {} is not an absolute path", b.display());
            c.arg(b);
        }
        c.arg("--").arg(cwd);
        c.args([
            "/usr/bin/env",
            "-i",
            "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
            "LC_ALL=C.UTF-8",
            "HOME=/root",
        ]);
        for (k, v) in env {
            c.arg(format!("{k}={v}"));
        }
        c.args(argv);
        Ok(c)
    }
}

fn ensure_root(what: &str) -> Result<()> {
    let uid = process::stdout_of(Command::new("id").arg("-u"))?;
    if uid.trim() != "0" {
        bail!("{what} needs root (mmdebstrap, mount namespaces and chroot); run xtask as root");
    }
    Ok(())
}
