//! `/api/v1/data-sources` (issue 22): PostgreSQL databases an organization registers for
//! the data preview "as this user", and `POST /api/v1/data-sources/{id}/preview`.
//!
//! A data source's URL carries its credentials. The password is stored sealed with the
//! server's secret key ([`crate::secrets`]; column `password_sealed`), the rest of the URL
//! without it; nothing answers either: every answer (and the audit trail) shows a redacted
//! URL built from the parsed parts, with `***` for the password. URLs are parsed strictly
//! here (a host, a user, a database; of query parameters only `sslmode` and `sslrootcert`,
//! never `host=/socket`, `sslkey=FILE` or `password=`) before sqlx sees them.
//!
//! TLS: `sslmode` is `disable`, `prefer` (the default, as libpq's), `require` (encrypted,
//! the certificate not checked), `verify-ca` (signed by a trusted CA) or `verify-full`
//! (and naming the host). The trusted CAs are Mozilla's (`sslrootcert=system`, the default)
//! or one PEM file named by `sslrootcert=NAME` in the directory the server operator gives
//! in `VERDICT_DATA_SOURCE_CA_DIR`: a URL never names a path on the server.
//!
//! The preview evaluates the SQL with the engine exactly as a dry run does (draft policy,
//! draft set, saved policy or the active set with the exceptions that would apply, none
//! used up). A blocked verdict runs nothing. Otherwise one connection to the data source
//! runs, inside one `READ ONLY`, `REPEATABLE READ` transaction (both statements see one
//! snapshot) with a `statement_timeout` before every statement, then rolled back:
//! the rewritten SQL (the rows as the context sees them) and the SQL as written (the rows
//! the connecting role, the author's own, sees), each at most [`MAX_ROWS`] rows with cells
//! as text, and for queries the number of rows the policies filtered out (counts bounded by
//! [`COUNT_BOUND`]).

use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use percent_encoding::percent_decode_str;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::any::AnyRow;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgDatabaseError};
use sqlx::{Column, Connection, Executor, Row, Statement, TypeInfo};
use verdict_engine::evaluate;

use crate::audit;
use crate::auth::{Principal, Role};
use crate::db::{format_time, new_id, now_ms};
use crate::error::{ApiError, ApiResult};
use crate::evaluate::{applied_json, check_sql, chosen_set, context, scope};
use crate::extract::{ApiJson, ApiPath};
use crate::AppState;

/// The most rows either result set of a preview shows.
pub const MAX_ROWS: usize = 100;
/// Rows counted at most per statement for the filtered-out count.
pub const COUNT_BOUND: i64 = 10_000;
/// The statement timeout of a preview's statements, and the most a request may ask for.
pub const MAX_TIMEOUT_MS: u64 = 5_000;
/// How long connecting to a data source may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest text of one cell answered (longer text is cut, and marked so).
pub const MAX_CELL_CHARS: usize = 2_000;
/// The most data sources of an organization.
pub const MAX_DATA_SOURCES: i64 = 100;
/// The most previews this server runs at once (each holds one connection to a data
/// source); more are refused with 429 `too_many_previews`.
pub const MAX_CONCURRENT_PREVIEWS: usize = 8;

static PREVIEWS: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(MAX_CONCURRENT_PREVIEWS);

/// Body of `POST /api/v1/data-sources` and `PUT /api/v1/data-sources/{id}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"name": "Warehouse (read replica)", "url": "postgres://verdict_preview:secret@db.internal:5432/warehouse"}))]
#[serde(deny_unknown_fields)]
pub struct DataSourceInput {
    #[schema(min_length = 1, max_length = 200)]
    pub name: String,
    /// `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=MODE[&sslrootcert=NAME]]`
    /// (at most 2000 bytes): `sslmode` `disable`, `prefer` (default), `require`,
    /// `verify-ca` or `verify-full`; `sslrootcert` (with `verify-*`) `system` or a file name
    /// in the server's CA directory. The password is stored sealed with the server's key and
    /// never answered. On `PUT`, absent keeps the stored URL.
    #[serde(default)]
    #[schema(max_length = 2000)]
    pub url: Option<String>,
}

/// A data source as answered: its URL with the password replaced by `***`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"id": "dsr_0123", "name": "Warehouse (read replica)", "url": "postgres://verdict_preview:***@db.internal:5432/warehouse",
    "host": "db.internal", "port": 5432, "database": "warehouse", "user": "verdict_preview", "has_password": true,
    "created_at": "2026-12-07T17:00:00Z", "created_by": "ada", "updated_at": "2026-12-07T17:00:00Z", "updated_by": "ada"}))]
pub struct DataSource {
    pub id: String,
    pub name: String,
    /// The URL without its password.
    pub url: String,
    pub host: String,
    pub port: u16,
    pub database: String,
    pub user: String,
    pub has_password: bool,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
}

/// The organization's data sources.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DataSourceList {
    pub items: Vec<DataSource>,
}

/// What a user or database name escapes in a URL.
const URL_PART: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b':')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'@')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// `sslmode` of a data source URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    const ALL: [(&'static str, SslMode); 5] = [
        ("disable", SslMode::Disable),
        ("prefer", SslMode::Prefer),
        ("require", SslMode::Require),
        ("verify-ca", SslMode::VerifyCa),
        ("verify-full", SslMode::VerifyFull),
    ];

    fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, m)| *m == self)
            .map_or("prefer", |(n, _)| n)
    }

    fn sqlx(self) -> sqlx::postgres::PgSslMode {
        use sqlx::postgres::PgSslMode as M;
        match self {
            SslMode::Disable => M::Disable,
            SslMode::Prefer => M::Prefer,
            SslMode::Require => M::Require,
            SslMode::VerifyCa => M::VerifyCa,
            SslMode::VerifyFull => M::VerifyFull,
        }
    }
}

/// The largest `sslrootcert` file read.
const MAX_ROOT_CERT_BYTES: u64 = 1 << 20;

/// A data source URL, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Target {
    host: String,
    port: u16,
    user: String,
    password: Option<String>,
    database: String,
    ssl_mode: Option<SslMode>,
    /// `system`, or a file name in the server's CA directory.
    ssl_root_cert: Option<String>,
}

impl Target {
    /// Parses `postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE`; the error never contains
    /// the URL.
    fn parse(text: &str) -> Result<Target, String> {
        if text.len() > 2000 || text.contains('\0') {
            return Err("at most 2000 bytes, without NUL characters".into());
        }
        let url = url::Url::parse(text).map_err(|e| format!("not a URL ({e})"))?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return Err("the scheme must be postgres:// or postgresql://".into());
        }
        if url.fragment().is_some() {
            return Err("fragments are not accepted".into());
        }
        let mut ssl_mode = None;
        let mut ssl_root_cert: Option<String> = None;
        for (key, value) in url.query_pairs() {
            match key.as_ref() {
                "sslmode" if ssl_mode.is_none() => {
                    ssl_mode = Some(
                        SslMode::ALL
                            .iter()
                            .find(|(n, _)| *n == value.as_ref())
                            .map(|(_, m)| *m)
                            .ok_or("`sslmode` must be disable, prefer, require, verify-ca or verify-full")?,
                    );
                }
                "sslrootcert" if ssl_root_cert.is_none() => {
                    let ok = value == "system"
                        || (!value.is_empty()
                            && value.len() <= 255
                            && !value.starts_with('.')
                            && value.chars().all(|c| {
                                c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
                            }));
                    if !ok {
                        return Err("`sslrootcert` must be `system` or the name of a file in the server's CA directory (letters, digits, `.`, `_`, `-`; no path)".into());
                    }
                    ssl_root_cert = Some(value.into_owned());
                }
                "sslmode" | "sslrootcert" => {
                    return Err(format!("`{key}` is given twice"));
                }
                _ => {
                    return Err(
                        "of query parameters only `sslmode` and `sslrootcert` are accepted".into(),
                    )
                }
            }
        }
        if ssl_root_cert.is_some()
            && !matches!(ssl_mode, Some(SslMode::VerifyCa | SslMode::VerifyFull))
        {
            return Err("`sslrootcert` needs `sslmode=verify-ca` or `sslmode=verify-full`".into());
        }
        let decode = |s: &str, what: &str| -> Result<String, String> {
            percent_decode_str(s)
                .decode_utf8()
                .map(|c| c.into_owned())
                .map_err(|_| format!("the {what} is not UTF-8"))
        };
        let host = url
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or("a host is required")?;
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let user = decode(url.username(), "user")?;
        if user.is_empty() {
            return Err("a user is required".into());
        }
        let password = url.password().map(|p| decode(p, "password")).transpose()?;
        let database = decode(url.path().trim_start_matches('/'), "database")?;
        if database.is_empty() || database.contains('/') {
            return Err("one database name is required as the path".into());
        }
        Ok(Target {
            host,
            port: url.port().unwrap_or(5432),
            user,
            password,
            database,
            ssl_mode,
            ssl_root_cert,
        })
    }

    /// `?sslmode=…&sslrootcert=…`, or nothing.
    fn query(&self) -> String {
        let mut parts = Vec::new();
        if let Some(m) = self.ssl_mode {
            parts.push(format!("sslmode={}", m.name()));
        }
        if let Some(c) = &self.ssl_root_cert {
            parts.push(format!("sslrootcert={c}"));
        }
        if parts.is_empty() {
            String::new()
        } else {
            format!("?{}", parts.join("&"))
        }
    }

    /// The URL as stored: without its password (sealed apart).
    fn stored(&self) -> String {
        let mut t = self.clone();
        t.password = None;
        t.redacted()
    }

    /// The URL with `***` for the password.
    fn redacted(&self) -> String {
        let enc = |s: &str| percent_encoding::utf8_percent_encode(s, URL_PART).to_string();
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        format!(
            "postgres://{}{}@{host}:{}/{}{}",
            enc(&self.user),
            if self.password.is_some() { ":***" } else { "" },
            self.port,
            enc(&self.database),
            self.query()
        )
    }

    /// The `sslrootcert` file's PEM, read from the server's CA directory; `None` for the
    /// built-in roots.
    fn root_cert(&self, ca_dir: Option<&std::path::Path>) -> Result<Option<Vec<u8>>, String> {
        let Some(name) = self.ssl_root_cert.as_deref().filter(|n| *n != "system") else {
            return Ok(None);
        };
        let Some(dir) = ca_dir else {
            return Err(format!(
                "`sslrootcert={name}` names a file in the server's CA directory, and this server has none (VERDICT_DATA_SOURCE_CA_DIR)"
            ));
        };
        let path = dir.join(name);
        let meta = std::fs::metadata(&path)
            .map_err(|_| format!("the server's CA directory has no file `{name}`"))?;
        if !meta.is_file() || meta.len() > MAX_ROOT_CERT_BYTES {
            return Err(format!(
                "`{name}` in the server's CA directory is not a file of at most 1 MiB"
            ));
        }
        let pem = std::fs::read(&path)
            .map_err(|_| format!("cannot read `{name}` in the server's CA directory"))?;
        if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
            return Err(format!("`{name}` holds no PEM certificate"));
        }
        Ok(Some(pem))
    }

    fn options(&self, ca_dir: Option<&std::path::Path>) -> Result<PgConnectOptions, String> {
        let mut o = PgConnectOptions::new_without_pgpass()
            .host(&self.host)
            .port(self.port)
            .username(&self.user)
            .database(&self.database)
            .application_name("verdict-preview")
            .statement_cache_capacity(0)
            .ssl_mode(self.ssl_mode.unwrap_or(SslMode::Prefer).sqlx());
        if let Some(p) = &self.password {
            o = o.password(p);
        }
        if let Some(pem) = self.root_cert(ca_dir)? {
            o = o.ssl_root_cert_from_pem(pem);
        }
        Ok(o)
    }

    /// `text` with the password (and its URL-encoded form) replaced by `***`.
    fn scrub(&self, text: &str) -> String {
        match &self.password {
            Some(p) if !p.is_empty() => {
                let encoded =
                    percent_encoding::utf8_percent_encode(p, percent_encoding::NON_ALPHANUMERIC)
                        .to_string();
                text.replace(p.as_str(), "***").replace(&encoded, "***")
            }
            _ => text.to_string(),
        }
    }
}

fn field(name: &str, message: String) -> ApiError {
    ApiError::invalid(format!("`{name}`: {message}")).with_problem(
        verdict_engine::ProblemKind::InvalidValue,
        name,
        message,
    )
}

fn check_name(name: &str) -> ApiResult<()> {
    if name.trim().is_empty() || name.chars().count() > 200 || name.contains('\0') {
        return Err(field(
            "name",
            "must be a non-empty text of at most 200 characters".into(),
        ));
    }
    Ok(())
}

fn require_admin(principal: &Principal) -> ApiResult<()> {
    if principal.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::forbidden(
            "data sources hold credentials: only an admin may change them",
        ))
    }
}

const COLUMNS: &str =
    "id, name, url, created_at, created_by, updated_at, updated_by, password_sealed";

/// What a sealed password of a data source is bound to.
fn seal_context(org: &str, id: &str) -> String {
    format!("verdict data source password|{org}|{id}")
}

/// The password sealed for the data source, when `target` has one.
fn seal(state: &AppState, org: &str, id: &str, target: &Target) -> ApiResult<Option<String>> {
    target
        .password
        .as_deref()
        .map(|p| state.secret_key.seal(p, &seal_context(org, id)))
        .transpose()
        .map_err(ApiError::internal)
}

/// 422 on `url` when its `sslrootcert` file cannot be used.
fn check_root_cert(state: &AppState, target: &Target) -> ApiResult<()> {
    target
        .root_cert(state.data_source_ca_dir.as_deref().map(|d| d.as_path()))
        .map(|_| ())
        .map_err(|m| field("url", m))
}

/// Seals the passwords that data sources stored before migration 0012 keep in `url`;
/// answers how many. Run at start, with the key the server will use.
pub async fn seal_plaintext(db: &crate::Db, key: &crate::secrets::SecretKey) -> ApiResult<usize> {
    let rows = sqlx::query(
        "SELECT org_id, id, url FROM data_sources WHERE password_sealed IS NULL ORDER BY org_id, id",
    )
    .fetch_all(&db.write)
    .await?;
    let mut sealed = 0;
    for row in &rows {
        let org: String = row.try_get(0)?;
        let id: String = row.try_get(1)?;
        let url: String = row.try_get(2)?;
        let Ok(target) = Target::parse(&url) else {
            continue;
        };
        let Some(password) = &target.password else {
            continue;
        };
        let secret = key
            .seal(password, &seal_context(&org, &id))
            .map_err(ApiError::internal)?;
        sqlx::query(
            "UPDATE data_sources SET url = $1, password_sealed = $2 \
             WHERE org_id = $3 AND id = $4 AND url = $5 AND password_sealed IS NULL",
        )
        .bind(target.stored())
        .bind(secret)
        .bind(&org)
        .bind(&id)
        .bind(&url)
        .execute(&db.write)
        .await?;
        sealed += 1;
    }
    Ok(sealed)
}

fn answer(row: &AnyRow) -> ApiResult<DataSource> {
    let url: String = row.try_get(2)?;
    let sealed: Option<String> = row.try_get(7)?;
    // A stored URL always parsed when it was stored.
    let target = Target::parse(&url).map_err(ApiError::internal)?;
    Ok(DataSource {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        url: Target {
            password: target
                .password
                .clone()
                .or(sealed.as_ref().map(|_| String::new())),
            ..target.clone()
        }
        .redacted(),
        host: target.host.clone(),
        port: target.port,
        database: target.database.clone(),
        user: target.user.clone(),
        has_password: target.password.is_some() || sealed.is_some(),
        created_at: format_time(row.try_get(3)?),
        created_by: row.try_get(4)?,
        updated_at: format_time(row.try_get(5)?),
        updated_by: row.try_get(6)?,
    })
}

async fn load_row<'c, E>(exec: E, org: &str, id: &str) -> ApiResult<AnyRow>
where
    E: sqlx::Executor<'c, Database = sqlx::Any>,
{
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM data_sources WHERE org_id = $1 AND id = $2"
    ))
    .bind(org)
    .bind(id)
    .fetch_optional(exec)
    .await?
    .ok_or_else(|| ApiError::not_found("data source", id))
}

fn name_taken(name: &str) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "data_source_exists",
        format!("a data source named `{name}` already exists"),
    )
}

/// Lists the organization's data sources (URLs redacted).
#[utoipa::path(get, operation_id = "listDataSources", path = "/api/v1/data-sources", tag = "data sources",
    responses((status = 200, body = DataSourceList)),
    security(("bearer" = [])))]
pub async fn list(
    State(state): State<AppState>,
    principal: Principal,
) -> ApiResult<Json<DataSourceList>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM data_sources WHERE org_id = $1 ORDER BY name, id"
    ))
    .bind(&principal.org_id)
    .fetch_all(&state.db.read)
    .await?;
    let items = rows.iter().map(answer).collect::<ApiResult<_>>()?;
    Ok(Json(DataSourceList { items }))
}

/// Registers a data source (admins only).
#[utoipa::path(post, operation_id = "createDataSource", path = "/api/v1/data-sources", tag = "data sources",
    request_body = DataSourceInput,
    responses((status = 201, body = DataSource),
        (status = 409, description = "the name is taken, or the organization has too many data sources", body = crate::openapi::ErrorBody),
        (status = 422, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn create(
    State(state): State<AppState>,
    principal: Principal,
    ApiJson(input): ApiJson<DataSourceInput>,
) -> ApiResult<(StatusCode, Json<DataSource>)> {
    require_admin(&principal)?;
    check_name(&input.name)?;
    let Some(url) = input.url else {
        return Err(field("url", "is required".into()));
    };
    let target = Target::parse(&url).map_err(|m| field("url", m))?;
    check_root_cert(&state, &target)?;
    let org = principal.org_id.as_str();
    let id = new_id("dsr");
    let sealed = seal(&state, org, &id, &target)?;
    let now = now_ms();
    let mut tx = state.db.write.begin().await?;
    let count: i64 = sqlx::query("SELECT COUNT(*) FROM data_sources WHERE org_id = $1")
        .bind(org)
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    if count >= MAX_DATA_SOURCES {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "too_many_data_sources",
            format!("an organization has at most {MAX_DATA_SOURCES} data sources"),
        ));
    }
    let taken = sqlx::query("SELECT 1 FROM data_sources WHERE org_id = $1 AND name = $2")
        .bind(org)
        .bind(&input.name)
        .fetch_optional(&mut *tx)
        .await?
        .is_some();
    if taken {
        return Err(name_taken(&input.name));
    }
    sqlx::query(
        "INSERT INTO data_sources (org_id, id, name, url, created_at, created_by, updated_at, updated_by, password_sealed) \
         VALUES ($1, $2, $3, $4, $5, $6, $5, $6, $7)",
    )
    .bind(org)
    .bind(&id)
    .bind(&input.name)
    .bind(target.stored())
    .bind(now)
    .bind(&principal.user)
    .bind(sealed)
    .execute(&mut *tx)
    .await?;
    audit::record(
        &mut tx,
        org,
        &principal.user,
        "data_source.create",
        "data_source",
        &id,
        &["name", "url"],
        Some(json!({ "name": input.name, "url": target.redacted() })),
    )
    .await?;
    let row = load_row(&mut *tx, org, &id).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(answer(&row)?)))
}

/// Reads a data source (URL redacted).
#[utoipa::path(get, operation_id = "getDataSource", path = "/api/v1/data-sources/{id}", tag = "data sources",
    params(("id" = String, Path, description = "data source id")),
    responses((status = 200, body = DataSource), (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn get(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<DataSource>> {
    let row = load_row(&state.db.read, &principal.org_id, &id).await?;
    Ok(Json(answer(&row)?))
}

/// Renames a data source and, with `url`, replaces its URL (admins only).
#[utoipa::path(put, operation_id = "replaceDataSource", path = "/api/v1/data-sources/{id}", tag = "data sources",
    params(("id" = String, Path, description = "data source id")), request_body = DataSourceInput,
    responses((status = 200, body = DataSource), (status = 404, body = crate::openapi::ErrorBody),
        (status = 409, description = "the name is taken", body = crate::openapi::ErrorBody),
        (status = 422, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn replace(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(input): ApiJson<DataSourceInput>,
) -> ApiResult<Json<DataSource>> {
    require_admin(&principal)?;
    check_name(&input.name)?;
    let target = input
        .url
        .as_deref()
        .map(|u| Target::parse(u).map_err(|m| field("url", m)))
        .transpose()?;
    if let Some(t) = &target {
        check_root_cert(&state, t)?;
    }
    let org = principal.org_id.as_str();
    let mut tx = state.db.write.begin().await?;
    load_row(&mut *tx, org, &id).await?;
    let taken =
        sqlx::query("SELECT 1 FROM data_sources WHERE org_id = $1 AND name = $2 AND id <> $3")
            .bind(org)
            .bind(&input.name)
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?
            .is_some();
    if taken {
        return Err(name_taken(&input.name));
    }
    sqlx::query(
        "UPDATE data_sources SET name = $1, updated_at = $2, updated_by = $3 \
         WHERE org_id = $4 AND id = $5",
    )
    .bind(&input.name)
    .bind(now_ms())
    .bind(&principal.user)
    .bind(org)
    .bind(&id)
    .execute(&mut *tx)
    .await?;
    if let Some(t) = &target {
        sqlx::query(
            "UPDATE data_sources SET url = $1, password_sealed = $2 WHERE org_id = $3 AND id = $4",
        )
        .bind(t.stored())
        .bind(seal(&state, org, &id, t)?)
        .bind(org)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    }
    let mut fields = vec!["name"];
    let mut detail = serde_json::Map::new();
    detail.insert("name".into(), json!(input.name));
    if let Some(t) = &target {
        fields.push("url");
        detail.insert("url".into(), json!(t.redacted()));
    }
    audit::record(
        &mut tx,
        org,
        &principal.user,
        "data_source.update",
        "data_source",
        &id,
        &fields,
        Some(Value::Object(detail)),
    )
    .await?;
    let row = load_row(&mut *tx, org, &id).await?;
    tx.commit().await?;
    Ok(Json(answer(&row)?))
}

/// Removes a data source with its stored credentials (admins only).
#[utoipa::path(delete, operation_id = "deleteDataSource", path = "/api/v1/data-sources/{id}", tag = "data sources",
    params(("id" = String, Path, description = "data source id")),
    responses((status = 204, description = "deleted"), (status = 404, body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn delete(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    require_admin(&principal)?;
    let org = principal.org_id.as_str();
    let mut tx = state.db.write.begin().await?;
    let deleted = sqlx::query("DELETE FROM data_sources WHERE org_id = $1 AND id = $2")
        .bind(org)
        .bind(&id)
        .execute(&mut *tx)
        .await?;
    if deleted.rows_affected() != 1 {
        return Err(ApiError::not_found("data source", &id));
    }
    audit::record(
        &mut tx,
        org,
        &principal.user,
        "data_source.delete",
        "data_source",
        &id,
        &[],
        None,
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}

// ----------------------------------------------------------------------------- preview

/// Body of `POST /api/v1/data-sources/{id}/preview`: a dry run's body (give at most one of
/// `policy_id`, `policy` and `policy_set`; with none, the active set) and a timeout.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"sql": "SELECT id, name, email FROM customers", "context": {"user": "alice", "roles": ["analyst"], "attributes": {"tenant_id": 1}}}))]
#[serde(deny_unknown_fields)]
pub struct PreviewRequest {
    pub sql: String,
    #[serde(default)]
    #[schema(value_type = Option<verdict_api_model::Context>)]
    pub context: Option<Value>,
    /// A saved policy, evaluated alone with its assignments as `applies_to`.
    #[serde(default)]
    pub policy_id: Option<String>,
    /// A draft policy (`assignments` become `applies_to`).
    #[serde(default)]
    #[schema(value_type = Option<verdict_api_model::Policy>)]
    pub policy: Option<Value>,
    /// A whole draft policy set; without `catalog`, the organization's catalog is used.
    #[serde(default)]
    #[schema(value_type = Option<verdict_api_model::PolicySetDraft>)]
    pub policy_set: Option<Value>,
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default)]
    pub query_id: Option<String>,
    /// The statement timeout in milliseconds, 1–5000 (default 5000).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 5000)]
    pub timeout_ms: Option<u64>,
}

/// One result set of a preview.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResultSet {
    /// The SQL that ran.
    pub sql: String,
    pub columns: Vec<ResultColumn>,
    /// At most 100 rows; each cell PostgreSQL's value as text (JSON text for json
    /// values), or null.
    #[schema(value_type = Vec<Vec<Option<String>>>)]
    pub rows: Vec<Vec<Option<String>>>,
    /// More rows than `rows` holds exist.
    pub truncated: bool,
    /// Some cell was longer than 2000 characters and is cut.
    pub cells_cut: bool,
    /// Rows of the whole result, counted up to 10000 (queries only).
    pub count: Option<i64>,
    /// `count` reached its bound: there are at least that many rows.
    pub count_bounded: bool,
    /// False for a statement that is not a query (it ran, read-only, returning no rows).
    pub query: bool,
    pub elapsed_ms: u64,
}

/// A column of a result set.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ResultColumn {
    pub name: String,
    /// PostgreSQL's type name, such as `int4` or `text`.
    pub type_name: String,
    /// A policy masks this column in the rows as the context sees them.
    pub masked: bool,
}

/// The answer of a preview.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Preview {
    /// The engine's verdict (SPEC §3) with `policies` and `exceptions_applied`, as a dry
    /// run answers it.
    #[schema(value_type = verdict_api_model::VerdictBody)]
    pub verdict: Value,
    /// Whether anything ran (never for a blocked verdict).
    pub ran: bool,
    /// The rewritten SQL's rows: what this context sees.
    pub as_context: Option<ResultSet>,
    /// The SQL as written, run as the data source's own role (the author's rows).
    pub as_author: Option<ResultSet>,
    /// The names of the result columns a policy masks.
    pub masked_columns: Vec<String>,
    /// Rows the author's query returns that this context does not see (the difference of
    /// the two counts); null when either is not a query.
    pub filtered_out: Option<i64>,
    /// `filtered_out` is a lower bound: a count reached its bound.
    pub filtered_out_bounded: bool,
    pub data_source: DataSourceRef,
}

/// Which data source a preview ran on.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct DataSourceRef {
    pub id: String,
    pub name: String,
    pub url: String,
}

/// Evaluates SQL for a context like a dry run and, unless the verdict blocks, runs the
/// rewritten SQL and the SQL as written on the data source, read-only, and answers both
/// result sets side by side.
#[utoipa::path(post, operation_id = "previewDataSource", path = "/api/v1/data-sources/{id}/preview", tag = "data sources",
    params(("id" = String, Path, description = "data source id")), request_body = PreviewRequest,
    responses((status = 200, body = Preview),
        (status = 404, body = crate::openapi::ErrorBody),
        (status = 409, description = "`data_source_unreachable`: the data source cannot be connected to (the TLS handshake included); `data_source_secret_unreadable`: its stored password was sealed with another server key", body = crate::openapi::ErrorBody),
        (status = 429, description = "`too_many_previews`: the server runs its most previews at once", body = crate::openapi::ErrorBody),
        (status = 422, description = "an invalid request, or PostgreSQL refused a statement: `data_source_error` (or `statement_timeout`) with `details` {`statement`: `rewritten` or `original`, `sqlstate`, `message`, `detail`, `hint`, `position`}", body = crate::openapi::ErrorBody)),
    security(("bearer" = [])))]
pub async fn preview(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<PreviewRequest>,
) -> ApiResult<Json<Preview>> {
    let org = principal.org_id.as_str();
    if principal.role == Role::Viewer {
        let settings = crate::settings::load(&state.db.read, org).await?;
        if settings.data_preview_viewers != Some(true) {
            return Err(ApiError::forbidden(
                "viewers may run the data preview only where the organization's settings allow it (`data_preview_viewers`)",
            ));
        }
    }
    let timeout_ms = match req.timeout_ms {
        None => MAX_TIMEOUT_MS,
        Some(t) if (1..=MAX_TIMEOUT_MS).contains(&t) => t,
        Some(_) => {
            return Err(field(
                "timeout_ms",
                format!("must be from 1 to {MAX_TIMEOUT_MS}"),
            ))
        }
    };
    let row = load_row(&state.db.read, org, &id).await?;
    let source = DataSourceRef {
        id: row.try_get(0)?,
        name: row.try_get(1)?,
        url: answer(&row)?.url,
    };
    let url: String = row.try_get(2)?;
    let mut target = Target::parse(&url).map_err(ApiError::internal)?;
    if let Some(sealed) = row.try_get::<Option<String>, _>(7)? {
        let password = state
            .secret_key
            .open(&sealed, &seal_context(org, &id))
            .map_err(|e| {
                ApiError::new(
                    StatusCode::CONFLICT,
                    "data_source_secret_unreadable",
                    format!("the data source's stored password cannot be opened: {e}"),
                )
            })?;
        target.password = Some(password);
    }
    check_sql(&req.sql)?;
    let mut ctx = context(req.context.as_ref())?;
    scope(&mut ctx, req.dataset.as_ref(), req.query_id.as_ref())?;
    let (set, applied, extra) = chosen_set(
        &state,
        &principal,
        &ctx,
        req.policy_id.as_deref(),
        req.policy,
        req.policy_set,
    )
    .await?;
    let verdict = evaluate(&set, &req.sql, &ctx);
    let mut verdict_json: Value =
        serde_json::from_str(&verdict.to_json()).map_err(ApiError::internal)?;
    if let Some(obj) = verdict_json.as_object_mut() {
        let ids: Vec<&str> = set.policies.iter().map(|p| p.id.as_str()).collect();
        obj.insert("policies".into(), json!(ids));
        obj.insert("exceptions_applied".into(), applied_json(&applied));
        for (k, v) in extra {
            obj.insert(k.into(), v);
        }
    }
    let masked: Vec<String> = {
        let mut names: Vec<String> = verdict
            .masked_columns
            .iter()
            .map(|m| m.column.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    };
    let rewritten = match (&verdict.rewritten_sql, verdict.is_block()) {
        (Some(sql), false) => sql.clone(),
        _ => {
            return Ok(Json(Preview {
                verdict: verdict_json,
                ran: false,
                as_context: None,
                as_author: None,
                masked_columns: masked,
                filtered_out: None,
                filtered_out_bounded: false,
                data_source: source,
            }))
        }
    };
    let original = req
        .sql
        .trim()
        .trim_end_matches(|c: char| c == ';' || c.is_whitespace())
        .to_string();
    let _permit = PREVIEWS.try_acquire().map_err(|_| {
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_previews",
            format!("the server runs at most {MAX_CONCURRENT_PREVIEWS} data previews at once; try again"),
        )
    })?;
    let mut conn = connect(
        &target,
        state.data_source_ca_dir.as_deref().map(|d| d.as_path()),
    )
    .await?;
    let ran = run_both(
        &mut conn, &target, &rewritten, &original, timeout_ms, &masked,
    )
    .await;
    // The transaction is rolled back by closing the connection either way.
    let _ = conn.close().await;
    let (as_context, as_author) = ran?;
    let (filtered_out, filtered_out_bounded) = match (as_context.count, as_author.count) {
        (Some(seen), Some(all)) => (
            Some((all - seen).max(0)),
            as_context.count_bounded || as_author.count_bounded,
        ),
        _ => (None, false),
    };
    Ok(Json(Preview {
        verdict: verdict_json,
        ran: true,
        as_context: Some(as_context),
        as_author: Some(as_author),
        masked_columns: masked,
        filtered_out,
        filtered_out_bounded,
        data_source: source,
    }))
}

async fn connect(target: &Target, ca_dir: Option<&std::path::Path>) -> ApiResult<PgConnection> {
    let unreachable = |message: String| {
        ApiError::new(
            StatusCode::CONFLICT,
            "data_source_unreachable",
            format!(
                "cannot connect to the data source: {}",
                target.scrub(&message)
            ),
        )
    };
    let options = target.options(ca_dir).map_err(unreachable)?;
    match tokio::time::timeout(CONNECT_TIMEOUT, PgConnection::connect_with(&options)).await {
        Err(_) => Err(unreachable(format!(
            "no answer within {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
        Ok(Err(e)) => Err(match pg_error(&e) {
            Some(failure) => {
                unreachable(failure.message).with_details(scrub_value(target, failure.details))
            }
            None => unreachable(e.to_string()),
        }),
        Ok(Ok(conn)) => Ok(conn),
    }
}

/// The fields of a PostgreSQL error.
struct PgFailure {
    sqlstate: String,
    message: String,
    details: Value,
}

/// The fields of a PostgreSQL error, when `e` is one.
fn pg_error(e: &sqlx::Error) -> Option<PgFailure> {
    let sqlx::Error::Database(db) = e else {
        return None;
    };
    let pg = db.try_downcast_ref::<PgDatabaseError>()?;
    let position = match pg.position() {
        Some(sqlx::postgres::PgErrorPosition::Original(p)) => Some(p),
        _ => None,
    };
    Some(PgFailure {
        sqlstate: pg.code().to_string(),
        message: pg.message().to_string(),
        details: json!({
            "sqlstate": pg.code(),
            "message": pg.message(),
            "detail": pg.detail(),
            "hint": pg.hint(),
            "position": position,
        }),
    })
}

fn scrub_value(target: &Target, v: Value) -> Value {
    match serde_json::from_str(&target.scrub(&v.to_string())) {
        Ok(clean) => clean,
        Err(_) => json!({}),
    }
}

/// Runs both statements in one read-only transaction (one snapshot).
async fn run_both(
    conn: &mut PgConnection,
    target: &Target,
    rewritten: &str,
    original: &str,
    timeout_ms: u64,
    masked: &[String],
) -> ApiResult<(ResultSet, ResultSet)> {
    (&mut *conn)
        .execute("BEGIN TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await
        .map_err(|e| statement_error(target, "setup", &e))?;
    let as_context = run_one(conn, target, "rewritten", rewritten, timeout_ms, masked).await?;
    let as_author = run_one(conn, target, "original", original, timeout_ms, &[]).await?;
    let _ = (&mut *conn).execute("ROLLBACK").await;
    Ok((as_context, as_author))
}

fn statement_error(target: &Target, statement: &str, e: &sqlx::Error) -> ApiError {
    match pg_error(e) {
        Some(failure) => {
            let message = failure.message;
            let mut details = failure.details;
            if let Some(obj) = details.as_object_mut() {
                obj.insert("statement".into(), json!(statement));
            }
            let (code, text) = if failure.sqlstate == "57014" {
                (
                    "statement_timeout",
                    format!("the {statement} SQL ran longer than the preview's statement timeout"),
                )
            } else {
                (
                    "data_source_error",
                    format!("PostgreSQL refused the {statement} SQL: {message}"),
                )
            };
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, code, target.scrub(&text))
                .with_details(scrub_value(target, details))
        }
        None => ApiError::new(
            StatusCode::CONFLICT,
            "data_source_unreachable",
            format!(
                "the data source failed during the {statement} SQL: {}",
                target.scrub(&e.to_string())
            ),
        )
        .with_details(json!({ "statement": statement })),
    }
}

/// Whether a statement is a query that can be read as a derived table.
fn is_query(sql: &str) -> bool {
    let mut rest = sql.trim_start();
    // Leading comments and parentheses.
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r
                .split_once('\n')
                .map_or("", |(_, after)| after)
                .trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r
                .split_once("*/")
                .map_or("", |(_, after)| after)
                .trim_start();
        } else if let Some(r) = rest.strip_prefix('(') {
            rest = r.trim_start();
        } else {
            break;
        }
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    matches!(word.as_str(), "select" | "with" | "values" | "table")
}

async fn set_timeout(
    conn: &mut PgConnection,
    target: &Target,
    statement: &str,
    timeout_ms: u64,
) -> ApiResult<()> {
    // Before every statement: a statement may have changed it with set_config.
    (&mut *conn)
        .execute(
            format!(
                "SET LOCAL statement_timeout = {timeout_ms}; SET LOCAL lock_timeout = {timeout_ms}"
            )
            .as_str(),
        )
        .await
        .map_err(|e| statement_error(target, statement, &e))?;
    Ok(())
}

async fn run_one(
    conn: &mut PgConnection,
    target: &Target,
    statement: &str,
    sql: &str,
    timeout_ms: u64,
    masked: &[String],
) -> ApiResult<ResultSet> {
    let started = Instant::now();
    let fail = |e: sqlx::Error| statement_error(target, statement, &e);
    set_timeout(conn, target, statement, timeout_ms).await?;
    // Parse and describe only (one statement: the extended protocol takes no more).
    let prepared = (&mut *conn).prepare(sql).await.map_err(fail)?;
    let columns: Vec<ResultColumn> = prepared
        .columns()
        .iter()
        .map(|c| ResultColumn {
            masked: masked.iter().any(|m| m.eq_ignore_ascii_case(c.name())),
            name: c.name().to_string(),
            type_name: c.type_info().name().to_string(),
        })
        .collect();
    if !is_query(sql) {
        // Not a query: it runs as it is, inside the read-only transaction (a write fails).
        set_timeout(conn, target, statement, timeout_ms).await?;
        sqlx::query(sql).execute(&mut *conn).await.map_err(fail)?;
        return Ok(ResultSet {
            sql: sql.to_string(),
            columns,
            rows: Vec::new(),
            truncated: false,
            cells_cut: false,
            count: None,
            count_bounded: false,
            query: false,
            elapsed_ms: elapsed(started),
        });
    }
    // Each row as a JSON array of its values as text, in column order (json_each keeps
    // the order and the duplicate names of `row_to_json`).
    let rows_sql = format!(
        "SELECT (SELECT json_agg(left(verdict_cell.value #>> '{{}}', {}) ORDER BY verdict_cell.n)::text \
         FROM json_each(row_to_json(verdict_preview_row)) WITH ORDINALITY AS verdict_cell(key, value, n)), \
         (SELECT bool_or(length(verdict_cell.value #>> '{{}}') > {}) \
         FROM json_each(row_to_json(verdict_preview_row)) AS verdict_cell(key, value)) \
         FROM (\n{sql}\n) AS verdict_preview_row LIMIT {}",
        MAX_CELL_CHARS,
        MAX_CELL_CHARS,
        MAX_ROWS + 1
    );
    set_timeout(conn, target, statement, timeout_ms).await?;
    let fetched = sqlx::query(&rows_sql)
        .fetch_all(&mut *conn)
        .await
        .map_err(fail)?;
    let truncated = fetched.len() > MAX_ROWS;
    let mut rows = Vec::new();
    let mut cells_cut = false;
    for r in fetched.iter().take(MAX_ROWS) {
        let text: Option<String> = r.try_get(0).map_err(fail)?;
        let cut: Option<bool> = r.try_get(1).map_err(fail)?;
        cells_cut |= cut.unwrap_or(false);
        let cells: Vec<Option<String>> = match text {
            Some(t) => serde_json::from_str(&t).map_err(ApiError::internal)?,
            None => Vec::new(),
        };
        rows.push(cells);
    }
    set_timeout(conn, target, statement, timeout_ms).await?;
    let count: i64 = sqlx::query(&format!(
        "SELECT count(*) FROM (SELECT 1 FROM (\n{sql}\n) AS verdict_preview_row LIMIT {COUNT_BOUND}) AS verdict_preview_count"
    ))
    .fetch_one(&mut *conn)
    .await
    .map_err(fail)?
    .try_get(0)
    .map_err(fail)?;
    Ok(ResultSet {
        sql: sql.to_string(),
        columns,
        rows,
        truncated,
        cells_cut,
        count: Some(count),
        count_bounded: count >= COUNT_BOUND,
        query: true,
        elapsed_ms: elapsed(started),
    })
}

fn elapsed(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed_strictly_and_redacted() {
        let t = Target::parse("postgres://alice:p%40ss@db.internal:6543/ware").unwrap();
        assert_eq!(t.password.as_deref(), Some("p@ss"));
        assert_eq!(t.redacted(), "postgres://alice:***@db.internal:6543/ware");
        let t = Target::parse("postgresql://bob@127.0.0.1/x").unwrap();
        assert_eq!(t.redacted(), "postgres://bob@127.0.0.1:5432/x");
        let t = Target::parse("postgres://a:b@h/d?sslmode=verify-full&sslrootcert=corp-ca.pem")
            .unwrap();
        assert_eq!(t.ssl_mode, Some(SslMode::VerifyFull));
        assert_eq!(
            t.redacted(),
            "postgres://a:***@h:5432/d?sslmode=verify-full&sslrootcert=corp-ca.pem"
        );
        assert_eq!(
            t.stored(),
            "postgres://a@h:5432/d?sslmode=verify-full&sslrootcert=corp-ca.pem"
        );
        assert_eq!(Target::parse(&t.stored()).unwrap().password, None);
        for (mode, m) in SslMode::ALL {
            let t = Target::parse(&format!("postgres://a@h/d?sslmode={mode}")).unwrap();
            assert_eq!(t.ssl_mode, Some(m));
        }
        for bad in [
            "mysql://a:b@h/d",
            "postgres://a:b@h/d?sslmode=bogus",
            "postgres://a:b@h/d?sslmode=require&sslmode=disable",
            "postgres://a:b@h/d?sslkey=/etc/key",
            "postgres://a:b@h/d?sslrootcert=ca.pem",
            "postgres://a:b@h/d?sslmode=require&sslrootcert=ca.pem",
            "postgres://a:b@h/d?sslmode=verify-full&sslrootcert=/etc/passwd",
            "postgres://a:b@h/d?sslmode=verify-full&sslrootcert=../secret-key",
            "postgres://a:b@h/d?sslmode=verify-full&sslrootcert=.hidden",
            "postgres://a:b@h/d?password=x",
            "postgres://a:b@h/d?host=/tmp",
            "postgres://h/d",
            "postgres://a@h/",
            "postgres://a@h/d#x",
            "not a url",
        ] {
            let err = Target::parse(bad).unwrap_err();
            assert!(!err.contains("b@h"), "{bad}: {err}");
        }
    }

    #[test]
    fn scrub_removes_the_password_in_both_spellings() {
        let t = Target::parse("postgres://a:s%3Acret@h/d").unwrap();
        assert_eq!(t.scrub("x s:cret y s%3Acret"), "x *** y ***");
    }

    #[test]
    fn queries_are_told_from_other_statements() {
        for q in [
            "SELECT 1",
            " -- c\n(select 1)",
            "/* x */ WITH a AS (SELECT 1) SELECT * FROM a",
            "VALUES (1)",
            "table t",
        ] {
            assert!(is_query(q), "{q}");
        }
        for s in [
            "DELETE FROM t",
            "UPDATE t SET a = 1",
            "insert into t values (1)",
            "SHOW x",
            "",
        ] {
            assert!(!is_query(s), "{s}");
        }
    }
}
