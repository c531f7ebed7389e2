//! Violations' alerts: channel CRUD, signed webhook delivery to a real local receiver
//! (an axum server in this process), retries with exponential backoff, dead letters,
//! the test alert, and (in `kill.rs`) a queued alert that survives a SIGKILL.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::Router;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use verdict_server::alerts::WorkerConfig;
use verdict_server::{app, AppState, DEFAULT_MAX_BODY_BYTES};

use crate::case;
use crate::support::{alice, Env};
use crate::Case;

pub fn all() -> Vec<Case> {
    vec![
        case!(alert_channels_crud_validation_and_audit),
        case!(alert_delivered_signed_after_a_retry),
        case!(alert_from_a_monitor_policy_that_would_block),
        case!(alert_permanent_failure_becomes_a_dead_letter),
        case!(alert_test_reports_what_happened),
        case!(alert_slow_receiver_does_not_hold_up_others),
        case!(alert_over_https_trusts_the_system_roots_and_the_channel_ca),
    ]
}

/// PEM armour around bytes that are no certificate.
const CA_LIKE: &str = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A certificate authority made for this run, and a certificate for 127.0.0.1 it signed:
/// `(ca.pem, server cert chain, server key)`.
fn test_pki(dir: &std::path::Path, ca: &str) -> (String, Vec<u8>, Vec<u8>) {
    std::fs::create_dir_all(dir).unwrap();
    let ca_key = format!("{ca}.key");
    let ca_pem = format!("{ca}.pem");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            &format!("/CN={ca}"),
            "-keyout",
            &ca_key,
            "-out",
            &ca_pem,
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
    (
        std::fs::read_to_string(dir.join(&ca_pem)).unwrap(),
        std::fs::read(dir.join("server.pem")).unwrap(),
        std::fs::read(dir.join("server.key")).unwrap(),
    )
}

/// An https webhook receiver on 127.0.0.1 (rustls, answering 200), keeping each
/// request's headers and body.
async fn https_receiver(cert: &[u8], key: &[u8]) -> (Arc<Mutex<Vec<Received>>>, SocketAddr) {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let certs = CertificateDer::pem_slice_iter(cert)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(key).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, keep) = (acceptor.clone(), keep.clone());
            tokio::spawn(async move {
                // A client that does not trust the certificate ends the handshake here.
                let Ok(mut tls) = acceptor.accept(socket).await else {
                    return;
                };
                let mut data = Vec::new();
                let mut buf = [0u8; 4096];
                let (head_end, length) = loop {
                    let n = tls.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    data.extend_from_slice(&buf[..n]);
                    if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&data[..i]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .map(|v| v.trim().parse::<usize>().unwrap())
                            .unwrap_or(0);
                        break (i + 4, length);
                    }
                };
                while data.len() < head_end + length {
                    let n = tls.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    data.extend_from_slice(&buf[..n]);
                }
                let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
                let mut headers = HeaderMap::new();
                for line in head.lines().skip(1) {
                    if let Some((k, v)) = line.split_once(':') {
                        headers.insert(
                            axum::http::HeaderName::from_bytes(k.trim().as_bytes()).unwrap(),
                            v.trim().parse().unwrap(),
                        );
                    }
                }
                keep.lock().unwrap().push(Received {
                    at: Instant::now(),
                    headers,
                    body: Bytes::copy_from_slice(&data[head_end..head_end + length]),
                });
                let _ = tls
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                let _ = tls.shutdown().await;
            });
        }
    });
    (got, addr)
}

/// An `https://` channel is delivered to over TLS when its certificate chains to the
/// channel's `ca_pem`; a certificate that chains to nothing trusted (no `ca_pem`, or
/// another CA) is refused, before any byte of the alert is sent.
async fn alert_over_https_trusts_the_system_roots_and_the_channel_ca(env: Env) {
    let (env, worker) = with_worker(env, 1);
    let dir = std::env::temp_dir().join(format!(
        "verdict-alerts-tls-{}-{}",
        std::process::id(),
        env.backend.name()
    ));
    let (ca, cert, key) = test_pki(&dir, "verdict-test-ca");
    let (other_ca, _, _) = test_pki(&dir.join("other"), "another-ca");
    let _ = std::fs::remove_dir_all(&dir);
    let (got, addr) = https_receiver(&cert, &key).await;
    let url = format!("https://{addr}/hook");
    let make = |extra: Value| {
        let mut body = json!({"name": "tls", "url": url, "secret": SECRET});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let r = env
        .post("/api/v1/alert-channels")
        .json(&make(json!({"ca_pem": ca})))
        .send()
        .await;
    r.expect(201);
    assert_eq!(r.body["ca_pem"], ca.as_str());
    let trusted = r.body["id"].as_str().unwrap().to_string();
    let test = env
        .post(&format!("/api/v1/alert-channels/{trusted}/test"))
        .send()
        .await;
    test.expect(200);
    assert_eq!(test.body["delivered"], true, "{}", test.text);
    assert_eq!(test.body["status"], 200);
    assert_eq!(got.lock().unwrap().len(), 1);
    assert_signed(&got.lock().unwrap()[0], SECRET);

    // Neither the system's roots nor another CA vouch for the receiver.
    for extra in [json!({}), json!({"ca_pem": other_ca})] {
        let r = env
            .post("/api/v1/alert-channels")
            .json(&make(extra.clone()))
            .send()
            .await;
        r.expect(201);
        let id = r.body["id"].as_str().unwrap();
        let test = env
            .post(&format!("/api/v1/alert-channels/{id}/test"))
            .send()
            .await;
        test.expect(200);
        assert_eq!(test.body["delivered"], false, "{extra}: {}", test.text);
        let error = test.body["error"].as_str().unwrap();
        let trust = if extra.get("ca_pem").is_some() {
            "another CA"
        } else {
            "system roots only"
        };
        println!("alerts: https receiver, {trust}: {error}");
        assert!(
            error.contains("TLS") && error.contains("certificate"),
            "{extra}: {error}"
        );
        // Disabled again so that violations go to the trusted channel only.
        env.delete(&format!("/api/v1/alert-channels/{id}"))
            .send()
            .await
            .expect(204);
    }
    assert_eq!(got.lock().unwrap().len(), 1, "nothing reached the receiver");

    // A violation is delivered over TLS, signed.
    blocking_policy(&env, "alert").await;
    assert_eq!(
        evaluate(&env, "SELECT * FROM salaries").await["verdict"],
        "block"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while got.lock().unwrap().len() < 2 {
        assert!(Instant::now() < deadline, "no violation delivered over TLS");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let violation = got.lock().unwrap()[1].clone();
    assert_eq!(violation.json()["policy"], "no-salaries");
    assert_signed(&violation, SECRET);
    worker.abort();
}

pub const SECRET: &str = "a-shared-secret-for-tests-0123456789";

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

/// A webhook receiver on 127.0.0.1: answers the scripted statuses in turn (200 once
/// they run out), after `delay`.
#[derive(Clone, Default)]
pub struct Receiver {
    pub got: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<u16>>>,
    delay: Arc<Mutex<Duration>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let delay = *r.delay.lock().unwrap();
    r.got.lock().unwrap().push(Received {
        at: Instant::now(),
        headers,
        body,
    });
    tokio::time::sleep(delay).await;
    let status = r.script.lock().unwrap().pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap()
}

impl Receiver {
    pub async fn start(script: &[u16]) -> (Receiver, SocketAddr) {
        let r = Receiver::default();
        r.script.lock().unwrap().extend(script);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/hook", post(receive))
            .with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (r, addr)
    }

    pub fn count(&self) -> usize {
        self.got.lock().unwrap().len()
    }

    pub fn all(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` requests arrived (at most `within`).
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let deadline = Instant::now() + within;
        while self.count() < n {
            assert!(
                Instant::now() < deadline,
                "the receiver got {} requests, not {n}, within {within:?}",
                self.count()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.all()
    }
}

/// Checks the signature header against an HMAC-SHA256 computed here.
pub fn assert_signed(got: &Received, secret: &str) {
    let header = got
        .headers
        .get("x-verdict-signature")
        .expect("a signature header")
        .to_str()
        .unwrap();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&got.body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(header, expected, "signature of {:?}", got.body);
    assert_eq!(got.headers.get("content-type").unwrap(), "application/json");
}

/// The environment with this instance's delivery worker running, fast retries.
fn with_worker(env: Env, max_attempts: i64) -> (Env, tokio::task::JoinHandle<()>) {
    let mut state = AppState::new(env.db.clone());
    state.alert_config = WorkerConfig {
        base_backoff: Duration::from_millis(150),
        max_attempts,
        timeout: Duration::from_secs(3),
        poll: Duration::from_millis(50),
    };
    let worker = state.start_alerts();
    let router = app(state, DEFAULT_MAX_BODY_BYTES);
    (Env { router, ..env }, worker)
}

async fn blocking_policy(env: &Env, action: &str) {
    env.set_catalog().await;
    env.create(&json!({
        "id": "no-salaries", "name": "Salaries are off limits", "action": action, "risk": "high",
        "assignments": [{"kind": "role", "value": "analyst"}],
        "rules": [{"type": "deny", "table": "salaries"}]
    }))
    .await;
}

async fn channel(env: &Env, addr: SocketAddr, extra: Value) -> String {
    let mut body =
        json!({"name": "On-call", "url": format!("http://{addr}/hook"), "secret": SECRET});
    for (k, v) in extra.as_object().unwrap() {
        body[k] = v.clone();
    }
    let r = env.post("/api/v1/alert-channels").json(&body).send().await;
    r.expect(201);
    assert!(
        r.body.get("secret").is_none(),
        "a given secret is not echoed"
    );
    r.body["id"].as_str().unwrap().to_string()
}

async fn evaluate(env: &Env, sql: &str) -> Value {
    let r = env
        .post("/api/v1/evaluate")
        .json(&json!({"sql": sql, "context": alice()}))
        .send()
        .await;
    r.expect(200);
    r.body.clone()
}

async fn alert_channels_crud_validation_and_audit(env: Env) {
    let r = env
        .post("/api/v1/alert-channels")
        .json(&json!({"name": "Ops", "url": "http://127.0.0.1:9/hook", "risks": ["high"], "actions": ["alert", "block"]}))
        .send()
        .await;
    r.expect(201);
    let id = r.body["id"].as_str().unwrap().to_string();
    let secret = r.body["secret"].as_str().expect("a generated secret");
    assert_eq!(secret.len(), 64);
    assert_eq!(r.body["enabled"], true);
    assert_eq!(r.body["risks"], json!(["high"]));
    assert_eq!(r.body["actions"], json!(["alert", "block"]));
    assert_eq!(r.body["policies"], json!([]));
    let got = env
        .get(&format!("/api/v1/alert-channels/{id}"))
        .send()
        .await;
    got.expect(200);
    assert!(got.body.get("secret").is_none(), "{}", got.text);
    assert_eq!(got.body["url"], "http://127.0.0.1:9/hook");
    let list = env.get("/api/v1/alert-channels").send().await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    // Another organization sees nothing of it.
    env.get(&format!("/api/v1/alert-channels/{id}"))
        .token(&env.other)
        .send()
        .await
        .expect_error(404, "not_found");
    let list = env
        .get("/api/v1/alert-channels")
        .token(&env.other)
        .send()
        .await;
    assert_eq!(list.body["items"], json!([]));
    // Viewers read, never write.
    env.get("/api/v1/alert-channels")
        .token(&env.viewer)
        .send()
        .await
        .expect(200);
    // Only admins write channels (they hold secrets and make the server call out).
    for token in [&env.viewer, &env.editor] {
        env.post("/api/v1/alert-channels")
            .token(token)
            .json(&json!({"name": "x", "url": "http://127.0.0.1:9/"}))
            .send()
            .await
            .expect(403);
        env.delete(&format!("/api/v1/alert-channels/{id}"))
            .token(token)
            .send()
            .await
            .expect(403);
    }
    // Validation, with the field.
    for (body, field) in [
        (json!({"name": "", "url": "http://127.0.0.1:9/"}), "name"),
        (json!({"name": "x", "url": "ftp://host/"}), "url"),
        (json!({"name": "x", "url": "https://exa mple/"}), "url"),
        (
            json!({"name": "x", "url": "http://h/", "ca_pem": CA_LIKE}),
            "ca_pem",
        ),
        (
            json!({"name": "x", "url": "https://h/", "ca_pem": "not a certificate"}),
            "ca_pem",
        ),
        (
            json!({"name": "x", "url": "https://h/", "ca_pem": CA_LIKE}),
            "ca_pem",
        ),
        (json!({"name": "x", "url": "http://"}), "url"),
        // Addresses a webhook may not reach: instance metadata, unspecified, multicast.
        (
            json!({"name": "x", "url": "http://169.254.169.254/latest/meta-data/"}),
            "url",
        ),
        (json!({"name": "x", "url": "http://[fe80::1]:8080/"}), "url"),
        (
            json!({"name": "x", "url": "http://[::ffff:169.254.169.254]/"}),
            "url",
        ),
        (json!({"name": "x", "url": "http://0.0.0.0:9/"}), "url"),
        (json!({"name": "x", "url": "http://[::]:9/"}), "url"),
        (json!({"name": "x", "url": "http://224.0.0.1/"}), "url"),
        (
            json!({"name": "x", "url": "http://h/", "secret": "short"}),
            "secret",
        ),
    ] {
        let r = env.post("/api/v1/alert-channels").json(&body).send().await;
        assert_eq!(r.status, 422, "{body}: {}", r.text);
        assert_eq!(r.body["error"]["details"]["field"], field, "{}", r.text);
    }
    for body in [
        json!({"name": "x", "url": "http://h/", "risks": ["extreme"]}),
        json!({"name": "x", "url": "http://h/", "colour": "red"}),
        json!({"url": "http://h/"}),
        json!({"name": null, "url": "http://h/"}),
    ] {
        let r = env.post("/api/v1/alert-channels").json(&body).send().await;
        assert!(r.status.is_client_error(), "{body}: {}", r.text);
    }
    // PUT replaces; without `secret` the secret is kept (the signature proves it below).
    let r = env
        .put(&format!("/api/v1/alert-channels/{id}"))
        .json(&json!({"name": "Ops (muted)", "url": "http://127.0.0.1:9/other", "enabled": false}))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["enabled"], false);
    assert_eq!(r.body["risks"], json!([]));
    assert_eq!(r.body["name"], "Ops (muted)");
    env.put("/api/v1/alert-channels/nope")
        .json(&json!({"name": "x", "url": "http://h/"}))
        .send()
        .await
        .expect_error(404, "not_found");
    // Audited, without the secret.
    let audit = env.get("/api/v1/audit").send().await;
    audit.expect(200);
    let actions: Vec<&str> = audit.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["object_type"] == "alert_channel")
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.contains(&"alert_channel.create"), "{actions:?}");
    assert!(actions.contains(&"alert_channel.update"), "{actions:?}");
    assert!(
        !audit.text.contains(secret),
        "the audit trail holds the secret"
    );
    env.delete(&format!("/api/v1/alert-channels/{id}"))
        .send()
        .await
        .expect(204);
    env.get(&format!("/api/v1/alert-channels/{id}"))
        .send()
        .await
        .expect_error(404, "not_found");
    env.delete(&format!("/api/v1/alert-channels/{id}"))
        .send()
        .await
        .expect_error(404, "not_found");
}

async fn alert_delivered_signed_after_a_retry(env: Env) {
    let (env, worker) = with_worker(env, 5);
    // The receiver is slow (400 ms) and fails the first attempt.
    let (receiver, addr) = Receiver::start(&[500]).await;
    *receiver.delay.lock().unwrap() = Duration::from_millis(400);
    blocking_policy(&env, "block").await;
    let id = channel(&env, addr, json!({"risks": ["high"]})).await;
    // A channel that other risks only would not get it.
    channel(&env, addr, json!({"risks": ["low"], "name": "Low only"})).await;
    let started = Instant::now();
    let verdict = evaluate(&env, "SELECT * FROM salaries").await;
    let took = started.elapsed();
    assert_eq!(verdict["verdict"], "block");
    assert!(
        took < Duration::from_millis(400),
        "/evaluate waited for the webhook: {took:?}"
    );
    // Allowed statements raise nothing.
    evaluate(&env, "SELECT id FROM orders").await;
    let got = receiver.wait_for(2, Duration::from_secs(15)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.count(), 2, "one failure then one success");
    let (first, second) = (&got[0], &got[1]);
    assert_eq!(first.body, second.body, "a retry sends the same alert");
    assert!(
        second.at.duration_since(first.at) >= Duration::from_millis(150),
        "the retry waited the backoff"
    );
    for g in &got {
        assert_signed(g, SECRET);
    }
    let body = second.json();
    assert_eq!(body["type"], "violation");
    assert_eq!(body["policy"], "no-salaries");
    assert_eq!(body["action"], "block");
    assert_eq!(body["risk"], "high");
    assert_eq!(body["mode"], "enforce");
    assert_eq!(body["rule"], "deny");
    assert_eq!(body["sql"], "SELECT * FROM salaries");
    assert_eq!(body["user"], "alice");
    assert_eq!(body["evaluation_id"], verdict["evaluation_id"]);
    assert_eq!(second.headers.get("x-verdict-event").unwrap(), "violation");
    let dead = env
        .get(&format!("/api/v1/alert-channels/{id}/dead-letters"))
        .send()
        .await;
    dead.expect(200);
    assert_eq!(dead.body["items"], json!([]));
    worker.abort();
}

async fn alert_from_a_monitor_policy_that_would_block(env: Env) {
    let (env, worker) = with_worker(env, 3);
    let (receiver, addr) = Receiver::start(&[]).await;
    env.set_catalog().await;
    env.create(&json!({
        "id": "watch-hashes", "name": "Watch password hashes", "mode": "monitor", "action": "alert", "risk": "medium",
        "assignments": [{"kind": "role", "value": "analyst"}],
        "rules": [{"type": "deny", "table": "customers", "columns": ["password_hash"]}]
    }))
    .await;
    env.create(&json!({
        "id": "log-only", "name": "Only logged", "action": "log", "risk": "low",
        "assignments": [{"kind": "role", "value": "analyst"}],
        "rules": [{"type": "deny", "table": "salaries"}]
    }))
    .await;
    channel(&env, addr, json!({})).await;
    let verdict = evaluate(&env, "SELECT password_hash FROM customers").await;
    assert_ne!(verdict["verdict"], "block", "{verdict}");
    // A block by a policy whose action is `log` raises no alert.
    assert_eq!(
        evaluate(&env, "SELECT * FROM salaries").await["verdict"],
        "block"
    );
    let got = receiver.wait_for(1, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.count(), 1);
    let body = got[0].json();
    assert_eq!(body["policy"], "watch-hashes");
    assert_eq!(body["mode"], "monitor");
    assert_eq!(body["action"], "alert");
    assert_eq!(body["risk"], "medium");
    assert_signed(&got[0], SECRET);
    worker.abort();
}

async fn alert_permanent_failure_becomes_a_dead_letter(env: Env) {
    let (env, worker) = with_worker(env, 3);
    let (receiver, addr) = Receiver::start(&[503, 503, 503, 503]).await;
    blocking_policy(&env, "alert").await;
    let id = channel(&env, addr, json!({"actions": ["alert"]})).await;
    let verdict = evaluate(&env, "SELECT * FROM salaries").await;
    let got = receiver.wait_for(3, Duration::from_secs(15)).await;
    // Exponential: 150 ms, then 300 ms.
    let gap1 = got[1].at.duration_since(got[0].at);
    let gap2 = got[2].at.duration_since(got[1].at);
    assert!(gap1 >= Duration::from_millis(150), "{gap1:?}");
    assert!(gap2 >= Duration::from_millis(300), "{gap2:?}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let dead = loop {
        let r = env
            .get(&format!("/api/v1/alert-channels/{id}/dead-letters"))
            .send()
            .await;
        r.expect(200);
        if r.body["items"].as_array().is_some_and(|a| !a.is_empty()) {
            break r.body;
        }
        assert!(Instant::now() < deadline, "no dead letter: {}", r.text);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(receiver.count(), 3, "bounded attempts");
    let items = dead["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["attempts"], 3);
    assert_eq!(items[0]["last_status"], 503);
    assert_eq!(
        items[0]["payload"]["evaluation_id"],
        verdict["evaluation_id"]
    );
    eprintln!("alerts: retry gaps {gap1:?}, {gap2:?} (base 150 ms)");
    env.get("/api/v1/alert-channels/nope/dead-letters")
        .send()
        .await
        .expect_error(404, "not_found");
    env.get(&format!("/api/v1/alert-channels/{id}/dead-letters"))
        .token(&env.other)
        .send()
        .await
        .expect_error(404, "not_found");
    worker.abort();
}

async fn alert_test_reports_what_happened(env: Env) {
    let (receiver, addr) = Receiver::start(&[200, 418]).await;
    let id = channel(&env, addr, json!({"enabled": false})).await;
    let r = env
        .post(&format!("/api/v1/alert-channels/{id}/test"))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["delivered"], true, "{}", r.text);
    assert_eq!(r.body["status"], 200);
    assert_eq!(r.body["error"], Value::Null);
    let got = receiver.all();
    assert_eq!(got.len(), 1);
    assert_signed(&got[0], SECRET);
    assert_eq!(got[0].json()["type"], "test");
    assert_eq!(got[0].json(), r.body["payload"]);
    assert_eq!(got[0].headers.get("x-verdict-event").unwrap(), "test");
    let r = env
        .post(&format!("/api/v1/alert-channels/{id}/test"))
        .send()
        .await;
    assert_eq!(r.body["delivered"], false);
    assert_eq!(r.body["status"], 418);
    // Nobody listens on this port: answered, not failed.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let other = channel(&env, closed, json!({})).await;
    let r = env
        .post(&format!("/api/v1/alert-channels/{other}/test"))
        .send()
        .await;
    r.expect(200);
    assert_eq!(r.body["delivered"], false);
    assert_eq!(r.body["status"], Value::Null);
    assert!(
        r.body["error"].as_str().unwrap().contains("cannot connect"),
        "{}",
        r.text
    );
    env.post(&format!("/api/v1/alert-channels/{id}/test"))
        .token(&env.editor)
        .send()
        .await
        .expect(403);
    env.post("/api/v1/alert-channels/nope/test")
        .send()
        .await
        .expect_error(404, "not_found");
}

async fn alert_slow_receiver_does_not_hold_up_others(env: Env) {
    let (env, worker) = with_worker(env, 3);
    let (slow, slow_addr) = Receiver::start(&[]).await;
    *slow.delay.lock().unwrap() = Duration::from_secs(2);
    let (fast, fast_addr) = Receiver::start(&[]).await;
    blocking_policy(&env, "block").await;
    channel(&env, slow_addr, json!({"name": "Slow"})).await;
    channel(&env, fast_addr, json!({"name": "Fast"})).await;
    let started = Instant::now();
    evaluate(&env, "SELECT * FROM salaries").await;
    fast.wait_for(1, Duration::from_secs(10)).await;
    let fast_took = started.elapsed();
    assert!(
        fast_took < Duration::from_millis(1500),
        "the fast receiver waited for the slow one: {fast_took:?}"
    );
    slow.wait_for(1, Duration::from_secs(10)).await;
    eprintln!("alerts: fast receiver got the alert {fast_took:?} after /evaluate");
    worker.abort();
}
