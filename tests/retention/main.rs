//! `data_retention` rules on a real PostgreSQL, with PostgreSQL's own row level security as
//! the oracle: a policy `USING (created_at >= now() - interval '90 days')` for SELECT,
//! UPDATE and DELETE, and none on INSERT. Each statement runs twice in rolled-back
//! transactions — the engine's rewritten SQL as a role without row level security, and
//! the statement as written as a role under the oracle's policies — and the rows they
//! return (or the refusal of both) must agree.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use verdict_engine::{evaluate, Context, PolicySet};
use verdict_testkit::Cluster;

const POLICIES: &str = r#"{
  "catalog": {"tables": [
    {"name": "events", "columns": [
      {"name": "id", "type": "integer"}, {"name": "created_at", "type": "timestamptz"},
      {"name": "note", "type": "text"}]},
    {"name": "visits", "columns": [
      {"name": "id", "type": "integer"}, {"name": "day", "type": "date"},
      {"name": "event_id", "type": "integer"}]}]},
  "policies": [
    {"id": "retention", "rules": [
      {"type": "data_retention", "table": "events", "column": "created_at", "keep": "90 days"},
      {"type": "data_retention", "table": "visits", "column": "day", "keep": "1 year"}]}
  ]
}"#;

const SCHEMA: &str = r#"
CREATE TABLE events (id int PRIMARY KEY, created_at timestamptz, note text);
INSERT INTO events VALUES
  (1, now() - interval '1 day', 'fresh'),
  (2, now() - interval '89 days', 'edge'),
  (3, now() - interval '91 days', 'old'),
  (4, now() - interval '5 years', 'ancient'),
  (5, NULL, 'undated');
CREATE TABLE visits (id int PRIMARY KEY, day date, event_id int);
INSERT INTO visits VALUES (1, current_date - 10, 1), (2, current_date - 400, 3),
  (3, current_date - 200, 4), (4, NULL, 2);
GRANT SELECT, INSERT, UPDATE, DELETE ON events, visits TO engine_role, oracle_role;
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
ALTER TABLE visits ENABLE ROW LEVEL SECURITY;
CREATE POLICY all_rows_engine ON events TO engine_role USING (true) WITH CHECK (true);
CREATE POLICY all_rows_engine ON visits TO engine_role USING (true) WITH CHECK (true);
CREATE POLICY keep_read ON events FOR SELECT TO oracle_role
  USING (created_at >= now() - interval '90 days');
CREATE POLICY keep_update ON events FOR UPDATE TO oracle_role
  USING (created_at >= now() - interval '90 days');
CREATE POLICY keep_delete ON events FOR DELETE TO oracle_role
  USING (created_at >= now() - interval '90 days');
CREATE POLICY keep_insert ON events FOR INSERT TO oracle_role WITH CHECK (true);
CREATE POLICY keep_read ON visits FOR SELECT TO oracle_role
  USING (day >= now() - interval '1 year');
CREATE POLICY keep_update ON visits FOR UPDATE TO oracle_role
  USING (day >= now() - interval '1 year');
CREATE POLICY keep_delete ON visits FOR DELETE TO oracle_role
  USING (day >= now() - interval '1 year');
CREATE POLICY keep_insert ON visits FOR INSERT TO oracle_role WITH CHECK (true);
"#;

/// Statements whose rows must agree; each returns one text column per row.
const SAME_ROWS: &[&str] = &[
    "SELECT id::text FROM events ORDER BY id",
    "SELECT note FROM events WHERE id > 1 ORDER BY 1",
    "SELECT count(*)::text FROM events",
    "SELECT e.id::text || '/' || v.id::text FROM events e JOIN visits v ON v.event_id = e.id ORDER BY 1",
    "SELECT id::text FROM visits WHERE id NOT IN (SELECT id FROM events) ORDER BY 1",
    "SELECT id::text FROM events WHERE EXISTS (SELECT 1 FROM visits v WHERE v.event_id = events.id) ORDER BY 1",
    "UPDATE events SET note = 'seen' RETURNING id::text",
    "UPDATE events SET note = 'x' WHERE id IN (3, 4) RETURNING id::text",
    "DELETE FROM events RETURNING id::text",
    "DELETE FROM visits WHERE day < current_date RETURNING id::text",
    "INSERT INTO events (id, created_at, note) VALUES (10, now(), 'new') RETURNING id::text",
    // Rows an INSERT adds are not checked (without RETURNING: PostgreSQL checks a
    // RETURNING row against the SELECT policy).
    "INSERT INTO events (id, created_at, note) VALUES (11, '2001-01-01', 'backdated')",
    "INSERT INTO events (id, note) VALUES (12, 'undated')",
    "INSERT INTO events (id, created_at, note) VALUES (1, now(), 'conflict') ON CONFLICT (id) DO UPDATE SET note = 'overwritten' RETURNING id::text",
];

fn rows(client: &mut postgres::Client, sql: &str) -> Result<Vec<Option<String>>, postgres::Error> {
    let mut tx = client.transaction()?;
    let out = tx
        .query(sql, &[])
        .map(|rs| rs.iter().map(|r| r.get::<_, Option<String>>(0)).collect());
    drop(tx);
    out
}

#[test]
fn retention_agrees_with_row_level_security() {
    let cluster = Cluster::start("retention", 10).unwrap();
    let mut admin = cluster
        .connect("postgres", verdict_testkit::SUPERUSER)
        .unwrap();
    admin
        .batch_execute("CREATE ROLE engine_role LOGIN; CREATE ROLE oracle_role LOGIN;")
        .unwrap();
    admin.batch_execute(SCHEMA).unwrap();
    let mut engine_db = cluster.connect("postgres", "engine_role").unwrap();
    let mut oracle_db = cluster.connect("postgres", "oracle_role").unwrap();
    let set = PolicySet::parse(POLICIES).unwrap();
    let ctx = Context::from_json_str(r#"{"user": "ann"}"#).unwrap();

    let mut compared = 0;
    for sql in SAME_ROWS {
        let v = evaluate(&set, sql, &ctx);
        let rewritten = v
            .rewritten_sql
            .as_deref()
            .unwrap_or_else(|| panic!("`{sql}` blocked: {}", v.to_json()));
        let ours =
            rows(&mut engine_db, rewritten).unwrap_or_else(|e| panic!("`{rewritten}` failed: {e}"));
        let oracle = rows(&mut oracle_db, sql).unwrap_or_else(|e| panic!("oracle `{sql}`: {e}"));
        assert_eq!(ours, oracle, "`{sql}` rewritten to `{rewritten}`");
        compared += 1;
    }
    // The rows read are the retained ones: 1 and 2 (3, 4 are old; 5 has no date).
    assert_eq!(
        rows(&mut oracle_db, SAME_ROWS[0]).unwrap(),
        vec![Some("1".to_string()), Some("2".to_string())]
    );

    // Moving a retained row out of the window is a write the engine cannot prove and
    // blocks; PostgreSQL refuses it too (the UPDATE policy's USING checks the new row).
    for sql in [
        "UPDATE events SET created_at = '2001-01-01' WHERE id = 1",
        "UPDATE events SET created_at = NULL WHERE id = 1",
    ] {
        let v = evaluate(&set, sql, &ctx);
        assert!(v.is_block(), "`{sql}`: {}", v.to_json());
        assert!(v.reason.contains("retention"), "{}", v.reason);
        let refused = rows(&mut oracle_db, sql).unwrap_err();
        assert_eq!(
            refused.as_db_error().map(|e| e.code().code()),
            Some("42501"),
            "{refused}"
        );
        compared += 1;
    }
    // An upsert that meets an old row leaves it: the engine's DO UPDATE skips it, PostgreSQL
    // refuses the statement.
    let sql = "INSERT INTO events (id, note) VALUES (3, 'conflict') ON CONFLICT (id) DO UPDATE SET note = 'overwritten' RETURNING note";
    let v = evaluate(&set, sql, &ctx);
    let rewritten = v.rewritten_sql.as_deref().unwrap();
    assert_eq!(
        rows(&mut engine_db, rewritten).unwrap(),
        Vec::<Option<String>>::new()
    );
    let refused = rows(&mut oracle_db, sql).unwrap_err();
    assert_eq!(
        refused.as_db_error().map(|e| e.code().code()),
        Some("42501")
    );
    compared += 1;
    // Changing other columns of a retained row is allowed and proven.
    let v = evaluate(&set, "UPDATE events SET note = 'n' WHERE id = 1", &ctx);
    assert!(!v.is_block(), "{}", v.to_json());
    println!("retention: {compared} statements agree with row level security");
}
