//! The SQL dialect seam: what the engine assumes about the database that runs the SQL it
//! judges and prints. PostgreSQL is the one dialect today; everything that differs between
//! dialects is reached through [`Dialect`], so that a second one is a new variant, its
//! arms (the compiler points at each) and its tests.
//!
//! Reached through here: the parser's dialect, identifier folding, truncation and quoting,
//! the default schema, reserved words. The rewrite's PostgreSQL-specific rules (mask SQL,
//! function catalogs, statement kinds) are PostgreSQL's modules today (`mask`, `functions`,
//! `leak::pg`, `restrict`) and take a `Dialect` when a second one arrives.

use serde::{Deserialize, Serialize};
use sqlparser::ast::Ident;
use sqlparser::dialect::PostgreSqlDialect;

use crate::error::{ErrorCode, InputError};
use crate::ident;

/// A SQL dialect the engine reads and writes.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// PostgreSQL 13 and later (the conformance suites run 15).
    #[default]
    Postgres,
}

/// The parser dialect of [`Dialect::Postgres`]: sqlparser's dialects are unit structs, one
/// static each.
static POSTGRES: PostgreSqlDialect = PostgreSqlDialect {};

impl Dialect {
    /// Every dialect, in declaration order.
    pub const ALL: [Dialect; 1] = [Dialect::Postgres];

    /// The dialect's canonical name (`options.dialect`, `--dialect`).
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
        }
    }

    /// Every name a caller may use for the dialect (any case), the canonical one first.
    pub fn names(self) -> &'static [&'static str] {
        match self {
            Dialect::Postgres => &["postgres", "postgresql"],
        }
    }

    /// The dialect a caller names (case-insensitive), or `unsupported_dialect`.
    pub fn from_name(name: &str) -> Result<Dialect, InputError> {
        let lower = name.to_ascii_lowercase();
        Dialect::ALL
            .into_iter()
            .find(|d| d.names().contains(&lower.as_str()))
            .ok_or_else(|| {
                let known: Vec<&str> = Dialect::ALL
                    .iter()
                    .flat_map(|d| d.names())
                    .copied()
                    .collect();
                InputError::new(
                    ErrorCode::UnsupportedDialect,
                    format!(
                        "dialect `{name}` is not supported; use {}",
                        known.join(" or ")
                    ),
                )
            })
    }

    /// sqlparser's dialect for reading this dialect's SQL.
    pub(crate) fn parser(self) -> &'static dyn sqlparser::dialect::Dialect {
        match self {
            Dialect::Postgres => &POSTGRES,
        }
    }

    /// The schema an unqualified table name resolves to when the catalog does not say.
    pub fn default_schema(self) -> &'static str {
        match self {
            Dialect::Postgres => crate::catalog::DEFAULT_SCHEMA,
        }
    }

    /// The most bytes a name has; longer identifiers are cut (PostgreSQL's
    /// `NAMEDATALEN - 1`).
    pub fn max_name_bytes(self) -> usize {
        match self {
            Dialect::Postgres => ident::MAX_NAME_BYTES,
        }
    }

    /// The name the database means by an identifier (case folding, truncation).
    pub fn normalize(self, name: &Ident) -> String {
        match self {
            Dialect::Postgres => ident::normalize(name),
        }
    }

    /// A normalized name as printed in SQL: bare, or quoted when bare would change it.
    pub fn quote(self, name: &str) -> String {
        match self {
            Dialect::Postgres => ident::display(name),
        }
    }

    /// Whether a word is reserved (cannot be a bare column or table name).
    pub fn is_reserved(self, word: &str) -> bool {
        match self {
            Dialect::Postgres => ident::is_reserved_word(word),
        }
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn names_are_read_in_any_case() {
        for name in ["postgres", "PostgreSQL", "POSTGRES"] {
            assert_eq!(Dialect::from_name(name).unwrap(), Dialect::Postgres);
        }
        let err = Dialect::from_name("mysql").unwrap_err();
        assert_eq!(err.code, ErrorCode::UnsupportedDialect);
        assert_eq!(
            err.message,
            "dialect `mysql` is not supported; use postgres or postgresql"
        );
    }

    #[test]
    fn postgres_identifiers() {
        let d = Dialect::Postgres;
        assert_eq!(d.normalize(&Ident::new("Orders")), "orders");
        assert_eq!(d.normalize(&Ident::with_quote('"', "Orders")), "Orders");
        assert_eq!(d.normalize(&Ident::new("a".repeat(70))).len(), 63);
        assert_eq!(d.quote("Orders"), "\"Orders\"");
        assert_eq!(d.quote("user"), "\"user\"");
        assert!(d.is_reserved("select"));
        assert_eq!(d.default_schema(), "public");
        assert_eq!(d.max_name_bytes(), 63);
    }
}
