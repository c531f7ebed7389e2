//! Policy sets (SPEC §1): the model, loading from JSON or YAML, and validation.
//!
//! Loading never half-loads: either every policy validates and a [`PolicySet`] comes back,
//! or an [`InputError`](crate::InputError) lists every [`Problem`] found.

pub mod dsl;
mod load;
mod predicate;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::catalog::{Catalog, TableName};

pub use load::parse_policy_set;
pub(crate) use predicate::ReplaceCtxRefs;
pub use predicate::{is_sql_value_function, CtxRef, Predicate, Slot, MAX_PREDICATE_CHARS};

/// One validation problem, located as precisely as the input allows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// The policy's id, when the problem is inside a policy that has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// The index of the policy in the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy_index: Option<usize>,
    /// The index of the rule inside the policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_index: Option<usize>,
    /// What kind of problem it is, for programs (the message is for people).
    pub kind: ProblemKind,
    /// The field, as a path (`rules[2].mask.show_last`).
    pub field: String,
    /// What is wrong, in lowercase without a final period.
    pub message: String,
    /// 1-based line inside the predicate, or inside the file for syntax errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// 1-based column inside the predicate, or inside the file for syntax errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub column: Option<u64>,
}

/// What kind of validation problem a [`Problem`] is: one closed set, so that editors and
/// clients can react to a kind (highlight an unknown field, offer the catalog's columns)
/// without reading messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The file is not valid JSON or YAML (`line`/`column` point into the file).
    Syntax,
    /// A field the format does not have (often a misspelling).
    UnknownField,
    /// A required field is absent.
    Missing,
    /// A field has the wrong JSON type (a number where a string belongs, …).
    WrongType,
    /// A field has the right type but a value the format does not allow.
    InvalidValue,
    /// Something that must be unique appears twice (policy ids, catalog tables, …).
    Duplicate,
    /// A predicate does not parse or uses what predicates may not (`line`/`column` point
    /// into the predicate).
    Predicate,
    /// The catalog does not have what the field names, or its type does not fit.
    Catalog,
}

impl Problem {
    /// A problem of a field outside any policy of a set: a request body's field, a seed
    /// field, a test suite's field.
    pub fn new(kind: ProblemKind, field: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            policy: None,
            policy_index: None,
            rule_index: None,
            kind,
            field: field.into(),
            message: message.into(),
            line: None,
            column: None,
        }
    }
}

impl ProblemKind {
    /// The kind of a problem serde reported while reading a document into a type, from the
    /// start of its message (serde's own wording: `unknown field`, `missing field`,
    /// `invalid type`; anything else is a value the type does not take).
    pub fn of_serde_message(message: &str) -> ProblemKind {
        if message.starts_with("unknown field") {
            ProblemKind::UnknownField
        } else if message.starts_with("missing field") {
            ProblemKind::Missing
        } else if message.starts_with("invalid type") {
            ProblemKind::WrongType
        } else {
            ProblemKind::InvalidValue
        }
    }

    /// Every kind, in declaration order.
    pub const ALL: [ProblemKind; 8] = [
        ProblemKind::Syntax,
        ProblemKind::UnknownField,
        ProblemKind::Missing,
        ProblemKind::WrongType,
        ProblemKind::InvalidValue,
        ProblemKind::Duplicate,
        ProblemKind::Predicate,
        ProblemKind::Catalog,
    ];

    /// The kind's JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::Syntax => "syntax",
            ProblemKind::UnknownField => "unknown_field",
            ProblemKind::Missing => "missing",
            ProblemKind::WrongType => "wrong_type",
            ProblemKind::InvalidValue => "invalid_value",
            ProblemKind::Duplicate => "duplicate",
            ProblemKind::Predicate => "predicate",
            ProblemKind::Catalog => "catalog",
        }
    }
}

/// `enforce` applies a policy; `monitor` computes and reports it without applying it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Enforce,
    Monitor,
}

impl Mode {
    /// Every mode, in declaration order.
    pub const ALL: [Mode; 2] = [Mode::Enforce, Mode::Monitor];

    /// The mode of a JSON name.
    pub fn from_name(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// The mode's JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Monitor => "monitor",
        }
    }
}

/// How much of an evaluation the audit trail keeps for this policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditLevel {
    None,
    Normal,
    Verbose,
}

/// Who and where a policy applies to (`applies_to`) or does not (`except`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Subjects {
    pub users: Vec<String>,
    pub roles: Vec<String>,
    pub workspaces: Vec<String>,
    pub data_sources: Vec<String>,
    pub purposes: Vec<String>,
    /// Datasets, matched against the context's `dataset`.
    pub datasets: Vec<String>,
    /// Saved queries, matched against the context's `query_id`.
    pub queries: Vec<String>,
}

impl Subjects {
    /// Whether no list has an entry.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
            && self.roles.is_empty()
            && self.workspaces.is_empty()
            && self.data_sources.is_empty()
            && self.purposes.is_empty()
            && self.datasets.is_empty()
            && self.queries.is_empty()
    }

    /// Appends every entry of `other` to the matching list.
    pub fn extend(&mut self, other: &Subjects) {
        self.users.extend_from_slice(&other.users);
        self.roles.extend_from_slice(&other.roles);
        self.workspaces.extend_from_slice(&other.workspaces);
        self.data_sources.extend_from_slice(&other.data_sources);
        self.purposes.extend_from_slice(&other.purposes);
        self.datasets.extend_from_slice(&other.datasets);
        self.queries.extend_from_slice(&other.queries);
    }
}

/// The kinds of assignment a policy can be assigned by, each with the [`Subjects`] list
/// (a field name of `applies_to`) an assignment of that kind fills. `everyone` (value `*`)
/// activates a policy for every principal and fills no list, hence `None`; `dataset` and
/// `query` fill `datasets` and `queries`, matched against the context's `dataset` and
/// `query_id`.
pub const ASSIGNMENT_KINDS: &[(&str, Option<&str>)] = &[
    ("everyone", None),
    ("user", Some("users")),
    ("role", Some("roles")),
    ("workspace", Some("workspaces")),
    ("data_source", Some("data_sources")),
    ("purpose", Some("purposes")),
    ("dataset", Some("datasets")),
    ("query", Some("queries")),
];

/// The `applies_to` object that assignments, as `(kind, value)` pairs, make: each
/// [`ASSIGNMENT_KINDS`] list with the values of its kind, in the order given; kinds that
/// fill no list (`everyone`) and unknown kinds add nothing, so the object may be empty.
pub fn applies_to_of<'a>(
    assignments: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> serde_json::Map<String, Json> {
    let pairs: Vec<(&str, &str)> = assignments.into_iter().collect();
    let mut applies_to = serde_json::Map::new();
    for (kind, list) in ASSIGNMENT_KINDS {
        let Some(list) = list else { continue };
        let values: Vec<Json> = pairs
            .iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, v)| Json::String((*v).to_string()))
            .collect();
        if !values.is_empty() {
            applies_to.insert((*list).to_string(), Json::Array(values));
        }
    }
    applies_to
}

/// The kinds of statement a `deny` rule can narrow to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    Select,
    Insert,
    Update,
    Delete,
    Ddl,
}

impl Operation {
    /// Every operation, in their JSON spelling.
    pub const ALL: [(&'static str, Operation); 5] = [
        ("select", Operation::Select),
        ("insert", Operation::Insert),
        ("update", Operation::Update),
        ("delete", Operation::Delete),
        ("ddl", Operation::Ddl),
    ];
}

/// A column mask (SPEC §5).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mask {
    Null,
    Redact {
        replacement: Option<String>,
    },
    Hash,
    Partial {
        show_first: u32,
        show_last: u32,
        pad: String,
    },
    Email,
    DateYear,
    Constant {
        value: Json,
    },
}

/// The kinds of [`Mask`], without their parameters: one closed set for loading, listing
/// and naming them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MaskKind {
    Null,
    Redact,
    Hash,
    Partial,
    Email,
    DateYear,
    Constant,
}

impl MaskKind {
    /// Every kind, in the order the documentation lists them.
    pub const ALL: [MaskKind; 7] = [
        MaskKind::Null,
        MaskKind::Redact,
        MaskKind::Hash,
        MaskKind::Partial,
        MaskKind::Email,
        MaskKind::DateYear,
        MaskKind::Constant,
    ];

    /// The kind's JSON name.
    pub const fn as_str(self) -> &'static str {
        match self {
            MaskKind::Null => "null",
            MaskKind::Redact => "redact",
            MaskKind::Hash => "hash",
            MaskKind::Partial => "partial",
            MaskKind::Email => "email",
            MaskKind::DateYear => "date_year",
            MaskKind::Constant => "constant",
        }
    }

    /// Other names a policy may use for a kind (`full` is `redact`, as other products
    /// call it); read as that kind, never written.
    pub const SYNONYMS: [(&'static str, MaskKind); 1] = [("full", MaskKind::Redact)];

    /// The kind of a JSON name or synonym.
    pub fn from_name(name: &str) -> Option<MaskKind> {
        MaskKind::ALL
            .into_iter()
            .find(|k| k.as_str() == name)
            .or_else(|| {
                MaskKind::SYNONYMS
                    .into_iter()
                    .find_map(|(n, k)| (n == name).then_some(k))
            })
    }

    /// The fields a mask object of this kind may have.
    pub const fn fields(self) -> &'static [&'static str] {
        match self {
            MaskKind::Redact => &["kind", "replacement"],
            MaskKind::Partial => &["kind", "show_first", "show_last", "pad"],
            MaskKind::Constant => &["kind", "value"],
            MaskKind::Null | MaskKind::Hash | MaskKind::Email | MaskKind::DateYear => &["kind"],
        }
    }
}

impl Mask {
    /// Every mask kind's JSON name.
    pub const KINDS: [&'static str; 7] = [
        MaskKind::Null.as_str(),
        MaskKind::Redact.as_str(),
        MaskKind::Hash.as_str(),
        MaskKind::Partial.as_str(),
        MaskKind::Email.as_str(),
        MaskKind::DateYear.as_str(),
        MaskKind::Constant.as_str(),
    ];

    /// The mask's kind.
    pub fn mask_kind(&self) -> MaskKind {
        match self {
            Mask::Null => MaskKind::Null,
            Mask::Redact { .. } => MaskKind::Redact,
            Mask::Hash => MaskKind::Hash,
            Mask::Partial { .. } => MaskKind::Partial,
            Mask::Email => MaskKind::Email,
            Mask::DateYear => MaskKind::DateYear,
            Mask::Constant { .. } => MaskKind::Constant,
        }
    }

    /// The kind's JSON name.
    pub fn kind(&self) -> &'static str {
        self.mask_kind().as_str()
    }
}

/// Kinds of statement, as `query_restriction.statements` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
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

impl StatementKind {
    /// Every kind with its JSON name.
    pub const ALL: [(&'static str, StatementKind); 18] = [
        ("select", StatementKind::Select),
        ("insert", StatementKind::Insert),
        ("update", StatementKind::Update),
        ("delete", StatementKind::Delete),
        ("merge", StatementKind::Merge),
        ("truncate", StatementKind::Truncate),
        ("copy_from", StatementKind::CopyFrom),
        ("ddl", StatementKind::Ddl),
        ("transaction", StatementKind::Transaction),
        ("session", StatementKind::Session),
        ("explain", StatementKind::Explain),
        ("call", StatementKind::Call),
        ("do", StatementKind::Do),
        ("prepare", StatementKind::Prepare),
        ("listen", StatementKind::Listen),
        ("lock", StatementKind::Lock),
        ("maintenance", StatementKind::Maintenance),
        ("other", StatementKind::Other),
    ];

    /// The kind's JSON name.
    pub fn as_str(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, k)| *k == self)
            .map(|(n, _)| *n)
            .unwrap_or("other")
    }

    /// Kinds the engine enforces, allowed unless a restriction leaves them out.
    pub fn enforced_by_default(self) -> bool {
        matches!(
            self,
            StatementKind::Select
                | StatementKind::Insert
                | StatementKind::Update
                | StatementKind::Delete
        )
    }
}

/// A `query_restriction` rule: what statements may do at all.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Restriction {
    /// When present, only these statement kinds may run; kinds outside the engine's
    /// enforced four (`select`, `insert`, `update`, `delete`) run only when listed here.
    pub statements: Option<Vec<StatementKind>>,
    /// Function names (a trailing `*` matches a prefix) denied beyond the built-in list.
    pub denied_functions: Vec<String>,
    /// UPDATE and/or DELETE must carry a WHERE clause.
    pub require_where: Vec<Operation>,
}

/// A `query_limit` rule: limits one evaluation enforces, and stateful ones it reports.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// The outermost SELECT returns at most this many rows (a LIMIT is added or lowered).
    pub max_rows: Option<u64>,
    /// A statement may join at most this many relations beyond the first, per FROM clause.
    pub max_joins: Option<u64>,
    /// Stateful: reported in `notes` and `limits`, counted by the caller.
    pub queries_per_hour: Option<u64>,
    pub queries_per_day: Option<u64>,
    pub max_execution_ms: Option<u64>,
}

/// One rule of a policy.
#[derive(Debug, Clone, PartialEq)]
pub enum Rule {
    /// Rows of `table` the predicate does not admit are invisible. A `data_retention`
    /// rule is a row filter built from its column and period (`retention`): it hides and
    /// protects old rows, and does not check the rows an INSERT adds.
    RowFilter {
        table: TableName,
        predicate: Predicate,
        retention: Option<Retention>,
    },
    /// `column` of `table` is seen through `mask`.
    ColumnMask {
        table: TableName,
        column: String,
        mask: Mask,
        /// The masking expression over the raw column, built at load.
        expr: sqlparser::ast::Expr,
        /// `expr` as printed, for the scans that apply it.
        sql: String,
    },
    /// The table, or some of its columns, may not be referenced.
    Deny {
        table: TableName,
        columns: Vec<String>,
        operations: Vec<Operation>,
    },
    /// Statement kinds, functions and WHERE requirements.
    QueryRestriction(Restriction),
    /// Row and join limits, and stateful limits reported as notes.
    QueryLimit(Limits),
}

/// A `data_retention` rule's period: rows whose `column` is older than `count` `unit`s
/// (or NULL) are hidden from reads and from UPDATE and DELETE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    pub column: String,
    pub count: u32,
    /// `hour`, `day`, `week`, `month` or `year`.
    pub unit: &'static str,
}

impl Retention {
    /// The units a period may be given in.
    pub const UNITS: [&'static str; 5] = ["hour", "day", "week", "month", "year"];

    /// Reads a period such as `90 days`, `1 year` or `12 hours`.
    pub fn parse_period(text: &str) -> Result<(u32, &'static str), String> {
        let bad = || {
            format!(
                "`keep` must be a positive whole number and a unit ({}), such as `90 days`; got `{text}`",
                Retention::UNITS.join(", ")
            )
        };
        let mut words = text.split_whitespace();
        let (Some(count), Some(unit), None) = (words.next(), words.next(), words.next()) else {
            return Err(bad());
        };
        let count: u32 = count.parse().map_err(|_| bad())?;
        if count == 0 || count > 100_000 {
            return Err(format!(
                "`keep` must be between 1 and 100000 units; got `{text}`"
            ));
        }
        let unit = unit.strip_suffix('s').unwrap_or(unit);
        let unit = Retention::UNITS
            .into_iter()
            .find(|u| *u == unit)
            .ok_or_else(bad)?;
        Ok((count, unit))
    }

    /// The period as PostgreSQL reads it in an interval literal (`90 days`).
    pub fn period(&self) -> String {
        let plural = if self.count == 1 { "" } else { "s" };
        format!("{} {}{plural}", self.count, self.unit)
    }
}

/// The rule types (a rule's `type`): one closed set, so that a new one is added here and
/// everywhere the compiler points (its loader in `load/`, its JSON fields, its name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RuleType {
    RowFilter,
    ColumnMask,
    Deny,
    DataRetention,
    QueryRestriction,
    QueryLimit,
}

impl RuleType {
    /// Every rule type with its JSON name, in the order messages list them.
    pub const ALL: [(&'static str, RuleType); 6] = [
        ("row_filter", RuleType::RowFilter),
        ("column_mask", RuleType::ColumnMask),
        ("deny", RuleType::Deny),
        ("data_retention", RuleType::DataRetention),
        ("query_restriction", RuleType::QueryRestriction),
        ("query_limit", RuleType::QueryLimit),
    ];

    /// The JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            RuleType::RowFilter => "row_filter",
            RuleType::ColumnMask => "column_mask",
            RuleType::Deny => "deny",
            RuleType::DataRetention => "data_retention",
            RuleType::QueryRestriction => "query_restriction",
            RuleType::QueryLimit => "query_limit",
        }
    }

    /// The type of a JSON name.
    pub fn from_name(name: &str) -> Option<RuleType> {
        Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, t)| *t)
    }

    /// The fields a rule of this type may have.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            RuleType::RowFilter => &["type", "table", "predicate", "description"],
            RuleType::ColumnMask => &["type", "table", "column", "mask", "description"],
            RuleType::Deny => &["type", "table", "columns", "operations", "description"],
            RuleType::DataRetention => &["type", "table", "column", "keep", "description"],
            RuleType::QueryRestriction => &[
                "type",
                "statements",
                "denied_functions",
                "require_where",
                "description",
            ],
            RuleType::QueryLimit => &[
                "type",
                "max_rows",
                "max_joins",
                "queries_per_hour",
                "queries_per_day",
                "max_execution_ms",
                "description",
            ],
        }
    }

    /// Whether a rule of this type governs one table (`table` field); statement-level
    /// rules govern none.
    pub fn has_table(self) -> bool {
        match self {
            RuleType::RowFilter
            | RuleType::ColumnMask
            | RuleType::Deny
            | RuleType::DataRetention => true,
            RuleType::QueryRestriction | RuleType::QueryLimit => false,
        }
    }

    /// The names as a message lists them: `a, b, … or z`.
    pub fn listed() -> String {
        let names: Vec<&str> = Self::ALL.iter().map(|(n, _)| *n).collect();
        match names.split_last() {
            Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
            _ => names.join(""),
        }
    }
}

impl std::fmt::Display for RuleType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Rule {
    /// The rule's type.
    pub fn rule_type(&self) -> RuleType {
        match self {
            Rule::RowFilter {
                retention: Some(_), ..
            } => RuleType::DataRetention,
            Rule::RowFilter { .. } => RuleType::RowFilter,
            Rule::ColumnMask { .. } => RuleType::ColumnMask,
            Rule::Deny { .. } => RuleType::Deny,
            Rule::QueryRestriction(_) => RuleType::QueryRestriction,
            Rule::QueryLimit(_) => RuleType::QueryLimit,
        }
    }

    /// The rule type's JSON name.
    pub fn type_name(&self) -> &'static str {
        self.rule_type().as_str()
    }

    /// The table the rule governs; statement-level rules govern none.
    pub fn table(&self) -> Option<&TableName> {
        match self {
            Rule::RowFilter { table, .. }
            | Rule::ColumnMask { table, .. }
            | Rule::Deny { table, .. } => Some(table),
            Rule::QueryRestriction(_) | Rule::QueryLimit(_) => None,
        }
    }
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub id: String,
    pub name: Option<String>,
    pub description: Option<String>,
    pub enabled: bool,
    pub priority: i64,
    pub mode: Mode,
    pub applies_to: Subjects,
    pub except: Subjects,
    pub break_glass_allowed: bool,
    pub compliance_tags: Vec<String>,
    pub purpose_tags: Vec<String>,
    pub labels: BTreeMap<String, String>,
    pub audit_level: AuditLevel,
    pub rules: Vec<Rule>,
    /// Rules (by index) lifted for one evaluation by a caller's exception
    /// ([`PolicySet::lift`]): the policy still applies, these rules do not act. Never
    /// read from a policy file; empty in a loaded set.
    pub lifted: std::collections::BTreeSet<usize>,
}

/// A validated policy set: an optional strict catalog and policies in priority order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PolicySet {
    /// The dialect of the SQL judged under the set (`options.dialect`, `--dialect`).
    pub dialect: crate::Dialect,
    pub catalog: Option<Catalog>,
    /// Sorted by priority (highest first), then by id.
    pub policies: Vec<Policy>,
    /// What the read-back checks established for statements judged under this set.
    pub(crate) memo: crate::print::Memo,
}

/// What `validate` answers for a policy set that loads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Always `true`; an invalid set gives an error instead.
    pub valid: bool,
    pub policies: usize,
    pub rules: usize,
    /// The catalog's tables (0 without a catalog).
    pub tables: usize,
    /// The distinct tables that rules name.
    pub governed_tables: usize,
}

/// Which rules of a policy an exception lifts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lift {
    /// The policy's row filters and masks: what an exception lifts unless it names rules.
    /// Denies, data retention, restrictions and limits stay.
    FiltersAndMasks,
    /// These rules (indexes, as in `rules[i]`), whatever their type.
    Rules(Vec<usize>),
}

impl Lift {
    /// Whether it lifts the rule at `index`.
    pub fn covers(&self, index: usize, rule: &Rule) -> bool {
        match self {
            Lift::Rules(list) => list.contains(&index),
            Lift::FiltersAndMasks => matches!(
                rule,
                Rule::RowFilter {
                    retention: None,
                    ..
                } | Rule::ColumnMask { .. }
            ),
        }
    }
}

impl PolicySet {
    /// Lifts rules of policy `id` for the evaluations made with this set (the caller holds
    /// an exception): the policy still applies to the context, the lifted rules do not
    /// act. Indexes the policy does not have are ignored. Returns the indexes lifted.
    pub fn lift(&mut self, id: &str, which: &Lift) -> Vec<usize> {
        let Some(policy) = self.policies.iter_mut().find(|p| p.id == id) else {
            return Vec::new();
        };
        let chosen: Vec<usize> = policy
            .rules
            .iter()
            .enumerate()
            .filter(|(i, rule)| which.covers(*i, rule))
            .map(|(i, _)| i)
            .collect();
        policy.lifted.extend(chosen.iter().copied());
        chosen
    }

    /// Counts of what the set holds.
    pub fn summary(&self) -> Summary {
        let governed: std::collections::BTreeSet<&TableName> = self
            .policies
            .iter()
            .flat_map(|p| p.rules.iter().filter_map(Rule::table))
            .collect();
        Summary {
            valid: true,
            policies: self.policies.len(),
            rules: self.policies.iter().map(|p| p.rules.len()).sum(),
            tables: self.catalog.as_ref().map_or(0, |c| c.tables().len()),
            governed_tables: governed.len(),
        }
    }

    /// Loads and validates a policy set from JSON or YAML text.
    pub fn parse(text: &str) -> Result<Self, crate::InputError> {
        parse_policy_set(text)
    }

    /// Loads and validates a policy set from a JSON value.
    pub fn from_json(value: &Json) -> Result<Self, crate::InputError> {
        load::from_value(value)
    }
}
