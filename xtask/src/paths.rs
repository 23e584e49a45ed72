//! Where things live: the repository, the download cache, build outputs.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

pub struct Paths {
    /// The workspace root (the directory holding `xtask/`).
    pub repo: PathBuf,
    /// Downloaded kernels and headers: `$KWASM_CACHE`, else `<repo>/.cache`.
    pub cache: PathBuf,
    /// Cargo's target directory, and our build outputs under it.
    pub target: PathBuf,
}

impl Paths {
    pub fn discover() -> Result<Paths> {
        let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let repo = manifest_dir
            .parent()
            .context("xtask's manifest directory has no parent")?
            .to_path_buf();
        let cache = match std::env::var_os("KWASM_CACHE") {
            Some(dir) if !dir.is_empty() => {
                let dir = PathBuf::from(dir);
                if dir.is_absolute() {
                    dir
                } else {
                    std::env::current_dir()?.join(dir)
                }
            }
            _ => repo.join(".cache"),
        };
        let target = match std::env::var_os("CARGO_TARGET_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => repo.join("target"),
        };
        Ok(Paths { repo, cache, target })
    }

    /// `<cache>/kernels`: one directory per kernel release, plus one
    /// `<line>.release` file per kernel line naming the release set up.
    pub fn kernels_dir(&self) -> PathBuf {
        self.cache.join("kernels")
    }

    /// `<target>/kmod/<release>`: the module build for one kernel release.
    pub fn kmod_out(&self, release: &str) -> PathBuf {
        self.target.join("kmod").join(release)
    }

    /// `<target>/guest-logs`: serial and kernel-console logs of guest boots.
    pub fn guest_logs(&self) -> PathBuf {
        self.target.join("guest-logs")
    }

    /// `<target>/initramfs`: generated initramfs images.
    pub fn initramfs_dir(&self) -> PathBuf {
        self.target.join("initramfs")
    }
}
