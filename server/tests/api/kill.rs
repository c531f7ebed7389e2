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
    let mut child = Command::new(std::env::current_exe().expect("current exe"))
        .env(CHILD_ENV, dir)
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
