//! Asking the engine: dry runs (`/api/v1/policy-evaluations`), audited evaluations
//! (`/api/v1/evaluate`), replays of drafts over logged evaluations, and the audit trail of
//! evaluations.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};
use sqlx::any::AnyRow;
use sqlx::Row;
use verdict_engine::{evaluate, Context, PolicySet, Verdict};

use crate::active::{self, ExceptionEntry};
use crate::auth::Principal;
use crate::db::{format_time, new_id, now_ms, parse_time};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::extract::{ApiPath, ApiQuery};
use crate::limits;
use crate::log;
use crate::policies;
use crate::store::{self, Assignment, AssignmentSpec};
use crate::AppState;

/// The longest SQL text the server judges.
pub const MAX_SQL_BYTES: usize = 256 * 1024;

/// Body of `POST /api/v1/evaluate`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"sql": "SELECT id, amount FROM orders WHERE status = 'open'", "context": {"user": "alice", "roles": ["analyst"], "attributes": {"tenant_id": 42}}}))]
#[serde(deny_unknown_fields)]
pub struct EvaluateRequest {
    /// The SQL text the application is about to run.
    pub sql: String,
    /// The caller's context (SPEC §2); empty when absent.
    #[serde(default)]
    #[schema(value_type = Option<verdict_api_model::Context>)]
    pub context: Option<Value>,
    /// The dataset the query reads, for policies assigned to datasets; it becomes the
    /// context's `dataset`.
    #[serde(default)]
    pub dataset: Option<String>,
    /// The saved query's id, for policies assigned to queries; it becomes the context's
    /// `query_id`.
    #[serde(default)]
    pub query_id: Option<String>,
}

/// Body of `POST /api/v1/policy-evaluations` (a dry run): give at most one of
/// `policy_id`, `policy` and `policy_set`; with none, the active set is used.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"sql": "SELECT * FROM orders", "context": {"user": "alice", "roles": ["analyst"], "attributes": {"tenant_id": 42}},
    "policy": {"id": "draft-orders", "name": "Draft: open orders only", "rules": [{"type": "row_filter", "table": "orders", "predicate": "status = 'open'"}], "assignments": [{"kind": "role", "value": "analyst"}]}}))]
#[serde(deny_unknown_fields)]
pub struct DryRunRequest {
    pub sql: String,
    #[serde(default)]
    #[schema(value_type = Option<verdict_api_model::Context>)]
    pub context: Option<Value>,
    /// A saved policy, evaluated alone with its assignments as `applies_to`.
    #[serde(default)]
    pub policy_id: Option<String>,
    /// A draft policy (`assignments` become `applies_to`).
    #[serde(default)]
    #[schema(value_type = Option<verdict_api_model::Policy>)]
    pub policy: Option<Value>,
    /// A whole draft policy set; without `catalog`, the organization's catalog is used.
    #[serde(default)]
    #[schema(value_type = Option<verdict_api_model::PolicySetDraft>)]
    pub policy_set: Option<Value>,
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default)]
    pub query_id: Option<String>,
}

pub(crate) fn check_sql(sql: &str) -> ApiResult<()> {
    if sql.contains('\0') {
        return Err(ApiError::invalid("the SQL text contains a NUL character"));
    }
    if sql.len() > MAX_SQL_BYTES {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "sql_too_large",
            format!("the SQL text is larger than {MAX_SQL_BYTES} bytes"),
        ));
    }
    Ok(())
}

pub(crate) fn context(value: Option<&Value>) -> ApiResult<Context> {
    match value {
        None | Some(Value::Null) => Ok(Context::default()),
        Some(v) => Context::from_json(v).map_err(ApiError::from_engine),
    }
}

/// Puts a request's top-level `dataset` and `query_id` into the context, where the engine
/// matches them against `applies_to.datasets` and `queries` (what `dataset` and `query`
/// assignments become). The context may also carry them itself, but not differently.
pub(crate) fn scope(
    ctx: &mut Context,
    dataset: Option<&String>,
    query_id: Option<&String>,
) -> ApiResult<()> {
    for (name, given, slot) in [
        ("dataset", dataset, &mut ctx.dataset),
        ("query_id", query_id, &mut ctx.query_id),
    ] {
        let Some(value) = given else { continue };
        match slot {
            Some(inner) if inner != value => {
                return Err(ApiError::invalid(format!(
                    "`{name}` and `context.{name}` differ; give it once"
                )))
            }
            _ => *slot = Some(value.clone()),
        }
    }
    Ok(())
}

/// The verdict's canonical JSON with extra members appended.
fn verdict_response(verdict: &Verdict, extra: &[(&str, Value)]) -> Response {
    json_response(verdict.to_json(), extra)
}

/// A verdict's JSON text (already serialized) with extra members appended.
pub(crate) fn json_response(mut text: String, extra: &[(&str, Value)]) -> Response {
    if text.ends_with('}') {
        text.pop();
        for (key, value) in extra {
            text.push(',');
            text.push_str(&Value::from(*key).to_string());
            text.push(':');
            text.push_str(&value.to_string());
        }
        text.push('}');
    }
    let mut response = (StatusCode::OK, text).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// The exceptions an evaluation used (or would use), as the answers list them.
pub(crate) fn applied_json(applied: &[ExceptionEntry]) -> Value {
    json!(applied
        .iter()
        .map(|e| json!({ "id": e.id, "policy_id": e.policy_id }))
        .collect::<Vec<_>>())
}

/// A draft policy set checked against the API's types and bounds, as the engine takes it.
fn draft_set(value: Value) -> ApiResult<Map<String, Value>> {
    let Value::Object(mut obj) = value else {
        return Err(ApiError::invalid(
            "`policy_set` must be an object with `policies` (and `catalog`)",
        ));
    };
    let _: verdict_api_model::PolicySetDraft =
        policies::typed(Value::Object(obj.clone()), "invalid_policy")?;
    if let Some(Value::Array(list)) = obj.get_mut("policies") {
        for item in list.iter_mut() {
            *item = Value::Object(policies::normalize(item.take())?);
            store::for_engine(item)?;
        }
    }
    Ok(obj)
}

/// A draft policy as the engine takes it: `assignments` become `applies_to`.
fn draft_policy(value: Value) -> ApiResult<Value> {
    if !value.is_object() {
        return Err(ApiError::invalid("`policy` must be a policy object"));
    }
    let mut body = policies::normalize(value)?;
    match body.remove("assignments") {
        None | Some(Value::Null) => Ok(Value::Object(body)),
        Some(v) => {
            let specs: Vec<AssignmentSpec> = serde_json::from_value(v).map_err(|e| {
                ApiError::invalid(format!(
                    "`assignments` must be a list of {{kind, value}}: {e}"
                ))
            })?;
            let specs = store::normalize_specs(specs)?;
            if body.contains_key("applies_to") {
                return Err(ApiError::invalid(
                    "give `assignments` or `applies_to`, not both",
                ));
            }
            Ok(store::engine_policy(&body, &specs))
        }
    }
}

/// The set a dry run (or a data preview) evaluates against: a saved policy alone, a draft
/// policy, a draft set, or (with none given) the active set with the exceptions that would
/// apply to `ctx` (none used up); with the ids' extra answer members.
pub(crate) type ChosenSet = (
    Arc<PolicySet>,
    Vec<ExceptionEntry>,
    Vec<(&'static str, Value)>,
);

/// Picks the set of a dry run; see [`ChosenSet`].
pub(crate) async fn chosen_set(
    state: &AppState,
    principal: &Principal,
    ctx: &Context,
    policy_id: Option<&str>,
    policy: Option<Value>,
    policy_set: Option<Value>,
) -> ApiResult<ChosenSet> {
    let given = [policy_id.is_some(), policy.is_some(), policy_set.is_some()]
        .iter()
        .filter(|b| **b)
        .count();
    if given > 1 {
        return Err(ApiError::invalid(
            "give at most one of `policy_id`, `policy` and `policy_set`",
        ));
    }
    let org = principal.org_id.as_str();
    let chosen: ChosenSet = if let Some(id) = policy_id {
        let mut conn = state.db.read.acquire().await?;
        let row = store::live_policy(&mut *conn, org, id).await?;
        let specs: Vec<AssignmentSpec> = store::assignments(&mut *conn, org, id)
            .await?
            .iter()
            .map(Assignment::spec)
            .collect();
        let catalog = store::catalog(&mut *conn, org).await?;
        drop(conn);
        let set = store::validate(&catalog, vec![store::engine_policy(&row.body, &specs)])
            .map_err(|e| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "policy_invalid",
                    format!("the saved policy no longer validates: {}", e.message),
                )
                .with_details(e.details.map_or(Value::Null, |d| *d))
            })?;
        (
            Arc::new(set),
            Vec::new(),
            vec![("assigned", json!(!specs.is_empty()))],
        )
    } else if let Some(draft) = policy {
        let policy = draft_policy(draft)?;
        let catalog = store::catalog(&state.db.read, org).await?;
        (
            Arc::new(store::validate(&catalog, vec![policy])?),
            Vec::new(),
            Vec::new(),
        )
    } else if let Some(set_value) = policy_set {
        let mut obj = draft_set(set_value)?;
        if !obj.contains_key("catalog") {
            let catalog = store::catalog(&state.db.read, org).await?;
            if !catalog.is_null() {
                obj.insert("catalog".into(), catalog);
            }
        }
        let set = PolicySet::from_json(&Value::Object(obj)).map_err(ApiError::from_engine)?;
        (Arc::new(set), Vec::new(), Vec::new())
    } else {
        let active = state
            .cache
            .get(&state.db, org, principal.generation)
            .await?;
        let candidates = active::candidates(&active.set, &active.exceptions, ctx);
        let applied = if candidates.is_empty() {
            Vec::new()
        } else {
            active::usable(&state.db, org, candidates).await?
        };
        let set = active::with_exceptions(&active.set, &applied);
        (set, applied, Vec::new())
    };
    Ok(chosen)
}

/// Evaluates SQL and a context against a saved policy, a draft, or the active set; pure
/// compute, nothing is stored or used up.
#[utoipa::path(post, operation_id = "dryRun", path = "/api/v1/policy-evaluations", tag = "evaluate",
    request_body = DryRunRequest,
    responses((status = 200, description = "the engine's verdict (SPEC §3) plus `policies` (the ids evaluated) and `exceptions_applied`", body = verdict_api_model::VerdictBody),
        (status = 404, body = crate::openapi::ErrorBody), (status = 422, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn dry_run(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<DryRunRequest>,
) -> ApiResult<Response> {
    check_sql(&req.sql)?;
    let mut ctx = context(req.context.as_ref())?;
    scope(&mut ctx, req.dataset.as_ref(), req.query_id.as_ref())?;
    let (set, applied, extra) = chosen_set(
        &state,
        &principal,
        &ctx,
        req.policy_id.as_deref(),
        req.policy,
        req.policy_set,
    )
    .await?;
    let verdict = evaluate(&set, &req.sql, &ctx);
    let ids: Vec<&str> = set.policies.iter().map(|p| p.id.as_str()).collect();
    let mut members = vec![
        ("policies", json!(ids)),
        ("exceptions_applied", applied_json(&applied)),
    ];
    members.extend(extra);
    Ok(verdict_response(&verdict, &members))
}

/// The digest of a context as logged: SHA-256 of its normalized JSON.
fn digest(normalized: &str) -> String {
    hex::encode(Sha256::digest(normalized.as_bytes()))
}

/// What applications call before running SQL: evaluates against the active, assigned
/// set for the caller's context, uses up matching exceptions, and logs the evaluation.
#[utoipa::path(post, operation_id = "evaluate", path = "/api/v1/evaluate", tag = "evaluate",
    request_body = EvaluateRequest,
    responses((status = 200, description = "the engine's verdict (SPEC §3) plus `evaluation_id` and `exceptions_applied`; run `rewritten_sql` unless the verdict is `block`", body = verdict_api_model::VerdictBody),
        (status = 409, description = "the active set does not validate", body = crate::openapi::ErrorBody),
        (status = 422, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn evaluate_and_log(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<EvaluateRequest>,
) -> ApiResult<Response> {
    check_sql(&req.sql)?;
    let mut ctx = context(req.context.as_ref())?;
    if ctx.user.as_deref().is_some_and(|u| u.contains('\0')) {
        return Err(ApiError::invalid("`context.user` contains a NUL character"));
    }
    // The log keeps the context as given; `dataset` and `query_id` have their own columns.
    let normalized = serde_json::to_string(&ctx).map_err(ApiError::internal)?;
    scope(&mut ctx, req.dataset.as_ref(), req.query_id.as_ref())?;
    for (name, value) in [("dataset", &ctx.dataset), ("query_id", &ctx.query_id)] {
        if value
            .as_ref()
            .is_some_and(|v| v.len() > 256 || v.contains('\0'))
        {
            return Err(ApiError::invalid(format!(
                "`{name}` must have at most 256 bytes and no NUL"
            )));
        }
    }
    let org = principal.org_id.as_str();
    // Evaluations enforce: read the current generation rather than the token's cached one
    // (a read that started after this request arrived, shared with concurrent ones).
    let generation = state.generations.read(&state.db, org).await?;
    let active = state.cache.get(&state.db, org, generation).await?;
    // Stateful limits count per policy and user: the context's user, else the caller.
    let limit_user = ctx.user.clone().unwrap_or_else(|| principal.user.clone());
    let enforced = enforce(
        &state.db,
        org,
        &active,
        &ctx,
        &req.sql,
        &limit_user,
        |_| false,
        |verdict, applied_value| log::Record {
            id: new_id("ev"),
            org_id: org.to_string(),
            created_at: now_ms(),
            alerts: Vec::new(),
            caller: principal.user.clone(),
            ctx_user: ctx.user.clone(),
            sql: req.sql.clone(),
            rewritten_sql: verdict.rewritten_sql.clone(),
            verdict: verdict.verdict.as_str().to_string(),
            rule: verdict.rule.to_string(),
            blocked_policy: verdict.blocked_by.as_ref().map(|b| b.policy.clone()),
            blocked_rule_index: verdict
                .blocked_by
                .as_ref()
                .map(|b| i64::try_from(b.rule_index).unwrap_or(i64::MAX)),
            policies: json!(verdict
                .matched_policies
                .iter()
                .map(|m| m.id.as_str())
                .collect::<Vec<_>>())
            .to_string(),
            matched: verdict
                .matched_policies
                .iter()
                .map(|m| (m.id.clone(), m.mode.clone()))
                .collect(),
            exceptions: applied_value.to_string(),
            context: normalized.clone(),
            context_digest: digest(&normalized),
            dataset: ctx.dataset.clone(),
            query_id: ctx.query_id.clone(),
            result: verdict.to_json(),
        },
    )
    .await?;
    let Enforced {
        verdict,
        applied,
        record,
        logged,
    } = enforced;
    // The verdict is serialized once, for the log and for the answer.
    let (id, text) = (record.id.clone(), record.result.clone());
    let queued = !record.alerts.is_empty();
    if !logged {
        // The common case: log through the shared (group-committed) writer.
        state.log.write(&state.db, record).await?;
    }
    if queued {
        state.alerts.wake();
    }
    let mut extra = vec![
        ("evaluation_id", json!(id)),
        ("exceptions_applied", applied_json(&applied)),
    ];
    if let Some(ms) = timeout_of(&verdict) {
        extra.push(("statement_timeout_ms", json!(ms)));
    }
    Ok(json_response(text, &extra))
}

/// One statement enforced against an organization's active set.
#[derive(Debug)]
pub struct Enforced {
    pub verdict: Verdict,
    /// The exceptions used up for it.
    pub applied: Vec<ExceptionEntry>,
    /// Its evaluation, with the alerts its violations raise.
    pub record: log::Record,
    /// Whether `record` is already written (with the uses, in their transaction); if not,
    /// the caller logs it.
    pub logged: bool,
}

/// How a statement is enforced, by `/api/v1/evaluate` and by the proxy alike: the
/// exceptions that exempt `ctx` from a policy are used up (one use each, atomically),
/// the verdict is computed with them, `gate` may turn it into a block (the proxy's session
/// time limit; it answers whether it did), the stateful limits are counted for
/// `limit_user`, and the evaluation is built by `record` (from the verdict and the applied
/// exceptions as JSON) with the alerts of its violations. A statement that a limit or the
/// gate blocks uses up and counts nothing. When exceptions were used, the evaluation is
/// written in their transaction.
#[allow(clippy::too_many_arguments)]
pub async fn enforce(
    db: &crate::Db,
    org: &str,
    active: &active::ActiveSet,
    ctx: &Context,
    sql: &str,
    limit_user: &str,
    gate: impl Fn(&mut Verdict) -> bool,
    record: impl Fn(&Verdict, &Value) -> log::Record,
) -> ApiResult<Enforced> {
    let with_alerts = |verdict: &Verdict, applied: &[ExceptionEntry]| {
        let mut rec = record(verdict, &applied_json(applied));
        rec.alerts = crate::alerts::violations(
            verdict,
            &active.meta,
            &json!({
                "evaluation_id": rec.id,
                "org_id": rec.org_id,
                "created_at": format_time(rec.created_at),
                "caller": rec.caller,
                "user": rec.ctx_user,
                "sql": rec.sql,
                "dataset": rec.dataset,
                "query_id": rec.query_id,
            }),
        );
        rec
    };
    let candidates = active::candidates(&active.set, &active.exceptions, ctx);
    if candidates.is_empty() {
        let mut verdict = evaluate(&active.set, sql, ctx);
        let counted = if gate(&mut verdict) {
            Vec::new()
        } else {
            counted_limits(&mut verdict)
        };
        if !counted.is_empty() {
            let mut tx = db.write.begin().await?;
            match limits::admit(&mut tx, org, limit_user, &counted).await? {
                None => tx.commit().await?,
                Some(reached) => {
                    drop(tx);
                    limits::block(&mut verdict, reached, limit_user);
                }
            }
        }
        let record = with_alerts(&verdict, &[]);
        return Ok(Enforced {
            verdict,
            applied: Vec::new(),
            record,
            logged: false,
        });
    }
    // Exceptions are used up, limits counted and the evaluation logged in one
    // transaction; a statement a limit (or the gate) blocks uses up nothing.
    let mut tx = db.write.begin().await?;
    let applied = active::consume(&mut tx, org, &candidates).await?;
    let set = active::with_exceptions(&active.set, &applied);
    let mut verdict = evaluate(&set, sql, ctx);
    let gated = gate(&mut verdict);
    let reached = if gated {
        None
    } else {
        let counted = counted_limits(&mut verdict);
        limits::admit(&mut tx, org, limit_user, &counted)
            .await?
            .cloned()
    };
    if gated || reached.is_some() {
        drop(tx);
        if let Some(reached) = &reached {
            limits::block(&mut verdict, reached, limit_user);
        }
        let record = with_alerts(&verdict, &[]);
        return Ok(Enforced {
            verdict,
            applied: Vec::new(),
            record,
            logged: false,
        });
    }
    let record = with_alerts(&verdict, &applied);
    log::insert(&mut tx, &record).await?;
    tx.commit().await?;
    Ok(Enforced {
        verdict,
        applied,
        record,
        logged: true,
    })
}

/// The limits a verdict counts against: none when it blocks anyway (the engine lists
/// their policies in `matched_policies`).
fn counted_limits(verdict: &mut Verdict) -> Vec<limits::Counted> {
    if verdict.verdict == verdict_engine::Decision::Block {
        Vec::new()
    } else {
        limits::counted(verdict, now_ms())
    }
}

/// The statement timeout to hand to the caller of a statement that runs.
fn timeout_of(verdict: &Verdict) -> Option<u64> {
    (verdict.verdict != verdict_engine::Decision::Block)
        .then(|| limits::statement_timeout_ms(verdict))
        .flatten()
}

/// A logged evaluation.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoggedEvaluation {
    pub id: String,
    pub created_at: String,
    /// The token's user who asked.
    pub caller: String,
    /// `context.user` of the evaluation.
    pub user: Option<String>,
    pub sql: String,
    pub rewritten_sql: Option<String>,
    pub verdict: String,
    pub rule: String,
    pub blocked_policy: Option<String>,
    pub blocked_rule_index: Option<i64>,
    pub policies: Vec<String>,
    #[schema(value_type = Vec<verdict_api_model::resource::AppliedException>)]
    pub exceptions_applied: Value,
    pub context_digest: String,
    pub dataset: Option<String>,
    pub query_id: Option<String>,
    /// This policy's mode in the evaluation (per-policy trail only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
}

/// One logged evaluation in full: the log's fields, the context as given and the verdict
/// as answered.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EvaluationRecord {
    #[serde(flatten)]
    pub evaluation: LoggedEvaluation,
    /// The context (SPEC §2) as the engine read it; the attributes the organization's
    /// settings name are `[redacted]`.
    #[schema(value_type = verdict_api_model::Context)]
    pub context: Value,
    /// The verdict (SPEC §3) as answered.
    #[schema(value_type = verdict_api_model::VerdictBody)]
    pub result: Value,
}

/// Reads one logged evaluation with its context and verdict.
#[utoipa::path(get, operation_id = "getEvaluation", path = "/api/v1/evaluations/{id}", tag = "evaluate",
    params(("id" = String, Path, description = "evaluation id (`evaluation_id` of /evaluate)")),
    responses((status = 200, body = EvaluationRecord)),
    security(("bearer" = [])))]
pub async fn evaluation(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<EvaluationRecord>> {
    let row = sqlx::query(&format!(
        "SELECT {EVALUATION_COLUMNS}, e.context, e.result FROM evaluations e \
         WHERE e.org_id = $1 AND e.id = $2"
    ))
    .bind(&principal.org_id)
    .bind(&id)
    .fetch_optional(&state.db.read)
    .await?
    .ok_or_else(|| ApiError::not_found("evaluation", &id))?;
    let (_, evaluation) = evaluation_row(&row, false)?;
    let context: String = row.try_get(16)?;
    let result: String = row.try_get(17)?;
    let mut context: Value = serde_json::from_str(&context).map_err(ApiError::internal)?;
    let settings = crate::settings::load(&state.db.read, &principal.org_id).await?;
    crate::settings::redact(&mut context, &settings);
    Ok(Json(EvaluationRecord {
        evaluation,
        context,
        result: serde_json::from_str(&result).map_err(ApiError::internal)?,
    }))
}

/// Query of the violation lists.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ViolationQuery {
    /// RFC 3339: violations at or after this time.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339: violations before this time.
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<i64>)]
    pub cursor: Option<String>,
}

/// An evaluation a policy blocked, with the policy's `action` and `risk`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Violation {
    #[serde(flatten)]
    pub evaluation: LoggedEvaluation,
    /// The blocking policy.
    pub policy: String,
    #[schema(value_type = Option<verdict_api_model::PolicyAction>)]
    pub action: Option<String>,
    #[schema(value_type = Option<verdict_api_model::Risk>)]
    pub risk: Option<String>,
}

/// A page of violations, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ViolationPage {
    pub items: Vec<Violation>,
    pub next_cursor: Option<String>,
}

async fn violations_of(
    state: &AppState,
    org: &str,
    policy: &str,
    q: &ViolationQuery,
) -> ApiResult<ViolationPage> {
    let f = filters(&EvaluationQuery {
        verdict: None,
        from: q.from.clone(),
        to: q.to.clone(),
        limit: q.limit,
        cursor: q.cursor.clone(),
        user: None,
        policy: None,
        table: None,
    })?;
    let rows = sqlx::query(&format!(
        "SELECT {EVALUATION_COLUMNS} FROM evaluations e WHERE e.org_id = $1 AND e.seq < $2 \
         AND e.verdict = 'block' AND e.blocked_policy IS NOT NULL AND ($3 = '' OR e.blocked_policy = $3) \
         AND e.created_at >= $4 AND e.created_at < $5 ORDER BY e.seq DESC LIMIT $6"
    ))
    .bind(org)
    .bind(f.before)
    .bind(policy)
    .bind(f.from)
    .bind(f.to)
    .bind(f.limit + 1)
    .fetch_all(&state.db.read)
    .await?;
    let mut rows = rows
        .iter()
        .map(|r| evaluation_row(r, false))
        .collect::<ApiResult<Vec<_>>>()?;
    let next_cursor = crate::pagination::trim(&mut rows, f.limit)
        .map(|(seq, _)| crate::pagination::encode_seq_cursor(*seq));
    let bodies: BTreeMap<String, serde_json::Map<String, Value>> =
        store::live_policies(&state.db.read, org)
            .await?
            .into_iter()
            .map(|p| (p.id, p.body))
            .collect();
    let items = rows
        .into_iter()
        .map(|(_, evaluation)| {
            let policy = evaluation.blocked_policy.clone().unwrap_or_default();
            let field = |k: &str| {
                bodies
                    .get(&policy)
                    .and_then(|b| b.get(k))
                    .and_then(Value::as_str)
                    .map(str::to_string)
            };
            Violation {
                action: field("action"),
                risk: field("risk"),
                policy,
                evaluation,
            }
        })
        .collect();
    Ok(ViolationPage { items, next_cursor })
}

/// Evaluations a policy blocked, newest first, with the policy's `action` and `risk`.
#[utoipa::path(get, operation_id = "listViolations", path = "/api/v1/violations", tag = "evaluate",
    params(ViolationQuery),
    responses((status = 200, body = ViolationPage)),
    security(("bearer" = [])))]
pub async fn violations(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ViolationQuery>,
) -> ApiResult<Json<ViolationPage>> {
    Ok(Json(
        violations_of(&state, &principal.org_id, "", &q).await?,
    ))
}

/// The evaluations one policy blocked.
#[utoipa::path(get, operation_id = "listPolicyViolations", path = "/api/v1/policies/{id}/violations", tag = "evaluate",
    params(("id" = String, Path, description = "policy id"), ViolationQuery),
    responses((status = 200, body = ViolationPage)),
    security(("bearer" = [])))]
pub async fn policy_violations(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<ViolationQuery>,
) -> ApiResult<Json<ViolationPage>> {
    store::live_policy(&state.db.read, &principal.org_id, &id).await?;
    Ok(Json(
        violations_of(&state, &principal.org_id, &id, &q).await?,
    ))
}

/// A page of logged evaluations, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EvaluationPage {
    pub items: Vec<LoggedEvaluation>,
    pub next_cursor: Option<String>,
}

/// Filters of the evaluation trails.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct EvaluationQuery {
    /// `allow`, `mask`, `row_filter` or `block`.
    #[param(value_type = Option<verdict_api_model::resource::Decision>)]
    pub verdict: Option<String>,
    /// RFC 3339: evaluations at or after this time.
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// RFC 3339: evaluations before this time.
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<i64>)]
    pub cursor: Option<String>,
    /// Only evaluations whose context's `user` is this.
    #[param(min_length = 1, max_length = 256)]
    pub user: Option<String>,
    /// Only evaluations this policy took part in (applied or monitored).
    #[param(min_length = 1, max_length = 128)]
    pub policy: Option<String>,
    /// Only evaluations whose SQL names this table (`orders` or `public.orders`; matched
    /// case-insensitively on its name as a whole identifier). A page may then hold fewer
    /// than `limit` items (after reading many candidates) while `next_cursor` says there
    /// may be more.
    #[param(min_length = 1, max_length = 256)]
    pub table: Option<String>,
}

const EVALUATION_COLUMNS: &str = "e.seq, e.id, e.created_at, e.caller, e.ctx_user, e.sql_text, e.rewritten_sql, \
     e.verdict, e.rule, e.blocked_policy, e.blocked_rule_index, e.policies, e.exceptions, e.context_digest, \
     e.dataset, e.query_id";

fn evaluation_row(row: &AnyRow, with_mode: bool) -> ApiResult<(i64, LoggedEvaluation)> {
    let policies: String = row.try_get(11)?;
    let exceptions: String = row.try_get(12)?;
    Ok((
        row.try_get(0)?,
        LoggedEvaluation {
            id: row.try_get(1)?,
            created_at: format_time(row.try_get(2)?),
            caller: row.try_get(3)?,
            user: row.try_get(4)?,
            sql: row.try_get(5)?,
            rewritten_sql: row.try_get(6)?,
            verdict: row.try_get(7)?,
            rule: row.try_get(8)?,
            blocked_policy: row.try_get(9)?,
            blocked_rule_index: row.try_get(10)?,
            policies: serde_json::from_str(&policies).unwrap_or_default(),
            exceptions_applied: serde_json::from_str(&exceptions).unwrap_or(Value::Null),
            context_digest: row.try_get(13)?,
            dataset: row.try_get(14)?,
            query_id: row.try_get(15)?,
            mode: if with_mode { row.try_get(16)? } else { None },
        },
    ))
}

struct Filters {
    verdict: String,
    from: i64,
    to: i64,
    before: i64,
    limit: i64,
    user: String,
    policy: String,
    /// The table's name, lowercased (empty: no table filter).
    table: String,
    /// A `LIKE` pattern that finds the candidates of the table filter.
    table_like: String,
}

/// The `WHERE` conditions of the user, policy and table filters, on parameters `$n`,
/// `$n+1` and `$n+2` (bound by [`bind_filters`]).
fn filter_sql(n: usize) -> String {
    let (u, p, t) = (n, n + 1, n + 2);
    format!(
        " AND (${u} = '' OR e.ctx_user = ${u}) \
         AND (${p} = '' OR EXISTS (SELECT 1 FROM evaluation_policies fp WHERE fp.org_id = e.org_id \
              AND fp.policy_id = ${p} AND fp.evaluation_seq = e.seq)) \
         AND (${t} = '' OR LOWER(e.sql_text) LIKE ${t} ESCAPE '!')"
    )
}

fn bind_filters<'q>(
    query: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>,
    f: &Filters,
) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>> {
    query
        .bind(f.user.clone())
        .bind(f.policy.clone())
        .bind(f.table_like.clone())
}

/// Whether `sql` names `table` (lowercased) as a whole identifier.
fn names_table(sql: &str, table: &str) -> bool {
    if table.is_empty() {
        return true;
    }
    let text = sql.to_lowercase();
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let mut start = 0;
    while let Some(found) = text.get(start..).and_then(|rest| rest.find(table)) {
        let at = start + found;
        let end = at + table.len();
        let before = text.get(..at).and_then(|b| b.chars().next_back());
        let after = text.get(end..).and_then(|a| a.chars().next());
        if !before.is_some_and(ident) && !after.is_some_and(ident) {
            return true;
        }
        start = end;
    }
    false
}

fn filters(q: &EvaluationQuery) -> ApiResult<Filters> {
    if let Some(v) = &q.verdict {
        if !matches!(v.as_str(), "allow" | "mask" | "row_filter" | "block") {
            return Err(ApiError::bad_request(
                "`verdict` must be allow, mask, row_filter or block",
            ));
        }
    }
    let time = |name: &str, v: &Option<String>, default: i64| -> ApiResult<i64> {
        match v {
            None => Ok(default),
            Some(text) => parse_time(text).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "`{name}` must be an RFC 3339 time such as 2026-01-31T12:00:00Z"
                ))
            }),
        }
    };
    // A qualified name filters on its last part; quotes are the SQL's business.
    let table = text_filter("table", &q.table, 256)?
        .rsplit('.')
        .next()
        .unwrap_or("")
        .trim_matches('"')
        .to_lowercase();
    Ok(Filters {
        verdict: q.verdict.clone().unwrap_or_default(),
        from: time("from", &q.from, i64::MIN)?,
        to: time("to", &q.to, i64::MAX)?,
        before: match &q.cursor {
            Some(c) => crate::pagination::decode_seq_cursor(c)?,
            None => i64::MAX,
        },
        limit: crate::pagination::limit(q.limit, 50)?,
        user: text_filter("user", &q.user, 256)?,
        policy: text_filter("policy", &q.policy, 128)?,
        table: table.clone(),
        table_like: if table.is_empty() {
            String::new()
        } else {
            format!(
                "%{}%",
                table
                    .replace('!', "!!")
                    .replace('%', "!%")
                    .replace('_', "!_")
            )
        },
    })
}

fn text_filter(name: &str, value: &Option<String>, max: usize) -> ApiResult<String> {
    match value {
        None => Ok(String::new()),
        Some(v) if v.is_empty() || v.chars().count() > max || v.contains('\0') => Err(
            ApiError::bad_request(format!("`{name}` must have 1 to {max} characters")),
        ),
        Some(v) => Ok(v.clone()),
    }
}

/// How many batches of candidates one page of a table-filtered list reads at most; a page
/// that stops there answers fewer items and a cursor that goes on.
const MAX_SCANS: usize = 20;

/// A page of evaluations: candidates (at most `limit + 1` per batch, newest first) from
/// `text` — the organization's log, or with `policy` one policy's trail — keeping those
/// whose SQL names the filter's table, batch after batch until the page is full or none
/// are left.
async fn page(
    state: &AppState,
    f: &Filters,
    text: &str,
    org: &str,
    policy: Option<&str>,
) -> ApiResult<EvaluationPage> {
    let limit = usize::try_from(f.limit).unwrap_or(usize::MAX);
    let mut kept: Vec<(i64, LoggedEvaluation)> = Vec::new();
    let mut before = f.before;
    let mut more = false;
    for _ in 0..MAX_SCANS {
        let mut query = sqlx::query(text).bind(org);
        if let Some(id) = policy {
            query = query.bind(id);
        }
        let query = query
            .bind(before)
            .bind(&f.verdict)
            .bind(f.from)
            .bind(f.to)
            .bind(f.limit + 1);
        let rows = bind_filters(query, f).fetch_all(&state.db.read).await?;
        let exhausted = rows.len() <= limit;
        for row in &rows {
            if kept.len() > limit {
                break;
            }
            let (seq, e) = evaluation_row(row, policy.is_some())?;
            before = seq;
            if names_table(&e.sql, &f.table) {
                kept.push((seq, e));
            }
        }
        more = !exhausted;
        if kept.len() > limit || exhausted {
            break;
        }
    }
    let next_cursor = match crate::pagination::trim(&mut kept, f.limit) {
        Some((seq, _)) => Some(crate::pagination::encode_seq_cursor(*seq)),
        // The scans stopped before the candidates ran out.
        None if more => Some(crate::pagination::encode_seq_cursor(before)),
        None => None,
    };
    Ok(EvaluationPage {
        items: kept.into_iter().map(|(_, e)| e).collect(),
        next_cursor,
    })
}

/// The evaluations a policy took part in, newest first.
#[utoipa::path(get, operation_id = "listPolicyEvaluations", path = "/api/v1/policies/{id}/evaluations", tag = "evaluate",
    params(("id" = String, Path, description = "policy id"), EvaluationQuery),
    responses((status = 200, body = EvaluationPage), (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn policy_evaluations(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<EvaluationQuery>,
) -> ApiResult<Json<EvaluationPage>> {
    let f = filters(&q)?;
    let mut conn = state.db.read.acquire().await?;
    store::load_policy(&mut *conn, &principal.org_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("policy", &id))?;
    let text = format!(
        "SELECT {EVALUATION_COLUMNS}, ep.mode FROM evaluation_policies ep \
         JOIN evaluations e ON e.seq = ep.evaluation_seq \
         WHERE ep.org_id = $1 AND ep.policy_id = $2 AND ep.evaluation_seq < $3 \
         AND ($4 = '' OR e.verdict = $4) AND e.created_at >= $5 AND e.created_at < $6 {} \
         ORDER BY ep.evaluation_seq DESC LIMIT $7",
        filter_sql(8)
    );
    drop(conn);
    Ok(Json(
        page(&state, &f, &text, &principal.org_id, Some(&id)).await?,
    ))
}

/// Every logged evaluation of the organization, newest first.
#[utoipa::path(get, operation_id = "listEvaluations", path = "/api/v1/evaluations", tag = "evaluate", params(EvaluationQuery),
    responses((status = 200, body = EvaluationPage)), security(("bearer" = [])))]
pub async fn evaluations(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<EvaluationQuery>,
) -> ApiResult<Json<EvaluationPage>> {
    let f = filters(&q)?;
    let text = format!(
        "SELECT {EVALUATION_COLUMNS} FROM evaluations e WHERE e.org_id = $1 AND e.seq < $2 \
         AND ($3 = '' OR e.verdict = $3) AND e.created_at >= $4 AND e.created_at < $5 {} \
         ORDER BY e.seq DESC LIMIT $6",
        filter_sql(7)
    );
    Ok(Json(
        page(&state, &f, &text, &principal.org_id, None).await?,
    ))
}

/// Body of `POST /api/v1/policies/replay`: give `policy` (the active set with this draft
/// in place of the stored policy of the same id) or `policy_set` (a whole replacement).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"policy": {"id": "tenant-isolation", "name": "Tenant isolation", "rules": [{"type": "deny", "table": "orders"}]}, "limit": 100}))]
#[serde(deny_unknown_fields)]
pub struct ReplayRequest {
    /// A draft policy; its `assignments` (or, when absent, the stored policy's) say where
    /// it applies.
    #[serde(default)]
    #[schema(value_type = Option<verdict_api_model::Policy>)]
    pub policy: Option<Value>,
    /// A whole draft set; without `catalog`, the organization's catalog is used.
    #[serde(default)]
    #[schema(value_type = Option<verdict_api_model::PolicySetDraft>)]
    pub policy_set: Option<Value>,
    /// How many of the latest logged evaluations to replay, 1–1000 (default 100).
    #[serde(default)]
    pub limit: Option<i64>,
}

/// One side of a replayed evaluation.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Outcome {
    pub verdict: String,
    pub rule: String,
    pub rewritten_sql: Option<String>,
}

/// An evaluation whose answer would change with the draft.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplayChange {
    pub evaluation_id: String,
    pub created_at: String,
    pub user: Option<String>,
    pub sql: String,
    /// The answer of the current active set, now.
    pub before: Outcome,
    /// The answer of the active set with the draft, now.
    pub after: Outcome,
    /// `verdict`, `rule`, `rewritten_sql`, `masked_columns`, `row_filters` — what differs.
    pub differences: Vec<String>,
}

/// A logged evaluation whose answer is not what the current active set gives now (a
/// policy changed or was rolled back, an exception was used up, revoked or expired).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LoggedChange {
    pub evaluation_id: String,
    pub created_at: String,
    pub user: Option<String>,
    pub sql: String,
    /// The answer as logged.
    pub logged: Outcome,
    /// The answer of the current active set, now.
    pub now: Outcome,
    pub differences: Vec<String>,
}

/// What changed between logging and now, without the draft.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct SinceLogging {
    pub changed: usize,
    /// Counts by `logged→now` verdict (only changed evaluations).
    pub transitions: BTreeMap<String, usize>,
    pub changes: Vec<LoggedChange>,
}

/// What a draft would change: the current active set and the set with the draft, both
/// evaluated now on the logged statements and contexts, with exceptions as they stand now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ReplayReport {
    /// How many logged evaluations were replayed.
    pub replayed: usize,
    /// How many would get another answer with the draft than without it, now.
    pub changed: usize,
    /// Counts by `before→after` verdict (only changed evaluations).
    pub transitions: BTreeMap<String, usize>,
    pub changes: Vec<ReplayChange>,
    /// Logged answers the current active set no longer gives (reported apart: the draft
    /// did not cause them).
    pub since_logging: SinceLogging,
}

fn outcome(v: &Value) -> Outcome {
    let text = |k: &str| v.get(k).and_then(Value::as_str);
    Outcome {
        verdict: text("verdict").unwrap_or("").to_string(),
        rule: text("rule").unwrap_or("").to_string(),
        rewritten_sql: text("rewritten_sql").map(str::to_string),
    }
}

/// The members of two verdicts' JSON that differ.
fn differences(a: &Value, b: &Value) -> Vec<String> {
    [
        "verdict",
        "rule",
        "rewritten_sql",
        "masked_columns",
        "row_filters",
    ]
    .iter()
    .filter(|k| a.get(**k) != b.get(**k))
    .map(|k| k.to_string())
    .collect()
}

/// Exceptions as they stand now, for evaluating many logged contexts: whether each still
/// has a use left is read once per replay.
struct ExceptionsNow<'a> {
    state: &'a AppState,
    org: &'a str,
    entries: Vec<ExceptionEntry>,
    usable: BTreeMap<String, bool>,
}

impl ExceptionsNow<'_> {
    /// `set` with the exceptions that would apply to `ctx` now (a dry run: nothing used).
    async fn apply(&mut self, set: &Arc<PolicySet>, ctx: &Context) -> ApiResult<Arc<PolicySet>> {
        let mut applied = Vec::new();
        for e in active::candidates(set, &self.entries, ctx) {
            let ok = match self.usable.get(&e.id) {
                Some(ok) => *ok,
                None => {
                    let ok = !active::usable(&self.state.db, self.org, vec![e.clone()])
                        .await?
                        .is_empty();
                    self.usable.insert(e.id.clone(), ok);
                    ok
                }
            };
            if ok {
                applied.push(e);
            }
        }
        Ok(active::with_exceptions(set, &applied))
    }
}

fn transition(map: &mut BTreeMap<String, usize>, from: &Outcome, to: &Outcome) {
    if from.verdict != to.verdict {
        *map.entry(format!("{}→{}", from.verdict, to.verdict))
            .or_default() += 1;
    }
}

/// Replays a draft over the latest logged evaluations: the current active set and the
/// set with the draft are both evaluated now, on each logged statement and context, with
/// the exceptions that would apply now (none is used up); `changes` lists where they
/// differ. Where the current set's answer now differs from the logged one, that is
/// reported apart in `since_logging`. Pure compute.
#[utoipa::path(post, operation_id = "replayPolicies", path = "/api/v1/policies/replay", tag = "evaluate", request_body = ReplayRequest,
    responses((status = 200, body = ReplayReport), (status = 422, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn replay(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<ReplayRequest>,
) -> ApiResult<Json<ReplayReport>> {
    let limit = match req.limit {
        None => 100,
        Some(n) if (1..=1000).contains(&n) => n,
        Some(_) => return Err(ApiError::invalid("`limit` must be between 1 and 1000")),
    };
    let org = principal.org_id.as_str();
    let active = state
        .cache
        .get(&state.db, org, principal.generation)
        .await?;
    let mut entries = active.exceptions.clone();
    let draft = match (req.policy, req.policy_set) {
        (Some(_), Some(_)) | (None, None) => {
            return Err(ApiError::invalid(
                "give exactly one of `policy` and `policy_set`",
            ))
        }
        (None, Some(set_value)) => {
            let mut obj = draft_set(set_value)?;
            if !obj.contains_key("catalog") && !active.catalog.is_null() {
                obj.insert("catalog".into(), active.catalog.clone());
            }
            PolicySet::from_json(&Value::Object(obj)).map_err(ApiError::from_engine)?
        }
        (Some(draft), None) => {
            if !draft.is_object() {
                return Err(ApiError::invalid("`policy` must be a policy object"));
            }
            let mut body = policies::normalize(draft)?;
            let id = body
                .get("id")
                .and_then(Value::as_str)
                .ok_or_else(|| ApiError::invalid("the draft `policy` needs an `id`"))?
                .to_string();
            let specs: Vec<AssignmentSpec> = match body.remove("assignments") {
                Some(v) if !v.is_null() => {
                    store::normalize_specs(serde_json::from_value(v).map_err(|e| {
                        ApiError::invalid(format!(
                            "`assignments` must be a list of {{kind, value}}: {e}"
                        ))
                    })?)?
                }
                _ => store::assignments(&state.db.read, org, &id)
                    .await?
                    .iter()
                    .map(Assignment::spec)
                    .collect(),
            };
            if body.remove("applies_to").is_some() {
                return Err(ApiError::invalid(
                    "where a draft applies is given by `assignments`, not `applies_to`",
                ));
            }
            let mut policies: Vec<(String, Value)> = active
                .policies
                .iter()
                .filter(|(pid, _)| *pid != id)
                .cloned()
                .collect();
            // The draft is checked even when unassigned (and so not applied).
            store::validate(&active.catalog, vec![store::engine_policy(&body, &specs)])?;
            if !specs.is_empty() {
                // A stored policy that is not active yet may already have exceptions.
                if !entries.iter().any(|e| e.policy_id == id) {
                    entries.extend(active::exceptions_of(&state.db, org, &id).await?);
                }
                policies.push((id, store::engine_policy(&body, &specs)));
            }
            active::build(&active.catalog, &policies)?
        }
    };
    let draft = Arc::new(draft);
    let mut now = ExceptionsNow {
        state: &state,
        org,
        entries,
        usable: BTreeMap::new(),
    };
    let rows = sqlx::query(
        "SELECT id, created_at, ctx_user, sql_text, context, dataset, query_id, result FROM evaluations \
         WHERE org_id = $1 ORDER BY seq DESC LIMIT $2",
    )
    .bind(org)
    .bind(limit)
    .fetch_all(&state.db.read)
    .await?;
    let mut report = ReplayReport {
        replayed: 0,
        changed: 0,
        transitions: BTreeMap::new(),
        changes: Vec::new(),
        since_logging: SinceLogging::default(),
    };
    for row in &rows {
        let ctx_text: String = row.try_get(4)?;
        let result_text: String = row.try_get(7)?;
        let Ok(mut ctx) = Context::from_json_str(&ctx_text) else {
            continue;
        };
        let logged: Value = serde_json::from_str(&result_text).unwrap_or(Value::Null);
        let dataset: Option<String> = row.try_get(5)?;
        let query_id: Option<String> = row.try_get(6)?;
        if scope(&mut ctx, dataset.as_ref(), query_id.as_ref()).is_err() {
            continue;
        }
        let sql: String = row.try_get(3)?;
        let current_set = now.apply(&active.set, &ctx).await?;
        let draft_set = now.apply(&draft, &ctx).await?;
        let current =
            serde_json::to_value(evaluate(&current_set, &sql, &ctx)).map_err(ApiError::internal)?;
        let with_draft =
            serde_json::to_value(evaluate(&draft_set, &sql, &ctx)).map_err(ApiError::internal)?;
        report.replayed += 1;
        let id: String = row.try_get(0)?;
        let created_at = format_time(row.try_get(1)?);
        let user: Option<String> = row.try_get(2)?;
        let since = differences(&logged, &current);
        if !since.is_empty() {
            let (l, n) = (outcome(&logged), outcome(&current));
            let s = &mut report.since_logging;
            transition(&mut s.transitions, &l, &n);
            s.changed += 1;
            s.changes.push(LoggedChange {
                evaluation_id: id.clone(),
                created_at: created_at.clone(),
                user: user.clone(),
                sql: sql.clone(),
                logged: l,
                now: n,
                differences: since,
            });
        }
        let differences = differences(&current, &with_draft);
        if differences.is_empty() {
            continue;
        }
        let (b, a) = (outcome(&current), outcome(&with_draft));
        transition(&mut report.transitions, &b, &a);
        report.changed += 1;
        report.changes.push(ReplayChange {
            evaluation_id: id,
            created_at,
            user,
            sql,
            before: b,
            after: a,
            differences,
        });
    }
    Ok(Json(report))
}

#[cfg(test)]
mod tests {
    use super::names_table;

    #[test]
    fn a_table_is_named_as_a_whole_identifier() {
        assert!(names_table("SELECT * FROM orders", "orders"));
        assert!(names_table("select * from public.ORDERS o", "orders"));
        assert!(names_table("SELECT 1 FROM \"orders\"", "orders"));
        assert!(names_table(
            "SELECT * FROM orders_archive, orders",
            "orders"
        ));
        assert!(!names_table("SELECT * FROM orders_archive", "orders"));
        assert!(!names_table("SELECT * FROM preorders", "orders"));
        assert!(!names_table("SELECT * FROM customers", "orders"));
        assert!(names_table("SELECT 1", ""));
    }
}
