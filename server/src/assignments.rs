//! `/api/v1/policies/{id}/assignments`: where a policy applies. An unassigned policy is
//! stored but inactive. Each change is a new version of the policy.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::audit;
use crate::auth::Principal;
use crate::db::now_ms;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::extract::{ApiPath, ApiQuery};
use crate::policies::if_match;
use crate::store::{self, Assignment, AssignmentSpec};
use crate::AppState;

/// The assignments of a policy.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct AssignmentList {
    pub items: Vec<Assignment>,
    /// The policy's revision after the change (also the `ETag`).
    pub revision: i64,
}

fn answer(status: StatusCode, items: Vec<Assignment>, revision: i64) -> Response {
    let mut response = (status, Json(AssignmentList { items, revision })).into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{revision}\"")) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// Lists the assignments of a policy.
#[utoipa::path(get, operation_id = "listAssignments", path = "/api/v1/policies/{id}/assignments", tag = "assignments",
    params(("id" = String, Path, description = "policy id")),
    responses((status = 200, body = AssignmentList), (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Response> {
    let mut conn = state.db.read.acquire().await?;
    let row = store::live_policy(&mut *conn, &principal.org_id, &id).await?;
    let items = store::assignments(&mut *conn, &principal.org_id, &id).await?;
    Ok(answer(StatusCode::OK, items, row.revision))
}

/// Applies `change` to a policy's assignments as a new version.
async fn change(
    state: &AppState,
    principal: &Principal,
    headers: &HeaderMap,
    id: &str,
    expected: Option<i64>,
    action: &str,
    change: impl FnOnce(Vec<AssignmentSpec>) -> ApiResult<Vec<AssignmentSpec>>,
) -> ApiResult<Response> {
    principal.require_writer()?;
    let org = principal.org_id.as_str();
    let mut tx = state.db.write.begin().await?;
    let row = store::live_policy(&mut *tx, org, id).await?;
    store::check_revision(expected, row.revision)?;
    let old: Vec<AssignmentSpec> = store::assignments(&mut *tx, org, id)
        .await?
        .iter()
        .map(Assignment::spec)
        .collect();
    let new = store::normalize_specs(change(old.clone())?)?;
    if new == old {
        let items = store::assignments(&mut *tx, org, id).await?;
        tx.commit().await?;
        return Ok(answer(StatusCode::OK, items, row.revision));
    }
    // Assignments change where the policy applies, never whether it validates, but the
    // engine is asked anyway so that a stored policy always loads.
    let catalog = store::catalog(&mut *tx, org).await?;
    store::validate(&catalog, vec![store::engine_policy(&row.body, &new)])?;
    if let Some(approvals) = crate::review::required(&mut *tx, org).await? {
        let after = store::snapshot(&row.body, &new, false);
        return crate::review::propose(
            tx,
            principal,
            id,
            row.revision,
            "assignments",
            &after,
            &["assignments".to_string()],
            approvals,
        )
        .await;
    }
    let revision = crate::review::next_version(&mut tx, org, id, row.revision).await?;
    let updated = sqlx::query(
        "UPDATE policies SET revision = $1, updated_at = $2, updated_by = $3 \
         WHERE org_id = $4 AND id = $5 AND revision = $6 AND deleted_at IS NULL",
    )
    .bind(revision)
    .bind(now_ms())
    .bind(&principal.user)
    .bind(org)
    .bind(id)
    .bind(row.revision)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "stale_revision",
            "the policy changed meanwhile; read it again",
        ));
    }
    // Keep the ids of assignments that stay.
    for spec in old.iter().filter(|s| !new.contains(s)) {
        sqlx::query("DELETE FROM assignments WHERE org_id = $1 AND policy_id = $2 AND kind = $3 AND value = $4")
            .bind(org)
            .bind(id)
            .bind(&spec.kind)
            .bind(&spec.value)
            .execute(&mut *tx)
            .await?;
    }
    let now = now_ms();
    for spec in new.iter().filter(|s| !old.contains(s)) {
        store::insert_assignment(&mut tx, org, id, spec, &principal.user, now).await?;
    }
    let after = store::snapshot(&row.body, &new, false);
    store::write_version(
        &mut tx,
        org,
        id,
        revision,
        "assignments",
        &after,
        &["assignments".to_string()],
        &principal.user,
    )
    .await?;
    let added: Vec<&AssignmentSpec> = new.iter().filter(|s| !old.contains(s)).collect();
    let removed: Vec<&AssignmentSpec> = old.iter().filter(|s| !new.contains(s)).collect();
    audit::record(
        &mut tx,
        org,
        &principal.user,
        action,
        "policy",
        id,
        &["assignments"],
        Some(json!({ "revision": revision, "added": added, "removed": removed })),
    )
    .await?;
    store::bump_generation(&mut tx, org).await?;
    // After the generation's row lock: concurrent changes of the organization pass the
    // gate one after the other, each seeing the ones committed before it.
    crate::policy_tests::gate(&mut tx, principal, headers, action).await?;
    let items = store::assignments(&mut *tx, org, id).await?;
    tx.commit().await?;
    state.changed(org);
    let status = if added.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(answer(status, items, revision))
}

/// Adds assignments: one `{kind, value}` object or an array of them. Adding one that
/// exists changes nothing.
#[utoipa::path(post, operation_id = "addAssignments", path = "/api/v1/policies/{id}/assignments", tag = "assignments",
    params(("id" = String, Path, description = "policy id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "optional: the policy's current revision", pattern = r#"^(W/)?("[0-9]{1,18}"|[0-9]{1,18})$"#)),
    request_body(content = verdict_api_model::AssignmentInput, description = "`{kind, value}` or an array of them; kinds: user, role, workspace, data_source, purpose, dataset, query"),
    responses((status = 201, description = "added", body = AssignmentList),
        (status = 200, description = "every assignment given was already there; nothing changed", body = AssignmentList), (status = 404, body = crate::openapi::ErrorBody), (status = 422, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn add(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiJson(value): ApiJson<Value>,
) -> ApiResult<Response> {
    let expected = if_match(&headers)?;
    let specs: Vec<AssignmentSpec> = match crate::policies::typed::<
        verdict_api_model::AssignmentInput,
    >(value, "invalid_request")
    .map_err(|e| {
        ApiError::invalid(format!(
            "an assignment is `{{\"kind\", \"value\"}}`, or a list of them: {}",
            e.message
        ))
    })? {
        verdict_api_model::AssignmentInput::One(one) => vec![one],
        verdict_api_model::AssignmentInput::Many(many) => many,
    };
    if specs.len() > verdict_api_model::policy::MAX_ITEMS {
        return Err(ApiError::invalid(format!(
            "give at most {} assignments at once",
            verdict_api_model::policy::MAX_ITEMS
        )));
    }
    if specs.is_empty() {
        return Err(ApiError::invalid("give at least one assignment"));
    }
    // Checked before the revision: a malformed assignment is wrong whatever the revision.
    store::normalize_specs(specs.clone())?;
    change(
        &state,
        &principal,
        &headers,
        &id,
        expected,
        "assignment.add",
        |mut old| {
            old.extend(specs);
            Ok(old)
        },
    )
    .await
}

/// Which assignment to remove, by kind and value.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RemoveQuery {
    #[param(pattern = "^(everyone|user|role|workspace|data_source|purpose|dataset|query)$")]
    pub kind: String,
    #[param(min_length = 1, max_length = 256)]
    pub value: String,
}

/// Removes the assignment with `kind` and `value` (query parameters).
#[utoipa::path(delete, operation_id = "removeAssignmentsByValue", path = "/api/v1/policies/{id}/assignments", tag = "assignments",
    params(("id" = String, Path, description = "policy id"), RemoveQuery,
        ("If-Match" = Option<String>, Header, nullable = false, description = "optional: the policy's current revision", pattern = r#"^(W/)?("[0-9]{1,18}"|[0-9]{1,18})$"#)),
    responses((status = 200, body = AssignmentList), (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn remove_by_value(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiQuery(q): ApiQuery<RemoveQuery>,
) -> ApiResult<Response> {
    // The query first: a malformed one is wrong whatever the revision.
    if q.value.is_empty() || q.value.chars().count() > 256 {
        return Err(ApiError::invalid("`value` must be 1 to 256 characters"));
    }
    let target = AssignmentSpec {
        kind: q.kind,
        value: q.value,
    };
    store::check_spec(&target)?;
    let expected = if_match(&headers)?;
    change(
        &state,
        &principal,
        &headers,
        &id,
        expected,
        "assignment.remove",
        |old| {
            if !old.contains(&target) {
                return Err(ApiError::not_found(
                    "assignment",
                    &format!("{}={}", target.kind, target.value),
                ));
            }
            Ok(old.into_iter().filter(|s| *s != target).collect())
        },
    )
    .await
}

/// Removes one assignment by its id.
#[utoipa::path(delete, operation_id = "removeAssignment", path = "/api/v1/policies/{id}/assignments/{assignment_id}", tag = "assignments",
    params(("id" = String, Path, description = "policy id"), ("assignment_id" = String, Path, description = "assignment id"),
        ("If-Match" = Option<String>, Header, nullable = false, description = "optional: the policy's current revision", pattern = r#"^(W/)?("[0-9]{1,18}"|[0-9]{1,18})$"#)),
    responses((status = 200, body = AssignmentList), (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn remove(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, assignment_id)): ApiPath<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let expected = if_match(&headers)?;
    let current = store::assignments(&state.db.read, &principal.org_id, &id).await?;
    let target = current
        .iter()
        .find(|a| a.id == assignment_id)
        .map(Assignment::spec)
        .ok_or_else(|| ApiError::not_found("assignment", &assignment_id))?;
    change(
        &state,
        &principal,
        &headers,
        &id,
        expected,
        "assignment.remove",
        |old| {
            if !old.contains(&target) {
                return Err(ApiError::not_found("assignment", &assignment_id));
            }
            Ok(old.into_iter().filter(|s| *s != target).collect())
        },
    )
    .await
}
