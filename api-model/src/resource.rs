//! What the API answers: stored policies, assignments, the catalog, verdicts.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::policy::{
    AuditLevel, MaskSpec, Mode, PolicyAction, PolicyOrigin, PolicyType, Risk, Rule, Subjects,
};

/// A stored assignment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Assignment {
    pub id: String,
    pub kind: String,
    pub value: String,
    /// RFC 3339.
    pub created_at: String,
    pub created_by: String,
}

impl Assignment {
    /// Its kind and value.
    pub fn spec(&self) -> crate::policy::AssignmentSpec {
        crate::policy::AssignmentSpec {
            kind: self.kind.clone(),
            value: self.value.clone(),
        }
    }
}

/// A stored policy: the policy as written, its assignments and its revision (also the
/// `ETag`). `PATCH` takes any subset of its policy fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PolicyResource {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub description: Option<String>,
    /// As given (absent when the policy gives none; filters and the dashboard then derive
    /// it from the rules).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub policy_type: Option<PolicyType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub action: Option<PolicyAction>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub risk: Option<Risk>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub priority: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub mode: Option<Mode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub except: Option<Subjects>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub break_glass_allowed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub compliance_tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub purpose_tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub audit_level: Option<AuditLevel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(nullable = false, min_length = 1, max_length = 256)
    )]
    pub table_name: Option<String>,
    /// The predicate tree as given (see `Policy.row_filter_dsl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object, nullable = false))]
    pub row_filter_dsl: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub column_masks: Option<BTreeMap<String, MaskSpec>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(nullable = false, min_length = 1, max_length = 256)
    )]
    pub external_id: Option<String>,
    /// `manual` unless the policy says otherwise.
    pub source: PolicyOrigin,
    pub rules: Vec<Rule>,
    pub assignments: Vec<Assignment>,
    /// Whether it has any assignment.
    pub assigned: bool,
    pub revision: i64,
    pub created_at: String,
    pub created_by: String,
    pub updated_at: String,
    pub updated_by: String,
}

/// The body of `PATCH /api/v1/policies/{id}`: the fields to change. An omitted field is
/// unchanged; `null` clears an optional one (never `name` or `rules`); `assignments`
/// replaces every assignment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"enabled": false, "description": "paused during the audit"})))]
#[serde(deny_unknown_fields)]
pub struct PolicyPatch {
    /// Must equal the policy's id when given.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub id: Option<String>,
    #[serde(default)]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 200, nullable = false)
    )]
    pub name: Option<String>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_length = 4000))]
    pub description: Option<String>,
    #[serde(default)]
    pub policy_type: Option<PolicyType>,
    #[serde(default)]
    pub action: Option<PolicyAction>,
    #[serde(default)]
    pub risk: Option<Risk>,
    #[serde(default)]
    pub enabled: Option<bool>,
    #[serde(default)]
    pub priority: Option<i32>,
    #[serde(default)]
    pub mode: Option<Mode>,
    #[serde(default, deserialize_with = "crate::strict::object_opt")]
    pub except: Option<Subjects>,
    #[serde(default)]
    pub break_glass_allowed: Option<bool>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub compliance_tags: Option<Vec<String>>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub purpose_tags: Option<Vec<String>>,
    #[serde(default)]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub audit_level: Option<AuditLevel>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub table_name: Option<String>,
    /// A predicate tree (see `Policy.row_filter_dsl`); `null` removes it.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub row_filter_dsl: Option<serde_json::Value>,
    #[serde(default)]
    pub column_masks: Option<BTreeMap<String, MaskSpec>>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub external_id: Option<String>,
    #[serde(default)]
    pub source: Option<PolicyOrigin>,
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(max_items = 200, nullable = false))]
    pub rules: Option<Vec<Rule>>,
    #[serde(default, deserialize_with = "crate::strict::objects_opt")]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub assignments: Option<Vec<crate::policy::AssignmentSpec>>,
}

/// What a version records: the policy as stored, its assignments, whether it was deleted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionSnapshot {
    pub policy: crate::policy::Policy,
    pub assignments: Vec<crate::policy::AssignmentSpec>,
    pub deleted: bool,
}

/// What `DELETE /api/v1/policies/{id}` answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Deleted {
    pub id: String,
    pub deleted: bool,
    pub deleted_at: String,
    pub revision: i64,
}

/// What a strict catalog does with a governed table no policy covers for a context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum DefaultAccess {
    Allow,
    Deny,
}

/// A column: its name, or its name with a type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum CatalogColumn {
    Name(String),
    Typed(#[serde(deserialize_with = "crate::strict::object")] ColumnSpec),
}

/// A column with its PostgreSQL type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ColumnSpec {
    pub name: String,
    /// e.g. integer, text, numeric(10,2), date.
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub data_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nullable: Option<bool>,
}

/// A table of the catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CatalogTable {
    /// `table` (schema public) or `schema.table`.
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub columns: Vec<CatalogColumn>,
}

/// A database function callers may use under the strict catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CatalogFunction {
    /// `f` (schema public) or `schema.f`.
    pub name: String,
    /// Default true: a call is blocked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reads_governed_tables: Option<bool>,
}

/// The organization's strict catalog: relations it does not list are blocked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"tables": [{"name": "public.orders", "columns": [{"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"}]}]})))]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_access: Option<DefaultAccess>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::strict::objects_opt"
    )]
    pub functions: Option<Vec<CatalogFunction>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::strict::objects_opt"
    )]
    pub tables: Option<Vec<CatalogTable>>,
}

/// `GET /api/v1/catalog`, and the same shape for `PUT`: the catalog (`null`: none, every
/// relation allowed) and its revision (also the `ETag`). On `PUT`, `revision` is optional
/// and, when given, must be the current one (like `If-Match`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"catalog": {"tables": [{"name": "public.orders", "columns": [{"name": "id", "type": "integer"}]}]}, "revision": 1})))]
#[serde(deny_unknown_fields)]
pub struct CatalogDocument {
    #[serde(deserialize_with = "crate::strict::object_opt")]
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub catalog: Option<Catalog>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 0))]
    pub revision: Option<i64>,
}

/// The body of `PUT /api/v1/catalog`: the shape `GET` answers, or a bare catalog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"catalog": {"tables": [
    {"name": "public.customers", "columns": [{"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"}, {"name": "email", "type": "text"}, {"name": "ssn", "type": "text"}]},
    {"name": "public.orders", "columns": [{"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"}, {"name": "status", "type": "text"}, {"name": "amount", "type": "numeric(12,2)"}]}]}})))]
#[serde(untagged)]
pub enum CatalogPut {
    Document(CatalogDocument),
    Bare(Catalog),
}

/// The four answers, in precedence order `block` > `row_filter` > `mask` > `allow`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Mask,
    RowFilter,
    Block,
}

/// A masked column and the rule that masked it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MaskedColumn {
    pub table: String,
    pub column: String,
    pub kind: String,
    pub policy: String,
    pub rule_index: u32,
}

/// A row filter applied, after context substitution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppliedRowFilter {
    pub table: String,
    pub predicate: String,
    pub policy: String,
    pub rule_index: u32,
}

/// A policy that took part in an evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MatchedPolicy {
    pub id: String,
    /// `enforce` or `monitor`.
    pub mode: String,
}

/// The rule that blocked a statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BlockedBy {
    pub policy: String,
    pub rule_index: u32,
}

/// A stateful limit of a matched policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LimitNote {
    pub policy: String,
    pub rule_index: u32,
    /// `queries_per_hour`, `queries_per_day` or `max_execution_ms`.
    pub kind: String,
    pub value: u64,
}

/// What a `monitor` policy's rule would have done, had it been enforced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MonitoredRule {
    pub policy: String,
    pub rule_index: u32,
    /// `block`, `row_filter` or `mask`.
    pub would: Decision,
    /// The table filtered or whose column is masked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub table: Option<String>,
    /// The masked column.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub column: Option<String>,
    /// The block's reason, the filter's predicate, or the mask's kind.
    pub detail: String,
}

/// An exception that applied to an evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AppliedException {
    pub id: String,
    pub policy_id: String,
}

/// The engine's verdict (SPEC §3) and what the server adds to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "verdict": "row_filter", "rule": "row_filter", "reason": "rows of public.orders are filtered", "hint": "",
    "masked_columns": [], "row_filters": [{"table": "public.orders", "predicate": "tenant_id = 42", "policy": "tenant-isolation", "rule_index": 0}],
    "row_filter_predicate": "tenant_id = 42",
    "rewritten_sql": "SELECT * FROM (SELECT * FROM public.orders WHERE tenant_id = 42) AS orders",
    "matched_policies": [{"id": "tenant-isolation", "mode": "enforce"}], "notes": [], "explanation": [],
    "evaluation_id": "ev_01", "exceptions_applied": []
})))]
pub struct VerdictBody {
    pub verdict: Decision,
    /// The deciding rule's type, or a block reason such as `parse_error`.
    pub rule: String,
    pub reason: String,
    pub hint: String,
    pub masked_columns: Vec<MaskedColumn>,
    pub row_filters: Vec<AppliedRowFilter>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub row_filter_predicate: Option<String>,
    /// Present unless the verdict is `block`: what the caller runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub rewritten_sql: Option<String>,
    pub matched_policies: Vec<MatchedPolicy>,
    pub notes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub limits: Option<Vec<LimitNote>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub blocked_by: Option<BlockedBy>,
    /// What `monitor` policies would have done (absent when none would have acted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub monitored: Option<Vec<MonitoredRule>>,
    pub explanation: Vec<String>,
    /// `/evaluate` only: the logged evaluation's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub evaluation_id: Option<String>,
    /// Dry runs only: the ids of the policies evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub policies: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub exceptions_applied: Option<Vec<AppliedException>>,
    /// `/evaluate` only, when an enforced policy sets `max_execution_ms`: the statement
    /// timeout the caller sets before running `rewritten_sql` (the lowest such limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub statement_timeout_ms: Option<u64>,
}

/// Who runs a statement (SPEC §2); every field may be absent or null.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"user": "alice", "roles": ["analyst"], "attributes": {"tenant_id": 42, "region": "EU"}, "purpose": "research"})))]
#[serde(deny_unknown_fields)]
pub struct Context {
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub roles: Option<Vec<String>>,
    /// `ctx.attr.<name>` in predicates: strings and numbers become typed literals.
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<HashMap<String, serde_json::Value>>))]
    pub attributes: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub purpose: Option<String>,
    #[serde(default)]
    pub workspace: Option<String>,
    #[serde(default)]
    pub data_source: Option<String>,
    #[serde(default)]
    pub break_glass: Option<bool>,
    #[serde(default)]
    pub dataset: Option<String>,
    #[serde(default)]
    pub query_id: Option<String>,
}

/// A whole draft policy set: without `catalog`, the organization's catalog is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PolicySetDraft {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::strict::object_opt"
    )]
    pub catalog: Option<Catalog>,
    #[serde(deserialize_with = "crate::strict::objects")]
    #[cfg_attr(feature = "openapi", schema(max_items = 200))]
    pub policies: Vec<crate::policy::Policy>,
}
