//! Bearer tokens: random, stored only as SHA-256 digests, each belonging to one
//! organization and one user with a role.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;

use crate::db::{new_id, now_ms, Db};
use crate::error::ApiError;
use crate::AppState;

/// What a token lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads, dry-runs and evaluations.
    Viewer,
    /// Also writes policies, assignments, exceptions and the catalog.
    Editor,
    /// Everything an editor can do (tokens are managed with the CLI).
    Admin,
}

impl Role {
    /// The role named `text`.
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "editor" => Some(Role::Editor),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Its name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub org_id: String,
    pub org_name: String,
    pub user: String,
    pub role: Role,
    pub token_id: String,
    /// The organization's generation when the request arrived (see `active`).
    pub generation: i64,
}

impl Principal {
    /// Fails with 403 unless the caller may change things.
    pub fn require_writer(&self) -> Result<(), ApiError> {
        if self.role >= Role::Editor {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "role `{}` cannot change anything; an editor or admin token is needed",
                self.role.as_str()
            )))
        }
    }
}

/// The stored digest of a token.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// How long a token's lookup is reused: a revoked token stops working within this time,
/// and another instance's change reaches this one's dry runs within it (`/evaluate` reads
/// the organization's generation itself).
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(1);

/// Recently seen tokens, by digest.
#[derive(Debug, Default)]
pub struct TokenCache {
    entries: Mutex<HashMap<String, (Principal, Instant)>>,
}

impl TokenCache {
    fn get(&self, digest: &str) -> Option<Principal> {
        let entries = self.entries.lock().ok()?;
        let (principal, at) = entries.get(digest)?;
        (at.elapsed() < TOKEN_CACHE_TTL).then(|| principal.clone())
    }

    /// Forgets a token at once (this instance refuses it from the next request).
    pub fn forget(&self, token_id: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, (p, _)| p.token_id != token_id);
        }
    }

    fn put(&self, digest: String, principal: Principal) {
        if let Ok(mut entries) = self.entries.lock() {
            // INVARIANT: bounded; stale entries are dropped wholesale when it grows.
            if entries.len() >= 10_000 {
                entries.retain(|_, (_, at)| at.elapsed() < TOKEN_CACHE_TTL);
            }
            entries.insert(digest, (principal, Instant::now()));
        }
    }
}

/// The token of `Bearer <token>`; the scheme's name is case-insensitive (RFC 9110 §11.1).
pub fn bearer_token(header: &str) -> Option<&str> {
    let header = header.trim_start();
    let (scheme, rest) = header.split_once([' ', '\t'])?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    Some(rest.trim()).filter(|t| !t.is_empty())
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

impl FromRequestParts<AppState> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let value = parts
            .headers
            .get(header::AUTHORIZATION)
            .ok_or_else(|| unauthorized("missing `Authorization: Bearer <token>` header"))?;
        let text = value
            .to_str()
            .map_err(|_| unauthorized("the Authorization header is not valid text"))?;
        let token = bearer_token(text)
            .ok_or_else(|| unauthorized("the Authorization header must be `Bearer <token>`"))?;
        if token.len() > 200 {
            return Err(unauthorized("invalid or revoked token"));
        }
        let digest = hash_token(token);
        if let Some(principal) = state.tokens.get(&digest) {
            return Ok(principal);
        }
        let row = sqlx::query(
            "SELECT t.id, t.org_id, t.user_name, t.role, o.name, o.generation FROM tokens t \
             JOIN orgs o ON o.id = t.org_id WHERE t.token_hash = $1 AND t.revoked_at IS NULL",
        )
        .bind(&digest)
        .fetch_optional(&state.db.read)
        .await?
        .ok_or_else(|| unauthorized("invalid or revoked token"))?;
        let role: String = row.try_get(3)?;
        let principal = Principal {
            token_id: row.try_get(0)?,
            org_id: row.try_get(1)?,
            user: row.try_get(2)?,
            role: Role::parse(&role).ok_or_else(|| ApiError::internal("stored role is unknown"))?,
            org_name: row.try_get(4)?,
            generation: row.try_get(5)?,
        };
        state.tokens.put(digest, principal.clone());
        Ok(principal)
    }
}

/// A token just created: the only time its secret is shown.
#[derive(Debug, Clone, Serialize)]
pub struct NewToken {
    pub token: String,
    pub id: String,
    pub org: String,
    pub user: String,
    pub role: Role,
}

/// Token management failures (CLI and bootstrap).
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("unknown role `{0}`; use admin, editor or viewer")]
    Role(String),
    #[error("{0} must not be empty")]
    Empty(&'static str),
    #[error("no token `{0}`")]
    NotFound(String),
    #[error("cannot generate a random token: {0}")]
    Random(String),
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
}

/// Creates a token for `user` in organization `org` (created when missing).
pub async fn create_token(
    db: &Db,
    org: &str,
    user: &str,
    role: &str,
    description: Option<&str>,
) -> Result<NewToken, TokenError> {
    let role = Role::parse(role).ok_or_else(|| TokenError::Role(role.to_string()))?;
    if org.trim().is_empty() {
        return Err(TokenError::Empty("the organization"));
    }
    if user.trim().is_empty() {
        return Err(TokenError::Empty("the user"));
    }
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| TokenError::Random(e.to_string()))?;
    let token = format!("vdt_{}", hex::encode(secret));
    let id = new_id("tok");
    let now = now_ms();
    let mut tx = db.write.begin().await?;
    let existing = sqlx::query("SELECT id FROM orgs WHERE name = $1")
        .bind(org)
        .fetch_optional(&mut *tx)
        .await?;
    let org_id: String = match existing {
        Some(row) => row.try_get(0)?,
        None => {
            let org_id = new_id("org");
            sqlx::query("INSERT INTO orgs (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(&org_id)
                .bind(org)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            org_id
        }
    };
    sqlx::query(
        "INSERT INTO tokens (id, org_id, user_name, role, token_hash, description, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&id)
    .bind(&org_id)
    .bind(user)
    .bind(role.as_str())
    .bind(hash_token(&token))
    .bind(description.map(str::to_string))
    .bind(now)
    .execute(&mut *tx)
    .await?;
    crate::audit::record(
        &mut tx,
        &org_id,
        "cli",
        "token.create",
        "token",
        &id,
        &["user", "role"],
        Some(serde_json::json!({ "user": user, "role": role.as_str() })),
    )
    .await?;
    tx.commit().await?;
    Ok(NewToken {
        token,
        id,
        org: org.to_string(),
        user: user.to_string(),
        role,
    })
}

/// Revokes a token given by its id (`tok_…`) or by its secret (`vdt_…`).
pub async fn revoke_token(db: &Db, id_or_token: &str) -> Result<String, TokenError> {
    let mut tx = db.write.begin().await?;
    let row = sqlx::query(
        "SELECT id, org_id FROM tokens WHERE (id = $1 OR token_hash = $2) AND revoked_at IS NULL",
    )
    .bind(id_or_token)
    .bind(hash_token(id_or_token))
    .fetch_optional(&mut *tx)
    .await?
    .ok_or_else(|| TokenError::NotFound(id_or_token.to_string()))?;
    let id: String = row.try_get(0)?;
    let org_id: String = row.try_get(1)?;
    sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2")
        .bind(now_ms())
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    crate::audit::record(
        &mut tx,
        &org_id,
        "cli",
        "token.revoke",
        "token",
        &id,
        &["revoked_at"],
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(id)
}

/// What `DELETE /api/v1/tokens/{token_id}` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Revoked {
    pub id: String,
    pub revoked: bool,
}

/// Revokes a token of the caller's organization (admins only). This instance refuses it
/// from the next request; other instances within [`TOKEN_CACHE_TTL`].
#[utoipa::path(delete, operation_id = "revokeToken", path = "/api/v1/tokens/{token_id}", tag = "audit",
    params(("token_id" = String, Path, description = "the token's id (`tok_…`), as `/api/v1/me` and `verdict token create` show it")),
    responses((status = 200, body = Revoked),
        (status = 409, description = "the token making the request", body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn revoke(
    axum::extract::State(state): axum::extract::State<AppState>,
    principal: Principal,
    crate::extract::ApiPath(token_id): crate::extract::ApiPath<String>,
) -> Result<axum::Json<Revoked>, ApiError> {
    if principal.role != Role::Admin {
        return Err(ApiError::forbidden("only an admin may revoke tokens"));
    }
    // An admin cannot lock itself out through the API (the CLI can still revoke it).
    if token_id == principal.token_id {
        return Err(ApiError::conflict(
            "a token cannot revoke itself; revoke it with another admin token or `verdict token revoke`",
        ));
    }
    let mut tx = state.db.write.begin().await?;
    let updated = sqlx::query(
        "UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND org_id = $3 AND revoked_at IS NULL",
    )
    .bind(now_ms())
    .bind(&token_id)
    .bind(&principal.org_id)
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() != 1 {
        return Err(ApiError::not_found("token", &token_id));
    }
    crate::audit::record(
        &mut tx,
        &principal.org_id,
        &principal.user,
        "token.revoke",
        "token",
        &token_id,
        &["revoked_at"],
        None,
    )
    .await?;
    tx.commit().await?;
    state.tokens.forget(&token_id);
    Ok(axum::Json(Revoked {
        id: token_id,
        revoked: true,
    }))
}

/// Whether any token that is not revoked exists.
pub async fn any_active_token(db: &Db) -> Result<bool, sqlx::Error> {
    let row = sqlx::query("SELECT COUNT(*) FROM tokens WHERE revoked_at IS NULL")
        .fetch_one(&db.read)
        .await?;
    let n: i64 = row.try_get(0)?;
    Ok(n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        for ok in [
            "Bearer t",
            "bearer t",
            "BEARER t",
            "bEaReR  t ",
            "Bearer\tt",
        ] {
            assert_eq!(bearer_token(ok), Some("t"), "{ok}");
        }
        for bad in ["Basic t", "Bearer", "Bearer ", "Bearert", "t"] {
            assert_eq!(bearer_token(bad), None, "{bad}");
        }
    }
}
