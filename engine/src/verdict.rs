//! The verdict (SPEC §3): what the engine answers, serialized to deterministic JSON.

use serde::Serialize;

/// The four answers, in precedence order `block` > `row_filter` > `mask` > `allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Mask,
    RowFilter,
    Block,
}

impl Decision {
    /// The verdict's JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Mask => "mask",
            Decision::RowFilter => "row_filter",
            Decision::Block => "block",
        }
    }
}

/// A masked column of a governed table, and where the mask came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct MaskedColumn {
    pub table: String,
    pub column: String,
    pub kind: String,
    pub policy: String,
    pub rule_index: usize,
}

/// A row filter applied to a governed table, after context substitution.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct RowFilter {
    pub table: String,
    pub predicate: String,
    pub policy: String,
    pub rule_index: usize,
}

/// A policy that took part in the evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchedPolicy {
    pub id: String,
    pub mode: String,
}

/// The policy rule that blocked the statement, when a rule did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BlockedBy {
    pub policy: String,
    pub rule_index: usize,
}

/// A stateful limit one evaluation cannot decide; the caller counts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitNote {
    pub policy: String,
    pub rule_index: usize,
    /// `queries_per_hour`, `queries_per_day` or `max_execution_ms`.
    pub kind: String,
    pub value: u64,
}

/// The engine's answer for one SQL text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verdict {
    pub verdict: Decision,
    /// The rule category that decided the verdict (`deny`, `row_filter`, `missing_context`, …).
    pub rule: String,
    pub reason: String,
    pub hint: String,
    pub masked_columns: Vec<MaskedColumn>,
    pub row_filters: Vec<RowFilter>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub row_filter_predicate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rewritten_sql: Option<String>,
    pub matched_policies: Vec<MatchedPolicy>,
    pub notes: Vec<String>,
    /// Stateful limits for the caller to enforce (also described in `notes`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<LimitNote>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<BlockedBy>,
    /// Sentences a person can read: which policy and rule produced each filter, mask and block.
    pub explanation: Vec<String>,
}

impl Verdict {
    /// The verdict as compact JSON; the same bytes natively and in wasm.
    pub fn to_json(&self) -> String {
        // INVARIANT: the verdict holds only strings, integers, vectors and options, which
        // serde_json always serializes; the fallback is unreachable but keeps the engine panic-free.
        let size = 512
            + self
                .rewritten_sql
                .as_ref()
                .map_or(0, |s| s.len() + s.len() / 8);
        let mut out = Vec::with_capacity(size);
        match serde_json::to_writer(&mut out, self) {
            // serde_json writes UTF-8 only.
            Ok(()) => String::from_utf8(out).unwrap_or_default(),
            Err(_) => String::from("{\"verdict\":\"block\"}"),
        }
    }

    /// Whether the statement may not run.
    pub fn is_block(&self) -> bool {
        self.verdict == Decision::Block
    }
}
