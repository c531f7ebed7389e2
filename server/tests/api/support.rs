//! The test environment: a fresh database per case on each backend, tokens for two
//! organizations, and a client that calls the router in process.

use std::path::PathBuf;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::Value;
use sqlx::Connection;
use tower::ServiceExt;
use verdict_server::{app, create_token, AppState, Db, DEFAULT_MAX_BODY_BYTES};

/// Which database a case runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// One case's world.
#[derive(Clone)]
pub struct Env {
    pub backend: Backend,
    pub db: Db,
    pub router: Router,
    /// Admin of organization `acme`.
    pub admin: String,
    /// Editor of `acme`.
    pub editor: String,
    /// Viewer of `acme`.
    pub viewer: String,
    /// Admin of another organization, `globex`.
    pub other: String,
    /// The database URL (for reopening it).
    pub url: String,
    /// The test PostgreSQL cluster's port, when one runs (data sources point at it).
    pub cluster_port: Option<u16>,
}

/// An answer.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
    pub text: String,
    /// The body as sent (compressed when the server compressed it).
    pub bytes: Vec<u8>,
}

impl Resp {
    /// The `ETag` as a number.
    pub fn etag(&self) -> i64 {
        self.headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim_matches('"').parse().ok())
            .unwrap_or_else(|| panic!("no numeric ETag in {:?}", self.headers))
    }

    /// `error.code`.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    /// Asserts the status, printing the body when it differs.
    #[track_caller]
    pub fn expect(&self, status: u16) -> &Self {
        assert_eq!(
            self.status.as_u16(),
            status,
            "expected {status}, got {} with {}",
            self.status,
            self.text
        );
        self
    }

    /// Asserts an error status and code, and the error shape.
    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) -> &Self {
        self.expect(status);
        assert_eq!(self.code(), code, "error code of {}", self.text);
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "error without a message: {}",
            self.text
        );
        // Every problem has the engine's shape, its kind included.
        if let Some(problems) = self.body["error"]["details"].get("problems") {
            let read: Result<Vec<verdict_engine::Problem>, _> =
                serde_json::from_value(problems.clone());
            assert!(
                read.is_ok(),
                "problems not in the engine's shape ({read:?}): {}",
                self.text
            );
        }
        self
    }
}

/// A request under construction.
pub struct Call<'a> {
    env: &'a Env,
    method: Method,
    path: String,
    token: Option<String>,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

impl<'a> Call<'a> {
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string());
        self
    }

    pub fn no_token(mut self) -> Self {
        self.token = None;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn if_match(self, revision: i64) -> Self {
        self.header("if-match", &format!("\"{revision}\""))
    }

    pub fn json(mut self, value: &Value) -> Self {
        self.body = Some(value.to_string().into_bytes());
        self.headers
            .push(("content-type".into(), "application/json".into()));
        self
    }

    /// A raw body, with no content type unless a header sets one.
    pub fn raw(mut self, bytes: Vec<u8>) -> Self {
        self.body = Some(bytes);
        self
    }

    pub async fn send(self) -> Resp {
        let mut builder = Request::builder()
            .method(self.method.clone())
            .uri(self.path.clone());
        if let Some(token) = &self.token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        for (k, v) in &self.headers {
            builder = builder.header(k.as_str(), v.as_str());
        }
        let request = builder
            .body(Body::from(self.body.clone().unwrap_or_default()))
            .expect("request");
        let response = self
            .env
            .router
            .clone()
            .oneshot(request)
            .await
            .expect("router is infallible");
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if status.is_server_error() {
            panic!("{} {} answered {status}: {text}", self.method, self.path);
        }
        Resp {
            status,
            headers,
            body,
            text,
            bytes: bytes.to_vec(),
        }
    }
}

impl Env {
    fn call(&self, method: Method, path: &str) -> Call<'_> {
        Call {
            env: self,
            method,
            path: path.to_string(),
            token: Some(self.admin.clone()),
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn get(&self, path: &str) -> Call<'_> {
        self.call(Method::GET, path)
    }
    pub fn post(&self, path: &str) -> Call<'_> {
        self.call(Method::POST, path)
    }
    pub fn put(&self, path: &str) -> Call<'_> {
        self.call(Method::PUT, path)
    }
    pub fn patch(&self, path: &str) -> Call<'_> {
        self.call(Method::PATCH, path)
    }
    pub fn delete(&self, path: &str) -> Call<'_> {
        self.call(Method::DELETE, path)
    }
    pub fn method(&self, method: Method, path: &str) -> Call<'_> {
        self.call(method, path)
    }

    /// Sets the example catalog for `acme`.
    pub async fn set_catalog(&self) {
        self.put("/api/v1/catalog")
            .json(&catalog())
            .send()
            .await
            .expect(200);
    }

    /// Creates a policy as the admin; returns its revision.
    pub async fn create(&self, policy: &Value) -> Resp {
        let r = self.post("/api/v1/policies").json(policy).send().await;
        r.expect(201);
        r
    }

    /// Everything a failed request must leave unchanged: every policy with its revision
    /// and assignments, versions, exceptions, catalog, audit trail and evaluation log.
    pub async fn fingerprint(&self) -> String {
        let mut parts = Vec::new();
        for sql in [
            "SELECT org_id || '|' || id || '|' || body || '|' || CAST(revision AS TEXT) || '|' || COALESCE(CAST(deleted_at AS TEXT), '-') FROM policies ORDER BY org_id, id",
            "SELECT org_id || '|' || policy_id || '|' || kind || '|' || value FROM assignments ORDER BY 1",
            "SELECT org_id || '|' || policy_id || '|' || CAST(version AS TEXT) FROM policy_versions ORDER BY 1",
            "SELECT id || '|' || CAST(uses AS TEXT) || '|' || COALESCE(CAST(revoked_at AS TEXT), '-') FROM exceptions ORDER BY 1",
            "SELECT id || '|' || COALESCE(catalog, '-') || '|' || CAST(catalog_revision AS TEXT) FROM orgs ORDER BY 1",
            "SELECT CAST(COUNT(*) AS TEXT) FROM audit_log",
            "SELECT CAST(COUNT(*) AS TEXT) FROM evaluations",
        ] {
            let rows: Vec<(String,)> = sqlx::query_as(sql)
                .fetch_all(&self.db.read)
                .await
                .expect(sql);
            parts.push(rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("\n"));
        }
        parts.join("\n--\n")
    }
}

/// The catalog of `examples/policies.json`.
pub fn catalog() -> Value {
    example()["catalog"].clone()
}

/// `examples/policies.json`.
pub fn example() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/policies.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("examples/policies.json"))
        .expect("example JSON")
}

/// The example policy with `id`.
pub fn example_policy(id: &str) -> Value {
    example()["policies"]
        .as_array()
        .expect("policies")
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no example policy {id}"))
}

/// The example context: analyst `alice` of tenant 1.
pub fn alice() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/context.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("examples/context.json"))
        .expect("context JSON")
}

/// Where fresh databases come from.
pub struct Databases {
    pub tmp: PathBuf,
    pub cluster: Option<verdict_testkit::Cluster>,
    counter: std::sync::atomic::AtomicUsize,
}

impl Databases {
    pub fn new(cluster: Option<verdict_testkit::Cluster>) -> Self {
        let tmp = std::env::temp_dir().join(format!("verdict-server-tests-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).expect("temp dir");
        Databases {
            tmp,
            cluster,
            counter: Default::default(),
        }
    }

    /// A URL of an empty database on `backend`.
    pub async fn fresh(&self, backend: Backend) -> String {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        match backend {
            Backend::Sqlite => format!(
                "sqlite://{}",
                self.tmp.join(format!("case-{n}.db")).display()
            ),
            Backend::Postgres => {
                let cluster = self.cluster.as_ref().expect("a PostgreSQL cluster");
                sqlx::any::install_default_drivers();
                let mut admin = sqlx::AnyConnection::connect(&cluster.url("postgres"))
                    .await
                    .expect("connect to the cluster");
                sqlx::query(&format!("CREATE DATABASE case_{n}"))
                    .execute(&mut admin)
                    .await
                    .expect("create database");
                admin.close().await.ok();
                cluster.url(&format!("case_{n}"))
            }
        }
    }

    /// A fresh environment with tokens.
    pub async fn env(&self, backend: Backend) -> Env {
        let url = self.fresh(backend).await;
        let db = Db::connect(&url).await.expect("open the database");
        let admin = create_token(&db, "acme", "ada", "admin", None)
            .await
            .expect("token")
            .token;
        let editor = create_token(&db, "acme", "eve", "editor", None)
            .await
            .expect("token")
            .token;
        let viewer = create_token(&db, "acme", "vic", "viewer", None)
            .await
            .expect("token")
            .token;
        let other = create_token(&db, "globex", "gus", "admin", None)
            .await
            .expect("token")
            .token;
        let router = app(AppState::new(db.clone()), DEFAULT_MAX_BODY_BYTES);
        Env {
            backend,
            db,
            router,
            admin,
            editor,
            viewer,
            other,
            url,
            cluster_port: self.cluster.as_ref().map(|c| c.port()),
        }
    }
}

impl Drop for Databases {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}
