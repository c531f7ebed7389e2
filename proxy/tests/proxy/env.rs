//! The world the cases run in: a PostgreSQL cluster with a small schema, an application
//! role the proxy logs in as, and a proxy serving on a free port from its own runtime.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use postgres::{Client, Config, NoTls, SimpleQueryMessage};
use serde_json::{json, Value as Json};
use verdict_engine::{evaluate, Context, PolicySet};
use verdict_proxy::{Config as ProxyConfig, JwtConfig, Limits, Principals, Proxy, Target};
use verdict_testkit::Cluster;

pub const JWT_SECRET: &[u8] = b"a test secret of at least 32 bytes, for HS256";
pub const ALICE_PASSWORD: &str = "alice's pass phrase";
pub const DB: &str = "shop";
pub const APP_ROLE: &str = "shop_app";

pub const SCHEMA: &str = "
CREATE TABLE orders (id integer PRIMARY KEY, tenant_id integer NOT NULL, amount numeric(12,2), status text);
CREATE TABLE customers (id integer PRIMARY KEY, tenant_id integer NOT NULL, name text, email text, ssn text);
CREATE TABLE salaries (employee_id integer, tenant_id integer, amount numeric(12,2));
INSERT INTO orders SELECT g, 1 + g % 3, g * 10.5, CASE WHEN g % 2 = 0 THEN 'paid' ELSE 'open' END FROM generate_series(1, 30) g;
INSERT INTO customers SELECT g, 1 + g % 3, 'name ' || g, 'user' || g || '@example.com', '123-45-' || (1000 + g) FROM generate_series(1, 12) g;
INSERT INTO salaries VALUES (1, 1, 1000), (2, 2, 2000);
CREATE INDEX customers_ssn ON customers (ssn);
COMMENT ON TABLE salaries IS 'pay of each employee';
COMMENT ON TABLE orders IS 'orders of every tenant';
CREATE FUNCTION order_total(t integer) RETURNS numeric LANGUAGE sql AS 'SELECT 42.0';
";

pub const POLICIES: &str = r#"{
  "catalog": {"tables": [
    {"name": "public.orders", "columns": [
      {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"},
      {"name": "amount", "type": "numeric(12,2)"}, {"name": "status", "type": "text"}]},
    {"name": "public.customers", "columns": [
      {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"},
      {"name": "name", "type": "text"}, {"name": "email", "type": "text"}, {"name": "ssn", "type": "text"}]},
    {"name": "public.salaries", "columns": [
      {"name": "employee_id", "type": "integer"}, {"name": "tenant_id", "type": "integer"},
      {"name": "amount", "type": "numeric(12,2)"}]}
  ]},
  "policies": [
    {"id": "tenant-isolation", "applies_to": {"roles": ["analyst"]}, "rules": [
      {"type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant_id"},
      {"type": "row_filter", "table": "customers", "predicate": "tenant_id = ctx.attr.tenant_id"}]},
    {"id": "pii", "applies_to": {"roles": ["analyst"]}, "rules": [
      {"type": "column_mask", "table": "customers", "column": "email", "mask": {"kind": "hash"}},
      {"type": "column_mask", "table": "customers", "column": "ssn", "mask": {"kind": "partial", "show_last": 4}}]},
    {"id": "hr-only", "except": {"roles": ["hr"]}, "rules": [{"type": "deny", "table": "salaries"}]},
    {"id": "time-cap", "applies_to": {"roles": ["capped"]}, "rules": [
      {"type": "query_limit", "max_execution_ms": 300}]},
    {"id": "metered", "applies_to": {"roles": ["metered"]}, "rules": [
      {"type": "query_limit", "queries_per_hour": 3}]},
    {"id": "bulk-load", "applies_to": {"roles": ["loader"]}, "rules": [
      {"type": "query_restriction", "statements": ["select", "insert", "update", "delete", "copy_from"]}]},
    {"id": "support-no-ssn", "applies_to": {"roles": ["support"]}, "rules": [
      {"type": "deny", "table": "customers", "columns": ["ssn"]}]}
  ]
}"#;

pub struct Env {
    // Dropped last: the proxy's runtime goes first (field order).
    _runtime: tokio::runtime::Runtime,
    pub proxy: SocketAddr,
    pub cluster: Cluster,
    pub set: PolicySet,
    /// The main proxy's audit log (removed at the end).
    pub audit_path: std::path::PathBuf,
}

impl Drop for Env {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.audit_path);
    }
}

impl Env {
    pub fn start() -> Env {
        let cluster = Cluster::start("proxy tests", 60).expect("cluster");
        let mut admin = cluster.connect("postgres", "postgres").expect("admin");
        admin
            .batch_execute(&format!("CREATE DATABASE {DB}"))
            .unwrap();
        admin
            .batch_execute(&format!("CREATE ROLE {APP_ROLE} LOGIN"))
            .unwrap();
        let mut shop = cluster.connect(DB, "postgres").unwrap();
        shop.batch_execute(SCHEMA).unwrap();
        shop.batch_execute(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {APP_ROLE};"
        ))
        .unwrap();
        let set = PolicySet::parse(POLICIES).unwrap();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let audit_path =
            std::env::temp_dir().join(format!("verdict-proxy-audit-{}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&audit_path);
        let mut config = Self::config(&cluster, Limits::default());
        config.audit = Some(std::sync::Arc::new(
            verdict_proxy::audit::AuditLog::open(&audit_path).unwrap(),
        ));
        let proxy = runtime.block_on(async {
            let proxy = Proxy::bind("127.0.0.1:0", config).await.unwrap();
            let addr = proxy.local_addr().unwrap();
            tokio::spawn(proxy.serve());
            addr
        });
        Env {
            _runtime: runtime,
            proxy,
            cluster,
            set,
            audit_path,
        }
    }

    /// The proxy's configuration for this cluster, with `limits`.
    pub fn config(cluster: &Cluster, limits: Limits) -> ProxyConfig {
        let verifier = verdict_proxy::hash_password(ALICE_PASSWORD);
        let principals = Principals::parse(&format!(
            r#"{{"principals": [
                {{"user": "alice", "password": "{verifier}", "roles": ["analyst"], "attributes": {{"tenant_id": 1}}}},
                {{"user": "hr", "password": "{verifier}", "roles": ["hr"]}}]}}"#
        ))
        .unwrap();
        ProxyConfig {
            target: Target::parse(&format!(
                "postgres://{APP_ROLE}@127.0.0.1:{}/{DB}",
                cluster.port()
            ))
            .unwrap(),
            source: verdict_proxy::Source::Files {
                policies: PolicySet::parse(POLICIES).unwrap(),
                principals,
            },
            jwt: Some(JwtConfig::hs256(JWT_SECRET).unwrap()),
            limits,
            tls: Some(test_tls()),
            audit: None,
        }
    }

    /// A proxy of its own with other limits, served from `runtime`.
    pub fn extra_proxy(&self, runtime: &tokio::runtime::Runtime, limits: Limits) -> SocketAddr {
        runtime.block_on(async {
            let proxy = Proxy::bind("127.0.0.1:0", Self::config(&self.cluster, limits))
                .await
                .unwrap();
            let addr = proxy.local_addr().unwrap();
            tokio::spawn(proxy.serve());
            addr
        })
    }

    /// A direct connection as the application role (what the proxy runs as).
    pub fn direct(&self) -> Client {
        self.cluster.connect(DB, APP_ROLE).unwrap()
    }

    /// Logs in through the proxy.
    pub fn login(&self, user: &str, password: &str) -> Result<Client, postgres::Error> {
        login_at(self.proxy, user, password)
    }

    pub fn alice(&self) -> Client {
        self.login("alice", ALICE_PASSWORD).unwrap()
    }

    /// A JWT for `claims` plus an expiry a minute ahead (unless `claims` has one).
    pub fn jwt(&self, mut claims: Json) -> String {
        if claims.get("exp").is_none() {
            claims["exp"] = json!(now() + 60);
        }
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(JWT_SECRET).unwrap(),
        )
        .unwrap()
    }

    /// The rows `sql` gives for `ctx` when the engine's rewritten SQL runs directly.
    pub fn expected(&self, ctx: &Json, sql: &str) -> Vec<Vec<Option<String>>> {
        let ctx = Context::from_json(ctx).unwrap();
        let v = evaluate(&self.set, sql, &ctx);
        let rewritten = v.rewritten_sql.expect("not blocked");
        rows(&mut self.direct(), &rewritten)
    }

    /// The engine's verdict for `sql`.
    pub fn verdict(&self, ctx: &Json, sql: &str) -> verdict_engine::Verdict {
        evaluate(&self.set, sql, &Context::from_json(ctx).unwrap())
    }
}

pub fn login_at(addr: SocketAddr, user: &str, password: &str) -> Result<Client, postgres::Error> {
    Config::new()
        .host(&addr.ip().to_string())
        .port(addr.port())
        .user(user)
        .password(password)
        .dbname(DB)
        .connect_timeout(Duration::from_secs(10))
        .connect(NoTls)
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The rows of a simple query, as text.
pub fn rows(client: &mut Client, sql: &str) -> Vec<Vec<Option<String>>> {
    client
        .simple_query(sql)
        .unwrap()
        .into_iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

pub fn alice_ctx() -> Json {
    json!({"user": "alice", "roles": ["analyst"], "attributes": {"tenant_id": 1}})
}

/// A TLS acceptor with a self-signed certificate made by `openssl` for this run.
pub fn test_tls() -> tokio_rustls::TlsAcceptor {
    use std::sync::OnceLock;
    static PEM: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    let (cert, key) = PEM.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("verdict-proxy-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let out = std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "1",
                "-subj",
                "/CN=localhost",
            ])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let pem = (std::fs::read(&cert).unwrap(), std::fs::read(&key).unwrap());
        let _ = std::fs::remove_dir_all(&dir);
        pem
    });
    verdict_proxy::tls_acceptor(cert, key).unwrap()
}
