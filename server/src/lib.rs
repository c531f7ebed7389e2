#![doc = include_str!("../README.md")]

pub mod active;
pub mod alerts;
pub mod assignments;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod compile;
pub mod dashboard;
pub mod data_sources;
pub mod db;
pub mod deleted;
pub mod error;
pub mod evaluate;
pub mod exceptions;
pub mod explain;
pub mod extract;
pub mod limits;
pub mod log;
#[cfg(test)]
mod model_agreement;
pub mod openapi;
pub mod pagination;
pub mod policies;
pub mod policy_tests;
pub mod principals;
pub mod review;
pub mod secrets;
pub mod settings;
pub mod store;
pub mod versions;
pub mod web;

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub use auth::{create_token, revoke_token, NewToken, Principal, Role, TokenError};
pub use db::{Db, DbError};
pub use error::ApiError;

/// What every handler shares.
#[derive(Debug, Clone)]
pub struct AppState {
    pub db: Db,
    pub cache: Arc<active::Cache>,
    pub generations: Arc<active::Generations>,
    pub tokens: Arc<auth::TokenCache>,
    pub log: Arc<log::Log>,
    /// Wakes this instance's alert delivery worker.
    pub alerts: Arc<alerts::Queue>,
    /// How alerts are sent and retried.
    pub alert_config: alerts::WorkerConfig,
    /// Seals data-source passwords at rest. `new` makes a random one (nothing sealed
    /// outlives the process); `serve` uses `VERDICT_SECRET_KEY` or the data directory's
    /// key file.
    pub secret_key: Arc<secrets::SecretKey>,
    /// Where data-source URLs' `sslrootcert=NAME` files are read from
    /// (`VERDICT_DATA_SOURCE_CA_DIR`); without it only `sslrootcert=system` is accepted.
    pub data_source_ca_dir: Option<Arc<PathBuf>>,
}

impl AppState {
    /// A state over an open database.
    pub fn new(db: Db) -> Self {
        AppState {
            db,
            cache: Arc::new(active::Cache::default()),
            generations: Arc::new(active::Generations::default()),
            tokens: Arc::new(auth::TokenCache::default()),
            log: Arc::new(log::Log::default()),
            alerts: Arc::new(alerts::Queue::default()),
            alert_config: alerts::WorkerConfig::default(),
            secret_key: Arc::new(secrets::SecretKey::random()),
            data_source_ca_dir: None,
        }
    }

    /// This state with `key` for sealed secrets.
    pub fn with_secret_key(mut self, key: secrets::SecretKey) -> Self {
        self.secret_key = Arc::new(key);
        self
    }

    /// This state reading `sslrootcert` files from `dir`.
    pub fn with_data_source_ca_dir(mut self, dir: PathBuf) -> Self {
        self.data_source_ca_dir = Some(Arc::new(dir));
        self
    }

    /// Starts the alert delivery worker of this instance (it stops when the database
    /// is closed).
    pub fn start_alerts(&self) -> tokio::task::JoinHandle<()> {
        alerts::spawn_worker(self.db.clone(), self.alerts.clone(), self.alert_config)
    }

    /// Called after a committed change to what shapes an organization's active set, so
    /// that this instance's next request rebuilds it.
    pub fn changed(&self, org: &str) {
        self.cache.invalidate(org);
    }
}

/// The default limit on request bodies: 1 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

/// The whole HTTP application.
pub fn app(state: AppState, max_body_bytes: usize) -> Router {
    router(state, max_body_bytes, None)
}

/// Every documented route: `routes!` registers a handler together with its OpenAPI
/// operation, so a route cannot exist without its documentation.
fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(health))
        .routes(routes!(me))
        .routes(routes!(catalog::get, catalog::put))
        .routes(routes!(policies::list, policies::create))
        .routes(routes!(dashboard::dashboard))
        .routes(routes!(evaluate::replay))
        .routes(routes!(compile::compile))
        .routes(routes!(explain::explain_row))
        .routes(routes!(explain::who_sees))
        .routes(routes!(
            policies::get,
            policies::replace,
            policies::patch,
            policies::delete
        ))
        .routes(routes!(versions::list))
        .routes(routes!(versions::get))
        .routes(routes!(versions::diff))
        .routes(routes!(versions::rollback))
        .routes(routes!(review::submit))
        .routes(routes!(review::review))
        .routes(routes!(review::publish))
        .routes(routes!(review::list))
        .routes(routes!(review::catalog_version))
        .routes(routes!(review::submit_catalog))
        .routes(routes!(review::review_catalog))
        .routes(routes!(review::publish_catalog))
        .routes(routes!(
            assignments::list,
            assignments::add,
            assignments::remove_by_value
        ))
        .routes(routes!(assignments::remove))
        .routes(routes!(exceptions::list, exceptions::create))
        .routes(routes!(exceptions::revoke))
        .routes(routes!(evaluate::policy_evaluations))
        .routes(routes!(evaluate::dry_run))
        .routes(routes!(evaluate::evaluate_and_log))
        .routes(routes!(evaluate::evaluations))
        .routes(routes!(evaluate::evaluation))
        .routes(routes!(evaluate::violations))
        .routes(routes!(evaluate::policy_violations))
        .routes(routes!(limits::list))
        .routes(routes!(principals::list, principals::create))
        .routes(routes!(
            principals::get,
            principals::replace,
            principals::delete
        ))
        .routes(routes!(settings::get, settings::put))
        .routes(routes!(policy_tests::get, policy_tests::put))
        .routes(routes!(auth::revoke))
        .routes(routes!(audit::list))
        .routes(routes!(alerts::list, alerts::create))
        .routes(routes!(alerts::get, alerts::replace, alerts::delete))
        .routes(routes!(alerts::test))
        .routes(routes!(alerts::dead_letters))
        .routes(routes!(data_sources::list, data_sources::create))
        .routes(routes!(
            data_sources::get,
            data_sources::replace,
            data_sources::delete
        ))
        .routes(routes!(data_sources::preview))
        .routes(routes!(deleted::list))
        .routes(routes!(deleted::restore))
}

/// The OpenAPI document of every route.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut doc = api_router().into_openapi();
    openapi::complete(&mut doc);
    doc
}

/// The HTTP application; with `web_dir`, the single-page app in that directory is served
/// at `/` and at every path that is not the API's.
pub fn router(state: AppState, max_body_bytes: usize, web_dir: Option<PathBuf>) -> Router {
    let (base, mut openapi) = api_router().split_for_parts();
    openapi::complete(&mut openapi);
    // The reference page works offline: its assets are inside the binary (the vendored
    // Swagger UI crate), and the online spec validator badge is off.
    let served = Arc::new(openapi::served(&openapi));
    let docs = utoipa_swagger_ui::SwaggerUi::new("/docs").config(
        utoipa_swagger_ui::Config::from("/openapi.json")
            .validator_url("none")
            .persist_authorization(true)
            .try_it_out_enabled(true),
    );
    let base = base.merge(docs).route(
        "/openapi.json",
        get(move || {
            let served = served.clone();
            async move { Json(served.as_ref().clone()) }
        }),
    );
    let routed = match web_dir {
        Some(dir) => {
            let web = web::WebDir::new(dir);
            if tokio::runtime::Handle::try_current().is_ok() {
                web.warm();
            }
            base.fallback_service(Router::new().fallback(web::serve).with_state(web))
        }
        None => base.route("/", get(index)).fallback(not_found),
    };
    routed
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(axum::middleware::from_fn(
            policy_tests::check_override_header,
        ))
        .with_state(state)
}

async fn not_found() -> ApiError {
    not_found_error()
}

pub(crate) fn not_found_error() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this endpoint does not take that method",
    )
}

async fn index() -> Html<&'static str> {
    Html(
        "<!doctype html><meta charset=utf-8><title>Verdict</title>\
         <h1>Verdict Policies API</h1><p>API reference: <a href=\"/docs/\">/docs</a> \
         (OpenAPI document: <a href=\"/openapi.json\">/openapi.json</a>). \
         Every <code>/api/v1</code> endpoint needs <code>Authorization: Bearer &lt;token&gt;</code>.</p>",
    )
}

/// Liveness and database reachability; needs no token.
#[utoipa::path(get, operation_id = "getHealth", path = "/health", tag = "audit",
    responses((status = 200, description = "the server and its database answer", body = openapi::Health),
        (status = 503, description = "the database cannot be reached", body = openapi::ErrorBody)))]
pub async fn health(State(state): State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(&state.db.read).await {
        Ok(_) => Json(json!({ "status": "ok" })).into_response(),
        Err(e) => {
            eprintln!("verdict-server: health check failed: {e}");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "the database cannot be reached",
            )
            .into_response()
        }
    }
}

/// The caller: organization, user and role of the token.
#[utoipa::path(get, operation_id = "getMe", path = "/api/v1/me", tag = "audit",
    responses((status = 200, description = "the caller", body = openapi::Me)),
    security(("bearer" = [])))]
pub async fn me(principal: Principal) -> Json<openapi::Me> {
    Json(openapi::Me {
        org: principal.org_name,
        user: principal.user,
        role: principal.role,
        token_id: principal.token_id,
    })
}

/// How `verdict serve` runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen, such as `127.0.0.1:8080`.
    pub addr: String,
    /// `sqlite://PATH` or `postgres://…`; default: `verdict.db` in `data_dir`.
    pub database_url: Option<String>,
    /// Holds the SQLite file and the first admin token.
    pub data_dir: PathBuf,
    pub max_body_bytes: usize,
    /// A built single-page app (the policy editor) to serve at `/`.
    pub web_dir: Option<PathBuf>,
}

/// Failures of `serve` and of the token commands.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Db(#[from] DbError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("cannot listen on `{0}`: {1}")]
    Listen(String, std::io::Error),
    #[error("cannot write `{0}`: {1}")]
    Write(String, std::io::Error),
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("the server stopped with an error: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Secret(#[from] secrets::SecretError),
    #[error("cannot seal the data sources' stored passwords: {0}")]
    Seal(String),
}

/// The database URL of a configuration.
pub fn database_url(database_url: Option<&str>, data_dir: &Path) -> Result<String, DbError> {
    match database_url {
        Some(url) => Ok(url.to_string()),
        None => Db::sqlite_url_in(data_dir),
    }
}

fn runtime() -> Result<tokio::runtime::Runtime, ServeError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(ServeError::Runtime)
}

/// Creates the first admin token when the database has none, saving it to
/// `data_dir/admin-token` (mode 0600); returns the token to show, if one is known.
async fn bootstrap(db: &Db, data_dir: &Path) -> Result<Option<String>, ServeError> {
    let file = data_dir.join("admin-token");
    if !auth::any_active_token(db).await.map_err(TokenError::Db)? {
        let token =
            create_token(db, "default", "admin", "admin", Some("first admin token")).await?;
        std::fs::create_dir_all(data_dir)
            .map_err(|e| ServeError::Write(data_dir.display().to_string(), e))?;
        write_secret(&file, &token.token)?;
        return Ok(Some(token.token));
    }
    // Show the saved first token again while it is still valid.
    let Ok(saved) = std::fs::read_to_string(&file) else {
        return Ok(None);
    };
    let saved = saved.trim().to_string();
    let valid = sqlx::query("SELECT 1 FROM tokens WHERE token_hash = $1 AND revoked_at IS NULL")
        .bind(auth::hash_token(&saved))
        .fetch_optional(&db.read)
        .await
        .map_err(TokenError::Db)?
        .is_some();
    Ok(valid.then_some(saved))
}

fn write_secret(path: &Path, secret: &str) -> Result<(), ServeError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut f = options
        .open(path)
        .map_err(|e| ServeError::Write(path.display().to_string(), e))?;
    writeln!(f, "{secret}").map_err(|e| ServeError::Write(path.display().to_string(), e))
}

/// Runs the server until Ctrl-C or SIGTERM.
pub fn serve(config: ServeConfig) -> Result<(), ServeError> {
    runtime()?.block_on(serve_async(config))
}

/// The async body of [`serve`].
pub async fn serve_async(config: ServeConfig) -> Result<(), ServeError> {
    let url = database_url(config.database_url.as_deref(), &config.data_dir)?;
    // The key before anything else: a server that cannot open its secrets does not start.
    let key = secrets::SecretKey::for_server(&config.data_dir)?;
    let db = Db::connect(&url).await?;
    let sealed = data_sources::seal_plaintext(&db, &key)
        .await
        .map_err(|e| ServeError::Seal(e.to_string()))?;
    let token = bootstrap(&db, &config.data_dir).await?;
    let listener = tokio::net::TcpListener::bind(&config.addr)
        .await
        .map_err(|e| ServeError::Listen(config.addr.clone(), e))?;
    let local: SocketAddr = listener
        .local_addr()
        .map_err(|e| ServeError::Listen(config.addr.clone(), e))?;
    {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "verdict: serving http://{local}  (API docs: http://{local}/docs/)"
        );
        let _ = writeln!(out, "verdict: database {}", redact(&url));
        if sealed > 0 {
            let _ = writeln!(
                out,
                "verdict: sealed the passwords of {sealed} data source(s) stored in plain text"
            );
        }
        match &token {
            Some(t) => {
                let _ = writeln!(out, "verdict: admin token: {t}");
                let _ = writeln!(
                    out,
                    "verdict: try: curl -H 'Authorization: Bearer {t}' http://{local}/api/v1/policies"
                );
            }
            None => {
                let _ = writeln!(out, "verdict: create a token with `verdict token create`");
            }
        }
        let _ = out.flush();
    }
    let mut state = AppState::new(db.clone()).with_secret_key(key);
    if let Some(dir) = std::env::var_os("VERDICT_DATA_SOURCE_CA_DIR").filter(|d| !d.is_empty()) {
        state = state.with_data_source_ca_dir(PathBuf::from(dir));
    }
    state.alert_config = alerts::WorkerConfig::from_env();
    let worker = state.start_alerts();
    let app = router(state, config.max_body_bytes, config.web_dir.clone());
    // Answers go out at once (no Nagle delay behind the previous answer's ACK).
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    worker.abort();
    db.close().await;
    result.map_err(ServeError::Serve)
}

/// A database URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let creds = url.get(scheme + 3..at).unwrap_or("");
            match creds.split_once(':') {
                Some((user, _)) => format!(
                    "{}{user}:***{}",
                    url.get(..scheme + 3).unwrap_or(""),
                    url.get(at..).unwrap_or("")
                ),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// `verdict token create`: opens the database and creates a token.
pub fn token_create(
    database_url: Option<&str>,
    data_dir: &Path,
    org: &str,
    user: &str,
    role: &str,
    description: Option<&str>,
) -> Result<NewToken, ServeError> {
    let url = self::database_url(database_url, data_dir)?;
    runtime()?.block_on(async {
        let db = Db::connect(&url).await?;
        let token = create_token(&db, org, user, role, description).await;
        db.close().await;
        Ok(token?)
    })
}

/// `verdict token revoke`: revokes a token by id or secret; returns its id.
pub fn token_revoke(
    database_url: Option<&str>,
    data_dir: &Path,
    id_or_token: &str,
) -> Result<String, ServeError> {
    let url = self::database_url(database_url, data_dir)?;
    runtime()?.block_on(async {
        let db = Db::connect(&url).await?;
        let id = revoke_token(&db, id_or_token).await;
        db.close().await;
        Ok(id?)
    })
}
