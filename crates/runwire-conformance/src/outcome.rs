//! Turning case results into the verdict: the expected-failure list, the per-case status, the
//! failure lines, the summary line and the `--json` report.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::case::{InputError, InputKind, Tier};

/// Cases a testee is known to fail, each with the reason: `CaseName  # reason` per line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FailureList {
    pub entries: BTreeMap<String, String>,
}

impl FailureList {
    pub fn load(file: &Path) -> Result<Self, InputError> {
        let text = std::fs::read_to_string(file).map_err(|source| InputError::Read {
            kind: InputKind::FailureList,
            file: file.to_path_buf(),
            source,
        })?;
        Self::parse(file, &text)
    }

    /// `known` is every case name of the suite: an entry naming no case is an error (a stale
    /// list would otherwise hide nothing and say something false).
    pub fn parse(file: &Path, text: &str) -> Result<Self, InputError> {
        let mut entries = BTreeMap::new();
        for (index, raw) in text.lines().enumerate() {
            let syntax = |message: String| InputError::Syntax {
                kind: InputKind::FailureList,
                file: file.to_path_buf(),
                line: index + 1,
                message,
            };
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, reason) = line.split_once('#').ok_or_else(|| {
                syntax(format!(
                    "`{line}` has no reason; write `CaseName  # why it fails`"
                ))
            })?;
            let (name, reason) = (name.trim(), reason.trim());
            if name.is_empty() || name.contains(char::is_whitespace) || reason.is_empty() {
                return Err(syntax("write `CaseName  # why it fails`".to_owned()));
            }
            if entries.insert(name.to_owned(), reason.to_owned()).is_some() {
                return Err(syntax(format!("{name} is listed twice")));
            }
        }
        Ok(Self { entries })
    }

    /// Entries naming no case of the suite.
    pub fn unknown<'a>(&'a self, names: &[&str]) -> Vec<&'a str> {
        self.entries
            .keys()
            .filter(|n| !names.contains(&n.as_str()))
            .map(String::as_str)
            .collect()
    }
}

/// How one case (or server check) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Passed,
    Failed,
    /// Failed, and the failure list says it would.
    ExpectedFailure,
    /// Passed although the failure list says it fails: the list is stale, which fails.
    UnexpectedPass,
    /// Not run (filtered out).
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
pub struct CaseOutcome {
    pub name: String,
    pub tier: Tier,
    pub status: Status,
    /// What went wrong (also for expected failures, so a changed reason is visible).
    pub failures: Vec<String>,
    /// The failure list's reason, for expected failures and unexpected passes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listed_reason: Option<String>,
}

impl CaseOutcome {
    /// Classifies a run against the failure list.
    pub fn new(name: &str, tier: Tier, failures: Vec<String>, list: &FailureList) -> Self {
        let listed_reason = list.entries.get(name).cloned();
        let status = match (failures.is_empty(), listed_reason.is_some()) {
            (true, false) => Status::Passed,
            (false, false) => Status::Failed,
            (false, true) => Status::ExpectedFailure,
            (true, true) => Status::UnexpectedPass,
        };
        Self {
            name: name.to_owned(),
            tier,
            status,
            failures,
            listed_reason,
        }
    }

    pub fn skipped(name: &str, tier: Tier) -> Self {
        Self {
            name: name.to_owned(),
            tier,
            status: Status::Skipped,
            failures: Vec::new(),
            listed_reason: None,
        }
    }
}

/// Everything a run found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    pub expected_failures: usize,
    pub cases: Vec<CaseOutcome>,
}

impl Report {
    pub fn new(cases: Vec<CaseOutcome>) -> Self {
        let count = |s: Status| cases.iter().filter(|c| c.status == s).count();
        Self {
            passed: count(Status::Passed),
            failed: count(Status::Failed) + count(Status::UnexpectedPass),
            skipped: count(Status::Skipped),
            expected_failures: count(Status::ExpectedFailure),
            cases,
        }
    }

    /// Whether the run is green: no failure and no unexpected pass.
    pub fn ok(&self) -> bool {
        self.failed == 0
    }

    /// The text output: one line per failure (case name first), expected failures apart,
    /// then the summary line `N passed, N failed` (`, N skipped` when some were).
    pub fn text(&self) -> String {
        let mut out = String::new();
        for case in &self.cases {
            match case.status {
                Status::Failed => {
                    for failure in &case.failures {
                        let _ = writeln!(out, "FAILED {}: {failure}", case.name);
                    }
                }
                Status::UnexpectedPass => {
                    let _ = writeln!(
                        out,
                        "FAILED {}: passed, but the failure list says it fails ({}); remove it from the list",
                        case.name,
                        case.listed_reason.as_deref().unwrap_or("")
                    );
                }
                _ => {}
            }
        }
        let expected: Vec<&CaseOutcome> = self
            .cases
            .iter()
            .filter(|c| c.status == Status::ExpectedFailure)
            .collect();
        if !expected.is_empty() {
            let _ = writeln!(
                out,
                "{} expected failure(s), from the failure list:",
                expected.len()
            );
            for case in expected {
                let _ = writeln!(
                    out,
                    "  {}: {}",
                    case.name,
                    case.listed_reason.as_deref().unwrap_or("")
                );
            }
        }
        let _ = write!(out, "{} passed, {} failed", self.passed, self.failed);
        if self.skipped > 0 {
            let _ = write!(out, ", {} skipped", self.skipped);
        }
        out.push('\n');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(text: &str) -> FailureList {
        FailureList::parse(Path::new("list.txt"), text).unwrap()
    }

    #[test]
    fn an_unexpected_pass_fails_the_run() {
        let list = list("Required.A  # cannot carry bytes\n");
        let report = Report::new(vec![CaseOutcome::new(
            "Required.A",
            Tier::Required,
            vec![],
            &list,
        )]);
        assert_eq!(report.cases[0].status, Status::UnexpectedPass);
        assert!(!report.ok());
        assert!(report.text().contains(
            "FAILED Required.A: passed, but the failure list says it fails (cannot carry bytes)"
        ));
        assert!(report.text().ends_with("0 passed, 1 failed\n"));
    }

    #[test]
    fn an_expected_failure_does_not_fail_the_run_and_is_listed_apart() {
        let list = list("# comment\nRequired.A  # cannot carry bytes\n");
        let report = Report::new(vec![
            CaseOutcome::new("Required.A", Tier::Required, vec!["boom".into()], &list),
            CaseOutcome::new("Required.B", Tier::Required, vec![], &list),
            CaseOutcome::skipped("Recommended.C", Tier::Recommended),
        ]);
        assert!(report.ok());
        assert_eq!(
            report.text(),
            "1 expected failure(s), from the failure list:\n  Required.A: cannot carry bytes\n1 passed, 0 failed, 1 skipped\n"
        );
    }

    #[test]
    fn a_failure_is_one_line_per_problem_naming_the_case() {
        let report = Report::new(vec![CaseOutcome::new(
            "Required.A",
            Tier::Required,
            vec!["x".into(), "y".into()],
            &FailureList::default(),
        )]);
        assert_eq!(
            report.text(),
            "FAILED Required.A: x\nFAILED Required.A: y\n0 passed, 1 failed\n"
        );
    }

    #[test]
    fn bad_lists_are_refused_with_the_line() {
        let bad = [
            ("Required.A\n", "1: `Required.A` has no reason"),
            (
                "Required.A # x\nRequired.A # y\n",
                "2: Required.A is listed twice",
            ),
            ("Required A # x\n", "1: write `CaseName  # why it fails`"),
        ];
        for (text, expected) in bad {
            let error = FailureList::parse(Path::new("l"), text)
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{error}");
        }
        assert_eq!(list("X # y\n").unknown(&["Z"]), vec!["X"]);
    }
}
