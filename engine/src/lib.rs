#![doc = include_str!("../README.md")]

mod applicable;
mod builtins;
pub mod catalog;
pub mod context;
mod dialect;
mod error;
mod evaluate;
pub mod explain_row;
mod functions;
mod ident;
mod leak;
mod literal;
mod mask;
mod parse;
mod pg_types;
pub mod policy;
mod print;
mod prove;
mod resolve;
mod restrict;
mod rewrite;
mod setup;
pub mod suite;
pub mod verdict;
mod walk;
pub mod who_sees;

pub use context::Context;
pub use error::{ErrorCode, InputError};
pub use policy::{PolicySet, Problem, ProblemKind, Summary};
pub use verdict::{Decision, Verdict, VerdictRule};

pub use applicable::exempts;
pub use dialect::Dialect;
pub use evaluate::evaluate;
pub use explain_row::{explain_row, explain_row_json, explain_row_keyed, RowExplanation};
pub use setup::db_setup_sql;
pub use suite::{run_suite, run_suite_with_mutation, Suite, SuiteReport};
pub use who_sees::{who_sees, who_sees_json, Access, Principal, WhoSeesReport};

/// Hooks for benchmarks, fuzz targets and tests; not part of the API.
#[doc(hidden)]
pub mod testing {
    use crate::PolicySet;

    pub use crate::parse::{parse_statements_within, DEPTH_LIMIT};

    /// Forgets every text known to pass a check (the cold path).
    pub fn forget(set: &PolicySet) {
        set.memo.forget();
    }

    /// Forgets the statements known to read back, not the scans.
    pub fn forget_statements(set: &PolicySet) {
        set.memo.forget_statements();
    }
}

/// Whether this build reads YAML text (the `yaml` feature); without it YAML input is the
/// error `yaml_unsupported`.
pub const READS_YAML: bool = cfg!(feature = "yaml");
