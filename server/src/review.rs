//! Change review (issue 21): with the organization's `review.required` setting on, a change
//! to a policy does not touch what is enforced; it becomes a *change request*, a proposed
//! version in `policy_versions` with a row in `change_requests`, which goes `draft` →
//! `in_review` → `approved` → published (`active`), or `rejected`.
//!
//! `policies` keeps holding the enforced (active) version of every policy, so evaluations,
//! dry runs and the proxy's active set read only active versions without knowing about
//! review. Publishing applies the proposed snapshot to `policies` with a conditional
//! update on the revision the change was made against: of two concurrent publishes of one
//! policy, exactly one changes the row and the other answers 409.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use sqlx::any::AnyRow;
use sqlx::Row;
use verdict_api_model::{
    CatalogProposal, ChangeRequest, ChangeRequestPage, ChangeStatus, ChangeTarget, Review,
    ReviewDecision, ReviewInput,
};

use crate::audit::{self, Tx};
use crate::auth::{Principal, Role};
use crate::db::{format_time, now_ms};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, ApiQuery};
use crate::store;
use crate::AppState;
use verdict_engine::ProblemKind;

/// The longest review comment kept.
const MAX_COMMENT_CHARS: usize = 4000;

/// The approvals a change needs when the organization requires review; `None` when it
/// does not.
pub async fn required<'e, E>(exec: E, org: &str) -> ApiResult<Option<i64>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query("SELECT review_required, review_approvals FROM orgs WHERE id = $1")
        .bind(org)
        .fetch_one(exec)
        .await?;
    let on: i64 = row.try_get(0)?;
    Ok((on != 0).then_some(row.try_get(1)?))
}

/// The number the next version of a policy takes: past its revision and past every
/// version, proposed ones included.
pub async fn next_version(tx: &mut Tx, org: &str, policy: &str, revision: i64) -> ApiResult<i64> {
    let row = sqlx::query(
        "SELECT MAX(version) FROM policy_versions WHERE org_id = $1 AND policy_id = $2",
    )
    .bind(org)
    .bind(policy)
    .fetch_one(&mut **tx)
    .await?;
    let latest: Option<i64> = row.try_get(0)?;
    Ok(latest.unwrap_or(0).max(revision) + 1)
}

/// Records a change as a change request instead of applying it: a new version holding
/// `snapshot`, in status `draft`, made against `base_revision` (0 for a new policy).
/// `policy` is the policy's id, or [`CATALOG`] for a catalog change. Commits `tx` and
/// answers 202 with the change request.
#[allow(clippy::too_many_arguments)]
pub async fn propose(
    mut tx: Tx,
    principal: &Principal,
    policy: &str,
    base_revision: i64,
    action: &str,
    snapshot: &Value,
    changed: &[String],
    approvals_required: i64,
) -> ApiResult<Response> {
    let org = principal.org_id.as_str();
    // The organization's row lock: concurrent proposals take version numbers one after
    // the other (each sees the versions committed before it).
    sqlx::query("UPDATE orgs SET review_approvals = review_approvals WHERE id = $1")
        .bind(org)
        .execute(&mut *tx)
        .await?;
    // Catalog versions count catalog change requests only (the catalog's revision counts
    // what was applied); a policy's versions go on from its revision.
    let floor = if policy == CATALOG { 0 } else { base_revision };
    let version = next_version(&mut tx, org, policy, floor).await?;
    store::write_version(
        &mut tx,
        org,
        policy,
        version,
        action,
        snapshot,
        changed,
        &principal.user,
    )
    .await?;
    let now = now_ms();
    sqlx::query(
        "INSERT INTO change_requests (org_id, policy_id, version, action, status, author, \
         base_revision, created_at, updated_at) VALUES ($1, $2, $3, $4, 'draft', $5, $6, $7, $7)",
    )
    .bind(org)
    .bind(policy)
    .bind(version)
    .bind(action)
    .bind(&principal.user)
    .bind(base_revision)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    let fields: Vec<&str> = changed.iter().map(String::as_str).collect();
    audit::record(
        &mut tx,
        org,
        &principal.user,
        "change_request.create",
        "change_request",
        &object_id(policy, version),
        &fields,
        Some(json!({ "policy_id": (!policy.is_empty()).then_some(policy), "version": version, "action": action, "base_revision": base_revision })),
    )
    .await?;
    let request = load(&mut tx, org, policy, version, approvals_required).await?;
    tx.commit().await?;
    let mut response = (StatusCode::ACCEPTED, Json(request)).into_response();
    if let Ok(v) = HeaderValue::from_str(&version_path(policy, version)) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// The operations that, while the organization requires review, answer 202 with a change
/// request instead of applying the change.
const PROPOSING_OPERATIONS: &[&str] = &[
    "putCatalog",
    "createPolicy",
    "replacePolicy",
    "patchPolicy",
    "deletePolicy",
    "rollbackPolicy",
    "addAssignments",
    "removeAssignmentsByValue",
    "removeAssignment",
];

/// Documents the 202 of an operation that review turns into a change request.
pub fn document_proposal(op: &mut utoipa::openapi::path::Operation) {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let proposing = op
        .operation_id
        .as_deref()
        .is_some_and(|id| PROPOSING_OPERATIONS.contains(&id));
    if !proposing || op.responses.responses.contains_key("202") {
        return;
    }
    let response = ResponseBuilder::new()
        .description(
            "the organization requires review: the change is recorded as a change request \
             (status `draft`, not enforced); `Location` is its proposed version",
        )
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ChangeRequest")))
                .build(),
        )
        .build();
    op.responses
        .responses
        .insert("202".to_string(), response.into());
}

/// The key of catalog change requests where a policy id goes (no policy id is empty):
/// their versions are numbered in `policy_versions` under it.
pub const CATALOG: &str = "";

fn object_id(policy: &str, version: i64) -> String {
    if policy == CATALOG {
        format!("catalog@{version}")
    } else {
        format!("{policy}@{version}")
    }
}

fn version_path(policy: &str, version: i64) -> String {
    if policy == CATALOG {
        format!("/api/v1/catalog/versions/{version}")
    } else {
        format!("/api/v1/policies/{policy}/versions/{version}")
    }
}

/// Refuses an empty policy id in a policy's path (the key of catalog change requests).
fn policy_key(id: &str) -> ApiResult<()> {
    if id == CATALOG {
        return Err(ApiError::not_found("policy", id));
    }
    Ok(())
}

/// The key of a change request: its policy id, or [`CATALOG`].
fn key(request: &ChangeRequest) -> &str {
    request.policy_id.as_deref().unwrap_or(CATALOG)
}

/// The revision in force of what a change request changes: the policy's, or for the
/// catalog, the change request's own version while the catalog is at the revision its
/// publishing made (revisions only grow, so at most one published change matches).
const CURRENT_REVISION: &str = "CASE WHEN c.policy_id = '' THEN (SELECT CASE WHEN \
     g.catalog_revision = c.base_revision + 1 THEN c.version ELSE 0 END FROM orgs g \
     WHERE g.id = c.org_id) ELSE p.revision END";

const REQUEST_COLUMNS: &str = "c.policy_id, c.version, c.action, c.status, c.author, \
     c.base_revision, c.created_at, c.updated_at, c.published_at, c.published_by, \
     v.changed_fields";

const REQUEST_FROM: &str = "change_requests c \
     JOIN policy_versions v ON v.org_id = c.org_id AND v.policy_id = c.policy_id AND v.version = c.version \
     LEFT JOIN policies p ON p.org_id = c.org_id AND p.id = c.policy_id";

/// The status a client sees: a published version is `active` while the policy is at its
/// revision, `archived` once another version replaced it.
fn shown_status(stored: &str, version: i64, current_revision: Option<i64>) -> ChangeStatus {
    match stored {
        "published" if current_revision == Some(version) => ChangeStatus::Active,
        "published" => ChangeStatus::Archived,
        other => ChangeStatus::parse(other).unwrap_or(ChangeStatus::Draft),
    }
}

/// The status of a version in the versions list: its change request's, or for a version
/// written directly, `active` when it is the policy's revision and `archived` otherwise.
pub fn version_status(
    version: i64,
    stored: Option<&str>,
    current_revision: Option<i64>,
) -> ChangeStatus {
    match stored {
        Some(stored) => shown_status(stored, version, current_revision),
        None if current_revision == Some(version) => ChangeStatus::Active,
        None => ChangeStatus::Archived,
    }
}

async fn reviews<'e, E>(exec: E, org: &str, policy: &str, version: i64) -> ApiResult<Vec<Review>>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let rows = sqlx::query(
        "SELECT reviewer, decision, comment, created_at FROM change_reviews \
         WHERE org_id = $1 AND policy_id = $2 AND version = $3 ORDER BY created_at, reviewer",
    )
    .bind(org)
    .bind(policy)
    .bind(version)
    .fetch_all(exec)
    .await?;
    rows.iter()
        .map(|r| {
            let decision: String = r.try_get(1)?;
            Ok(Review {
                reviewer: r.try_get(0)?,
                decision: if decision == "approve" {
                    ReviewDecision::Approve
                } else {
                    ReviewDecision::Reject
                },
                comment: r.try_get(2)?,
                created_at: format_time(r.try_get(3)?),
            })
        })
        .collect()
}

/// A change request row without its reviews.
fn request_row(row: &AnyRow, approvals_required: i64) -> ApiResult<ChangeRequest> {
    let version: i64 = row.try_get(1)?;
    let stored: String = row.try_get(3)?;
    let changed: String = row.try_get(10)?;
    let published_at: Option<i64> = row.try_get(8)?;
    let policy: String = row.try_get(0)?;
    let target = if policy == CATALOG {
        ChangeTarget::Catalog
    } else {
        ChangeTarget::Policy
    };
    Ok(ChangeRequest {
        target,
        policy_id: (target == ChangeTarget::Policy).then_some(policy),
        version,
        action: row.try_get(2)?,
        status: shown_status(&stored, version, row.try_get(11)?),
        author: row.try_get(4)?,
        base_revision: row.try_get(5)?,
        changed_fields: serde_json::from_str(&changed).unwrap_or_default(),
        approvals: 0,
        approvals_required,
        reviews: Vec::new(),
        created_at: format_time(row.try_get(6)?),
        updated_at: format_time(row.try_get(7)?),
        published_by: row.try_get(9)?,
        published_at: published_at.map(format_time),
    })
}

/// Fills in the reviews of a change request.
async fn with_reviews(
    conn: &mut sqlx::AnyConnection,
    org: &str,
    mut request: ChangeRequest,
) -> ApiResult<ChangeRequest> {
    request.reviews = reviews(&mut *conn, org, key(&request), request.version).await?;
    request.approvals = approvals(&request.reviews);
    Ok(request)
}

fn approvals(reviews: &[Review]) -> i64 {
    let n = reviews
        .iter()
        .filter(|r| r.decision == ReviewDecision::Approve)
        .count();
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// One change request, or 404.
async fn load(
    conn: &mut sqlx::AnyConnection,
    org: &str,
    policy: &str,
    version: i64,
    approvals_required: i64,
) -> ApiResult<ChangeRequest> {
    let row = sqlx::query(&format!(
        "SELECT {REQUEST_COLUMNS}, {CURRENT_REVISION} FROM {REQUEST_FROM} \
         WHERE c.org_id = $1 AND c.policy_id = $2 AND c.version = $3"
    ))
    .bind(org)
    .bind(policy)
    .bind(version)
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| {
        ApiError::not_found("change request", &object_id(policy, version)).with_details(json!({
            "hint": "only versions proposed while the organization requires review are change requests"
        }))
    })?;
    let request = request_row(&row, approvals_required)?;
    with_reviews(conn, org, request).await
}

/// The approvals the organization's changes need now (1 when review is off: a change
/// request proposed while it was on still needs one).
async fn approvals_required<'e, E>(exec: E, org: &str) -> ApiResult<i64>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query("SELECT review_approvals FROM orgs WHERE id = $1")
        .bind(org)
        .fetch_one(exec)
        .await?;
    Ok(row.try_get::<i64, _>(0)?.max(1))
}

/// 409 for a step the change request's status does not allow.
fn wrong_state(request: &ChangeRequest, step: &str, needs: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "invalid_transition",
        format!(
            "change request `{}` is `{}`; only a change request that is `{needs}` can be {step}",
            object_id(key(request), request.version),
            request.status.as_str()
        ),
    )
    .with_details(json!({ "status": request.status, "required_status": needs }))
}

/// Takes the change request's row lock for the rest of `tx` before it is read, so that
/// concurrent steps on one change request (two approvals, two publishes) run one after the
/// other, each reading what the one before committed.
async fn lock(tx: &mut Tx, org: &str, key: &str, version: i64) -> ApiResult<()> {
    sqlx::query(
        "UPDATE change_requests SET updated_at = updated_at \
         WHERE org_id = $1 AND policy_id = $2 AND version = $3",
    )
    .bind(org)
    .bind(key)
    .bind(version)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Moves a change request from `from` to `to` if it is still in `from`; 409 otherwise (a
/// concurrent step got there first).
async fn transition(
    tx: &mut Tx,
    org: &str,
    request: &ChangeRequest,
    from: &str,
    to: &str,
    published_by: Option<&str>,
) -> ApiResult<()> {
    let now = now_ms();
    let updated = sqlx::query(
        "UPDATE change_requests SET status = $1, updated_at = $2, \
         published_at = CASE WHEN $3 = 1 THEN $2 ELSE published_at END, \
         published_by = CASE WHEN $3 = 1 THEN $4 ELSE published_by END \
         WHERE org_id = $5 AND policy_id = $6 AND version = $7 AND status = $8",
    )
    .bind(to)
    .bind(now)
    .bind(i64::from(published_by.is_some()))
    .bind(published_by.unwrap_or(""))
    .bind(org)
    .bind(key(request))
    .bind(request.version)
    .bind(from)
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_transition",
            format!(
                "change request `{}` changed meanwhile; read it again",
                object_id(key(request), request.version)
            ),
        ));
    }
    Ok(())
}

/// Submits a draft change request for review (its author or an admin).
#[utoipa::path(post, operation_id = "submitChangeRequest", path = "/api/v1/policies/{id}/versions/{n}/submit", tag = "review",
    params(("id" = String, Path, description = "policy id"), ("n" = i64, Path, description = "the proposed version")),
    responses((status = 200, description = "the change request, now `in_review`", body = ChangeRequest),
        (status = 404, body = crate::openapi::ErrorBody),
        (status = 409, description = "the change request is not a `draft` (`invalid_transition`)", body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn submit(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, n)): ApiPath<(String, i64)>,
) -> ApiResult<Json<ChangeRequest>> {
    policy_key(&id)?;
    submit_in(state, principal, id, n).await
}

/// Submits a draft catalog change request for review (its author or an admin).
#[utoipa::path(post, operation_id = "submitCatalogChange", path = "/api/v1/catalog/versions/{n}/submit", tag = "review",
    params(("n" = i64, Path, description = "the proposed catalog version")),
    responses((status = 200, description = "the change request, now `in_review`", body = ChangeRequest),
        (status = 404, body = crate::openapi::ErrorBody),
        (status = 409, description = "the change request is not a `draft` (`invalid_transition`)", body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn submit_catalog(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(n): ApiPath<i64>,
) -> ApiResult<Json<ChangeRequest>> {
    submit_in(state, principal, CATALOG.to_string(), n).await
}

async fn submit_in(
    state: AppState,
    principal: Principal,
    id: String,
    n: i64,
) -> ApiResult<Json<ChangeRequest>> {
    principal.require_writer()?;
    let org = principal.org_id.as_str();
    let mut tx = state.db.write.begin().await?;
    lock(&mut tx, org, &id, n).await?;
    let required = approvals_required(&mut *tx, org).await?;
    let request = load(&mut tx, org, &id, n, required).await?;
    if request.author != principal.user && principal.role != Role::Admin {
        return Err(ApiError::forbidden(
            "only the author of a change request or an admin may submit it",
        ));
    }
    if request.status != ChangeStatus::Draft {
        return Err(wrong_state(&request, "submitted", "draft"));
    }
    transition(&mut tx, org, &request, "draft", "in_review", None).await?;
    audit::record(
        &mut tx,
        org,
        &principal.user,
        "change_request.submit",
        "change_request",
        &object_id(&id, n),
        &["status"],
        Some(json!({ "policy_id": id, "version": n, "status": "in_review" })),
    )
    .await?;
    let request = load(&mut tx, org, &id, n, required).await?;
    tx.commit().await?;
    Ok(Json(request))
}

/// Approves or rejects a change request that is in review, with a comment. Reviewers are
/// editors or admins other than the author; once it has the approvals the organization
/// requires, it is `approved`; one rejection makes it `rejected`.
#[utoipa::path(post, operation_id = "reviewChangeRequest", path = "/api/v1/policies/{id}/versions/{n}/review", tag = "review",
    params(("id" = String, Path, description = "policy id"), ("n" = i64, Path, description = "the proposed version")),
    request_body = ReviewInput,
    responses((status = 200, description = "the change request with the review", body = ChangeRequest),
        (status = 403, description = "a viewer, or the author approving their own change (`self_approval`)", body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody),
        (status = 409, description = "the change request is not `in_review` (`invalid_transition`), or the caller reviewed it already (`already_reviewed`)", body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn review(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, n)): ApiPath<(String, i64)>,
    ApiJson(value): ApiJson<Value>,
) -> ApiResult<Json<ChangeRequest>> {
    policy_key(&id)?;
    review_in(state, principal, id, n, value).await
}

/// Approves or rejects a catalog change request that is in review, with a comment.
#[utoipa::path(post, operation_id = "reviewCatalogChange", path = "/api/v1/catalog/versions/{n}/review", tag = "review",
    params(("n" = i64, Path, description = "the proposed catalog version")),
    request_body = ReviewInput,
    responses((status = 200, description = "the change request with the review", body = ChangeRequest),
        (status = 403, description = "a viewer, or the author approving their own change (`self_approval`)", body = crate::openapi::ErrorBody),
        (status = 404, body = crate::openapi::ErrorBody),
        (status = 409, description = "the change request is not `in_review` (`invalid_transition`), or the caller reviewed it already (`already_reviewed`)", body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn review_catalog(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(n): ApiPath<i64>,
    ApiJson(value): ApiJson<Value>,
) -> ApiResult<Json<ChangeRequest>> {
    review_in(state, principal, CATALOG.to_string(), n, value).await
}

async fn review_in(
    state: AppState,
    principal: Principal,
    id: String,
    n: i64,
    value: Value,
) -> ApiResult<Json<ChangeRequest>> {
    principal.require_writer()?;
    let input: ReviewInput = crate::policies::typed(value, "invalid_request")?;
    if let Some(comment) = &input.comment {
        if comment.chars().count() > MAX_COMMENT_CHARS || comment.contains('\0') {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                format!("`comment` holds at most {MAX_COMMENT_CHARS} characters and no NUL"),
            )
            .with_problem(
                ProblemKind::InvalidValue,
                "comment",
                format!("at most {MAX_COMMENT_CHARS} characters, no NUL"),
            ));
        }
    }
    let org = principal.org_id.as_str();
    let mut tx = state.db.write.begin().await?;
    lock(&mut tx, org, &id, n).await?;
    let required = approvals_required(&mut *tx, org).await?;
    let request = load(&mut tx, org, &id, n, required).await?;
    if request.status != ChangeStatus::InReview {
        return Err(wrong_state(&request, "reviewed", "in_review"));
    }
    if input.decision == ReviewDecision::Approve && request.author == principal.user {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "self_approval",
            "the author of a change cannot approve it; another editor or admin must",
        ));
    }
    if request.reviews.iter().any(|r| r.reviewer == principal.user) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "already_reviewed",
            format!(
                "`{}` has reviewed change request `{}` already",
                principal.user,
                object_id(&id, n)
            ),
        ));
    }
    let decision = match input.decision {
        ReviewDecision::Approve => "approve",
        ReviewDecision::Reject => "reject",
    };
    sqlx::query(
        "INSERT INTO change_reviews (org_id, policy_id, version, reviewer, decision, comment, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(org)
    .bind(&id)
    .bind(n)
    .bind(&principal.user)
    .bind(decision)
    .bind(input.comment.clone())
    .bind(now_ms())
    .execute(&mut *tx)
    .await?;
    let approved = approvals(&request.reviews) + 1;
    let next = match input.decision {
        ReviewDecision::Reject => Some("rejected"),
        ReviewDecision::Approve if approved >= required => Some("approved"),
        ReviewDecision::Approve => None,
    };
    if let Some(next) = next {
        transition(&mut tx, org, &request, "in_review", next, None).await?;
    }
    audit::record(
        &mut tx,
        org,
        &principal.user,
        "change_request.review",
        "change_request",
        &object_id(&id, n),
        &["reviews"],
        Some(json!({
            "policy_id": id, "version": n, "decision": decision,
            "comment": input.comment, "status": next.unwrap_or("in_review"),
        })),
    )
    .await?;
    let request = load(&mut tx, org, &id, n, required).await?;
    tx.commit().await?;
    Ok(Json(request))
}

/// Publishes an approved change request: its version becomes the policy's active one (the
/// previous active version is archived). It is checked again first: against the current
/// catalog (422), and with the organization's policy tests on the set it would make active
/// (422 `policy_tests_failed` unless an admin overrides with `Verdict-Override-Reason`,
/// audited). The policy must still be at the revision the change was made against (409
/// `stale_change`); of concurrent publishes of one policy exactly one succeeds.
#[utoipa::path(post, operation_id = "publishChangeRequest", path = "/api/v1/policies/{id}/versions/{n}/publish", tag = "review",
    params(("id" = String, Path, description = "policy id"), ("n" = i64, Path, description = "the proposed version")),
    responses((status = 200, description = "the change request, now `active`", body = ChangeRequest),
        (status = 404, body = crate::openapi::ErrorBody),
        (status = 409, description = "not `approved` or not enough approvals (`invalid_transition`), or the policy changed since the change was proposed (`stale_change`)", body = crate::openapi::ErrorBody),
        (status = 422, description = "the version no longer validates against the catalog, or the policy tests fail (`policy_tests_failed`)", body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn publish(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath((id, n)): ApiPath<(String, i64)>,
    headers: HeaderMap,
) -> ApiResult<Json<ChangeRequest>> {
    policy_key(&id)?;
    publish_in(state, principal, id, n, headers).await
}

/// Publishes an approved catalog change request: it becomes the catalog, after it is
/// checked again against every stored policy (422) and the policy tests are run (422
/// `policy_tests_failed` unless an admin overrides with `Verdict-Override-Reason`,
/// audited). The catalog must still be at the revision the change was made against (409
/// `stale_change`).
#[utoipa::path(post, operation_id = "publishCatalogChange", path = "/api/v1/catalog/versions/{n}/publish", tag = "review",
    params(("n" = i64, Path, description = "the proposed catalog version")),
    responses((status = 200, description = "the change request, now `active`", body = ChangeRequest),
        (status = 404, body = crate::openapi::ErrorBody),
        (status = 409, description = "not `approved` or not enough approvals (`invalid_transition`), or the catalog changed since the change was proposed (`stale_change`)", body = crate::openapi::ErrorBody),
        (status = 422, description = "a stored policy does not validate against the catalog, or the policy tests fail (`policy_tests_failed`)", body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn publish_catalog(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(n): ApiPath<i64>,
    headers: HeaderMap,
) -> ApiResult<Json<ChangeRequest>> {
    publish_in(state, principal, CATALOG.to_string(), n, headers).await
}

async fn publish_in(
    state: AppState,
    principal: Principal,
    id: String,
    n: i64,
    headers: HeaderMap,
) -> ApiResult<Json<ChangeRequest>> {
    principal.require_writer()?;
    let org = principal.org_id.as_str();
    let mut tx = state.db.write.begin().await?;
    lock(&mut tx, org, &id, n).await?;
    let required = approvals_required(&mut *tx, org).await?;
    let request = load(&mut tx, org, &id, n, required).await?;
    if request.status != ChangeStatus::Approved {
        return Err(wrong_state(&request, "published", "approved"));
    }
    if request.approvals < required {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "invalid_transition",
            format!(
                "change request `{}` has {} of the {required} approvals the organization now requires",
                object_id(&id, n),
                request.approvals
            ),
        )
        .with_details(json!({ "approvals": request.approvals, "approvals_required": required })));
    }
    let snapshot = version_snapshot(&mut tx, org, &id, n).await?;
    if id == CATALOG {
        publish_catalog_in(&state, &mut tx, org, &request, &snapshot).await?;
    } else {
        publish_policy_in(
            &state,
            &mut tx,
            &principal.user,
            org,
            &id,
            n,
            &request,
            &snapshot,
        )
        .await?;
    }
    transition(
        &mut tx,
        org,
        &request,
        "approved",
        "published",
        Some(&principal.user),
    )
    .await?;
    let fields: Vec<&str> = request.changed_fields.iter().map(String::as_str).collect();
    let approvers: Vec<&str> = request
        .reviews
        .iter()
        .filter(|r| r.decision == ReviewDecision::Approve)
        .map(|r| r.reviewer.as_str())
        .collect();
    audit::record(
        &mut tx,
        org,
        &principal.user,
        "change_request.publish",
        "change_request",
        &object_id(&id, n),
        &fields,
        Some(json!({
            "policy_id": id, "version": n, "action": request.action,
            "author": request.author, "approvers": approvers,
            "previous_revision": request.base_revision,
        })),
    )
    .await?;
    store::bump_generation(&mut tx, org).await?;
    // After the generation's row lock: concurrent changes of the organization pass the
    // gate one after the other, each seeing the ones committed before it.
    crate::policy_tests::gate(&mut tx, &principal, &headers, "change_request.publish").await?;
    let request = load(&mut tx, org, &id, n, required).await?;
    tx.commit().await?;
    state.changed(org);
    Ok(Json(request))
}

/// Writes a published policy version into `policies` (and its assignments); 409
/// `stale_change` when the policy is no longer at the change's base revision.
#[allow(clippy::too_many_arguments)]
async fn publish_policy_in(
    state: &AppState,
    tx: &mut Tx,
    actor: &str,
    org: &str,
    id: &str,
    n: i64,
    request: &ChangeRequest,
    snapshot: &Value,
) -> ApiResult<()> {
    let (body, specs) = store::snapshot_parts(snapshot)?;
    let deleted = snapshot
        .get("deleted")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let current = store::load_policy(&mut **tx, org, id).await?;
    let current_revision = current.as_ref().map_or(0, |p| p.revision);
    if current_revision != request.base_revision {
        return Err(stale_change(request, current_revision));
    }
    if !deleted {
        let catalog = store::catalog(&mut **tx, org).await?;
        store::validate(&catalog, vec![store::engine_policy(&body, &specs)])?;
    }
    // The conditional write decides between concurrent publishes: the row changes only if
    // it is still at the base revision (on PostgreSQL a second writer waits for the first
    // one's row lock, then finds the revision moved on and changes nothing).
    let won = apply(tx, actor, org, id, n, request, &body, deleted).await?;
    if !won {
        let mut conn = state.db.read.acquire().await?;
        let now_at = store::load_policy(&mut *conn, org, id)
            .await?
            .map_or(0, |p| p.revision);
        return Err(stale_change(request, now_at));
    }
    store::set_assignments(tx, org, id, &specs, actor).await?;
    Ok(())
}

/// Makes a published catalog version the catalog; 409 `stale_change` when the catalog is
/// no longer at the change's base revision, 422 when a stored policy does not validate.
async fn publish_catalog_in(
    state: &AppState,
    tx: &mut Tx,
    org: &str,
    request: &ChangeRequest,
    snapshot: &Value,
) -> ApiResult<()> {
    let catalog = snapshot.get("catalog").cloned().unwrap_or(Value::Null);
    let current = crate::catalog::revision(&mut **tx, org).await?;
    if current != request.base_revision {
        return Err(stale_change(request, current));
    }
    crate::catalog::validate_with_policies(tx, org, &catalog).await?;
    let updated = sqlx::query(
        "UPDATE orgs SET catalog = $1, catalog_revision = $2 WHERE id = $3 AND catalog_revision = $4",
    )
    .bind((!catalog.is_null()).then(|| catalog.to_string()))
    .bind(request.base_revision + 1)
    .bind(org)
    .bind(request.base_revision)
    .execute(&mut **tx)
    .await?;
    if updated.rows_affected() != 1 {
        let now_at = crate::catalog::revision(&state.db.read, org).await?;
        return Err(stale_change(request, now_at));
    }
    Ok(())
}

fn stale_change(request: &ChangeRequest, current_revision: i64) -> ApiError {
    let what = match &request.policy_id {
        Some(id) => format!("policy `{id}`"),
        None => "the catalog".to_string(),
    };
    ApiError::new(
        StatusCode::CONFLICT,
        "stale_change",
        format!(
            "{what} is at revision {current_revision}, not the revision {} this change was made against; propose the change again on the current version",
            request.base_revision
        ),
    )
    .with_details(json!({
        "current_revision": current_revision,
        "base_revision": request.base_revision,
    }))
}

/// Writes the proposed version into `policies` if the policy is still at the change's base
/// revision; `false` when it is not (another publish or change won).
#[allow(clippy::too_many_arguments)]
async fn apply(
    tx: &mut Tx,
    actor: &str,
    org: &str,
    id: &str,
    version: i64,
    request: &ChangeRequest,
    body: &Map<String, Value>,
    deleted: bool,
) -> ApiResult<bool> {
    let now = now_ms();
    let text = Value::Object(body.clone()).to_string();
    let deleted_at = deleted.then_some(now);
    let changed = if request.base_revision == 0 {
        sqlx::query(
            "INSERT INTO policies (org_id, id, body, revision, created_at, created_by, updated_at, updated_by, deleted_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $5, $6, $7) ON CONFLICT (org_id, id) DO NOTHING",
        )
        .bind(org)
        .bind(id)
        .bind(&text)
        .bind(version)
        .bind(now)
        .bind(actor)
        .bind(deleted_at)
        .execute(&mut **tx)
        .await?
    } else {
        sqlx::query(
            "UPDATE policies SET body = $1, revision = $2, updated_at = $3, updated_by = $4, \
             deleted_at = $5 WHERE org_id = $6 AND id = $7 AND revision = $8",
        )
        .bind(&text)
        .bind(version)
        .bind(now)
        .bind(actor)
        .bind(deleted_at)
        .bind(org)
        .bind(id)
        .bind(request.base_revision)
        .execute(&mut **tx)
        .await?
    };
    if changed.rows_affected() == 1 {
        store::sync_external_id(tx, org, id, body).await?;
    }
    Ok(changed.rows_affected() == 1)
}

async fn version_snapshot(tx: &mut Tx, org: &str, id: &str, version: i64) -> ApiResult<Value> {
    let row = sqlx::query(
        "SELECT snapshot FROM policy_versions WHERE org_id = $1 AND policy_id = $2 AND version = $3",
    )
    .bind(org)
    .bind(id)
    .bind(version)
    .fetch_one(&mut **tx)
    .await?;
    let text: String = row.try_get(0)?;
    serde_json::from_str(&text).map_err(ApiError::internal)
}

/// Query of `GET /api/v1/change-requests`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Page size, 1–500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Only change requests in this status.
    #[param(value_type = Option<ChangeStatus>)]
    pub status: Option<String>,
    /// Only change requests by this author.
    pub author: Option<String>,
    /// Only change requests this user reviewed.
    pub reviewer: Option<String>,
    /// Only change requests of this policy.
    pub policy_id: Option<String>,
    /// Only changes of policies, or only of the catalog.
    #[param(value_type = Option<ChangeTarget>)]
    pub target: Option<String>,
}

enum Bind {
    Int(i64),
    Text(String),
}

/// Adds a condition whose one `?` is the next placeholder, bound to `value`.
fn add(binds: &mut Vec<Bind>, conditions: &mut Vec<String>, condition: &str, value: Bind) {
    binds.push(value);
    conditions.push(condition.replace('?', &format!("${}", binds.len())));
}

/// Lists the organization's change requests, newest first.
#[utoipa::path(get, operation_id = "listChangeRequests", path = "/api/v1/change-requests", tag = "review",
    params(ListQuery),
    responses((status = 200, body = ChangeRequestPage)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<ChangeRequestPage>> {
    let limit = crate::pagination::limit(q.limit, 50)?;
    let org = principal.org_id.as_str();
    let mut binds = vec![Bind::Text(org.to_string())];
    let mut conditions = vec!["c.org_id = $1".to_string()];
    if let Some(status) = &q.status {
        let status = ChangeStatus::parse(status).ok_or_else(|| {
            ApiError::bad_request(format!(
                "`status` must be one of {}",
                ChangeStatus::ALL.map(|(n, _)| n).join(", ")
            ))
        })?;
        match status {
            ChangeStatus::Active => conditions.push(format!(
                "c.status = 'published' AND {CURRENT_REVISION} = c.version"
            )),
            ChangeStatus::Archived => conditions.push(format!(
                "c.status = 'published' AND COALESCE({CURRENT_REVISION}, 0) <> c.version"
            )),
            other => add(
                &mut binds,
                &mut conditions,
                "c.status = ?",
                Bind::Text(other.as_str().into()),
            ),
        }
    }
    if let Some(author) = &q.author {
        add(
            &mut binds,
            &mut conditions,
            "c.author = ?",
            Bind::Text(author.clone()),
        );
    }
    if let Some(reviewer) = &q.reviewer {
        add(
            &mut binds,
            &mut conditions,
            "EXISTS (SELECT 1 FROM change_reviews r WHERE r.org_id = c.org_id \
             AND r.policy_id = c.policy_id AND r.version = c.version AND r.reviewer = ?)",
            Bind::Text(reviewer.clone()),
        );
    }
    match q.target.as_deref() {
        None => {}
        Some("policy") => conditions.push("c.policy_id <> ''".to_string()),
        Some("catalog") => conditions.push("c.policy_id = ''".to_string()),
        Some(_) => {
            return Err(ApiError::bad_request(
                "`target` must be `policy` or `catalog`",
            ))
        }
    }
    if let Some(policy) = &q.policy_id {
        add(
            &mut binds,
            &mut conditions,
            "c.policy_id = ?",
            Bind::Text(policy.clone()),
        );
    }
    if let Some(cursor) = &q.cursor {
        let (at, policy, version): (i64, String, i64) = crate::pagination::decode_cursor(cursor)?;
        binds.push(Bind::Int(at));
        binds.push(Bind::Text(policy));
        binds.push(Bind::Int(version));
        let n = binds.len();
        conditions.push(format!(
            "(c.created_at < ${a} OR (c.created_at = ${a} AND (c.policy_id < ${b} \
             OR (c.policy_id = ${b} AND c.version < ${n}))))",
            a = n - 2,
            b = n - 1,
        ));
    }
    binds.push(Bind::Int(limit + 1));
    let sql = format!(
        "SELECT {REQUEST_COLUMNS}, {CURRENT_REVISION} FROM {REQUEST_FROM} WHERE {} \
         ORDER BY c.created_at DESC, c.policy_id DESC, c.version DESC LIMIT ${}",
        conditions.join(" AND "),
        binds.len()
    );
    let mut query = sqlx::query(&sql);
    for bind in binds {
        query = match bind {
            Bind::Int(i) => query.bind(i),
            Bind::Text(t) => query.bind(t),
        };
    }
    let mut conn = state.db.read.acquire().await?;
    let rows = query.fetch_all(&mut *conn).await?;
    let required = approvals_required(&mut *conn, org).await?;
    let mut items = Vec::with_capacity(rows.len());
    let mut created = Vec::with_capacity(rows.len());
    for row in &rows {
        created.push(row.try_get::<i64, _>(6)?);
        items.push(request_row(row, required)?);
    }
    let next_cursor = crate::pagination::trim(&mut items, limit).map(|last| {
        let at = usize::try_from(limit)
            .ok()
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| created.get(i))
            .copied()
            .unwrap_or(0);
        crate::pagination::encode_cursor(&(at, &last.policy_id, last.version))
    });
    let mut full = Vec::with_capacity(items.len());
    for item in items {
        full.push(with_reviews(&mut conn, org, item).await?);
    }
    Ok(Json(ChangeRequestPage {
        items: full,
        next_cursor,
    }))
}

/// A proposed catalog version, with the status of its change request.
#[utoipa::path(get, operation_id = "getCatalogVersion", path = "/api/v1/catalog/versions/{n}", tag = "review",
    params(("n" = i64, Path, description = "the proposed catalog version")),
    responses((status = 200, body = CatalogProposal), (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn catalog_version(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(n): ApiPath<i64>,
) -> ApiResult<Json<CatalogProposal>> {
    let org = principal.org_id.as_str();
    let mut conn = state.db.read.acquire().await?;
    let required = approvals_required(&mut *conn, org).await?;
    let request = load(&mut conn, org, CATALOG, n, required).await?;
    let row = sqlx::query(
        "SELECT snapshot FROM policy_versions WHERE org_id = $1 AND policy_id = $2 AND version = $3",
    )
    .bind(org)
    .bind(CATALOG)
    .bind(n)
    .fetch_one(&mut *conn)
    .await?;
    let text: String = row.try_get(0)?;
    let snapshot: Value = serde_json::from_str(&text).map_err(ApiError::internal)?;
    Ok(Json(CatalogProposal {
        version: n,
        status: request.status,
        catalog: snapshot.get("catalog").cloned().unwrap_or(Value::Null),
        base_revision: request.base_revision,
        author: request.author,
        created_at: request.created_at,
    }))
}
