//! The compute benchmark's half of the report: CPU-bound programs
//! (`examples/compute`) natively, under Wasmtime in user space and in the
//! kernel with both engines (the guest half is
//! tests/guest/src/bench/compute.rs).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::{cell, ratio_cell, Stats};

/// The variants, in the guest's order.
const VARIANTS: [&str; 6] = ["native", "wasmtime", "wasmtime-epochs", "kwasm", "kwasm-explicit", "kwasm-pulley"];
/// kwasm's native code (guard regions) over Wasmtime's in user space,
/// time per round: #14's target.
const TARGET: f64 = 0.97;

/// One run: `KWASM-COMPUTE <rep> <variant> <program> <rounds> ok
/// <checksum> <ns>` or `... FAIL <why>`.
#[derive(Debug, PartialEq)]
pub struct Run {
    pub rep: u32,
    pub variant: String,
    pub program: String,
    pub rounds: u64,
    /// (checksum, nanoseconds), or why there is none.
    pub result: Result<(String, u64), String>,
}

/// Reads a `KWASM-COMPUTE` line; `None` for any other line.
pub fn parse_line(line: &str) -> Option<Result<Run, String>> {
    let rest = line.trim().strip_prefix("KWASM-COMPUTE ")?;
    let words: Vec<&str> = rest.splitn(6, ' ').collect();
    let [rep, variant, program, rounds, status, tail] = words[..] else {
        return Some(Err(line.to_string()));
    };
    let (Ok(rep), Ok(rounds)) = (rep.parse(), rounds.parse()) else {
        return Some(Err(line.to_string()));
    };
    let result = match (status, tail.split_once(' ')) {
        ("ok", Some((checksum, ns))) => ns
            .parse()
            .map(|ns| (checksum.to_string(), ns))
            .map_err(|_| format!("not a number of nanoseconds: {ns}")),
        ("FAIL", _) => Err(tail.to_string()),
        _ => return Some(Err(line.to_string())),
    };
    Some(Ok(Run {
        rep,
        variant: variant.into(),
        program: program.into(),
        rounds,
        result,
    }))
}

/// (program, variant) → milliseconds per round over the repetitions.
fn per_round(runs: &[Run]) -> BTreeMap<(String, String), Stats> {
    let mut t: BTreeMap<(String, String), Stats> = BTreeMap::new();
    for r in runs {
        let s = t.entry((r.program.clone(), r.variant.clone())).or_default();
        match &r.result {
            Ok((_, ns)) if r.rounds > 0 => s.values.push(*ns as f64 / r.rounds as f64 / 1e6),
            _ => s.failed += 1,
        }
    }
    t
}

/// Programs whose variants printed different checksums (each round does
/// the same work, so all must agree): what each printed.
pub fn disagreements(runs: &[Run]) -> Vec<String> {
    let mut seen: BTreeMap<&str, BTreeSet<(&str, &str)>> = BTreeMap::new();
    for r in runs {
        if let Ok((checksum, _)) = &r.result {
            seen.entry(&r.program).or_default().insert((checksum, &r.variant));
        }
    }
    seen.into_iter()
        .filter(|(_, s)| s.iter().map(|(c, _)| c).collect::<BTreeSet<_>>().len() > 1)
        .map(|(program, s)| {
            let each: Vec<String> = s.iter().map(|(c, v)| format!("{v} {c}")).collect();
            format!("{program}: {}", each.join(", "))
        })
        .collect()
}

/// The ratios the reports show, kwasm's speed over another variant's.
const RATIOS: [(&str, &str, &str); 4] = [
    ("kwasm/wasmtime", "kwasm", "wasmtime"),
    ("kwasm/wasmtime-epochs", "kwasm", "wasmtime-epochs"),
    ("kwasm-explicit/wasmtime", "kwasm-explicit", "wasmtime"),
    ("kwasm/native", "kwasm", "native"),
];

/// Speed of `a` relative to `b` on `program`: b's median time over a's.
fn speed(t: &BTreeMap<(String, String), Stats>, program: &str, a: &str, b: &str) -> Option<f64> {
    let median = |v: &str| t.get(&(program.to_string(), v.to_string())).and_then(Stats::median);
    match (median(a), median(b)) {
        (Some(x), Some(y)) if x > 0.0 => Some(y / x),
        _ => None,
    }
}

/// Each program's [`RATIOS`]: (program, [(label, ratio)]).
pub fn speeds(runs: &[Run]) -> Vec<(String, Vec<(&'static str, Option<f64>)>)> {
    let t = per_round(runs);
    let programs: BTreeSet<&str> = runs.iter().map(|r| r.program.as_str()).collect();
    programs
        .into_iter()
        .map(|p| (p.to_string(), RATIOS.iter().map(|&(label, a, b)| (label, speed(&t, p, a, b))).collect()))
        .collect()
}

/// The report's section.
pub fn markdown(runs: &[Run]) -> String {
    let t = per_round(runs);
    let reps = runs.iter().map(|r| r.rep).max().unwrap_or(0);
    let labels: Vec<&str> = RATIOS.iter().map(|r| r.0).collect();
    let mut md = format!(
        "\n## Compute: ms per round, median (min–max) over {reps} repetition(s)\n\n\
         `examples/compute` (sha2, miniz_oxide, serde_json, regex, a float matrix product), the same \
         source built natively (musl), run under Wasmtime in user space (`kwasm-reference`: \
         Wasmtime's defaults, so guard pages and no bounds checks; `wasmtime-epochs`: the same with \
         an epoch check at every function entry and loop header, as kwasm compiles so that a running \
         program can be stopped), and in the kernel by kwasm \
         (`kwasm`: native code with guard regions, the default; `kwasm-explicit`: native code with \
         explicit bounds checks; Pulley, a tenth of the rounds). Each program times \
         its own rounds; all variants printed the same checksum unless *Failed measurements* says \
         otherwise.\n\n| program | {} | {} | target: kwasm ≥ {TARGET}× wasmtime |\n|---|{}{}---:|\n",
        VARIANTS.join(" | "),
        labels.join(" | "),
        "---:|".repeat(VARIANTS.len()),
        "---:|".repeat(RATIOS.len())
    );
    for (p, ratios) in speeds(runs) {
        let cells: Vec<String> = VARIANTS
            .iter()
            .map(|v| cell(t.get(&(p.clone(), v.to_string()))))
            .collect();
        // The target is the first ratio, kwasm/wasmtime.
        let verdict = match ratios[0].1 {
            Some(r) if r >= TARGET => "met",
            Some(_) => "**missed**",
            None => "**no data**",
        };
        let ratio_cells: Vec<String> = ratios.iter().map(|&(_, r)| ratio_cell(r)).collect();
        let _ = writeln!(md, "| {p} | {} | {} | {verdict} |", cells.join(" | "), ratio_cells.join(" | "));
    }
    md.push_str("\nRatios are speed (the other's time over kwasm's): above 1, kwasm is faster.\n");
    md
}

pub fn json(runs: &[Run]) -> Value {
    runs.iter()
        .map(|r| {
            json!({
                "rep": r.rep,
                "variant": r.variant,
                "program": r.program,
                "rounds": r.rounds,
                "checksum": r.result.as_ref().ok().map(|(c, _)| c),
                "ns": r.result.as_ref().ok().map(|(_, ns)| ns),
                "error": r.result.as_ref().err(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse() {
        let r = parse_line("KWASM-COMPUTE 1 kwasm sha256 100 ok c669271ec211b34d 2000000").unwrap().unwrap();
        assert_eq!(
            (r.rep, r.variant.as_str(), r.program.as_str(), r.rounds),
            (1, "kwasm", "sha256", 100)
        );
        assert_eq!(r.result, Ok(("c669271ec211b34d".to_string(), 2_000_000)));
        let f = parse_line("KWASM-COMPUTE 2 wasmtime json 20 FAIL exit status: 1").unwrap().unwrap();
        assert_eq!(f.result.unwrap_err(), "exit status: 1");
        assert!(parse_line("KWASM-COMPUTE 1 kwasm sha256 100 ok c669").unwrap().is_err());
        assert!(parse_line("KWASM-HOSTCALL 1 native").is_none());
    }

    #[test]
    fn ratios_and_checksums() {
        let run = |variant: &str, checksum: &str, ns| Run {
            rep: 1,
            variant: variant.into(),
            program: "json".into(),
            rounds: 10,
            result: Ok((checksum.into(), ns)),
        };
        let runs = [
            run("native", "aa", 10_000_000),
            run("wasmtime", "aa", 20_000_000),
            run("kwasm", "aa", 25_000_000),
            run("kwasm-explicit", "aa", 40_000_000),
        ];
        let md = markdown(&runs);
        assert!(
            md.contains("| json | 1.00 (1.00–1.00) | 2.00 (2.00–2.00) | — | 2.50 (2.50–2.50) | 4.00 (4.00–4.00) | — | 0.80 | — | 0.50 | 0.40 | **missed** |"),
            "{md}"
        );
        assert!(disagreements(&runs).is_empty());
        let odd = [run("native", "aa", 1), run("kwasm-pulley", "bb", 1)];
        assert_eq!(disagreements(&odd), vec!["json: native aa, kwasm-pulley bb".to_string()]);
    }
}
