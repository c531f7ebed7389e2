//! `/api/v1/policies/{id}/versions`: immutable snapshots, field diffs and rollback.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sqlx::any::AnyRow;
use sqlx::Row;

use crate::audit;
use crate::auth::Principal;
use crate::db::{format_time, now_ms};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiPath, ApiQuery};
use crate::policies::{if_match, resource};
use crate::store::{self, AssignmentSpec};
use crate::AppState;

/// One version of a policy.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Version {
    pub version: i64,
    /// `create`, `update`, `delete`, `rollback` or `assignments`.
    pub action: String,
    pub author: String,
    pub created_at: String,
    /// The top-level fields this version changed.
    pub changed_fields: Vec<String>,
    /// `active` for the version in force, `archived` for an earlier one; a version
    /// proposed as a change request is `draft`, `in_review`, `approved` or `rejected`
    /// until it is published.
    pub status: verdict_api_model::ChangeStatus,
    /// `{policy, assignments, deleted}` (only when one version is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<verdict_api_model::VersionSnapshot>)]
    pub snapshot: Option<Value>,
}

/// A page of versions, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct VersionPage {
    pub items: Vec<Version>,
    /// How many versions the policy has, proposed ones included.
    pub total: i64,
    pub next_cursor: Option<String>,
}

/// Query of the versions list.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    /// Page size, 1–500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    #[param(value_type = Option<i64>)]
    pub cursor: Option<String>,
}

/// The columns of a version, then its change request's stored status (`cr_status`).
const VERSION_FROM: &str = "policy_versions v LEFT JOIN change_requests c ON c.org_id = v.org_id \
     AND c.policy_id = v.policy_id AND c.version = v.version";

fn version_row(row: &AnyRow, with_snapshot: bool, revision: Option<i64>) -> ApiResult<Version> {
    let changed: String = row.try_get(4)?;
    let version: i64 = row.try_get(0)?;
    let stored: Option<String> = row.try_get(if with_snapshot { 6 } else { 5 })?;
    let status = crate::review::version_status(version, stored.as_deref(), revision);
    let snapshot = if with_snapshot {
        let text: String = row.try_get(5)?;
        Some(serde_json::from_str(&text).map_err(ApiError::internal)?)
    } else {
        None
    };
    Ok(Version {
        version,
        status,
        action: row.try_get(1)?,
        author: row.try_get(2)?,
        created_at: format_time(row.try_get(3)?),
        changed_fields: serde_json::from_str(&changed).unwrap_or_default(),
        snapshot,
    })
}

/// The revision of a policy that exists (`None` when only change requests proposing it
/// do), or 404.
async fn policy_revision(
    conn: &mut sqlx::AnyConnection,
    org: &str,
    id: &str,
) -> ApiResult<Option<i64>> {
    if let Some(row) = store::load_policy(&mut *conn, org, id).await? {
        return Ok(Some(row.revision));
    }
    let proposed =
        sqlx::query("SELECT 1 FROM change_requests WHERE org_id = $1 AND policy_id = $2")
            .bind(org)
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?;
    match proposed {
        Some(_) => Ok(None),
        None => Err(ApiError::not_found("policy", id)),
    }
}

async fn ensure_policy<'e, E>(exec: E, org: &str, id: &str) -> ApiResult<store::PolicyRow>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    // Versions of a deleted policy stay readable: they are how it is restored.
    store::load_policy(exec, org, id)
        .await?
        .ok_or_else(|| ApiError::not_found("policy", id))
}

async fn load_version<'e, E>(
    exec: E,
    org: &str,
    id: &str,
    n: i64,
    revision: Option<i64>,
) -> ApiResult<Version>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query(&format!(
        "SELECT v.version, v.action, v.author, v.created_at, v.changed_fields, v.snapshot, c.status \
         FROM {VERSION_FROM} WHERE v.org_id = $1 AND v.policy_id = $2 AND v.version = $3"
    ))
    .bind(org)
    .bind(id)
    .bind(n)
    .fetch_optional(exec)
    .await?
    .ok_or_else(|| ApiError::not_found("version", &format!("{id}@{n}")))?;
    version_row(&row, true, revision)
}

/// Lists the versions of a policy, newest first.
#[utoipa::path(get, operation_id = "listVersions", path = "/api/v1/policies/{id}/versions", tag = "versions",
    params(("id" = String, Path, description = "policy id"), VersionQuery),
    responses((status = 200, body = VersionPage), (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<VersionQuery>,
) -> ApiResult<Json<VersionPage>> {
    let limit = crate::pagination::limit(q.limit, 100)?;
    let before = match &q.cursor {
        Some(c) => c
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request("`cursor` is not a cursor this server gave"))?,
        None => i64::MAX,
    };
    let mut conn = state.db.read.acquire().await?;
    let revision = policy_revision(&mut conn, &principal.org_id, &id).await?;
    let rows = sqlx::query(&format!(
        "SELECT v.version, v.action, v.author, v.created_at, v.changed_fields, c.status \
         FROM {VERSION_FROM} WHERE v.org_id = $1 AND v.policy_id = $2 AND v.version < $3 \
         ORDER BY v.version DESC LIMIT $4"
    ))
    .bind(&principal.org_id)
    .bind(&id)
    .bind(before)
    .bind(limit + 1)
    .fetch_all(&mut *conn)
    .await?;
    let total: i64 =
        sqlx::query("SELECT COUNT(*) FROM policy_versions WHERE org_id = $1 AND policy_id = $2")
            .bind(&principal.org_id)
            .bind(&id)
            .fetch_one(&mut *conn)
            .await?
            .try_get(0)?;
    let mut items = rows
        .iter()
        .map(|r| version_row(r, false, revision))
        .collect::<ApiResult<Vec<_>>>()?;
    let next_cursor =
        crate::pagination::trim(&mut items, limit).map(|last| last.version.to_string());
    Ok(Json(VersionPage {
        items,
        total,
        next_cursor,
    }))
}

/// Reads one version with its snapshot.
#[utoipa::path(get, operation_id = "getVersion", path = "/api/v1/policies/{id}/versions/{n}", tag = "versions",
    params(("id" = String, Path, description = "policy id"), ("n" = i64, Path, description = "version number")),
    responses((status = 200, body = Version), (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, n)): ApiPath<(String, i64)>,
) -> ApiResult<Json<Version>> {
    let mut conn = state.db.read.acquire().await?;
    let revision = policy_revision(&mut conn, &principal.org_id, &id).await?;
    Ok(Json(
        load_version(&mut *conn, &principal.org_id, &id, n, revision).await?,
    ))
}

/// One changed field between two versions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FieldChange {
    /// A top-level field, `rules[i]` for one rule, or `assignments` / `deleted`.
    pub field: String,
    /// `added`, `removed` or `changed`.
    pub change: String,
    /// The value before (any JSON; null when added).
    pub before: Value,
    /// The value after (any JSON; null when removed).
    pub after: Value,
}

/// The field-level difference from version `a` to version `b`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Diff {
    pub from: i64,
    pub to: i64,
    pub changes: Vec<FieldChange>,
    /// Assignments in `b` that `a` lacks.
    pub assignments_added: Vec<AssignmentSpec>,
    /// Assignments in `a` that `b` lacks.
    pub assignments_removed: Vec<AssignmentSpec>,
}

fn change(field: String, before: Option<&Value>, after: Option<&Value>) -> Option<FieldChange> {
    if before == after {
        return None;
    }
    let kind = match (before, after) {
        (None, Some(_)) => "added",
        (Some(_), None) => "removed",
        _ => "changed",
    };
    Some(FieldChange {
        field,
        change: kind.to_string(),
        before: before.cloned().unwrap_or(Value::Null),
        after: after.cloned().unwrap_or(Value::Null),
    })
}

/// Computes the field-level diff of two snapshots.
pub fn diff_snapshots(
    a: &Value,
    b: &Value,
) -> (Vec<FieldChange>, Vec<AssignmentSpec>, Vec<AssignmentSpec>) {
    let empty = Map::new();
    let pa = a.get("policy").and_then(Value::as_object).unwrap_or(&empty);
    let pb = b.get("policy").and_then(Value::as_object).unwrap_or(&empty);
    let mut keys: Vec<&String> = pa.keys().chain(pb.keys()).collect();
    keys.sort();
    keys.dedup();
    let mut changes = Vec::new();
    for key in keys {
        let (va, vb) = (pa.get(key), pb.get(key));
        match (
            key.as_str(),
            va.and_then(Value::as_array),
            vb.and_then(Value::as_array),
        ) {
            ("rules", Some(ra), Some(rb)) => {
                for i in 0..ra.len().max(rb.len()) {
                    changes.extend(change(format!("rules[{i}]"), ra.get(i), rb.get(i)));
                }
            }
            _ => changes.extend(change(key.clone(), va, vb)),
        }
    }
    changes.extend(change("deleted".into(), a.get("deleted"), b.get("deleted")));
    let (sa, sb) = (store::snapshot_specs(a), store::snapshot_specs(b));
    let added: Vec<AssignmentSpec> = sb.iter().filter(|s| !sa.contains(s)).cloned().collect();
    let removed: Vec<AssignmentSpec> = sa.iter().filter(|s| !sb.contains(s)).cloned().collect();
    if !added.is_empty() || !removed.is_empty() {
        changes.push(FieldChange {
            field: "assignments".into(),
            change: "changed".into(),
            before: json!(sa),
            after: json!(sb),
        });
    }
    (changes, added, removed)
}

/// The field-level diff between two versions.
#[utoipa::path(get, operation_id = "diffVersions", path = "/api/v1/policies/{id}/versions/{a}/diff/{b}", tag = "versions",
    params(("id" = String, Path, description = "policy id"), ("a" = i64, Path, description = "from version"), ("b" = i64, Path, description = "to version")),
    responses((status = 200, body = Diff), (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn diff(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, a, b)): ApiPath<(String, i64, i64)>,
) -> ApiResult<Json<Diff>> {
    let mut conn = state.db.read.acquire().await?;
    let revision = policy_revision(&mut conn, &principal.org_id, &id).await?;
    let va = load_version(&mut *conn, &principal.org_id, &id, a, revision).await?;
    let vb = load_version(&mut *conn, &principal.org_id, &id, b, revision).await?;
    let null = Value::Null;
    let (changes, assignments_added, assignments_removed) = diff_snapshots(
        va.snapshot.as_ref().unwrap_or(&null),
        vb.snapshot.as_ref().unwrap_or(&null),
    );
    Ok(Json(Diff {
        from: a,
        to: b,
        changes,
        assignments_added,
        assignments_removed,
    }))
}

/// Restores the policy and its assignments as of version `n`, as a new version (also
/// restores a deleted policy).
#[utoipa::path(post, operation_id = "rollbackPolicy", path = "/api/v1/policies/{id}/versions/{n}/rollback", tag = "versions",
    params(("id" = String, Path, description = "policy id"), ("n" = i64, Path, description = "the version to restore"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "optional: the current revision", pattern = r#"^(W/)?("[0-9]{1,18}"|[0-9]{1,18})$"#)),
    responses((status = 200, description = "the restored policy; `ETag` is its new revision", body = verdict_api_model::PolicyResource),
        (status = 404, body = crate::openapi::ErrorBody), (status = 412, body = crate::openapi::ErrorBody),
        (status = 422, description = "the old version no longer validates (e.g. the catalog changed)", body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn rollback(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, n)): ApiPath<(String, i64)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    restore_version(&state, &principal, &headers, &id, Some(n)).await
}

/// Restores a policy as of version `n` (a rollback) or, without `n`, a deleted policy as
/// of its last version before the deletion (a restore); both write a new version and an
/// audit entry (`policy.rollback` or `policy.restore`).
pub(crate) async fn restore_version(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    id: &str,
    n: Option<i64>,
) -> ApiResult<Response> {
    principal.require_writer()?;
    let expected = if_match(headers)?;
    let org = principal.org_id.as_str();
    let id = id.to_string();
    let (action, audit_action) = match n {
        Some(_) => ("rollback", "policy.rollback"),
        None => ("restore", "policy.restore"),
    };
    let mut tx = state.db.write.begin().await?;
    let row = ensure_policy(&mut *tx, org, &id).await?;
    store::check_revision(expected, row.revision)?;
    let n = match n {
        Some(n) => n,
        None => {
            if row.deleted_at.is_none() {
                return Err(ApiError::new(
                    StatusCode::CONFLICT,
                    "not_deleted",
                    format!("policy `{id}` is not deleted"),
                ));
            }
            sqlx::query(
                // The last version in force before the delete: not a proposal under
                // review that was never published.
                &format!(
                    "SELECT MAX(v.version) FROM {VERSION_FROM} \
                     WHERE v.org_id = $1 AND v.policy_id = $2 AND v.action <> 'delete' \
                     AND (c.status IS NULL OR c.status = 'published')"
                ),
            )
            .bind(org)
            .bind(&id)
            .fetch_one(&mut *tx)
            .await?
            .try_get::<Option<i64>, _>(0)?
            .ok_or_else(|| ApiError::internal("a deleted policy without a version"))?
        }
    };
    let target = load_version(&mut *tx, org, &id, n, Some(row.revision)).await?;
    let snap = target.snapshot.unwrap_or(Value::Null);
    let (body, specs) = store::snapshot_parts(&snap)?;
    let catalog = store::catalog(&mut *tx, org).await?;
    store::validate(&catalog, vec![store::engine_policy(&body, &specs)])?;
    let before = store::latest_snapshot(&mut tx, org, &id).await?;
    let after = store::snapshot(&body, &specs, false);
    let changed = store::changed_fields(before.as_ref(), &after);
    if let Some(approvals) = crate::review::required(&mut *tx, org).await? {
        return crate::review::propose(
            tx,
            principal,
            &id,
            row.revision,
            "rollback",
            &after,
            &changed,
            approvals,
        )
        .await;
    }
    let revision = crate::review::next_version(&mut tx, org, &id, row.revision).await?;
    let updated = sqlx::query(
        "UPDATE policies SET body = $1, revision = $2, updated_at = $3, updated_by = $4, deleted_at = NULL \
         WHERE org_id = $5 AND id = $6 AND revision = $7",
    )
    .bind(Value::Object(body.clone()).to_string())
    .bind(revision)
    .bind(now_ms())
    .bind(&principal.user)
    .bind(org)
    .bind(&id)
    .bind(row.revision)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "stale_revision",
            "the policy changed during the rollback; read it again",
        ));
    }
    store::check_external_id(&mut tx, org, &id, &body).await?;
    store::sync_external_id(&mut tx, org, &id, &body).await?;
    store::set_assignments(&mut tx, org, &id, &specs, &principal.user).await?;
    store::write_version(
        &mut tx,
        org,
        &id,
        revision,
        action,
        &after,
        &changed,
        &principal.user,
    )
    .await?;
    let fields: Vec<&str> = changed.iter().map(String::as_str).collect();
    audit::record(
        &mut tx,
        org,
        &principal.user,
        audit_action,
        "policy",
        &id,
        &fields,
        Some(json!({ "revision": revision, "restored_version": n })),
    )
    .await?;
    store::bump_generation(&mut tx, org).await?;
    // After the generation's row lock: concurrent changes of the organization pass the
    // gate one after the other, each seeing the ones committed before it.
    crate::policy_tests::gate(&mut tx, principal, headers, audit_action).await?;
    let row = store::live_policy(&mut *tx, org, &id).await?;
    let assignments = store::assignments(&mut *tx, org, &id).await?;
    tx.commit().await?;
    state.changed(org);
    let mut response = (StatusCode::OK, Json(resource(&row, &assignments))).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{revision}\"")) {
        response.headers_mut().insert(header::ETAG, v);
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_reports_fields_rules_and_assignments() {
        let a = json!({"policy": {"id": "p", "priority": 1, "description": "d",
            "rules": [{"type": "deny", "table": "a"}, {"type": "deny", "table": "b"}]},
            "assignments": [{"kind": "role", "value": "x"}], "deleted": false});
        let b = json!({"policy": {"id": "p", "priority": 2, "name": "n",
            "rules": [{"type": "deny", "table": "a"}]},
            "assignments": [{"kind": "role", "value": "y"}], "deleted": true});
        let (changes, added, removed) = diff_snapshots(&a, &b);
        let fields: Vec<(&str, &str)> = changes
            .iter()
            .map(|c| (c.field.as_str(), c.change.as_str()))
            .collect();
        assert_eq!(
            fields,
            [
                ("description", "removed"),
                ("name", "added"),
                ("priority", "changed"),
                ("rules[1]", "removed"),
                ("deleted", "changed"),
                ("assignments", "changed"),
            ]
        );
        assert_eq!(added[0].value, "y");
        assert_eq!(removed[0].value, "x");
        assert!(diff_snapshots(&a, &a).0.is_empty());
    }
}
