//! Names as PostgreSQL reads them: identifiers cut to 63 bytes (NAMEDATALEN - 1) wherever
//! they are compared, and every qualified form of a column or whole-row reference
//! (`db.schema.table.column`, `db.schema.table.*`, functional notation `t.row_to_json`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers fail loudly on broken fixtures

use serde_json::json;
use verdict_engine::{evaluate, Context, PolicySet, Verdict};

/// A name of `len` bytes: `prefix`, then `x`s, then `last`.
fn long(prefix: &str, len: usize, last: &str) -> String {
    let fill = len - prefix.len() - last.len();
    format!("{prefix}{}{last}", "x".repeat(fill))
}

/// The 63-byte name of a table, one of its denied columns, and a schema.
fn table63() -> String {
    long("long_table_", 63, "")
}
fn column63() -> String {
    long("long_secret_", 63, "")
}
fn schema63() -> String {
    long("long_schema_", 63, "")
}

fn doc() -> serde_json::Value {
    json!({
        "catalog": { "tables": [
            { "name": "public.staff", "columns": [
                {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"},
                {"name": "name", "type": "text"}, {"name": "salary", "type": "numeric(10,2)"},
                {"name": "ssn", "type": "text"} ] },
            { "name": "public.patients", "columns": [
                {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"},
                {"name": "full_name", "type": "text"}, {"name": "ssn", "type": "text"} ] },
            { "name": format!("public.{}", table63()), "columns": [
                {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"},
                {"name": column63(), "type": "text"}, {"name": "note", "type": "text"} ] },
            { "name": format!("{}.items", schema63()), "columns": [
                {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"} ] },
            { "name": "public.products", "columns": [
                {"name": "id", "type": "integer"}, {"name": "name", "type": "text"} ] }
        ]},
        "policies": [
            { "id": "tenant", "applies_to": {"roles": ["analyst"]}, "rules": [
                {"type": "row_filter", "table": "staff", "predicate": "tenant_id = ctx.attr.tenant_id"},
                {"type": "row_filter", "table": "patients", "predicate": "tenant_id = ctx.attr.tenant_id"},
                {"type": "row_filter", "table": table63(), "predicate": "tenant_id = ctx.attr.tenant_id"},
                {"type": "row_filter", "table": format!("{}.items", schema63()), "predicate": "tenant_id = ctx.attr.tenant_id"},
                {"type": "column_mask", "table": "staff", "column": "salary", "mask": {"kind": "null"}},
                {"type": "column_mask", "table": "patients", "column": "ssn", "mask": {"kind": "partial", "show_last": 4}}
            ]},
            { "id": "secrets", "rules": [
                {"type": "deny", "table": "staff", "columns": ["ssn"]},
                {"type": "deny", "table": table63(), "columns": [column63()]}
            ]}
        ]
    })
}

fn with_catalog() -> PolicySet {
    PolicySet::from_json(&doc()).unwrap()
}

/// The set without its catalog, and without masks (which need it).
fn without_catalog() -> PolicySet {
    let mut d = doc();
    d.as_object_mut().unwrap().remove("catalog");
    for p in d["policies"].as_array_mut().unwrap() {
        p["rules"]
            .as_array_mut()
            .unwrap()
            .retain(|r| r["type"] != "column_mask");
    }
    PolicySet::from_json(&d).unwrap()
}

fn analyst() -> Context {
    Context::from_json_str(r#"{"user":"alice","roles":["analyst"],"attributes":{"tenant_id":1}}"#)
        .unwrap()
}

fn eval(set: &PolicySet, sql: &str) -> Verdict {
    evaluate(set, sql, &analyst())
}

#[track_caller]
fn blocked(set: &PolicySet, sql: &str, rule: &str) -> Verdict {
    let v = eval(set, sql);
    assert_eq!(
        (v.verdict.as_str(), v.rule.as_str()),
        ("block", rule),
        "{sql}\n{}",
        v.to_json()
    );
    v
}

#[track_caller]
fn rewritten(set: &PolicySet, sql: &str) -> String {
    let v = eval(set, sql);
    match v.rewritten_sql.clone() {
        Some(text) => text,
        None => panic!("blocked: {sql}\n{}", v.to_json()),
    }
}

/// Two aliases of 64 bytes or more that share their first 63 bytes.
fn twin_aliases() -> (String, String) {
    (long("a", 64, "x"), long("a", 64, "y"))
}

#[test]
fn aliases_that_share_63_bytes_are_one_name() {
    let both = with_catalog();
    let none = without_catalog();
    let (ax, ay) = twin_aliases();
    for set in [&both, &none] {
        // A denied column through the other spelling of the alias.
        blocked(set, &format!("SELECT {ay}.ssn FROM staff AS {ax}"), "deny");
        blocked(
            set,
            &format!("SELECT {ay}.ssn FROM staff {ax} WHERE {ax}.id = 1"),
            "deny",
        );
        blocked(
            set,
            &format!("SELECT 1 FROM staff {ax} WHERE {ay}.ssn LIKE '1%'"),
            "deny",
        );
        blocked(
            set,
            &format!("SELECT 1 FROM staff {ax} ORDER BY {ay}.ssn"),
            "deny",
        );
        blocked(
            set,
            &format!("SELECT count(*) FROM staff {ax} GROUP BY {ay}.ssn"),
            "deny",
        );
        blocked(
            set,
            &format!("SELECT 1 FROM products p JOIN staff {ax} ON {ay}.ssn = p.name"),
            "deny",
        );
        blocked(
            set,
            &format!("SELECT (SELECT max({ay}.ssn)) FROM staff {ax}"),
            "deny",
        );
        blocked(set, &format!("SELECT * FROM products WHERE EXISTS (SELECT 1 FROM staff {ax} WHERE {ay}.ssn = name)"), "deny");
        // Whole rows through the other spelling.
        blocked(set, &format!("SELECT {ay}.* FROM staff AS {ax}"), "deny");
        blocked(
            set,
            &format!("SELECT row_to_json({ay}) FROM staff AS {ax}"),
            "deny",
        );
        blocked(
            set,
            &format!("SELECT row_to_json({ay}.*) FROM staff AS {ax}"),
            "deny",
        );
        blocked(set, &format!("SELECT {ay} FROM staff AS {ax}"), "deny");
        // Upper case folds first, then the name is cut.
        let upper = ay.to_ascii_uppercase();
        blocked(
            set,
            &format!("SELECT {upper}.ssn FROM staff AS {ax}"),
            "deny",
        );
        // Quoted: cut too.
        blocked(
            set,
            &format!("SELECT \"{ay}\".ssn FROM staff AS \"{ax}\""),
            "deny",
        );
    }
    // Columns that are not denied read through either spelling, masked.
    let sql = rewritten(
        &both,
        &format!("SELECT {ay}.salary, {ay}.name FROM staff AS {ax}"),
    );
    assert!(
        sql.contains("CAST(NULL AS NUMERIC(10,2)) AS salary"),
        "{sql}"
    );
}

#[test]
fn write_targets_under_long_aliases_keep_masks_and_denies() {
    let set = with_catalog();
    let (ax, ay) = twin_aliases();
    // RETURNING the other spelling's `*`: denied column.
    blocked(
        &set,
        &format!("UPDATE staff AS {ax} SET name = 'n' WHERE id = 1 RETURNING {ay}.*"),
        "deny",
    );
    blocked(
        &set,
        &format!("DELETE FROM staff AS {ax} WHERE id = 1 RETURNING {ay}.ssn"),
        "deny",
    );
    blocked(
        &set,
        &format!("UPDATE staff AS {ax} SET name = {ay}.ssn WHERE id = 1"),
        "deny",
    );
    blocked(
        &set,
        &format!("UPDATE staff AS {ax} SET name = 'n' WHERE {ay}.ssn = '1'"),
        "deny",
    );
    blocked(&set, &format!("INSERT INTO staff AS {ax} (id, tenant_id, name) VALUES (9, 1, 'n') ON CONFLICT (id) DO UPDATE SET name = {ay}.ssn"), "deny");
    // A masked column of the target reads its mask under either spelling.
    let sql = rewritten(
        &set,
        &format!("UPDATE staff AS {ax} SET name = 'n' WHERE id = 1 RETURNING {ay}.salary"),
    );
    assert!(
        sql.contains("RETURNING (CAST(NULL AS NUMERIC(10,2))) AS salary"),
        "{sql}"
    );
    let sql = rewritten(
        &set,
        &format!(
            "UPDATE patients AS {ax} SET full_name = 'n' WHERE id = 1 RETURNING {ay}.ssn, {ay}.*"
        ),
    );
    assert!(!sql.contains(&format!("{ay}.ssn")), "{sql}");
    assert_eq!(
        sql.matches(") AS ssn").count(),
        2,
        "both returned ssn are masked: {sql}"
    );
    let sql = rewritten(
        &set,
        &format!("UPDATE patients AS {ax} SET full_name = 'n' WHERE {ay}.ssn = '1'"),
    );
    assert!(sql.contains("repeat"), "{sql}");
    // The whole row of a masked target under the other spelling.
    blocked(
        &set,
        &format!(
            "UPDATE patients AS {ax} SET full_name = 'n' WHERE id = 1 RETURNING row_to_json({ay})"
        ),
        "column_mask",
    );
}

#[test]
fn long_column_references_are_the_63_byte_column() {
    let c63 = column63();
    let c64 = format!("{c63}z");
    let t63 = table63();
    for set in [&with_catalog(), &without_catalog()] {
        blocked(set, &format!("SELECT {c64} FROM {t63}"), "deny");
        blocked(set, &format!("SELECT t.{c64} FROM {t63} t"), "deny");
        blocked(
            set,
            &format!("SELECT {}Q FROM {t63}", c63.to_ascii_uppercase()),
            "deny",
        );
        blocked(set, &format!("SELECT \"{c64}\" FROM {t63}"), "deny");
        blocked(
            set,
            &format!("SELECT public.{t63}.{c64} FROM {t63}"),
            "deny",
        );
        blocked(
            set,
            &format!("SELECT 1 FROM {t63} JOIN products USING ({c64})"),
            "deny",
        );
        blocked(
            set,
            &format!("SELECT 1 FROM {t63} WHERE {c64} IS NOT NULL"),
            "deny",
        );
        blocked(
            set,
            &format!("DELETE FROM {t63} WHERE id = 1 RETURNING {c64}"),
            "deny",
        );
        blocked(
            set,
            &format!("UPDATE {t63} SET note = 'n' WHERE {c64} = 'x'"),
            "deny",
        );
        // Column alias lists are compared cut too: renaming the denied column to a long name.
        blocked(
            set,
            &format!("SELECT z FROM (SELECT {c64} AS z FROM {t63}) s"),
            "deny",
        );
    }
    // An alias list whose long name is the denied one's.
    blocked(
        &with_catalog(),
        &format!("SELECT {c64} FROM {t63} AS t(a, b, {c64})"),
        "deny",
    );
}

#[test]
fn long_table_and_schema_names_are_the_63_byte_table() {
    let t63 = table63();
    let t64 = format!("{t63}_more");
    let s64 = format!("{}q", schema63());
    for set in [&with_catalog(), &without_catalog()] {
        // Without a catalog the long spelling used to be an ungoverned table: no row filter.
        let sql = rewritten(set, &format!("SELECT id FROM {t64}"));
        assert!(
            sql.contains(&format!("FROM public.{t63} WHERE tenant_id = 1")),
            "{sql}"
        );
        let sql = rewritten(set, &format!("SELECT id FROM public.\"{t64}\""));
        assert!(sql.contains("WHERE tenant_id = 1"), "{sql}");
        let sql = rewritten(set, &format!("SELECT id FROM {}", t64.to_ascii_uppercase()));
        assert!(sql.contains("WHERE tenant_id = 1"), "{sql}");
        let sql = rewritten(set, &format!("SELECT id FROM {s64}.items"));
        assert!(sql.contains("WHERE tenant_id = 1"), "{sql}");
        let sql = rewritten(set, &format!("UPDATE {t64} SET note = 'n' WHERE id = 1"));
        assert!(sql.contains("tenant_id = 1"), "{sql}");
        let sql = rewritten(set, &format!("DELETE FROM {s64}.items WHERE id = 1"));
        assert!(sql.contains("tenant_id = 1"), "{sql}");
        // The scan is named after the table; the caller's long qualifier still reaches it.
        let sql = rewritten(
            set,
            &format!("SELECT {t64}.id, public.{t64}.note FROM {t64}"),
        );
        assert!(sql.contains("WHERE tenant_id = 1"), "{sql}");
        assert!(
            !sql.contains(
                "public.long_table_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx_more.note"
            ),
            "{sql}"
        );
    }
}

#[test]
fn long_cte_names_shadow_as_postgresql_reads_them() {
    let set = with_catalog();
    let t63 = table63();
    // A CTE whose 64-byte name is the table's: the CTE, not the table, is read.
    let sql = rewritten(
        &set,
        &format!("WITH {t63}q AS (SELECT 1 AS id) SELECT id FROM {t63}"),
    );
    assert!(!sql.contains("tenant_id"), "{sql}");
    let sql = rewritten(
        &set,
        &format!("WITH {t63} AS (SELECT 1 AS id) SELECT id FROM {t63}_other_spelling"),
    );
    assert!(!sql.contains("tenant_id"), "{sql}");
    // Without the shadow the table is filtered.
    let sql = rewritten(
        &set,
        &format!("WITH c AS (SELECT 1 AS id) SELECT id FROM {t63}_other_spelling"),
    );
    assert!(sql.contains("tenant_id = 1"), "{sql}");
}

#[test]
fn names_past_63_bytes_in_a_policy_set_are_problems() {
    let t64 = format!("{}q", table63());
    let c64 = format!("{}q", column63());
    let bad = json!({
        "catalog": { "tables": [
            { "name": t64, "columns": [{"name": "id", "type": "integer"}] },
            { "name": "ok", "columns": [{"name": c64, "type": "text"}, {"name": "id"}] }
        ]},
        "policies": [{ "id": "p", "rules": [
            {"type": "deny", "table": "ok", "columns": [c64]},
            {"type": "row_filter", "table": format!("{}q.items", "s".repeat(63)), "predicate": "true"},
            {"type": "query_restriction", "denied_functions": ["f".repeat(64)]}
        ]}]
    });
    let err = PolicySet::from_json(&bad).unwrap_err();
    let text = serde_json::to_string(&err.problems).unwrap();
    for field in [
        "catalog.tables[0].name",
        "catalog.tables[1].columns[0].name",
        "rules[0].columns[0]",
        "rules[1].table",
        "rules[2].denied_functions[0]",
    ] {
        assert!(text.contains(field), "{field}: {text}");
    }
    assert!(text.contains("at most 63 bytes"), "{text}");
    // 63 bytes is fine, in any case and quoted.
    let ok = json!({"catalog": {"tables": [{"name": format!("\"{}\"", "É".repeat(31)), "columns": ["id"]}]}});
    PolicySet::from_json(&ok).unwrap();
}

#[test]
fn database_qualified_columns_and_stars_are_blocked_everywhere() {
    for set in [&with_catalog(), &without_catalog()] {
        for sql in [
            "SELECT db.public.staff.ssn FROM staff",
            "SELECT db.public.staff.salary FROM staff",
            "SELECT db.public.staff.name FROM staff",
            "SELECT db.public.staff.* FROM staff",
            "SELECT row_to_json(db.public.staff.*) FROM staff",
            "SELECT count(db.public.staff.*) FROM staff",
            "SELECT 1 FROM staff WHERE db.public.staff.salary > 0",
            "SELECT 1 FROM staff GROUP BY db.public.staff.salary",
            "SELECT 1 FROM staff ORDER BY db.public.staff.salary",
            "SELECT count(*) FROM staff HAVING max(db.public.staff.salary) > 0",
            "SELECT 1 FROM products p JOIN staff ON db.public.staff.name = p.name",
            "SELECT upper(db.public.staff.name) FROM staff",
            "SELECT (SELECT db.public.staff.salary) FROM staff",
            "SELECT * FROM products WHERE EXISTS (SELECT 1 FROM staff WHERE db.public.staff.salary > 0)",
            "WITH c AS (SELECT db.public.staff.salary FROM staff) SELECT 1",
            "SELECT \"DB\".\"public\".\"staff\".\"salary\" FROM staff",
            "SELECT a.b.c.d.e FROM staff",
            "SELECT a.b.c.d.* FROM staff",
            "SELECT db.public.products.name FROM products",
            "UPDATE staff SET name = db.public.staff.ssn WHERE id = 1",
            "UPDATE staff SET name = 'n' WHERE db.public.staff.salary > 0",
            "UPDATE staff SET name = 'n' WHERE id = 1 RETURNING db.public.staff.salary",
            "UPDATE staff SET name = 'n' WHERE id = 1 RETURNING db.public.staff.*",
            "DELETE FROM patients WHERE id = 1 RETURNING db.public.patients.ssn",
            "DELETE FROM patients WHERE id = 1 RETURNING db.public.patients.*",
            "INSERT INTO products (id, name) VALUES (1, 'n') RETURNING db.public.products.name",
            "INSERT INTO products (id, name) VALUES (1, 'n') RETURNING db.public.products.*",
            "INSERT INTO products (id, name) VALUES (1, 'n') ON CONFLICT (id) DO UPDATE SET name = db.public.products.name",
            "INSERT INTO products (id, name) VALUES (1, 'n') ON CONFLICT (id) DO UPDATE SET name = 'x' WHERE db.public.products.name = '1'",
            "INSERT INTO products (id, name) VALUES (1, 'n') ON CONFLICT (id) DO UPDATE SET name = (SELECT db.public.staff.name FROM staff)",
            "DELETE FROM products USING staff WHERE db.public.staff.salary > 0",
        ] {
            let v = blocked(set, sql, "unknown_relation");
            assert!(v.reason.contains("names a database"), "{sql}: {}", v.reason);
            assert!(v.hint.contains("remove the database name"), "{sql}: {}", v.hint);
        }
    }
}

#[test]
fn database_qualified_functions_are_denied() {
    let set = with_catalog();
    for sql in [
        "SELECT postgres.pg_catalog.pg_read_file('/etc/passwd')",
        "SELECT x.pg_catalog.pg_sleep(1)",
        "SELECT * FROM postgres.pg_catalog.pg_ls_dir('.')",
        "SELECT id FROM staff WHERE postgres.pg_catalog.lower(name) = 'a'",
        "SELECT postgres.public.anything(1)",
    ] {
        let v = blocked(&set, sql, "denied_function");
        assert!(v.reason.contains("names a database"), "{sql}: {}", v.reason);
    }
    // A query restriction's denied name through the database-qualified form.
    let mut d = doc();
    d["policies"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "r", "rules": [
        {"type": "query_restriction", "denied_functions": ["md5"]}]}));
    let set = PolicySet::from_json(&d).unwrap();
    blocked(
        &set,
        "SELECT postgres.pg_catalog.md5('x')",
        "denied_function",
    );
    blocked(&set, "SELECT pg_catalog.md5('x')", "denied_function");
}

#[test]
fn functional_notation_reads_the_whole_row() {
    let both = with_catalog();
    let none = without_catalog();
    for set in [&both, &none] {
        for sql in [
            "SELECT s.row_to_json FROM staff s",
            "SELECT s.to_jsonb FROM staff s",
            "SELECT s.json_build_array FROM staff s",
            "SELECT s.record_out FROM staff s",
            "SELECT s.concat FROM staff s",
            "SELECT staff.to_json FROM staff",
            "SELECT public.staff.to_json FROM staff",
            "SELECT 1 FROM staff s WHERE s.to_json::text LIKE '%1%'",
            "SELECT s.json_agg FROM staff s",
            "SELECT (SELECT s.to_jsonb) FROM staff s",
            "SELECT j.row_to_json FROM (staff JOIN products USING (id)) AS j",
            "UPDATE staff s SET name = 'n' WHERE id = 1 RETURNING s.to_jsonb",
            "DELETE FROM staff WHERE id = 1 RETURNING staff.row_to_json",
        ] {
            blocked(set, sql, "deny");
        }
    }
    // With the catalog, any name that is not a column is a call on the row.
    blocked(&both, "SELECT s.my_own_function FROM staff s", "deny");
    // A masked write target's row, through functional notation.
    for sql in [
        "UPDATE patients p SET full_name = 'n' WHERE id = 1 RETURNING p.to_jsonb",
        "DELETE FROM patients WHERE id = 1 RETURNING patients.row_to_json",
        "DELETE FROM patients WHERE id = 1 RETURNING public.patients.row_to_json",
        "UPDATE patients SET full_name = patients.concat WHERE id = 1",
        "INSERT INTO patients (id, tenant_id, full_name) VALUES (1, 1, 'n') RETURNING patients.to_json",
    ] {
        blocked(&both, sql, "column_mask");
    }
    // A column alias list renames the row's fields: the rewritten whole row would differ.
    blocked(
        &both,
        "SELECT p.row_to_json FROM patients AS p(a, b)",
        "unsupported_syntax",
    );
    // Columns are columns; a scan rewritten with masks gives masked whole rows.
    rewritten(&both, "SELECT s.name, s.salary FROM staff s");
    rewritten(&none, "SELECT s.name, s.salary FROM staff s");
    let sql = rewritten(&both, "SELECT p.row_to_json FROM patients p");
    assert!(sql.contains("repeat"), "{sql}");
}

#[test]
fn schema_qualified_references_keep_their_relation() {
    let set = with_catalog();
    let sql = rewritten(
        &set,
        "SELECT public.patients.full_name, public.patients.* FROM patients",
    );
    assert!(
        sql.starts_with("SELECT patients.full_name, patients.* FROM (SELECT"),
        "{sql}"
    );
    // Re-pointed at `staff`, the reference would reach the inner relation named `staff`.
    for sql in [
        "SELECT (SELECT public.staff.name FROM products AS staff LIMIT 1) FROM staff",
        "SELECT (SELECT row_to_json(public.patients.*) FROM products AS patients LIMIT 1) FROM patients",
        "SELECT (SELECT public.patients.* FROM products AS patients LIMIT 1) FROM patients",
        "SELECT (WITH staff AS (SELECT 1 AS name) SELECT public.staff.name FROM staff) FROM public.staff",
        "SELECT 1 FROM staff WHERE EXISTS (SELECT 1 FROM products staff WHERE staff.id = public.staff.tenant_id)",
    ] {
        let v = blocked(&set, sql, "unsupported_syntax");
        assert!(v.hint.contains("alias"), "{}", v.hint);
    }
    // The inner relation being the same table is fine: PostgreSQL reads the inner scan.
    rewritten(
        &set,
        "SELECT (SELECT public.staff.name FROM staff LIMIT 1) FROM products",
    );
}

#[test]
fn database_qualified_references_before_a_subscript_are_blocked() {
    for set in [&with_catalog(), &without_catalog()] {
        for sql in [
            "SELECT db.public.products.name[1] FROM products",
            "SELECT db.public.staff.salary[1] FROM staff",
            "UPDATE products SET name = 'n' WHERE id = 1 RETURNING db.public.products.name[1:2]",
        ] {
            blocked(set, sql, "unknown_relation");
        }
    }
}
