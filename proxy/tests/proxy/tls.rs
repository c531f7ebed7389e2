//! TLS towards the upstream database (`sslmode`, `sslrootcert` in the upstream URL, as
//! libpq reads them), against the testkit cluster with `ssl = on` and a certificate signed
//! by a CA made for this run with the openssl CLI.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use verdict_testkit::tls::{is_root, make_ca, make_server_cert};

use verdict_proxy::{Limits, Proxy, Target};

use crate::env::{login_at, rows, Env, ALICE_PASSWORD, APP_ROLE, DB};
use crate::{case, Case};

pub fn all() -> Vec<Case> {
    vec![case!(upstream_tls_modes)]
}

/// A proxy in front of the cluster through `url`, on `runtime`.
fn proxy_to(env: &Env, runtime: &tokio::runtime::Runtime, url: &str) -> std::net::SocketAddr {
    let mut config = Env::config(&env.cluster, Limits::default());
    config.target = Target::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"));
    runtime.block_on(async {
        let proxy = Proxy::bind("127.0.0.1:0", config).await.unwrap();
        let addr = proxy.local_addr().unwrap();
        tokio::spawn(proxy.serve());
        addr
    })
}

fn upstream_tls_modes(env: &Env) {
    let dir: PathBuf =
        PathBuf::from("/tmp").join(format!("verdict-proxy-upstream-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    make_ca(&dir, "ca").unwrap();
    make_ca(&dir, "other").unwrap();
    make_server_cert(&dir, "ca").unwrap();
    // PostgreSQL wants its key readable by the server's OS user only.
    if is_root() {
        let out = Command::new("chown")
            .args(["postgres:", dir.join("server.key").to_str().unwrap()])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    Command::new("chmod")
        .args(["600", dir.join("server.key").to_str().unwrap()])
        .status()
        .unwrap();
    Command::new("chmod")
        .args(["755", dir.to_str().unwrap()])
        .status()
        .unwrap();
    let mut admin = env.cluster.connect("postgres", "postgres").unwrap();
    // (ALTER SYSTEM cannot run in a transaction: one statement at a time.)
    for sql in [
        format!(
            "ALTER SYSTEM SET ssl_cert_file = '{}'",
            dir.join("server.crt").display()
        ),
        format!(
            "ALTER SYSTEM SET ssl_key_file = '{}'",
            dir.join("server.key").display()
        ),
        "ALTER SYSTEM SET ssl = on".to_string(),
        "SELECT pg_reload_conf()".to_string(),
    ] {
        admin.batch_execute(&sql).unwrap();
    }
    let started = Instant::now();
    while rows(
        &mut env.cluster.connect("postgres", "postgres").unwrap(),
        "SHOW ssl",
    ) != vec![vec![Some("on".to_string())]]
    {
        assert!(started.elapsed() < Duration::from_secs(10), "ssl stays off");
        std::thread::sleep(Duration::from_millis(100));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let port = env.cluster.port();
    let ca = dir.join("ca.pem");
    let other = dir.join("other.pem");
    let url = |host: &str, query: &str| format!("postgres://{APP_ROLE}@{host}:{port}/{DB}?{query}");
    // Sessions of the application role over TLS, seen from the server.
    let tls_sessions = |admin: &mut postgres::Client| -> i64 {
        admin
            .query_one(
                "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
                 WHERE s.ssl AND a.usename = $1",
                &[&APP_ROLE],
            )
            .unwrap()
            .get(0)
    };
    let works = [
        url(
            "127.0.0.1",
            &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
        ),
        url(
            "localhost",
            &format!("sslmode=verify-ca&sslrootcert={}", ca.display()),
        ),
        url("127.0.0.1", "sslmode=require"),
        url("127.0.0.1", "sslmode=prefer"),
    ];
    for u in &works {
        let addr = proxy_to(env, &runtime, u);
        let mut client =
            login_at(addr, "alice", ALICE_PASSWORD).unwrap_or_else(|e| panic!("{u}: {e}"));
        assert_eq!(
            rows(&mut client, "SELECT count(*) FROM orders"),
            vec![vec![Some("10".to_string())]],
            "{u}"
        );
        assert_eq!(tls_sessions(&mut admin), 1, "{u}");
        drop(client);
        let started = Instant::now();
        while tls_sessions(&mut admin) != 0 {
            assert!(started.elapsed() < Duration::from_secs(10));
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    // Verification refuses: a certificate from another CA, and (verify-full) a host name
    // the certificate does not name. The client learns only that the proxy cannot log in.
    let refused = [
        url(
            "127.0.0.1",
            &format!("sslmode=verify-full&sslrootcert={}", other.display()),
        ),
        url(
            "127.0.0.1",
            &format!("sslmode=verify-ca&sslrootcert={}", other.display()),
        ),
        url(
            "127.0.0.1",
            &format!("sslmode=require&sslrootcert={}", other.display()),
        ),
        url(
            "localhost",
            &format!("sslmode=verify-full&sslrootcert={}", ca.display()),
        ),
    ];
    for u in &refused {
        let addr = proxy_to(env, &runtime, u);
        let err = login_at(addr, "alice", ALICE_PASSWORD)
            .err()
            .unwrap_or_else(|| panic!("{u} logged in"));
        let db = err.as_db_error().unwrap_or_else(|| panic!("{u}: {err}"));
        assert_eq!(
            db.code(),
            &postgres::error::SqlState::CONNECTION_FAILURE,
            "{u}"
        );
        assert_eq!(
            db.message(),
            "the proxy cannot log in to the upstream database",
            "{u}"
        );
    }
    // Without ssl on the server: require refuses, prefer falls back to plain.
    for sql in [
        "ALTER SYSTEM RESET ssl",
        "ALTER SYSTEM RESET ssl_cert_file",
        "ALTER SYSTEM RESET ssl_key_file",
        "SELECT pg_reload_conf()",
    ] {
        admin.batch_execute(sql).unwrap();
    }
    let started = Instant::now();
    while rows(
        &mut env.cluster.connect("postgres", "postgres").unwrap(),
        "SHOW ssl",
    ) != vec![vec![Some("off".to_string())]]
    {
        assert!(started.elapsed() < Duration::from_secs(10), "ssl stays on");
        std::thread::sleep(Duration::from_millis(100));
    }
    let addr = proxy_to(env, &runtime, &url("127.0.0.1", "sslmode=require"));
    assert!(login_at(addr, "alice", ALICE_PASSWORD).is_err());
    let addr = proxy_to(env, &runtime, &url("127.0.0.1", "sslmode=prefer"));
    let mut client = login_at(addr, "alice", ALICE_PASSWORD).unwrap();
    assert_eq!(
        rows(&mut client, "SELECT count(*) FROM orders"),
        vec![vec![Some("10".to_string())]]
    );
    drop(client);
    drop(runtime);
    let _ = std::fs::remove_dir_all(&dir);
}
