//! Runs the built `verdict` binary: exit codes and JSON shapes for good and bad input.

// Test helpers outside `#[test]` functions fail loudly too; clippy.toml covers only the tests.
#![allow(
    clippy::expect_used,
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_verdict");

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Output {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON document ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    /// Asserts exit 2 and the `{"error": {"code", "message"}}` shape; returns the error object.
    fn error(&self, code: &str) -> Value {
        assert_eq!(self.code, 2, "exit code; stdout: {}", self.stdout);
        let doc = self.json();
        let obj = doc.as_object().expect("error document is an object");
        assert_eq!(obj.len(), 1, "only `error` at the top: {doc}");
        let err = doc["error"].clone();
        assert_eq!(err["code"], code, "error code in {doc}");
        let message = err["message"].as_str().expect("message is a string");
        assert!(!message.is_empty(), "empty message in {doc}");
        err
    }
}

fn run_with_stdin(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("verdict starts");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        // The binary may exit without reading stdin (bad arguments): a broken pipe is fine.
        let _ = pipe.write_all(text.as_bytes());
    }
    let out = child.wait_with_output().expect("verdict finishes");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        !stderr.contains("panicked"),
        "verdict panicked on {args:?}:\n{stderr}"
    );
    Output {
        code: out
            .status
            .code()
            .expect("verdict exits normally, not by a signal"),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr,
    }
}

fn run(args: &[&str]) -> Output {
    run_with_stdin(args, None)
}

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

/// Writes a scratch file with a unique name and returns its path.
fn scratch(name: &str, contents: &[u8]) -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("cli-tests");
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let path = dir.join(format!("{}-{n}-{name}", std::process::id()));
    std::fs::write(&path, contents).expect("scratch file");
    path.to_string_lossy().into_owned()
}

const DECISIONS: [&str; 4] = ["allow", "block", "mask", "row_filter"];

fn assert_verdict(out: &Output) -> Value {
    assert_eq!(out.code, 0, "exit code; stdout: {}", out.stdout);
    let doc = out.json();
    let verdict = doc["verdict"].as_str().expect("`verdict` is a string");
    assert!(DECISIONS.contains(&verdict), "unknown verdict `{verdict}`");
    doc
}

fn eval_sql(sql: &str) -> Value {
    let policies = example("policies.json");
    let context = example("context.json");
    let out = run(&[
        "eval",
        "--policies",
        &policies,
        "--context",
        &context,
        "--sql",
        sql,
    ]);
    assert_verdict(&out)
}

// ---------------------------------------------------------------------------------- eval

#[test]
fn eval_prints_one_line_of_verdict_json() {
    let out = run(&[
        "eval",
        "--policies",
        &example("policies.json"),
        "--sql-file",
        &example("query.sql"),
        "--context",
        &example("context.json"),
    ]);
    assert_verdict(&out);
    assert!(out.stdout.ends_with('\n'), "output ends with a newline");
    assert_eq!(out.stdout.lines().count(), 1, "compact JSON is one line");
    assert!(out.stderr.is_empty(), "nothing on stderr: {}", out.stderr);
}

#[test]
fn eval_accepts_yaml_policies_and_gives_the_same_answer() {
    let args = |policies: &str| {
        run(&[
            "eval",
            "--policies",
            policies,
            "--sql-file",
            &example("query.sql"),
            "--context",
            &example("context.json"),
        ])
    };
    let json = args(&example("policies.json"));
    let yaml = args(&example("policies.yaml"));
    assert_verdict(&json);
    assert_eq!(json.stdout, yaml.stdout);
}

#[test]
fn eval_is_deterministic() {
    let a = eval_sql("SELECT id, email FROM customers");
    let b = eval_sql("SELECT id, email FROM customers");
    assert_eq!(a.to_string(), b.to_string());
}

#[test]
fn eval_pretty_is_the_same_document_indented() {
    let base = [
        "eval",
        "--policies",
        &example("policies.json"),
        "--sql",
        "SELECT id FROM orders",
        "--context",
        &example("context.json"),
    ];
    let compact = run(&base);
    let mut with_pretty = base.to_vec();
    with_pretty.push("--pretty");
    let pretty = run(&with_pretty);
    assert_verdict(&pretty);
    assert!(
        pretty.stdout.lines().count() > 1,
        "pretty output is indented"
    );
    assert!(pretty.stdout.starts_with("{\n  \"verdict\""));
    assert_eq!(compact.json(), pretty.json());
}

#[test]
fn eval_without_context_uses_the_empty_context() {
    let out = run(&[
        "eval",
        "--policies",
        &example("policies.json"),
        "--sql",
        "SELECT id FROM orders",
    ]);
    assert_verdict(&out);
}

#[test]
fn eval_accepts_a_yaml_context() {
    let context = scratch(
        "context.yaml",
        b"user: alice\nroles: [analyst]\nattributes:\n  tenant_id: 1\n",
    );
    let out = run(&[
        "eval",
        "--policies",
        &example("policies.json"),
        "--sql",
        "SELECT id FROM orders",
        "--context",
        &context,
    ]);
    assert_verdict(&out);
}

#[test]
fn eval_reads_sql_from_stdin() {
    let from_file = run(&[
        "eval",
        "--policies",
        &example("policies.json"),
        "--sql-file",
        &example("query.sql"),
        "--context",
        &example("context.json"),
    ]);
    let sql = std::fs::read_to_string(example("query.sql")).expect("query.sql");
    let from_stdin = run_with_stdin(
        &[
            "eval",
            "--policies",
            &example("policies.json"),
            "--sql-file",
            "-",
            "--context",
            &example("context.json"),
        ],
        Some(&sql),
    );
    assert_verdict(&from_stdin);
    assert_eq!(from_file.stdout, from_stdin.stdout);
}

#[test]
fn eval_accepts_the_postgres_dialect_by_name() {
    for dialect in ["postgres", "postgresql", "PostgreSQL"] {
        let out = run(&[
            "eval",
            "--policies",
            &example("policies.json"),
            "--sql",
            "SELECT 1",
            "--dialect",
            dialect,
        ]);
        assert_verdict(&out);
    }
}

#[test]
fn eval_blocks_a_multi_statement_text_with_a_drop() {
    let doc = eval_sql("SELECT 1; DROP TABLE x");
    assert_eq!(doc["verdict"], "block", "{doc}");
    assert!(
        doc.get("rewritten_sql").is_none(),
        "a block has no SQL to run: {doc}"
    );
}

#[test]
fn eval_blocks_garbage_sql() {
    for sql in ["this is not sql at all", "SELECT FROM WHERE (", "", "'; --"] {
        let doc = eval_sql(sql);
        assert_eq!(doc["verdict"], "block", "{sql:?} gave {doc}");
        assert!(doc["reason"].is_string(), "a block says why: {doc}");
    }
}

#[test]
fn eval_exits_zero_for_a_block() {
    let doc = eval_sql("SELECT * FROM salaries");
    assert_eq!(doc["verdict"], "block", "{doc}");
}

// ------------------------------------------------------------------------------ validate

#[test]
fn validate_summarizes_a_good_policy_set() {
    for file in ["policies.json", "policies.yaml"] {
        let out = run(&["validate", "--policies", &example(file)]);
        assert_eq!(out.code, 0, "{file}: {}", out.stdout);
        let doc = out.json();
        assert_eq!(doc["valid"], true, "{doc}");
        assert_eq!(doc["policies"], 4, "{doc}");
        assert_eq!(doc["tables"], 3, "{doc}");
        assert_eq!(doc["rules"], 7, "{doc}");
        assert_eq!(doc["governed_tables"], 3, "{doc}");
    }
}

#[test]
fn validate_accepts_a_bare_array_and_a_single_policy() {
    let array = scratch(
        "array.json",
        br#"[{"id": "a", "rules": [{"type": "deny", "table": "salaries"}]},
             {"id": "b", "rules": [{"type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant_id"}]}]"#,
    );
    let out = run(&["validate", "--policies", &array]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(out.json()["policies"], 2);
    assert_eq!(out.json()["tables"], 0, "no catalog, no catalog tables");

    let single = scratch(
        "single.yaml",
        b"id: only\nrules:\n  - {type: deny, table: salaries}\n",
    );
    let out = run(&["validate", "--policies", &single]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert_eq!(out.json()["policies"], 1);
}

const BAD_POLICIES: &str = r#"{
  "catalog": {"tables": [{"name": "orders", "columns": [
    {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"}]}]},
  "policies": [
    {"id": "p1", "priority": "high", "colour": "red",
     "rules": [
       {"type": "row_filter", "table": "orders", "predicate": "tenant_id =\n  = ctx.attr.tenant_id"},
       {"type": "column_mask", "table": "orders", "column": "nope", "mask": {"kind": "hash"}},
       {"type": "column_mask", "table": "orders", "column": "id", "mask": {"kind": "scramble"}},
       {"type": "deny", "table": "ghosts"}
     ]},
    {"id": "p1", "mode": "shadow", "rules": [{"type": "frobnicate", "table": "orders"}]}
  ]
}"#;

#[test]
fn validate_lists_every_problem_of_a_bad_policy_set() {
    let file = scratch("bad.json", BAD_POLICIES.as_bytes());
    let out = run(&["validate", "--policies", &file]);
    let err = out.error("invalid_policy");
    let problems = err["problems"].as_array().expect("problems is an array");
    for p in problems {
        assert!(p["field"].is_string(), "every problem names a field: {p}");
        assert!(p["message"].is_string(), "every problem has a message: {p}");
    }
    let find = |policy_index: u64, field: &str| -> Value {
        problems
            .iter()
            .find(|p| p["policy_index"] == policy_index && p["field"] == field)
            .cloned()
            .unwrap_or_else(|| panic!("no problem for policy {policy_index} `{field}` in {err}"))
    };
    find(0, "colour");
    find(0, "priority");
    let predicate = find(0, "rules[0].predicate");
    assert_eq!(predicate["rule_index"], 0);
    assert_eq!(predicate["policy"], "p1");
    assert_eq!(
        predicate["line"], 2,
        "line inside the predicate: {predicate}"
    );
    assert_eq!(
        predicate["column"], 3,
        "column inside the predicate: {predicate}"
    );
    assert_eq!(find(0, "rules[1].column")["rule_index"], 1);
    assert_eq!(find(0, "rules[2].mask.kind")["rule_index"], 2);
    assert_eq!(find(0, "rules[3].table")["rule_index"], 3);
    find(1, "mode");
    find(1, "rules[0].type");
    find(1, "id");
    assert_eq!(problems.len(), 9, "exactly these problems: {err}");
}

#[test]
fn validate_reports_where_a_syntax_error_is() {
    let json = scratch(
        "broken.json",
        b"{\n  \"policies\": [\n    {\"id\": \"a\",,}\n  ]\n}\n",
    );
    let err = run(&["validate", "--policies", &json]).error("invalid_policy");
    let problem = &err["problems"][0];
    assert_eq!(problem["line"], 3, "{err}");
    assert!(problem["column"].is_u64(), "{err}");

    let yaml = scratch("broken.yaml", b"policies: [\n  - id: a\n    rules: {");
    let err = run(&["validate", "--policies", &yaml]).error("invalid_policy");
    assert!(err["problems"][0]["line"].is_u64(), "{err}");
}

#[test]
fn validate_of_a_missing_file_is_an_io_error() {
    run(&["validate", "--policies", "/nonexistent/policies.json"]).error("io_error");
}

#[test]
fn validate_pretty_errors_are_indented() {
    let file = scratch("bad-pretty.json", BAD_POLICIES.as_bytes());
    let out = run(&["validate", "--policies", &file, "--pretty"]);
    out.error("invalid_policy");
    assert!(
        out.stdout.starts_with("{\n  \"error\": {\n"),
        "{}",
        out.stdout
    );
}

// ------------------------------------------------------------------------------ db-setup

#[test]
fn db_setup_prints_the_sql_for_every_governed_table() {
    let out = run(&[
        "db-setup",
        "--policies",
        &example("policies.yaml"),
        "--role",
        "verdict_app",
    ]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let sql = &out.stdout;
    assert!(
        sql.starts_with("-- Verdict database setup for role \"verdict_app\""),
        "{sql}"
    );
    assert!(
        sql.contains("\nBEGIN;\n") && sql.trim_end().ends_with("COMMIT;"),
        "{sql}"
    );
    assert!(
        sql.contains("SELECT pg_temp.verdict_check_role('verdict_app');"),
        "{sql}"
    );
    for table in ["customers", "orders", "salaries"] {
        let call = format!(
            "SELECT pg_temp.verdict_protect('public', '{table}', 'verdict_app', 'verdict_verdict_app');"
        );
        assert!(sql.contains(&call), "{call} in {sql}");
    }
    // Without --role: one policy for PUBLIC, no role to check.
    let out = run(&["db-setup", "--policies", &example("policies.json")]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    assert!(out
        .stdout
        .contains("verdict_protect('public', 'orders', NULL, 'verdict');"));
    assert!(!out.stdout.contains("verdict_check_role('"));
}

#[test]
fn db_setup_errors_are_json() {
    let out = run(&[
        "db-setup",
        "--policies",
        &example("policies.json"),
        "--role",
        "",
    ]);
    out.error("invalid_arguments");
    let bad = scratch(
        "bad.json",
        br#"{"policies": [{"id": "p", "rules": [{"type": "nope"}]}]}"#,
    );
    run(&["db-setup", "--policies", &bad]).error("invalid_policy");
    run(&["db-setup"]).error("invalid_arguments");
}

// --------------------------------------------------------------------------- bad input

#[test]
fn eval_with_a_bad_policy_set_lists_the_problems() {
    let file = scratch("bad-eval.json", BAD_POLICIES.as_bytes());
    let err = run(&["eval", "--policies", &file, "--sql", "SELECT 1"]).error("invalid_policy");
    assert_eq!(err["problems"].as_array().map(Vec::len), Some(9), "{err}");
}

#[test]
fn eval_with_a_bad_context() {
    let policies = example("policies.json");
    for (name, text) in [
        (
            "wrong-types.json",
            &br#"{"user": 3, "roles": "analyst"}"#[..],
        ),
        ("unknown-field.json", br#"{"user": "alice", "tenant": 1}"#),
        ("not-json.json", b"{\"user\": "),
        ("not-object.yaml", b"- alice\n- bob\n"),
    ] {
        let context = scratch(name, text);
        run(&[
            "eval",
            "--policies",
            &policies,
            "--sql",
            "SELECT 1",
            "--context",
            &context,
        ])
        .error("invalid_context");
    }
}

#[test]
fn eval_with_unreadable_files_is_an_io_error() {
    let policies = example("policies.json");
    run(&[
        "eval",
        "--policies",
        "/nonexistent/p.json",
        "--sql",
        "SELECT 1",
    ])
    .error("io_error");
    run(&[
        "eval",
        "--policies",
        &policies,
        "--sql-file",
        "/nonexistent/q.sql",
    ])
    .error("io_error");
    run(&[
        "eval",
        "--policies",
        &policies,
        "--sql",
        "SELECT 1",
        "--context",
        "/nonexistent/c.json",
    ])
    .error("io_error");
    // A directory is not a file.
    run(&[
        "eval",
        "--policies",
        env!("CARGO_MANIFEST_DIR"),
        "--sql",
        "SELECT 1",
    ])
    .error("io_error");
    // Neither is text that is not UTF-8.
    let latin1 = scratch("latin1.sql", b"SELECT '\xe9t\xe9'");
    run(&["eval", "--policies", &policies, "--sql-file", &latin1]).error("io_error");
}

#[test]
fn eval_with_an_unknown_dialect() {
    let err = run(&[
        "eval",
        "--policies",
        &example("policies.json"),
        "--sql",
        "SELECT 1",
        "--dialect",
        "mysql",
    ])
    .error("unsupported_dialect");
    assert!(err["message"]
        .as_str()
        .unwrap_or_default()
        .contains("mysql"));
}

#[test]
fn eval_needs_exactly_one_of_sql_and_sql_file() {
    let policies = example("policies.json");
    let query = example("query.sql");
    run(&["eval", "--policies", &policies]).error("invalid_arguments");
    run(&[
        "eval",
        "--policies",
        &policies,
        "--sql",
        "SELECT 1",
        "--sql-file",
        &query,
    ])
    .error("invalid_arguments");
}

#[test]
fn bad_flags_are_invalid_arguments() {
    let policies = example("policies.json");
    for args in [
        &["eval", "--sql", "SELECT 1"][..],
        &["eval", "--policies", &policies, "--sql"],
        &[
            "eval",
            "--policies",
            &policies,
            "--sql",
            "SELECT 1",
            "--bogus",
        ],
        &["validate"],
        &["frobnicate"],
        &[],
    ] {
        let err = run(args).error("invalid_arguments");
        let message = err["message"].as_str().unwrap_or_default();
        assert!(
            !message.contains('\n'),
            "one-line message for {args:?}: {message}"
        );
    }
}

#[test]
fn only_one_input_can_be_stdin() {
    let out = run_with_stdin(
        &["eval", "--policies", "-", "--sql-file", "-"],
        Some("SELECT 1"),
    );
    out.error("invalid_arguments");
}

#[test]
fn help_and_version_exit_zero() {
    let help = run(&["--help"]);
    assert_eq!(help.code, 0);
    assert!(help.stdout.contains("eval") && help.stdout.contains("validate"));
    let eval_help = run(&["eval", "--help"]);
    assert_eq!(eval_help.code, 0);
    assert!(eval_help.stdout.contains("--sql-file"));
    let version = run(&["--version"]);
    assert_eq!(version.code, 0);
    assert!(version.stdout.starts_with("verdict "));
}

#[test]
fn proxy_hash_password_prints_a_scram_verifier() {
    let out = run_with_stdin(&["proxy", "--hash-password"], Some("s3cret\n"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let line = out.stdout.trim();
    assert!(line.starts_with("SCRAM-SHA-256$4096:"), "{line}");
    let (_, keys) = line.rsplit_once('$').unwrap();
    assert_eq!(keys.split(':').count(), 2, "{line}");
    // A fresh salt each time.
    let again = run_with_stdin(&["proxy", "--hash-password"], Some("s3cret\n"));
    assert_ne!(again.stdout.trim(), line);
}

#[test]
fn proxy_refuses_a_bad_configuration_with_exit_2() {
    let policies = example("policies.json");
    // No way to log in.
    let out = run(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "postgres://app@127.0.0.1:1/db",
        "--policies",
        &policies,
    ]);
    let err = out.error("proxy_error");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("no way to log in"),
        "{err}"
    );
    // A short JWT secret.
    let out = run(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "postgres://app@127.0.0.1:1/db",
        "--policies",
        &policies,
        "--jwt-secret",
        "short",
    ]);
    let err = out.error("proxy_error");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("at least 32 bytes"),
        "{err}"
    );
    // An upstream URL without a user, and a policy file that does not validate.
    let out = run(&[
        "proxy",
        "--upstream",
        "postgres://127.0.0.1:1/db",
        "--policies",
        &policies,
        "--jwt-secret",
        "0123456789abcdef0123456789abcdef",
    ]);
    out.error("proxy_error");
    let bad = scratch(
        "bad-policies.json",
        br#"{"policies": [{"id": "x", "rules": [{"type": "nope"}]}]}"#,
    );
    let out = run(&[
        "proxy",
        "--upstream",
        "postgres://app@127.0.0.1:1/db",
        "--policies",
        &bad,
        "--jwt-secret",
        "0123456789abcdef0123456789abcdef",
    ]);
    out.error("proxy_error");
}

#[test]
fn proxy_on_a_store_needs_its_organization_and_no_policy_file() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("cli-tests")
        .join(format!("{}-proxy-store", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let data_dir = dir.to_string_lossy().into_owned();
    // A store without the organization: refused at start.
    let out = run(&[
        "proxy",
        "--listen",
        "127.0.0.1:0",
        "--upstream",
        "postgres://app@127.0.0.1:1/db",
        "--data-dir",
        &data_dir,
        "--org",
        "acme",
    ]);
    let err = out.error("proxy_error");
    assert!(
        err["message"]
            .as_str()
            .unwrap()
            .contains("no organization `acme`"),
        "{err}"
    );
    // Files and a store at once, or a principals file with a store: usage errors.
    for extra in [
        vec!["--policies", "p.json", "--data-dir", data_dir.as_str()],
        vec!["--principals", "u.json", "--data-dir", data_dir.as_str()],
        vec!["--policies", "p.json", "--org", "acme"],
    ] {
        let mut args = vec!["proxy", "--upstream", "postgres://app@127.0.0.1:1/db"];
        args.extend(extra.iter().copied());
        let err = run(&args).error("invalid_arguments");
        assert!(
            err["message"]
                .as_str()
                .unwrap()
                .contains("cannot be used with"),
            "{args:?}: {err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

// ------------------------------------------------------------------ explain-row, who-sees

#[test]
fn explain_row_blames_the_tenant_conjunct() {
    let out = run(&[
        "explain-row",
        "--policies",
        &example("policies.json"),
        "--context",
        &example("context.json"),
        "--table",
        "orders",
        "--row",
        r#"{"id": 9, "tenant_id": 2, "amount": 10}"#,
    ]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let doc = out.json();
    assert_eq!(doc["outcome"], "hidden");
    let conjunct = &doc["filters"][0]["conjuncts"][0];
    assert_eq!(conjunct["written"], "tenant_id = ctx.attr.tenant_id");
    assert_eq!(conjunct["value"], "false");
    assert_eq!(conjunct["context"][0]["value"], 1);
    assert_eq!(doc["admit_with"][0]["reference"], "ctx.attr.tenant_id");
    assert_eq!(doc["admit_with"][0]["to"], 2);
    assert_eq!(
        doc["diagnostic_sql"],
        "SELECT (tenant_id = 1) AS c1 FROM public.orders WHERE id = 9"
    );
    // The row from stdin, picked by another key.
    let out = run_with_stdin(
        &[
            "explain-row",
            "--policies",
            &example("policies.json"),
            "--context",
            &example("context.json"),
            "--table",
            "public.orders",
            "--row-file",
            "-",
            "--key",
            "customer_id",
        ],
        Some(r#"{"id": 9, "tenant_id": 1, "customer_id": 4}"#),
    );
    let doc = out.json();
    assert_eq!(doc["outcome"], "visible");
    assert!(doc["diagnostic_sql"]
        .as_str()
        .unwrap()
        .ends_with("WHERE customer_id = 4"));
}

#[test]
fn explain_row_and_who_sees_report_bad_input() {
    let policies = example("policies.json");
    run(&[
        "explain-row",
        "--policies",
        &policies,
        "--table",
        "orders",
        "--row",
        "{",
    ])
    .error("invalid_row");
    run(&[
        "explain-row",
        "--policies",
        &policies,
        "--table",
        "orders",
        "--row",
        r#"{"x": 1}"#,
    ])
    .error("invalid_row");
    run(&[
        "explain-row",
        "--policies",
        &policies,
        "--table",
        "nope",
        "--row",
        "{}",
    ])
    .error("unknown_relation");
    run(&["explain-row", "--policies", &policies, "--table", "orders"]).error("invalid_arguments");
    let principals = scratch("principals.json", b"{\"user\": \"a\"}");
    run(&[
        "who-sees",
        "--policies",
        &policies,
        "--table",
        "orders",
        "--column",
        "id",
        "--principals",
        &principals,
    ])
    .error("invalid_request");
    let principals = scratch("principals.json", b"[{\"user\": 1}]");
    run(&[
        "who-sees",
        "--policies",
        &policies,
        "--table",
        "orders",
        "--column",
        "id",
        "--principals",
        &principals,
    ])
    .error("invalid_context");
}

#[test]
fn who_sees_lists_each_principal() {
    let principals = scratch(
        "principals.json",
        br#"[{"user": "alice", "roles": ["analyst"], "attributes": {"tenant_id": 1}},
             {"user": "bob"},
             {"user": "eve", "roles": ["analyst"], "attributes": {"tenant_id": 1}, "break_glass": true},
             {"name": "carol with an exception",
              "context": {"user": "carol", "roles": ["analyst"], "attributes": {"tenant_id": 1}},
              "exceptions": [{"policy": "pii-masking"}]}]"#,
    );
    let out = run(&[
        "who-sees",
        "--policies",
        &example("policies.json"),
        "--table",
        "customers",
        "--column",
        "email",
        "--principals",
        &principals,
    ]);
    assert_eq!(out.code, 0, "{}", out.stdout);
    let doc = out.json();
    let access: Vec<&str> = doc["access"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["access"].as_str().unwrap())
        .collect();
    assert_eq!(access, ["masked_filtered", "raw", "filtered", "filtered"]);
    assert_eq!(doc["access"][0]["masked"]["policy"], "pii-masking");
    assert_eq!(
        doc["access"][0]["filtered"][0]["predicate"],
        "tenant_id = 1"
    );
    assert_eq!(doc["access"][3]["principal"], "carol with an exception");
    let out = run(&[
        "who-sees",
        "--policies",
        &example("policies.json"),
        "--table",
        "customers",
        "--column",
        "password_hash",
        "--principals",
        &principals,
    ]);
    let doc = out.json();
    assert_eq!(doc["access"][1]["access"], "denied");
    assert_eq!(doc["access"][1]["denied"]["policy"], "protect-secrets");
    assert_eq!(doc["access"][1]["denied"]["rule_index"], 1);
}
