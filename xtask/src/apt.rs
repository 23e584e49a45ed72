//! The few apt operations setup needs: read dependencies, install missing
//! packages, download .debs. `apt-get update` runs at most once, and only when
//! a lookup or install fails for want of package lists.
//!
//! Two kinds of apt: the host's own (its /etc/apt, bookworm: 6.1, 6.12, and
//! the host's packages), and a private one per Debian suite for kernels of
//! another release (trixie-backports: 7.x). A private apt has its own
//! sources list, package lists and download cache under
//! `<cache>/apt/<suite>/`, handed to apt with `-o Dir::...`; it never reads
//! or changes /etc/apt or the host's dpkg database, and it only resolves and
//! downloads (nothing is installed with it).
//!
//! ```text
//! <cache>/apt/<suite>/sources.list   the suite (and its base release)
//! <cache>/apt/<suite>/state/         lists/ (apt-get update), an empty dpkg status
//! <cache>/apt/<suite>/cache/         apt's package cache (.bin files)
//! ```

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};

use crate::process;

/// The Debian archive every private apt reads (the suites reachable here:
/// bookworm, bookworm-backports, trixie, trixie-backports, sid).
pub const MIRROR: &str = "http://deb.debian.org/debian";

/// A Debian suite a private apt resolves against: `suites` are the lines of
/// its sources list, `default_release` the one whose versions win (a
/// backports suite, whose packages apt otherwise never picks).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Suite {
    pub name: &'static str,
    pub suites: &'static [&'static str],
    pub default_release: &'static str,
}

/// trixie with its backports, preferred: where Debian ships Linux 7.x.
pub const TRIXIE_BACKPORTS: Suite = Suite {
    name: "trixie-backports",
    suites: &["trixie", "trixie-backports"],
    default_release: "trixie-backports",
};

/// Package lists older than this are refreshed before resolving, so that
/// "the newest kernel" moves with the archive.
const PRIVATE_LISTS_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

/// A private apt instance's directories.
#[derive(Clone, Debug)]
struct Private {
    suite: Suite,
    dir: PathBuf,
}

impl Private {
    fn sources(&self) -> PathBuf {
        self.dir.join("sources.list")
    }
    fn state(&self) -> PathBuf {
        self.dir.join("state")
    }
    fn status(&self) -> PathBuf {
        self.state().join("status")
    }
    fn cache(&self) -> PathBuf {
        self.dir.join("cache")
    }

    /// Creates the directories, the sources list and the empty dpkg status.
    fn prepare(&self) -> Result<()> {
        std::fs::create_dir_all(self.state().join("lists/partial"))?;
        std::fs::create_dir_all(self.cache().join("archives/partial"))?;
        let list: String = self
            .suite
            .suites
            .iter()
            .map(|s| format!("deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {MIRROR} {s} main\n"))
            .collect();
        if std::fs::read_to_string(self.sources()).ok().as_deref() != Some(list.as_str()) {
            std::fs::write(self.sources(), list)?;
        }
        if !self.status().is_file() {
            std::fs::write(self.status(), "")?;
        }
        Ok(())
    }

    /// The `-o` options that make apt use only these directories.
    fn options(&self) -> Vec<OsString> {
        let mut o = vec![];
        let mut set = |key: &str, value: &Path| {
            o.push(OsString::from("-o"));
            let mut kv = OsString::from(format!("{key}="));
            kv.push(value);
            o.push(kv);
        };
        set("Dir::Etc::SourceList", &self.sources());
        set("Dir::Etc::SourceParts", Path::new("/dev/null"));
        set("Dir::Etc::Preferences", Path::new("/dev/null"));
        set("Dir::Etc::PreferencesParts", Path::new("/dev/null"));
        set("Dir::State", &self.state());
        set("Dir::State::status", &self.status());
        set("Dir::Cache", &self.cache());
        set("APT::Default-Release", Path::new(self.suite.default_release));
        // Downloads go to the caller's directory as root: no _apt sandbox.
        set("APT::Sandbox::User", Path::new("root"));
        o
    }

    /// Whether the package lists are missing or older than a day.
    fn lists_stale(&self) -> bool {
        let newest = std::fs::read_dir(self.state().join("lists"))
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains("_Packages"))
            .filter_map(|e| e.metadata().ok()?.modified().ok())
            .max();
        match newest {
            None => true,
            Some(t) => SystemTime::now().duration_since(t).unwrap_or_default() > PRIVATE_LISTS_MAX_AGE,
        }
    }
}

/// The host's apt (`Apt::default()`), or a private one for a suite.
#[derive(Default)]
pub struct Apt {
    updated: bool,
    private: Option<Private>,
}

/// One `Depends:` entry of `apt-cache depends`.
#[derive(Debug, PartialEq, Eq)]
pub struct Dependency {
    pub package: String,
    /// `<name>`: a virtual package, satisfied by some other package.
    pub is_virtual: bool,
}

/// Parses `apt-cache depends <pkg>` output: the `Depends:` entries, in order
/// (alternatives marked `|Depends:` included).
pub fn parse_depends(text: &str) -> Vec<Dependency> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim().trim_start_matches('|');
            let name = line.strip_prefix("Depends:")?.trim();
            let is_virtual = name.starts_with('<');
            let package = name.trim_start_matches('<').trim_end_matches('>').to_string();
            Some(Dependency { package, is_virtual })
        })
        .collect()
}

impl Apt {
    /// A private apt for `suite`, its state under `<cache>/apt/<suite>/`;
    /// its package lists are fetched now if missing or a day old.
    pub fn private(cache: &Path, suite: Suite) -> Result<Apt> {
        let private = Private {
            suite,
            dir: cache.join("apt").join(suite.name),
        };
        private
            .prepare()
            .with_context(|| format!("preparing the private apt in {}", private.dir.display()))?;
        let stale = private.lists_stale();
        let mut apt = Apt {
            updated: false,
            private: Some(private),
        };
        if stale {
            apt.update()?;
        }
        Ok(apt)
    }

    /// The suite of a private apt (None: the host's apt).
    pub fn suite(&self) -> Option<Suite> {
        self.private.as_ref().map(|p| p.suite)
    }

    /// `apt-get`/`apt-cache` with this instance's options.
    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        if let Some(p) = &self.private {
            c.args(p.options());
        }
        c
    }

    /// `apt-get update`, once per run.
    pub fn update(&mut self) -> Result<()> {
        if self.updated {
            return Ok(());
        }
        match &self.private {
            None => eprintln!("xtask: apt-get update"),
            Some(p) => eprintln!(
                "xtask: apt-get update ({}, private: {})",
                p.suite.suites.join(" + "),
                p.dir.display()
            ),
        }
        process::run(self.command("apt-get").arg("update").arg("-q"))
            .context("apt-get update failed: check network access to the Debian archive")?;
        self.updated = true;
        Ok(())
    }

    /// The `Depends:` entries of a package, updating package lists if apt does
    /// not know it yet.
    pub fn depends(&mut self, package: &str) -> Result<Vec<Dependency>> {
        let query = |apt: &Apt, pkg: &str| process::output(apt.command("apt-cache").args(["depends", pkg]));
        let mut out = query(self, package)?;
        if !out.status.success() || parse_depends(&String::from_utf8_lossy(&out.stdout)).is_empty() {
            self.update()?;
            out = query(self, package)?;
        }
        let deps = parse_depends(&String::from_utf8_lossy(&out.stdout));
        if !out.status.success() || deps.is_empty() {
            let hint = match &self.private {
                None => "is bookworm (with bookworm-security) in /etc/apt/sources.list?".to_string(),
                Some(p) => format!("does {MIRROR} serve {}?", p.suite.suites.join(" and ")),
            };
            bail!(
                "apt does not know package `{package}` (even after apt-get update): {}\n{hint}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(deps)
    }

    /// Whether dpkg has this package installed.
    pub fn is_installed(package: &str) -> bool {
        process::output(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
            .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).ends_with(" installed"))
            .unwrap_or(false)
    }

    /// Installs those of `packages` that are missing (the host's apt only).
    pub fn ensure_installed(&mut self, packages: &[&str]) -> Result<()> {
        if let Some(p) = &self.private {
            bail!("a private apt ({}) installs nothing on the host", p.suite.name);
        }
        let missing: Vec<&str> = packages.iter().copied().filter(|p| !Self::is_installed(p)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        eprintln!("xtask: installing {}", missing.join(" "));
        let install = |missing: &[&str]| {
            process::run(
                Command::new("apt-get")
                    .args(["install", "-y", "-q", "--no-install-recommends"])
                    .args(missing)
                    .env("DEBIAN_FRONTEND", "noninteractive"),
            )
        };
        if install(&missing).is_err() && !self.updated {
            self.update()?;
            install(&missing)?;
        }
        let still: Vec<&str> = missing.iter().copied().filter(|p| !Self::is_installed(p)).collect();
        if !still.is_empty() {
            bail!(
                "could not install {} (run `apt-get install {}` as root and look at its error)",
                still.join(" "),
                still.join(" ")
            );
        }
        Ok(())
    }

    /// `apt-get download` into `dir` (apt names the files itself).
    pub fn download(&mut self, packages: &[String], dir: &Path) -> Result<()> {
        let fetch = |apt: &Apt| {
            process::output(
                apt.command("apt-get")
                    .arg("download")
                    .arg("-q")
                    .args(packages)
                    .current_dir(dir),
            )
        };
        let mut out = fetch(self)?;
        if !out.status.success() && !self.updated {
            self.update()?;
            out = fetch(self)?;
        }
        if !out.status.success() {
            bail!(
                "apt-get download {} failed:\n{}",
                packages.join(" "),
                String::from_utf8_lossy(&out.stderr).trim_end()
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_depends_with_alternatives_and_virtuals() {
        let text = "linux-headers-6.12.117+deb12-amd64\n  Depends: linux-base\n  \
                    Depends: linux-headers-6.12.117+deb12-common\n |Depends: linux-image-6.12.117+deb12-amd64\n  \
                    Depends: linux-image-6.12.117+deb12-amd64-unsigned\n  Depends: <pahole>\n  Recommends: foo\n";
        let deps = parse_depends(text);
        let names: Vec<&str> = deps.iter().map(|d| d.package.as_str()).collect();
        assert_eq!(
            names,
            [
                "linux-base",
                "linux-headers-6.12.117+deb12-common",
                "linux-image-6.12.117+deb12-amd64",
                "linux-image-6.12.117+deb12-amd64-unsigned",
                "pahole"
            ]
        );
        assert!(deps[4].is_virtual && !deps[0].is_virtual);
    }
}
