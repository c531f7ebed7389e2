//! `/api/v1/settings`: the organization's settings. For now, which context attributes an
//! evaluation record shows as `[redacted]`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::Row;

use crate::audit;
use crate::auth::{Principal, Role};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::policies::typed;
use crate::AppState;
use verdict_engine::ProblemKind;

/// What an evaluation record shows instead of a redacted attribute.
pub const REDACTED: &str = "[redacted]";

/// The organization's settings.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"redacted_attributes": ["ssn", "email"], "data_preview_viewers": false}))]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Context attributes that `GET /api/v1/evaluations/{id}` answers as `[redacted]`;
    /// `*` redacts every attribute.
    #[schema(max_items = 100)]
    pub redacted_attributes: Vec<String>,
    /// When set, every new exception needs an `expires_at` at most this many days ahead;
    /// absent or null: no such bound.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 3650)]
    pub exception_max_days: Option<i64>,
    /// Change review: with `required`, every change to a policy becomes a change request
    /// (`/api/v1/change-requests`). Always answered; absent in a `PUT`: unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub review: Option<verdict_api_model::ReviewSettings>,
    /// Whether viewers may run the data preview (`POST /api/v1/data-sources/{id}/preview`);
    /// absent or false: editors and admins only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_preview_viewers: Option<bool>,
}

/// The settings of an organization.
pub async fn load<'e, E>(exec: E, org: &str) -> ApiResult<Settings>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query(
        "SELECT redacted_attributes, exception_max_days, review_required, review_approvals, \
         data_preview_viewers FROM orgs WHERE id = $1",
    )
    .bind(org)
    .fetch_one(exec)
    .await?;
    let text: Option<String> = row.try_get(0)?;
    Ok(Settings {
        redacted_attributes: text
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default(),
        exception_max_days: row.try_get(1)?,
        review: Some(verdict_api_model::ReviewSettings {
            required: row.try_get::<i64, _>(2)? != 0,
            approvals: row.try_get(3)?,
        }),
        data_preview_viewers: Some(row.try_get::<i64, _>(4)? != 0),
    })
}

/// Replaces the redacted attributes of a context (a JSON object) with `[redacted]`.
pub fn redact(context: &mut Value, settings: &Settings) {
    let all = settings.redacted_attributes.iter().any(|a| a == "*");
    if let Some(Value::Object(attrs)) = context.get_mut("attributes") {
        for (name, value) in attrs.iter_mut() {
            if all || settings.redacted_attributes.iter().any(|a| a == name) {
                *value = json!(REDACTED);
            }
        }
    }
}

/// The organization's settings.
#[utoipa::path(get, operation_id = "getSettings", path = "/api/v1/settings", tag = "audit",
    responses((status = 200, body = Settings)),
    security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, principal: Principal) -> ApiResult<Json<Settings>> {
    Ok(Json(load(&state.db.read, &principal.org_id).await?))
}

/// Replaces the organization's settings (admins only).
#[utoipa::path(put, operation_id = "putSettings", path = "/api/v1/settings", tag = "audit",
    request_body = Settings,
    responses((status = 200, body = Settings)),
    security(("bearer" = [])))]
pub async fn put(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(value): ApiJson<Value>,
) -> ApiResult<Json<Settings>> {
    if principal.role != Role::Admin {
        return Err(ApiError::forbidden("only an admin may change the settings"));
    }
    if value.get("review").is_some_and(Value::is_null) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "`review` is `{required, approvals}`; leave it out to keep it as it is",
        )
        .with_problem(ProblemKind::WrongType, "review", "must not be null"));
    }
    let settings: Settings = typed(value, "invalid_request")?;
    if settings.redacted_attributes.len() > 100
        || settings
            .redacted_attributes
            .iter()
            .any(|a| a.is_empty() || a.chars().count() > 256 || a.contains('\0'))
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "`redacted_attributes` holds at most 100 names of 1–256 characters",
        )
        .with_problem(
            ProblemKind::InvalidValue,
            "redacted_attributes",
            "at most 100 names of 1-256 characters",
        ));
    }
    if settings
        .exception_max_days
        .is_some_and(|d| !(1..=3650).contains(&d))
    {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_request",
            "`exception_max_days` is a number of days from 1 to 3650",
        )
        .with_problem(
            ProblemKind::InvalidValue,
            "exception_max_days",
            "from 1 to 3650",
        ));
    }
    if let Some(review) = settings.review {
        if !(1..=verdict_api_model::review::MAX_APPROVALS).contains(&review.approvals) {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                "`review.approvals` is a number from 1 to 10",
            )
            .with_problem(
                ProblemKind::InvalidValue,
                "review.approvals",
                "from 1 to 10",
            ));
        }
    }
    let org = principal.org_id.as_str();
    let mut tx = state.db.write.begin().await?;
    sqlx::query(
        "UPDATE orgs SET redacted_attributes = $1, exception_max_days = $2, data_preview_viewers = $3 \
         WHERE id = $4",
    )
    .bind(json!(settings.redacted_attributes).to_string())
    .bind(settings.exception_max_days)
    .bind(i64::from(settings.data_preview_viewers.unwrap_or(false)))
    .bind(org)
        .execute(&mut *tx)
        .await?;
    if let Some(review) = settings.review {
        sqlx::query("UPDATE orgs SET review_required = $1, review_approvals = $2 WHERE id = $3")
            .bind(i64::from(review.required))
            .bind(review.approvals)
            .bind(org)
            .execute(&mut *tx)
            .await?;
    }
    audit::record(
        &mut tx,
        org,
        &principal.user,
        "settings.update",
        "settings",
        org,
        &["redacted_attributes", "exception_max_days", "review", "data_preview_viewers"],
        Some(json!({ "redacted_attributes": settings.redacted_attributes, "exception_max_days": settings.exception_max_days, "review": settings.review, "data_preview_viewers": settings.data_preview_viewers.unwrap_or(false) })),
    )
    .await?;
    let settings = load(&mut *tx, org).await?;
    tx.commit().await?;
    Ok(Json(settings))
}
