//! Where the module's allocations show: the kernel's vmalloc usage and the
//! live objects of its unreclaimable slab caches. Tests that run many
//! programs measure both before and after and fail on growth; a failure
//! names the slab caches that grew, so a leak says where it is.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

/// Growth allowed over a whole test: per-CPU caches and lazily built
/// kernel state come and go (the hostile corpus, which measures from a
/// warm baseline, allows less).
pub const TOLERANCE_KIB: i64 = 1024;
/// How long kernel memory may take to come back after a test's last
/// program ended: the kernel frees some of a finished program's memory
/// later (RCU callbacks, the module's fput worker, sockets' last
/// references); a leak stays.
const SETTLE: Duration = Duration::from_secs(30);

/// One measurement, in KiB: VmallocUsed, the live objects of the
/// unreclaimable slab caches, and what each slab cache held.
pub struct KernelMemory {
    vmalloc: i64,
    slab: i64,
    caches: BTreeMap<String, i64>,
}

/// Measures now. Slab usage is counted in live objects, not in the pages
/// that hold them (`SUnreclaim`): SLUB keeps partly used and empty slabs
/// on per-CPU and per-node lists, and since 6.18 freed objects in per-CPU
/// sheaves, so the page count moves by hundreds of KiB with no object
/// leaked (a 32-process soak left 1.4-2.3 MiB so; on 7.3 the hostile
/// corpus saw SUnreclaim swing between -908 and +552 KiB across passes
/// while live objects moved by 13-58 KiB). Every cache is shrunk first, so
/// per-CPU slabs' free objects are not counted as live. A leaked object
/// always counts. Reclaimable caches (dentries, inodes) are left out, as
/// `SUnreclaim` leaves them out: the kernel frees them under pressure.
pub fn kernel_memory() -> Result<KernelMemory, String> {
    shrink_slab_caches();
    let info = std::fs::read_to_string("/proc/meminfo").map_err(|e| e.to_string())?;
    let vmalloc = info
        .lines()
        .find_map(|l| l.strip_prefix("VmallocUsed:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        .ok_or("/proc/meminfo has no VmallocUsed")?;
    let caches = slab_caches();
    if caches.is_empty() {
        return Err("/proc/slabinfo lists no caches".into());
    }
    let slab = caches.iter().filter(|(name, _)| !is_reclaimable(name)).map(|(_, kib)| kib).sum();
    Ok(KernelMemory { vmalloc, slab, caches })
}

/// The cache is accounted as reclaimable (`SLAB_RECLAIM_ACCOUNT`).
fn is_reclaimable(cache: &str) -> bool {
    std::fs::read_to_string(format!("/sys/kernel/slab/{cache}/reclaim_account")).is_ok_and(|v| v.trim() == "1")
}

/// Asks SLUB to give back every cache's free slabs
/// (`/sys/kernel/slab/*/shrink`, root only); best effort: without the
/// files the check sees the caches as they are.
fn shrink_slab_caches() {
    let Ok(caches) = std::fs::read_dir("/sys/kernel/slab") else {
        return;
    };
    for cache in caches.flatten() {
        let _ = std::fs::write(cache.path().join("shrink"), "1");
    }
}

/// KiB held by each slab cache now (`/proc/slabinfo`: active objects times
/// object size).
fn slab_caches() -> BTreeMap<String, i64> {
    let info = std::fs::read_to_string("/proc/slabinfo").unwrap_or_default();
    info.lines()
        .skip(2)
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let (active, size) = (w.get(1)?.parse::<i64>().ok()?, w.get(3)?.parse::<i64>().ok()?);
            Some((w[0].to_string(), active * size / 1024))
        })
        .collect()
}

/// The caches that grew most from `before` to `after`.
fn slab_growth(before: &BTreeMap<String, i64>, after: &BTreeMap<String, i64>) -> String {
    let mut grown: Vec<(i64, &String)> = after
        .iter()
        .map(|(name, kib)| (kib - before.get(name).copied().unwrap_or(0), name))
        .filter(|(d, _)| *d > 0)
        .collect();
    grown.sort_unstable_by(|a, b| b.cmp(a));
    grown
        .iter()
        .take(8)
        .map(|(d, n)| format!("{n} {d:+} KiB"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The memory check a test ends with: `kwasm ps` lists nothing, and vmalloc
/// usage and unreclaimable slab objects come back within `tolerance_kib` of
/// `before` within SETTLE. Says how far they are from `before`.
pub fn back_to_baseline(what: &str, before: &KernelMemory, tolerance_kib: i64) -> Result<String, String> {
    let ps = Command::new("kwasm").arg("ps").output().map_err(|e| e.to_string())?;
    let listed = String::from_utf8_lossy(&ps.stdout).lines().skip(1).count();
    if listed != 0 {
        return Err(format!("{what}: kwasm ps still lists programs: {}", String::from_utf8_lossy(&ps.stdout)));
    }
    let started = Instant::now();
    loop {
        let after = kernel_memory()?;
        let (vmalloc, slab) = (after.vmalloc - before.vmalloc, after.slab - before.slab);
        if vmalloc <= tolerance_kib && slab <= tolerance_kib {
            let waited = started.elapsed();
            let settled = if waited > Duration::from_secs(1) {
                format!(" after {waited:.0?}")
            } else {
                String::new()
            };
            return Ok(format!("vmalloc {vmalloc:+} KiB, unreclaimable slab objects {slab:+} KiB{settled}"));
        }
        if started.elapsed() > SETTLE {
            return Err(format!(
                "{what}: kernel memory did not come back within {SETTLE:?}: vmalloc {vmalloc:+} KiB, unreclaimable slab objects {slab:+} KiB (tolerance {tolerance_kib}); slab caches that grew: {}",
                slab_growth(&before.caches, &after.caches)
            ));
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}
