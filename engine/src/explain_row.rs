//! "Why is this row hidden?" (issue 21): for a row given as column values, each applicable
//! enforced row filter on its table, split into its top-level `AND` conjuncts, each
//! evaluated over the row with SQL's three-valued logic (crate::prove), the context values
//! it used, the smallest context change that would admit the row when a simple one exists,
//! and a diagnostic query with one boolean column per conjunct that the user can run.
//!
//! Everything here reads the same selection of policies (crate::applicable) and the same
//! substitution of the context (crate::context) as the rewrite, so what it says a filter is
//! is what the rewritten SQL applies.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

use serde::Serialize;
use serde_json::{Map, Value as Json};
use sqlparser::ast::{BinaryOperator, Expr, InTarget, VisitorMut};

use crate::applicable::{self, RuleRef, TableRules};
use crate::catalog::{Table, TableName, TypeClass};
use crate::context::Context;
use crate::error::{ErrorCode, InputError};
use crate::ident;
use crate::literal;
use crate::policy::{CtxRef, Operation, PolicySet, Predicate, ReplaceCtxRefs, Rule};
use crate::prove::{self, V};
use crate::verdict::RuleNo;

/// A conjunct's value over the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Truth {
    True,
    False,
    Null,
    /// The evaluator cannot decide it from the row (a column the row does not give, a
    /// function, an order of strings that depends on the collation, …), or the context
    /// lacks a value it needs.
    Unknown,
}

impl Truth {
    fn of(v: &V) -> Truth {
        match v {
            V::Bool(true) => Truth::True,
            V::Bool(false) => Truth::False,
            V::Null => Truth::Null,
            _ => Truth::Unknown,
        }
    }

    /// The value's JSON name.
    pub fn as_str(self) -> &'static str {
        match self {
            Truth::True => "true",
            Truth::False => "false",
            Truth::Null => "null",
            Truth::Unknown => "unknown",
        }
    }
}

/// The row's fate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every filter's conjuncts are true and nothing denies the table.
    Visible,
    /// A conjunct is false or NULL, the table is denied, or the statement is blocked.
    Hidden,
    /// No conjunct hides the row, but one the evaluator cannot decide might.
    Undecided,
}

/// A context value a conjunct uses, as the context gives it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BoundValue {
    /// `ctx.attr.tenant_id`, `ctx.user`, …
    pub reference: String,
    /// The value; absent when the context lacks it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Json>,
}

/// One top-level conjunct of a filter.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conjunct {
    /// As the policy writes it (with its `ctx.*` references).
    pub written: String,
    /// With the context substituted, as the rewritten SQL applies it; absent when the
    /// context lacks a value it needs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
    pub value: Truth,
    /// Whether it hides the row (false or NULL).
    pub blamed: bool,
    /// The context values it uses.
    pub context: Vec<BoundValue>,
    /// The columns it reads that the row does not give.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_columns: Vec<String>,
    /// Its column in the diagnostic query (`c1`, `c2`, …).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostic_column: Option<String>,
}

/// One applicable row filter on the table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FilterExplanation {
    pub policy: String,
    /// The rule's index in the policy (`rules[i]`), from 0.
    pub rule_index: usize,
    /// `row_filter` or `data_retention`.
    #[serde(rename = "type")]
    pub rule_type: &'static str,
    /// The filter with the context substituted; absent when the context lacks a value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predicate: Option<String>,
    /// The whole filter's value over the row (the conjuncts ANDed).
    pub value: Truth,
    pub conjuncts: Vec<Conjunct>,
    /// Context references the filter needs and the context lacks: the engine blocks a
    /// statement that reads the table (`missing_context`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_context: Vec<String>,
}

/// A rule, by policy and index.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleAt {
    pub policy: String,
    pub rule_index: usize,
}

impl RuleAt {
    fn of(at: RuleRef<'_>) -> Self {
        RuleAt {
            policy: at.policy.id.clone(),
            rule_index: at.rule_index,
        }
    }
}

/// A denied column of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeniedColumn {
    pub column: String,
    pub policy: String,
    pub rule_index: usize,
}

/// A masked column of the table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MaskedColumn {
    pub column: String,
    pub kind: &'static str,
    pub policy: String,
    pub rule_index: usize,
}

/// One change to the context.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContextChange {
    pub reference: String,
    /// The value before (absent when the context lacks it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Json>,
    pub to: Json,
}

/// The answer of [`explain_row`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RowExplanation {
    /// The table, schema-qualified.
    pub table: String,
    pub outcome: Outcome,
    /// Whether the row is visible (the outcome is `visible`).
    pub visible: bool,
    /// The enforced row filters, in the order the rewrite applies them.
    pub filters: Vec<FilterExplanation>,
    /// A deny rule on the whole table: hidden whatever the row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denied: Option<RuleAt>,
    /// `catalog.default_access: deny` and no enforced policy naming the table applies.
    pub default_denied: bool,
    pub denied_columns: Vec<DeniedColumn>,
    pub masked_columns: Vec<MaskedColumn>,
    /// Row filters of `monitor` policies: reported, never applied.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub monitored: Vec<FilterExplanation>,
    /// Policies skipped for break-glass.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub bypassed: Vec<String>,
    /// The smallest context change found that admits the row (checked by explaining the
    /// row again under it); absent when the row is visible or no simple change admits it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admit_with: Option<Vec<ContextChange>>,
    /// `SELECT <conjunct> AS c1, … FROM <table> WHERE <key> = <value>`: one column per
    /// conjunct the context could be substituted into.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostic_sql: Option<String>,
    /// Sentences a person can read (rules numbered from 1).
    pub explanation: Vec<String>,
}

impl RowExplanation {
    /// The explanation as compact JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }
}

/// Explains whether `row` (a JSON object of column values) of `table` is visible in
/// `ctx`; the diagnostic query selects the row by its `id` column when it has one, else
/// by every column it gives.
pub fn explain_row(
    set: &PolicySet,
    table: &str,
    row: &Json,
    ctx: &Context,
) -> Result<RowExplanation, InputError> {
    explain_row_keyed(set, table, row, ctx, None)
}

/// [`explain_row`] with the columns that select the row in the diagnostic query.
pub fn explain_row_keyed(
    set: &PolicySet,
    table: &str,
    row: &Json,
    ctx: &Context,
    key: Option<&[String]>,
) -> Result<RowExplanation, InputError> {
    let name = TableName::parse(table).map_err(|m| InputError::new(ErrorCode::InvalidTable, m))?;
    let catalog_table = match &set.catalog {
        Some(cat) => Some(cat.table(&name).ok_or_else(|| {
            InputError::new(
                ErrorCode::UnknownRelation,
                format!("relation `{name}` is not in the catalog"),
            )
        })?),
        None => None,
    };
    let row = read_row(row, catalog_table)?;
    let key = choose_key(&row, key)?;
    let mut out = explain(set, &name, &row, ctx);
    out.diagnostic_sql = diagnostic_sql(&name, &row, &key, &mut out.filters);
    if out.outcome == Outcome::Hidden && out.denied.is_none() && !out.default_denied {
        out.admit_with = admit_with(set, &name, &row, ctx, &out);
        if let Some(changes) = &out.admit_with {
            let list: Vec<String> = changes
                .iter()
                .map(|c| format!("`{}` = {}", c.reference, c.to))
                .collect();
            out.explanation.push(format!(
                "the row would be visible with {}",
                list.join(" and ")
            ));
        } else {
            out.explanation
                .push("no simple change to the context admits the row".to_string());
        }
    }
    Ok(out)
}

/// A row's columns: the JSON value and the evaluator's value.
struct Row {
    columns: BTreeMap<String, (Json, V)>,
}

fn read_row(row: &Json, table: Option<&Table>) -> Result<Row, InputError> {
    let Json::Object(obj) = row else {
        return Err(InputError::new(
            ErrorCode::InvalidRow,
            "the row must be a JSON object of column values",
        ));
    };
    let mut columns = BTreeMap::new();
    let mut unknown = Vec::new();
    for (k, v) in obj {
        let class = match table {
            Some(t) => match t.column(k) {
                Some(c) => c.type_class(),
                None => {
                    unknown.push(format!("`{k}`"));
                    continue;
                }
            },
            None => TypeClass::Unknown,
        };
        columns.insert(k.clone(), (v.clone(), value_of(v, class)));
    }
    if !unknown.is_empty() {
        return Err(InputError::new(
            ErrorCode::InvalidRow,
            format!(
                "the row names columns the table does not have in the catalog: {}",
                unknown.join(", ")
            ),
        ));
    }
    Ok(Row { columns })
}

/// A JSON column value as the evaluator reads it, for a column of this type class.
fn value_of(v: &Json, class: TypeClass) -> V {
    let raw = match v {
        Json::Null => return V::Null,
        Json::Bool(b) => V::Bool(*b),
        Json::Number(n) => prove::constant(&literal::number(n)),
        Json::String(s) => V::Str(s.clone()),
        Json::Array(_) | Json::Object(_) => return V::Unknown,
    };
    match class {
        // Without a type, a JSON string is a string and a number a number.
        TypeClass::Unknown => raw,
        // Dates, timestamps and other types compare by rules the evaluator does not model.
        TypeClass::Date | TypeClass::Timestamp | TypeClass::Other => V::Unknown,
        class => prove::coerce(raw, class),
    }
}

fn choose_key(row: &Row, key: Option<&[String]>) -> Result<Vec<String>, InputError> {
    match key {
        Some(cols) if !cols.is_empty() => {
            for c in cols {
                if !row.columns.contains_key(c) {
                    return Err(InputError::new(
                        ErrorCode::InvalidRow,
                        format!("key column `{c}` is not in the row"),
                    ));
                }
            }
            Ok(cols.to_vec())
        }
        _ if row.columns.contains_key("id") => Ok(vec!["id".to_string()]),
        _ => Ok(row.columns.keys().cloned().collect()),
    }
}

/// The explanation without the diagnostic query and the suggested change.
fn explain(set: &PolicySet, table: &TableName, row: &Row, ctx: &Context) -> RowExplanation {
    let selection = applicable::policies(set, ctx, Operation::Select);
    let empty = TableRules::default();
    let rules = selection.enforced.table(table).unwrap_or(&empty);
    let mut out = RowExplanation {
        table: table.to_string(),
        outcome: Outcome::Visible,
        visible: true,
        filters: rules
            .filters
            .iter()
            .map(|(at, p)| explain_filter(*at, p, table, row, ctx))
            .collect(),
        denied: rules.denied.map(RuleAt::of),
        default_denied: set
            .catalog
            .as_ref()
            .is_some_and(|c| c.default_access == crate::catalog::DefaultAccess::Deny)
            && applicable::default_denied(set, ctx, table),
        denied_columns: rules
            .denied_columns
            .iter()
            .map(|(c, at)| DeniedColumn {
                column: (*c).to_string(),
                policy: at.policy.id.clone(),
                rule_index: at.rule_index,
            })
            .collect(),
        masked_columns: rules
            .masks
            .iter()
            .map(|(c, m)| MaskedColumn {
                column: (*c).to_string(),
                kind: m.mask.kind(),
                policy: m.at.policy.id.clone(),
                rule_index: m.at.rule_index,
            })
            .collect(),
        monitored: selection
            .monitored
            .table(table)
            .map(|m| {
                m.filters
                    .iter()
                    .map(|(at, p)| explain_filter(*at, p, table, row, ctx))
                    .collect()
            })
            .unwrap_or_default(),
        bypassed: selection
            .bypassed
            .policies
            .iter()
            .filter(|p| p.rules.iter().any(|r| r.table() == Some(table)))
            .map(|p| p.id.clone())
            .collect(),
        admit_with: None,
        diagnostic_sql: None,
        explanation: Vec::new(),
    };
    let mut sentences = Vec::new();
    if let Some(at) = &out.denied {
        sentences.push(format!(
            "table `{table}` is denied by policy `{}` (rule {}): every row is hidden",
            at.policy,
            RuleNo(at.rule_index)
        ));
    }
    if out.default_denied {
        sentences.push(format!(
            "table `{table}` is governed and no enforced policy naming it applies to this context (default access deny): every row is hidden"
        ));
    }
    let mut hidden = out.denied.is_some() || out.default_denied;
    let mut undecided = false;
    for f in &out.filters {
        let rule = format!(
            "the {} of policy `{}` (rule {})",
            f.rule_type.replace('_', " "),
            f.policy,
            RuleNo(f.rule_index)
        );
        if !f.missing_context.is_empty() {
            hidden = true;
            sentences.push(format!(
                "{rule} needs {}, which the context lacks or cannot supply: the engine blocks statements that read `{table}`",
                f.missing_context
                    .iter()
                    .map(|r| format!("`{r}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        for c in &f.conjuncts {
            if c.blamed {
                hidden = true;
                let used: Vec<String> = c
                    .context
                    .iter()
                    .map(|b| match &b.value {
                        Some(v) => format!("`{}` = {v}", b.reference),
                        None => format!("`{}` absent", b.reference),
                    })
                    .collect();
                let with = if used.is_empty() {
                    String::new()
                } else {
                    format!(" (with {})", used.join(", "))
                };
                sentences.push(format!(
                    "{rule} hides the row: `{}` is {}{with}",
                    c.written,
                    c.value.as_str().to_ascii_uppercase()
                ));
            } else if c.value == Truth::Unknown && f.missing_context.is_empty() {
                undecided = true;
                let why = if c.missing_columns.is_empty() {
                    String::from("the evaluator cannot decide it over the given values")
                } else {
                    format!("the row does not give {}", c.missing_columns.join(", "))
                };
                sentences.push(format!("{rule}: `{}` is unknown ({why})", c.written));
            }
        }
    }
    out.outcome = if hidden {
        Outcome::Hidden
    } else if undecided {
        Outcome::Undecided
    } else {
        Outcome::Visible
    };
    out.visible = out.outcome == Outcome::Visible;
    if out.visible {
        sentences.push(if out.filters.is_empty() {
            format!(
                "no enforced row filter applies to `{table}` in this context: the row is visible"
            )
        } else {
            "every conjunct of every row filter is true: the row is visible".to_string()
        });
    }
    if !out.bypassed.is_empty() {
        sentences.push(format!(
            "break-glass skips {}",
            out.bypassed
                .iter()
                .map(|p| format!("policy `{p}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    out.explanation = sentences;
    out
}

fn explain_filter(
    at: RuleRef<'_>,
    predicate: &Predicate,
    table: &TableName,
    row: &Row,
    ctx: &Context,
) -> FilterExplanation {
    let rule_type = at
        .policy
        .rules
        .get(at.rule_index)
        .map_or("row_filter", Rule::type_name);
    let mut parts = Vec::new();
    conjuncts(&predicate.expr, &mut parts);
    let mut missing_context: Vec<String> = Vec::new();
    let conjuncts: Vec<Conjunct> = parts
        .into_iter()
        .map(|part| {
            let c = explain_conjunct(part, table, row, ctx);
            for b in &c.context {
                if b.value.is_none() && !missing_context.contains(&b.reference) {
                    missing_context.push(b.reference.clone());
                }
            }
            c
        })
        .collect();
    let value = all(conjuncts.iter().map(|c| c.value));
    FilterExplanation {
        policy: at.policy.id.clone(),
        rule_index: at.rule_index,
        rule_type,
        predicate: ctx.substitute_text(predicate).ok(),
        value,
        conjuncts,
        missing_context,
    }
}

/// The conjuncts ANDed, with SQL's three-valued logic.
fn all(values: impl Iterator<Item = Truth>) -> Truth {
    let mut acc = Truth::True;
    for v in values {
        acc = match (acc, v) {
            (Truth::False, _) | (_, Truth::False) => Truth::False,
            (Truth::Unknown, _) | (_, Truth::Unknown) => Truth::Unknown,
            (Truth::Null, _) | (_, Truth::Null) => Truth::Null,
            (Truth::True, Truth::True) => Truth::True,
        };
    }
    acc
}

/// The top-level `AND` conjuncts, through parentheses.
fn conjuncts<'e>(expr: &'e Expr, out: &mut Vec<&'e Expr>) {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(left, out);
            conjuncts(right, out);
        }
        Expr::Nested(inner) if is_and(inner) => conjuncts(inner, out),
        other => out.push(other),
    }
}

fn is_and(expr: &Expr) -> bool {
    match expr {
        Expr::BinaryOp {
            op: BinaryOperator::And,
            ..
        } => true,
        Expr::Nested(inner) => is_and(inner),
        _ => false,
    }
}

/// The JSON value a context reference stands for, if the context has it.
fn ctx_value(ctx: &Context, r: &CtxRef) -> Option<Json> {
    let s = |v: &Option<String>| v.clone().map(Json::String);
    match r {
        CtxRef::User => s(&ctx.user),
        CtxRef::Purpose => s(&ctx.purpose),
        CtxRef::Workspace => s(&ctx.workspace),
        CtxRef::DataSource => s(&ctx.data_source),
        CtxRef::Roles => Some(Json::Array(
            ctx.roles.iter().cloned().map(Json::String).collect(),
        )),
        CtxRef::Attr(name) => ctx.attributes.get(name).cloned(),
    }
}

fn explain_conjunct(part: &Expr, table: &TableName, row: &Row, ctx: &Context) -> Conjunct {
    let mut refs: Vec<CtxRef> = Vec::new();
    let mut lacking = false;
    let mut expr = part.clone();
    let _ = crate::walk::walk(
        &mut expr,
        &mut ReplaceCtxRefs(|r: CtxRef, slot| {
            let lit = ctx.literal_at(&r, slot);
            if !refs.contains(&r) {
                refs.push(r);
            }
            Some(lit.unwrap_or_else(|_| {
                lacking = true;
                Expr::value(sqlparser::ast::Value::Null)
            }))
        }),
    );
    let context = refs
        .iter()
        .map(|r| BoundValue {
            reference: r.display(),
            value: ctx.literal(r).ok().and_then(|_| ctx_value(ctx, r)),
        })
        .collect();
    let mut columns = Columns::default();
    let _ = crate::walk::walk(&mut expr, &mut columns);
    let missing_columns: Vec<String> = columns
        .0
        .iter()
        .filter(|c| column_of(c, table).is_some_and(|c| !row.columns.contains_key(c)))
        .map(|c| format!("`{}`", c.join(".")))
        .collect();
    let value = if lacking {
        Truth::Unknown
    } else {
        Truth::of(&prove::eval(&expr, &|parts: &[&str]| {
            let owned: Vec<String> = parts.iter().map(|p| (*p).to_string()).collect();
            let name = column_of(&owned, table)?;
            row.columns.get(name).map(|(_, v)| v.clone())
        }))
    };
    Conjunct {
        // Conjuncts print without their outer parentheses; the query adds its own.
        written: unnest(part).to_string(),
        sql: (!lacking).then(|| unnest(&expr).to_string()),
        value,
        blamed: matches!(value, Truth::False | Truth::Null),
        context,
        missing_columns,
        diagnostic_column: None,
    }
}

/// The column a reference names when it is one of the table's: `col`, `table.col` or
/// `schema.table.col`.
fn column_of<'a>(parts: &'a [String], table: &TableName) -> Option<&'a str> {
    match parts {
        [c] => Some(c),
        [t, c] if *t == table.name => Some(c),
        [s, t, c] if *s == table.schema && *t == table.name => Some(c),
        _ => None,
    }
}

/// The column references of an expression (normalized parts), in order, once each.
#[derive(Default)]
struct Columns(Vec<Vec<String>>);

impl VisitorMut for Columns {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        let parts = match expr {
            Expr::Identifier(id) if !crate::policy::is_sql_value_function(id) => {
                vec![ident::normalize(id)]
            }
            Expr::CompoundIdentifier(ids) => ids.iter().map(ident::normalize).collect(),
            _ => return ControlFlow::Continue(()),
        };
        if !self.0.contains(&parts) {
            self.0.push(parts);
        }
        ControlFlow::Continue(())
    }
}

/// `SELECT (<conjunct>) AS c1, … FROM <table> WHERE <key> = <value> AND …`, numbering
/// the conjuncts it can print; `None` when there is none or a key value has no literal.
fn diagnostic_sql(
    table: &TableName,
    row: &Row,
    key: &[String],
    filters: &mut [FilterExplanation],
) -> Option<String> {
    let mut items = Vec::new();
    for c in filters.iter_mut().flat_map(|f| f.conjuncts.iter_mut()) {
        if let Some(sql) = &c.sql {
            let name = format!("c{}", items.len().saturating_add(1));
            items.push(format!("({sql}) AS {name}"));
            c.diagnostic_column = Some(name);
        }
    }
    if items.is_empty() {
        return None;
    }
    let mut conditions = Vec::new();
    for k in key {
        let (json, _) = row.columns.get(k)?;
        let col = ident::display(k);
        if json.is_null() {
            conditions.push(format!("{col} IS NULL"));
        } else {
            let lit = literal::from_json(json).ok()?;
            conditions.push(format!("{col} = {lit}"));
        }
    }
    let mut sql = format!("SELECT {} FROM {table}", items.join(", "));
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    Some(sql)
}

/// The simple change to the context that admits the row, if one does: for each conjunct
/// that hides it (or lacks a context value), `column = ctx.x` sets `ctx.x` to the row's
/// value and `column = ANY(ctx.x)` adds it; the changes together must then admit the row.
fn admit_with(
    set: &PolicySet,
    table: &TableName,
    row: &Row,
    ctx: &Context,
    out: &RowExplanation,
) -> Option<Vec<ContextChange>> {
    let selection = applicable::policies(set, ctx, Operation::Select);
    let rules = selection.enforced.table(table)?;
    let mut changed = ctx.clone();
    let mut changes: Vec<ContextChange> = Vec::new();
    for ((_, predicate), f) in rules.filters.iter().zip(&out.filters) {
        let mut parts = Vec::new();
        conjuncts(&predicate.expr, &mut parts);
        for (part, c) in parts.iter().zip(&f.conjuncts) {
            let lacks = c.context.iter().any(|b| b.value.is_none());
            if !c.blamed && !lacks {
                continue;
            }
            let (r, value, add) = simple_admission(part, table, row)?;
            let change = apply(&mut changed, &r, value, add)?;
            match changes.iter_mut().find(|c| c.reference == change.reference) {
                // Two conjuncts want the same reference: the later value must agree.
                Some(prev) if prev.to != change.to && !add => return None,
                Some(prev) => prev.to = change.to,
                None => changes.push(change),
            }
        }
    }
    if changes.is_empty() {
        return None;
    }
    let again = explain(set, table, row, &changed);
    again.visible.then_some(changes)
}

/// For `col = ctx.x` (either side, in parentheses or not) the reference and the row's
/// value; for `col = ANY(ctx.x)` and `col IN (ctx.x, …)` the same, marked as an addition
/// for lists.
fn simple_admission(part: &Expr, table: &TableName, row: &Row) -> Option<(CtxRef, Json, bool)> {
    let value = |e: &Expr| -> Option<Json> {
        let parts = column_parts(e)?;
        let name = column_of(&parts, table)?;
        let (json, _) = row.columns.get(name)?;
        (!json.is_null()).then(|| json.clone())
    };
    match unnest(part) {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => {
            if let (Some(v), Some(r)) = (value(unnest(left)), ctx_ref(unnest(right))) {
                return Some((r, v, false));
            }
            let (Some(v), Some(r)) = (value(unnest(right)), ctx_ref(unnest(left))) else {
                return None;
            };
            Some((r, v, false))
        }
        Expr::AnyOp {
            left,
            compare_op: BinaryOperator::Eq,
            right,
            ..
        } => Some((ctx_ref(unnest(right))?, value(unnest(left))?, true)),
        Expr::In {
            expr,
            target: InTarget::List(list),
            negated: false,
            global: false,
        } => {
            let v = value(unnest(expr))?;
            let r = list.iter().find_map(|e| ctx_ref(unnest(e)))?;
            Some((r, v, false))
        }
        _ => None,
    }
}

fn unnest(e: &Expr) -> &Expr {
    match e {
        Expr::Nested(inner) => unnest(inner),
        other => other,
    }
}

fn ctx_ref(e: &Expr) -> Option<CtxRef> {
    match e {
        Expr::CompoundIdentifier(parts) => CtxRef::from_parts(parts)?.ok(),
        _ => None,
    }
}

fn column_parts(e: &Expr) -> Option<Vec<String>> {
    match e {
        Expr::Identifier(id) if !crate::policy::is_sql_value_function(id) => {
            Some(vec![ident::normalize(id)])
        }
        Expr::CompoundIdentifier(ids) if ctx_ref(e).is_none() => {
            Some(ids.iter().map(ident::normalize).collect())
        }
        _ => None,
    }
}

/// Applies one change to the context; `None` when the value cannot go there (a number for
/// `ctx.user`, say, is written as its text).
fn apply(ctx: &mut Context, r: &CtxRef, value: Json, add: bool) -> Option<ContextChange> {
    let text = |v: &Json| -> Option<String> {
        match v {
            Json::String(s) => Some(s.clone()),
            Json::Number(n) => Some(n.to_string()),
            Json::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    };
    let from = ctx_value(ctx, r);
    let to = match r {
        CtxRef::User | CtxRef::Purpose | CtxRef::Workspace | CtxRef::DataSource => {
            if add {
                return None;
            }
            let s = text(&value)?;
            let slot = match r {
                CtxRef::User => &mut ctx.user,
                CtxRef::Purpose => &mut ctx.purpose,
                CtxRef::Workspace => &mut ctx.workspace,
                _ => &mut ctx.data_source,
            };
            *slot = Some(s.clone());
            Json::String(s)
        }
        CtxRef::Roles => {
            let s = text(&value)?;
            if !ctx.roles.contains(&s) {
                ctx.roles.push(s);
            }
            Json::Array(ctx.roles.iter().cloned().map(Json::String).collect())
        }
        CtxRef::Attr(name) => {
            let new = if add {
                match ctx.attributes.get(name) {
                    Some(Json::Array(items)) => {
                        let mut items = items.clone();
                        if !items.contains(&value) {
                            items.push(value);
                        }
                        Json::Array(items)
                    }
                    _ => Json::Array(vec![value]),
                }
            } else {
                value
            };
            ctx.attributes.insert(name.clone(), new.clone());
            new
        }
    };
    Some(ContextChange {
        reference: r.display(),
        from,
        to,
    })
}

/// [`explain_row_keyed`] over a JSON request `{table, row, context?, key?}`.
pub fn explain_row_json(set: &PolicySet, request: &Json) -> Result<RowExplanation, InputError> {
    let obj = request_object(request, &["table", "row", "context", "key"])?;
    let table = match obj.get("table") {
        Some(Json::String(t)) => t,
        _ => {
            return Err(InputError::new(
                ErrorCode::InvalidRequest,
                "`table` must be a string such as `orders` or `public.orders`",
            ))
        }
    };
    let row = obj
        .get("row")
        .ok_or_else(|| InputError::new(ErrorCode::InvalidRequest, "`row` is required"))?;
    let ctx = match obj.get("context") {
        None | Some(Json::Null) => Context::default(),
        Some(v) => Context::from_json(v)?,
    };
    let key = match obj.get("key") {
        None | Some(Json::Null) => None,
        Some(Json::Array(items)) => Some(
            items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    InputError::new(
                        ErrorCode::InvalidRequest,
                        "`key` must be an array of column names",
                    )
                })?,
        ),
        Some(_) => {
            return Err(InputError::new(
                ErrorCode::InvalidRequest,
                "`key` must be an array of column names",
            ))
        }
    };
    explain_row_keyed(set, table, row, &ctx, key.as_deref())
}

/// The request as an object with only these fields.
pub(crate) fn request_object<'j>(
    request: &'j Json,
    fields: &[&str],
) -> Result<&'j Map<String, Json>, InputError> {
    let Json::Object(obj) = request else {
        return Err(InputError::new(
            ErrorCode::InvalidRequest,
            "the request must be a JSON object",
        ));
    };
    if let Some(k) = obj.keys().find(|k| !fields.contains(&k.as_str())) {
        return Err(InputError::new(
            ErrorCode::InvalidRequest,
            format!("unknown field `{k}`; expected one of {}", fields.join(", ")),
        ));
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn set() -> PolicySet {
        PolicySet::parse(
            r#"{
              "catalog": {"tables": [{"name": "orders", "columns": [
                 {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"},
                 {"name": "region", "type": "text"}, {"name": "amount", "type": "numeric"},
                 {"name": "email", "type": "text"}]},
                 {"name": "secrets", "columns": [{"name": "id", "type": "integer"}]}]},
              "policies": [
                {"id": "tenant", "rules": [
                  {"type": "row_filter", "table": "orders",
                   "predicate": "tenant_id = ctx.attr.tenant_id AND (region = 'EU' OR amount < 100)"},
                  {"type": "column_mask", "table": "orders", "column": "email", "mask": {"kind": "email"}},
                  {"type": "deny", "table": "secrets"}]},
                {"id": "roles", "applies_to": {"roles": ["sales"]}, "rules": [
                  {"type": "row_filter", "table": "orders", "predicate": "region = ANY(ctx.attr.regions)"}]}
              ]}"#,
        )
        .unwrap()
    }

    fn ctx(text: &str) -> Context {
        Context::from_json_str(text).unwrap()
    }

    #[test]
    fn blames_the_false_conjunct_and_suggests_the_tenant() {
        let row = json!({"id": 7, "tenant_id": 3, "region": "US", "amount": 50, "email": "a@b.c"});
        let e = explain_row(
            &set(),
            "orders",
            &row,
            &ctx(r#"{"attributes": {"tenant_id": 4}}"#),
        )
        .unwrap();
        assert_eq!(e.outcome, Outcome::Hidden);
        assert!(!e.visible);
        let f = &e.filters[0];
        assert_eq!(f.policy, "tenant");
        assert_eq!(f.value, Truth::False);
        assert_eq!(f.conjuncts.len(), 2);
        assert_eq!(f.conjuncts[0].written, "tenant_id = ctx.attr.tenant_id");
        assert_eq!(f.conjuncts[0].sql.as_deref(), Some("tenant_id = 4"));
        assert_eq!(f.conjuncts[0].value, Truth::False);
        assert!(f.conjuncts[0].blamed);
        assert_eq!(
            f.conjuncts[0].context,
            vec![BoundValue {
                reference: "ctx.attr.tenant_id".into(),
                value: Some(json!(4))
            }]
        );
        assert_eq!(f.conjuncts[1].value, Truth::True);
        assert!(!f.conjuncts[1].blamed);
        assert_eq!(
            e.admit_with,
            Some(vec![ContextChange {
                reference: "ctx.attr.tenant_id".into(),
                from: Some(json!(4)),
                to: json!(3)
            }])
        );
        assert_eq!(
            e.diagnostic_sql.as_deref(),
            Some("SELECT (tenant_id = 4) AS c1, (region = 'EU' OR amount < 100) AS c2 FROM public.orders WHERE id = 7")
        );
        assert_eq!(e.masked_columns[0].column, "email");
        assert_eq!(e.masked_columns[0].kind, "email");
        assert!(e.explanation[0].contains("rule 1"), "{:?}", e.explanation);
    }

    #[test]
    fn null_values_and_visible_rows() {
        let row = json!({"id": 1, "tenant_id": 4, "region": null, "amount": 500});
        let e = explain_row(
            &set(),
            "orders",
            &row,
            &ctx(r#"{"attributes": {"tenant_id": 4}}"#),
        )
        .unwrap();
        assert_eq!(e.filters[0].conjuncts[1].value, Truth::Null);
        assert!(e.filters[0].conjuncts[1].blamed);
        // `region = 'EU' OR amount < 100` has no simple admitting change.
        assert_eq!(e.admit_with, None);
        let row = json!({"id": 1, "tenant_id": 4, "region": "EU", "amount": 500});
        let e = explain_row(
            &set(),
            "orders",
            &row,
            &ctx(r#"{"attributes": {"tenant_id": 4}}"#),
        )
        .unwrap();
        assert_eq!(e.outcome, Outcome::Visible);
        assert!(e.visible);
        assert_eq!(e.admit_with, None);
    }

    #[test]
    fn missing_context_denies_and_roles() {
        let row = json!({"id": 1, "tenant_id": 4, "region": "EU", "amount": 5});
        let e = explain_row(&set(), "orders", &row, &ctx("{}")).unwrap();
        assert_eq!(e.outcome, Outcome::Hidden);
        assert_eq!(e.filters[0].missing_context, ["ctx.attr.tenant_id"]);
        assert_eq!(e.filters[0].conjuncts[0].sql, None);
        assert_eq!(e.admit_with.as_ref().unwrap()[0].to, json!(4));
        // The diagnostic query leaves out the conjunct it cannot print.
        assert_eq!(
            e.diagnostic_sql.as_deref(),
            Some("SELECT (region = 'EU' OR amount < 100) AS c1 FROM public.orders WHERE id = 1")
        );

        let sales =
            ctx(r#"{"roles": ["sales"], "attributes": {"tenant_id": 4, "regions": ["US"]}}"#);
        let e = explain_row(&set(), "orders", &row, &sales).unwrap();
        assert_eq!(e.filters.len(), 2);
        let change = &e.admit_with.as_ref().unwrap()[0];
        assert_eq!(change.reference, "ctx.attr.regions");
        assert_eq!(change.to, json!(["US", "EU"]));

        let e = explain_row(&set(), "secrets", &json!({"id": 1}), &ctx("{}")).unwrap();
        assert_eq!(e.outcome, Outcome::Hidden);
        assert_eq!(
            e.denied,
            Some(RuleAt {
                policy: "tenant".into(),
                rule_index: 2
            })
        );
    }

    #[test]
    fn odd_values_never_panic() {
        let s = set();
        let c = ctx(
            r#"{"attributes": {"tenant_id": "a\u0000b", "regions": [[1]]}, "roles": ["sales"]}"#,
        );
        for row in [
            json!({"id": {"a": [1]}, "tenant_id": [1, 2], "region": 1e300, "amount": "x"}),
            json!({"id": "7\u{0}", "tenant_id": null, "region": true, "amount": -0.0}),
            json!({"id": 18446744073709551615u64, "email": "", "amount": "1e5"}),
            json!({}),
        ] {
            let e = explain_row(&s, "orders", &row, &c).unwrap();
            assert_eq!(e.outcome, Outcome::Hidden, "{}", e.to_json());
            // Invalid context values are lacking ones: the engine blocks the statement.
            assert!(!e.filters[0].missing_context.is_empty());
        }
        let e = explain_row(&s, "orders", &json!({}), &ctx("{}")).unwrap();
        assert_eq!(
            e.diagnostic_sql.as_deref(),
            Some("SELECT (region = 'EU' OR amount < 100) AS c1 FROM public.orders")
        );
    }

    #[test]
    fn bad_input_is_a_structured_error() {
        let s = set();
        let c = ctx("{}");
        assert_eq!(
            explain_row(&s, "orders", &json!([1]), &c).unwrap_err().code,
            "invalid_row"
        );
        assert_eq!(
            explain_row(&s, "orders", &json!({"nope": 1}), &c)
                .unwrap_err()
                .code,
            "invalid_row"
        );
        assert_eq!(
            explain_row(&s, "nowhere", &json!({}), &c).unwrap_err().code,
            "unknown_relation"
        );
        assert_eq!(
            explain_row(&s, "a.b.c", &json!({}), &c).unwrap_err().code,
            "invalid_table"
        );
        let err = explain_row_json(&s, &json!({"table": "orders", "rows": {}})).unwrap_err();
        assert_eq!(err.code, "invalid_request");
        let err =
            explain_row_json(&s, &json!({"table": "orders", "row": {}, "key": "id"})).unwrap_err();
        assert_eq!(err.code, "invalid_request");
        let ok = explain_row_json(
            &s,
            &json!({"table": "orders", "row": {"id": 1, "tenant_id": 2}, "context": {"attributes": {"tenant_id": 2}}, "key": ["tenant_id"]}),
        )
        .unwrap();
        assert!(ok.diagnostic_sql.unwrap().ends_with("WHERE tenant_id = 2"));
        assert_eq!(ok.outcome, Outcome::Undecided);
    }
}
