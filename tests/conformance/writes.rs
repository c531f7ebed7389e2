//! Judging one write or restriction case in one context.
//!
//! The expectation is the case's own (`expect:`), else the oracle decides: the original
//! SQL runs through the context's views (as the writer role, in `BEGIN … ROLLBACK`);
//! a relation or column absent there gives the context's `absent` (rule `deny`), a
//! missing privilege `block` (rule `deny`: deny rules narrowed by operation are
//! privileges in the oracle), a check option violation `refuse` (rule `row_filter`), and
//! anything else `match`. After every check, the fingerprints of the real database and
//! of the context's oracle must equal the ones before the suite.

use verdict_engine::{PolicySet, Verdict};

use crate::check::{evaluate_twice, one_line, Kind};
use crate::fixtures::{ContextFixture, Expect, WriteCase, WriteExpect};
use crate::setup::Databases;
use crate::write_sql::{difference, WriteOutcome, WriterConn};
use verdict_testkit::Cluster;

/// One check's outcome and what to print about it.
pub struct WriteResult {
    pub kind: Kind,
    expected: String,
    verdict: Option<Verdict>,
    detail: String,
}

impl WriteResult {
    /// The engine's verdict, when it gave one (the generated suite).
    #[allow(dead_code)]
    pub fn verdict(&self) -> Option<&Verdict> {
        self.verdict.as_ref()
    }

    /// The line for this check; the details follow for failures and known bugs, or
    /// always when `full`.
    pub fn report(&self, case: &WriteCase, ctx: &ContextFixture, full: bool) -> String {
        let tag = if self.kind.is_failure() {
            "FAIL"
        } else if self.kind == Kind::KnownBug {
            "BUG "
        } else {
            "ok  "
        };
        let mut out = format!(
            "{tag} [{}] {} @ {} (expected {})",
            self.kind.label(),
            case.id,
            ctx.name,
            self.expected
        );
        if !self.kind.is_failure() && self.kind != Kind::KnownBug && !full {
            return out;
        }
        if let Some(bug) = &case.known_bug {
            out.push_str(&format!("\n    bug:       {}", one_line(bug)));
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

/// Fingerprints compared, all equal (a difference aborts the suite).
#[derive(Default)]
pub struct Fingerprints {
    pub compared: usize,
}

struct Judge<'a> {
    cluster: &'a Cluster,
}

impl Judge<'_> {
    fn run(
        &self,
        conn: &mut WriterConn,
        sql: &str,
        mode: crate::fixtures::OracleMode,
    ) -> Result<WriteOutcome, String> {
        conn.run(self.cluster, sql, mode)
    }
}

/// Checks that the database of `conn` is as before the suite.
fn same_fingerprint(
    conn: &mut WriterConn,
    dbs_fingerprints: &std::collections::BTreeMap<String, String>,
    case: &WriteCase,
    ctx: &ContextFixture,
) -> Result<(), String> {
    let got = conn.fingerprint()?;
    let before = dbs_fingerprints.get(&conn.db);
    if before == Some(&got) {
        return Ok(());
    }
    Err(format!(
        "case {} in context {}: database {} is not as before the suite after the case's \
         ROLLBACK (fingerprint {got}, before {}); something committed",
        case.id,
        ctx.name,
        conn.db,
        before.map_or("unknown", String::as_str)
    ))
}

fn result(kind: Kind, expected: &str, verdict: Option<Verdict>, detail: String) -> WriteResult {
    WriteResult {
        kind,
        expected: expected.to_string(),
        verdict,
        detail,
    }
}

/// Evaluates `case` in `ctx` and judges it; a `known_bug` case's failure becomes
/// `KnownBug` (the caller reports a marked case that no longer fails anywhere). `Err`
/// for harness failures (a connection, a changed fingerprint).
pub fn check(
    cluster: &Cluster,
    dbs: &mut Databases,
    policies: &PolicySet,
    case: &WriteCase,
    ctx: &ContextFixture,
    fingerprints: &mut Fingerprints,
    without_catalog: bool,
) -> Result<WriteResult, String> {
    let mut r = judge(cluster, dbs, policies, case, ctx, without_catalog)?;
    // Both databases, whether the case ran on them or not, must be as before the suite.
    same_fingerprint(&mut dbs.real_writer, &dbs.fingerprints, case, ctx)?;
    let Some(oracle) = dbs.oracle_writers.get_mut(&ctx.name) else {
        return Err(format!("no oracle database for context {}", ctx.name));
    };
    same_fingerprint(oracle, &dbs.fingerprints, case, ctx)?;
    fingerprints.compared += 2;
    if without_catalog && r.kind == Kind::UnexpectedRun {
        // A case that blocks with the catalog ran without it, with no rows and no change
        // to a governed table: relations no policy names are ungoverned without a catalog.
        r.kind = Kind::Allowed;
    }
    // Known bugs are those of the pass with the catalog (mostly over-blocks): without it
    // a failure is a failure (a case whose bug shows there too says `without_catalog`).
    if case.known_bug.is_some() && r.kind.is_failure() && !without_catalog {
        r.detail = format!("[{}] {}", r.kind.label(), r.detail);
        r.kind = Kind::KnownBug;
    }
    Ok(r)
}

/// Judges one write case. `without_catalog`: the policy set has no catalog (the second
/// pass): any block is accepted (the engine may need the catalog to prove a write), the
/// verdict's exact texts are not compared, and a case that must block is not run when the
/// engine allows it over relations no policy names; what it allows over governed tables
/// must still do what the oracle does.
fn judge(
    cluster: &Cluster,
    dbs: &mut Databases,
    policies: &PolicySet,
    case: &WriteCase,
    ctx: &ContextFixture,
    without_catalog: bool,
) -> Result<WriteResult, String> {
    let explicit = case.expect.get(&ctx.name).copied();
    let label = explicit.map_or("oracle", WriteExpect::as_str).to_string();
    let verdict = match evaluate_twice(policies, &case.sql, &ctx.json) {
        Ok(v) => v,
        Err(failed) => {
            let (verdict, detail) = *failed;
            return Ok(result(Kind::Error, &label, verdict, detail));
        }
    };
    if without_catalog {
        if verdict.is_block() {
            return Ok(result(
                Kind::BlockedOptional,
                "a block, else the oracle's effect (no catalog)",
                Some(verdict),
                String::new(),
            ));
        }
        if let Some(why) = &case.without_catalog {
            return Ok(result(
                Kind::Allowed,
                "a block, else the oracle's effect (no catalog)",
                Some(verdict),
                format!("not compared without the catalog: {why}"),
            ));
        }
        if matches!(explicit, Some(WriteExpect::Block | WriteExpect::Allow))
            && (verdict.matched_policies.is_empty() || explicit == Some(WriteExpect::Allow))
        {
            return Ok(result(
                Kind::Allowed,
                "a block, else the oracle's effect (no catalog)",
                Some(verdict),
                "reads or writes only relations no policy names, or is not run; not compared"
                    .into(),
            ));
        }
    } else if let Some(problem) = verdict_problem(case, ctx, &verdict) {
        return Ok(result(Kind::Wrong, &label, Some(verdict), problem));
    }

    let judge = Judge { cluster };

    // Resolve the expectation, consulting the oracle where the case does not say, or
    // where answers will be compared.
    let mut oracle_outcome = None;
    let mut derived_rules: Vec<&str> = Vec::new();
    let expect = match explicit {
        Some(e) if !matches!(e, WriteExpect::Match | WriteExpect::Optional) => e,
        _ => {
            let Some(conn) = dbs.oracle_writers.get_mut(&ctx.name) else {
                return Err(format!("no oracle database for context {}", ctx.name));
            };
            let o = judge.run(conn, case.oracle_sql(), case.oracle)?;
            let derived = if o.is_error("42P01") || o.is_error("42703") {
                // What the context may not see: denied; where the context's values make
                // the filter unusable (`reject`), a write may also fail its proof.
                derived_rules = match ctx.absent {
                    Expect::Reject => vec!["deny", "row_filter"],
                    _ => vec!["deny"],
                };
                Some(match ctx.absent {
                    Expect::Reject => WriteExpect::Reject,
                    _ => WriteExpect::Block,
                })
            } else if o.is_error("42501") {
                derived_rules = vec!["deny"];
                Some(WriteExpect::Block)
            } else if o.is_error("44000") {
                derived_rules = vec!["row_filter"];
                Some(WriteExpect::Refuse)
            } else if o.is_error("0A000")
                && o.error_message().is_some_and(|m| m.contains("of view"))
            {
                return Ok(result(
                    Kind::Error,
                    &label,
                    Some(verdict),
                    format!(
                        "the oracle cannot write this through its views ({}): a masked \
                         column is written; mark the case `oracle: triggers`",
                        o.summary(Some(&dbs.initial_contents))
                    ),
                ));
            } else {
                None
            };
            let e = match (explicit, derived) {
                (Some(WriteExpect::Match), Some(_)) => {
                    return Ok(result(
                        Kind::Error,
                        &label,
                        Some(verdict),
                        format!(
                            "the case expects a match but the oracle refuses it: {}",
                            o.summary(Some(&dbs.initial_contents))
                        ),
                    ))
                }
                (_, Some(d)) => d,
                (Some(e), None) => e,
                (None, None) => WriteExpect::Match,
            };
            oracle_outcome = Some(o);
            e
        }
    };
    let label = match explicit {
        Some(e) if e == expect => e.as_str().to_string(),
        Some(e) => format!("{}, else {} (oracle)", e.as_str(), expect.as_str()),
        None => format!("{} (oracle)", expect.as_str()),
    };

    if verdict.is_block() {
        let rules: Vec<&str> = match case.rule.get(&ctx.name) {
            Some(rule) => rule.list(),
            None if explicit.is_none() => derived_rules,
            None => Vec::new(),
        };
        if !rules.is_empty() {
            let ok = rules.contains(&verdict.rule.as_str())
                || ctx.block_rules.iter().any(|r| verdict.rule == *r);
            if !ok && !matches!(expect, WriteExpect::Match | WriteExpect::Allow) {
                let mut rules: Vec<String> = rules.iter().map(|r| r.to_string()).collect();
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
            WriteExpect::Block | WriteExpect::Refuse | WriteExpect::Reject => {
                result(Kind::Blocked, &label, Some(verdict), String::new())
            }
            WriteExpect::Optional => {
                result(Kind::BlockedOptional, &label, Some(verdict), String::new())
            }
            WriteExpect::Match | WriteExpect::Allow => {
                let detail = match &oracle_outcome {
                    Some(o) => format!(
                        "the oracle answers: {}",
                        o.summary(Some(&dbs.initial_contents))
                    ),
                    None => "the case expects the engine to allow it".to_string(),
                };
                result(Kind::OverBlocked, &label, Some(verdict), detail)
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
    if expect == WriteExpect::Allow {
        return Ok(result(Kind::Allowed, &label, Some(verdict), String::new()));
    }
    let real = judge.run(
        &mut dbs.real_writer,
        &rewritten,
        crate::fixtures::OracleMode::Views,
    )?;
    let initial = &dbs.initial_contents;
    let effect = real.has_rows() || real.changed(initial);
    Ok(match expect {
        WriteExpect::Block => {
            let kind = if effect {
                Kind::Leak
            } else {
                Kind::UnexpectedRun
            };
            let detail = format!("the rewritten SQL gave {}", real.summary(Some(initial)));
            result(kind, &label, Some(verdict), detail)
        }
        WriteExpect::Refuse | WriteExpect::Reject => {
            let detail = real.summary(Some(initial));
            if effect {
                let detail = format!("the rewritten SQL gave {detail}");
                result(Kind::Leak, &label, Some(verdict), detail)
            } else if matches!(real, WriteOutcome::Error { .. }) {
                result(Kind::Rejected, &label, Some(verdict), detail)
            } else {
                result(Kind::NoOp, &label, Some(verdict), detail)
            }
        }
        WriteExpect::Match | WriteExpect::Optional | WriteExpect::Allow => {
            let Some(o) = oracle_outcome else {
                return Err(format!("case {}: no oracle answer to compare", case.id));
            };
            let first = difference(&o, &real, case.ordered, case.compare, case.max_rows);
            if first.is_none() && case.strict {
                let hidden = dbs
                    .hidden
                    .get(&ctx.name)
                    .map(Vec::as_slice)
                    .unwrap_or_default();
                for plan in crate::sql::PLANS {
                    let again = dbs.real_writer.run_with(
                        judge.cluster,
                        plan,
                        &rewritten,
                        crate::fixtures::OracleMode::Views,
                    )?;
                    if let WriteOutcome::Error { message, .. } = &again {
                        if let Some(value) = crate::sql::printed_hidden(message, &case.sql, hidden)
                        {
                            let detail = format!(
                                "with `{plan}`: prints the hidden value `{value}`: {}",
                                again.summary(Some(initial))
                            );
                            return Ok(result(Kind::Leak, &label, Some(verdict), detail));
                        }
                    }
                    let differs = difference(&o, &again, case.ordered, case.compare, case.max_rows);
                    // As below: the oracle failing on a value where the rewritten SQL did
                    // not reveals nothing.
                    let value_error = matches!((&o, &again), (WriteOutcome::Error { code, .. }, WriteOutcome::Done { .. }) if code.starts_with("22"));
                    if let (Some(diff), false) = (differs, value_error) {
                        let kind = match (&o, &again) {
                            (WriteOutcome::Done { .. }, WriteOutcome::Error { .. }) => Kind::Leak,
                            _ => Kind::Wrong,
                        };
                        let detail = format!("with `{plan}`: {diff}");
                        return Ok(result(kind, &label, Some(verdict), detail));
                    }
                }
            }
            match first {
                None => {
                    let detail = match &o {
                        WriteOutcome::Error { code, message } => {
                            format!("both fail with {code}: {message}")
                        }
                        WriteOutcome::Done { .. } => o.summary(Some(initial)),
                    };
                    result(Kind::Match, &label, Some(verdict), detail)
                }
                // The oracle failed on a value (a data exception, SQLSTATE class 22) where
                // the rewritten SQL did not: where a failing expression is evaluated
                // depends on the plan, and evaluating it on fewer rows reveals nothing.
                Some(_) if matches!((&o, &real), (WriteOutcome::Error { code, .. }, WriteOutcome::Done { .. }) if code.starts_with("22")) =>
                {
                    let detail = format!(
                        "the oracle failed on a value ({}); the rewritten SQL did not",
                        o.summary(Some(initial))
                    );
                    result(Kind::Match, &label, Some(verdict), detail)
                }
                Some(diff) => {
                    let kind = match (&o, &real) {
                        (WriteOutcome::Done { .. }, WriteOutcome::Error { .. }) => Kind::Error,
                        _ => Kind::Wrong,
                    };
                    result(kind, &label, Some(verdict), diff)
                }
            }
        }
    })
}

/// What the verdict says beyond allow or block, against the case's `limits`, `notes`
/// and `rewritten`: the first mismatch.
fn verdict_problem(case: &WriteCase, ctx: &ContextFixture, v: &Verdict) -> Option<String> {
    if let Some(want) = case.limits.get(&ctx.name) {
        let mut want = want.clone();
        want.sort();
        let mut got: Vec<String> = v
            .limits
            .iter()
            .map(|l| format!("{}/{}={}", l.policy, l.kind, l.value))
            .collect();
        got.sort();
        if got != want {
            return Some(format!(
                "limits [{}] expected, the verdict has [{}]",
                want.join(", "),
                got.join(", ")
            ));
        }
    }
    if let Some(notes) = case.notes.get(&ctx.name) {
        if let Some(missing) = notes
            .iter()
            .find(|n| !v.notes.iter().any(|m| m.contains(n.as_str())))
        {
            return Some(format!(
                "no note contains `{missing}`; notes: {:?}",
                v.notes
            ));
        }
    }
    if let Some(want) = case.rewritten.get(&ctx.name) {
        if v.rewritten_sql.as_deref() != Some(want.as_str()) {
            return Some(format!(
                "rewritten SQL `{want}` expected, the verdict has {:?}",
                v.rewritten_sql
            ));
        }
    }
    None
}
