//! Reports as tab-separated lines (`kwasm wast --tsv`): written by the
//! command, read back by the driver's conformance report and by the CI
//! check against the baseline. One definition of the format for all three.

use crate::report::{Counts, ScriptReport};
use std::fmt;

/// One line: the counts of one directive kind in one script, or how many
/// directives of a script were skipped for one reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// `tsv ENGINE SCRIPT KIND PASSED FAILED SKIPPED`
    Counts {
        engine: String,
        script: String,
        kind: String,
        counts: Counts,
    },
    /// `skip ENGINE SCRIPT COUNT REASON`
    Skip {
        engine: String,
        script: String,
        count: usize,
        reason: String,
    },
}

impl Line {
    /// The lines of `report`, run on `engine`.
    pub fn of(report: &ScriptReport, engine: &str) -> Vec<Line> {
        let counts = report.counts_by_kind().into_iter().map(|(kind, counts)| Line::Counts {
            engine: engine.to_string(),
            script: report.name.clone(),
            kind: format!("{kind:?}"),
            counts,
        });
        let skips = report.skip_reasons().into_iter().map(|(reason, count)| Line::Skip {
            engine: engine.to_string(),
            script: report.name.clone(),
            count,
            reason,
        });
        counts.chain(skips).collect()
    }

    /// Reads a line back; `None` for any other output.
    pub fn parse(line: &str) -> Option<Line> {
        Some(match line.split('\t').collect::<Vec<_>>().as_slice() {
            ["tsv", engine, script, kind, passed, failed, skipped] => Line::Counts {
                engine: engine.to_string(),
                script: script.to_string(),
                kind: kind.to_string(),
                counts: Counts {
                    passed: passed.parse().ok()?,
                    failed: failed.parse().ok()?,
                    skipped: skipped.parse().ok()?,
                },
            },
            ["skip", engine, script, count, reason] => Line::Skip {
                engine: engine.to_string(),
                script: script.to_string(),
                count: count.parse().ok()?,
                reason: reason.to_string(),
            },
            _ => return None,
        })
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Line::Counts {
                engine,
                script,
                kind,
                counts,
            } => write!(
                f,
                "tsv\t{engine}\t{script}\t{kind}\t{}\t{}\t{}",
                counts.passed, counts.failed, counts.skipped
            ),
            Line::Skip {
                engine,
                script,
                count,
                reason,
            } => write!(f, "skip\t{engine}\t{script}\t{count}\t{reason}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::{DirectiveKind, DirectiveResult, Status};

    #[test]
    fn lines_round_trip() {
        let report = ScriptReport {
            name: "wasm-v2/i32.wast".into(),
            directives: vec![
                DirectiveResult {
                    line: 1,
                    kind: DirectiveKind::Module,
                    status: Status::Pass,
                },
                DirectiveResult {
                    line: 2,
                    kind: DirectiveKind::AssertReturn,
                    status: Status::Skip("no gc".into()),
                },
            ],
        };
        let lines = Line::of(&report, "native");
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[0].to_string(), "tsv\tnative\twasm-v2/i32.wast\tModule\t1\t0\t0");
        for line in &lines {
            assert_eq!(Line::parse(&line.to_string()).as_ref(), Some(line));
        }
        assert_eq!(Line::parse("ok   wasm-v2/i32.wast: 1 passed"), None);
        assert_eq!(Line::parse("tsv\tnative\tx\tModule\tone\t0\t0"), None);
    }
}
