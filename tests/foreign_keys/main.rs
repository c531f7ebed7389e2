//! Foreign-key actions on a real PostgreSQL. `ON DELETE` / `ON UPDATE` actions that write
//! (`CASCADE`, `SET NULL`, `SET DEFAULT`) change referencing rows as the owner of their
//! table, around row level security (even forced) and privileges, and an error on the way
//! prints the whole referencing row ("Failing row contains (…)"). For every action pair,
//! catalog spelling and statement, PostgreSQL computes whether the statement as written
//! changes or prints a row the context cannot see (the oracle); the engine must block
//! every such statement, and every statement it lets through must, rewritten, neither
//! change a hidden row nor print a hidden value.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use verdict_engine::{evaluate, Context, PolicySet};
use verdict_testkit::Cluster;

const SCHEMA: &str = r#"
CREATE TABLE p (id int PRIMARY KEY, tenant int NOT NULL, name text);
INSERT INTO p VALUES (1, 1, 'one'), (2, 2, 'two'), (999, 1, 'fallback');
CREATE TABLE c (
  id int PRIMARY KEY,
  p_id int DEFAULT 999,
  tenant int NOT NULL,
  secret text,
  CHECK (p_id IS NULL OR p_id < 100 OR p_id = 999),
  CHECK (p_id IS NOT NULL OR secret IS NULL)
);
INSERT INTO c VALUES (10, 1, 2, 'hidden-tenant-secret'), (11, 1, 1, 'masked-own-secret'),
  (12, 2, 2, 'other-row-secret');
GRANT SELECT, INSERT, UPDATE, DELETE ON p, c TO engine_role;
"#;

/// Values this context cannot see: the secrets (masked or of rows outside its tenant).
const HIDDEN: &[&str] = &[
    "hidden-tenant-secret",
    "masked-own-secret",
    "other-row-secret",
];

const STATEMENTS: &[&str] = &[
    "DELETE FROM p WHERE id = 1",
    "DELETE FROM p",
    "UPDATE p SET id = 500 WHERE id = 1",
    "UPDATE p SET id = id + 20 WHERE id = 1",
    "UPDATE p SET name = 'renamed' WHERE id = 1",
    "UPDATE p SET (name, id) = ('x', 40) WHERE id = 1",
    "INSERT INTO p VALUES (1, 1, 'again') ON CONFLICT (id) DO UPDATE SET id = 600",
    "INSERT INTO p VALUES (1, 1, 'again') ON CONFLICT (id) DO UPDATE SET name = 'upserted'",
    "WITH d AS (DELETE FROM p WHERE id = 1 RETURNING id) SELECT count(*) FROM d",
    "DELETE FROM c WHERE id = 11",
];

const ACTIONS: &[&str] = &[
    "no action",
    "restrict",
    "cascade",
    "set null",
    "set default",
];

fn policies(on_delete: &str, on_update: &str, referenced: bool, c_governed: bool) -> String {
    let referenced_columns = if referenced {
        r#", "referenced_columns": ["id"]"#
    } else {
        ""
    };
    let c_rules = if c_governed {
        r#",
      {"type": "row_filter", "table": "c", "predicate": "tenant = ctx.attr.tenant"},
      {"type": "column_mask", "table": "c", "column": "secret", "mask": "redact"}"#
    } else {
        ""
    };
    format!(
        r#"{{
  "catalog": {{"tables": [
    {{"name": "p", "columns": [{{"name": "id", "type": "integer"}}, {{"name": "tenant", "type": "integer"}}, {{"name": "name", "type": "text"}}]}},
    {{"name": "c", "columns": [{{"name": "id", "type": "integer"}}, {{"name": "p_id", "type": "integer"}}, {{"name": "tenant", "type": "integer"}}, {{"name": "secret", "type": "text"}}],
     "foreign_keys": [{{"columns": ["p_id"], "references": "p"{referenced_columns}, "on_delete": "{on_delete}", "on_update": "{on_update}"}}]}}]}},
  "policies": [
    {{"id": "tenants", "rules": [
      {{"type": "row_filter", "table": "p", "predicate": "tenant = ctx.attr.tenant"}}{c_rules}]}}
  ]
}}"#
    )
}

/// What running `sql` did: the rows of `c` after it (in its rolled-back transaction) and
/// the error's text (message, detail, hint, context), if it failed.
struct Run {
    c_rows: Vec<String>,
    error: Option<String>,
}

fn run(client: &mut postgres::Client, sql: &str) -> Run {
    let mut tx = client.transaction().unwrap();
    let error = match tx.batch_execute(sql) {
        Ok(()) => None,
        Err(e) => Some(match e.as_db_error() {
            Some(db) => format!(
                "{} | {} | {} | {}",
                db.message(),
                db.detail().unwrap_or(""),
                db.hint().unwrap_or(""),
                db.where_().unwrap_or("")
            ),
            None => e.to_string(),
        }),
    };
    let c_rows = if error.is_none() {
        tx.query(
            "SELECT format('%s|%s|%s|%s', id, p_id, tenant, secret) FROM c ORDER BY id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
    } else {
        Vec::new()
    };
    tx.rollback().unwrap();
    Run { c_rows, error }
}

/// Whether a run touched what tenant 1 may not: a row of `c` of another tenant changed or
/// gone, or a hidden value printed.
fn reads_around(before: &[String], after: &Run, c_governed: bool) -> Option<String> {
    // With no rule on `c`, the context may read and write all of it.
    if !c_governed {
        return None;
    }
    if let Some(text) = &after.error {
        if HIDDEN.iter().any(|h| text.contains(h)) {
            return Some(format!("printed a hidden value: {text}"));
        }
        return None;
    }
    for row in before {
        let foreign = row.split('|').nth(2) != Some("1");
        if foreign && !after.c_rows.contains(row) {
            return Some(format!("changed a row of another tenant: {row}"));
        }
    }
    None
}

#[test]
fn foreign_key_actions_never_write_or_print_around_the_policies() {
    let cluster = Cluster::start("foreign_keys", 10).unwrap();
    let mut admin = cluster
        .connect("postgres", verdict_testkit::SUPERUSER)
        .unwrap();
    admin
        .batch_execute("CREATE ROLE engine_role LOGIN;")
        .unwrap();
    admin.batch_execute(SCHEMA).unwrap();
    let mut db = cluster.connect("postgres", "engine_role").unwrap();
    let ctx = Context::from_json_str(r#"{"user": "ann", "attributes": {"tenant": 1}}"#).unwrap();
    let before = run(&mut db, "SELECT 1").c_rows;

    let (mut checks, mut needed, mut blocked, mut over) = (0, 0, 0, 0);
    for on_delete in ACTIONS {
        for on_update in ACTIONS {
            admin
                .batch_execute(&format!(
                    "ALTER TABLE c DROP CONSTRAINT IF EXISTS c_p_fk;
                     ALTER TABLE c ADD CONSTRAINT c_p_fk FOREIGN KEY (p_id) REFERENCES p (id)
                       ON DELETE {on_delete} ON UPDATE {on_update};"
                ))
                .unwrap();
            for referenced in [true, false] {
                for c_governed in [true, false] {
                    let set =
                        PolicySet::parse(&policies(on_delete, on_update, referenced, c_governed))
                            .unwrap();
                    for sql in STATEMENTS {
                        checks += 1;
                        let label = format!(
                            "ON DELETE {on_delete} ON UPDATE {on_update}, referenced_columns {referenced}, c governed {c_governed}: `{sql}`"
                        );
                        // The oracle: the statement as written, with only tenant 1's rows
                        // of `p` in reach (its WHERE narrowed as the engine narrows it).
                        let narrowed = evaluate(
                            &PolicySet::parse(&policies("no action", "no action", true, false))
                                .unwrap(),
                            sql,
                            &ctx,
                        );
                        let raw = narrowed
                            .rewritten_sql
                            .unwrap_or_else(|| panic!("{label}: the oracle's rewrite blocked"));
                        let around = reads_around(&before, &run(&mut db, &raw), c_governed);
                        let v = evaluate(&set, sql, &ctx);
                        if let Some(why) = &around {
                            needed += 1;
                            assert!(v.is_block(), "{label}: not blocked, but {why}");
                        }
                        if v.is_block() {
                            blocked += 1;
                            if v.rule == "foreign_key_action" && around.is_none() {
                                over += 1;
                            }
                            continue;
                        }
                        let rewritten = v.rewritten_sql.as_deref().unwrap();
                        let ours = run(&mut db, rewritten);
                        if let Some(why) = reads_around(&before, &ours, c_governed) {
                            panic!("{label}: rewritten to `{rewritten}`, {why}");
                        }
                    }
                }
            }
        }
    }
    // The class is exercised: writing actions over a governed table are needed blocks.
    assert!(
        needed > 40,
        "only {needed} statements read around the policies"
    );
    println!(
        "foreign_keys: {checks} statements; {needed} would write or print around the policies, all blocked; {blocked} blocked in all ({over} by foreign_key_action where this data showed no effect)"
    );
}
