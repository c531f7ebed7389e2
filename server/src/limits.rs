//! Stateful query limits: `queries_per_hour` and `queries_per_day` of a `query_limit`
//! rule, counted per policy and user in fixed windows (the hour, the UTC day) in the
//! store, so that every instance on one database shares them. `/evaluate` admits a
//! statement only when every counter it touches is below its limit, in one transaction
//! (no over-admission under concurrency); a refused statement is blocked with rule
//! `query_limit` and counts nothing. Dry runs never count. `max_execution_ms` is handed
//! to the caller as `statement_timeout_ms`.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use verdict_engine::verdict::{BlockedBy, RuleNo};
use verdict_engine::{Decision, Verdict};

use crate::audit::Tx;
use crate::auth::Principal;
use crate::db::format_time;
use crate::error::ApiResult;
use crate::extract::ApiQuery;
use crate::AppState;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 86_400_000;

/// Counters older than this are deleted when a new window starts.
const KEEP_MS: i64 = 2 * DAY_MS;

/// One limit an evaluation counts against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub policy: String,
    pub rule_index: usize,
    /// `queries_per_hour` or `queries_per_day`.
    pub kind: &'static str,
    pub limit: i64,
    pub window_start: i64,
    pub window_ms: i64,
}

impl Counted {
    /// When the window ends, Unix milliseconds.
    pub fn resets_at(&self) -> i64 {
        self.window_start + self.window_ms
    }

    fn window_name(&self) -> &'static str {
        if self.window_ms == HOUR_MS {
            "hour"
        } else {
            "day"
        }
    }
}

/// The counted limits of a verdict at `now`: the hourly and daily limits of the policies
/// that apply (the engine reports the enforced policies' limits only; a policy that acts
/// only through limits is not in `matched_policies`), the lowest per policy and window,
/// in a fixed order (so that concurrent transactions lock counters in the same order).
pub fn counted(verdict: &Verdict, now: i64) -> Vec<Counted> {
    counted_notes(&verdict.limits, now)
}

/// [`counted`] of a verdict's limit notes (for the proxy, which judges outside the API).
pub fn counted_notes(notes: &[verdict_engine::verdict::LimitNote], now: i64) -> Vec<Counted> {
    let mut out: Vec<Counted> = Vec::new();
    for note in notes {
        let (kind, window_ms) = match note.kind.as_str() {
            "queries_per_hour" => ("queries_per_hour", HOUR_MS),
            "queries_per_day" => ("queries_per_day", DAY_MS),
            _ => continue,
        };
        let limit = i64::try_from(note.value).unwrap_or(i64::MAX);
        let window_start = now - now.rem_euclid(window_ms);
        match out
            .iter_mut()
            .find(|c| c.policy == note.policy && c.kind == kind)
        {
            Some(c) if c.limit <= limit => {}
            Some(c) => {
                c.limit = limit;
                c.rule_index = note.rule_index;
            }
            None => out.push(Counted {
                policy: note.policy.clone(),
                rule_index: note.rule_index,
                kind,
                limit,
                window_start,
                window_ms,
            }),
        }
    }
    out.sort_by(|a, b| (&a.policy, a.kind).cmp(&(&b.policy, b.kind)));
    out
}

/// The lowest `max_execution_ms` of the enforced policies, for the caller's statement
/// timeout.
pub fn statement_timeout_ms(verdict: &Verdict) -> Option<u64> {
    verdict
        .limits
        .iter()
        .filter(|n| n.kind == "max_execution_ms")
        .map(|n| n.value)
        .min()
}

/// Counts one statement for `user` against every limit, or, when one is reached, counts
/// nothing (the caller rolls the transaction back) and returns that limit.
pub async fn admit<'a>(
    tx: &mut Tx,
    org: &str,
    user: &str,
    limits: &'a [Counted],
) -> ApiResult<Option<&'a Counted>> {
    for c in limits {
        // INVARIANT: the conditional upsert is atomic per counter (PostgreSQL locks the
        // row and re-checks the WHERE; SQLite has one writer), so a counter never passes
        // its limit however many instances and requests race.
        let row = sqlx::query(
            "INSERT INTO query_counts (org_id, policy_id, user_name, window_kind, window_start, count, limit_value) \
             VALUES ($1, $2, $3, $4, $5, 1, $6) \
             ON CONFLICT (org_id, policy_id, user_name, window_kind, window_start) \
             DO UPDATE SET count = query_counts.count + 1, limit_value = excluded.limit_value \
             WHERE query_counts.count < excluded.limit_value \
             RETURNING count",
        )
        .bind(org)
        .bind(&c.policy)
        .bind(user)
        .bind(c.kind)
        .bind(c.window_start)
        .bind(c.limit)
        .fetch_optional(&mut **tx)
        .await?;
        match row {
            None => return Ok(Some(c)),
            Some(row) => {
                let count: i64 = row.try_get(0)?;
                if count == 1 {
                    // A new window: forget the old ones.
                    sqlx::query("DELETE FROM query_counts WHERE org_id = $1 AND window_start < $2")
                        .bind(org)
                        .bind(c.window_start - KEEP_MS)
                        .execute(&mut **tx)
                        .await?;
                }
            }
        }
    }
    Ok(None)
}

/// Turns a verdict into the block of a reached limit.
pub fn block(verdict: &mut Verdict, c: &Counted, user: &str) {
    let resets = format_time(c.resets_at());
    verdict.verdict = Decision::Block;
    verdict.rule = verdict_engine::VerdictRule::QueryLimit;
    verdict.reason = format!(
        "policy `{}` allows {} queries per {} for user `{user}`; the limit is reached until {resets}",
        c.policy,
        c.limit,
        c.window_name()
    );
    verdict.hint = format!("the {} window resets at {resets}", c.window_name());
    verdict.rewritten_sql = None;
    verdict.row_filter_predicate = None;
    verdict.blocked_by = Some(BlockedBy {
        policy: c.policy.clone(),
        rule_index: c.rule_index,
    });
    verdict.explanation.push(format!(
        "blocked: {} of policy `{}` (rule {}) allows {} per {}, reached for `{user}` until {resets}",
        c.kind,
        c.policy,
        RuleNo(c.rule_index),
        c.limit,
        c.window_name()
    ));
}

/// Query of `GET /api/v1/query-counts`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct CountQuery {
    /// Only this user's counters.
    pub user: Option<String>,
    /// Only this policy's counters.
    pub policy_id: Option<String>,
}

/// A counter of the current window.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueryCount {
    pub policy_id: String,
    /// The context's user (or the token's user when the context named none).
    pub user: String,
    /// `queries_per_hour` or `queries_per_day`.
    pub kind: String,
    pub limit: i64,
    /// Statements admitted in this window.
    pub count: i64,
    pub window_start: String,
    pub resets_at: String,
}

/// The counters.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct QueryCounts {
    pub items: Vec<QueryCount>,
}

/// The stateful limits' counters of the current windows.
#[utoipa::path(get, operation_id = "listQueryCounts", path = "/api/v1/query-counts", tag = "evaluate",
    params(CountQuery),
    responses((status = 200, body = QueryCounts)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<CountQuery>,
) -> ApiResult<Json<QueryCounts>> {
    let now = crate::db::now_ms();
    let rows = sqlx::query(
        "SELECT policy_id, user_name, window_kind, window_start, count, limit_value FROM query_counts \
         WHERE org_id = $1 AND ((window_kind = 'queries_per_hour' AND window_start = $2) \
         OR (window_kind = 'queries_per_day' AND window_start = $3)) \
         AND ($4 = '' OR user_name = $4) AND ($5 = '' OR policy_id = $5) \
         ORDER BY policy_id, user_name, window_kind",
    )
    .bind(&principal.org_id)
    .bind(now - now.rem_euclid(HOUR_MS))
    .bind(now - now.rem_euclid(DAY_MS))
    .bind(q.user.as_deref().unwrap_or(""))
    .bind(q.policy_id.as_deref().unwrap_or(""))
    .fetch_all(&state.db.read)
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let kind: String = row.try_get(2)?;
        let start: i64 = row.try_get(3)?;
        let size = if kind == "queries_per_hour" {
            HOUR_MS
        } else {
            DAY_MS
        };
        items.push(QueryCount {
            policy_id: row.try_get(0)?,
            user: row.try_get(1)?,
            kind,
            limit: row.try_get(5)?,
            count: row.try_get(4)?,
            window_start: format_time(start),
            resets_at: format_time(start + size),
        });
    }
    Ok(Json(QueryCounts { items }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use verdict_engine::verdict::LimitNote;

    fn verdict(notes: &[(&str, &str, u64)]) -> Verdict {
        let set =
            verdict_engine::PolicySet::from_json(&serde_json::json!({"policies": []})).unwrap();
        let mut v = verdict_engine::evaluate(&set, "SELECT 1", &verdict_engine::Context::default());
        v.limits = notes
            .iter()
            .map(|(p, k, n)| LimitNote {
                policy: p.to_string(),
                rule_index: 0,
                kind: k.to_string(),
                value: *n,
            })
            .collect();
        v
    }

    #[test]
    fn counted_limits_are_the_lowest_in_order() {
        let v = verdict(&[
            ("b", "queries_per_day", 100),
            ("a", "queries_per_hour", 10),
            ("a", "queries_per_hour", 5),
            ("a", "max_execution_ms", 3000),
            ("b", "max_execution_ms", 2000),
        ]);
        let now = 5 * DAY_MS + 3 * HOUR_MS + 17;
        let c = counted(&v, now);
        let got: Vec<(&str, &str, i64, i64)> = c
            .iter()
            .map(|c| (c.policy.as_str(), c.kind, c.limit, c.window_start))
            .collect();
        assert_eq!(
            got,
            vec![
                ("a", "queries_per_hour", 5, 5 * DAY_MS + 3 * HOUR_MS),
                ("b", "queries_per_day", 100, 5 * DAY_MS),
            ]
        );
        assert_eq!(statement_timeout_ms(&v), Some(2000));
        assert_eq!(c[0].resets_at(), 5 * DAY_MS + 4 * HOUR_MS);
    }
}
