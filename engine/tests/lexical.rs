//! Lexical forms where sqlparser and PostgreSQL could disagree: each is either read as
//! PostgreSQL 15 reads it (checked there: `E'\u0076oid' = 'void'`, nested comments, …)
//! or refused before parsing, in statements and in policy predicates alike.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use verdict_engine::{evaluate, Context, PolicySet, Verdict};

const POLICIES: &str = r#"{
  "catalog": {"tables": [{"name": "customers", "columns": [
    {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"},
    {"name": "status", "type": "text"}, {"name": "email", "type": "text"},
    {"name": "password_hash", "type": "text"}]}]},
  "policies": [{"id": "p", "rules": [
    {"type": "row_filter", "table": "customers", "predicate": "tenant_id = ctx.attr.tenant_id AND status <> 'void'"},
    {"type": "deny", "table": "customers", "columns": ["password_hash"]},
    {"type": "column_mask", "table": "customers", "column": "email", "mask": "email"}]}]
}"#;

fn judge(sql: &str) -> Verdict {
    let set = PolicySet::parse(POLICIES).unwrap();
    let ctx = Context::from_json_str(r#"{"attributes": {"tenant_id": 1}}"#).unwrap();
    evaluate(&set, sql, &ctx)
}

fn assert_refused(sql: &str, says: &str) {
    let v = judge(sql);
    assert_eq!(
        v.rule,
        "unsupported_syntax",
        "{sql}: {} ({})",
        v.reason,
        v.verdict.as_str()
    );
    assert!(v.reason.contains(says), "{sql}: {}", v.reason);
    assert!(
        v.reason.contains("Line: 1"),
        "the reason says where: {}",
        v.reason
    );
}

fn rewritten(sql: &str) -> String {
    let v = judge(sql);
    assert!(!v.is_block(), "{sql}: blocked: {}", v.reason);
    v.rewritten_sql.unwrap()
}

#[test]
fn unicode_escape_names_and_strings_are_refused() {
    for sql in [
        r#"SELECT U&"\0070assword_hash" FROM customers"#,
        r#"SELECT u&"\0070assword_hash" FROM customers"#,
        r#"SELECT c.U&"\0070assword_hash" FROM customers c"#,
        r#"SELECT U&"!0070assword_hash" UESCAPE '!' FROM customers"#,
        r#"SELECT id FROM customers WHERE U&"st\0061tus" = 'x'"#,
        r#"SELECT id FROM U&"customers""#,
    ] {
        assert_refused(sql, "Unicode-escape name");
    }
    for sql in [
        r"SELECT id FROM customers WHERE status = U&'\0076oid'",
        r"SELECT id FROM customers WHERE status = u&'\+000076oid'",
        r"SELECT id FROM customers WHERE status = U&'!0076oid' UESCAPE '!'",
        r"UPDATE customers SET status = U&'\0076oid' WHERE id = 1",
    ] {
        assert_refused(sql, "Unicode-escape string");
    }
    // With spaces, both read the operator `&`, and the name is a plain one.
    assert!(rewritten(r#"SELECT id & 1 FROM customers WHERE "status" = 'a'"#).contains("id & 1"));
    let v = judge(r#"SELECT u & "password_hash" FROM customers"#);
    assert_eq!(v.rule, "deny", "{}", v.reason);
}

#[test]
fn escape_strings_are_read_with_postgresqls_escapes() {
    // E'\u0076oid', E'\x76oid' and E'\166oid' are all 'void' to PostgreSQL: the prover
    // sees 'void' too, so the write that would leave the filter is not "proven".
    for s in [
        r"E'\u0076oid'",
        r"E'\x76oid'",
        r"E'\166oid'",
        r"e'\U00000076oid'",
    ] {
        let v = judge(&format!(
            "INSERT INTO customers (id, tenant_id, status) VALUES (9, 1, {s})"
        ));
        assert_eq!(v.rule, "row_filter", "{s}: {}", v.reason);
        assert!(v.is_block(), "{s}");
        let out = rewritten(&format!("SELECT id FROM customers WHERE email = {s}"));
        // (The masked column's comparison runs under the row filter's guard.)
        assert!(out.ends_with("THEN (email = E'void') END)"), "{s}: {out}");
    }
    let v = judge(r"INSERT INTO customers (id, tenant_id, status) VALUES (9, 1, E'\u0070aid')");
    assert!(!v.is_block(), "{}", v.reason);
}

#[test]
fn dollar_quotes_comments_and_operators_read_alike() {
    // Tagged dollar quotes end at the first `$tag$`, as in PostgreSQL.
    let out = rewritten("SELECT id FROM customers WHERE status = $a$x$b$y$a$ OR status = $$z$$");
    assert!(
        out.ends_with("WHERE status = $a$x$b$y$a$ OR status = $$z$$"),
        "{out}"
    );
    // Nested comments nest, as in PostgreSQL: the denied column inside is no column.
    let out = rewritten("SELECT id /* /* */ , password_hash */ FROM customers");
    assert!(out.starts_with("SELECT id FROM"), "{out}");
    let v = judge("SELECT id /* /* */ */ , password_hash FROM customers");
    assert_eq!(v.rule, "deny", "{}", v.reason);
    // `--` and `/*` after `*` or `<` start a comment in both.
    let out = rewritten("SELECT id *-- c\n 2, id <-- c\n 3, id */* c */ 4 FROM customers");
    assert!(
        out.starts_with("SELECT id * 2, id < 3, id * 4 FROM"),
        "{out}"
    );
    // Numbers both read alike, and parameters.
    let out = rewritten("SELECT .5e-3, 1.e5, 1.5E+3, 0.5 FROM customers WHERE id = $1");
    assert!(
        out.starts_with("SELECT .5e-3, 1.e5, 1.5E+3, 0.5 FROM"),
        "{out}"
    );
    assert!(out.ends_with("WHERE id = $1"), "{out}");
    // A parameter is no constant: a write of one into a filtered column is not proven.
    let v = judge("INSERT INTO customers (id, tenant_id, status) VALUES (9, $1, 'paid')");
    assert_eq!(v.rule, "row_filter", "{}", v.reason);
}

#[test]
fn forms_postgresql_reads_otherwise_are_refused() {
    for (sql, says) in [
        // PostgreSQL: param $1, then `$x$…`; sqlparser: one string tagged `1`.
        (
            "SELECT id FROM customers WHERE status = $1$x$1$",
            "dollar-quoted",
        ),
        (
            "SELECT id FROM customers WHERE status = $2$a$2$",
            "dollar-quoted",
        ),
        // PostgreSQL: `@` and a comment; sqlparser: the operator `@--` and SQL after it.
        (
            "SELECT id FROM customers WHERE id @-- c\n = 1",
            "runs into a comment",
        ),
        (
            "SELECT id FROM customers WHERE id ~/* c */ 'x'",
            "runs into a comment",
        ),
        // Numbers: PostgreSQL 15 refuses these, 16 reads some as numbers.
        ("SELECT 1e FROM customers", "followed by letters"),
        ("SELECT 123abc FROM customers", "followed by letters"),
        ("SELECT 0b101 FROM customers", "followed by letters"),
        ("SELECT 0o17 FROM customers", "followed by letters"),
        ("SELECT 0X1F FROM customers", "followed by letters"),
        (
            "SELECT id FROM customers WHERE id = 1AND tenant_id = 1",
            "followed by letters",
        ),
        ("SELECT 0x1F FROM customers", "0x"),
        ("SELECT id FROM customers WHERE id = 0x10", "0x"),
        ("SELECT 1_000 FROM customers", "separators"),
        ("SELECT 1_000.5 FROM customers", "separators"),
        // Parameters: `$` and digits only.
        (
            "SELECT id FROM customers WHERE id = $1abc",
            "not a PostgreSQL parameter",
        ),
        (
            "SELECT id FROM customers WHERE id = $x",
            "not a PostgreSQL parameter",
        ),
        // PostgreSQL joins strings split by a line break: 'vo' 'id' is 'void'.
        (
            "SELECT id FROM customers WHERE status <> 'vo'\n'id'",
            "two string constants",
        ),
        ("SELECT 'a'\n  'b' FROM customers", "two string constants"),
        ("SELECT E'a'\n'b' FROM customers", "two string constants"),
    ] {
        assert_refused(sql, says);
    }
    // PostgreSQL joins them across `--` comments too ('a' -- c <newline> 'b' is 'ab').
    assert_refused(
        "SELECT 'a' -- c\n'b' FROM customers",
        "two string constants",
    );
    assert_refused(
        "SELECT 'a'\n-- c\n'b' FROM customers",
        "two string constants",
    );
    // A string and an alias after a comment read alike.
    let v = judge("SELECT 'a' -- c\n AS b FROM customers");
    assert!(!v.is_block(), "{}", v.reason);
}

#[test]
fn policy_predicates_are_held_to_the_same_forms() {
    for predicate in [
        r#"U&"t\0065nant_id" = 1"#,
        r"status <> U&'\0076oid'",
        "tenant_id = 1_0",
        "status <> 'vo'\n'id'",
        "tenant_id = $1$x$1$",
    ] {
        let text = serde_json::json!({"policies": [{"id": "p", "rules": [
            {"type": "row_filter", "table": "customers", "predicate": predicate}]}]})
        .to_string();
        let e = PolicySet::parse(&text).unwrap_err();
        assert_eq!(e.code, "invalid_policy", "{predicate}");
        assert!(!e.problems.is_empty(), "{predicate}");
    }
}
