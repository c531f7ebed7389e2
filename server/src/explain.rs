//! `/api/v1/explain-row` and `/api/v1/who-sees` (issue 21): "why is this row hidden?" and
//! "who sees this column?" on the organization's active set. Both are pure compute: the
//! exceptions that would apply to a context are taken into account (as a dry run does)
//! but none is used up, and nothing is stored.

use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use verdict_engine::who_sees::{Exception, Principal as Asked};
use verdict_engine::{Context, PolicySet};

use crate::active::{self, ExceptionEntry};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::principals;
use crate::AppState;

/// The most principals one who-sees request may name.
pub const MAX_PRINCIPALS: usize = 1000;

/// Body of `POST /api/v1/explain-row`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"table": "orders", "row": {"id": 9, "tenant_id": 2, "amount": 10},
    "context": {"user": "alice", "roles": ["analyst"], "attributes": {"tenant_id": 1}}}))]
#[serde(deny_unknown_fields)]
pub struct ExplainRowRequest {
    /// `orders` or `schema.orders`.
    pub table: String,
    /// The row as column values.
    #[schema(value_type = Object)]
    pub row: Value,
    /// The caller's context (SPEC §2); empty when absent.
    #[serde(default)]
    #[schema(value_type = Option<verdict_api_model::Context>)]
    pub context: Option<Value>,
    /// Columns that pick the row in the diagnostic query (default: `id`, else every
    /// column given).
    #[serde(default)]
    pub key: Option<Vec<String>>,
}

/// Body of `POST /api/v1/who-sees`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"table": "customers", "column": "email",
    "principals": [{"user": "alice", "roles": ["analyst"], "attributes": {"tenant_id": 1}}]}))]
#[serde(deny_unknown_fields)]
pub struct WhoSeesRequest {
    pub table: String,
    pub column: String,
    /// Each a context, or `{name?, context, exceptions?: [{policy, rules?}]}`; absent: the
    /// organization's principals (`/api/v1/principals`), each with the exceptions that
    /// would apply to it.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub principals: Option<Vec<Value>>,
}

/// The exceptions that would apply to `ctx` and still have a use left (none is used up).
async fn exceptions_for(
    state: &AppState,
    org: &str,
    set: &PolicySet,
    all: &[ExceptionEntry],
    ctx: &Context,
) -> ApiResult<Vec<ExceptionEntry>> {
    let candidates = active::candidates(set, all, ctx);
    if candidates.is_empty() {
        return Ok(Vec::new());
    }
    active::usable(&state.db, org, candidates).await
}

/// Why a row is visible or hidden for a context under the active set: each applicable
/// row filter's conjuncts evaluated over the row with SQL's three-valued logic, the context
/// values they use, the smallest admitting context change, a diagnostic query.
#[utoipa::path(post, operation_id = "explainRow", path = "/api/v1/explain-row", tag = "evaluate",
    request_body = ExplainRowRequest,
    responses((status = 200, description = "the engine's row explanation (`outcome`, `visible`, `filters` with their `conjuncts`, `denied`, `masked_columns`, `admit_with`, `diagnostic_sql`, `explanation`) plus `exceptions_applied`", body = Object),
        (status = 409, description = "the active set does not validate", body = crate::openapi::ErrorBody),
        (status = 422, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn explain_row(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<ExplainRowRequest>,
) -> ApiResult<Response> {
    let ctx = match &req.context {
        None | Some(Value::Null) => Context::default(),
        Some(v) => Context::from_json(v).map_err(ApiError::from_engine)?,
    };
    let org = principal.org_id.as_str();
    let active = state
        .cache
        .get(&state.db, org, principal.generation)
        .await?;
    let applied = exceptions_for(&state, org, &active.set, &active.exceptions, &ctx).await?;
    let set = active::with_exceptions(&active.set, &applied);
    let explained =
        verdict_engine::explain_row_keyed(&set, &req.table, &req.row, &ctx, req.key.as_deref())
            .map_err(ApiError::from_engine)?;
    Ok(crate::evaluate::json_response(
        explained.to_json(),
        &[(
            "exceptions_applied",
            crate::evaluate::applied_json(&applied),
        )],
    ))
}

/// How each principal sees a column under the active set: `raw`, `masked`, `filtered`,
/// `masked_filtered` or `denied`, from the engine's verdict on `SELECT <column> FROM
/// <table>` for each, with break-glass and exceptions taken into account.
#[utoipa::path(post, operation_id = "whoSees", path = "/api/v1/who-sees", tag = "evaluate",
    request_body = WhoSeesRequest,
    responses((status = 200, description = "`{table, column, access: [{principal, access, raw, masked, filtered, denied, break_glass, exceptions, sql}]}`", body = Object),
        (status = 409, description = "the active set does not validate", body = crate::openapi::ErrorBody),
        (status = 422, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn who_sees(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<WhoSeesRequest>,
) -> ApiResult<Response> {
    let org = principal.org_id.as_str();
    let mut asked: Vec<Asked> = match &req.principals {
        Some(list) => {
            if list.len() > MAX_PRINCIPALS {
                return Err(ApiError::invalid(format!(
                    "`principals` may name at most {MAX_PRINCIPALS} principals"
                )));
            }
            list.iter()
                .map(|p| Asked::from_json(p).map_err(ApiError::from_engine))
                .collect::<ApiResult<_>>()?
        }
        None => principals::load(&state.db, org)
            .await?
            .into_iter()
            .map(|p| {
                Ok(Asked {
                    name: Some(p.user),
                    context: Context::from_json(&p.context).map_err(ApiError::from_engine)?,
                    exceptions: Vec::new(),
                })
            })
            .collect::<ApiResult<_>>()?,
    };
    let active = state
        .cache
        .get(&state.db, org, principal.generation)
        .await?;
    // Stored exceptions apply to principals whose request names none.
    for p in asked.iter_mut().filter(|p| p.exceptions.is_empty()) {
        let applied =
            exceptions_for(&state, org, &active.set, &active.exceptions, &p.context).await?;
        p.exceptions = applied
            .iter()
            .map(|e| Exception {
                policy: e.policy_id.clone(),
                rules: e
                    .rules
                    .as_ref()
                    .map(|r| r.iter().filter_map(|i| usize::try_from(*i).ok()).collect()),
            })
            .collect();
    }
    let report = verdict_engine::who_sees(&active.set, &req.table, &req.column, &asked)
        .map_err(ApiError::from_engine)?;
    let text = serde_json::to_string(&json!({
        "table": req.table,
        "column": req.column,
        "access": report,
    }))
    .map_err(ApiError::internal)?;
    Ok(crate::evaluate::json_response(text, &[]))
}
