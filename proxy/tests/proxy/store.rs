//! The proxy on the server's store (`--database URL`): principals and the active policy
//! set of an organization, changed through the API of a server on the same PostgreSQL
//! store and seen by two proxy instances within a second; a store that cannot be read
//! fails closed.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use serde_json::{json, Value as Json};
use tower::ServiceExt;
use verdict_proxy::{Config as ProxyConfig, Limits, Proxy, Source, Target};
use verdict_server::{app, create_token, AppState, Db, DEFAULT_MAX_BODY_BYTES};

use crate::case;
use crate::env::{login_at, rows, APP_ROLE, DB, POLICIES};
use crate::{Case, Env};

pub fn all() -> Vec<Case> {
    vec![case!(proxy_follows_the_store_and_fails_closed)]
}

const STORE: &str = "verdict_store";

struct Api {
    router: axum::Router,
    token: String,
}

impl Api {
    async fn call(&self, method: &str, path: &str, body: Option<Json>) -> (u16, Json) {
        let mut req = http::Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {}", self.token));
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(axum::body::Body::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            ))
            .unwrap();
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status().as_u16();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
        (status, value)
    }
}

fn code(e: &postgres::Error) -> String {
    e.as_db_error()
        .map(|d| d.code().code().to_string())
        .unwrap_or_else(|| format!("no SQLSTATE: {e}"))
}

fn count(addr: SocketAddr, user: &str, password: &str) -> Result<String, String> {
    let mut c = login_at(addr, user, password).map_err(|e| code(&e))?;
    let r = c
        .simple_query("SELECT count(*) FROM orders")
        .map_err(|e| code(&e))?;
    Ok(r.iter()
        .find_map(|m| match m {
            postgres::SimpleQueryMessage::Row(row) => row.get(0).map(str::to_string),
            _ => None,
        })
        .unwrap_or_default())
}

/// Waits until `check` holds at both proxies, returning how long it took.
fn until(what: &str, proxies: &[SocketAddr], check: impl Fn(SocketAddr) -> bool) -> Duration {
    let started = Instant::now();
    loop {
        if proxies.iter().all(|p| check(*p)) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "{what}: not seen after 3 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn proxy_follows_the_store_and_fails_closed(env: &Env) {
    let mut admin = env.cluster.connect("postgres", "postgres").unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {STORE}"))
        .unwrap();
    let direct_count = |tenant: i32| {
        rows(
            &mut env.direct(),
            &format!("SELECT count(*) FROM orders WHERE tenant_id = {tenant}"),
        )[0][0]
            .clone()
            .unwrap()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = env.cluster.url(STORE);
    let (api, proxies) = runtime.block_on(async {
        let db = Db::connect(&url).await.unwrap();
        let token = create_token(&db, "acme", "ada", "admin", None)
            .await
            .unwrap()
            .token;
        let api = Api {
            router: app(AppState::new(db.clone()), DEFAULT_MAX_BODY_BYTES),
            token,
        };
        let set: Json = serde_json::from_str(POLICIES).unwrap();
        let (s, b) = api
            .call("PUT", "/api/v1/catalog", Some(set["catalog"].clone()))
            .await;
        assert_eq!(s, 200, "{b}");
        let (s, b) = api
            .call(
                "POST",
                "/api/v1/policies",
                Some(json!({"id": "tenant-isolation", "name": "Tenants",
                    "assignments": [{"kind": "role", "value": "analyst"}],
                    "rules": [{"type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant_id"}]})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        let (s, b) = api
            .call(
                "POST",
                "/api/v1/principals",
                Some(json!({"user": "alice", "roles": ["analyst"], "attributes": {"tenant_id": 1}, "password": "alice pw"})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
        let mut proxies = Vec::new();
        // Two instances, each with its own connection to the store.
        for _ in 0..2 {
            let config = ProxyConfig {
                target: Target::parse(&format!(
                    "postgres://{APP_ROLE}@127.0.0.1:{}/{DB}",
                    env.cluster.port()
                ))
                .unwrap(),
                source: Source::Store {
                    db: Db::connect(&url).await.unwrap(),
                    org: "acme".into(),
                },
                jwt: None,
                limits: Limits::default(),
                tls: None,
                audit: None,
            };
            let proxy = Proxy::bind("127.0.0.1:0", config).await.unwrap();
            proxies.push(proxy.local_addr().unwrap());
            tokio::spawn(proxy.serve());
        }
        // An organization the store lacks is a start-up error.
        let missing = ProxyConfig {
            target: Target::parse(&format!("postgres://{APP_ROLE}@127.0.0.1:{}/{DB}", env.cluster.port())).unwrap(),
            source: Source::Store { db: db.clone(), org: "nobody".into() },
            jwt: None,
            limits: Limits::default(),
            tls: None,
            audit: None,
        };
        let err = Proxy::bind("127.0.0.1:0", missing).await.err().unwrap();
        assert!(err.to_string().contains("no organization `nobody`"), "{err}");
        (api, proxies)
    });

    // The stored principal logs in with SCRAM and runs under the stored policy.
    for p in &proxies {
        assert_eq!(count(*p, "alice", "alice pw").unwrap(), direct_count(1));
        assert_eq!(count(*p, "alice", "wrong").unwrap_err(), "28P01");
        assert_eq!(count(*p, "bob", "alice pw").unwrap_err(), "28P01");
    }

    // Each judged statement is an evaluation of the organization, in the evaluation
    // endpoints, with the client's address and application_name.
    let mut named = postgres::Config::new()
        .host("127.0.0.1")
        .port(proxies[0].port())
        .user("alice")
        .password("alice pw")
        .dbname(DB)
        .application_name("store-test")
        .connect(postgres::NoTls)
        .unwrap();
    named
        .simple_query("SELECT id FROM orders WHERE amount > 100")
        .unwrap();
    let logged = |sql: &str| -> Option<Json> {
        let (s, page) = runtime.block_on(api.call("GET", "/api/v1/evaluations?limit=200", None));
        assert_eq!(s, 200, "{page}");
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["sql"] == sql && e["caller"] == "proxy:alice")
            .cloned()
    };
    let started = Instant::now();
    let entry = loop {
        if let Some(e) = logged("SELECT id FROM orders WHERE amount > 100") {
            break e;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "no evaluation logged"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(entry["user"], "alice");
    assert_eq!(entry["policies"], json!(["tenant-isolation"]));
    assert_ne!(entry["verdict"], "block");
    let rewritten = entry["rewritten_sql"].as_str().unwrap();
    assert!(rewritten.contains("tenant_id = 1"), "{rewritten}");
    let (s, full) = runtime.block_on(api.call(
        "GET",
        &format!("/api/v1/evaluations/{}", entry["id"].as_str().unwrap()),
        None,
    ));
    assert_eq!(s, 200, "{full}");
    assert_eq!(full["result"]["proxy"]["application_name"], "store-test");
    assert!(
        full["result"]["proxy"]["client"]
            .as_str()
            .unwrap()
            .starts_with("127.0.0.1:"),
        "{full}"
    );
    assert_eq!(full["context"]["attributes"]["tenant_id"], 1);
    assert_eq!(full["result"]["rewritten_sql"], entry["rewritten_sql"]);
    drop(named);

    // A new principal can log in within a second.
    let (s, b) = runtime.block_on(api.call(
        "POST",
        "/api/v1/principals",
        Some(json!({"user": "bob", "roles": ["analyst"], "attributes": {"tenant_id": 2}, "password": "bob pw"})),
    ));
    assert_eq!(s, 201, "{b}");
    let seen = until("new principal", &proxies, |p| {
        count(p, "bob", "bob pw").is_ok()
    });
    println!("  new principal seen in {} ms", seen.as_millis());
    assert!(seen < Duration::from_secs(1), "{seen:?}");
    assert_eq!(count(proxies[0], "bob", "bob pw").unwrap(), direct_count(2));

    // A session open before a policy change is judged by the new policy.
    let mut open = login_at(proxies[1], "alice", "alice pw").unwrap();
    let (s, b) = runtime.block_on(api.call(
        "POST",
        "/api/v1/policies",
        Some(json!({"id": "no-orders", "name": "No orders",
            "assignments": [{"kind": "role", "value": "analyst"}],
            "rules": [{"type": "deny", "table": "orders"}]})),
    ));
    assert_eq!(s, 201, "{b}");
    let seen = until("new policy", &proxies, |p| {
        count(p, "alice", "alice pw").is_err_and(|e| e == "42501")
    });
    println!("  new policy seen in {} ms", seen.as_millis());
    assert!(seen < Duration::from_secs(1), "{seen:?}");
    let err = open.simple_query("SELECT id FROM orders").unwrap_err();
    assert_eq!(code(&err), "42501");
    assert_eq!(rows(&mut open, "SELECT 1")[0][0].as_deref(), Some("1"));
    // The block is logged as one, naming its policy.
    let started = Instant::now();
    let blocked = loop {
        let (_, page) =
            runtime.block_on(api.call("GET", "/api/v1/evaluations?verdict=block&limit=200", None));
        if let Some(e) = page["items"].as_array().and_then(|items| {
            items
                .iter()
                .find(|e| e["sql"] == "SELECT id FROM orders")
                .cloned()
        }) {
            break e;
        }
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "no block logged: {page}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(blocked["verdict"], "block");
    assert_eq!(blocked["blocked_policy"], "no-orders");
    assert_eq!(blocked["rewritten_sql"], Json::Null);
    let (s, _) = runtime.block_on(api.call("DELETE", "/api/v1/policies/no-orders", None));
    assert_eq!(s, 200);
    until("policy removed", &proxies, |p| {
        count(p, "alice", "alice pw").is_ok()
    });

    // queries_per_hour is counted in the store, shared by both proxies and /evaluate.
    let metered = json!({"id": "metered", "name": "Metered",
        "assignments": [{"kind": "role", "value": "metered"}],
        "rules": [{"type": "query_limit", "queries_per_hour": 3}]});
    let (s, b) = runtime.block_on(api.call("POST", "/api/v1/policies", Some(metered)));
    assert_eq!(s, 201, "{b}");
    let (s, b) = runtime.block_on(api.call(
        "POST",
        "/api/v1/principals",
        Some(json!({"user": "meter", "roles": ["metered"], "password": "meter pw"})),
    ));
    assert_eq!(s, 201, "{b}");
    until("metered principal", &proxies, |p| {
        login_at(p, "meter", "meter pw").is_ok()
    });
    let mut first = login_at(proxies[0], "meter", "meter pw").unwrap();
    let mut second = login_at(proxies[1], "meter", "meter pw").unwrap();
    first.simple_query("SELECT id FROM orders").unwrap();
    second.simple_query("SELECT id FROM orders").unwrap();
    let (s, v) = runtime.block_on(api.call(
        "POST",
        "/api/v1/evaluate",
        Some(json!({"sql": "SELECT id FROM orders", "context": {"user": "meter", "roles": ["metered"]}})),
    ));
    assert_eq!(s, 200, "{v}");
    assert_ne!(v["verdict"], "block", "{v}");
    let err = first.simple_query("SELECT id FROM orders").unwrap_err();
    assert_eq!(code(&err), "42501");
    let err = second.simple_query("SELECT id FROM orders").unwrap_err();
    assert_eq!(code(&err), "42501");
    let (_, counts) = runtime.block_on(api.call("GET", "/api/v1/query-counts?user=meter", None));
    let hourly = counts["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == "queries_per_hour" && c["policy_id"] == "metered")
        .cloned()
        .unwrap_or_else(|| panic!("{counts}"));
    assert_eq!(hourly["count"], 3, "{counts}");
    drop((first, second));

    // A changed context applies to the next login; the password is kept.
    let (s, b) = runtime.block_on(api.call(
        "PUT",
        "/api/v1/principals/alice",
        Some(json!({"roles": ["analyst"], "attributes": {"tenant_id": 3}})),
    ));
    assert_eq!(s, 200, "{b}");
    let want = direct_count(3);
    until("changed context", &proxies, |p| {
        count(p, "alice", "alice pw").is_ok_and(|c| c == want)
    });

    // A deleted principal cannot log in.
    let (s, _) = runtime.block_on(api.call("DELETE", "/api/v1/principals/bob", None));
    assert_eq!(s, 204);
    until("deleted principal", &proxies, |p| {
        count(p, "bob", "bob pw").is_err_and(|e| e == "28P01")
    });

    // The store cannot be read: statements are blocked and logins refused (fail closed),
    // and service resumes when it can be read again.
    let mut store = env.cluster.connect(STORE, "postgres").unwrap();
    let mut open = login_at(proxies[0], "alice", "alice pw").unwrap();
    store
        .batch_execute("ALTER TABLE orgs RENAME TO orgs_away")
        .unwrap();
    let closed = until("store unreadable", &proxies, |p| {
        count(p, "alice", "alice pw").is_err_and(|e| e == "57P03")
    });
    println!(
        "  unreadable store closed the proxies in {} ms",
        closed.as_millis()
    );
    let err = open.simple_query("SELECT id FROM orders").unwrap_err();
    assert_eq!(code(&err), "42501");
    let message = err.as_db_error().unwrap().message();
    assert!(message.contains("policy store"), "{message}");
    store
        .batch_execute("ALTER TABLE orgs_away RENAME TO orgs")
        .unwrap();
    until("store readable again", &proxies, |p| {
        count(p, "alice", "alice pw").is_ok_and(|c| c == want)
    });
    assert!(open.simple_query("SELECT id FROM orders").is_ok());
    drop(open);
    drop(runtime);
}
