//! The vetted list: session settings, transaction control and prepared-statement clean-up
//! that drivers send on their own and that can neither read governed data nor change how names or strings are read.
//! Such a statement is forwarded as printed from its syntax tree; everything else goes
//! through the engine.

use sqlparser::ast::{Expr, ObjectName, Set, Statement, Value};
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// Settings a client may `SET` (names lowercase). Left out on purpose: `search_path`
/// (changes what an unqualified name means), `role`/`session_authorization` (change the
/// upstream identity), `standard_conforming_strings` (changes how literals are read) and
/// everything else.
const SETTABLE: &[&str] = &[
    "application_name",
    "bytea_output",
    "client_min_messages",
    "datestyle",
    "extra_float_digits",
    "intervalstyle",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
    "timezone",
    "time zone",
];

/// Settings a client may `SHOW`: the ones drivers ask for. Server paths and the rest of
/// `SHOW ALL` stay behind the engine.
const SHOWABLE: &[&str] = &[
    "application_name",
    "bytea_output",
    "client_encoding",
    "client_min_messages",
    "datestyle",
    "default_transaction_isolation",
    "default_transaction_read_only",
    "extra_float_digits",
    "integer_datetimes",
    "intervalstyle",
    "lc_collate",
    "lc_ctype",
    "lc_monetary",
    "lc_numeric",
    "lc_time",
    "max_identifier_length",
    "server_encoding",
    "server_version",
    "server_version_num",
    "standard_conforming_strings",
    "statement_timeout",
    "timezone",
    "time zone",
    "transaction isolation level",
    "transaction_isolation",
    "transaction_read_only",
];

/// The encodings a client may choose: the proxy reads SQL as UTF-8, so PostgreSQL must too.
const UTF8_NAMES: &[&str] = &["utf8", "utf-8", "unicode"];

/// Startup parameters forwarded upstream (names lowercase); `client_encoding` is checked
/// separately and `options`, `search_path`, `replication` and the rest are dropped.
pub const STARTUP_PARAMS: &[&str] = &[
    "application_name",
    "datestyle",
    "extra_float_digits",
    "intervalstyle",
    "timezone",
];

/// Whether `name` is a UTF-8 encoding name PostgreSQL accepts.
pub fn is_utf8_name(name: &str) -> bool {
    UTF8_NAMES.contains(&name.to_ascii_lowercase().as_str())
}

/// Whether the text's first word makes it worth parsing for the vetted list. A cheap test
/// that keeps ordinary queries on the engine's single parse.
pub fn may_be_vetted(sql: &str) -> bool {
    let word: String = sql
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .take(10)
        .collect::<String>()
        .to_ascii_lowercase();
    match word.as_str() {
        "set" | "show" | "begin" | "start" | "commit" | "end" | "rollback" | "abort"
        | "savepoint" | "release" | "deallocate" | "discard" => true,
        "select" => sql
            .as_bytes()
            .windows(7)
            .any(|w| w.eq_ignore_ascii_case(b"version")),
        _ => false,
    }
}

/// The statements of `sql`, each with its printed text when it is vetted, or `None` when
/// the text does not parse (the engine then judges it, and blocks it).
pub fn split(sql: &str) -> Option<Vec<(Statement, bool)>> {
    let statements = Parser::new(&PostgreSqlDialect {})
        .with_recursion_limit(32)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .ok()?;
    Some(
        statements
            .into_iter()
            .map(|s| {
                let ok = is_vetted(&s);
                (s, ok)
            })
            .collect(),
    )
}

/// Whether one statement is on the vetted list.
pub fn is_vetted(stmt: &Statement) -> bool {
    match stmt {
        Statement::Set(set) => vetted_set(set),
        Statement::ShowVariable { variable } => {
            let name = variable
                .iter()
                .map(|i| i.value.to_ascii_lowercase())
                .collect::<Vec<_>>()
                .join(" ");
            SHOWABLE.contains(&name.as_str())
        }
        Statement::StartTransaction {
            statements,
            exception,
            has_end_keyword,
            ..
        } => statements.is_empty() && exception.is_none() && !has_end_keyword,
        // Dropping prepared statements (psycopg does it on its own) and a pooler's reset
        // (DISCARD ALL: its RESET ALL returns statement_timeout to the startup packet's
        // value, the policies' limit, and no SET ROLE ever ran).
        Statement::Deallocate { .. }
        | Statement::Discard { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. } => true,
        Statement::Query(_) => {
            let printed = stmt.to_string().to_ascii_lowercase();
            printed == "select version()" || printed == "select pg_catalog.version()"
        }
        _ => false,
    }
}

fn vetted_set(set: &Set) -> bool {
    match set {
        Set::SingleAssignment {
            hivevar: false,
            variable,
            values,
            ..
        } => {
            let name = object_name(variable);
            if name == "client_encoding" {
                return matches!(values.as_slice(), [v] if literal_text(v).is_some_and(is_utf8_name));
            }
            SETTABLE.contains(&name.as_str()) && values.iter().all(is_plain_value)
        }
        Set::SetTimeZone { value, .. } => is_plain_value(value),
        Set::SetNames { charset_name, .. } => is_utf8_name(&charset_name.value),
        _ => false,
    }
}

fn object_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|p| p.to_string().trim_matches('"').to_ascii_lowercase())
        .collect::<Vec<_>>()
        .join(".")
}

fn literal_text(v: &Expr) -> Option<&str> {
    match v {
        Expr::Value(v) => match &v.value {
            Value::SingleQuotedString(s) => Some(s),
            _ => None,
        },
        Expr::Identifier(i) => Some(&i.value),
        _ => None,
    }
}

/// A literal, an identifier or a signed number: what PostgreSQL's SET grammar takes.
fn is_plain_value(v: &Expr) -> bool {
    match v {
        Expr::Value(v) => matches!(
            v.value,
            Value::SingleQuotedString(_) | Value::Number(..) | Value::Boolean(_)
        ),
        Expr::Identifier(_) => true,
        Expr::UnaryOp { expr, .. } => matches!(**expr, Expr::Value(_)),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vetted(sql: &str) -> bool {
        split(sql).is_some_and(|v| !v.is_empty() && v.iter().all(|(_, ok)| *ok))
    }

    #[test]
    fn driver_chatter_is_vetted() {
        for sql in [
            "SET extra_float_digits = 3",
            "SET application_name = 'PostgreSQL JDBC Driver'",
            "set DateStyle to 'ISO, MDY'",
            "SET TIME ZONE 'UTC'",
            "SET TimeZone = 'Europe/Paris'",
            "SET client_encoding TO 'UTF8'",
            "SHOW TRANSACTION ISOLATION LEVEL",
            "show server_version",
            "SELECT version()",
            "BEGIN",
            "BEGIN ISOLATION LEVEL SERIALIZABLE",
            "START TRANSACTION READ ONLY",
            "COMMIT",
            "END",
            "ROLLBACK",
            "SAVEPOINT a",
            "ROLLBACK TO SAVEPOINT a",
            "RELEASE a",
            "DEALLOCATE _pg3_0",
            "DEALLOCATE ALL",
            "DISCARD ALL",
            "DISCARD TEMP",
        ] {
            assert!(may_be_vetted(sql), "{sql}");
            assert!(vetted(sql), "{sql}");
        }
    }

    #[test]
    fn other_session_state_is_not() {
        for sql in [
            "SET search_path = evil, public",
            "SET ROLE admin",
            "SET SESSION AUTHORIZATION admin",
            "SET standard_conforming_strings = off",
            "SET client_encoding = 'SJIS'",
            "SET application_name = (SELECT password_hash FROM customers)",
            "SHOW ALL",
            "SHOW data_directory",
            "SELECT version() FROM salaries",
            "SELECT version(), ssn FROM customers",
            "SET application_name = 'x'; SELECT * FROM salaries",
            "RESET ALL",
        ] {
            assert!(!vetted(sql), "{sql}");
        }
        assert!(!may_be_vetted("SELECT * FROM orders"));
    }
}
