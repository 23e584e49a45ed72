//! A cgroup v2 group of its own for a test's processes: the freezer for
//! the suspend tests, `memory.max` for the memory tests.

use crate::expect;
use std::path::{Path, PathBuf};
use std::process::Command;

const ROOT: &str = "/sys/fs/cgroup";

/// A cgroup directory, removed (its processes moved back to the root
/// group first) on drop.
pub struct Cgroup(PathBuf);

impl Cgroup {
    /// A group called `name` holding `pid`.
    pub fn new(name: &str, pid: u32) -> Result<Cgroup, String> {
        let group = Cgroup::empty(name)?;
        group.add(pid)?;
        Ok(group)
    }

    /// A group called `name` with no process yet, the memory controller on.
    pub fn empty(name: &str) -> Result<Cgroup, String> {
        let root = Path::new(ROOT);
        if !root.join("cgroup.controllers").exists() {
            std::fs::create_dir_all(root).map_err(|e| e.to_string())?;
            let ok = Command::new("mount")
                .args(["-t", "cgroup2", "none", ROOT])
                .status()
                .is_ok_and(|s| s.success());
            expect(ok, || format!("cannot mount cgroup2 on {ROOT}"))?;
        }
        std::fs::write(root.join("cgroup.subtree_control"), "+memory")
            .map_err(|e| format!("enabling the memory controller: {e}"))?;
        let dir = root.join(name);
        let _ = std::fs::create_dir(&dir);
        Ok(Cgroup(dir))
    }

    pub fn add(&self, pid: u32) -> Result<(), String> {
        std::fs::write(self.0.join("cgroup.procs"), pid.to_string())
            .map_err(|e| format!("moving {pid} into {}: {e}", self.0.display()))
    }

    pub fn set(&self, file: &str, value: &str) -> Result<(), String> {
        std::fs::write(self.0.join(file), value).map_err(|e| format!("{}/{file}: {e}", self.0.display()))
    }

    pub fn read(&self, file: &str) -> Result<String, String> {
        std::fs::read_to_string(self.0.join(file)).map_err(|e| format!("{}/{file}: {e}", self.0.display()))
    }

    pub fn freeze(&self, on: bool) -> Result<(), String> {
        self.set("cgroup.freeze", if on { "1" } else { "0" })
    }

    pub fn frozen(&self) -> bool {
        self.read("cgroup.events")
            .is_ok_and(|e| e.lines().any(|l| l == "frozen 1"))
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = self.freeze(false);
        // Back to the root group, so the directory can go.
        if let Ok(procs) = self.read("cgroup.procs") {
            for pid in procs.lines() {
                let _ = std::fs::write(Path::new(ROOT).join("cgroup.procs"), pid);
            }
        }
        let _ = std::fs::remove_dir(&self.0);
    }
}
