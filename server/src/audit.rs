//! The audit trail: every change, with who, when, what and which fields, written in the
//! same transaction as the change itself.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;

use crate::auth::Principal;
use crate::db::{format_time, now_ms};
use crate::error::ApiResult;
use crate::extract::ApiQuery;
use crate::AppState;

/// A write transaction.
pub type Tx = sqlx::Transaction<'static, sqlx::Any>;

/// Appends one entry to the audit trail inside `tx`.
#[allow(clippy::too_many_arguments)]
pub async fn record(
    tx: &mut Tx,
    org_id: &str,
    actor: &str,
    action: &str,
    object_type: &str,
    object_id: &str,
    fields: &[&str],
    detail: Option<Value>,
) -> Result<(), sqlx::Error> {
    let fields = serde_json::to_string(fields).unwrap_or_else(|_| "[]".to_string());
    sqlx::query(
        "INSERT INTO audit_log (org_id, at, actor, action, object_type, object_id, fields, detail) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(org_id)
    .bind(now_ms())
    .bind(actor)
    .bind(action)
    .bind(object_type)
    .bind(object_id)
    .bind(fields)
    .bind(detail.map(|d| d.to_string()))
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// One audit entry.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub seq: i64,
    pub at: String,
    pub actor: String,
    pub action: String,
    pub object_type: String,
    pub object_id: String,
    pub fields: Vec<String>,
    /// What else the change recorded (such as the new revision); null when nothing.
    #[schema(value_type = Option<Object>)]
    pub detail: Option<Value>,
}

/// A page of audit entries, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntry>,
    /// Pass as `cursor` to get the next (older) page.
    pub next_cursor: Option<String>,
}

/// Query of `GET /api/v1/audit`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Page size, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// From `next_cursor` of the previous page.
    #[param(value_type = Option<i64>)]
    pub cursor: Option<String>,
    /// Only entries about this object id.
    pub object_id: Option<String>,
}

/// The organization's audit trail, newest first.
#[utoipa::path(get, operation_id = "listAudit", path = "/api/v1/audit", tag = "audit", params(AuditQuery),
    responses((status = 200, body = AuditPage)), security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> ApiResult<Json<AuditPage>> {
    let limit = crate::pagination::limit(q.limit, 100)?;
    let before = match &q.cursor {
        Some(c) => crate::pagination::decode_seq_cursor(c)?,
        None => i64::MAX,
    };
    let rows = sqlx::query(
        "SELECT seq, at, actor, action, object_type, object_id, fields, detail FROM audit_log \
         WHERE org_id = $1 AND seq < $2 AND ($3 = '' OR object_id = $3) ORDER BY seq DESC LIMIT $4",
    )
    .bind(&principal.org_id)
    .bind(before)
    .bind(q.object_id.clone().unwrap_or_default())
    .bind(limit + 1)
    .fetch_all(&state.db.read)
    .await?;
    let mut items = Vec::new();
    for row in &rows {
        let fields: String = row.try_get(6)?;
        let detail: Option<String> = row.try_get(7)?;
        items.push(AuditEntry {
            seq: row.try_get(0)?,
            at: format_time(row.try_get(1)?),
            actor: row.try_get(2)?,
            action: row.try_get(3)?,
            object_type: row.try_get(4)?,
            object_id: row.try_get(5)?,
            fields: serde_json::from_str(&fields).unwrap_or_default(),
            detail: detail.and_then(|d| serde_json::from_str(&d).ok()),
        });
    }
    let next_cursor = crate::pagination::trim(&mut items, limit)
        .map(|last| crate::pagination::encode_seq_cursor(last.seq));
    Ok(Json(AuditPage { items, next_cursor }))
}
