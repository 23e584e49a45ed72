//! File and line for a kernel trace a guest printed. Every `func+0xoff/0xlen`
//! in the lines after the first kernel problem is resolved with `addr2line`
//! against the kernel's debug image: Debian's `linux-image-<release>-dbg`
//! package, fetched once (~1 GB) into the cache, of which only the
//! vmlinux is kept. Frames of kwasm.ko keep their function names only (the
//! module carries no debug information).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::kernels::Kernel;
use crate::paths::Paths;
use crate::process;

/// One frame as the kernel prints it: `name+0xoff/0xlen [module]`.
#[derive(Debug, PartialEq, Eq)]
pub struct Frame {
    pub text: String,
    pub name: String,
    pub offset: u64,
    pub module: Option<String>,
}

/// The frames in `line` (RIP lines and call-trace lines alike).
pub fn frames(line: &str) -> Vec<Frame> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut out = vec![];
    for (i, w) in words.iter().enumerate() {
        // "RIP: 0010:name+0x.../0x..." carries the segment before the name.
        let w = w.rsplit_once(':').map_or(*w, |(_, rest)| rest);
        let Some((name, rest)) = w.split_once('+') else {
            continue;
        };
        let Some((off, len)) = rest.split_once('/') else {
            continue;
        };
        let (Some(off), true) = (off.strip_prefix("0x"), len.starts_with("0x")) else {
            continue;
        };
        let Ok(offset) = u64::from_str_radix(off, 16) else {
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let module = words
            .get(i + 1)
            .filter(|m| m.starts_with('[') && m.ends_with(']'))
            .map(|m| m.trim_matches(['[', ']']).to_string());
        out.push(Frame {
            text: w.to_string(),
            name: name.to_string(),
            offset,
            module,
        });
    }
    out
}

/// The kernel's debug vmlinux for `k`, fetched into the cache on first use.
pub fn debug_vmlinux(paths: &Paths, k: &Kernel) -> Result<PathBuf> {
    let dir = paths.cache.join("dbg").join(&k.release);
    let vmlinux = dir.join("vmlinux");
    if std::fs::metadata(&vmlinux).is_ok_and(|m| m.is_file() && m.len() > 0) {
        return Ok(vmlinux);
    }
    std::fs::create_dir_all(&dir)?;
    let package = format!("linux-image-{}-dbg", k.release);
    eprintln!("xtask: fetching {package} (about 1 GB) for the kernel's debug symbols");
    k.line.apt(paths)?.download(std::slice::from_ref(&package), &dir)?;
    let deb = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .with_context(|| format!("apt-get download {package} left no .deb in {}", dir.display()))?;
    // The regular file, not a symlink to it: 6.x ships
    // usr/lib/debug/boot/vmlinux-<release>; 7.x ships
    // usr/lib/debug/lib/modules/<release>/vmlinux (boot/'s is a link).
    let listing = process::stdout_of(Command::new("dpkg-deb").arg("-c").arg(&deb))?;
    let member = debug_vmlinux_member(&listing, &k.release)
        .with_context(|| format!("{package} holds no vmlinux for {}", k.release))?;
    let tmp = dir.join("vmlinux.tmp");
    let status = Command::new("sh")
        .arg("-c")
        .arg("dpkg-deb --fsys-tarfile \"$1\" | tar -x -O \"$2\" > \"$3\"")
        .args(["sh", &deb.to_string_lossy(), &member, &tmp.to_string_lossy()])
        .status()?;
    std::fs::remove_file(&deb)?;
    if !status.success() || std::fs::metadata(&tmp).map_or(true, |m| m.len() == 0) {
        bail!("could not extract {member} from {package}");
    }
    std::fs::rename(&tmp, &vmlinux)?;
    Ok(vmlinux)
}

/// The debug vmlinux's path in `dpkg-deb -c` output: a regular file (`-`
/// mode) at `.../vmlinux-<release>` or `.../<release>/vmlinux`.
fn debug_vmlinux_member(listing: &str, release: &str) -> Option<String> {
    listing
        .lines()
        .filter(|l| l.starts_with('-'))
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| p.ends_with(&format!("/vmlinux-{release}")) || p.ends_with(&format!("/{release}/vmlinux")))
        .map(str::to_string)
}

/// The symbolized trace of the first kernel problem in `console`, one
/// frame a line (empty if the log has no problem).
pub fn trace(paths: &Paths, k: &Kernel, console: &str) -> Result<String> {
    let lines: Vec<&str> = console.lines().collect();
    let Some(first) = lines.iter().position(|l| crate::verdict::is_problem(l)) else {
        return Ok(String::new());
    };
    let frames: Vec<Frame> = lines[first..lines.len().min(first + 120)]
        .iter()
        .flat_map(|l| frames(l))
        .collect();
    if frames.is_empty() {
        return Ok(String::new());
    }
    let vmlinux = debug_vmlinux(paths, k)?;
    let wanted: std::collections::BTreeSet<&str> = frames
        .iter()
        .filter(|f| f.module.is_none())
        .map(|f| f.name.as_str())
        .collect();
    let mut address: BTreeMap<String, u64> = BTreeMap::new();
    for l in process::stdout_of(Command::new("nm").arg(&vmlinux))?.lines() {
        let mut it = l.split_whitespace();
        if let (Some(a), Some(_), Some(name)) = (it.next(), it.next(), it.next()) {
            if wanted.contains(name) {
                if let Ok(a) = u64::from_str_radix(a, 16) {
                    address.entry(name.to_string()).or_insert(a);
                }
            }
        }
    }
    let mut out = String::new();
    for f in &frames {
        let place = match (&f.module, address.get(&f.name)) {
            (Some(m), _) => format!("[{m}] (no line information)"),
            (None, None) => "(not in the debug image)".into(),
            (None, Some(a)) => {
                let a2l = process::stdout_of(
                    Command::new("addr2line")
                        .args(["-f", "-i", "-e"])
                        .arg(&vmlinux)
                        .arg(format!("{:#x}", a + f.offset)),
                )?;
                a2l.lines()
                    .collect::<Vec<_>>()
                    .chunks(2)
                    .map(|c| c.join(" at "))
                    .collect::<Vec<_>>()
                    .join(" / inlined in ")
            }
        };
        out.push_str(&format!("{}  ->  {place}\n", f.text));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_debug_vmlinux_of_both_layouts() {
        let l = "lrwxrwxrwx root/root         0 2026-11-15 22:30 ./usr/lib/debug/boot/vmlinux-7.3.4+deb13-amd64 -> ../lib/modules/7.3.4+deb13-amd64/vmlinux\n\
                 -rw-r--r-- root/root 700000000 2026-11-15 22:30 ./usr/lib/debug/lib/modules/7.3.4+deb13-amd64/vmlinux\n";
        assert_eq!(
            debug_vmlinux_member(l, "7.3.4+deb13-amd64").as_deref(),
            Some("./usr/lib/debug/lib/modules/7.3.4+deb13-amd64/vmlinux")
        );
        let l = "-rw-r--r-- root/root 600000000 2025-10-01 10:00 ./usr/lib/debug/boot/vmlinux-6.12.48+deb12-amd64\n";
        assert_eq!(
            debug_vmlinux_member(l, "6.12.48+deb12-amd64").as_deref(),
            Some("./usr/lib/debug/boot/vmlinux-6.12.48+deb12-amd64")
        );
    }

    #[test]
    fn reads_rip_and_trace_frames() {
        let f = frames("[  528.1] RIP: 0010:__kmalloc_node_noprof+0xd9/0x4a0");
        assert_eq!(f.len(), 1);
        assert_eq!(
            (f[0].name.as_str(), f[0].offset, f[0].module.as_deref()),
            ("__kmalloc_node_noprof", 0xd9, None)
        );
        let f = frames("  ? kwasm_rust_ioctl+0x1c/0x90 [kwasm]");
        assert_eq!(f[0].module.as_deref(), Some("kwasm"));
        assert_eq!(f[0].offset, 0x1c);
        assert!(frames("RSP: 0018:ffffc90002aeab30 EFLAGS: 28cf8a82").is_empty());
    }
}
