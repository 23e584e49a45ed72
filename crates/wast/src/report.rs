//! What a script run found, directive by directive, and the counts a report
//! generator prints.

use std::collections::BTreeMap;
use std::fmt;
use std::iter::Sum;
use std::ops::AddAssign;

/// The kind of a directive, as scripts spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DirectiveKind {
    /// `module`, `module definition`, `module instance`.
    Module,
    Register,
    Invoke,
    Get,
    AssertReturn,
    /// `assert_trap` on an action.
    AssertTrap,
    AssertExhaustion,
    AssertInvalid,
    AssertMalformed,
    AssertUnlinkable,
    /// `assert_trap` on a module: instantiation (the start function, or
    /// an out-of-bounds segment) must trap.
    AssertUninstantiable,
    /// Everything the runner does not check: threads, `wait`,
    /// `assert_exception`, custom-section assertions, scripts that do not
    /// parse.
    Other,
}

impl DirectiveKind {
    pub const ALL: [DirectiveKind; 12] = [
        DirectiveKind::Module,
        DirectiveKind::Register,
        DirectiveKind::Invoke,
        DirectiveKind::Get,
        DirectiveKind::AssertReturn,
        DirectiveKind::AssertTrap,
        DirectiveKind::AssertExhaustion,
        DirectiveKind::AssertInvalid,
        DirectiveKind::AssertMalformed,
        DirectiveKind::AssertUnlinkable,
        DirectiveKind::AssertUninstantiable,
        DirectiveKind::Other,
    ];

    /// The script keyword.
    pub const fn name(self) -> &'static str {
        match self {
            DirectiveKind::Module => "module",
            DirectiveKind::Register => "register",
            DirectiveKind::Invoke => "invoke",
            DirectiveKind::Get => "get",
            DirectiveKind::AssertReturn => "assert_return",
            DirectiveKind::AssertTrap => "assert_trap",
            DirectiveKind::AssertExhaustion => "assert_exhaustion",
            DirectiveKind::AssertInvalid => "assert_invalid",
            DirectiveKind::AssertMalformed => "assert_malformed",
            DirectiveKind::AssertUnlinkable => "assert_unlinkable",
            DirectiveKind::AssertUninstantiable => "assert_uninstantiable",
            DirectiveKind::Other => "other",
        }
    }
}

impl fmt::Display for DirectiveKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How one directive went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    Pass,
    /// What was expected and what happened.
    Fail(String),
    /// Why it could not be checked.
    Skip(String),
}

impl Status {
    pub fn is_pass(&self) -> bool {
        matches!(self, Status::Pass)
    }

    pub fn is_fail(&self) -> bool {
        matches!(self, Status::Fail(_))
    }

    pub fn is_skip(&self) -> bool {
        matches!(self, Status::Skip(_))
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Pass => f.write_str("pass"),
            Status::Fail(why) => write!(f, "FAIL: {why}"),
            Status::Skip(why) => write!(f, "skip: {why}"),
        }
    }
}

/// One directive of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectiveResult {
    /// 1-based line of the directive in the script.
    pub line: usize,
    pub kind: DirectiveKind,
    pub status: Status,
}

/// Every directive of one script, in script order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScriptReport {
    pub name: String,
    pub directives: Vec<DirectiveResult>,
}

impl ScriptReport {
    /// Totals over the whole script.
    pub fn counts(&self) -> Counts {
        self.directives.iter().map(|d| Counts::of(&d.status)).sum()
    }

    /// Totals per directive kind (kinds the script lacks are absent).
    pub fn counts_by_kind(&self) -> BTreeMap<DirectiveKind, Counts> {
        let mut by_kind = BTreeMap::new();
        for d in &self.directives {
            *by_kind.entry(d.kind).or_default() += Counts::of(&d.status);
        }
        by_kind
    }

    pub fn failures(&self) -> impl Iterator<Item = &DirectiveResult> {
        self.directives.iter().filter(|d| d.status.is_fail())
    }

    pub fn skips(&self) -> impl Iterator<Item = &DirectiveResult> {
        self.directives.iter().filter(|d| d.status.is_skip())
    }

    /// Skip reasons and how often each occurs, most frequent first.
    pub fn skip_reasons(&self) -> Vec<(String, usize)> {
        let mut reasons = BTreeMap::<&str, usize>::new();
        for d in self.skips() {
            if let Status::Skip(why) = &d.status {
                *reasons.entry(why).or_default() += 1;
            }
        }
        let mut reasons: Vec<(String, usize)> = reasons.into_iter().map(|(r, n)| (r.to_string(), n)).collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        reasons
    }

    /// `name:line: kind: status` for each failure, one a line.
    pub fn failure_lines(&self) -> Vec<String> {
        self.failures()
            .map(|d| format!("{}:{}: {}: {}", self.name, d.line, d.kind, d.status))
            .collect()
    }
}

/// Passed, failed and skipped directives. Adds up across kinds and scripts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Counts {
    pub fn of(status: &Status) -> Counts {
        match status {
            Status::Pass => Counts {
                passed: 1,
                ..Counts::default()
            },
            Status::Fail(_) => Counts {
                failed: 1,
                ..Counts::default()
            },
            Status::Skip(_) => Counts {
                skipped: 1,
                ..Counts::default()
            },
        }
    }

    pub fn total(&self) -> usize {
        self.passed + self.failed + self.skipped
    }
}

impl AddAssign for Counts {
    fn add_assign(&mut self, other: Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

impl Sum for Counts {
    fn sum<I: Iterator<Item = Counts>>(iter: I) -> Counts {
        let mut total = Counts::default();
        for c in iter {
            total += c;
        }
        total
    }
}

impl<'a> Sum<&'a Counts> for Counts {
    fn sum<I: Iterator<Item = &'a Counts>>(iter: I) -> Counts {
        iter.copied().sum()
    }
}

impl fmt::Display for Counts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(kind: DirectiveKind, status: Status) -> DirectiveResult {
        DirectiveResult { line: 1, kind, status }
    }

    #[test]
    fn counts_add_up_per_kind_and_script() {
        let report = ScriptReport {
            name: "x.wast".into(),
            directives: vec![
                result(DirectiveKind::Module, Status::Pass),
                result(DirectiveKind::AssertReturn, Status::Pass),
                result(DirectiveKind::AssertReturn, Status::Fail("wrong".into())),
                result(DirectiveKind::AssertReturn, Status::Skip("gc".into())),
                result(DirectiveKind::AssertTrap, Status::Skip("gc".into())),
            ],
        };
        let total = report.counts();
        assert_eq!((total.passed, total.failed, total.skipped, total.total()), (2, 1, 2, 5));
        let by_kind = report.counts_by_kind();
        assert_eq!(
            by_kind[&DirectiveKind::AssertReturn],
            Counts {
                passed: 1,
                failed: 1,
                skipped: 1
            }
        );
        assert!(!by_kind.contains_key(&DirectiveKind::Register));
        assert_eq!(by_kind.values().sum::<Counts>(), total);
        assert_eq!(report.skip_reasons(), vec![("gc".to_string(), 2)]);
        assert_eq!(
            report.failure_lines(),
            vec!["x.wast:1: assert_return: FAIL: wrong".to_string()]
        );
    }
}
