//! `GET /api/v1/policies/dashboard`: the organization at a glance.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use crate::auth::Principal;
use crate::db::now_ms;
use crate::error::ApiResult;
use crate::store;
use crate::AppState;

/// Counts of policies.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct PolicyCounts {
    pub total: usize,
    pub enabled: usize,
    pub disabled: usize,
    /// Policies with at least one assignment (the ones that can apply).
    pub assigned: usize,
    pub unassigned: usize,
    /// `enforce` / `monitor` → count.
    pub by_mode: BTreeMap<String, usize>,
    /// Rule type → number of rules of that type.
    pub rules_by_type: BTreeMap<String, usize>,
    /// Rule type → number of policies with a rule of that type.
    pub policies_by_rule_type: BTreeMap<String, usize>,
    /// Policy type (as given, or derived from the rules) → number of policies.
    pub by_policy_type: BTreeMap<String, usize>,
}

/// A rule that blocked evaluations.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct BlockingRule {
    /// The policy whose rule blocked (absent for blocks no policy caused, such as parse errors).
    pub policy: Option<String>,
    pub rule_index: Option<i64>,
    /// The verdict's `rule` (`deny`, `parse_error`, …).
    pub rule: String,
    pub count: i64,
}

/// The dashboard.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Dashboard {
    pub policies: PolicyCounts,
    /// Assignment kind → count (over policies that are not deleted).
    pub assignments_by_kind: BTreeMap<String, usize>,
    /// Exceptions that are not revoked, not expired and have uses left.
    pub active_exceptions: i64,
    /// Evaluations logged in the last 24 hours.
    pub evaluations_24h: i64,
    /// Verdict → evaluations in the last 24 hours.
    pub evaluations_24h_by_verdict: BTreeMap<String, i64>,
    /// The most frequent blocking rules of the last 24 hours, most frequent first.
    pub top_blocking_rules: Vec<BlockingRule>,
}

/// Counts by rule type, mode and enabled; assignments; evaluations of the last 24 h by
/// verdict; the most frequent blocking rules.
#[utoipa::path(get, operation_id = "getDashboard", path = "/api/v1/policies/dashboard", tag = "policies",
    responses((status = 200, body = Dashboard)), security(("bearer" = [])))]
pub async fn dashboard(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<Dashboard>> {
    let org = principal.org_id.as_str();
    let mut conn = state.db.read.acquire().await?;
    let rows = store::live_policies(&mut *conn, org).await?;
    let assignments = store::all_assignments(&mut *conn, org).await?;
    let mut policies = PolicyCounts::default();
    let mut assignments_by_kind = BTreeMap::new();
    for row in &rows {
        policies.total += 1;
        if row
            .body
            .get("enabled")
            .and_then(Value::as_bool)
            .unwrap_or(true)
        {
            policies.enabled += 1;
        } else {
            policies.disabled += 1;
        }
        let mode = row
            .body
            .get("mode")
            .and_then(Value::as_str)
            .unwrap_or("enforce");
        *policies.by_mode.entry(mode.to_string()).or_default() += 1;
        let mut types: Vec<String> = Vec::new();
        for rule in row
            .body
            .get("rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let t = rule
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string();
            *policies.rules_by_type.entry(t.clone()).or_default() += 1;
            if !types.contains(&t) {
                types.push(t);
            }
        }
        for t in types {
            *policies.policies_by_rule_type.entry(t).or_default() += 1;
        }
        *policies
            .by_policy_type
            .entry(crate::policies::effective_type(&row.body).to_string())
            .or_default() += 1;
        match assignments.get(&row.id).filter(|a| !a.is_empty()) {
            Some(list) => {
                policies.assigned += 1;
                for a in list {
                    *assignments_by_kind.entry(a.kind.clone()).or_default() += 1;
                }
            }
            None => policies.unassigned += 1,
        }
    }
    let now = now_ms();
    let since = now - 24 * 3600 * 1000;
    let verdict_rows = sqlx::query(
        "SELECT verdict, COUNT(*) FROM evaluations WHERE org_id = $1 AND created_at >= $2 GROUP BY verdict",
    )
    .bind(org)
    .bind(since)
    .fetch_all(&mut *conn)
    .await?;
    let mut by_verdict = BTreeMap::new();
    let mut total = 0;
    for r in &verdict_rows {
        let n: i64 = r.try_get(1)?;
        total += n;
        by_verdict.insert(r.try_get::<String, _>(0)?, n);
    }
    let block_rows = sqlx::query(
        "SELECT blocked_policy, blocked_rule_index, rule, COUNT(*) AS n FROM evaluations \
         WHERE org_id = $1 AND created_at >= $2 AND verdict = 'block' \
         GROUP BY blocked_policy, blocked_rule_index, rule ORDER BY n DESC, rule LIMIT 10",
    )
    .bind(org)
    .bind(since)
    .fetch_all(&mut *conn)
    .await?;
    let top_blocking_rules = block_rows
        .iter()
        .map(|r| {
            Ok(BlockingRule {
                policy: r.try_get(0)?,
                rule_index: r.try_get(1)?,
                rule: r.try_get(2)?,
                count: r.try_get(3)?,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let live: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
    let exception_rows = sqlx::query(
        "SELECT policy_id FROM exceptions WHERE org_id = $1 AND revoked_at IS NULL \
         AND (expires_at IS NULL OR expires_at > $2) AND (max_uses IS NULL OR uses < max_uses)",
    )
    .bind(org)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let mut active_exceptions = 0;
    for r in &exception_rows {
        let policy: String = r.try_get(0)?;
        if live.contains(&policy.as_str()) {
            active_exceptions += 1;
        }
    }
    Ok(Json(Dashboard {
        policies,
        assignments_by_kind,
        active_exceptions,
        evaluations_24h: total,
        evaluations_24h_by_verdict: by_verdict,
        top_blocking_rules,
    }))
}
