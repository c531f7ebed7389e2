//! Deleted policies (issue 22): `GET /api/v1/deleted-policies` lists them with who deleted
//! them and when, and `POST /api/v1/policies/{id}/restore` brings one back as of its last
//! version before the deletion (a new version, audited as `policy.restore`, gated by the
//! policy tests like every change of the active set).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::Json;
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;

use crate::auth::Principal;
use crate::db::format_time;
use crate::error::ApiResult;
use crate::extract::ApiPath;
use crate::AppState;

/// A deleted policy.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"id": "pii-masking", "name": "Mask customer PII", "deleted_at": "2026-12-07T17:00:00Z",
    "deleted_by": "ada", "revision": 3, "restores_version": 2}))]
pub struct DeletedPolicy {
    pub id: String,
    pub name: Option<String>,
    pub deleted_at: String,
    pub deleted_by: String,
    /// The revision of the deletion (`If-Match` of a restore).
    pub revision: i64,
    /// The version a restore brings back: the last one before the deletion.
    pub restores_version: Option<i64>,
}

/// The organization's deleted policies, most recently deleted first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DeletedPolicyList {
    pub items: Vec<DeletedPolicy>,
}

/// Lists the organization's deleted policies, most recently deleted first.
#[utoipa::path(get, operation_id = "listDeletedPolicies", path = "/api/v1/deleted-policies", tag = "versions",
    responses((status = 200, body = DeletedPolicyList)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<DeletedPolicyList>> {
    let rows = sqlx::query(
        "SELECT p.id, p.body, p.deleted_at, p.updated_by, p.revision, \
         (SELECT MAX(v.version) FROM policy_versions v WHERE v.org_id = p.org_id \
          AND v.policy_id = p.id AND v.action <> 'delete') \
         FROM policies p WHERE p.org_id = $1 AND p.deleted_at IS NOT NULL \
         ORDER BY p.deleted_at DESC, p.id",
    )
    .bind(&principal.org_id)
    .fetch_all(&state.db.read)
    .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in &rows {
        let body: String = row.try_get(1)?;
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        items.push(DeletedPolicy {
            id: row.try_get(0)?,
            name: body.get("name").and_then(Value::as_str).map(str::to_string),
            deleted_at: format_time(row.try_get::<Option<i64>, _>(2)?.unwrap_or(0)),
            deleted_by: row.try_get(3)?,
            revision: row.try_get(4)?,
            restores_version: row.try_get(5)?,
        });
    }
    Ok(Json(DeletedPolicyList { items }))
}

/// Restores a deleted policy and its assignments as of its last version before the
/// deletion, as a new version.
#[utoipa::path(post, operation_id = "restorePolicy", path = "/api/v1/policies/{id}/restore", tag = "versions",
    params(("id" = String, Path, description = "policy id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "optional: the revision of the deletion", pattern = r#"^(W/)?("[0-9]{1,18}"|[0-9]{1,18})$"#)),
    responses((status = 200, description = "the restored policy; `ETag` is its new revision", body = verdict_api_model::PolicyResource),
        (status = 404, body = crate::openapi::ErrorBody), (status = 409, description = "`not_deleted`: the policy is not deleted", body = crate::openapi::ErrorBody),
        (status = 412, body = crate::openapi::ErrorBody),
        (status = 422, description = "the version no longer validates (e.g. the catalog changed)", body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn restore(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    crate::versions::restore_version(&state, &principal, &headers, &id, None).await
}
