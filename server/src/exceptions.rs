//! `/api/v1/policies/{id}/exceptions`: time-bound (`expires_at`) or count-bound
//! (`max_uses`) carve-outs for a user or a role. An exception lifts the rules it names
//! (`rules`, indexes as in `rules[i]`), or by default the policy's row filters and masks
//! only — never a deny, retention rule, restriction or limit it does not name. At
//! evaluation its rules are lifted for the caller (the policy still applies) and one of
//! its uses is taken atomically.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::audit;
use crate::auth::Principal;
use crate::db::{format_time, new_id, now_ms, parse_time};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::extract::ApiPath;
use crate::store;
use crate::AppState;

/// Body of `POST …/exceptions`: exactly one of `user` and `role`, and at least one of
/// `expires_at` and `max_uses`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"user": "dpo", "reason": "GDPR subject access request 1234", "expires_at": "2030-01-31T00:00:00Z", "max_uses": 5}))]
#[serde(deny_unknown_fields)]
pub struct NewException {
    pub user: Option<String>,
    pub role: Option<String>,
    /// Why the carve-out exists (kept in the audit trail).
    pub reason: Option<String>,
    /// RFC 3339; the exception is inactive from then on.
    pub expires_at: Option<String>,
    /// How many evaluations may use it.
    pub max_uses: Option<i64>,
    /// The rules it lifts, by index (`rules[i]`); absent: the policy's row filters and
    /// masks. Denies, data retention, restrictions and limits are lifted only when named.
    #[schema(max_items = 200)]
    pub rules: Option<Vec<u32>>,
}

/// A stored exception.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Exception {
    pub id: String,
    pub policy_id: String,
    /// `user` or `role`.
    pub subject_kind: String,
    pub subject: String,
    pub reason: Option<String>,
    pub expires_at: Option<String>,
    pub max_uses: Option<i64>,
    /// The rules it lifts, by index; absent: the policy's row filters and masks.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub rules: Option<Vec<u32>>,
    pub uses: i64,
    /// Not revoked, not expired, and uses left.
    pub active: bool,
    pub created_at: String,
    pub created_by: String,
    pub revoked_at: Option<String>,
}

/// The exceptions of a policy.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ExceptionList {
    pub items: Vec<Exception>,
}

const COLUMNS: &str = "id, policy_id, subject_kind, subject, reason, expires_at, max_uses, uses, \
                       created_at, created_by, revoked_at, rules";

fn exception_row(row: &AnyRow, now: i64) -> ApiResult<Exception> {
    let expires_at: Option<i64> = row.try_get(5)?;
    let max_uses: Option<i64> = row.try_get(6)?;
    let uses: i64 = row.try_get(7)?;
    let revoked_at: Option<i64> = row.try_get(10)?;
    let active = revoked_at.is_none()
        && expires_at.is_none_or(|t| t > now)
        && max_uses.is_none_or(|m| uses < m);
    Ok(Exception {
        id: row.try_get(0)?,
        policy_id: row.try_get(1)?,
        subject_kind: row.try_get(2)?,
        subject: row.try_get(3)?,
        reason: row.try_get(4)?,
        expires_at: expires_at.map(format_time),
        max_uses,
        rules: rule_list(row.try_get(11)?),
        uses,
        active,
        created_at: format_time(row.try_get(8)?),
        created_by: row.try_get(9)?,
        revoked_at: revoked_at.map(format_time),
    })
}

/// A stored rule list (JSON), or none.
pub fn rule_list(text: Option<String>) -> Option<Vec<u32>> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

/// Lists a policy's exceptions, active or not.
#[utoipa::path(get, operation_id = "listExceptions", path = "/api/v1/policies/{id}/exceptions", tag = "exceptions",
    params(("id" = String, Path, description = "policy id")),
    responses((status = 200, body = ExceptionList), (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<ExceptionList>> {
    let mut conn = state.db.read.acquire().await?;
    store::live_policy(&mut *conn, &principal.org_id, &id).await?;
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM exceptions WHERE org_id = $1 AND policy_id = $2 ORDER BY created_at, id"
    ))
    .bind(&principal.org_id)
    .bind(&id)
    .fetch_all(&mut *conn)
    .await?;
    let now = now_ms();
    let items = rows
        .iter()
        .map(|r| exception_row(r, now))
        .collect::<ApiResult<_>>()?;
    Ok(Json(ExceptionList { items }))
}

/// Grants an exception.
#[utoipa::path(post, operation_id = "createException", path = "/api/v1/policies/{id}/exceptions", tag = "exceptions",
    params(("id" = String, Path, description = "policy id")), request_body = NewException,
    responses((status = 201, body = Exception), (status = 404, body = crate::openapi::ErrorBody), (status = 422, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<NewException>,
) -> ApiResult<(StatusCode, Json<Exception>)> {
    principal.require_writer()?;
    let (kind, subject) = match (&req.user, &req.role) {
        (Some(u), None) => ("user", u.clone()),
        (None, Some(r)) => ("role", r.clone()),
        _ => {
            return Err(ApiError::invalid(
                "an exception names exactly one of `user` and `role`",
            ))
        }
    };
    if subject.trim().is_empty() || subject.len() > 256 || subject.contains('\0') {
        return Err(ApiError::invalid(
            "the exception's subject must be a non-empty string of at most 256 bytes",
        ));
    }
    if req
        .reason
        .as_ref()
        .is_some_and(|r| r.len() > 2000 || r.contains('\0'))
    {
        return Err(ApiError::invalid(
            "`reason` must have at most 2000 bytes and no NUL",
        ));
    }
    let now = now_ms();
    let expires_at = match &req.expires_at {
        None => None,
        Some(text) => {
            let t = parse_time(text).ok_or_else(|| {
                ApiError::invalid(
                    "`expires_at` must be an RFC 3339 time such as 2026-01-31T12:00:00Z",
                )
            })?;
            if t <= now {
                return Err(ApiError::invalid("`expires_at` is in the past"));
            }
            Some(t)
        }
    };
    if let Some(m) = req.max_uses {
        if m < 1 {
            return Err(ApiError::invalid("`max_uses` must be at least 1"));
        }
    }
    if expires_at.is_none() && req.max_uses.is_none() {
        return Err(ApiError::invalid(
            "an exception is bounded: give `expires_at`, `max_uses`, or both",
        ));
    }
    let org = principal.org_id.as_str();
    let mut tx = state.db.write.begin().await?;
    let settings = crate::settings::load(&mut *tx, org).await?;
    if let Some(days) = settings.exception_max_days {
        let latest = now.saturating_add(days.saturating_mul(86_400_000));
        if expires_at.is_none_or(|t| t > latest) {
            return Err(ApiError::invalid(format!(
                "this organization's exceptions last at most {days} days: give an `expires_at` within them"
            )));
        }
    }
    let policy = store::live_policy(&mut *tx, org, &id).await?;
    let rule_count = policy
        .body
        .get("rules")
        .and_then(serde_json::Value::as_array)
        .map_or(0, Vec::len);
    if let Some(rules) = &req.rules {
        let mut seen = std::collections::BTreeSet::new();
        if rules.is_empty()
            || rules.len() > 200
            || rules
                .iter()
                .any(|r| usize::try_from(*r).map_or(true, |r| r >= rule_count) || !seen.insert(*r))
        {
            return Err(ApiError::invalid(format!(
                "`rules` lists distinct indexes of the policy's rules (0 to {}), at least one",
                rule_count.saturating_sub(1)
            )));
        }
    }
    let rules_text = req.rules.as_ref().map(|r| json!(r).to_string());
    let exception_id = new_id("exc");
    sqlx::query(
        "INSERT INTO exceptions (org_id, id, policy_id, subject_kind, subject, reason, expires_at, max_uses, uses, created_at, created_by, rules) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, $11)",
    )
    .bind(org)
    .bind(&exception_id)
    .bind(&id)
    .bind(kind)
    .bind(&subject)
    .bind(req.reason.clone())
    .bind(expires_at)
    .bind(req.max_uses)
    .bind(now)
    .bind(&principal.user)
    .bind(rules_text)
    .execute(&mut *tx)
    .await?;
    audit::record(&mut tx, org, &principal.user, "exception.create", "exception", &exception_id,
        &["subject", "expires_at", "max_uses", "reason", "rules"],
        Some(json!({ "policy_id": id, "subject_kind": kind, "subject": subject, "expires_at": req.expires_at, "max_uses": req.max_uses, "reason": req.reason, "rules": req.rules }))).await?;
    store::bump_generation(&mut tx, org).await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM exceptions WHERE org_id = $1 AND id = $2"
    ))
    .bind(org)
    .bind(&exception_id)
    .fetch_one(&mut *tx)
    .await?;
    let exception = exception_row(&row, now)?;
    tx.commit().await?;
    state.changed(org);
    Ok((StatusCode::CREATED, Json(exception)))
}

/// Revokes an exception (it stays listed, inactive).
#[utoipa::path(delete, operation_id = "revokeException", path = "/api/v1/policies/{id}/exceptions/{exception_id}", tag = "exceptions",
    params(("id" = String, Path, description = "policy id"), ("exception_id" = String, Path, description = "exception id")),
    responses((status = 200, body = Exception), (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, exception_id)): ApiPath<(String, String)>,
) -> ApiResult<Json<Exception>> {
    principal.require_writer()?;
    let org = principal.org_id.as_str();
    let mut tx = state.db.write.begin().await?;
    store::live_policy(&mut *tx, org, &id).await?;
    let now = now_ms();
    let updated = sqlx::query(
        "UPDATE exceptions SET revoked_at = $1, revoked_by = $2 \
         WHERE org_id = $3 AND policy_id = $4 AND id = $5 AND revoked_at IS NULL",
    )
    .bind(now)
    .bind(&principal.user)
    .bind(org)
    .bind(&id)
    .bind(&exception_id)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(ApiError::not_found("exception", &exception_id));
    }
    audit::record(
        &mut tx,
        org,
        &principal.user,
        "exception.revoke",
        "exception",
        &exception_id,
        &["revoked_at"],
        Some(json!({ "policy_id": id })),
    )
    .await?;
    store::bump_generation(&mut tx, org).await?;
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM exceptions WHERE org_id = $1 AND id = $2"
    ))
    .bind(org)
    .bind(&exception_id)
    .fetch_one(&mut *tx)
    .await?;
    let exception = exception_row(&row, now)?;
    tx.commit().await?;
    state.changed(org);
    Ok(Json(exception))
}
