//! The verdict (SPEC §3): what the engine answers, serialized to deterministic JSON.

pub(crate) mod build;

use serde::{Deserialize, Serialize};

/// The four answers, in precedence order `block` > `row_filter` > `mask` > `allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
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

/// A rule as people number it, from 1: the rule at JSON path `rules[0]` is rule 1. Every
/// sentence the engine writes (reasons, notes, explanations) numbers rules this way;
/// `rule_index` fields are JSON paths' indexes, from 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleNo(pub usize);

impl std::fmt::Display for RuleNo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0.saturating_add(1))
    }
}

/// The rule category that decided a verdict (its `rule`): one closed set, so that a new
/// one is added here and everywhere the compiler points, and its JSON name is written once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VerdictRule {
    /// Nothing governed is filtered or masked.
    Allow,
    RowFilter,
    ColumnMask,
    /// A deny rule (table, columns or operations).
    Deny,
    /// `catalog.default_access: deny` and no enforce policy for the table.
    DefaultDeny,
    /// A filter needs a context attribute the context lacks.
    MissingContext,
    /// A context value cannot be used where a filter puts it.
    InvalidContext,
    ParseError,
    EmptyStatement,
    UnsupportedStatement,
    UnsupportedSyntax,
    UnknownRelation,
    UnknownFunction,
    DeniedFunction,
    QueryRestriction,
    QueryLimit,
    CatalogRequired,
    /// The rewritten SQL would pass its size bound.
    OutputLimit,
    /// The write would make PostgreSQL write rows of a governed table through a foreign
    /// key's `ON DELETE` / `ON UPDATE` action (around the policies).
    ForeignKeyAction,
}

impl VerdictRule {
    /// Every rule category, in declaration order.
    pub const ALL: [VerdictRule; 19] = [
        VerdictRule::Allow,
        VerdictRule::RowFilter,
        VerdictRule::ColumnMask,
        VerdictRule::Deny,
        VerdictRule::DefaultDeny,
        VerdictRule::MissingContext,
        VerdictRule::InvalidContext,
        VerdictRule::ParseError,
        VerdictRule::EmptyStatement,
        VerdictRule::UnsupportedStatement,
        VerdictRule::UnsupportedSyntax,
        VerdictRule::UnknownRelation,
        VerdictRule::UnknownFunction,
        VerdictRule::DeniedFunction,
        VerdictRule::QueryRestriction,
        VerdictRule::QueryLimit,
        VerdictRule::CatalogRequired,
        VerdictRule::OutputLimit,
        VerdictRule::ForeignKeyAction,
    ];

    /// The rule's JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictRule::Allow => "allow",
            VerdictRule::RowFilter => "row_filter",
            VerdictRule::ColumnMask => "column_mask",
            VerdictRule::Deny => "deny",
            VerdictRule::DefaultDeny => "default_deny",
            VerdictRule::MissingContext => "missing_context",
            VerdictRule::InvalidContext => "invalid_context",
            VerdictRule::ParseError => "parse_error",
            VerdictRule::EmptyStatement => "empty_statement",
            VerdictRule::UnsupportedStatement => "unsupported_statement",
            VerdictRule::UnsupportedSyntax => "unsupported_syntax",
            VerdictRule::UnknownRelation => "unknown_relation",
            VerdictRule::UnknownFunction => "unknown_function",
            VerdictRule::DeniedFunction => "denied_function",
            VerdictRule::QueryRestriction => "query_restriction",
            VerdictRule::QueryLimit => "query_limit",
            VerdictRule::CatalogRequired => "catalog_required",
            VerdictRule::OutputLimit => "output_limit",
            VerdictRule::ForeignKeyAction => "foreign_key_action",
        }
    }

    /// The rule category of a JSON name.
    pub fn from_name(name: &str) -> Option<VerdictRule> {
        VerdictRule::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

impl std::fmt::Display for VerdictRule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for VerdictRule {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for VerdictRule {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for VerdictRule {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

/// A masked column of a governed table, and where the mask came from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MaskedColumn {
    pub table: String,
    pub column: String,
    pub kind: String,
    pub policy: String,
    pub rule_index: usize,
}

/// A row filter applied to a governed table, after context substitution.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RowFilter {
    pub table: String,
    pub predicate: String,
    pub policy: String,
    pub rule_index: usize,
}

/// A policy that took part in the evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedPolicy {
    pub id: String,
    pub mode: String,
}

/// The policy rule that blocked the statement, when a rule did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockedBy {
    pub policy: String,
    pub rule_index: usize,
}

/// What a `monitor` policy's rule would have done to the statement had it been enforced
/// (also described in `notes`): `would` is `block`, `row_filter` or `mask`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Monitored {
    pub policy: String,
    pub rule_index: usize,
    pub would: Decision,
    /// The table filtered or whose column is masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub table: Option<String>,
    /// The masked column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<String>,
    /// The block's reason, the filter's predicate after context substitution, or the
    /// mask's kind.
    pub detail: String,
}

/// A stateful limit one evaluation cannot decide; the caller counts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitNote {
    pub policy: String,
    pub rule_index: usize,
    /// `queries_per_hour`, `queries_per_day` or `max_execution_ms`.
    pub kind: String,
    pub value: u64,
}

/// The engine's answer for one SQL text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Verdict {
    pub verdict: Decision,
    /// The rule category that decided the verdict (`deny`, `row_filter`, `missing_context`, …).
    pub rule: VerdictRule,
    pub reason: String,
    pub hint: String,
    pub masked_columns: Vec<MaskedColumn>,
    pub row_filters: Vec<RowFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub row_filter_predicate: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewritten_sql: Option<String>,
    pub matched_policies: Vec<MatchedPolicy>,
    pub notes: Vec<String>,
    /// Stateful limits for the caller to enforce (also described in `notes`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub limits: Vec<LimitNote>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<BlockedBy>,
    /// What `monitor` policies would have done (absent when none would have acted).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monitored: Vec<Monitored>,
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

#[cfg(test)]
mod tests {
    use super::VerdictRule;

    #[test]
    fn rule_names_are_their_json_and_read_back() {
        for rule in VerdictRule::ALL {
            let json = serde_json::to_string(&rule).unwrap();
            assert_eq!(json, format!("\"{}\"", rule.as_str()));
            assert_eq!(VerdictRule::from_name(rule.as_str()), Some(rule));
        }
        assert_eq!(VerdictRule::from_name("row_filtr"), None);
    }
}
