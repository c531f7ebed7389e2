//! Judging one generated query in one context, with the conformance suite's helpers: the
//! engine's verdict (twice, deterministic, no panic), the original SQL on the context's
//! oracle, the rewritten SQL on `real`, compared as multisets (in order where the query
//! orders by every output column).

use verdict_engine::{PolicySet, Verdict};
use verdict_testkit::Cluster;

use crate::check::evaluate_twice;
use crate::fixtures::{ContextFixture, Expect};
use crate::setup::Databases;
use crate::sql::{difference, Outcome as PgOutcome};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// Allowed, and the rewritten SQL gave the oracle's rows.
    Match,
    /// Allowed, and both sides failed with the same SQLSTATE.
    SameError,
    /// The oracle lacks a relation or column the query reads (the context may not see
    /// it), and the engine blocked by `deny` or a rule of the context's `block_rules`.
    Blocked,
    /// As `Blocked`, by another rule (still a block).
    BlockedOtherRule,
    /// The oracle lacks what the query reads, the context's `absent` is `reject`, and the
    /// rewritten SQL failed or returned no row.
    Rejected,
    /// The engine blocked; the oracle fails too, for another reason than visibility
    /// (a type error once a mask changed a column's type, a planner restriction).
    BlockedOracleFails,
    /// The engine blocked what the oracle answers: safe (nothing leaks), counted apart.
    OverBlocked,
    /// One side failed with a data exception (SQLSTATE class 22) or a statement timeout
    /// where the other answered: the point of failure depends on the plan; not judged.
    DataException,
    /// Allowed, and the rewritten SQL gave other rows than the oracle.
    Wrong,
    /// Allowed, and the rewritten SQL failed where the oracle answers; or the engine
    /// panicked, was not deterministic, or allowed without a rewritten SQL.
    Error,
    /// The oracle cannot see what the query reads, yet the rewritten SQL returned rows.
    Leak,
    /// The oracle cannot see what the query reads (`absent: block`), and the engine
    /// allowed; the rewritten SQL returned no row.
    UnexpectedRun,
}

impl Kind {
    pub const ALL: [Kind; 12] = [
        Kind::Match,
        Kind::SameError,
        Kind::Blocked,
        Kind::BlockedOtherRule,
        Kind::Rejected,
        Kind::BlockedOracleFails,
        Kind::OverBlocked,
        Kind::DataException,
        Kind::Wrong,
        Kind::Error,
        Kind::Leak,
        Kind::UnexpectedRun,
    ];

    pub fn is_failure(self) -> bool {
        matches!(
            self,
            Kind::Wrong | Kind::Error | Kind::Leak | Kind::UnexpectedRun
        )
    }

    pub fn label(self) -> &'static str {
        match self {
            Kind::Match => "match",
            Kind::SameError => "same error",
            Kind::Blocked => "blocked as expected",
            Kind::BlockedOtherRule => "blocked as expected by another rule",
            Kind::Rejected => "rejected as expected",
            Kind::BlockedOracleFails => "blocked where the oracle fails",
            Kind::OverBlocked => "over-blocked (safe)",
            Kind::DataException => "data exception or timeout on one side",
            Kind::Wrong => "wrong",
            Kind::Error => "error",
            Kind::Leak => "leak",
            Kind::UnexpectedRun => "unexpected run",
        }
    }
}

/// What a query gave.
pub struct Judged {
    pub kind: Kind,
    pub verdict: Option<Verdict>,
    pub detail: String,
    /// What the context's oracle answered (`None` when the engine failed first).
    pub oracle: Option<PgOutcome>,
}

fn judged(kind: Kind, verdict: Option<Verdict>, detail: String) -> Judged {
    Judged {
        kind,
        verdict,
        detail,
        oracle: None,
    }
}

/// A data exception (class 22: where a failing cast or function is evaluated depends on
/// the plan) or a statement timeout (57014, on a loaded machine).
fn is_data_exception(o: &PgOutcome) -> bool {
    matches!(o, PgOutcome::Error { code, .. } if code.starts_with("22") || code == "57014")
}

/// Judges `sql` in `ctx`. `oracle`, when given, is what the context's oracle answered to
/// `sql` already (an earlier pass over the same query) and is not asked again. `Err` only
/// for harness failures.
pub fn judge(
    cluster: &Cluster,
    dbs: &mut Databases,
    policies: &PolicySet,
    ctx: &ContextFixture,
    sql: &str,
    ordered: bool,
    oracle: Option<PgOutcome>,
) -> Result<Judged, String> {
    let verdict = match evaluate_twice(policies, sql, &ctx.json) {
        Ok(v) => v,
        Err(failed) => {
            let (verdict, detail) = *failed;
            return Ok(judged(Kind::Error, verdict, detail));
        }
    };
    let oracle = match oracle {
        Some(known) => known,
        None => {
            let Some(oracle_conn) = dbs.oracles.get_mut(&ctx.name) else {
                return Err(format!("no oracle database for context {}", ctx.name));
            };
            oracle_conn.run(cluster, sql)?
        }
    };
    let mut j = compare(cluster, dbs, ctx, verdict, &oracle, ordered, sql)?;
    j.oracle = Some(oracle);
    Ok(j)
}

/// Judges a verdict against the oracle's answer, running its rewritten SQL on `real`.
fn compare(
    cluster: &Cluster,
    dbs: &mut Databases,
    ctx: &ContextFixture,
    verdict: Verdict,
    oracle: &PgOutcome,
    ordered: bool,
    sql: &str,
) -> Result<Judged, String> {
    if verdict.is_block() {
        let kind = if oracle.is_absent_error() {
            if verdict.rule == "deny" || ctx.block_rules.iter().any(|r| verdict.rule == *r) {
                Kind::Blocked
            } else {
                Kind::BlockedOtherRule
            }
        } else if matches!(oracle, PgOutcome::Error { .. }) {
            Kind::BlockedOracleFails
        } else {
            Kind::OverBlocked
        };
        let detail = format!("the oracle gave {}", oracle.summary());
        return Ok(judged(kind, Some(verdict), detail));
    }

    let Some(rewritten) = verdict.rewritten_sql.clone() else {
        return Ok(judged(
            Kind::Error,
            Some(verdict),
            "not blocked, but no rewritten_sql".into(),
        ));
    };
    let real = dbs.real.run(cluster, &rewritten)?;

    // An error of the rewritten SQL may only print what the context sees: a value of the
    // base tables that none of its views shows is a leak, whatever the oracle answered.
    if let PgOutcome::Error { message, .. } = &real {
        let hidden = dbs
            .hidden
            .get(&ctx.name)
            .map(Vec::as_slice)
            .unwrap_or_default();
        if let Some(value) = crate::sql::printed_hidden(message, sql, hidden) {
            let detail = format!(
                "the rewritten SQL's error prints the hidden value `{value}`: {}",
                real.summary()
            );
            return Ok(judged(Kind::Leak, Some(verdict), detail));
        }
    }

    if oracle.is_absent_error() && *oracle == real {
        // The same missing name on the real tables: the query is wrong, not the context.
        return Ok(judged(Kind::SameError, Some(verdict), oracle.summary()));
    }
    if oracle.is_absent_error() {
        let detail = format!(
            "the oracle gave {}; the rewritten SQL gave {}",
            oracle.summary(),
            real.summary_with_rows()
        );
        let kind = if real.has_rows() {
            Kind::Leak
        } else if ctx.absent == Expect::Reject {
            Kind::Rejected
        } else {
            Kind::UnexpectedRun
        };
        return Ok(judged(kind, Some(verdict), detail));
    }

    match difference(oracle, &real, ordered) {
        None => Ok(match oracle {
            PgOutcome::Error { .. } => judged(Kind::SameError, Some(verdict), oracle.summary()),
            PgOutcome::Rows(_) => judged(Kind::Match, Some(verdict), String::new()),
        }),
        Some(diff) => {
            let kind = if is_data_exception(oracle) || is_data_exception(&real) {
                Kind::DataException
            } else if matches!(real, PgOutcome::Error { .. }) {
                Kind::Error
            } else {
                Kind::Wrong
            };
            Ok(judged(kind, Some(verdict), diff))
        }
    }
}
