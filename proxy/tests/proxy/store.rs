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
    vec![
        case!(proxy_follows_the_store_and_fails_closed),
        case!(proxy_on_a_store_uses_exceptions_and_raises_alerts),
        case!(proxy_logs_the_store_s_state_once_per_change),
    ]
}

/// The flag that makes this test binary serve a proxy on the store at the next argument.
pub const CHILD_FLAG: &str = "--child-proxy-on-store";

/// The child's side: a proxy on organization `acme` of the store at `url`, its address
/// printed on stdout, serving until killed.
pub fn child_proxy(url: &str) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let config = ProxyConfig {
            target: Target::parse("postgres://nobody@127.0.0.1:1/none").unwrap(),
            source: Source::Store {
                db: Db::connect(url).await.unwrap(),
                org: "acme".into(),
            },
            jwt: None,
            limits: Limits::default(),
            tls: None,
            audit: None,
        };
        let proxy = Proxy::bind("127.0.0.1:0", config).await.unwrap();
        println!("listening {}", proxy.local_addr().unwrap());
        let _ = proxy.serve().await;
    });
}

/// The proxy's log (its process's stderr) says once that the store cannot be read and
/// once that it can again, however many checks failed in between.
fn proxy_logs_the_store_s_state_once_per_change(env: &Env) {
    use std::io::{BufRead, Read};
    const LOG_STORE: &str = "verdict_store_log";
    let mut admin = env.cluster.connect("postgres", "postgres").unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {LOG_STORE}"))
        .unwrap();
    let url = env.cluster.url(LOG_STORE);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let db = Db::connect(&url).await.unwrap();
        create_token(&db, "acme", "ada", "admin", None)
            .await
            .unwrap();
        db.close().await;
    });
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([CHILD_FLAG, &url])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    assert!(first.starts_with("listening "), "{first}");
    // The store goes down: no connection to it is possible for a while.
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {LOG_STORE} ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{LOG_STORE}'"
        ))
        .unwrap();
    // About twelve checks (every 250 ms) and three alert polls fail.
    std::thread::sleep(Duration::from_millis(3000));
    admin
        .batch_execute(&format!(
            "ALTER DATABASE {LOG_STORE} ALLOW_CONNECTIONS true"
        ))
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    child.kill().unwrap();
    child.wait().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    println!("  the proxy's log:\n{log}");
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    let down = lines
        .iter()
        .filter(|l| l.contains("cannot read the store"))
        .count();
    let up = lines
        .iter()
        .filter(|l| l.contains("the store is readable again"))
        .count();
    assert_eq!((down, up), (1, 1), "{log}");
    // The alert worker shares the store: at most one line each way too.
    let alerts_down = lines
        .iter()
        .filter(|l| l.contains("alerts:") && l.contains("retrying"))
        .count();
    let alerts_up = lines
        .iter()
        .filter(|l| l.contains("alerts: the database answers again"))
        .count();
    assert!(alerts_down <= 1 && alerts_up == alerts_down, "{log}");
    assert_eq!(
        lines.len(),
        2 + alerts_down + alerts_up,
        "nothing else is logged per check: {log}"
    );
    // The line names the cause, not the API's generic message.
    assert!(!log.contains("failed to handle the request"), "{log}");
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
    let (api, proxies, sources) = runtime.block_on(async {
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
        let mut sources = Vec::new();
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
            sources.push(proxy.source());
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
        (api, proxies, sources)
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
    // Down for several checks (every 250 ms): still one line per proxy.
    std::thread::sleep(Duration::from_millis(1200));
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
    // The store's state was logged once per change (down, then up), not once per check.
    std::thread::sleep(Duration::from_millis(600));
    for source in &sources {
        let events = source.store_events();
        println!("  store state lines: {events:?}");
        assert_eq!(events.len(), 2, "{events:?}");
        assert!(events[0].contains("cannot read the store"), "{events:?}");
        assert!(events[1].contains("readable again"), "{events:?}");
    }
    drop(runtime);
}

/// A request's head and body.
type Request = (String, Vec<u8>);

/// A webhook receiver on 127.0.0.1 (a plain socket server): answers 200 and keeps each
/// request's head and body.
struct Hook {
    addr: SocketAddr,
    got: std::sync::Arc<std::sync::Mutex<Vec<Request>>>,
}

impl Hook {
    fn start() -> Hook {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = got.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap_or(0);
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0u8; length];
                if reader.read_exact(&mut body).is_ok() {
                    keep.lock().unwrap().push((head, body));
                }
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            }
        });
        Hook { addr, got }
    }

    /// The bodies received, as JSON, once there are `n` (at most 10 s).
    fn wait_for(&self, n: usize) -> Vec<(String, Json)> {
        let started = Instant::now();
        loop {
            let got = self.got.lock().unwrap().clone();
            if got.len() >= n {
                return got
                    .into_iter()
                    .map(|(head, body)| {
                        let signature = verdict_server::alerts::signature(HOOK_SECRET, &body);
                        let expected = format!("x-verdict-signature: {signature}");
                        assert!(head.to_ascii_lowercase().contains(&expected), "{head}");
                        (head, serde_json::from_slice(&body).unwrap())
                    })
                    .collect();
            }
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "the receiver got {} alerts, not {n}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

const HOOK_SECRET: &str = "a shared secret for the proxy's alerts";

/// Exceptions and alerts of the store apply to statements through the proxy exactly as to
/// `/api/v1/evaluate`: an exception lifts a filter for its principal only and stops after
/// `max_uses`; a blocked statement (and one a monitor policy would block) raises a signed
/// alert, delivered to a webhook on loopback.
fn proxy_on_a_store_uses_exceptions_and_raises_alerts(env: &Env) {
    const EXC_STORE: &str = "verdict_store_exceptions";
    let mut admin = env.cluster.connect("postgres", "postgres").unwrap();
    admin
        .batch_execute(&format!("CREATE DATABASE {EXC_STORE}"))
        .unwrap();
    let direct = |sql: &str| rows(&mut env.direct(), sql)[0][0].clone().unwrap();
    let all_orders = direct("SELECT count(*) FROM orders");
    let tenant_orders = direct("SELECT count(*) FROM orders WHERE tenant_id = 1");
    assert_ne!(all_orders, tenant_orders);
    let hook = Hook::start();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let url = env.cluster.url(EXC_STORE);
    let (api, proxy) = runtime.block_on(async {
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
        for policy in [
            json!({"id": "tenant-isolation", "name": "Tenants",
                "assignments": [{"kind": "role", "value": "analyst"}],
                "rules": [{"type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant_id"}]}),
            json!({"id": "no-salaries", "name": "Salaries are off limits", "action": "block", "risk": "high",
                "assignments": [{"kind": "role", "value": "analyst"}],
                "rules": [{"type": "deny", "table": "salaries"}]}),
            json!({"id": "watch-ssn", "name": "Watch SSNs", "mode": "monitor", "action": "alert", "risk": "medium",
                "assignments": [{"kind": "role", "value": "analyst"}],
                "rules": [{"type": "deny", "table": "customers", "columns": ["ssn"]}]}),
        ] {
            let (s, b) = api.call("POST", "/api/v1/policies", Some(policy)).await;
            assert_eq!(s, 201, "{b}");
        }
        for user in ["alice", "carol"] {
            let (s, b) = api
                .call(
                    "POST",
                    "/api/v1/principals",
                    Some(json!({"user": user, "roles": ["analyst"], "attributes": {"tenant_id": 1}, "password": "pw"})),
                )
                .await;
            assert_eq!(s, 201, "{b}");
        }
        let (s, b) = api
            .call(
                "POST",
                "/api/v1/alert-channels",
                Some(json!({"name": "on-call", "url": format!("http://{}/hook", hook.addr), "secret": HOOK_SECRET})),
            )
            .await;
        assert_eq!(s, 201, "{b}");
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
        let addr = proxy.local_addr().unwrap();
        tokio::spawn(proxy.serve());
        (api, addr)
    });

    // Before any exception both see their tenant only.
    assert_eq!(count(proxy, "alice", "pw").unwrap(), tenant_orders);
    assert_eq!(count(proxy, "carol", "pw").unwrap(), tenant_orders);
    let (s, exception) = runtime.block_on(api.call(
        "POST",
        "/api/v1/policies/tenant-isolation/exceptions",
        Some(json!({"user": "alice", "reason": "audit of all tenants", "max_uses": 2})),
    ));
    assert_eq!(s, 201, "{exception}");
    let exception_id = exception["id"].as_str().unwrap().to_string();
    // The proxies see the store's changes within a second.
    std::thread::sleep(Duration::from_millis(800));
    let mut alice = login_at(proxy, "alice", "pw").unwrap();
    let mut carol = login_at(proxy, "carol", "pw").unwrap();
    let one = |c: &mut postgres::Client| {
        rows(c, "SELECT count(*) FROM orders")[0][0]
            .clone()
            .unwrap()
    };
    // Two uses lift the filter for alice (simple and extended protocol) …
    assert_eq!(one(&mut alice), all_orders);
    assert_eq!(
        one(&mut carol),
        tenant_orders,
        "the exception is alice's only"
    );
    let extended: i64 = alice
        .query_one("SELECT count(*) FROM orders", &[])
        .unwrap()
        .get(0);
    assert_eq!(extended.to_string(), all_orders);
    // … and then it is used up.
    assert_eq!(one(&mut alice), tenant_orders);
    assert_eq!(one(&mut alice), tenant_orders);
    let (s, list) =
        runtime.block_on(api.call("GET", "/api/v1/policies/tenant-isolation/exceptions", None));
    assert_eq!(s, 200, "{list}");
    let stored = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["id"] == exception_id.as_str())
        .unwrap();
    assert_eq!(stored["uses"], 2, "{list}");
    assert_eq!(stored["active"], false, "{list}");
    // The evaluations that used it say so.
    let (_, page) = runtime.block_on(api.call("GET", "/api/v1/evaluations?limit=200", None));
    let used: Vec<&Json> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["caller"] == "proxy:alice"
                && e["exceptions_applied"]
                    .as_array()
                    .is_some_and(|a| !a.is_empty())
        })
        .collect();
    assert_eq!(used.len(), 2, "{page}");
    assert_eq!(
        used[0]["exceptions_applied"][0]["id"],
        exception_id.as_str()
    );

    // A block by a policy whose action is `block` raises an alert; so does a statement a
    // monitor policy with action `alert` would block (it runs).
    let err = alice.simple_query("SELECT * FROM salaries").unwrap_err();
    assert_eq!(code(&err), "42501");
    let masked = rows(&mut carol, "SELECT ssn FROM customers");
    assert!(!masked.is_empty(), "the monitor policy does not block");
    let got = hook.wait_for(2);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(hook.got.lock().unwrap().len(), 2, "one alert per violation");
    let blocked = got
        .iter()
        .map(|(_, b)| b)
        .find(|b| b["policy"] == "no-salaries")
        .unwrap_or_else(|| panic!("{got:?}"));
    assert_eq!(blocked["type"], "violation");
    assert_eq!(blocked["mode"], "enforce");
    assert_eq!(blocked["action"], "block");
    assert_eq!(blocked["risk"], "high");
    assert_eq!(blocked["caller"], "proxy:alice");
    assert_eq!(blocked["user"], "alice");
    assert_eq!(blocked["sql"], "SELECT * FROM salaries");
    let watched = got
        .iter()
        .map(|(_, b)| b)
        .find(|b| b["policy"] == "watch-ssn")
        .unwrap_or_else(|| panic!("{got:?}"));
    assert_eq!(watched["mode"], "monitor");
    assert_eq!(watched["caller"], "proxy:carol");
    // The same violations are listed by the API.
    let (s, violations) = runtime.block_on(api.call("GET", "/api/v1/violations", None));
    assert_eq!(s, 200, "{violations}");
    let text = violations.to_string();
    assert!(
        text.contains("no-salaries") && text.contains("SELECT * FROM salaries"),
        "{violations}"
    );
    drop((alice, carol));
    drop(runtime);
}
