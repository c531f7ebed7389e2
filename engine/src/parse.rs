//! Parsing SQL text into statements, with PostgreSQL's dialect and a bounded depth.

use sqlparser::ast::Statement;
use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;

/// Dialect names callers may pass; the engine speaks PostgreSQL.
pub const DIALECTS: &[&str] = &["postgres", "postgresql"];

/// Checks a dialect name (case-insensitive) given by a caller.
pub fn check_dialect(name: &str) -> Result<(), crate::InputError> {
    if DIALECTS.contains(&name.to_ascii_lowercase().as_str()) {
        Ok(())
    } else {
        Err(crate::InputError::new(
            "unsupported_dialect",
            format!(
                "dialect `{name}` is not supported; use {}",
                DIALECTS.join(" or ")
            ),
        ))
    }
}

/// How deep expressions and queries may nest; deeper texts are blocked, never overflow.
pub const RECURSION_LIMIT: usize = 64;

/// The statements of a SQL text, or the parser's message.
pub fn parse_statements(sql: &str) -> Result<Vec<Statement>, String> {
    let dialect = PostgreSqlDialect {};
    Parser::new(&dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .try_with_sql(sql)
        .and_then(|mut p| p.parse_statements())
        .map_err(|e| {
            let m = e.to_string();
            m.strip_prefix("sql parser error: ")
                .unwrap_or(&m)
                .to_string()
        })
}

/// The statement's kind as its leading keywords (`INSERT`, `SET`, `CREATE TABLE`, …).
pub fn statement_kind(stmt: &Statement) -> String {
    let text = stmt.to_string();
    let words: Vec<&str> = text.split_whitespace().take(2).collect();
    match words.as_slice() {
        [first, second] if matches!(*first, "CREATE" | "DROP" | "ALTER") => {
            format!("{first} {second}")
        }
        [first, ..] => (*first).to_string(),
        [] => "empty".to_string(),
    }
}
