//! SIGKILL the server during a burst of writes, restart it on the same SQLite file: every
//! acknowledged write is there and the database opens cleanly.
//!
//! The server process is this test binary itself, re-run with `VERDICT_TEST_CHILD_DIR`
//! set (see `child_main`), so the test needs no other binary.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CHILD_ENV: &str = "VERDICT_TEST_CHILD_DIR";

/// Whether this process is the server child of the kill test.
pub fn is_child() -> bool {
    std::env::var_os(CHILD_ENV).is_some()
}

/// The child: serve on a free port with the data directory from the environment.
pub fn child_main() {
    let dir = std::env::var_os(CHILD_ENV).expect("child dir");
    let config = verdict_server::ServeConfig {
        addr: "127.0.0.1:0".to_string(),
        database_url: None,
        data_dir: dir.into(),
        max_body_bytes: verdict_server::DEFAULT_MAX_BODY_BYTES,
        web_dir: None,
    };
    if let Err(e) = verdict_server::serve(config) {
        eprintln!("child server failed: {e}");
        std::process::exit(1);
    }
}

struct Server {
    child: Child,
    addr: String,
    token: String,
}

fn start(dir: &Path) -> Server {
    start_with(dir, &[])
}

fn start_with(dir: &Path, envs: &[(&str, &str)]) -> Server {
    let mut child = Command::new(std::env::current_exe().expect("current exe"))
        .env(CHILD_ENV, dir)
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the server");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let (mut addr, mut token) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(60);
    while addr.is_none() || token.is_none() {
        assert!(Instant::now() < deadline, "the server did not start");
        let line = lines.next().expect("server output").expect("a line");
        if let Some(rest) = line.strip_prefix("verdict: serving http://") {
            addr = rest.split_whitespace().next().map(str::to_string);
        }
        if let Some(rest) = line.strip_prefix("verdict: admin token: ") {
            token = Some(rest.trim().to_string());
        }
    }
    // Keep draining the pipe so the child never blocks on a full one.
    std::thread::spawn(move || for _ in lines {});
    Server {
        child,
        addr: addr.expect("addr"),
        token: token.expect("token"),
    }
}

/// One HTTP/1.1 request on a fresh connection; `(status, body)`.
fn http(
    addr: &str,
    method: &str,
    path: &str,
    token: &str,
    body: Option<&str>,
) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    let body = body.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("no status line"))?;
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}

pub fn kill_during_writes(tmp: &Path) {
    let dir = tmp.join("kill");
    let mut server = start(&dir);
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (addr, token, acked, stop) = (
            server.addr.clone(),
            server.token.clone(),
            acked.clone(),
            stop.clone(),
        );
        writers.push(std::thread::spawn(move || {
            for i in 0.. {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let id = format!("burst-{w}-{i}");
                let body = serde_json::json!({
                    "id": id, "name": id, "priority": i,
                    "assignments": [{"kind": "role", "value": "analyst"}],
                    "rules": [{"type": "deny", "table": "salaries"}]
                })
                .to_string();
                match http(&addr, "POST", "/api/v1/policies", &token, Some(&body)) {
                    Ok((201, _)) => acked.lock().unwrap().push(id),
                    Ok((status, body)) => panic!("write {id} answered {status}: {body}"),
                    Err(_) => break, // the server is gone
                }
            }
        }));
    }
    // Let the burst run, then kill the server in the middle of it.
    let started = Instant::now();
    while acked.lock().unwrap().len() < 60 && started.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(5));
    }
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reap");
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().expect("writer");
    }
    let acked = acked.lock().unwrap().clone();
    assert!(
        acked.len() >= 60,
        "only {} writes before the kill",
        acked.len()
    );

    let mut again = start(&dir);
    for id in &acked {
        let (status, body) = http(
            &again.addr,
            "GET",
            &format!("/api/v1/policies/{id}"),
            &again.token,
            None,
        )
        .expect("GET");
        assert_eq!(status, 200, "acknowledged write {id} lost: {body}");
    }
    let (status, body) = http(
        &again.addr,
        "GET",
        "/api/v1/policies?limit=1",
        &again.token,
        None,
    )
    .expect("list");
    assert_eq!(status, 200);
    let total = serde_json::from_str::<serde_json::Value>(&body).expect("json")["total"]
        .as_u64()
        .expect("total");
    assert!(total >= acked.len() as u64, "{total} < {}", acked.len());
    // Writes work after the restart.
    let (status, _) = http(
        &again.addr,
        "POST",
        "/api/v1/policies",
        &again.token,
        Some(r#"{"id": "after-restart", "name": "After restart", "rules": []}"#),
    )
    .expect("POST");
    assert_eq!(status, 201);
    again.child.kill().expect("SIGKILL");
    again.child.wait().expect("reap");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        use sqlx::Connection;
        let url = format!("sqlite://{}", dir.join("verdict.db").display());
        let mut conn = sqlx::AnyConnection::connect(&url).await.expect("open");
        let (check,): (String,) = sqlx::query_as("PRAGMA integrity_check")
            .fetch_one(&mut conn)
            .await
            .expect("check");
        assert_eq!(check, "ok");
        conn.close().await.ok();
    });
    eprintln!(
        "server tests: {} acknowledged writes before SIGKILL, all present after restart",
        acked.len()
    );
}

/// A one-request-at-a-time webhook receiver on `addr` (a thread): answers 200 and hands
/// each request's head and body over.
fn receiver(listener: std::net::TcpListener) -> std::sync::mpsc::Receiver<(String, Vec<u8>)> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            let mut data = Vec::new();
            let mut buf = [0u8; 4096];
            let (head, body) = loop {
                let n = stream.read(&mut buf).unwrap_or(0);
                if n == 0 {
                    break (String::new(), Vec::new());
                }
                data.extend_from_slice(&buf[..n]);
                let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&data[..end]).to_string();
                let length: usize = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        k.eq_ignore_ascii_case("content-length")
                            .then(|| v.trim().parse().ok())?
                    })
                    .unwrap_or(0);
                while data.len() < end + 4 + length {
                    let n = stream.read(&mut buf).unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    data.extend_from_slice(&buf[..n]);
                }
                break (head, data[end + 4..].to_vec());
            };
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            if tx.send((head, body)).is_err() {
                break;
            }
        }
    });
    rx
}

/// A violation's alert queued by a server that is SIGKILLed before it could deliver it
/// (its receiver was down) is delivered by the restarted server.
pub fn queued_alert_survives_restart(tmp: &Path) {
    let dir = tmp.join("alerts-restart");
    // A port nobody listens on yet.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let envs = [("VERDICT_ALERT_BACKOFF_MS", "200")];
    let mut server = start_with(&dir, &envs);
    let call = |s: &Server, method: &str, path: &str, body: serde_json::Value| {
        http(&s.addr, method, path, &s.token, Some(&body.to_string())).expect("request")
    };
    let secret = "restart-test-secret-0123456789";
    let (status, body) = call(
        &server,
        "POST",
        "/api/v1/alert-channels",
        serde_json::json!({"name": "Down for now", "url": format!("http://127.0.0.1:{port}/hook"), "secret": secret}),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        &server,
        "POST",
        "/api/v1/policies",
        serde_json::json!({"id": "no-salaries", "name": "Salaries", "action": "block", "risk": "high",
            "assignments": [{"kind": "role", "value": "analyst"}], "rules": [{"type": "deny", "table": "salaries"}]}),
    );
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        &server,
        "POST",
        "/api/v1/evaluate",
        serde_json::json!({"sql": "SELECT * FROM salaries", "context": {"user": "alice", "roles": ["analyst"]}}),
    );
    assert_eq!(status, 200, "{body}");
    let verdict: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(verdict["verdict"], "block");
    let evaluation_id = verdict["evaluation_id"].as_str().expect("id").to_string();
    // Killed at once: the alert is at most queued, or failed its first attempt.
    server.child.kill().expect("SIGKILL");
    server.child.wait().expect("reap");

    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind the receiver");
    let got = receiver(listener);
    let mut again = start_with(&dir, &envs);
    let (head, body) = got
        .recv_timeout(Duration::from_secs(20))
        .expect("the queued alert after the restart");
    let alert: serde_json::Value = serde_json::from_slice(&body).expect("alert json");
    assert_eq!(alert["evaluation_id"], evaluation_id.as_str());
    assert_eq!(alert["policy"], "no-salaries");
    let expected = verdict_server::alerts::signature(secret, &body);
    assert!(
        head.lines()
            .any(|l| l.split_once(':').is_some_and(|(k, v)| k
                .eq_ignore_ascii_case("x-verdict-signature")
                && v.trim() == expected)),
        "signature missing or wrong in {head}"
    );
    // Delivered once.
    assert!(
        got.recv_timeout(Duration::from_millis(800)).is_err(),
        "delivered twice"
    );
    again.child.kill().expect("SIGKILL");
    again.child.wait().expect("reap");
    eprintln!("server tests: a queued alert was delivered after SIGKILL and restart");
}
