//! Real clients nobody here wrote: `psql` (Debian's).

use std::process::Command;

use serde_json::json;

use crate::env::{alice_ctx, Env, ALICE_PASSWORD, DB};
use crate::{case, Case};

pub fn all() -> Vec<Case> {
    vec![case!(psql_queries_and_blocks), case!(psql_with_jwt)]
}

fn psql(env: &Env, user: &str, password: &str, args: &[&str]) -> (bool, String, String) {
    let out = Command::new("psql")
        .env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .env_remove("PGSERVICE")
        .args([
            "-X",
            "-h",
            "127.0.0.1",
            "-p",
            &env.proxy.port().to_string(),
            "-U",
            user,
            "-d",
            DB,
            "-v",
            "ON_ERROR_STOP=0",
            "-A",
            "-t",
        ])
        .args(args)
        .output()
        .expect("psql runs (apt-get install postgresql-client)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn psql_queries_and_blocks(env: &Env) {
    let sql = "SELECT id, amount FROM orders ORDER BY id";
    let (ok, out, err) = psql(env, "alice", ALICE_PASSWORD, &["-F", ",", "-c", sql]);
    assert!(ok, "{err}");
    let want: Vec<String> = env
        .expected(&alice_ctx(), sql)
        .into_iter()
        .map(|r| format!("{},{}", r[0].clone().unwrap(), r[1].clone().unwrap()))
        .collect();
    assert_eq!(out.lines().collect::<Vec<_>>(), want);

    // A blocked statement: psql prints PostgreSQL's ERROR / DETAIL / HINT lines.
    let verdict = env.verdict(&alice_ctx(), "SELECT * FROM salaries");
    let (ok, _, err) = psql(
        env,
        "alice",
        ALICE_PASSWORD,
        &["-c", "SELECT * FROM salaries"],
    );
    assert!(!ok);
    assert!(
        err.contains(&format!("ERROR:  {}", verdict.reason)),
        "{err}"
    );
    assert!(
        err.contains("DETAIL:  rule: deny; policy: hr-only"),
        "{err}"
    );
    if !verdict.hint.is_empty() {
        assert!(err.contains(&format!("HINT:  {}", verdict.hint)), "{err}");
    }
    // A script: blocks in the middle, the session goes on (ON_ERROR_STOP=0).
    let script =
        "SELECT count(*) FROM orders;\nSELECT * FROM salaries;\nSELECT count(*) FROM customers;\n";
    let (_, out, err) = psql(env, "alice", ALICE_PASSWORD, &["-c", script]);
    // -c with several statements is one simple Query: one block blocks all.
    assert!(err.contains("ERROR:"), "{err}");
    assert_eq!(out.trim(), "");
    let dir = std::env::temp_dir().join(format!("verdict-proxy-psql-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("script.sql");
    std::fs::write(&file, script).unwrap();
    let (_, out, err) = psql(
        env,
        "alice",
        ALICE_PASSWORD,
        &["-f", file.to_str().unwrap()],
    );
    assert_eq!(out.lines().collect::<Vec<_>>(), vec!["10", "4"], "{err}");
    assert_eq!(err.matches("ERROR:").count(), 1, "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn psql_with_jwt(env: &Env) {
    let token =
        env.jwt(json!({"sub": "bob", "roles": ["analyst"], "attributes": {"tenant_id": 3}}));
    let (ok, out, err) = psql(
        env,
        "bob",
        &token,
        &["-c", "SELECT DISTINCT tenant_id FROM orders"],
    );
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "3");
    let (ok, _, err) = psql(env, "bob", "nope", &["-c", "SELECT 1"]);
    assert!(!ok);
    assert!(
        err.contains("password authentication failed for user \"bob\""),
        "{err}"
    );
}
