//! Building the databases: `real` (the base tables in `public`, plus relations outside the
//! catalog), and per context an oracle database (the same rows in `base`, the context's
//! secure views in `public`); then sanity checks of each oracle before any case runs.

use std::collections::BTreeMap;

use crate::fixtures::{ContextFixture, Fixtures};
use crate::sql::{difference, rows_difference, Conn, Outcome, ResultSet, Row, APP_ROLE};
use crate::write_sql::{WriterConn, WRITER_ROLE};
use verdict_testkit::{Cluster, SUPERUSER};

/// Connections, as the app role and as the writer role, to every database of the suite,
/// and the state of the data before any case.
pub struct Databases {
    pub real: Conn,
    pub oracles: BTreeMap<String, Conn>,
    pub real_writer: WriterConn,
    pub oracle_writers: BTreeMap<String, WriterConn>,
    /// The base rows (table, row) before any case, sorted: the same in every database.
    pub initial_contents: Vec<Row>,
    /// harness.fingerprint() of each database before any case, by database name.
    pub fingerprints: BTreeMap<String, String>,
    /// By context: the values (as text, 3 characters or more) of the base tables that the
    /// context's views never show — what no error message may print in that context.
    pub hidden: BTreeMap<String, Vec<String>>,
}

const REAL_DB: &str = "real";
const TEMPLATE_DB: &str = "oracle_template";

/// The oracle database of a context.
pub fn oracle_db(context: &str) -> String {
    format!("oracle_{context}")
}

fn exec(cluster: &Cluster, db: &str, what: &str, sql: &str) -> Result<(), String> {
    let mut client = cluster.connect(db, SUPERUSER)?;
    client
        .batch_execute(sql)
        .map_err(|e| format!("{what} (database {db}): {}", db_error(&e)))
}

fn db_error(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!(
            "{} {}{}",
            db.code().code(),
            db.message(),
            db.where_().map(|w| format!(" ({w})")).unwrap_or_default()
        ),
        None => e.to_string(),
    }
}

pub fn create_databases(cluster: &Cluster, fx: &Fixtures) -> Result<Databases, String> {
    // One statement each: CREATE DATABASE cannot run inside a multi-statement batch.
    for statement in [
        format!("CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"),
        format!("CREATE ROLE {WRITER_ROLE} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE"),
        format!("CREATE DATABASE {REAL_DB}"),
        format!("CREATE DATABASE {TEMPLATE_DB}"),
    ] {
        exec(
            cluster,
            "postgres",
            "creating the role and databases",
            &statement,
        )?;
    }

    // The real database: what the engine's rewritten SQL runs on.
    exec(cluster, REAL_DB, "loading schema.sql", &fx.schema_sql)?;
    exec(
        cluster,
        REAL_DB,
        "loading real_extras.sql",
        &fx.real_extras_sql,
    )?;
    exec(
        cluster,
        REAL_DB,
        "loading app_functions.sql",
        &fx.app_functions_sql,
    )?;
    exec(
        cluster,
        REAL_DB,
        "granting the app role",
        &format!(
            "REVOKE ALL ON SCHEMA public FROM PUBLIC;
             GRANT USAGE ON SCHEMA public, archive TO {APP_ROLE};
             GRANT SELECT ON ALL TABLES IN SCHEMA public, archive TO {APP_ROLE};
             GRANT USAGE ON SCHEMA public, archive TO {WRITER_ROLE};
             GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {WRITER_ROLE};
             GRANT SELECT ON ALL TABLES IN SCHEMA archive TO {WRITER_ROLE};"
        ),
    )?;
    exec(
        cluster,
        REAL_DB,
        "loading harness.sql",
        &fx.harness_sql.replace("{data}", "public"),
    )?;

    // The oracle template: base tables in `base`, mask functions in `oracle`.
    exec(
        cluster,
        TEMPLATE_DB,
        "loading schema.sql into schema base",
        &format!(
            "CREATE SCHEMA base; SET search_path = base;\n{}\nRESET search_path;",
            fx.schema_sql
        ),
    )?;
    exec(
        cluster,
        TEMPLATE_DB,
        "loading oracle/functions.sql",
        &fx.oracle_functions_sql,
    )?;
    exec(
        cluster,
        TEMPLATE_DB,
        "loading app_functions.sql",
        &fx.app_functions_sql,
    )?;
    exec(
        cluster,
        TEMPLATE_DB,
        "granting the app role",
        &format!(
            "REVOKE ALL ON SCHEMA public, base FROM PUBLIC;
             GRANT USAGE ON SCHEMA public TO {APP_ROLE}, {WRITER_ROLE};
             GRANT USAGE ON SCHEMA oracle TO {WRITER_ROLE};
             ALTER DEFAULT PRIVILEGES IN SCHEMA public
                 GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {WRITER_ROLE};"
        ),
    )?;
    exec(
        cluster,
        TEMPLATE_DB,
        "loading harness.sql",
        &fx.harness_sql.replace("{data}", "base"),
    )?;

    let mut oracles = BTreeMap::new();
    let mut hidden = BTreeMap::new();
    for ctx in &fx.contexts {
        let db = oracle_db(&ctx.name);
        exec(
            cluster,
            "postgres",
            "creating an oracle database",
            &format!("CREATE DATABASE {db} TEMPLATE {TEMPLATE_DB}"),
        )?;
        exec(
            cluster,
            &db,
            &format!("loading oracle/{}.sql", ctx.name),
            &format!(
                "SET search_path = public;\n{}\nRESET search_path;
                 GRANT SELECT ON ALL TABLES IN SCHEMA public TO {APP_ROLE};",
                ctx.oracle_sql
            ),
        )?;
        exec(
            cluster,
            &db,
            "loading oracle/writable.sql",
            &fx.oracle_writable_sql,
        )?;
        // Security barriers: the oracle itself must not run a caller's leaky expression on
        // a row its view leaves out (as row level security does not), or a side channel
        // would show the same in both databases.
        exec(
            cluster,
            &db,
            "making the oracle's views security barriers",
            "DO $$ DECLARE v record; BEGIN
                 FOR v IN SELECT schemaname, viewname FROM pg_views
                          WHERE schemaname NOT IN ('pg_catalog', 'information_schema') LOOP
                     EXECUTE format('ALTER VIEW %I.%I SET (security_barrier = true)',
                                    v.schemaname, v.viewname);
                 END LOOP;
             END $$;",
        )?;
        hidden.insert(ctx.name.clone(), hidden_values(cluster, &db)?);
        oracles.insert(ctx.name.clone(), Conn::open(cluster, &db)?);
    }
    let mut real_writer = WriterConn::open(cluster, REAL_DB)?;
    let initial_contents = real_writer.contents()?;
    let mut fingerprints = BTreeMap::new();
    fingerprints.insert(REAL_DB.to_string(), real_writer.fingerprint()?);
    let mut oracle_writers = BTreeMap::new();
    for ctx in &fx.contexts {
        let db = oracle_db(&ctx.name);
        let mut conn = WriterConn::open(cluster, &db)?;
        let contents = conn.contents()?;
        if let Some(diff) = rows_difference(&initial_contents, &contents, false) {
            return Err(format!(
                "the base rows of {db} are not those of {REAL_DB}: {diff}"
            ));
        }
        fingerprints.insert(db, conn.fingerprint()?);
        oracle_writers.insert(ctx.name.clone(), conn);
    }
    let mut dbs = Databases {
        real: Conn::open(cluster, REAL_DB)?,
        oracles,
        real_writer,
        oracle_writers,
        initial_contents,
        fingerprints,
        hidden,
    };
    self_check(cluster, &mut dbs, fx)?;
    Ok(dbs)
}

/// Checks the harness's own assumptions and every context's sanity queries.
fn self_check(cluster: &Cluster, dbs: &mut Databases, fx: &Fixtures) -> Result<(), String> {
    let one = |value: &str| {
        Outcome::Rows(vec![ResultSet {
            columns: vec!["count".into()],
            rows: vec![vec![Some(value.to_string())]],
        }])
    };
    let got = dbs.real.run(cluster, "SELECT count(*) FROM customers")?;
    if let Some(diff) = difference(&one("12"), &got, false) {
        return Err(format!("the real database is not as loaded: {diff}"));
    }
    let mut problems = Vec::new();
    for ctx in &fx.contexts {
        let Some(conn) = dbs.oracles.get_mut(&ctx.name) else {
            continue;
        };
        // The app role must not reach the base tables behind the views.
        let base = conn.run(cluster, "SELECT count(*) FROM base.customers")?;
        if !matches!(&base, Outcome::Error { code, .. } if code == "42501") {
            problems.push(format!(
                "{}: the app role reads base.customers: {}",
                ctx.name,
                base.summary()
            ));
        }
        // Nor the writer role.
        if let Some(writer) = dbs.oracle_writers.get_mut(&ctx.name) {
            let outcome = writer.run(
                cluster,
                "UPDATE base.customers SET name = name",
                crate::fixtures::OracleMode::Views,
            )?;
            if !outcome.is_error("42501") {
                problems.push(format!(
                    "{}: the writer role writes base.customers: {}",
                    ctx.name,
                    outcome.summary(Some(&dbs.initial_contents))
                ));
            }
        }
        sanity(cluster, conn, ctx, &mut problems)?;
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "oracle sanity checks failed:\n  {}",
            problems.join("\n  ")
        ))
    }
}

fn sanity(
    cluster: &Cluster,
    conn: &mut Conn,
    ctx: &ContextFixture,
    problems: &mut Vec<String>,
) -> Result<(), String> {
    for s in &ctx.sanity {
        let got = conn.run(cluster, &s.sql)?;
        let ok = match &got {
            Outcome::Rows(sets) => {
                sets.len() == 1 && sets.first().is_some_and(|set| set.rows == s.rows)
            }
            Outcome::Error { .. } => false,
        };
        if !ok {
            let shown = match &got {
                Outcome::Rows(sets) => {
                    format!("{:?}", sets.iter().map(|s| &s.rows).collect::<Vec<_>>())
                }
                other => other.summary(),
            };
            problems.push(format!(
                "{}: `{}` gave {shown}, expected {:?}",
                ctx.name, s.sql, s.rows
            ));
        }
    }
    Ok(())
}

/// The engine's lists taken from PostgreSQL's catalog (`engine/src/leak/pg.rs`,
/// `engine/src/builtins.rs`, `engine/src/pg_types.rs`) must be what their scripts generate from this PostgreSQL.
pub fn check_catalog_lists(cluster: &Cluster) -> Result<(), String> {
    let lists = [
        (
            "scripts/leakproof.sql",
            include_str!("../../scripts/leakproof.sql"),
            "engine/src/leak/pg.rs",
            include_str!("../../engine/src/leak/pg.rs"),
        ),
        (
            "scripts/builtins.sql",
            include_str!("../../scripts/builtins.sql"),
            "engine/src/builtins.rs",
            include_str!("../../engine/src/builtins.rs"),
        ),
        (
            "scripts/types.sql",
            include_str!("../../scripts/types.sql"),
            "engine/src/pg_types.rs",
            include_str!("../../engine/src/pg_types.rs"),
        ),
    ];
    let mut client = cluster.connect("postgres", SUPERUSER)?;
    for (script_name, script, file, committed) in lists {
        let messages = client
            .simple_query(script)
            .map_err(|e| format!("running {script_name}: {}", db_error(&e)))?;
        let mut generated = String::new();
        for m in messages {
            if let postgres::SimpleQueryMessage::Row(row) = m {
                generated.push_str(row.get(0).unwrap_or(""));
                generated.push('\n');
            }
        }
        if generated != committed {
            return Err(format!(
                "{file} differs from what {script_name} generates from this PostgreSQL's \
                 catalog: run scripts/gen-pg-catalog.sh against it and commit the result"
            ));
        }
    }
    Ok(())
}

/// The values of the base tables (schema `base`) that no view of the oracle database
/// `db` (schema `public`) shows, as text, 3 characters or more.
fn hidden_values(cluster: &Cluster, db: &str) -> Result<Vec<String>, String> {
    let mut client = cluster.connect(db, SUPERUSER)?;
    let mut columns = |schema: &str| -> Result<Vec<String>, String> {
        let rows = client
            .query(
                "SELECT format('SELECT %I::text AS v FROM %I.%I', c.column_name, c.table_schema, c.table_name)
                 FROM information_schema.columns c
                 JOIN information_schema.tables t USING (table_schema, table_name)
                 WHERE c.table_schema = $1
                 ORDER BY c.table_name, c.ordinal_position",
                &[&schema],
            )
            .map_err(|e| format!("listing the columns of {schema} in {db}: {}", db_error(&e)))?;
        Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
    };
    let base = columns("base")?;
    let shown = columns("public")?;
    if base.is_empty() || shown.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!(
        "SELECT DISTINCT v FROM ({}) b WHERE length(v) >= 3 EXCEPT SELECT v FROM ({}) s ORDER BY 1",
        base.join(" UNION ALL "),
        shown.join(" UNION ALL ")
    );
    let rows = client
        .query(&sql, &[])
        .map_err(|e| format!("listing the hidden values of {db}: {}", db_error(&e)))?;
    Ok(rows.iter().map(|r| r.get::<_, String>(0)).collect())
}
