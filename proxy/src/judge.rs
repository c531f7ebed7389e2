//! One SQL text from a client → what the upstream runs, or the error the client gets.

use bytes::{Bytes, BytesMut};
use pgwire::messages::response::ErrorResponse;
use pgwire::messages::Message as _;
use verdict_engine::verdict::RuleNo;
use verdict_engine::{evaluate, Context, PolicySet, Verdict};

use crate::audit::{AuditLog, Record};
use crate::quota::Quotas;
use crate::vetted;

/// The store a proxy runs on, when it does: statements are enforced as
/// `/api/v1/evaluate` enforces them (exceptions used up, limits counted in the store,
/// alerts raised), by the server's own [`verdict_server::evaluate::enforce`].
#[derive(Clone, Copy)]
pub struct OnStore<'a> {
    pub db: &'a verdict_server::Db,
    pub org_id: &'a str,
    pub active: &'a verdict_server::active::ActiveSet,
}

/// The session a statement comes from: who is counted against
/// `queries_per_hour`/`queries_per_day`, and what the audit log records.
#[derive(Clone, Copy)]
pub struct Counting<'a> {
    /// With a store, the store's enforcement replaces the in-process quotas.
    pub store: Option<OnStore<'a>>,
    pub quotas: &'a Quotas,
    pub principal: &'a str,
    pub audit: Option<&'a AuditLog>,
    pub client: &'a str,
    pub application: &'a str,
    pub ctx: &'a Context,
}

impl<'a> Counting<'a> {
    /// The audit record of an engine verdict for `sql` in this session: what ran upstream
    /// is the rewritten SQL unless it blocked.
    fn record<'b>(&self, sql: &'b str, verdict: &'b Verdict) -> Record<'b>
    where
        'a: 'b,
    {
        Record {
            principal: self.principal,
            client: self.client,
            application: self.application,
            sql,
            ran: (!verdict.is_block())
                .then_some(verdict.rewritten_sql.as_deref())
                .flatten(),
            verdict: verdict.verdict.as_str(),
            rule: verdict.rule.as_str(),
            policies: verdict
                .matched_policies
                .iter()
                .map(|p| p.id.as_str())
                .collect(),
            full: Some(verdict),
            ctx: self.ctx,
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn audit(
        &self,
        sql: &str,
        ran: Option<&str>,
        verdict: &str,
        rule: &str,
        policies: Vec<&str>,
        full: Option<&Verdict>,
    ) {
        if let Some(log) = self.audit {
            log.record(&Record {
                principal: self.principal,
                client: self.client,
                application: self.application,
                sql,
                ran,
                verdict,
                rule,
                policies,
                full,
                ctx: self.ctx,
            });
        }
    }
}

/// The outcome for one SQL text.
#[derive(Debug)]
pub enum Judged {
    /// Run this text upstream (the engine's rewritten SQL, or a vetted statement as printed).
    Forward(String),
    /// Answer this `ErrorResponse` (SQLSTATE 42501) instead.
    Block(Bytes),
}

/// The session's `statement_timeout`: the smallest `max_execution_ms` of the query limits
/// that apply to `ctx`, set on the upstream session at login (the client cannot change
/// it: `SET statement_timeout` is not on the vetted list).
pub fn session_timeout(set: &PolicySet, ctx: &Context) -> Option<u64> {
    evaluate(set, "SELECT 1", ctx)
        .limits
        .iter()
        .filter(|l| l.kind == "max_execution_ms")
        .map(|l| l.value)
        .min()
}

/// [`judge_within`] with the session timeout computed for `ctx`.
/// Counts nothing: for previews and tests.
pub fn judge(set: &PolicySet, ctx: &Context, sql: &str) -> Judged {
    judge_within(set, ctx, session_timeout(set, ctx), None, sql)
}

/// Judges `sql` for `ctx` on an upstream session whose `statement_timeout` is
/// `timeout_ms`: a statement whose verdict asks for a shorter time limit is blocked
/// (fail closed) rather than run under a longer one; with `counting`, an allowed statement
/// is counted against the principal's quotas, and blocked once one is used up. Empty
/// texts pass (PostgreSQL answers `EmptyQueryResponse`);
/// vetted statements pass as printed from their syntax tree; catalog queries pass with
/// their catalog relations filtered to what the principal may read (`catalog`); everything else is the
/// engine's, and a text mixing both is judged statement by statement, one block
/// blocking all.
pub fn judge_within(
    set: &PolicySet,
    ctx: &Context,
    timeout_ms: Option<u64>,
    counting: Option<Counting<'_>>,
    sql: &str,
) -> Judged {
    if sql
        .trim_matches(|c: char| c.is_whitespace() || c == ';')
        .is_empty()
    {
        return Judged::Forward(sql.to_string());
    }
    if vetted::may_be_vetted(sql) {
        if let Some(statements) = vetted::split(sql) {
            if statements.iter().any(|(_, ok)| *ok) {
                let mut parts = Vec::with_capacity(statements.len());
                for (stmt, ok) in statements {
                    let text = stmt.to_string();
                    if ok {
                        if let Some(c) = counting {
                            c.audit(&text, Some(&text), "allow", "vetted", Vec::new(), None);
                        }
                        parts.push(text);
                        continue;
                    }
                    match engine(set, ctx, timeout_ms, counting, &text) {
                        Judged::Forward(rewritten) => parts.push(rewritten),
                        block => return block,
                    }
                }
                return Judged::Forward(parts.join("; "));
            }
        }
    }
    if let Some(text) = crate::catalog::answer(set, ctx, sql) {
        if let Some(c) = counting {
            c.audit(sql, Some(&text), "allow", "catalog", Vec::new(), None);
        }
        return Judged::Forward(text);
    }
    engine(set, ctx, timeout_ms, counting, sql)
}

fn engine(
    set: &PolicySet,
    ctx: &Context,
    timeout_ms: Option<u64>,
    counting: Option<Counting<'_>>,
    sql: &str,
) -> Judged {
    if let Some((c, store)) = counting.and_then(|c| c.store.map(|s| (c, s))) {
        return engine_on_store(store, ctx, timeout_ms, c, sql);
    }
    let verdict = evaluate(set, sql, ctx);
    let (judged, rule) = decide(&verdict, timeout_ms, counting);
    if let Some(c) = counting {
        let ran = match &judged {
            Judged::Forward(text) => Some(text.as_str()),
            Judged::Block(_) => None,
        };
        let decision = if ran.is_some() {
            verdict.verdict.as_str()
        } else {
            "block"
        };
        let policies = verdict
            .matched_policies
            .iter()
            .map(|p| p.id.as_str())
            .collect();
        c.audit(
            sql,
            ran,
            decision,
            rule.unwrap_or(verdict.rule.as_str()),
            policies,
            Some(&verdict),
        );
    }
    judged
}

/// The proxy's own gate on a verdict: a statement that needs a shorter time limit than the
/// session's becomes a block (rule `query_limit`, the policy that asks for it). Answers
/// whether it blocked.
fn time_gate(verdict: &mut Verdict, timeout_ms: Option<u64>) -> bool {
    if verdict.is_block() {
        return false;
    }
    let Some(limit) = verdict
        .limits
        .iter()
        .filter(|l| l.kind == "max_execution_ms")
        .min_by_key(|l| l.value)
        .cloned()
    else {
        return false;
    };
    if timeout_ms.is_some_and(|t| t <= limit.value) {
        return false;
    }
    verdict.verdict = verdict_engine::Decision::Block;
    verdict.rule = verdict_engine::VerdictRule::QueryLimit;
    verdict.reason = format!(
        "the statement may run for at most {} ms, and this session's time limit is longer",
        limit.value
    );
    verdict.hint = "log in again: the session's time limit is set at login".into();
    verdict.rewritten_sql = None;
    verdict.row_filter_predicate = None;
    verdict.blocked_by = Some(verdict_engine::verdict::BlockedBy {
        policy: limit.policy.clone(),
        rule_index: limit.rule_index,
    });
    true
}

/// [`engine`] on a store: the server's enforcement, waited for on this worker thread
/// (`block_in_place`). A store that cannot be written, or a runtime that cannot wait so,
/// blocks the statement (fail closed).
fn engine_on_store(
    store: OnStore<'_>,
    ctx: &Context,
    timeout_ms: Option<u64>,
    c: Counting<'_>,
    sql: &str,
) -> Judged {
    let sink = c.audit.and_then(AuditLog::store);
    let record = |verdict: &Verdict, exceptions: &serde_json::Value| {
        crate::audit::evaluation(
            store.org_id,
            &c.record(sql, verdict),
            &exceptions.to_string(),
        )
    };
    let outcome = match tokio::runtime::Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(|| {
                handle.block_on(verdict_server::evaluate::enforce(
                    store.db,
                    store.org_id,
                    store.active,
                    ctx,
                    sql,
                    c.principal,
                    |v| time_gate(v, timeout_ms),
                    record,
                ))
            })
        }
        _ => Err(verdict_server::ApiError::internal(
            "the store's enforcement needs the multi-thread runtime",
        )),
    };
    let enforced = match outcome {
        Ok(e) => e,
        Err(e) => {
            eprintln!(
                "verdict proxy: cannot enforce through the store ({}); statement blocked",
                e.cause()
            );
            return Judged::Block(encode_error(vec![
                (b'S', "ERROR".into()),
                (b'V', "ERROR".into()),
                (b'C', "42501".into()),
                (
                    b'M',
                    "statement blocked: the proxy cannot write to its policy store".into(),
                ),
            ]));
        }
    };
    let verdict = &enforced.verdict;
    let ran = (!verdict.is_block())
        .then_some(verdict.rewritten_sql.as_deref())
        .flatten();
    if let Some(log) = c.audit {
        log.record_file(&c.record(sql, verdict));
    }
    let judged = match ran {
        Some(text) => Judged::Forward(text.to_string()),
        None => Judged::Block(block_error(verdict)),
    };
    let alerts = !enforced.record.alerts.is_empty();
    match sink {
        Some(sink) if !enforced.logged => sink.queue(enforced.record),
        Some(sink) if alerts => sink.wake_alerts(),
        _ => {}
    }
    judged
}

/// The outcome for a verdict, and the rule that decided it when it is not the verdict's
/// (a time limit or a quota).
fn decide(
    verdict: &Verdict,
    timeout_ms: Option<u64>,
    counting: Option<Counting<'_>>,
) -> (Judged, Option<&'static str>) {
    let needed = verdict
        .limits
        .iter()
        .filter(|l| l.kind == "max_execution_ms")
        .min_by_key(|l| l.value);
    if let Some(limit) = needed {
        if timeout_ms.is_none_or(|t| t > limit.value) {
            let err = encode_error(vec![
                (b'S', "ERROR".into()),
                (b'V', "ERROR".into()),
                (b'C', "42501".into()),
                (
                    b'M',
                    format!(
                        "the statement may run for at most {} ms, and this session's time limit is longer",
                        limit.value
                    ),
                ),
                (
                    b'D',
                    format!(
                        "rule: max_execution_ms; policy: {} (rule {})",
                        limit.policy,
                        RuleNo(limit.rule_index)
                    ),
                ),
            ]);
            return (Judged::Block(err), Some("max_execution_ms"));
        }
    }
    match &verdict.rewritten_sql {
        Some(rewritten) if !verdict.is_block() => {
            if let Some(c) = counting {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                if let Err(limit) = c.quotas.admit(c.principal, &verdict.limits, now) {
                    let per = if limit.kind == "queries_per_day" {
                        "day"
                    } else {
                        "hour"
                    };
                    let err = encode_error(vec![
                        (b'S', "ERROR".into()),
                        (b'V', "ERROR".into()),
                        (b'C', "42501".into()),
                        (
                            b'M',
                            format!(
                                "query quota exceeded: at most {} statements per {per} under policy `{}`",
                                limit.value, limit.policy
                            ),
                        ),
                        (
                            b'D',
                            format!(
                                "rule: {}; policy: {} (rule {})",
                                limit.kind,
                                limit.policy,
                                RuleNo(limit.rule_index)
                            ),
                        ),
                        (b'H', format!("the quota renews at the start of the next {per} (UTC)")),
                    ]);
                    let rule = if per == "day" {
                        "queries_per_day"
                    } else {
                        "queries_per_hour"
                    };
                    return (Judged::Block(err), Some(rule));
                }
            }
            (Judged::Forward(rewritten.clone()), None)
        }
        _ => (Judged::Block(block_error(verdict)), None),
    }
}

/// The `ErrorResponse` for a blocked statement: message = reason, hint = hint, detail =
/// the rule and the policy.
pub fn block_error(v: &Verdict) -> Bytes {
    let mut detail = format!("rule: {}", v.rule);
    if let Some(by) = &v.blocked_by {
        detail.push_str(&format!(
            "; policy: {} (rule {})",
            by.policy,
            RuleNo(by.rule_index)
        ));
    }
    let mut fields = vec![
        (b'S', "ERROR".to_string()),
        (b'V', "ERROR".to_string()),
        (b'C', "42501".to_string()),
        (b'M', v.reason.clone()),
        (b'D', detail),
    ];
    if !v.hint.is_empty() {
        fields.push((b'H', v.hint.clone()));
    }
    encode_error(fields)
}

/// An `ErrorResponse` message with these fields.
pub fn encode_error(fields: Vec<(u8, String)>) -> Bytes {
    let mut out = BytesMut::new();
    // Encoding into a growable buffer cannot fail.
    let _ = ErrorResponse::new(fields).encode(&mut out);
    out.freeze()
}

/// A FATAL `ErrorResponse` (the connection closes after it).
pub fn fatal(code: &str, message: &str) -> Bytes {
    encode_error(vec![
        (b'S', "FATAL".into()),
        (b'V', "FATAL".into()),
        (b'C', code.into()),
        (b'M', message.into()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> PolicySet {
        PolicySet::parse(
            r#"{"catalog": {"tables": [
                {"name": "public.orders", "columns": [{"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"}]},
                {"name": "public.salaries", "columns": [{"name": "amount", "type": "integer"}]}]},
              "policies": [{"id": "p", "rules": [
                {"type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant_id"},
                {"type": "deny", "table": "salaries"}]}]}"#,
        )
        .unwrap()
    }

    fn ctx() -> Context {
        Context::from_json_str(r#"{"user": "a", "attributes": {"tenant_id": 7}}"#).unwrap()
    }

    #[test]
    fn mixed_texts_are_judged_per_statement() {
        let set = set();
        let Judged::Forward(sql) = judge(
            &set,
            &ctx(),
            "SET application_name = 'x'; SELECT id FROM orders WHERE id = $1",
        ) else {
            panic!("blocked")
        };
        assert!(
            sql.starts_with("SET application_name = 'x'; SELECT"),
            "{sql}"
        );
        assert!(sql.contains("tenant_id = 7") && sql.contains("$1"), "{sql}");
        assert!(matches!(
            judge(&set, &ctx(), "BEGIN; SELECT * FROM salaries"),
            Judged::Block(_)
        ));
        assert!(matches!(
            judge(&set, &ctx(), "SET search_path = x"),
            Judged::Block(_)
        ));
        assert!(matches!(judge(&set, &ctx(), " ; "), Judged::Forward(_)));
    }

    #[test]
    fn a_time_limit_longer_than_the_session_s_is_refused() {
        let set = PolicySet::parse(
            r#"{"policies": [{"id": "cap", "rules": [{"type": "query_limit", "max_execution_ms": 250}]}]}"#,
        )
        .unwrap();
        let ctx = ctx();
        assert_eq!(session_timeout(&set, &ctx), Some(250));
        assert!(matches!(
            judge_within(&set, &ctx, Some(250), None, "SELECT 2"),
            Judged::Forward(_)
        ));
        assert!(matches!(
            judge_within(&set, &ctx, Some(100), None, "SELECT 2"),
            Judged::Forward(_)
        ));
        assert!(matches!(
            judge_within(&set, &ctx, Some(1000), None, "SELECT 2"),
            Judged::Block(_)
        ));
        assert!(matches!(
            judge_within(&set, &ctx, None, None, "SELECT 2"),
            Judged::Block(_)
        ));
    }
}
