//! `/api/v1/principals`: the logins of `verdict proxy`, per organization. Each is a user
//! name, the context its statements run with (roles, attributes, workspace, data source,
//! purpose) and a password kept only as a SCRAM-SHA-256 verifier, which no answer carries.
//! Changes are audited and bump the organization's generation, so that every proxy on
//! this store sees them at its next generation check.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use sqlx::any::AnyRow;
use sqlx::Row;
use verdict_api_model::{PrincipalInput, PrincipalList, PrincipalResource};

use crate::audit;
use crate::auth::{Principal, Role};
use crate::db::{format_time, now_ms, Db};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::store;
use crate::AppState;
use verdict_engine::ProblemKind;

/// The longest user name (PostgreSQL's identifier limit).
const MAX_USER_BYTES: usize = 63;
/// The longest role, workspace, data source or purpose.
const MAX_NAME_BYTES: usize = 256;
const MAX_ROLES: usize = 100;
const MAX_PASSWORD_BYTES: usize = 1024;
const MAX_ATTRIBUTES_BYTES: usize = 16 * 1024;

const COLUMNS: &str = "user_name, roles, attributes, workspace, data_source, purpose, \
                       created_at, created_by, updated_at, updated_by";

/// A stored principal as the proxy needs it: its verifier and its context as JSON (the
/// engine's `Context` shape).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPrincipal {
    pub user: String,
    pub verifier: String,
    pub context: Value,
}

/// Every principal of `org` with its verifier (for `verdict proxy`; never answered by the API).
pub async fn load(db: &Db, org: &str) -> ApiResult<Vec<StoredPrincipal>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS}, verifier FROM principals WHERE org_id = $1 ORDER BY user_name"
    ))
    .bind(org)
    .fetch_all(&db.read)
    .await?;
    rows.iter()
        .map(|row| {
            let p = principal_row(row)?;
            let verifier: String = row.try_get(10)?;
            Ok(StoredPrincipal {
                context: context_json(&p),
                user: p.user,
                verifier,
            })
        })
        .collect()
}

/// The engine context of a principal.
fn context_json(p: &PrincipalResource) -> Value {
    let mut ctx = Map::new();
    ctx.insert("user".into(), json!(p.user));
    ctx.insert("roles".into(), json!(p.roles));
    ctx.insert("attributes".into(), Value::Object(p.attributes.clone()));
    for (key, value) in [
        ("workspace", &p.workspace),
        ("data_source", &p.data_source),
        ("purpose", &p.purpose),
    ] {
        if let Some(v) = value {
            ctx.insert(key.into(), json!(v));
        }
    }
    Value::Object(ctx)
}

fn principal_row(row: &AnyRow) -> ApiResult<PrincipalResource> {
    let roles: String = row.try_get(1)?;
    let attributes: String = row.try_get(2)?;
    Ok(PrincipalResource {
        user: row.try_get(0)?,
        roles: serde_json::from_str(&roles).map_err(ApiError::internal)?,
        attributes: serde_json::from_str(&attributes).map_err(ApiError::internal)?,
        workspace: row.try_get(3)?,
        data_source: row.try_get(4)?,
        purpose: row.try_get(5)?,
        created_at: format_time(row.try_get(6)?),
        created_by: row.try_get(7)?,
        updated_at: format_time(row.try_get(8)?),
        updated_by: row.try_get(9)?,
    })
}

fn require_admin(principal: &Principal) -> ApiResult<()> {
    if principal.role >= Role::Admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "role `{}` cannot manage principals (they are logins to the data); an admin token is needed",
            principal.role.as_str()
        )))
    }
}

/// Checks a verifier's form: `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`,
/// with base64 salt and 32-byte keys.
pub fn verifier_ok(text: &str) -> bool {
    let parsed = || -> Option<()> {
        let rest = text.strip_prefix("SCRAM-SHA-256$")?;
        let (params, keys) = rest.split_once('$')?;
        let (iterations, salt) = params.split_once(':')?;
        let (stored, server) = keys.split_once(':')?;
        let iterations: u32 = iterations.parse().ok()?;
        let salt = B64.decode(salt).ok()?;
        let key_ok = |k: &str| B64.decode(k).ok().is_some_and(|v| v.len() == 32);
        (iterations >= 1 && !salt.is_empty() && key_ok(stored) && key_ok(server)).then_some(())
    };
    text.len() <= 512 && parsed().is_some()
}

/// The checked fields of an input and the verifier to store (None: keep the current one).
struct Checked {
    roles: String,
    attributes: String,
    verifier: Option<String>,
}

fn check(user: &str, req: &PrincipalInput, password_required: bool) -> ApiResult<Checked> {
    let mut problems: Vec<verdict_engine::Problem> = Vec::new();
    let mut problem = |kind: ProblemKind, field: &str, message: String| {
        problems.push(verdict_engine::Problem::new(kind, field, message));
    };
    let name_ok = |s: &str, max: usize| {
        !s.trim().is_empty() && s.len() <= max && !s.chars().any(char::is_control)
    };
    if !name_ok(user, MAX_USER_BYTES) {
        problem(
                    ProblemKind::InvalidValue,
            "user",
            format!("a user name is a non-empty string of at most {MAX_USER_BYTES} bytes without control characters"),
        );
    }
    if req.roles.len() > MAX_ROLES {
        problem(
            ProblemKind::InvalidValue,
            "roles",
            format!("at most {MAX_ROLES} roles"),
        );
    }
    for (i, role) in req.roles.iter().enumerate() {
        if !name_ok(role, MAX_NAME_BYTES) {
            problem(
                    ProblemKind::InvalidValue,
                &format!("roles[{i}]"),
                format!("a role is a non-empty string of at most {MAX_NAME_BYTES} bytes without control characters"),
            );
        }
    }
    for (field, value) in [
        ("workspace", &req.workspace),
        ("data_source", &req.data_source),
        ("purpose", &req.purpose),
    ] {
        if value
            .as_deref()
            .is_some_and(|v| !name_ok(v, MAX_NAME_BYTES))
        {
            problem(
                    ProblemKind::InvalidValue,
                field,
                format!("must be a non-empty string of at most {MAX_NAME_BYTES} bytes without control characters"),
            );
        }
    }
    let attributes = Value::Object(req.attributes.clone()).to_string();
    if attributes.len() > MAX_ATTRIBUTES_BYTES {
        problem(
            ProblemKind::InvalidValue,
            "attributes",
            format!("at most {MAX_ATTRIBUTES_BYTES} bytes of JSON"),
        );
    }
    let verifier = match (&req.password, &req.password_verifier) {
        (Some(_), Some(_)) => {
            problem(
                ProblemKind::InvalidValue,
                "password",
                "give `password` or `password_verifier`, not both".into(),
            );
            None
        }
        (Some(password), None) => {
            if password.is_empty() || password.len() > MAX_PASSWORD_BYTES || password.contains('\0')
            {
                problem(
                    ProblemKind::InvalidValue,
                    "password",
                    format!("a password is a non-empty string of at most {MAX_PASSWORD_BYTES} bytes without NUL"),
                );
                None
            } else {
                Some(postgres_protocol::password::scram_sha_256(
                    password.as_bytes(),
                ))
            }
        }
        (None, Some(verifier)) => {
            if verifier_ok(verifier) {
                Some(verifier.clone())
            } else {
                problem(
                    ProblemKind::InvalidValue,
                    "password_verifier",
                    "must be a SCRAM-SHA-256 verifier `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`".into(),
                );
                None
            }
        }
        (None, None) => {
            if password_required {
                problem(
                    ProblemKind::Missing,
                    "password",
                    "a new principal needs `password` or `password_verifier`".into(),
                );
            }
            None
        }
    };
    // The engine must accept the context the principal's statements will run with.
    if problems.is_empty() {
        let resource = PrincipalResource {
            user: user.to_string(),
            roles: req.roles.clone(),
            attributes: req.attributes.clone(),
            workspace: req.workspace.clone(),
            data_source: req.data_source.clone(),
            purpose: req.purpose.clone(),
            created_at: String::new(),
            created_by: String::new(),
            updated_at: String::new(),
            updated_by: String::new(),
        };
        if let Err(e) = verdict_engine::Context::from_json_value(context_json(&resource)) {
            return Err(ApiError::from_engine(e));
        }
    }
    if !problems.is_empty() {
        let message = problems
            .iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect::<Vec<_>>()
            .join("; ");
        return Err(ApiError::invalid(message).with_problems(problems));
    }
    Ok(Checked {
        roles: json!(req.roles).to_string(),
        attributes,
        verifier,
    })
}

async fn read_one<'e, E>(exec: E, org: &str, user: &str) -> ApiResult<PrincipalResource>
where
    E: sqlx::Executor<'e, Database = sqlx::Any>,
{
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM principals WHERE org_id = $1 AND user_name = $2"
    ))
    .bind(org)
    .bind(user)
    .fetch_optional(exec)
    .await?
    .ok_or_else(|| ApiError::not_found("principal", user))?;
    principal_row(&row)
}

/// Lists the organization's principals (without passwords).
#[utoipa::path(get, operation_id = "listPrincipals", path = "/api/v1/principals", tag = "principals",
    responses((status = 200, body = PrincipalList)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<PrincipalList>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM principals WHERE org_id = $1 ORDER BY user_name"
    ))
    .bind(&principal.org_id)
    .fetch_all(&state.db.read)
    .await?;
    let items = rows.iter().map(principal_row).collect::<ApiResult<_>>()?;
    Ok(Json(PrincipalList { items }))
}

/// Creates a principal (admins only).
#[utoipa::path(post, operation_id = "createPrincipal", path = "/api/v1/principals", tag = "principals",
    request_body = PrincipalInput,
    responses((status = 201, body = PrincipalResource), (status = 409, body = crate::openapi::ErrorBody), (status = 422, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(req): ApiJson<PrincipalInput>,
) -> ApiResult<(StatusCode, Json<PrincipalResource>)> {
    require_admin(&principal)?;
    let Some(user) = req.user.clone() else {
        return Err(ApiError::invalid("user: missing").with_problem(
            ProblemKind::Missing,
            "user",
            "missing",
        ));
    };
    let checked = check(&user, &req, true)?;
    let org = principal.org_id.as_str();
    let now = now_ms();
    let mut tx = state.db.write.begin().await?;
    let exists = sqlx::query("SELECT 1 FROM principals WHERE org_id = $1 AND user_name = $2")
        .bind(org)
        .bind(&user)
        .fetch_optional(&mut *tx)
        .await?;
    if exists.is_some() {
        return Err(ApiError::conflict(format!(
            "principal `{user}` already exists; PUT /api/v1/principals/{{user}} replaces it"
        )));
    }
    sqlx::query(
        "INSERT INTO principals (org_id, user_name, roles, attributes, workspace, data_source, purpose, verifier, created_at, created_by, updated_at, updated_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $9, $10)",
    )
    .bind(org)
    .bind(&user)
    .bind(&checked.roles)
    .bind(&checked.attributes)
    .bind(req.workspace.clone())
    .bind(req.data_source.clone())
    .bind(req.purpose.clone())
    .bind(checked.verifier.clone().unwrap_or_default())
    .bind(now)
    .bind(&principal.user)
    .execute(&mut *tx)
    .await?;
    audit::record(&mut tx, org, &principal.user, "principal.create", "principal", &user,
        &["roles", "attributes", "workspace", "data_source", "purpose", "password"],
        Some(json!({ "roles": req.roles, "workspace": req.workspace, "data_source": req.data_source, "purpose": req.purpose }))).await?;
    store::bump_generation(&mut tx, org).await?;
    let created = read_one(&mut *tx, org, &user).await?;
    tx.commit().await?;
    state.changed(org);
    Ok((StatusCode::CREATED, Json(created)))
}

/// Reads one principal (without its password).
#[utoipa::path(get, operation_id = "getPrincipal", path = "/api/v1/principals/{user}", tag = "principals",
    params(("user" = String, Path, description = "user name")),
    responses((status = 200, body = PrincipalResource), (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user): ApiPath<String>,
) -> ApiResult<Json<PrincipalResource>> {
    Ok(Json(
        read_one(&state.db.read, &principal.org_id, &user).await?,
    ))
}

/// Replaces a principal's context, and its password when one is given (admins only).
#[utoipa::path(put, operation_id = "replacePrincipal", path = "/api/v1/principals/{user}", tag = "principals",
    params(("user" = String, Path, description = "user name")), request_body = PrincipalInput,
    responses((status = 200, body = PrincipalResource), (status = 404, body = crate::openapi::ErrorBody), (status = 422, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user): ApiPath<String>,
    ApiJson(req): ApiJson<PrincipalInput>,
) -> ApiResult<Json<PrincipalResource>> {
    require_admin(&principal)?;
    if req.user.as_ref().is_some_and(|u| *u != user) {
        return Err(ApiError::invalid(
            "user: differs from the path's; a principal cannot be renamed",
        ));
    }
    let checked = check(&user, &req, false)?;
    let org = principal.org_id.as_str();
    let now = now_ms();
    let mut tx = state.db.write.begin().await?;
    let before = read_one(&mut *tx, org, &user).await?;
    sqlx::query(
        "UPDATE principals SET roles = $1, attributes = $2, workspace = $3, data_source = $4, purpose = $5, \
         verifier = COALESCE($6, verifier), updated_at = $7, updated_by = $8 WHERE org_id = $9 AND user_name = $10",
    )
    .bind(&checked.roles)
    .bind(&checked.attributes)
    .bind(req.workspace.clone())
    .bind(req.data_source.clone())
    .bind(req.purpose.clone())
    .bind(checked.verifier.clone())
    .bind(now)
    .bind(&principal.user)
    .bind(org)
    .bind(&user)
    .execute(&mut *tx)
    .await?;
    let mut fields: Vec<&str> = Vec::new();
    if before.roles != req.roles {
        fields.push("roles");
    }
    if before.attributes != req.attributes {
        fields.push("attributes");
    }
    if before.workspace != req.workspace {
        fields.push("workspace");
    }
    if before.data_source != req.data_source {
        fields.push("data_source");
    }
    if before.purpose != req.purpose {
        fields.push("purpose");
    }
    if checked.verifier.is_some() {
        fields.push("password");
    }
    audit::record(&mut tx, org, &principal.user, "principal.update", "principal", &user, &fields,
        Some(json!({ "roles": req.roles, "workspace": req.workspace, "data_source": req.data_source, "purpose": req.purpose }))).await?;
    store::bump_generation(&mut tx, org).await?;
    let after = read_one(&mut *tx, org, &user).await?;
    tx.commit().await?;
    state.changed(org);
    Ok(Json(after))
}

/// Deletes a principal: it can no longer log in to the proxy (admins only).
#[utoipa::path(delete, operation_id = "deletePrincipal", path = "/api/v1/principals/{user}", tag = "principals",
    params(("user" = String, Path, description = "user name")),
    responses((status = 204), (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(user): ApiPath<String>,
) -> ApiResult<StatusCode> {
    require_admin(&principal)?;
    let org = principal.org_id.as_str();
    let mut tx = state.db.write.begin().await?;
    let deleted = sqlx::query("DELETE FROM principals WHERE org_id = $1 AND user_name = $2")
        .bind(org)
        .bind(&user)
        .execute(&mut *tx)
        .await?;
    if deleted.rows_affected() != 1 {
        return Err(ApiError::not_found("principal", &user));
    }
    audit::record(
        &mut tx,
        org,
        &principal.user,
        "principal.delete",
        "principal",
        &user,
        &[],
        None,
    )
    .await?;
    store::bump_generation(&mut tx, org).await?;
    tx.commit().await?;
    state.changed(org);
    Ok(StatusCode::NO_CONTENT)
}
