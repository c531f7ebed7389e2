//! Judging one case in one context.
//!
//! The expectation is the case's own (`expect:`), else the oracle decides: when the
//! original SQL fails on the oracle because a relation or column is absent there, the
//! context may not see it and the manifest's `absent` applies (`block` or `reject`);
//! otherwise the engine must allow and the rewritten SQL must give the oracle's answer
//! (the same rows, or the same SQLSTATE when both fail).

use std::panic::{catch_unwind, AssertUnwindSafe};

use verdict_engine::{evaluate, Context, PolicySet, Verdict};

use crate::fixtures::{Case, ContextFixture, Expect};
use crate::setup::Databases;
use crate::sql::{difference, side_channel, Outcome, PLANS};
use verdict_testkit::Cluster;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Allowed, and the rewritten SQL gave the oracle's answer.
    Match,
    /// Blocked, as expected (explicitly or because the oracle cannot see it).
    Blocked,
    /// Blocked where the case allows the engine to fail closed (`optional`).
    BlockedOptional,
    /// Allowed, and PostgreSQL rejected the rewritten SQL (or it gave no row) where the
    /// case expects `reject`.
    Rejected,
    /// A write the oracle refuses (check option): the engine allowed it, and the rewritten
    /// SQL changed nothing and returned no row (ON CONFLICT leaving a foreign row alone).
    NoOp,
    /// Allowed as expected, for a statement that is not run (`expect: allow`).
    Allowed,
    /// A failure of a case marked `known_bug` (a suspected engine bug, reported).
    KnownBug,
    /// Allowed, and the rewritten SQL gave another answer than the oracle.
    Wrong,
    /// Should have been blocked or rejected, yet the rewritten SQL returned rows.
    Leak,
    /// Should have been blocked; the rewritten SQL ran but returned no row.
    UnexpectedRun,
    /// Blocked although the oracle answers.
    OverBlocked,
    /// The rewritten SQL failed where the oracle answers, the engine panicked, was not
    /// deterministic, or allowed without a rewritten SQL; or the case is inconsistent.
    Error,
}

impl Kind {
    pub fn is_failure(self) -> bool {
        !matches!(
            self,
            Kind::Match
                | Kind::Blocked
                | Kind::BlockedOptional
                | Kind::Rejected
                | Kind::NoOp
                | Kind::Allowed
                | Kind::KnownBug
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Match => "match",
            Kind::Blocked => "blocked as expected",
            Kind::BlockedOptional => "blocked (optional)",
            Kind::Rejected => "rejected as expected",
            Kind::NoOp => "no-op where the oracle refuses",
            Kind::Allowed => "allowed as expected (not run)",
            Kind::KnownBug => "known engine bug",
            Kind::Wrong => "wrong",
            Kind::Leak => "leak",
            Kind::UnexpectedRun => "unexpected run",
            Kind::OverBlocked => "over-blocked",
            Kind::Error => "error",
        }
    }
}

/// Counts per kind.
#[derive(Default)]
pub struct Tally {
    counts: std::collections::BTreeMap<Kind, usize>,
}

impl Tally {
    pub fn add(&mut self, kind: Kind) {
        *self.counts.entry(kind).or_default() += 1;
    }

    pub fn count(&self, kind: Kind) -> usize {
        self.counts.get(&kind).copied().unwrap_or(0)
    }

    pub fn total(&self) -> usize {
        self.counts.values().sum()
    }

    pub fn failures(&self) -> usize {
        self.counts
            .iter()
            .filter(|(k, _)| k.is_failure())
            .map(|(_, n)| n)
            .sum()
    }

    pub fn summary(&self) -> String {
        format!(
            "{} match, {} blocked as expected, {} blocked where optional, \
             {} rejected by PostgreSQL as expected, \
             {} wrong, {} leaks, {} errors, {} over-blocked, {} unexpected runs",
            self.count(Kind::Match),
            self.count(Kind::Blocked),
            self.count(Kind::BlockedOptional),
            self.count(Kind::Rejected),
            self.count(Kind::Wrong),
            self.count(Kind::Leak),
            self.count(Kind::Error),
            self.count(Kind::OverBlocked),
            self.count(Kind::UnexpectedRun),
        )
    }

    /// The summary of the write suite, which has outcomes of its own.
    pub fn write_summary(&self) -> String {
        format!(
            "{} match, {} blocked as expected, {} no-op where the oracle refuses, \
             {} allowed (not run), {} blocked where optional, \
             {} rejected by PostgreSQL as expected, \
             {} wrong, {} leaks, {} errors, {} over-blocked, {} unexpected runs, \
             {} known engine bugs",
            self.count(Kind::Match),
            self.count(Kind::Blocked),
            self.count(Kind::NoOp),
            self.count(Kind::Allowed),
            self.count(Kind::BlockedOptional),
            self.count(Kind::Rejected),
            self.count(Kind::Wrong),
            self.count(Kind::Leak),
            self.count(Kind::Error),
            self.count(Kind::OverBlocked),
            self.count(Kind::UnexpectedRun),
            self.count(Kind::KnownBug),
        )
    }
}

/// One check's outcome and what to print about it.
pub struct CheckResult {
    pub kind: Kind,
    expected: String,
    verdict: Option<Verdict>,
    detail: String,
}

impl CheckResult {
    /// The line for this check; the details follow for failures, or always when `full`.
    pub fn report(&self, case: &Case, ctx: &ContextFixture, full: bool) -> String {
        let mut out = format!(
            "{} [{}] {} @ {} (expected {})",
            if self.kind.is_failure() {
                "FAIL"
            } else {
                "ok  "
            },
            self.kind.label(),
            case.id,
            ctx.name,
            self.expected
        );
        if !self.kind.is_failure() && !full {
            return out;
        }
        out.push_str(&format!("\n    sql:       {}", one_line(&case.sql)));
        out.push_str(&format!("\n    context:   contexts/{}.json", ctx.name));
        if let Some(v) = &self.verdict {
            out.push_str(&format!(
                "\n    verdict:   {} (rule {}: {})",
                v.verdict.as_str(),
                v.rule,
                v.reason
            ));
            if let Some(sql) = &v.rewritten_sql {
                out.push_str(&format!("\n    rewritten: {}", one_line(sql)));
            }
        }
        if !self.detail.is_empty() {
            out.push_str(&format!("\n    saw:       {}", self.detail));
        }
        out
    }
}

/// A SQL text on one line, cut after 400 characters.
pub fn one_line(sql: &str) -> String {
    let flat: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 400 {
        flat.chars().take(400).collect::<String>() + " …"
    } else {
        flat
    }
}

fn result(kind: Kind, expected: &str, verdict: Option<Verdict>, detail: String) -> CheckResult {
    CheckResult {
        kind,
        expected: expected.to_string(),
        verdict,
        detail,
    }
}

/// Evaluates `sql` twice for the context `json`: the verdict, or why there is none to
/// judge (the engine rejects the context, panics, or is not deterministic).
pub fn evaluate_twice(
    policies: &PolicySet,
    sql: &str,
    json: &str,
) -> Result<Verdict, Box<(Option<Verdict>, String)>> {
    let context = Context::from_json_str(json).map_err(|e| {
        (
            None,
            format!("the engine rejects the context: {}", e.message),
        )
    })?;
    let first = catch_unwind(AssertUnwindSafe(|| evaluate(policies, sql, &context)));
    let second = catch_unwind(AssertUnwindSafe(|| evaluate(policies, sql, &context)));
    let (verdict, again) = match (first, second) {
        (Ok(v), Ok(w)) => (v, w),
        _ => return Err(Box::new((None, "the engine panicked".into()))),
    };
    if verdict.to_json() != again.to_json() {
        return Err(Box::new((
            Some(verdict),
            "two evaluations of the same input gave different verdicts".into(),
        )));
    }
    Ok(verdict)
}

/// Evaluates `case` in `ctx` and judges it. `Err` only for harness failures (a database
/// connection that cannot be reopened).
pub fn check(
    cluster: &Cluster,
    dbs: &mut Databases,
    policies: &PolicySet,
    case: &Case,
    ctx: &ContextFixture,
) -> Result<CheckResult, String> {
    let explicit = case.expectation(&ctx.name);
    let expected_label = explicit.map_or("oracle", Expect::as_str);
    let verdict = match evaluate_twice(policies, &case.sql, &ctx.json) {
        Ok(v) => v,
        Err(failed) => {
            let (verdict, detail) = *failed;
            return Ok(result(Kind::Error, expected_label, verdict, detail));
        }
    };

    let Some(oracle) = dbs.oracles.get_mut(&ctx.name) else {
        return Err(format!("no oracle database for context {}", ctx.name));
    };

    // Resolve the expectation, consulting the oracle when the case does not say (or says
    // `optional`, which only excuses a block where the oracle answers).
    let mut oracle_outcome = None;
    let mut optional = false;
    let expect = match explicit {
        Some(e) if e != Expect::Optional => e,
        _ => {
            let o = oracle.run(cluster, &case.sql)?;
            let e = if o.is_absent_error() {
                ctx.absent
            } else {
                optional = explicit == Some(Expect::Optional);
                Expect::Match
            };
            oracle_outcome = Some(o);
            e
        }
    };
    let label = match (explicit, expect) {
        (Some(e), _) if e != Expect::Optional => e.as_str().to_string(),
        (Some(_), e) => format!("optional, else {} (oracle)", e.as_str()),
        (None, e) => format!("{} (oracle)", e.as_str()),
    };

    if verdict.is_block() {
        // A block must come from the right rule: the case's `rule`, or `deny` where the
        // oracle lacks what the statement reads; the context may add rules (its manifest's
        // `block_rules`). `optional` blocks may come from any rule (failing closed).
        let expected_rule = match (&case.rule, explicit) {
            (_, Some(Expect::Optional)) => None,
            (Some(rule), _) => Some(rule.clone()),
            (None, None) if expect != Expect::Match => Some("deny".to_string()),
            (None, _) => None,
        };
        if let Some(rule) = expected_rule {
            let ok = verdict.rule == rule || ctx.block_rules.iter().any(|r| verdict.rule == *r);
            if expect != Expect::Match && !ok {
                let mut rules = vec![rule];
                rules.extend(ctx.block_rules.iter().cloned());
                let detail = format!(
                    "blocked by rule `{}`, expected {}",
                    verdict.rule,
                    rules.join(" or ")
                );
                return Ok(result(Kind::Wrong, &label, Some(verdict), detail));
            }
        }
        return Ok(match expect {
            Expect::Block | Expect::Reject => {
                result(Kind::Blocked, &label, Some(verdict), String::new())
            }
            Expect::Match if optional => {
                result(Kind::BlockedOptional, &label, Some(verdict), String::new())
            }
            Expect::Match | Expect::Optional => {
                let o = match oracle_outcome {
                    Some(o) => o,
                    None => oracle.run(cluster, &case.sql)?,
                };
                result(
                    Kind::OverBlocked,
                    &label,
                    Some(verdict),
                    format!("the oracle answers: {}", o.summary()),
                )
            }
        });
    }

    let Some(rewritten) = verdict.rewritten_sql.clone() else {
        return Ok(result(
            Kind::Error,
            &label,
            Some(verdict),
            "not blocked, but no rewritten_sql".into(),
        ));
    };
    let real = dbs.real.run(cluster, &rewritten)?;

    match expect {
        Expect::Block => {
            let kind = if real.has_rows() {
                Kind::Leak
            } else {
                Kind::UnexpectedRun
            };
            Ok(result(
                kind,
                &label,
                Some(verdict),
                format!("the rewritten SQL gave {}", real.summary_with_rows()),
            ))
        }
        Expect::Reject => {
            if real.has_rows() {
                Ok(result(
                    Kind::Leak,
                    &label,
                    Some(verdict),
                    format!("the rewritten SQL gave {}", real.summary_with_rows()),
                ))
            } else {
                Ok(result(
                    Kind::Rejected,
                    &label,
                    Some(verdict),
                    real.summary(),
                ))
            }
        }
        Expect::Match | Expect::Optional => {
            let o = match oracle_outcome {
                Some(o) => o,
                None => oracle.run(cluster, &case.sql)?,
            };
            if o.is_absent_error() {
                return Ok(result(
                    Kind::Error,
                    &label,
                    Some(verdict),
                    format!(
                        "the case expects a match but the oracle cannot run it: {}",
                        o.summary()
                    ),
                ));
            }
            if !case.strict {
                return Ok(compared(&o, &real, case.ordered, &label, verdict));
            }
            // Side channels, under every plan: no error where the oracle answers, and no
            // error text that prints a value this context cannot see.
            let hidden = dbs
                .hidden
                .get(&ctx.name)
                .map(Vec::as_slice)
                .unwrap_or_default();
            for plan in std::iter::once(&"").chain(PLANS) {
                let again = if plan.is_empty() {
                    real.clone()
                } else {
                    dbs.real.run_with(cluster, plan, &rewritten)?
                };
                let how = if plan.is_empty() {
                    String::new()
                } else {
                    format!("with `{plan}`: ")
                };
                if let Some(diff) = side_channel(&o, &again, case.ordered, &case.sql, hidden) {
                    let kind = if matches!(o, Outcome::Rows(_)) || diff.starts_with("prints") {
                        Kind::Leak
                    } else {
                        Kind::Wrong
                    };
                    return Ok(result(kind, &label, Some(verdict), format!("{how}{diff}")));
                }
            }
            Ok(result(Kind::Match, &label, Some(verdict), String::new()))
        }
    }
}

/// `case` in `ctx` judged against the policy set without its catalog (`main`'s second
/// pass over the SELECT cases). Without a catalog the engine may block more (it cannot
/// list the columns of a table with masks), and tables the policies do not name are
/// ungoverned; but what it allows must still give the oracle's answer. This finds
/// statements the engine misreads as naming an ungoverned table, which the strict
/// catalog of the first pass blocks as unknown relations.
pub fn check_without_catalog(
    cluster: &Cluster,
    dbs: &mut Databases,
    policies: &PolicySet,
    case: &Case,
    ctx: &ContextFixture,
) -> Result<CheckResult, String> {
    let label = "a block, else the oracle's answer (no catalog)";
    let verdict = match evaluate_twice(policies, &case.sql, &ctx.json) {
        Ok(v) => v,
        Err(failed) => {
            let (verdict, detail) = *failed;
            return Ok(result(Kind::Error, label, verdict, detail));
        }
    };
    if verdict.is_block() {
        return Ok(result(
            Kind::BlockedOptional,
            label,
            Some(verdict),
            String::new(),
        ));
    }
    let Some(rewritten) = verdict.rewritten_sql.clone() else {
        return Ok(result(
            Kind::Error,
            label,
            Some(verdict),
            "not blocked, but no rewritten_sql".into(),
        ));
    };
    if case.expectation(&ctx.name) == Some(Expect::Block) {
        // Cases that must block with the catalog (system catalogs and other relations
        // outside it, which the oracle database holds otherwise than the real one):
        // without it they read relations no policy names, as documented.
        return Ok(result(
            Kind::Allowed,
            label,
            Some(verdict),
            "blocks with the catalog; not compared".into(),
        ));
    }
    let Some(oracle) = dbs.oracles.get_mut(&ctx.name) else {
        return Err(format!("no oracle database for context {}", ctx.name));
    };
    let o = oracle.run(cluster, &case.sql)?;
    let real = dbs.real.run(cluster, &rewritten)?;
    if o.is_absent_error() {
        // The context may not see something the statement reads. Without a catalog that
        // is fine for a relation no policy names (the real database's extra relations);
        // rows from a statement that reads a governed table are a leak.
        return Ok(if verdict.matched_policies.is_empty() || !real.has_rows() {
            result(Kind::Allowed, label, Some(verdict), real.summary())
        } else {
            result(
                Kind::Leak,
                label,
                Some(verdict),
                format!(
                    "the oracle cannot run it ({}), the rewritten SQL gave {}",
                    o.summary(),
                    real.summary_with_rows()
                ),
            )
        });
    }
    if case.strict {
        let hidden = dbs
            .hidden
            .get(&ctx.name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if let Some(diff) = side_channel(&o, &real, case.ordered, &case.sql, hidden) {
            return Ok(result(Kind::Leak, label, Some(verdict), diff));
        }
        return Ok(result(Kind::Match, label, Some(verdict), String::new()));
    }
    Ok(compared(&o, &real, case.ordered, label, verdict))
}

/// The oracle's answer against the rewritten SQL's: a match, or how they differ (an
/// error where the oracle answers is `Error`, anything else `Wrong`).
fn compared(
    oracle: &Outcome,
    real: &Outcome,
    ordered: bool,
    label: &str,
    verdict: Verdict,
) -> CheckResult {
    match difference(oracle, real, ordered) {
        None => result(Kind::Match, label, Some(verdict), String::new()),
        Some(diff) => {
            let kind = match (oracle, real) {
                (Outcome::Rows(_), Outcome::Error { .. }) => Kind::Error,
                _ => Kind::Wrong,
            };
            result(kind, label, Some(verdict), diff)
        }
    }
}
