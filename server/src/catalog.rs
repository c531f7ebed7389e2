//! `/api/v1/catalog`: the organization's strict catalog of tables and columns, which every
//! stored policy is validated against.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use sqlx::Row;

use crate::audit::{self, Tx};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::policies::{if_match, typed};
use crate::store::{self, Assignment, AssignmentSpec};
use crate::AppState;
use verdict_api_model::{Catalog, CatalogDocument, CatalogPut};

fn answer(catalog: Value, revision: i64) -> Response {
    let mut response = (
        StatusCode::OK,
        Json(json!({ "catalog": catalog, "revision": revision })),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&format!("\"{revision}\"")) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
}

/// The catalog of a `PUT` body (normalized: as the types print it) and the revision the
/// body names, if any.
fn parse_put(body: Value) -> ApiResult<(Value, Option<i64>)> {
    let normal = |c: Option<Catalog>| match c {
        None => Ok(Value::Null),
        Some(c) => serde_json::to_value(c).map_err(ApiError::internal),
    };
    match &body {
        Value::Object(obj) if obj.contains_key("catalog") => {
            let doc: CatalogDocument = typed(body, "invalid_policy")?;
            if doc.revision.is_some_and(|r| r < 0) {
                return Err(ApiError::invalid("`revision` must not be negative"));
            }
            Ok((normal(doc.catalog)?, doc.revision))
        }
        Value::Object(_) => {
            let catalog: Catalog = typed(body, "invalid_policy")?;
            Ok((normal(Some(catalog))?, None))
        }
        _ => Err(ApiError::invalid(
            "the body is `{\"catalog\": <catalog or null>, \"revision\"?}` as GET answers it, or a bare catalog object",
        )),
    }
}

/// The organization's catalog (`null` when none is set) and its revision.
#[utoipa::path(get, operation_id = "getCatalog", path = "/api/v1/catalog", tag = "catalog",
    responses((status = 200, description = "the catalog and its revision (also the `ETag`)", body = CatalogDocument)),
    security(("bearer" = [])))]
pub async fn get(State(state): State<AppState>, principal: Principal) -> ApiResult<Response> {
    let row = sqlx::query("SELECT catalog, catalog_revision FROM orgs WHERE id = $1")
        .bind(&principal.org_id)
        .fetch_one(&state.db.read)
        .await?;
    let text: Option<String> = row.try_get(0)?;
    let catalog = text
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null);
    Ok(answer(catalog, row.try_get(1)?))
}

/// The catalog's revision.
pub async fn revision<'e, E>(exec: E, org: &str) -> ApiResult<i64>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query("SELECT catalog_revision FROM orgs WHERE id = $1")
        .bind(org)
        .fetch_one(exec)
        .await?;
    Ok(row.try_get(0)?)
}

/// Asks the engine whether every stored policy validates against `catalog` (422 with
/// every problem otherwise).
pub async fn validate_with_policies(tx: &mut Tx, org: &str, catalog: &Value) -> ApiResult<()> {
    let policies = store::live_policies(&mut **tx, org).await?;
    let assignments = store::all_assignments(&mut **tx, org).await?;
    let none: Vec<Assignment> = Vec::new();
    let engine_policies = policies
        .iter()
        .map(|p| {
            let specs: Vec<AssignmentSpec> = assignments
                .get(&p.id)
                .unwrap_or(&none)
                .iter()
                .map(Assignment::spec)
                .collect();
            store::engine_policy(&p.body, &specs)
        })
        .collect();
    store::validate(catalog, engine_policies)?;
    Ok(())
}

/// Replaces the catalog. The engine validates it together with every stored policy: a
/// catalog that would make a stored policy invalid is rejected with every problem.
#[utoipa::path(put, operation_id = "putCatalog", path = "/api/v1/catalog", tag = "catalog",
    params(("If-Match" = Option<String>, Header, nullable = false, description = "optional: the catalog revision being replaced", pattern = r#"^(W/)?("[0-9]{1,18}"|[0-9]{1,18})$"#)),
    request_body(content = CatalogPut, description = "what GET answers (`{catalog, revision?}`; `catalog: null` removes it), or a bare catalog `{tables, default_access?, functions?}`"),
    responses((status = 200, description = "the catalog and its new revision", body = CatalogDocument),
        (status = 412, body = crate::openapi::ErrorBody), (status = 422, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn put(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiJson(body): ApiJson<Value>,
) -> ApiResult<Response> {
    principal.require_writer()?;
    let (catalog, in_body) = parse_put(body)?;
    let expected = if_match(&headers)?;
    let org = principal.org_id.as_str();
    let mut tx = state.db.write.begin().await?;
    let row = sqlx::query("SELECT catalog_revision FROM orgs WHERE id = $1")
        .bind(org)
        .fetch_one(&mut *tx)
        .await?;
    let current: i64 = row.try_get(0)?;
    store::check_revision(expected, current)?;
    store::check_revision(in_body, current)?;
    validate_with_policies(&mut tx, org, &catalog).await?;
    if let Some(approvals) = crate::review::required(&mut *tx, org).await? {
        return crate::review::propose(
            tx,
            &principal,
            crate::review::CATALOG,
            current,
            "catalog",
            &json!({ "catalog": catalog }),
            &["catalog".to_string()],
            approvals,
        )
        .await;
    }
    let revision = current + 1;
    sqlx::query("UPDATE orgs SET catalog = $1, catalog_revision = $2 WHERE id = $3")
        .bind((!catalog.is_null()).then(|| catalog.to_string()))
        .bind(revision)
        .bind(org)
        .execute(&mut *tx)
        .await?;
    audit::record(
        &mut tx,
        org,
        &principal.user,
        "catalog.update",
        "catalog",
        org,
        &["catalog"],
        Some(json!({ "revision": revision })),
    )
    .await?;
    store::bump_generation(&mut tx, org).await?;
    // After the generation's row lock: concurrent changes of the organization pass the
    // gate one after the other, each seeing the ones committed before it.
    crate::policy_tests::gate(&mut tx, &principal, &headers, "catalog.update").await?;
    tx.commit().await?;
    state.changed(org);
    Ok(answer(catalog, revision))
}
