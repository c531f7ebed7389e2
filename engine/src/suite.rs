//! Policy tests as code: a suite of cases (context + SQL + what the verdict must say) run
//! against a policy set, with coverage of the rules the cases exercised and mutation
//! testing (each rule dropped or weakened in turn: do the cases notice?).
//!
//! The report holds no time, so it is the same bytes natively and in wasm.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::context::Context;
use crate::error::{ErrorCode, InputError};
use crate::evaluate::evaluate;
use crate::policy::{Mode, Policy, PolicySet, Predicate, Problem, ProblemKind, Rule};
use crate::verdict::{Decision, Verdict, VerdictRule};

/// A test file as written: `{tests: [...]}` (JSON or YAML).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SuiteFile {
    pub tests: Vec<Case>,
}

/// A checked test suite, ready to run: made only by [`Suite::parse`] or
/// [`Suite::from_json`], so every case's context and expectations are known to be valid.
#[derive(Debug, Clone)]
pub struct Suite {
    file: SuiteFile,
    cases: Vec<Checked>,
}

/// One case: who runs which SQL, and what the verdict must say.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    /// The context, as `verdict eval --context` reads it; absent means `{}`.
    #[serde(default, skip_serializing_if = "Json::is_null")]
    pub context: Json,
    pub sql: String,
    pub expect: Expect,
}

/// What a case expects. Only the fields given are checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// A verdict (`allow`, `mask`, `row_filter`, `block`), or a list of acceptable ones.
    pub verdict: Json,
    /// The rule category that decided it (`deny`, `row_filter`, `missing_context`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// Exactly these columns are masked, each as `table.column` (the table with or without
    /// its schema).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub masked_columns: Option<Vec<String>>,
    /// Exactly these tables are filtered; a `predicate` given must equal the applied one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_filters: Option<Vec<ExpectFilter>>,
    /// The statement is blocked by this policy's rule (`rule` counts from 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<ExpectRule>,
    /// The rewritten SQL contains this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewritten_sql_contains: Option<String>,
}

/// An expected row filter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectFilter {
    pub table: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub predicate: Option<String>,
}

/// A rule as people number it: policy id and 1-based rule number.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectRule {
    pub policy: String,
    pub rule: usize,
}

/// A case checked and ready to run.
#[derive(Debug, Clone)]
struct Checked {
    name: String,
    context: Context,
    sql: String,
    verdicts: Vec<Decision>,
    rule: Option<VerdictRule>,
    expect: Expect,
}

const DECISIONS: [Decision; 4] = [
    Decision::Allow,
    Decision::Mask,
    Decision::RowFilter,
    Decision::Block,
];

impl Suite {
    /// Reads a suite from JSON (text starting with `{`) or YAML (`yaml_unsupported`
    /// without the `yaml` feature); every problem at once, each with its path.
    pub fn parse(text: &str) -> Result<Suite, InputError> {
        let value: Json = if text.trim_start().starts_with(['{', '[']) {
            serde_json::from_str(text).map_err(|e| {
                invalid(vec![problem(
                    ProblemKind::Syntax,
                    "",
                    format!("not valid JSON: {e}"),
                    Some(e.line() as u64),
                    Some(e.column() as u64),
                )])
            })?
        } else {
            yaml_value(text)?
        };
        Suite::from_json(&value)
    }

    /// Reads a suite from a JSON value; unknown fields are errors with their path.
    pub fn from_json(value: &Json) -> Result<Suite, InputError> {
        if !value.is_object() {
            return Err(invalid(vec![problem(
                ProblemKind::WrongType,
                "",
                "a test suite is an object `{\"tests\": [...]}`".into(),
                None,
                None,
            )]));
        }
        let file: SuiteFile = serde_path_to_error::deserialize(value).map_err(|e| {
            let path = e.path().to_string();
            let field = if path == "." { String::new() } else { path };
            let message = e.inner().to_string();
            invalid(vec![problem(
                ProblemKind::of_serde_message(&message),
                &field,
                message,
                None,
                None,
            )])
        })?;
        let cases = file.check()?;
        Ok(Suite { file, cases })
    }

    /// The suite as written.
    pub fn file(&self) -> &SuiteFile {
        &self.file
    }

    /// How many cases it has.
    pub fn len(&self) -> usize {
        self.cases.len()
    }

    /// Whether it has no case.
    pub fn is_empty(&self) -> bool {
        self.cases.is_empty()
    }
}

impl SuiteFile {
    /// The cases with their contexts and expectations read, or every problem.
    fn check(&self) -> Result<Vec<Checked>, InputError> {
        let mut problems = Vec::new();
        let mut names = BTreeSet::new();
        let mut out = Vec::new();
        for (i, case) in self.tests.iter().enumerate() {
            let at = |field: &str| format!("tests[{i}].{field}");
            if case.name.trim().is_empty() {
                problems.push(problem(
                    ProblemKind::Missing,
                    &at("name"),
                    "a case needs a name".into(),
                    None,
                    None,
                ));
            } else if !names.insert(case.name.as_str()) {
                problems.push(problem(
                    ProblemKind::Duplicate,
                    &at("name"),
                    format!("duplicate case name `{}`", case.name),
                    None,
                    None,
                ));
            }
            let context = match &case.context {
                Json::Null => Ok(Context::default()),
                v => Context::from_json(v),
            };
            let context = context.unwrap_or_else(|e| {
                problems.push(problem(
                    ProblemKind::InvalidValue,
                    &at("context"),
                    e.message,
                    None,
                    None,
                ));
                Context::default()
            });
            let verdicts = decisions(&case.expect.verdict).unwrap_or_else(|m| {
                problems.push(problem(
                    ProblemKind::InvalidValue,
                    &at("expect.verdict"),
                    m,
                    None,
                    None,
                ));
                Vec::new()
            });
            let rule = case.expect.rule.as_deref().and_then(|name| {
                let rule = VerdictRule::from_name(name);
                if rule.is_none() {
                    problems.push(problem(
                        ProblemKind::InvalidValue,
                        &at("expect.rule"),
                        format!(
                            "unknown rule `{name}`; expected one of {}",
                            VerdictRule::ALL.map(VerdictRule::as_str).join(", ")
                        ),
                        None,
                        None,
                    ));
                }
                rule
            });
            if let Some(b) = &case.expect.blocked_by {
                if b.rule == 0 {
                    problems.push(problem(
                        ProblemKind::InvalidValue,
                        &at("expect.blocked_by.rule"),
                        "rules are numbered from 1".into(),
                        None,
                        None,
                    ));
                }
            }
            for (j, c) in case.expect.masked_columns.iter().flatten().enumerate() {
                if !c.contains('.') {
                    problems.push(problem(
                        ProblemKind::InvalidValue,
                        &at(&format!("expect.masked_columns[{j}]")),
                        format!("`{c}` is not `table.column`"),
                        None,
                        None,
                    ));
                }
            }
            out.push(Checked {
                name: case.name.clone(),
                context,
                sql: case.sql.clone(),
                verdicts,
                rule,
                expect: case.expect.clone(),
            });
        }
        if problems.is_empty() {
            Ok(out)
        } else {
            Err(invalid(problems))
        }
    }
}

#[cfg(feature = "yaml")]
fn yaml_value(text: &str) -> Result<Json, InputError> {
    serde_yaml_ng::from_str(text).map_err(|e| {
        let loc = e.location();
        invalid(vec![problem(
            ProblemKind::Syntax,
            "",
            format!("not valid YAML: {e}"),
            loc.as_ref().map(|l| l.line() as u64),
            loc.as_ref().map(|l| l.column() as u64),
        )])
    })
}

#[cfg(not(feature = "yaml"))]
fn yaml_value(_text: &str) -> Result<Json, InputError> {
    Err(InputError::yaml_unsupported("the test suite"))
}

fn problem(
    kind: ProblemKind,
    field: &str,
    message: String,
    line: Option<u64>,
    column: Option<u64>,
) -> Problem {
    Problem {
        line,
        column,
        ..Problem::new(kind, field, message)
    }
}

fn invalid(problems: Vec<Problem>) -> InputError {
    let n = problems.len();
    let mut err = InputError::new(
        ErrorCode::InvalidTests,
        match problems.as_slice() {
            [p] if p.field.is_empty() => format!("the test suite is invalid: {}", p.message),
            [p] => format!("the test suite is invalid: `{}`: {}", p.field, p.message),
            _ => format!("the test suite has {n} problems"),
        },
    );
    err.problems = problems;
    err
}

fn decision_named(name: &str) -> Option<Decision> {
    DECISIONS.into_iter().find(|d| d.as_str() == name)
}

/// `verdict` as a decision or a non-empty list of them.
fn decisions(value: &Json) -> Result<Vec<Decision>, String> {
    let names = || DECISIONS.map(Decision::as_str).join(", ");
    let one = |v: &Json| match v {
        Json::String(s) => {
            decision_named(s).ok_or_else(|| format!("unknown verdict `{s}`; expected {}", names()))
        }
        _ => Err(format!(
            "a verdict is a string ({}) or a list of them",
            names()
        )),
    };
    match value {
        Json::Array(items) if items.is_empty() => Err("the list of verdicts is empty".into()),
        Json::Array(items) => items.iter().map(one).collect(),
        v => one(v).map(|d| vec![d]),
    }
}

/// What was expected and what the verdict said, for one field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mismatch {
    pub field: String,
    pub expected: Json,
    pub actual: Json,
}

/// One case's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CaseReport {
    pub name: String,
    pub passed: bool,
    /// The verdict the engine gave.
    pub verdict: Decision,
    pub rule: VerdictRule,
    pub mismatches: Vec<Mismatch>,
}

/// A rule as people number it, with its type.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RuleRef {
    pub policy: String,
    /// 1-based.
    pub rule: usize,
    #[serde(rename = "type")]
    pub rule_type: &'static str,
}

/// Which rules some case exercised.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// Rules of enabled policies.
    pub rules: usize,
    pub exercised: usize,
    /// Rules no case exercised, in policy order.
    pub uncovered: Vec<RuleRef>,
}

/// The result of running a suite.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SuiteReport {
    pub passed: usize,
    pub failed: usize,
    pub total: usize,
    pub cases: Vec<CaseReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub coverage: Option<Coverage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mutation: Option<MutationReport>,
}

impl SuiteReport {
    /// Whether every case passed.
    pub fn all_passed(&self) -> bool {
        self.failed == 0
    }

    /// The report as compact JSON; the same bytes natively and in wasm.
    pub fn to_json(&self) -> String {
        // INVARIANT: the report holds strings, integers, floats from a division of counts
        // (finite), booleans and JSON values, which serde_json always serializes.
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{\"failed\":1}"))
    }
}

impl SuiteReport {
    /// The report for people: one line per case, each mismatch under its case, then the
    /// totals, the rules no case exercised and the mutants that survived (when present).
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for case in &self.cases {
            out.push_str(if case.passed { "ok   " } else { "FAIL " });
            out.push_str(&case.name);
            out.push('\n');
            for m in &case.mismatches {
                out.push_str(&format!(
                    "     {}: expected {}, got {}\n",
                    m.field, m.expected, m.actual
                ));
            }
        }
        out.push_str(&format!(
            "{} passed, {} failed, {} cases\n",
            self.passed, self.failed, self.total
        ));
        if let Some(c) = &self.coverage {
            out.push_str(&format!(
                "coverage: {} of {} rules exercised\n",
                c.exercised, c.rules
            ));
            for r in &c.uncovered {
                out.push_str(&format!("  not exercised: {r}\n"));
            }
        }
        if let Some(m) = &self.mutation {
            out.push_str(&format!(
                "mutation score: {} ({} of {} mutants killed)\n",
                m.score
                    .map_or_else(|| "none".to_string(), |s| format!("{s:.2}")),
                m.killed,
                m.total
            ));
            for s in m.survivors() {
                out.push_str(&format!("  survived: {}: {}\n", s.at, s.mutation));
            }
        }
        out
    }

    /// The report as JUnit XML (the Ant/Jenkins format): one `testsuite` named `name`, one
    /// `testcase` per case with a `failure` listing its mismatches; coverage and mutation
    /// figures as properties, uncovered rules and surviving mutants in `system-out`. The
    /// caller gives the `timestamp` (`YYYY-MM-DDTHH:MM:SS`, UTC) and the run's `seconds`:
    /// the engine has no clock, and cases carry no time.
    pub fn to_junit(&self, name: &str, timestamp: &str, seconds: f64) -> String {
        let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let time = format!("{seconds:.3}");
        x.push_str(&format!(
            "<testsuites name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" time=\"{time}\">\n",
            xml(name),
            self.total,
            self.failed
        ));
        x.push_str(&format!(
            "  <testsuite name=\"{}\" package=\"verdict\" id=\"0\" hostname=\"localhost\" \
             timestamp=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"0\" time=\"{time}\">\n",
            xml(name),
            xml(timestamp),
            self.total,
            self.failed
        ));
        x.push_str("    <properties>\n");
        let mut property = |k: &str, v: String| {
            x.push_str(&format!(
                "      <property name=\"{}\" value=\"{}\"/>\n",
                xml(k),
                xml(&v)
            ));
        };
        if let Some(c) = &self.coverage {
            property("coverage.rules", c.rules.to_string());
            property("coverage.exercised", c.exercised.to_string());
        }
        if let Some(m) = &self.mutation {
            property("mutation.total", m.total.to_string());
            property("mutation.killed", m.killed.to_string());
            if let Some(s) = m.score {
                property("mutation.score", format!("{s:.4}"));
            }
        }
        x.push_str("    </properties>\n");
        for case in &self.cases {
            x.push_str(&format!(
                "    <testcase name=\"{}\" classname=\"{}\" time=\"0\"",
                xml(&case.name),
                xml(name)
            ));
            if case.passed {
                x.push_str("/>\n");
                continue;
            }
            let summary: Vec<String> = case
                .mismatches
                .iter()
                .map(|m| format!("{}: expected {}, got {}", m.field, m.expected, m.actual))
                .collect();
            let fields: Vec<&str> = case.mismatches.iter().map(|m| m.field.as_str()).collect();
            x.push_str(&format!(
                ">\n      <failure message=\"{}\" type=\"mismatch\">{}</failure>\n    </testcase>\n",
                xml(&format!("mismatch in {}", fields.join(", "))),
                xml_text(&summary.join("\n"))
            ));
        }
        let mut system_out = String::new();
        if let Some(c) = &self.coverage {
            for r in &c.uncovered {
                system_out.push_str(&format!("not exercised: {r}\n"));
            }
        }
        if let Some(m) = &self.mutation {
            for s in m.survivors() {
                system_out.push_str(&format!("survived: {}: {}\n", s.at, s.mutation));
            }
        }
        x.push_str(&format!(
            "    <system-out>{}</system-out>\n    <system-err></system-err>\n  </testsuite>\n</testsuites>\n",
            xml_text(&system_out)
        ));
        x
    }
}

/// Text as an XML attribute value; characters XML 1.0 cannot hold become U+FFFD.
fn xml(text: &str) -> String {
    escape(text, true)
}

/// Text as XML character data: line breaks and tabs stay as they are.
fn xml_text(text: &str) -> String {
    escape(text, false)
}

fn escape(text: &str, attribute: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' | '\t' if !attribute => out.push(c),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\t' => out.push_str("&#9;"),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

impl std::fmt::Display for RuleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "policy `{}` rule {} ({})",
            self.policy, self.rule, self.rule_type
        )
    }
}

/// One mutant: a rule dropped or weakened.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Mutant {
    #[serde(flatten)]
    pub at: RuleRef,
    /// `drop` (the rule removed), `filter_true` (a row filter's predicate made `TRUE`),
    /// `raise_limit` (max_rows and max_joins multiplied by 10, plus 10).
    pub mutation: &'static str,
    /// The first case that failed on the mutant while it passes on the policy set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub killed_by: Option<String>,
}

/// The mutants and how many the suite killed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MutationReport {
    pub total: usize,
    pub killed: usize,
    /// killed / total; absent when there is no mutant.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    pub mutants: Vec<Mutant>,
}

impl MutationReport {
    /// The mutants no case killed.
    pub fn survivors(&self) -> impl Iterator<Item = &Mutant> {
        self.mutants.iter().filter(|m| m.killed_by.is_none())
    }
}

/// Runs every case against the set; the report includes coverage, not mutation.
pub fn run_suite(set: &PolicySet, suite: &Suite) -> SuiteReport {
    run_checked(set, &suite.cases)
}

/// [`run_suite`] plus mutation testing of every rule of the enforced policies.
pub fn run_suite_with_mutation(set: &PolicySet, suite: &Suite) -> SuiteReport {
    let mut report = run_checked(set, &suite.cases);
    report.mutation = Some(mutate(set, &suite.cases, &report));
    report
}

fn run_checked(set: &PolicySet, cases: &[Checked]) -> SuiteReport {
    let mut exercised = BTreeSet::new();
    let mut reports = Vec::with_capacity(cases.len());
    for case in cases {
        let verdict = evaluate(set, &case.sql, &case.context);
        note_exercised(set, &verdict, &mut exercised);
        let mismatches = compare(case, &verdict);
        reports.push(CaseReport {
            name: case.name.clone(),
            passed: mismatches.is_empty(),
            verdict: verdict.verdict,
            rule: verdict.rule,
            mismatches,
        });
    }
    let passed = reports.iter().filter(|r| r.passed).count();
    SuiteReport {
        passed,
        failed: reports.len() - passed,
        total: reports.len(),
        cases: reports,
        coverage: Some(coverage(set, &exercised)),
        mutation: None,
    }
}

/// Every difference between what a case expects and the verdict.
fn compare(case: &Checked, v: &Verdict) -> Vec<Mismatch> {
    let mut out = Vec::new();
    let e = &case.expect;
    if !case.verdicts.contains(&v.verdict) {
        out.push(Mismatch {
            field: "verdict".into(),
            expected: e.verdict.clone(),
            actual: Json::String(v.verdict.as_str().into()),
        });
    }
    if let Some(rule) = case.rule {
        if rule != v.rule {
            out.push(Mismatch {
                field: "rule".into(),
                expected: Json::String(rule.as_str().into()),
                actual: Json::String(v.rule.as_str().into()),
            });
        }
    }
    if let Some(expected) = &e.masked_columns {
        let actual: Vec<(String, String)> = v
            .masked_columns
            .iter()
            .map(|m| (m.table.clone(), m.column.clone()))
            .collect();
        let same = same_sets(expected, &actual, |exp, (table, column)| {
            exp.rsplit_once('.')
                .is_some_and(|(t, c)| c == column && table_matches(t, table))
        });
        if !same {
            out.push(Mismatch {
                field: "masked_columns".into(),
                expected: serde_json::json!(expected),
                actual: actual
                    .iter()
                    .map(|(t, c)| Json::String(format!("{t}.{c}")))
                    .collect(),
            });
        }
    }
    if let Some(expected) = &e.row_filters {
        let actual: Vec<ExpectFilter> = v
            .row_filters
            .iter()
            .map(|f| ExpectFilter {
                table: f.table.clone(),
                predicate: Some(f.predicate.clone()),
            })
            .collect();
        let same = same_sets(expected, &actual, |exp, act| {
            table_matches(&exp.table, &act.table)
                && exp
                    .predicate
                    .as_ref()
                    .is_none_or(|p| Some(p) == act.predicate.as_ref())
        });
        if !same {
            out.push(Mismatch {
                field: "row_filters".into(),
                expected: serde_json::to_value(expected).unwrap_or(Json::Null),
                actual: serde_json::to_value(&actual).unwrap_or(Json::Null),
            });
        }
    }
    if let Some(expected) = &e.blocked_by {
        let actual = v.blocked_by.as_ref().map(|b| ExpectRule {
            policy: b.policy.clone(),
            rule: b.rule_index + 1,
        });
        if actual.as_ref() != Some(expected) {
            out.push(Mismatch {
                field: "blocked_by".into(),
                expected: serde_json::to_value(expected).unwrap_or(Json::Null),
                actual: serde_json::to_value(&actual).unwrap_or(Json::Null),
            });
        }
    }
    if let Some(needle) = &e.rewritten_sql_contains {
        if !v
            .rewritten_sql
            .as_deref()
            .is_some_and(|sql| sql.contains(needle.as_str()))
        {
            out.push(Mismatch {
                field: "rewritten_sql_contains".into(),
                expected: Json::String(needle.clone()),
                actual: v
                    .rewritten_sql
                    .as_ref()
                    .map_or(Json::Null, |s| Json::String(s.clone())),
            });
        }
    }
    out
}

/// `customers` names `public.customers`; a qualified name must be equal.
fn table_matches(expected: &str, actual: &str) -> bool {
    expected == actual
        || actual
            .rsplit_once('.')
            .is_some_and(|(_, name)| name == expected)
}

/// Whether every expected item matches some actual one and every actual one is matched.
fn same_sets<E, A>(expected: &[E], actual: &[A], matches: impl Fn(&E, &A) -> bool) -> bool {
    expected
        .iter()
        .all(|e| actual.iter().any(|a| matches(e, a)))
        && actual
            .iter()
            .all(|a| expected.iter().any(|e| matches(e, a)))
}

/// Records the rules (policy id, 0-based index) a verdict shows were exercised.
fn note_exercised(set: &PolicySet, v: &Verdict, out: &mut BTreeSet<(String, usize)>) {
    for f in &v.row_filters {
        out.insert((f.policy.clone(), f.rule_index));
    }
    for m in &v.masked_columns {
        out.insert((m.policy.clone(), m.rule_index));
    }
    for l in &v.limits {
        out.insert((l.policy.clone(), l.rule_index));
    }
    if let Some(b) = &v.blocked_by {
        out.insert((b.policy.clone(), b.rule_index));
    }
    // Statement-level rules act on every statement of a policy that took part; a
    // monitored policy's rules are all computed when it is reported.
    for m in &v.matched_policies {
        let Some(p) = set.policies.iter().find(|p| p.id == m.id) else {
            continue;
        };
        for (i, rule) in p.rules.iter().enumerate() {
            if p.mode == Mode::Monitor || rule.table().is_none() {
                out.insert((p.id.clone(), i));
            }
        }
    }
}

fn coverage(set: &PolicySet, exercised: &BTreeSet<(String, usize)>) -> Coverage {
    let mut rules = 0;
    let mut uncovered = Vec::new();
    for p in set.policies.iter().filter(|p| p.enabled) {
        for (i, rule) in p.rules.iter().enumerate() {
            rules += 1;
            if !exercised.contains(&(p.id.clone(), i)) {
                uncovered.push(rule_ref(p, i, rule));
            }
        }
    }
    Coverage {
        rules,
        exercised: rules - uncovered.len(),
        uncovered,
    }
}

fn rule_ref(p: &Policy, index: usize, rule: &Rule) -> RuleRef {
    RuleRef {
        policy: p.id.clone(),
        rule: index + 1,
        rule_type: rule.type_name(),
    }
}

/// The mutations of one rule: what it becomes, or `None` to drop it.
fn mutations(rule: &Rule) -> Vec<(&'static str, Option<Rule>)> {
    match rule {
        Rule::RowFilter {
            table, retention, ..
        } => {
            let mut out = vec![("drop", None)];
            if let Ok(predicate) = Predicate::parse("TRUE", table, None) {
                out.push((
                    "filter_true",
                    Some(Rule::RowFilter {
                        table: table.clone(),
                        predicate,
                        retention: retention.clone(),
                    }),
                ));
            }
            out
        }
        Rule::QueryLimit(limits) => {
            // Stateful limits are counted by the caller: no verdict shows them changed.
            if limits.max_rows.is_none() && limits.max_joins.is_none() {
                return Vec::new();
            }
            let raise = |n: Option<u64>| n.map(|n| n.saturating_mul(10).saturating_add(10));
            let mut raised = limits.clone();
            raised.max_rows = raise(limits.max_rows);
            raised.max_joins = raise(limits.max_joins);
            vec![
                ("drop", None),
                ("raise_limit", Some(Rule::QueryLimit(raised))),
            ]
        }
        Rule::ColumnMask { .. } | Rule::Deny { .. } | Rule::QueryRestriction(_) => {
            vec![("drop", None)]
        }
    }
}

fn mutate(set: &PolicySet, cases: &[Checked], base: &SuiteReport) -> MutationReport {
    let mut mutants = Vec::new();
    // Rules of disabled and monitored policies change no verdict: no mutant of theirs
    // could be caught.
    for (pi, p) in set.policies.iter().enumerate() {
        if !p.enabled || p.mode != Mode::Enforce {
            continue;
        }
        for (ri, rule) in p.rules.iter().enumerate() {
            for (mutation, replacement) in mutations(rule) {
                let mut policies = set.policies.clone();
                let Some(target) = policies.get_mut(pi) else {
                    continue;
                };
                // A dropped rule is lifted: later rules keep their numbers.
                match replacement {
                    Some(r) => {
                        if let Some(slot) = target.rules.get_mut(ri) {
                            *slot = r;
                        }
                    }
                    None => {
                        target.lifted.insert(ri);
                    }
                }
                let mutant_set = PolicySet {
                    dialect: set.dialect,
                    catalog: set.catalog.clone(),
                    policies,
                    memo: Default::default(),
                };
                let killed_by = cases
                    .iter()
                    .zip(&base.cases)
                    .filter(|(_, r)| r.passed)
                    .find(|(case, _)| {
                        let v = evaluate(&mutant_set, &case.sql, &case.context);
                        !compare(case, &v).is_empty()
                    })
                    .map(|(case, _)| case.name.clone());
                mutants.push(Mutant {
                    at: rule_ref(p, ri, rule),
                    mutation,
                    killed_by,
                });
            }
        }
    }
    let total = mutants.len();
    let killed = mutants.iter().filter(|m| m.killed_by.is_some()).count();
    MutationReport {
        total,
        killed,
        score: (total > 0).then(|| killed as f64 / total as f64),
        mutants,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICIES: &str = include_str!("../../examples/policies.json");

    fn set() -> PolicySet {
        PolicySet::parse(POLICIES).unwrap()
    }

    fn error_fields(text: &str) -> Vec<String> {
        let err = Suite::parse(text).unwrap_err();
        assert_eq!(err.code, "invalid_tests");
        err.problems.into_iter().map(|p| p.field).collect()
    }

    const ANALYST: &str = r#"{"user":"alice","roles":["analyst"],"attributes":{"tenant_id":1}}"#;

    fn suite(cases: &str) -> Suite {
        Suite::parse(&format!("{{\"tests\": [{cases}]}}")).unwrap()
    }

    #[test]
    fn unknown_fields_are_errors_with_their_path() {
        let text =
            r#"{"tests":[{"name":"a","sql":"SELECT 1","expect":{"verdict":"allow","masked":[]}}]}"#;
        let err = Suite::parse(text).unwrap_err();
        assert_eq!(err.problems.len(), 1);
        assert_eq!(err.problems[0].field, "tests[0].expect.masked");
        assert!(err.problems[0].message.contains("unknown field `masked`"));
        assert_eq!(error_fields(r#"{"tests":[], "cases": []}"#), vec!["cases"]);
        let err = Suite::parse("[1, 2]").unwrap_err();
        assert_eq!(
            err.message,
            "the test suite is invalid: a test suite is an object `{\"tests\": [...]}`"
        );
        assert_eq!(
            error_fields(r#"{"tests":[{"name":"a","sql":"SELECT 1"}]}"#),
            vec!["tests[0]"]
        );
    }

    #[test]
    fn bad_values_are_all_reported() {
        let text = r#"{"tests":[
            {"name":"a","sql":"SELECT 1","context":{"roles":"x"},"expect":{"verdict":"rowfilter"}},
            {"name":"a","sql":"SELECT 1","expect":{"verdict":[],"rule":"nope","masked_columns":["email"],"blocked_by":{"policy":"p","rule":0}}}]}"#;
        assert_eq!(
            error_fields(text),
            vec![
                "tests[0].context",
                "tests[0].expect.verdict",
                "tests[1].name",
                "tests[1].expect.verdict",
                "tests[1].expect.rule",
                "tests[1].expect.blocked_by.rule",
                "tests[1].expect.masked_columns[0]",
            ]
        );
    }

    #[test]
    fn yaml_and_json_read_the_same_suite() {
        let yaml = "tests:\n  - name: a\n    sql: SELECT id FROM orders\n    context: {roles: [analyst], attributes: {tenant_id: 1}}\n    expect:\n      verdict: row_filter\n      row_filters: [{table: orders, predicate: tenant_id = 1}]\n";
        let json = r#"{"tests":[{"name":"a","sql":"SELECT id FROM orders","context":{"roles":["analyst"],"attributes":{"tenant_id":1}},"expect":{"verdict":"row_filter","row_filters":[{"table":"orders","predicate":"tenant_id = 1"}]}}]}"#;
        if crate::READS_YAML {
            assert_eq!(
                Suite::parse(yaml).unwrap().file(),
                Suite::parse(json).unwrap().file()
            );
        } else {
            assert_eq!(Suite::parse(yaml).unwrap_err().code, "yaml_unsupported");
        }
    }

    #[test]
    fn a_case_passes_or_lists_each_mismatch() {
        let s = suite(&format!(
            r#"{{"name":"filtered","sql":"SELECT id FROM orders","context":{ANALYST},
                "expect":{{"verdict":"row_filter","rule":"row_filter",
                  "row_filters":[{{"table":"orders","predicate":"tenant_id = 1"}}],
                  "masked_columns":[],"rewritten_sql_contains":"WHERE tenant_id = 1"}}}},
               {{"name":"wrong","sql":"SELECT * FROM salaries","context":{ANALYST},
                "expect":{{"verdict":["allow","mask"],"blocked_by":{{"policy":"protect-secrets","rule":2}}}}}}"#
        ));
        let report = run_suite(&set(), &s);
        assert_eq!((report.passed, report.failed, report.total), (1, 1, 2));
        assert!(report.cases[0].passed, "{:?}", report.cases[0]);
        let wrong = &report.cases[1];
        assert_eq!(wrong.verdict, Decision::Block);
        assert_eq!(wrong.rule, VerdictRule::Deny);
        let fields: Vec<&str> = wrong.mismatches.iter().map(|m| m.field.as_str()).collect();
        assert_eq!(fields, ["verdict", "blocked_by"]);
        assert_eq!(
            wrong.mismatches[1].actual,
            serde_json::json!({"policy": "protect-secrets", "rule": 1})
        );
    }

    #[test]
    fn coverage_lists_the_rules_no_case_exercised() {
        let s = suite(&format!(
            r#"{{"name":"orders","sql":"SELECT id FROM orders","context":{ANALYST},"expect":{{"verdict":"row_filter"}}}}"#
        ));
        let report = run_suite(&set(), &s);
        let cov = report.coverage.unwrap();
        assert_eq!(cov.rules, 7);
        let uncovered: Vec<(String, usize)> = cov
            .uncovered
            .iter()
            .map(|r| (r.policy.clone(), r.rule))
            .collect();
        // Only orders' row filter ran (the monitored policy is not reported for orders).
        assert!(!uncovered.contains(&("tenant-isolation".into(), 1)));
        assert!(uncovered.contains(&("tenant-isolation".into(), 2)));
        assert!(uncovered.contains(&("protect-secrets".into(), 1)));
        assert!(uncovered.contains(&("pii-masking".into(), 1)));
        assert_eq!(cov.exercised, cov.rules - uncovered.len());
    }

    /// Every prefix of a suite, and every byte flipped to a quote, brace or digit: parsed
    /// into a suite or an `invalid_tests`/`yaml_unsupported` error, never a panic; what
    /// parses runs.
    #[test]
    fn damaged_suites_are_errors_never_panics() {
        let set = set();
        let texts = [
            include_str!("../../cli/tests/fixtures/suite/real.yaml"),
            include_str!("../../cli/tests/fixtures/suite/weak.json"),
        ];
        let mut parsed = 0;
        for text in texts {
            let bytes = text.as_bytes();
            let mut variants: Vec<Vec<u8>> =
                (0..bytes.len()).map(|n| bytes[..n].to_vec()).collect();
            for i in (0..bytes.len()).step_by(3) {
                for b in [b'"', b'{', b'7', b'-', b':'] {
                    let mut v = bytes.to_vec();
                    v[i] = b;
                    variants.push(v);
                }
            }
            for v in variants {
                let Ok(text) = std::str::from_utf8(&v) else {
                    continue;
                };
                match Suite::parse(text) {
                    Ok(suite) => {
                        parsed += 1;
                        let report = run_suite(&set, &suite);
                        assert_eq!(report.total, suite.len());
                    }
                    Err(e) => assert!(
                        ["invalid_tests", "yaml_unsupported"].contains(&e.code.as_str()),
                        "{e:?}"
                    ),
                }
            }
        }
        assert!(parsed > 0);
    }

    #[test]
    fn a_dropped_rule_keeps_the_numbering_of_later_rules() {
        let set = PolicySet::parse(
            r#"{"policies": [{"id": "p", "rules": [
                {"type": "deny", "table": "t"}, {"type": "deny", "table": "u"}]}]}"#,
        )
        .unwrap();
        let s = suite(
            r#"{"name":"u","sql":"SELECT * FROM u","context":{"user":"x"},
                "expect":{"verdict":"block","blocked_by":{"policy":"p","rule":2}}}"#,
        );
        let report = run_suite_with_mutation(&set, &s);
        let mutation = report.mutation.unwrap();
        let by_rule = |n: usize| {
            mutation
                .mutants
                .iter()
                .find(|m| m.at.rule == n)
                .unwrap()
                .killed_by
                .clone()
        };
        // Dropping rule 1 leaves rule 2 named rule 2: the case still passes.
        assert_eq!(by_rule(1), None);
        assert_eq!(by_rule(2).as_deref(), Some("u"));
    }

    #[test]
    fn the_report_is_deterministic_json() {
        let s = suite(&format!(
            r#"{{"name":"orders","sql":"SELECT id FROM orders","context":{ANALYST},"expect":{{"verdict":"row_filter"}}}}"#
        ));
        let a = run_suite_with_mutation(&set(), &s).to_json();
        let b = run_suite_with_mutation(&set(), &s).to_json();
        assert_eq!(a, b);
        let v: Json = serde_json::from_str(&a).unwrap();
        assert!(v["mutation"]["total"].as_u64().unwrap() > 0);
    }
}
