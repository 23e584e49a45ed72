//! The host-call microbenchmark's half of the report: what one call from
//! wasm into the kernel costs in each engine, beside one system call of a
//! native program (the guest half is tests/guest/src/bench/hostcall.rs).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::{json, Value};

use super::{num, Stats};

/// One figure: `KWASM-HOSTCALL <rep> <engine> <kind> <calls> ok <ns>` or
/// `... FAIL <why>`.
#[derive(Debug, PartialEq)]
pub struct HostCall {
    pub rep: u32,
    pub engine: String,
    pub kind: String,
    pub calls: u64,
    /// Nanoseconds all the calls took, or why there is no figure.
    pub result: Result<u64, String>,
}

/// The rows of the table: (engine, kind, what it is).
const ROWS: [(&str, &str, &str); 7] = [
    ("native", "wasm_calls", "a call to a wasm function (the loop's own cost)"),
    ("native", "clock_calls", "WASI `clock_time_get` (never sleeps)"),
    ("native", "net_calls", "kwasm_net `poller_close` returning EBADF (a call that may sleep)"),
    ("pulley", "wasm_calls", "a call to a wasm function (the loop's own cost)"),
    ("pulley", "clock_calls", "WASI `clock_time_get` (never sleeps)"),
    ("pulley", "net_calls", "kwasm_net `poller_close` returning EBADF (a call that may sleep)"),
    ("linux", "getppid", "the `getppid` system call from a native program"),
];

/// Reads a `KWASM-HOSTCALL` line; `None` for any other line.
pub fn parse_line(line: &str) -> Option<Result<HostCall, String>> {
    let rest = line.trim().strip_prefix("KWASM-HOSTCALL ")?;
    let words: Vec<&str> = rest.splitn(6, ' ').collect();
    let [rep, engine, kind, calls, status, tail] = words[..] else {
        return Some(Err(line.to_string()));
    };
    let (Ok(rep), Ok(calls)) = (rep.parse(), calls.parse()) else {
        return Some(Err(line.to_string()));
    };
    let result = match status {
        "ok" => tail.parse().map_err(|_| format!("not a number of nanoseconds: {tail}")),
        "FAIL" => Err(tail.to_string()),
        _ => return Some(Err(line.to_string())),
    };
    Some(Ok(HostCall {
        rep,
        engine: engine.into(),
        kind: kind.into(),
        calls,
        result,
    }))
}

/// (engine, kind) → nanoseconds per call over the repetitions.
fn per_call(hs: &[HostCall]) -> BTreeMap<(String, String), Stats> {
    let mut t: BTreeMap<(String, String), Stats> = BTreeMap::new();
    for h in hs {
        let s = t.entry((h.engine.clone(), h.kind.clone())).or_default();
        match &h.result {
            Ok(ns) if h.calls > 0 => s.values.push(*ns as f64 / h.calls as f64),
            _ => s.failed += 1,
        }
    }
    t
}

/// Each row's median ns per call: (engine, what, median).
pub fn medians(hs: &[HostCall]) -> Vec<(&'static str, &'static str, Option<f64>)> {
    let t = per_call(hs);
    ROWS.iter()
        .map(|&(engine, kind, what)| {
            let m = t.get(&(engine.to_string(), kind.to_string())).and_then(Stats::median);
            (engine, what, m)
        })
        .collect()
}

/// The report's section.
pub fn markdown(hs: &[HostCall], icount: bool) -> String {
    let t = per_call(hs);
    let reps = hs.iter().map(|h| h.rep).max().unwrap_or(0);
    let calls = |engine: &str| {
        hs.iter()
            .find(|h| h.engine == engine)
            .map_or("—".into(), |h| h.calls.to_string())
    };
    let mut md = format!(
        "\n## Host calls: ns per call, median (min–max) over {reps} repetition(s)\n\n\
         `tests/guest/wasm/hostcall.wat` makes {} calls of each kind with native code and {} with \
         Pulley, timing itself with the monotonic clock; a native program makes as many `getppid` \
         system calls as native code makes calls. *Over the loop* subtracts the engine's \
         wasm-call figure: what crossing into the kernel's host function adds.{}\n\n\
         | engine | call | ns per call | over the loop |\n|---|---|---:|---:|\n",
        calls("native"),
        calls("pulley"),
        if icount {
            " With `--icount` a nanosecond is a quarter of an instruction: divide by 4 for \
             instructions per call."
        } else {
            ""
        }
    );
    for (engine, kind, what) in ROWS {
        let Some(s) = t.get(&(engine.to_string(), kind.to_string())) else { continue };
        let baseline = t
            .get(&(engine.to_string(), "wasm_calls".to_string()))
            .and_then(Stats::median)
            .filter(|_| engine != "linux" && kind != "wasm_calls");
        let over = match (s.median(), baseline) {
            (Some(m), Some(b)) => num(m - b),
            _ => "—".into(),
        };
        let _ = writeln!(md, "| {engine} | {what} | {} | {over} |", super::cell(Some(s)));
    }
    md
}

pub fn json(hs: &[HostCall]) -> Value {
    hs.iter()
        .map(|h| {
            json!({
                "rep": h.rep,
                "engine": h.engine,
                "kind": h.kind,
                "calls": h.calls,
                "ns": h.result.as_ref().ok(),
                "error": h.result.as_ref().err(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse() {
        let h = parse_line("KWASM-HOSTCALL 2 native clock_calls 1000 ok 250000").unwrap().unwrap();
        assert_eq!(
            (h.rep, h.engine.as_str(), h.kind.as_str(), h.calls, h.result),
            (2, "native", "clock_calls", 1000, Ok(250000))
        );
        let f = parse_line("KWASM-HOSTCALL 1 pulley net_calls 50 FAIL kwasm run: exit 1").unwrap().unwrap();
        assert_eq!(f.result.unwrap_err(), "kwasm run: exit 1");
        assert!(parse_line("KWASM-HOSTCALL 1 native").unwrap().is_err());
        assert!(parse_line("KWASM-HOSTCALL 1 native x 5 ok many").unwrap().unwrap().result.is_err());
        assert!(parse_line("KWASM-BENCH 1 native").is_none());
    }

    #[test]
    fn over_the_loop_subtracts_the_engines_baseline() {
        let h = |engine: &str, kind: &str, ns| HostCall {
            rep: 1,
            engine: engine.into(),
            kind: kind.into(),
            calls: 100,
            result: Ok(ns),
        };
        let md = markdown(
            &[
                h("native", "wasm_calls", 500),
                h("native", "clock_calls", 3500),
                h("linux", "getppid", 20000),
            ],
            false,
        );
        assert!(md.contains("| native | WASI `clock_time_get` (never sleeps) | 35.0 (35.0–35.0) | 30.0 |"), "{md}");
        assert!(md.contains("| linux | the `getppid` system call from a native program | 200 (200–200) | — |"), "{md}");
    }
}
