//! `verdict db-setup` on a real PostgreSQL: constraint errors raised by rewritten SQL, run
//! as a role that owns no table, print no row values once the setup SQL has run, and do
//! print them without it (so the test shows the mechanism, not an accident of the data).
//!
//! Two databases get the same schema and rows; only `with_setup` runs the generated SQL.
//! Each statement is judged by the engine for a tenant-1 context, and its rewritten SQL
//! runs in both databases, in a transaction rolled back afterwards.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use verdict_engine::db_setup_sql;
use verdict_engine::{evaluate, Context, PolicySet};
use verdict_testkit::Cluster;

const POLICIES: &str = r#"{
  "catalog": {"tables": [
    {"name": "doctors", "columns": [
      {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"},
      {"name": "name", "type": "text"}]},
    {"name": "patients", "columns": [
      {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"},
      {"name": "mrn", "type": "text"}, {"name": "ssn", "type": "text"},
      {"name": "email", "type": "text"}, {"name": "age", "type": "integer"},
      {"name": "doctor_id", "type": "integer"}, {"name": "stay", "type": "int4range"}]},
    {"name": "visits", "columns": [
      {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"},
      {"name": "note", "type": "text"}, {"name": "code", "type": "text"}]}]},
  "policies": [
    {"id": "tenants", "rules": [
      {"type": "row_filter", "table": "doctors", "predicate": "tenant_id = ctx.attr.tenant_id"},
      {"type": "row_filter", "table": "patients", "predicate": "tenant_id = ctx.attr.tenant_id"},
      {"type": "row_filter", "table": "visits", "predicate": "tenant_id = ctx.attr.tenant_id"}]},
    {"id": "pii", "rules": [
      {"type": "column_mask", "table": "patients", "column": "ssn", "mask": "partial"},
      {"type": "column_mask", "table": "patients", "column": "mrn", "mask": "hash"}]}
  ]
}"#;

const CONTEXT: &str = r#"{"user": "ann", "roles": ["clinician"], "attributes": {"tenant_id": 1}}"#;

/// The role that runs rewritten SQL: no superuser, no BYPASSRLS, owns nothing.
const APP: &str = "verdict app";
/// The tables' owner: no superuser either (superusers skip row level security too).
const OWNER: &str = "clinic_owner";

const SCHEMA: &str = r#"
CREATE TABLE doctors (id int PRIMARY KEY, tenant_id int NOT NULL, name text NOT NULL);
CREATE TABLE patients (
  id int PRIMARY KEY,
  tenant_id int NOT NULL,
  mrn text NOT NULL,
  ssn text UNIQUE,
  email text,
  age int CHECK (age >= 0),
  doctor_id int REFERENCES doctors (id),
  stay int4range,
  EXCLUDE USING gist (stay WITH &&)
);
CREATE UNIQUE INDEX patients_email_lower ON patients (lower(email));
INSERT INTO doctors VALUES (1, 1, 'Dr Visible'), (2, 2, 'Dr Hidden');
INSERT INTO patients VALUES
  (1, 1, 'MRN-VISIBLE-1', '111-22-3333', 'ann@clinic.example', 40, NULL, '[1,5)'),
  (2, 2, 'MRN-HIDDEN-2', '999-88-7777', 'Hidden@Other.example', 50, 1, '[10,15)');
-- Partitioned, two levels: a partition's unique index reports with the partition's own
-- row level security, so the setup protects the partitions too.
CREATE TABLE visits (id int, tenant_id int NOT NULL, note text NOT NULL, code text,
  UNIQUE (id, note))
  PARTITION BY RANGE (id);
CREATE TABLE visits_low PARTITION OF visits FOR VALUES FROM (0) TO (100) PARTITION BY RANGE (id);
CREATE TABLE visits_low_a PARTITION OF visits_low FOR VALUES FROM (0) TO (50);
INSERT INTO visits VALUES (1, 1, 'visible note', 'CODE-1'), (2, 2, 'HIDDEN-NOTE', 'CODE-2');
ALTER TABLE doctors OWNER TO clinic_owner;
ALTER TABLE patients OWNER TO clinic_owner;
ALTER TABLE visits OWNER TO clinic_owner;
ALTER TABLE visits_low OWNER TO clinic_owner;
ALTER TABLE visits_low_a OWNER TO clinic_owner;
GRANT SELECT, INSERT, UPDATE, DELETE ON doctors, patients, visits TO "verdict app";
-- Without SELECT on a partition its unique errors print no key anyway: granted here, so
-- only row level security can hide them.
GRANT SELECT ON visits_low, visits_low_a TO "verdict app";
"#;

/// A statement, the SQLSTATE it must fail with, and what its DETAIL holds without the
/// setup (row values: a row, or a key).
struct Case {
    what: &'static str,
    sql: &'static str,
    sqlstate: &'static str,
    detail_without_setup: &'static str,
}

const CASES: &[Case] = &[
    Case {
        what: "NOT NULL (UPDATE)",
        sql: "UPDATE patients SET mrn = NULL WHERE id = 1",
        sqlstate: "23502",
        detail_without_setup: "Failing row contains (1, 1, null, 111-22-3333,",
    },
    Case {
        what: "NOT NULL (INSERT)",
        sql: "INSERT INTO patients (id, tenant_id, ssn) VALUES (3, 1, '123-45-6789')",
        sqlstate: "23502",
        detail_without_setup: "Failing row contains (3, 1, null, 123-45-6789,",
    },
    Case {
        what: "CHECK (upsert's DO UPDATE)",
        sql: "INSERT INTO patients (id, tenant_id, mrn) VALUES (1, 1, 'M') ON CONFLICT (id) DO UPDATE SET age = -5",
        sqlstate: "23514",
        detail_without_setup: "Failing row contains (1, 1, MRN-VISIBLE-1, 111-22-3333,",
    },
    Case {
        what: "NOT NULL through a partitioned table",
        sql: "UPDATE visits SET note = NULL WHERE id = 1",
        sqlstate: "23502",
        detail_without_setup: "Failing row contains (1, 1, null, CODE-1).",
    },
    Case {
        what: "UNIQUE of a partition, through its partitioned table",
        sql: "UPDATE visits SET id = 2, note = 'HIDDEN-NOTE' WHERE id = 1",
        sqlstate: "23505",
        detail_without_setup: "Key (id, note)=(2, HIDDEN-NOTE) already exists.",
    },
    Case {
        what: "CHECK",
        sql: "UPDATE patients SET age = -1 WHERE id = 1",
        sqlstate: "23514",
        detail_without_setup: "Failing row contains (1, 1, MRN-VISIBLE-1, 111-22-3333,",
    },
    Case {
        what: "UNIQUE",
        sql: "UPDATE patients SET ssn = '999-88-7777' WHERE id = 1",
        sqlstate: "23505",
        detail_without_setup: "Key (ssn)=(999-88-7777) already exists.",
    },
    Case {
        what: "primary key (INSERT)",
        sql: "INSERT INTO patients (id, tenant_id, mrn) VALUES (2, 1, 'M')",
        sqlstate: "23505",
        detail_without_setup: "Key (id)=(2) already exists.",
    },
    Case {
        what: "unique index on an expression",
        sql: "UPDATE patients SET email = 'HIDDEN@other.EXAMPLE' WHERE id = 1",
        sqlstate: "23505",
        detail_without_setup: "Key (lower(email))=(hidden@other.example) already exists.",
    },
    Case {
        what: "EXCLUDE",
        sql: "UPDATE patients SET stay = int4range(11, 12) WHERE id = 1",
        sqlstate: "23P01",
        detail_without_setup: "Key (stay)=([11,12)) conflicts with existing key (stay)=([10,15)).",
    },
    Case {
        what: "foreign key, referencing side",
        sql: "UPDATE patients SET doctor_id = 77 WHERE id = 1",
        sqlstate: "23503",
        detail_without_setup: "Key (doctor_id)=(77) is not present in table \"doctors\".",
    },
    Case {
        what: "foreign key, referenced side (a hidden patient references the doctor)",
        sql: "DELETE FROM doctors WHERE id = 1",
        sqlstate: "23503",
        detail_without_setup: "Key (id)=(1) is still referenced from table \"patients\".",
    },
    Case {
        what: "foreign key, referenced key updated",
        sql: "UPDATE doctors SET id = 5 WHERE id = 1",
        sqlstate: "23503",
        detail_without_setup: "Key (id)=(1) is still referenced from table \"patients\".",
    },
];

/// Values of the rows that must not appear in any DETAIL once the setup ran.
const ROW_VALUES: &[&str] = &[
    "111-22-3333",
    "999-88-7777",
    "MRN-",
    "clinic.example",
    "other.example",
    "[10,15)",
    "note",
    "NOTE",
    "CODE-",
    "Failing row",
    "Key (",
];

/// Runs `sql` as the app role in a rolled-back transaction; the error's SQLSTATE and DETAIL.
fn fail(client: &mut postgres::Client, sql: &str) -> (String, Option<String>) {
    let mut tx = client.transaction().unwrap();
    let err = match tx.batch_execute(sql) {
        Ok(()) => panic!("`{sql}` did not fail"),
        Err(e) => e,
    };
    let db = err
        .as_db_error()
        .unwrap_or_else(|| panic!("`{sql}`: not a database error: {err}"));
    let out = (
        db.code().code().to_string(),
        db.detail().map(str::to_string),
    );
    drop(tx);
    out
}

#[test]
fn constraint_errors_print_no_row_values_after_the_setup() {
    let cluster = Cluster::start("db-setup", 10).unwrap();
    let mut admin = cluster
        .connect("postgres", verdict_testkit::SUPERUSER)
        .unwrap();
    admin
        .batch_execute(&format!(
            "CREATE ROLE \"{APP}\" LOGIN; CREATE ROLE {OWNER} LOGIN;"
        ))
        .unwrap();
    for db in ["plain", "with_setup"] {
        admin
            .batch_execute(&format!("CREATE DATABASE {db}"))
            .unwrap();
    }
    let set = PolicySet::parse(POLICIES).unwrap();
    let setup = db_setup_sql(&set, Some(APP)).unwrap();
    for db in ["plain", "with_setup"] {
        let mut c = cluster.connect(db, verdict_testkit::SUPERUSER).unwrap();
        c.batch_execute(SCHEMA).unwrap();
        if db == "with_setup" {
            c.batch_execute(&setup).unwrap();
            // Re-runnable: a second run changes nothing and fails nowhere.
            c.batch_execute(&setup).unwrap();
            let policies: i64 = c
                .query_one(
                    "SELECT count(*) FROM pg_policy WHERE polname = 'verdict_verdict app'",
                    &[],
                )
                .unwrap()
                .get(0);
            // doctors, patients, visits and its two partitions.
            assert_eq!(policies, 5);
        }
    }

    let ctx = Context::from_json_str(CONTEXT).unwrap();
    let mut plain = cluster.connect("plain", APP).unwrap();
    let mut protected = cluster.connect("with_setup", APP).unwrap();
    // The setup changes nothing the role reads: every row, through the engine's filter.
    for c in [&mut plain, &mut protected] {
        let v = evaluate(&set, "SELECT id, ssn FROM patients ORDER BY id", &ctx);
        let rows = c.query(v.rewritten_sql.as_deref().unwrap(), &[]).unwrap();
        let seen: Vec<(i32, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
        assert_eq!(seen, vec![(1, "***********".to_string())]);
        let all: i64 = c
            .query_one("SELECT count(*) FROM patients", &[])
            .unwrap()
            .get(0);
        assert_eq!(all, 2, "the permissive policy admits every row");
    }

    for case in CASES {
        let v = evaluate(&set, case.sql, &ctx);
        let sql = v
            .rewritten_sql
            .as_deref()
            .unwrap_or_else(|| panic!("{}: blocked: {}", case.what, v.reason));
        let (code, detail) = fail(&mut plain, sql);
        assert_eq!(code, case.sqlstate, "{}: without the setup", case.what);
        let detail = detail.unwrap_or_default();
        assert!(
            detail.contains(case.detail_without_setup),
            "{}: without the setup DETAIL prints the row: {detail}",
            case.what
        );
        let (code, detail) = fail(&mut protected, sql);
        assert_eq!(code, case.sqlstate, "{}: with the setup", case.what);
        if let Some(detail) = detail {
            for value in ROW_VALUES {
                assert!(
                    !detail.contains(value),
                    "{}: with the setup DETAIL still shows `{value}`: {detail}",
                    case.what
                );
            }
        }
    }
}

/// What the setup cannot cover, as documented: a foreign key's ON DELETE/ON UPDATE action
/// runs as the referencing table's owner without row level security, so a constraint
/// error it causes prints the (hidden) referencing row.
#[test]
fn referential_actions_still_print_the_referencing_row() {
    let cluster = Cluster::start("db-setup-actions", 10).unwrap();
    let mut admin = cluster
        .connect("postgres", verdict_testkit::SUPERUSER)
        .unwrap();
    admin
        .batch_execute(&format!(
            "CREATE ROLE \"{APP}\" LOGIN; CREATE ROLE {OWNER} LOGIN;
             CREATE TABLE doctors (id int PRIMARY KEY, tenant_id int NOT NULL, name text NOT NULL);
             CREATE TABLE patients (id int PRIMARY KEY, tenant_id int NOT NULL, mrn text NOT NULL,
               ssn text, email text, age int, stay int4range,
               doctor_id int NOT NULL REFERENCES doctors (id) ON DELETE SET NULL);
             INSERT INTO doctors VALUES (1, 1, 'Dr Visible');
             INSERT INTO patients VALUES (2, 2, 'MRN-HIDDEN-2', '999-88-7777', NULL, 50, NULL, 1);
             ALTER TABLE doctors OWNER TO {OWNER}; ALTER TABLE patients OWNER TO {OWNER};
             GRANT SELECT, DELETE ON doctors, patients TO \"{APP}\";"
        ))
        .unwrap();
    let set = PolicySet::parse(POLICIES).unwrap();
    admin
        .batch_execute(&db_setup_sql(&set, Some(APP)).unwrap())
        .unwrap();
    let ctx = Context::from_json_str(CONTEXT).unwrap();
    let v = evaluate(&set, "DELETE FROM doctors WHERE id = 1", &ctx);
    let mut app = cluster.connect("postgres", APP).unwrap();
    let (code, detail) = fail(&mut app, v.rewritten_sql.as_deref().unwrap());
    assert_eq!(code, "23502");
    assert!(
        detail.unwrap_or_default().contains("999-88-7777"),
        "the SET NULL action's error prints the hidden row"
    );
}
