//! Data-source hardening (issue 22): passwords sealed at rest with the server's key
//! (never in the stored URL, a wrong key a clear error), rows stored in plain text before
//! sealed at start, and TLS to the data source (`sslmode`, `sslrootcert`) against the
//! suite's PostgreSQL with `ssl = on` and a certificate from a CA made for this run.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use verdict_testkit::tls::{is_root, make_ca, make_server_cert};

use serde_json::json;
use sqlx::Connection;
use verdict_server::secrets::SecretKey;
use verdict_server::{app, AppState, DEFAULT_MAX_BODY_BYTES};

use crate::case;
use crate::data_sources::{data_database, register, SECRET};
use crate::support::{Backend, Env};
use crate::Case;

pub fn all() -> Vec<Case> {
    vec![
        case!(data_source_passwords_are_sealed_and_a_wrong_key_is_clear),
        case!(data_source_plaintext_rows_are_sealed_at_start),
        case!(data_source_tls_modes),
    ]
}

/// `env` answering through a server with `state`.
fn with_state(env: &Env, state: AppState) -> Env {
    let mut other = env.clone();
    other.router = app(state, DEFAULT_MAX_BODY_BYTES);
    other
}

async fn sealed_row(env: &Env, id: &str) -> (String, Option<String>) {
    sqlx::query_as("SELECT url, password_sealed FROM data_sources WHERE id = $1")
        .bind(id)
        .fetch_one(&env.db.read)
        .await
        .expect("row")
}

async fn data_source_passwords_are_sealed_and_a_wrong_key_is_clear(env: Env) {
    let url = data_database(&env).await;
    let key = SecretKey::random();
    let env = with_state(
        &env,
        AppState::new(env.db.clone()).with_secret_key(key.clone()),
    );
    let id = register(&env, "Warehouse", &url).await;
    let (stored_url, sealed) = sealed_row(&env, &id).await;
    assert!(!stored_url.contains(SECRET), "{stored_url}");
    let sealed = sealed.expect("sealed");
    assert!(!sealed.contains(SECRET), "{sealed}");
    assert!(sealed.starts_with(&format!("v1:{}:", key.id())), "{sealed}");
    let r = env.get(&format!("/api/v1/data-sources/{id}")).send().await;
    r.expect(200);
    assert_eq!(r.body["has_password"], true);
    assert!(
        r.body["url"].as_str().unwrap().contains(":***@"),
        "{}",
        r.body
    );
    let preview = json!({"sql": "SELECT 1 AS one"});
    let path = format!("/api/v1/data-sources/{id}/preview");
    let r = env.post(&path).json(&preview).send().await;
    r.expect(200);
    assert_eq!(r.body["ran"], true, "{}", r.text);

    // Another key: a clear 409, naming both key ids, and nothing of the secret.
    let wrong = SecretKey::random();
    let other = with_state(
        &env,
        AppState::new(env.db.clone()).with_secret_key(wrong.clone()),
    );
    let r = other.post(&path).json(&preview).send().await;
    r.expect_error(409, "data_source_secret_unreadable");
    let message = r.body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(key.id()) && message.contains(wrong.id()),
        "{message}"
    );
    assert!(!r.text.contains(SECRET));
    // A sealed password copied onto another data source does not open there.
    let id2 = register(&env, "Copy", &url).await;
    sqlx::query("UPDATE data_sources SET password_sealed = $1 WHERE id = $2")
        .bind(&sealed)
        .bind(&id2)
        .execute(&env.db.write)
        .await
        .unwrap();
    let r = env
        .post(&format!("/api/v1/data-sources/{id2}/preview"))
        .json(&preview)
        .send()
        .await;
    r.expect_error(409, "data_source_secret_unreadable");
    // PUT with a new URL seals the new password; without one keeps the sealed one.
    let r = env
        .put(&format!("/api/v1/data-sources/{id}"))
        .json(&json!({"name": "Renamed"}))
        .send()
        .await;
    r.expect(200);
    assert_eq!(
        sealed_row(&env, &id).await.1.as_deref(),
        Some(sealed.as_str())
    );
    let no_password = url.replace(&format!(":{SECRET}@"), "@");
    let r = env
        .put(&format!("/api/v1/data-sources/{id}"))
        .json(&json!({"name": "Renamed", "url": no_password}))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["has_password"], false);
    assert_eq!(sealed_row(&env, &id).await.1, None);
}

async fn data_source_plaintext_rows_are_sealed_at_start(env: Env) {
    let url = data_database(&env).await;
    // A row as stored before migration 0012: the password in `url`.
    sqlx::query(
        "INSERT INTO data_sources (org_id, id, name, url, created_at, created_by, updated_at, updated_by) \
         SELECT id, 'dsr_legacy', 'Legacy', $1, 0, 'ada', 0, 'ada' FROM orgs WHERE name = 'acme'",
    )
    .bind(&url)
    .execute(&env.db.write)
    .await
    .expect("legacy row");
    let key = SecretKey::random();
    let sealed = verdict_server::data_sources::seal_plaintext(&env.db, &key)
        .await
        .expect("seal");
    assert_eq!(sealed, 1);
    let (stored_url, secret) = sealed_row(&env, "dsr_legacy").await;
    assert!(!stored_url.contains(SECRET), "{stored_url}");
    assert!(!secret.as_deref().unwrap_or("").contains(SECRET));
    assert!(secret.is_some());
    assert_eq!(
        verdict_server::data_sources::seal_plaintext(&env.db, &key)
            .await
            .expect("again"),
        0,
        "sealing twice changes nothing"
    );
    let env = with_state(&env, AppState::new(env.db.clone()).with_secret_key(key));
    let r = env.get("/api/v1/data-sources/dsr_legacy").send().await;
    r.expect(200);
    assert_eq!(r.body["has_password"], true);
    let r = env
        .post("/api/v1/data-sources/dsr_legacy/preview")
        .json(&json!({"sql": "SELECT 1 AS one"}))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["ran"], true, "{}", r.text);
}

/// Turns the cluster's TLS on or off and waits until new sessions see it.
async fn set_ssl(port: u16, on: Option<&Path>) {
    let admin_url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
    let mut admin = sqlx::PgConnection::connect(&admin_url).await.unwrap();
    let statements: Vec<String> = match on {
        Some(dir) => vec![
            format!(
                "ALTER SYSTEM SET ssl_cert_file = '{}'",
                dir.join("server.crt").display()
            ),
            format!(
                "ALTER SYSTEM SET ssl_key_file = '{}'",
                dir.join("server.key").display()
            ),
            "ALTER SYSTEM SET ssl = on".into(),
        ],
        None => vec![
            "ALTER SYSTEM RESET ssl".into(),
            "ALTER SYSTEM RESET ssl_cert_file".into(),
            "ALTER SYSTEM RESET ssl_key_file".into(),
        ],
    };
    for sql in statements
        .iter()
        .map(String::as_str)
        .chain(["SELECT pg_reload_conf()"])
    {
        sqlx::query(sql).execute(&mut admin).await.unwrap();
    }
    admin.close().await.ok();
    let want = if on.is_some() { "on" } else { "off" };
    let started = Instant::now();
    loop {
        let mut c = sqlx::PgConnection::connect(&admin_url).await.unwrap();
        let (ssl,): (String,) = sqlx::query_as("SHOW ssl").fetch_one(&mut c).await.unwrap();
        c.close().await.ok();
        if ssl == want {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "ssl stays not {want}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Previews `SELECT ssl FROM pg_stat_ssl …` through a data source with `url`: `Ok(true)`
/// when the session is encrypted, or the error code and message.
async fn session_tls(env: &Env, name: &str, url: &str) -> Result<bool, (u16, String, String)> {
    let r = env
        .post("/api/v1/data-sources")
        .json(&json!({"name": name, "url": url}))
        .send()
        .await;
    if r.status.as_u16() != 201 {
        return Err((r.status.as_u16(), r.code().to_string(), r.text.clone()));
    }
    let id = r.body["id"].as_str().unwrap().to_string();
    let r = env
        .post(&format!("/api/v1/data-sources/{id}/preview"))
        .json(&json!({"sql": "SELECT ssl::text AS tls FROM pg_stat_ssl WHERE pid = pg_backend_pid()"}))
        .send()
        .await;
    if r.status.as_u16() != 200 {
        return Err((r.status.as_u16(), r.code().to_string(), r.text.clone()));
    }
    assert_eq!(r.body["ran"], true, "{}", r.text);
    Ok(r.body["as_context"]["rows"][0][0] == "true")
}

async fn data_source_tls_modes(env: Env) {
    // The cluster is shared by the backends' cases: TLS is switched once, on PostgreSQL's run.
    if env.backend != Backend::Postgres {
        return;
    }
    let port = env.cluster_port.expect("port");
    let base = data_database(&env).await;
    let dir: PathBuf =
        std::env::temp_dir().join(format!("verdict-server-ds-tls-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    make_ca(&dir, "ca").unwrap();
    make_ca(&dir, "other").unwrap();
    make_server_cert(&dir, "ca").unwrap();
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
    let env = with_state(
        &env,
        AppState::new(env.db.clone()).with_data_source_ca_dir(dir.clone()),
    );
    let url = move |host: &str, query: &str| {
        base.replace("127.0.0.1", host)
            .replace(&format!(":{SECRET}@"), "@")
            + "?"
            + query
    };

    // TLS off on the server: require refuses, prefer and disable run in plain text.
    let r = session_tls(&env, "off-require", &url("127.0.0.1", "sslmode=require")).await;
    let (status, code, text) = r.expect_err("require without TLS");
    assert_eq!(
        (status, code.as_str()),
        (409, "data_source_unreachable"),
        "{text}"
    );
    println!("    postgres: require against a server without TLS: {text}");
    assert_eq!(
        session_tls(&env, "off-prefer", &url("127.0.0.1", "sslmode=prefer")).await,
        Ok(false)
    );
    assert_eq!(
        session_tls(&env, "off-disable", &url("127.0.0.1", "sslmode=disable")).await,
        Ok(false)
    );

    set_ssl(port, Some(&dir)).await;
    let outcome = async move {
        let works = [
            ("require", url("127.0.0.1", "sslmode=require")),
            ("prefer", url("127.0.0.1", "sslmode=prefer")),
            (
                "full",
                url("127.0.0.1", "sslmode=verify-full&sslrootcert=ca.pem"),
            ),
            (
                "ca",
                url("127.0.0.1", "sslmode=verify-ca&sslrootcert=ca.pem"),
            ),
        ];
        for (name, u) in &works {
            assert_eq!(session_tls(&env, name, u).await, Ok(true), "{u}");
        }
        assert_eq!(
            session_tls(&env, "disable", &url("127.0.0.1", "sslmode=disable")).await,
            Ok(false)
        );
        let refused = [
            (
                "other-ca",
                url("127.0.0.1", "sslmode=verify-full&sslrootcert=other.pem"),
            ),
            (
                "other-ca-ca",
                url("127.0.0.1", "sslmode=verify-ca&sslrootcert=other.pem"),
            ),
            // The certificate names 127.0.0.1 only.
            (
                "wrong-host",
                url("localhost", "sslmode=verify-full&sslrootcert=ca.pem"),
            ),
            // verify-ca should accept a certificate that does not name the host, as libpq
            // does; sqlx 0.8.6 with rustls 0.23.48 refuses it (its verifier matches rustls'
            // older `NotValidForName` error only): it fails closed, like verify-full.
            (
                "ca-localhost",
                url("localhost", "sslmode=verify-ca&sslrootcert=ca.pem"),
            ),
            // Mozilla's roots do not know this run's CA.
            (
                "system",
                url("127.0.0.1", "sslmode=verify-full&sslrootcert=system"),
            ),
        ];
        for (name, u) in &refused {
            let (status, code, text) = session_tls(&env, name, u).await.expect_err(u);
            assert_eq!(
                (status, code.as_str()),
                (409, "data_source_unreachable"),
                "{u}: {text}"
            );
            println!("    postgres: {name}: {text}");
        }
        // sslrootcert names a file in the CA directory, or is refused when registered.
        for (q, why) in [
            ("sslmode=verify-full&sslrootcert=missing.pem", "no file"),
            (
                "sslmode=verify-full&sslrootcert=server.csr",
                "no PEM certificate",
            ),
            ("sslmode=verify-full&sslrootcert=../ca.pem", "sslrootcert"),
            ("sslmode=verify-full&sslrootcert=/etc/passwd", "sslrootcert"),
            ("sslmode=require&sslrootcert=ca.pem", "sslrootcert"),
            ("sslmode=bogus", "sslmode"),
            ("sslkey=server.key", "query parameters"),
        ] {
            let (status, code, text) = session_tls(&env, q, &url("127.0.0.1", q))
                .await
                .expect_err(q);
            assert_eq!(
                (status, code.as_str()),
                (422, "invalid_request"),
                "{q}: {text}"
            );
            assert!(text.contains(why), "{q}: {text}");
        }
        // Without a CA directory, file names are refused too.
        let plain = with_state(&env, AppState::new(env.db.clone()));
        let (status, _, text) = session_tls(
            &plain,
            "no-dir",
            &url("127.0.0.1", "sslmode=verify-full&sslrootcert=ca.pem"),
        )
        .await
        .expect_err("no CA directory");
        assert_eq!(status, 422, "{text}");
        assert!(text.contains("VERDICT_DATA_SOURCE_CA_DIR"), "{text}");
    };
    // The cluster goes back to TLS off whatever happened.
    let result = tokio::spawn(outcome).await;
    set_ssl(port, None).await;
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = result {
        std::panic::resume_unwind(e.into_panic());
    }
}
