#![doc = include_str!("../README.md")]

pub mod catalog;
pub mod context;
mod error;
pub mod functions;
mod ident;
pub mod policy;
pub mod verdict;

pub use context::Context;
pub use error::InputError;
pub use policy::{PolicySet, Problem};
pub use verdict::{Decision, Verdict};

/// Evaluates one SQL text for one context against a validated policy set.
pub fn evaluate(set: &PolicySet, sql: &str, ctx: &Context) -> Verdict {
    let _ = (set, sql, ctx);
    verdict::Verdict {
        verdict: Decision::Block,
        rule: "unsupported_statement".into(),
        reason: "the engine is not complete yet".into(),
        hint: String::new(),
        masked_columns: Vec::new(),
        row_filters: Vec::new(),
        row_filter_predicate: None,
        rewritten_sql: None,
        matched_policies: Vec::new(),
        notes: Vec::new(),
        blocked_by: None,
        explanation: Vec::new(),
    }
}
