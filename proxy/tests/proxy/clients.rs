//! Real clients nobody here wrote: `psql` (Debian's), psycopg 3 (PyPI) and node-postgres
//! (npm, `npm ci` in proxy/tests/clients). A client that is not installed is reported as
//! skipped, by name.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{json, Value as Json};

use crate::env::{alice_ctx, Env, ALICE_PASSWORD, DB};
use crate::{case, Case};

pub fn all() -> Vec<Case> {
    vec![
        case!(psql_queries_and_blocks),
        case!(psql_with_jwt),
        case!(psql_over_tls_and_plain),
        case!(psql_describes_readable_tables),
        case!(psql_verbose_describes),
        case!(psycopg_3),
        case!(node_postgres),
        case!(pgjdbc),
    ]
}

fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// Runs a client script with the proxy's address and a login; its stdout is JSON.
pub fn run_script(env: &Env, program: &str, script: &str, user: &str, password: &str) -> Json {
    let out = Command::new(program)
        .current_dir(clients_dir())
        .arg(clients_dir().join(script))
        .args([
            "127.0.0.1",
            &env.proxy.port().to_string(),
            user,
            password,
            DB,
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script} failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{script}: {e}: {stdout}"))
}

pub fn available(program: &str, args: &[&str]) -> bool {
    let ok = Command::new(program)
        .current_dir(clients_dir())
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        // CI installs every client (scripts/test.sh): a missing one there is a failure.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{program} {} fails; scripts/test.sh installs the clients",
            args.join(" ")
        );
        print!("(skipped: {program} {} fails) ", args.join(" "));
    }
    ok
}

/// Rows of the engine's rewritten SQL as JSON: the first column an integer, the rest text.
fn expected_json(env: &Env, ctx: &Json, sql: &str, int_columns: usize) -> Json {
    Json::Array(
        env.expected(ctx, sql)
            .into_iter()
            .map(|r| {
                Json::Array(
                    r.into_iter()
                        .enumerate()
                        .map(|(i, v)| match (v, i < int_columns) {
                            (None, _) => Json::Null,
                            (Some(v), true) => json!(v.parse::<i64>().unwrap()),
                            (Some(v), false) => json!(v),
                        })
                        .collect(),
                )
            })
            .collect(),
    )
}

fn psycopg_3(env: &Env) {
    if !available("python3", &["-c", "import psycopg"]) {
        return;
    }
    let got = run_script(env, "python3", "psycopg_client.py", "alice", ALICE_PASSWORD);
    let ctx = alice_ctx();
    assert_eq!(
        got["params"],
        expected_json(
            env,
            &ctx,
            "SELECT id, amount::text FROM orders WHERE id > 4 AND status = 'paid' ORDER BY id",
            1
        )
    );
    assert_eq!(got["prepared"], json!(10));
    assert_eq!(
        got["masked"],
        expected_json(env, &ctx, "SELECT email, ssn FROM customers ORDER BY id", 0)
    );
    let verdict = env.verdict(&ctx, "SELECT * FROM salaries WHERE amount > $1");
    assert_eq!(got["blocked"]["sqlstate"], json!("42501"));
    assert_eq!(got["blocked"]["message"], json!(verdict.reason));
    assert_eq!(got["updated"], json!(10));
    assert_eq!(got["tx_blocked"], json!(true));
    assert_eq!(got["application_name"], json!("psycopg-test"));
    let copy: Vec<i64> = env
        .expected(&ctx, "SELECT id FROM orders ORDER BY id")
        .into_iter()
        .map(|r| r[0].as_ref().unwrap().parse().unwrap())
        .collect();
    assert_eq!(got["copy"], json!(copy));
}

fn node_postgres(env: &Env) {
    if !available("node", &["-e", "require('pg')"]) {
        return;
    }
    let token =
        env.jwt(json!({"sub": "nina", "roles": ["analyst"], "attributes": {"tenant_id": 2}}));
    let got = run_script(env, "node", "node_client.js", "nina", &token);
    let ctx = json!({"user": "nina", "roles": ["analyst"], "attributes": {"tenant_id": 2}});
    let want: Vec<Json> = [0, 10, 20]
        .iter()
        .map(|min| {
            expected_json(
                env,
                &ctx,
                &format!(
                    "SELECT id, amount::text AS amount FROM orders WHERE id > {min} ORDER BY id"
                ),
                1,
            )
        })
        .collect();
    assert_eq!(got["prepared"], json!(want));
    let verdict = env.verdict(&ctx, "SELECT * FROM salaries WHERE amount > $1");
    assert_eq!(got["blocked"]["code"], json!("42501"));
    assert_eq!(got["blocked"]["message"], json!(verdict.reason));
    assert!(got["blocked"]["detail"]
        .as_str()
        .unwrap()
        .contains("hr-only"));
    assert_eq!(got["after"], json!([28]));
    assert_eq!(got["tx_error"], json!("42501"));
    assert_eq!(got["tx_after"], json!("25P02"));
}

fn psql(env: &Env, user: &str, password: &str, args: &[&str]) -> (bool, String, String) {
    psql_ssl(env, user, password, "prefer", args)
}

fn psql_ssl(
    env: &Env,
    user: &str,
    password: &str,
    sslmode: &str,
    args: &[&str],
) -> (bool, String, String) {
    let out = Command::new("psql")
        .env("PGSSLMODE", sslmode)
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

/// psql's `\dt`, `\d TABLE` and `\l` work through the proxy and show only what the
/// principal may read: tables the policies deny are absent, denied columns too; other
/// catalog reads (statistics, data tables next to catalogs) stay blocked.
fn psql_describes_readable_tables(env: &Env) {
    let token =
        env.jwt(json!({"sub": "sam", "roles": ["support"], "attributes": {"tenant_id": 1}}));
    let describe = |user: &str, password: &str, command: &str| {
        let (ok, out, err) = psql(env, user, password, &["-F", "|", "-c", command]);
        assert!(ok, "{command} as {user}: {err}");
        assert!(!err.contains("ERROR"), "{command} as {user}: {err}");
        out
    };
    // \dt: the catalog's tables the principal may read.
    let tables = |out: &str| -> Vec<String> {
        out.lines()
            .map(|l| l.split('|').take(3).collect::<Vec<_>>().join("|"))
            .collect()
    };
    let alice = describe("alice", ALICE_PASSWORD, "\\dt");
    assert_eq!(
        tables(&alice),
        ["public|customers|table", "public|orders|table"],
        "{alice}"
    );
    let hr = describe("hr", ALICE_PASSWORD, "\\dt");
    assert_eq!(
        tables(&hr),
        [
            "public|customers|table",
            "public|orders|table",
            "public|salaries|table"
        ],
        "{hr}"
    );
    // \d TABLE: columns, types, nullability and indexes as PostgreSQL gives them.
    let orders = describe("alice", ALICE_PASSWORD, "\\d orders");
    let columns: Vec<&str> = orders.lines().take(4).collect();
    assert_eq!(
        columns,
        [
            "id|integer||not null|",
            "tenant_id|integer||not null|",
            "amount|numeric(12,2)|||",
            "status|text|||"
        ],
        "{orders}"
    );
    // (psql -t prints no footers; \\di lists the indexes of readable tables.)
    let indexes = describe("alice", ALICE_PASSWORD, "\\di");
    assert!(indexes.contains("|orders_pkey|index|"), "{indexes}");
    // A denied table is not found; a denied column is not shown.
    let (ok, _, err) = psql(env, "alice", ALICE_PASSWORD, &["-c", "\\d salaries"]);
    assert!(!ok || err.contains("Did not find any relation"), "{err}");
    assert!(
        err.contains("Did not find any relation named \"salaries\""),
        "{err}"
    );
    let customers = describe("sam", &token, "\\d customers");
    let names: Vec<&str> = customers
        .lines()
        .take_while(|l| !l.starts_with("Indexes"))
        .filter_map(|l| l.split('|').next())
        .collect();
    assert!(
        names.contains(&"email") && names.contains(&"name"),
        "{customers}"
    );
    assert!(!names.contains(&"ssn"), "{customers}");
    let full = describe("alice", ALICE_PASSWORD, "\\d customers");
    assert!(full.lines().any(|l| l.starts_with("ssn|")), "{full}");
    // An index on a hidden column is not listed either.
    let mine = describe("sam", &token, "\\di");
    assert!(mine.contains("|customers_pkey|index|"), "{mine}");
    assert!(!mine.contains("customers_ssn"), "{mine}");
    let theirs = describe("alice", ALICE_PASSWORD, "\\di");
    assert!(theirs.contains("|customers_ssn|index|"), "{theirs}");
    // \l: the databases.
    let databases = describe("alice", ALICE_PASSWORD, "\\l");
    assert!(
        databases.lines().any(|l| l.starts_with(&format!("{DB}|"))),
        "{databases}"
    );
    // Catalog relations that hold data, and data beside catalogs, stay blocked.
    for sql in [
        "SELECT * FROM pg_catalog.pg_statistic",
        "SELECT * FROM pg_catalog.pg_stats",
        "SELECT c.relname, s.amount FROM pg_catalog.pg_class c, salaries s",
        "SELECT relname FROM pg_catalog.pg_class WHERE relname = (SELECT status FROM orders LIMIT 1)",
    ] {
        let (ok, _, err) = psql(env, "alice", ALICE_PASSWORD, &["-c", sql]);
        assert!(!ok && err.contains("ERROR:"), "{sql}: {err}");
    }
}

fn psql_over_tls_and_plain(env: &Env) {
    // sslmode=require fails unless the proxy answers the SSL request with TLS.
    let token =
        env.jwt(json!({"sub": "tls", "roles": ["analyst"], "attributes": {"tenant_id": 1}}));
    let sql = "SELECT count(*) FROM orders";
    for mode in ["require", "disable"] {
        let (ok, out, err) = psql_ssl(env, "tls", &token, mode, &["-c", sql]);
        assert!(ok, "{mode}: {err}");
        assert_eq!(out.trim(), "10", "{mode}");
        let (ok, out, err) = psql_ssl(env, "alice", ALICE_PASSWORD, mode, &["-c", sql]);
        assert!(ok, "{mode}: {err}");
        assert_eq!(out.trim(), "10", "{mode}");
    }
}

/// psql 15's `\dt+`, `\d+ TABLE`, `\dn` and `\df`: answered from the filtered catalog;
/// sizes and table comments are not shown (NULL), schema comments are.
fn psql_verbose_describes(env: &Env) {
    let token =
        env.jwt(json!({"sub": "sam", "roles": ["support"], "attributes": {"tenant_id": 1}}));
    let describe = |user: &str, password: &str, command: &str| {
        let (ok, out, err) = psql(env, user, password, &["-F", "|", "-c", command]);
        assert!(ok, "{command} as {user}: {err}");
        assert!(!err.contains("ERROR"), "{command} as {user}: {err}");
        out
    };
    // \dt+: Schema|Name|Type|Owner|Persistence|Access method|Size|Description.
    let alice = describe("alice", ALICE_PASSWORD, "\\dt+");
    let rows: Vec<Vec<&str>> = alice.lines().map(|l| l.split('|').collect()).collect();
    assert_eq!(rows.len(), 2, "{alice}");
    for (row, name) in rows.iter().zip(["customers", "orders"]) {
        assert_eq!(row[..3], ["public", name, "table"], "{alice}");
        assert_eq!(row[4..], ["permanent", "heap", "", ""], "{alice}");
    }
    assert!(
        !alice.contains("salaries") && !alice.contains("pay of"),
        "{alice}"
    );
    let hr = describe("hr", ALICE_PASSWORD, "\\dt+");
    assert_eq!(hr.lines().count(), 3, "{hr}");
    // \d+ TABLE: the columns with storage; a denied column stays hidden.
    let orders = describe("alice", ALICE_PASSWORD, "\\d+ orders");
    let columns: Vec<&str> = orders.lines().take(4).collect();
    assert_eq!(
        columns,
        [
            "id|integer||not null||plain|||",
            "tenant_id|integer||not null||plain|||",
            "amount|numeric(12,2)||||main|||",
            "status|text||||extended|||"
        ],
        "{orders}"
    );
    // (psql -t prints no footers such as "Access method: heap".)
    let customers = describe("sam", &token, "\\d+ customers");
    assert!(
        customers.lines().any(|l| l.starts_with("email|")),
        "{customers}"
    );
    assert!(
        !customers.lines().any(|l| l.starts_with("ssn|")),
        "{customers}"
    );
    let (ok, _, err) = psql(env, "alice", ALICE_PASSWORD, &["-c", "\\d+ salaries"]);
    assert!(
        !ok || err.contains("Did not find any relation named \"salaries\""),
        "{err}"
    );
    // \dn: the schemas, with their comments in \dn+.
    let schemas = describe("alice", ALICE_PASSWORD, "\\dn");
    assert!(
        schemas.lines().any(|l| l.starts_with("public|")),
        "{schemas}"
    );
    let schemas = describe("alice", ALICE_PASSWORD, "\\dn+");
    assert!(schemas.contains("standard public schema"), "{schemas}");
    // \df: the functions' signatures.
    let functions = describe("alice", ALICE_PASSWORD, "\\df");
    assert_eq!(
        functions.trim(),
        "public|order_total|numeric|t integer|func",
        "{functions}"
    );
    // Sizes and comments read through the catalog path are NULL; function sources and
    // statistics are not readable.
    let sizes = describe(
        "alice",
        ALICE_PASSWORD,
        "SELECT c.relname, pg_catalog.pg_table_size(c.oid), pg_catalog.obj_description(c.oid, 'pg_class') FROM pg_catalog.pg_class c ORDER BY 1",
    );
    assert!(sizes.lines().any(|l| l == "orders||"), "{sizes}");
    assert!(sizes.lines().all(|l| l.ends_with("||")), "{sizes}");
    for sql in [
        "SELECT prosrc FROM pg_catalog.pg_proc",
        "SELECT pg_catalog.pg_table_size('salaries'::regclass)",
        "SELECT pg_catalog.obj_description('salaries'::regclass, 'pg_class')",
        "SELECT * FROM pg_catalog.pg_stats",
    ] {
        let (ok, out, err) = psql(env, "alice", ALICE_PASSWORD, &["-c", sql]);
        assert!(!ok && err.contains("ERROR:"), "{sql}: {out} {err}");
        assert!(!out.contains("pay of"), "{sql}: {out}");
    }
    // pg_description (JDBC's REMARKS) holds the comments of visible tables and schemas.
    let comments = describe(
        "alice",
        ALICE_PASSWORD,
        "SELECT description FROM pg_catalog.pg_description ORDER BY 1",
    );
    assert!(comments.contains("orders of every tenant"), "{comments}");
    assert!(!comments.contains("pay of"), "{comments}");
    let comments = describe(
        "hr",
        ALICE_PASSWORD,
        "SELECT description FROM pg_catalog.pg_description",
    );
    assert!(comments.contains("pay of each employee"), "{comments}");
}

/// Debian's pgjdbc (libpostgresql-jdbc-java), run as a single-file Java program.
const PGJDBC_JAR: &str = "/usr/share/java/postgresql.jar";

fn run_jdbc(env: &Env, user: &str, password: &str) -> Json {
    let out = Command::new("java")
        .current_dir(clients_dir())
        .args(["-cp", PGJDBC_JAR, "JdbcClient.java", "127.0.0.1"])
        .arg(env.proxy.port().to_string())
        .args([user, password, DB])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "JdbcClient failed: {}{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("JdbcClient: {e}: {stdout}"))
}

fn pgjdbc(env: &Env) {
    // scripts/test.sh installs them: missing in CI is a failure, elsewhere a skip by name.
    let ready = Command::new("java")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success())
        && Path::new(PGJDBC_JAR).exists();
    if !ready {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "java or {PGJDBC_JAR} is missing; scripts/test.sh installs them"
        );
        print!("(skipped: java or {PGJDBC_JAR} missing: apt-get install default-jdk-headless libpostgresql-jdbc-java) ");
        return;
    }
    let ctx = alice_ctx();
    let got = run_jdbc(env, "alice", ALICE_PASSWORD);
    let counts: Vec<i64> = [0, 5, 10, 15, 20]
        .iter()
        .map(|min| {
            env.expected(
                &ctx,
                &format!("SELECT count(*) FROM orders WHERE id > {min}"),
            )[0][0]
                .as_ref()
                .unwrap()
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(got["prepared"], json!(counts), "{got}");
    assert_eq!(
        got["masked"],
        expected_json(env, &ctx, "SELECT ssn FROM customers WHERE id = 3", 0)[0],
        "{got}"
    );
    let verdict = env.verdict(&ctx, "SELECT * FROM salaries WHERE amount > $1");
    assert_eq!(got["blocked"]["state"], json!("42501"), "{got}");
    assert_eq!(got["blocked"]["message"], json!(verdict.reason), "{got}");
    assert_eq!(got["after"], json!(4), "{got}");
    // DatabaseMetaData: only the tables and columns the principal may read.
    assert_eq!(got["tables"], json!(["customers", "orders"]), "{got}");
    assert_eq!(
        got["columns"],
        json!(["id", "tenant_id", "name", "email", "ssn"]),
        "{got}"
    );
    assert_eq!(got["product"], json!("PostgreSQL"));
    let token =
        env.jwt(json!({"sub": "sam", "roles": ["support"], "attributes": {"tenant_id": 1}}));
    let got = run_jdbc(env, "sam", &token);
    assert_eq!(got["masked"], json!(["42501"]), "{got}");
    assert_eq!(got["tables"], json!(["customers", "orders"]), "{got}");
    assert_eq!(
        got["columns"],
        json!(["id", "tenant_id", "name", "email"]),
        "{got}"
    );
}
