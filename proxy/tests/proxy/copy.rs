//! `COPY … FROM STDIN` through the proxy: the engine's verdict for the COPY statement is
//! enforced as given (the spec: a COPY FROM into a governed table runs only when a policy
//! allows the `copy_from` kind explicitly, and then as written); a blocked COPY answers
//! 42501 before any CopyInResponse, CopyData the client sends anyway is drained, and the
//! session stays usable.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use serde_json::{json, Value as Json};

use crate::clients::{available, run_script};
use crate::env::{alice_ctx, rows, Env, ALICE_PASSWORD, DB};
use crate::hostile::raw_session;
use crate::{case, Case};

pub fn all() -> Vec<Case> {
    vec![
        case!(copy_from_stdin_with_psql),
        case!(copy_from_stdin_with_psycopg),
        case!(blocked_copy_drains_copy_data),
    ]
}

const COPY: &str = "COPY orders (id, tenant_id, amount, status) FROM STDIN";

fn loader_ctx() -> Json {
    json!({"user": "lou", "roles": ["analyst", "loader"], "attributes": {"tenant_id": 1}})
}

fn loader_token(env: &Env) -> String {
    env.jwt(json!({"sub": "lou", "roles": ["analyst", "loader"], "attributes": {"tenant_id": 1}}))
}

/// Rows of orders with an id above 2000 (the rows the COPY cases write), directly.
fn copied(env: &Env) -> Vec<Vec<Option<String>>> {
    rows(
        &mut env.direct(),
        "SELECT id::text, tenant_id::text, amount::text, status FROM orders WHERE id > 2000 ORDER BY id",
    )
}

fn clean(env: &Env) {
    env.direct()
        .batch_execute("DELETE FROM orders WHERE id > 2000")
        .unwrap();
}

/// psql with `-c` commands, `stdin` piped to it (what `\copy … from pstdin` reads).
fn psql_stdin(
    env: &Env,
    user: &str,
    password: &str,
    commands: &[&str],
    stdin: &str,
) -> (String, String) {
    let mut cmd = Command::new("psql");
    cmd.env("PGPASSWORD", password)
        .env("PGCONNECT_TIMEOUT", "10")
        .env("PGSSLMODE", "disable")
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
        ]);
    for c in commands {
        cmd.args(["-c", c]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("psql runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn copy_from_stdin_with_psql(env: &Env) {
    clean(env);
    let data = "2001\t1\t12.50\topen\n2002\t1\t99.00\tpaid\n";
    let copy_cmd = "\\copy orders (id, tenant_id, amount, status) from pstdin";
    // A principal whose policies allow `copy_from`: the engine allows the COPY as written.
    let verdict = env.verdict(&loader_ctx(), COPY);
    assert!(!verdict.is_block(), "{verdict:?}");
    // The engine allows the kind as a whole: the rows are not checked against the
    // principal's row filter on orders (tenant 1), and the proxy runs what it was given.
    assert_eq!(verdict.rewritten_sql.as_deref(), Some(COPY));
    assert!(
        verdict
            .notes
            .iter()
            .any(|n| n.contains("policy `bulk-load` allows `copy_from` statements explicitly")),
        "{:?}",
        verdict.notes
    );
    let (out, err) = psql_stdin(
        env,
        "lou",
        &loader_token(env),
        &[copy_cmd, "SELECT count(*) FROM orders WHERE id > 2000"],
        data,
    );
    assert!(!err.contains("ERROR"), "{err}");
    assert_eq!(out.lines().collect::<Vec<_>>(), ["COPY 2", "2"], "{out}");
    assert_eq!(
        copied(env),
        [
            ["2001", "1", "12.50", "open"].map(|v| Some(v.to_string())),
            ["2002", "1", "99.00", "paid"].map(|v| Some(v.to_string())),
        ]
    );
    clean(env);
    // Without the allowance the engine blocks it: 42501 with its reason, nothing written,
    // and the next command of the same session runs.
    let verdict = env.verdict(&alice_ctx(), COPY);
    assert!(verdict.is_block(), "{verdict:?}");
    let (out, err) = psql_stdin(
        env,
        "alice",
        ALICE_PASSWORD,
        &[copy_cmd, "SELECT count(*) FROM orders"],
        data,
    );
    assert!(
        err.contains(&format!("ERROR:  {}", verdict.reason)),
        "{err}"
    );
    assert!(
        err.contains(&format!("DETAIL:  rule: {}", verdict.rule)),
        "{err}"
    );
    assert_eq!(out.trim(), "10", "{err}");
    assert!(copied(env).is_empty());
}

fn copy_from_stdin_with_psycopg(env: &Env) {
    if !available("python3", &["-c", "import psycopg"]) {
        return;
    }
    clean(env);
    let got = run_script(env, "python3", "psycopg_copy.py", "lou", &loader_token(env));
    assert_eq!(got, json!({"copied": 2, "after": 2}));
    assert_eq!(copied(env).len(), 2);
    clean(env);
    let got = run_script(env, "python3", "psycopg_copy.py", "alice", ALICE_PASSWORD);
    let verdict = env.verdict(&alice_ctx(), COPY);
    assert_eq!(got["blocked"]["sqlstate"], json!("42501"), "{got}");
    assert_eq!(got["blocked"]["message"], json!(verdict.reason));
    assert_eq!(got["after"], json!(0));
    assert!(copied(env).is_empty());
}

/// A client that streams its CopyData without waiting for the CopyInResponse: the
/// blocked COPY answers 42501, the data and CopyDone are drained, the next query runs.
fn blocked_copy_drains_copy_data(env: &Env) {
    clean(env);
    let mut s = raw_session(env);
    let mut msg = Vec::new();
    let mut put = |tag: u8, body: &[u8]| {
        msg.push(tag);
        msg.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
        msg.extend_from_slice(body);
    };
    put(b'Q', format!("{COPY}\0").as_bytes());
    put(b'd', b"2001\t1\t12.50\topen\n");
    put(b'd', b"2002\t1\t99.00\tpaid\n");
    put(b'c', b"");
    put(b'Q', b"SELECT 41 + 1\0");
    s.write_all(&msg).unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while seen
        .windows(6)
        .filter(|w| *w == b"Z\x00\x00\x00\x05I")
        .count()
        < 2
    {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "closed: {seen:?}");
        seen.extend_from_slice(&buf[..n]);
    }
    // The messages, by tag.
    let mut tags = Vec::new();
    let mut at = 0;
    while at + 5 <= seen.len() {
        let len = i32::from_be_bytes(seen[at + 1..at + 5].try_into().unwrap()) as usize;
        tags.push((seen[at], seen[at + 5..at + 1 + len].to_vec()));
        at += 1 + len;
    }
    let kinds: Vec<char> = tags.iter().map(|(t, _)| char::from(*t)).collect();
    // ErrorResponse, ReadyForQuery; then the SELECT's RowDescription, DataRow,
    // CommandComplete, ReadyForQuery; no CopyInResponse.
    assert_eq!(kinds, ['E', 'Z', 'T', 'D', 'C', 'Z'], "{seen:?}");
    let error = String::from_utf8_lossy(&tags[0].1);
    assert!(error.contains("C42501"), "{error}");
    assert!(!error.contains("verdict-block"), "{error}");
    assert!(String::from_utf8_lossy(&tags[3].1).ends_with("42"));
    assert!(copied(env).is_empty());
}
