//! Building the databases: `real` (the base tables in `public`, plus relations outside the
//! catalog), and per context an oracle database (the same rows in `base`, the context's
//! secure views in `public`); then sanity checks of each oracle before any case runs.

use std::collections::BTreeMap;

use crate::cluster::{Cluster, SUPERUSER};
use crate::fixtures::{ContextFixture, Fixtures};
use crate::sql::{difference, Conn, Outcome, ResultSet, APP_ROLE};

/// Connections, as the app role, to every database of the suite.
pub struct Databases {
    pub real: Conn,
    pub oracles: BTreeMap<String, Conn>,
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
        "granting the app role",
        &format!(
            "REVOKE ALL ON SCHEMA public FROM PUBLIC;
             GRANT USAGE ON SCHEMA public, archive TO {APP_ROLE};
             GRANT SELECT ON ALL TABLES IN SCHEMA public, archive TO {APP_ROLE};"
        ),
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
        "granting the app role",
        &format!(
            "REVOKE ALL ON SCHEMA public, base FROM PUBLIC;
             GRANT USAGE ON SCHEMA public TO {APP_ROLE};"
        ),
    )?;

    let mut oracles = BTreeMap::new();
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
        oracles.insert(ctx.name.clone(), Conn::open(cluster, &db)?);
    }
    let mut dbs = Databases {
        real: Conn::open(cluster, REAL_DB)?,
        oracles,
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
