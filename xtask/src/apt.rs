//! The few apt operations setup needs: read dependencies, install missing
//! packages, download .debs. `apt-get update` runs at most once, and only when
//! a lookup or install fails for want of package lists.

use std::path::Path;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::process;

#[derive(Default)]
pub struct Apt {
    updated: bool,
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
    /// `apt-get update`, once per run.
    pub fn update(&mut self) -> Result<()> {
        if self.updated {
            return Ok(());
        }
        eprintln!("xtask: apt-get update");
        process::run(Command::new("apt-get").arg("update").arg("-q"))
            .context("apt-get update failed: check network access to the Debian archive")?;
        self.updated = true;
        Ok(())
    }

    /// The `Depends:` entries of a package, updating package lists if apt does
    /// not know it yet.
    pub fn depends(&mut self, package: &str) -> Result<Vec<Dependency>> {
        let query = |pkg: &str| process::output(Command::new("apt-cache").args(["depends", pkg]));
        let mut out = query(package)?;
        if !out.status.success() || parse_depends(&String::from_utf8_lossy(&out.stdout)).is_empty() {
            self.update()?;
            out = query(package)?;
        }
        let deps = parse_depends(&String::from_utf8_lossy(&out.stdout));
        if !out.status.success() || deps.is_empty() {
            bail!(
                "apt does not know package `{package}` (even after apt-get update): {}\n\
                 is bookworm (with bookworm-security) in /etc/apt/sources.list?",
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

    /// Installs those of `packages` that are missing.
    pub fn ensure_installed(&mut self, packages: &[&str]) -> Result<()> {
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
        let fetch = || {
            process::output(
                Command::new("apt-get")
                    .arg("download")
                    .arg("-q")
                    .args(packages)
                    .current_dir(dir),
            )
        };
        let mut out = fetch()?;
        if !out.status.success() && !self.updated {
            self.update()?;
            out = fetch()?;
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
