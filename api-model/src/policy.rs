//! A policy as the API takes it and returns it (SPEC §1, with the API's stricter types:
//! lists are arrays of strings, label values are strings, `name` and `rules` required).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The longest policy name, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest description (of a policy or a rule), in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 4000;
/// The longest row filter predicate, in characters.
pub const MAX_PREDICATE_CHARS: usize = 16_384;
/// The most rules one policy holds.
pub const MAX_RULES: usize = 200;
/// The most items in one list (tags, labels, subjects, columns, functions).
pub const MAX_ITEMS: usize = 100;
/// The longest short string (a tag, a label, a subject, a table or column name), in characters.
pub const MAX_SHORT_CHARS: usize = 256;

/// How a policy acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Applied.
    Enforce,
    /// Computed and reported in `matched_policies`, never applied.
    Monitor,
}

/// How much of an evaluation the log keeps for a policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum AuditLevel {
    None,
    Normal,
    Verbose,
}

/// What a policy is for (seed 000's categories); when a policy does not say, the server
/// derives it from its rules (see `PolicyType::of_rules`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PolicyType {
    DataMasking,
    AccessControl,
    RowLevelSecurity,
    ColumnLevelSecurity,
    QueryRestriction,
    QueryLimit,
    DataRetention,
    Other,
}

impl PolicyType {
    /// Every type with its JSON name.
    pub const ALL: [(&'static str, PolicyType); 8] = [
        ("data_masking", PolicyType::DataMasking),
        ("access_control", PolicyType::AccessControl),
        ("row_level_security", PolicyType::RowLevelSecurity),
        ("column_level_security", PolicyType::ColumnLevelSecurity),
        ("query_restriction", PolicyType::QueryRestriction),
        ("query_limit", PolicyType::QueryLimit),
        ("data_retention", PolicyType::DataRetention),
        ("other", PolicyType::Other),
    ];

    /// Its JSON name.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, t)| *t == self)
            .map(|(n, _)| *n)
            .unwrap_or("other")
    }

    /// The type a policy's rule types suggest: one kind of rule gives its type (`deny` of
    /// columns is column-level security, of tables access control), a mix is `other`.
    pub fn of_rules<'a>(rules: impl IntoIterator<Item = (&'a str, bool)>) -> PolicyType {
        let mut found: Option<PolicyType> = None;
        for (rule_type, has_columns) in rules {
            let t = match rule_type {
                "row_filter" => PolicyType::RowLevelSecurity,
                "column_mask" => PolicyType::DataMasking,
                "deny" if has_columns => PolicyType::ColumnLevelSecurity,
                "deny" => PolicyType::AccessControl,
                "query_restriction" => PolicyType::QueryRestriction,
                "query_limit" => PolicyType::QueryLimit,
                "data_retention" => PolicyType::DataRetention,
                _ => PolicyType::Other,
            };
            match found {
                None => found = Some(t),
                Some(f) if f == t => {}
                Some(_) => return PolicyType::Other,
            }
        }
        found.unwrap_or(PolicyType::Other)
    }
}

/// What a violation of the policy should do (seed 002): be logged, raise an alert, or be
/// blocked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PolicyAction {
    Log,
    Alert,
    Block,
}

/// How serious a violation of the policy is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Risk {
    Low,
    Medium,
    High,
}

/// Where a policy came from (seed 001): written by hand, imported from another system,
/// or derived by a tool. Default `manual`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum PolicyOrigin {
    Manual,
    Imported,
    Derived,
}

/// The longest `external_id`, in characters.
pub const MAX_EXTERNAL_ID_CHARS: usize = 256;

/// Who a policy names in `except` (or `applies_to`): each list matches the context's field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"users": ["dpo"], "roles": ["auditor"]})))]
#[serde(deny_unknown_fields)]
pub struct Subjects {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub users: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub roles: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub workspaces: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub data_sources: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub purposes: Option<Vec<String>>,
    /// Matched against the context's `dataset`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub datasets: Option<Vec<String>>,
    /// Matched against the context's `query_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub queries: Option<Vec<String>>,
}

impl Subjects {
    fn lists(&self) -> [(&'static str, &Option<Vec<String>>); 7] {
        [
            ("users", &self.users),
            ("roles", &self.roles),
            ("workspaces", &self.workspaces),
            ("data_sources", &self.data_sources),
            ("purposes", &self.purposes),
            ("datasets", &self.datasets),
            ("queries", &self.queries),
        ]
    }
}

/// Statement kinds a `deny` rule can narrow to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Select,
    Insert,
    Update,
    Delete,
    Ddl,
}

/// Statements that `require_where` can name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum WhereStatement {
    Update,
    Delete,
}

/// Kinds of statement, as `query_restriction.statements` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum StatementKind {
    Select,
    Insert,
    Update,
    Delete,
    Merge,
    Truncate,
    CopyFrom,
    Ddl,
    Transaction,
    Session,
    Explain,
    Call,
    Do,
    Prepare,
    Listen,
    Lock,
    Maintenance,
    Other,
}

/// `true` (both UPDATE and DELETE), `false`, or the statements that need a WHERE.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum RequireWhere {
    All(bool),
    Some(Vec<WhereStatement>),
}

/// A mask kind by name: the kind's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum MaskKind {
    Null,
    /// Also read from `full`, its synonym.
    #[serde(alias = "full")]
    Redact,
    Hash,
    Partial,
    Email,
    DateYear,
}

/// A mask with its options (SPEC §5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Mask {
    /// NULL instead of the value.
    Null,
    /// A fixed text instead of the value (`full` is read as `redact`).
    #[serde(alias = "full")]
    Redact {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(max_length = 256))]
        replacement: Option<String>,
    },
    /// A SHA-256 digest of the value.
    Hash,
    /// The first and last characters kept, the rest padded.
    Partial {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 10000))]
        show_first: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 10000))]
        show_last: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 1))]
        pad: Option<String>,
    },
    /// The e-mail's domain kept, the local part hidden.
    Email,
    /// A date truncated to its year.
    DateYear,
    /// A constant instead of the value.
    Constant {
        /// A string, number, boolean or null.
        value: Value,
    },
}

/// A mask: a kind's name, or an object with `kind` and options.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum MaskSpec {
    Kind(MaskKind),
    Options(Mask),
}

/// One rule of a policy, by its `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant_id"})))]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Rule {
    /// Rows of `table` the predicate does not admit are invisible.
    RowFilter {
        #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
        table: String,
        /// A SQL boolean expression over the table's columns and `ctx.user`, `ctx.roles`,
        /// `ctx.purpose`, `ctx.workspace`, `ctx.data_source`, `ctx.attr.<name>`.
        #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 16384))]
        predicate: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(max_length = 4000))]
        description: Option<String>,
    },
    /// `column` of `table` is seen through `mask`.
    ColumnMask {
        #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
        table: String,
        #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
        column: String,
        mask: MaskSpec,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(max_length = 4000))]
        description: Option<String>,
    },
    /// The table, or some of its columns, may not be referenced.
    Deny {
        #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
        table: String,
        /// Absent: the whole table.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 100))]
        columns: Option<Vec<String>>,
        /// Absent: every operation.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operations: Option<Vec<Operation>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(max_length = 4000))]
        description: Option<String>,
    },
    /// Rows whose `column` is older than `keep` (or NULL) are hidden from reads and from
    /// UPDATE and DELETE; rows an INSERT adds are not checked.
    DataRetention {
        #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
        table: String,
        /// The row's date or timestamp.
        #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
        column: String,
        /// A whole number and a unit (hour, day, week, month, year), such as `90 days`.
        #[cfg_attr(
            feature = "openapi",
            schema(min_length = 1, max_length = 64, example = "90 days")
        )]
        keep: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(max_length = 4000))]
        description: Option<String>,
    },
    /// Statement kinds, denied functions, required WHERE clauses.
    QueryRestriction {
        /// Only these statement kinds may run.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        statements: Option<Vec<StatementKind>>,
        /// Denied beyond the built-in list; a trailing `*` matches a prefix.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(max_items = 100))]
        denied_functions: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        require_where: Option<RequireWhere>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(max_length = 4000))]
        description: Option<String>,
    },
    /// Row and join limits, and the stateful limits the server counts.
    QueryLimit {
        /// The outermost SELECT returns at most this many rows.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(minimum = 0))]
        max_rows: Option<i32>,
        /// JOINs plus extra FROM items in the whole statement.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(minimum = 0))]
        max_joins: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(minimum = 1))]
        queries_per_hour: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(minimum = 1))]
        queries_per_day: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(minimum = 1))]
        max_execution_ms: Option<i32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[cfg_attr(feature = "openapi", schema(max_length = 4000))]
        description: Option<String>,
    },
}

/// Where a policy applies: one subject or scope.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({"kind": "role", "value": "analyst"})))]
#[serde(deny_unknown_fields)]
pub struct AssignmentSpec {
    /// `everyone`, `user`, `role`, `workspace`, `data_source`, `purpose`, `dataset` or
    /// `query`.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^(everyone|user|role|workspace|data_source|purpose|dataset|query)$")
    )]
    pub kind: String,
    /// The user name, role name, workspace, data source, purpose, dataset or query id;
    /// `*` for `everyone`.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 256))]
    pub value: String,
}

/// The body of `POST /api/v1/policies/{id}/assignments`: one assignment or several.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!([{"kind": "role", "value": "analyst"}, {"kind": "user", "value": "bob"}])))]
#[serde(untagged)]
pub enum AssignmentInput {
    One(#[serde(deserialize_with = "crate::strict::object")] AssignmentSpec),
    /// At least one, at most 100.
    Many(#[serde(deserialize_with = "crate::strict::objects")] Vec<AssignmentSpec>),
}

/// A policy as written: the body of `POST /api/v1/policies` (and of drafts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(example = json!({
    "id": "tenant-isolation", "name": "Tenant isolation",
    "description": "Analysts see only the rows of their own tenant",
    "priority": 100, "mode": "enforce", "except": {"users": ["dpo"]},
    "compliance_tags": ["soc2"], "labels": {"team": "data"},
    "assignments": [{"kind": "role", "value": "analyst"}],
    "rules": [{"type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant_id"}]
})))]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Letters, digits, `.`, `_`, `:`, `-`, starting with a letter or digit; not
    /// `dashboard` or `replay`.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = "^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
    )]
    pub id: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 200))]
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_length = 4000))]
    pub description: Option<String>,
    /// What the policy is for; derived from its rules when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_type: Option<PolicyType>,
    /// What a violation does (reported with violations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<PolicyAction>,
    /// How serious a violation is (reported with violations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub risk: Option<Risk>,
    /// Default true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Higher first; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    /// Who is exempt.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::strict::object_opt"
    )]
    pub except: Option<Subjects>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub break_glass_allowed: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub compliance_tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub purpose_tags: Option<Vec<String>>,
    /// String values by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audit_level: Option<AuditLevel>,
    /// Seed 001: the table the policy is about. The table of the rules compiled from
    /// `row_filter_dsl` and `column_masks` (required with them); lists filter on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 256, example = "orders")
    )]
    pub table_name: Option<String>,
    /// Seed 001: a row filter as a JSON predicate tree, compiled to a `row_filter` rule on
    /// `table_name` (appended after `rules`). One operator per node: `and`/`or` (a
    /// non-empty array of nodes), `not` (a node), `eq`, `ne`, `lt`, `le`, `gt`, `ge`,
    /// `like` (`[column, operand]`), `in`/`not_in` (`[column, [operand, …]]` or
    /// `[column, {"ctx": list}]`), `is_null`/`is_not_null` (a column). A column is a
    /// string or `{"col": name}`; an operand is a string, number or boolean value,
    /// `{"ctx": "user" | "roles" | "purpose" | "workspace" | "data_source" |
    /// "attr.<name>"}`, `{"col": name}` or `{"value": v}`. Problems are answered with the
    /// node's JSON path (`row_filter_dsl.and[1].in[1]`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object,
        example = json!({"and": [{"eq": ["tenant_id", {"ctx": "attr.tenant_id"}]}, {"in": ["status", ["open", "paid"]]}]})))]
    pub row_filter_dsl: Option<Value>,
    /// Seed 001: masks by column of `table_name`, each compiled to a `column_mask` rule
    /// (appended after `rules`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(
        example = json!({"email": "email", "ssn": {"kind": "partial", "show_last": 4}})))]
    pub column_masks: Option<BTreeMap<String, MaskSpec>>,
    /// Seed 001: the policy's id in another system; unique among the organization's
    /// policies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(
        feature = "openapi",
        schema(min_length = 1, max_length = 256, example = "collibra:4711")
    )]
    pub external_id: Option<String>,
    /// Seed 001: where the policy came from; `manual` when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<PolicyOrigin>,
    #[cfg_attr(feature = "openapi", schema(max_items = 200))]
    pub rules: Vec<Rule>,
    /// Create only: where the policy applies (stored apart from the policy).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::strict::objects_opt"
    )]
    #[cfg_attr(feature = "openapi", schema(max_items = 100))]
    pub assignments: Option<Vec<AssignmentSpec>>,
    /// Create only: a policy file's `applies_to`, turned into assignments.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "crate::strict::object_opt"
    )]
    pub applies_to: Option<Subjects>,
}

/// A problem with a request body: the engine's [`Problem`], with its kind, the field (a
/// JSON path such as `rules[2].predicate`) and what is wrong.
pub use verdict_engine::{Problem, ProblemKind};

/// Ids that name endpoints beside `/api/v1/policies/{id}`.
pub const RESERVED_IDS: &[&str] = &["dashboard", "replay", "compile"];
/// The longest policy id (ids appear in URLs).
pub const MAX_ID_LEN: usize = 128;

/// Whether a policy id is safe in a URL path.
pub fn id_ok(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_ID_LEN
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'))
        && id.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
        && !RESERVED_IDS.contains(&id)
}

struct Checker {
    problems: Vec<Problem>,
}

impl Checker {
    fn text(&mut self, field: &str, text: &str, min: usize, max: usize) {
        if text.contains('\0') {
            self.problems.push(Problem::new(
                ProblemKind::InvalidValue,
                field,
                "must not contain NUL characters",
            ));
        }
        let n = text.chars().count();
        if n < min || (min > 0 && text.trim().is_empty()) {
            self.problems.push(Problem::new(
                ProblemKind::InvalidValue,
                field,
                "must not be empty",
            ));
        } else if n > max {
            self.problems.push(Problem::new(
                ProblemKind::InvalidValue,
                field,
                format!("is {n} characters long; at most {max} are allowed"),
            ));
        }
    }

    fn opt_text(&mut self, field: &str, text: Option<&String>, max: usize) {
        if let Some(t) = text {
            self.text(field, t, 0, max);
        }
    }

    fn list(&mut self, field: &str, items: Option<&Vec<String>>) {
        let Some(items) = items else { return };
        if items.len() > MAX_ITEMS {
            self.problems.push(Problem::new(
                ProblemKind::InvalidValue,
                field,
                format!("has {} items; at most {MAX_ITEMS} are allowed", items.len()),
            ));
        }
        for (i, item) in items.iter().enumerate() {
            self.text(&format!("{field}[{i}]"), item, 1, MAX_SHORT_CHARS);
        }
    }

    fn subjects(&mut self, field: &str, subjects: Option<&Subjects>) {
        if let Some(s) = subjects {
            for (name, list) in s.lists() {
                self.list(&format!("{field}.{name}"), list.as_ref());
            }
        }
    }
}

impl Policy {
    /// The bounds a policy must keep beyond its types: id form, non-blank name, lengths of
    /// texts and lists. The engine validates the rest (tables, columns, predicates).
    pub fn problems(&self) -> Vec<Problem> {
        let mut c = Checker {
            problems: Vec::new(),
        };
        if !id_ok(&self.id) {
            c.problems.push(Problem::new(
                ProblemKind::InvalidValue,
                "id",
                format!(
                    "use 1–{MAX_ID_LEN} letters, digits, `.`, `_`, `:` or `-`, starting with a letter or digit, other than {}",
                    RESERVED_IDS.join(", ")
                ),
            ));
        }
        c.text("name", &self.name, 1, MAX_NAME_CHARS);
        c.opt_text(
            "description",
            self.description.as_ref(),
            MAX_DESCRIPTION_CHARS,
        );
        c.subjects("except", self.except.as_ref());
        c.subjects("applies_to", self.applies_to.as_ref());
        c.list("compliance_tags", self.compliance_tags.as_ref());
        c.list("purpose_tags", self.purpose_tags.as_ref());
        if let Some(labels) = &self.labels {
            if labels.len() > MAX_ITEMS {
                c.problems.push(Problem::new(
                    ProblemKind::InvalidValue,
                    "labels",
                    format!(
                        "has {} labels; at most {MAX_ITEMS} are allowed",
                        labels.len()
                    ),
                ));
            }
            for (k, v) in labels {
                c.text(&format!("labels.{k}"), k, 1, MAX_SHORT_CHARS);
                c.text(&format!("labels.{k}"), v, 0, MAX_SHORT_CHARS);
            }
        }
        if let Some(t) = &self.table_name {
            c.text("table_name", t, 1, MAX_SHORT_CHARS);
        }
        if let Some(e) = &self.external_id {
            c.text("external_id", e, 1, MAX_EXTERNAL_ID_CHARS);
        }
        if let Some(masks) = &self.column_masks {
            if masks.len() > MAX_ITEMS {
                c.problems.push(Problem::new(
                    ProblemKind::InvalidValue,
                    "column_masks",
                    format!(
                        "has {} columns; at most {MAX_ITEMS} are allowed",
                        masks.len()
                    ),
                ));
            }
            for k in masks.keys() {
                c.text(&format!("column_masks.{k}"), k, 1, MAX_SHORT_CHARS);
            }
            if !masks.is_empty() && self.table_name.is_none() {
                c.problems.push(Problem::new(
                    ProblemKind::Missing,
                    "column_masks",
                    "needs `table_name`: the table its rules are about",
                ));
            }
        }
        if self.row_filter_dsl.is_some() && self.table_name.is_none() {
            c.problems.push(Problem::new(
                ProblemKind::Missing,
                "row_filter_dsl",
                "needs `table_name`: the table its rules are about",
            ));
        }
        if let Some(list) = &self.assignments {
            if list.len() > MAX_ITEMS {
                c.problems.push(Problem::new(
                    ProblemKind::InvalidValue,
                    "assignments",
                    format!("has {} items; at most {MAX_ITEMS} are allowed", list.len()),
                ));
            }
        }
        if self.rules.len() > MAX_RULES {
            c.problems.push(Problem::new(
                ProblemKind::InvalidValue,
                "rules",
                format!(
                    "has {} rules; at most {MAX_RULES} are allowed",
                    self.rules.len()
                ),
            ));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let at = |f: &str| format!("rules[{i}].{f}");
            match rule {
                Rule::RowFilter {
                    table,
                    predicate,
                    description,
                } => {
                    c.text(&at("table"), table, 1, MAX_SHORT_CHARS);
                    c.text(&at("predicate"), predicate, 1, MAX_PREDICATE_CHARS);
                    c.opt_text(
                        &at("description"),
                        description.as_ref(),
                        MAX_DESCRIPTION_CHARS,
                    );
                }
                Rule::ColumnMask {
                    table,
                    column,
                    mask,
                    description,
                } => {
                    c.text(&at("table"), table, 1, MAX_SHORT_CHARS);
                    c.text(&at("column"), column, 1, MAX_SHORT_CHARS);
                    c.opt_text(
                        &at("description"),
                        description.as_ref(),
                        MAX_DESCRIPTION_CHARS,
                    );
                    if let MaskSpec::Options(m) = mask {
                        match m {
                            Mask::Redact {
                                replacement: Some(r),
                            } => c.text(&at("mask.replacement"), r, 0, MAX_SHORT_CHARS),
                            Mask::Partial {
                                show_first,
                                show_last,
                                pad,
                            } => {
                                for (f, n) in [("show_first", show_first), ("show_last", show_last)]
                                {
                                    if n.is_some_and(|n| !(0..=10_000).contains(&n)) {
                                        c.problems.push(Problem::new(
                                            ProblemKind::InvalidValue,
                                            at(&format!("mask.{f}")),
                                            "must be between 0 and 10000",
                                        ));
                                    }
                                }
                                if let Some(p) = pad {
                                    if p.chars().count() != 1 {
                                        c.problems.push(Problem::new(
                                            ProblemKind::InvalidValue,
                                            at("mask.pad"),
                                            "must be one character",
                                        ));
                                    }
                                }
                            }
                            Mask::Constant { value } => {
                                if value.is_array() || value.is_object() {
                                    c.problems.push(Problem::new(
                                        ProblemKind::InvalidValue,
                                        at("mask.value"),
                                        "must be a string, number, boolean or null",
                                    ));
                                } else if let Some(s) = value.as_str() {
                                    c.text(&at("mask.value"), s, 0, MAX_SHORT_CHARS);
                                }
                            }
                            _ => {}
                        }
                    }
                }
                Rule::DataRetention {
                    table,
                    column,
                    keep,
                    description,
                } => {
                    c.text(&at("table"), table, 1, MAX_SHORT_CHARS);
                    c.text(&at("column"), column, 1, MAX_SHORT_CHARS);
                    c.text(&at("keep"), keep, 1, 64);
                    c.opt_text(
                        &at("description"),
                        description.as_ref(),
                        MAX_DESCRIPTION_CHARS,
                    );
                }
                Rule::Deny {
                    table,
                    columns,
                    description,
                    ..
                } => {
                    c.text(&at("table"), table, 1, MAX_SHORT_CHARS);
                    if columns.as_ref().is_some_and(Vec::is_empty) {
                        c.problems.push(Problem::new(
                            ProblemKind::InvalidValue,
                            at("columns"),
                            "must name at least one column (leave it out for the whole table)",
                        ));
                    }
                    c.list(&at("columns"), columns.as_ref());
                    c.opt_text(
                        &at("description"),
                        description.as_ref(),
                        MAX_DESCRIPTION_CHARS,
                    );
                }
                Rule::QueryRestriction {
                    denied_functions,
                    description,
                    ..
                } => {
                    c.list(&at("denied_functions"), denied_functions.as_ref());
                    c.opt_text(
                        &at("description"),
                        description.as_ref(),
                        MAX_DESCRIPTION_CHARS,
                    );
                }
                Rule::QueryLimit {
                    max_rows,
                    max_joins,
                    queries_per_hour,
                    queries_per_day,
                    max_execution_ms,
                    description,
                } => {
                    for (f, n, min) in [
                        ("max_rows", max_rows, 0),
                        ("max_joins", max_joins, 0),
                        ("queries_per_hour", queries_per_hour, 1),
                        ("queries_per_day", queries_per_day, 1),
                        ("max_execution_ms", max_execution_ms, 1),
                    ] {
                        if n.is_some_and(|n| n < min) {
                            c.problems.push(Problem::new(
                                ProblemKind::InvalidValue,
                                at(f),
                                format!("must be at least {min}"),
                            ));
                        }
                    }
                    c.opt_text(
                        &at("description"),
                        description.as_ref(),
                        MAX_DESCRIPTION_CHARS,
                    );
                }
            }
        }
        c.problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_types_of_rules() {
        use PolicyType::*;
        let of = |rules: &[(&str, bool)]| PolicyType::of_rules(rules.iter().copied());
        assert_eq!(
            of(&[("row_filter", false), ("row_filter", false)]),
            RowLevelSecurity
        );
        assert_eq!(of(&[("column_mask", false)]), DataMasking);
        assert_eq!(of(&[("deny", true)]), ColumnLevelSecurity);
        assert_eq!(of(&[("deny", false)]), AccessControl);
        assert_eq!(of(&[("deny", false), ("deny", true)]), Other);
        assert_eq!(of(&[]), Other);
        for (name, t) in PolicyType::ALL {
            assert_eq!(t.as_str(), name);
            assert_eq!(serde_json::to_value(t).unwrap(), serde_json::json!(name));
        }
    }

    #[test]
    fn full_is_read_as_redact() {
        for mask in [
            serde_json::json!("full"),
            serde_json::json!({"kind": "full", "replacement": "x"}),
        ] {
            let spec: MaskSpec = serde_json::from_value(mask).unwrap();
            let back = serde_json::to_value(&spec).unwrap();
            let kind = back.get("kind").unwrap_or(&back);
            assert_eq!(kind, "redact");
        }
    }

    #[test]
    fn problems_name_their_fields() {
        let policy: Policy = serde_json::from_value(serde_json::json!({
            "id": "dashboard", "name": " ", "description": "d".repeat(4001),
            "labels": {"k": "v".repeat(257)},
            "rules": [
                {"type": "row_filter", "table": "t", "predicate": ""},
                {"type": "query_limit", "queries_per_hour": 0, "max_rows": -1},
                {"type": "column_mask", "table": "t", "column": "c", "mask": {"kind": "partial", "pad": "ab", "show_last": 10001}}
            ]
        }))
        .unwrap();
        let fields: Vec<String> = policy.problems().into_iter().map(|p| p.field).collect();
        for f in [
            "id",
            "name",
            "description",
            "labels.k",
            "rules[0].predicate",
            "rules[1].queries_per_hour",
            "rules[1].max_rows",
            "rules[2].mask.pad",
            "rules[2].mask.show_last",
        ] {
            assert!(fields.iter().any(|x| x == f), "{f} missing from {fields:?}");
        }
        let ok: Policy = serde_json::from_value(serde_json::json!({
            "id": "ok", "name": "OK", "rules": [{"type": "deny", "table": "t"}]
        }))
        .unwrap();
        assert!(ok.problems().is_empty());
    }
}
