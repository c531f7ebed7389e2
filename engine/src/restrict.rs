//! Query restrictions and limits: which statement kinds may run, WHERE requirements,
//! denied functions, row and join limits; and the stateful limits one evaluation cannot
//! decide, reported for the caller to count.

use sqlparser::ast::{Expr, Fetch, LimitClause, Query, SetExpr, Statement, Value};

use crate::policy::{Operation, StatementKind};
use crate::rewrite::Block;
use crate::select::{RuleRef, Rules};
use crate::verdict::LimitNote;

/// The kind of a statement, as `query_restriction.statements` names it.
pub fn kind_of(stmt: &Statement) -> StatementKind {
    match stmt {
        Statement::Query(_) => StatementKind::Select,
        Statement::Insert(_) => StatementKind::Insert,
        Statement::Update(_) => StatementKind::Update,
        Statement::Delete(_) => StatementKind::Delete,
        Statement::Merge(_) => StatementKind::Merge,
        Statement::Truncate(_) => StatementKind::Truncate,
        Statement::Copy { to: true, .. } => StatementKind::Select,
        Statement::Copy { .. } => StatementKind::CopyFrom,
        Statement::Explain { .. } | Statement::ExplainTable { .. } => StatementKind::Explain,
        Statement::Call(_) => StatementKind::Call,
        Statement::Prepare { .. } | Statement::Execute { .. } | Statement::Deallocate { .. } => {
            StatementKind::Prepare
        }
        Statement::LISTEN { .. } | Statement::UNLISTEN { .. } | Statement::NOTIFY { .. } => {
            StatementKind::Listen
        }
        Statement::LockTables { .. } | Statement::UnlockTables => StatementKind::Lock,
        Statement::StartTransaction { .. }
        | Statement::Commit { .. }
        | Statement::Rollback { .. }
        | Statement::Savepoint { .. }
        | Statement::ReleaseSavepoint { .. } => StatementKind::Transaction,
        Statement::Set(_) | Statement::ShowVariable { .. } | Statement::Discard { .. } => {
            StatementKind::Session
        }
        other => {
            let text = other.to_string();
            let first = text
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            match first.as_str() {
                "CREATE" | "ALTER" | "DROP" | "COMMENT" | "GRANT" | "REVOKE" | "RENAME" => {
                    StatementKind::Ddl
                }
                "SET" | "RESET" | "SHOW" | "DISCARD" => StatementKind::Session,
                "BEGIN" | "START" | "COMMIT" | "ROLLBACK" | "END" | "ABORT" | "SAVEPOINT"
                | "RELEASE" => StatementKind::Transaction,
                "VACUUM" | "ANALYZE" | "REINDEX" | "CLUSTER" | "REFRESH" | "CHECKPOINT" => {
                    StatementKind::Maintenance
                }
                "LOCK" => StatementKind::Lock,
                "DO" => StatementKind::Do,
                _ => StatementKind::Other,
            }
        }
    }
}

/// The write operation of a statement kind, for `deny.operations`.
pub fn operation(kind: StatementKind) -> Operation {
    match kind {
        StatementKind::Insert => Operation::Insert,
        StatementKind::Update => Operation::Update,
        StatementKind::Delete => Operation::Delete,
        StatementKind::Select => Operation::Select,
        _ => Operation::Ddl,
    }
}

/// Whether the restrictions let this kind of statement run. A kind the engine enforces
/// runs unless a restriction's `statements` leaves it out; any other kind runs only when
/// a restriction lists it and none leaves it out. Returns the policy that allowed an
/// otherwise blocked kind.
pub fn gate(rules: &Rules<'_>, kind: StatementKind) -> Result<Option<String>, Block> {
    let mut allowed_by = None;
    for (at, r) in &rules.restrictions {
        if let Some(list) = &r.statements {
            if !list.contains(&kind) {
                return Err(Block::new(
                    "query_restriction",
                    format!(
                        "`{}` statements are not allowed by policy `{}` (rule {}), which allows only {}",
                        kind.as_str(),
                        at.policy.id,
                        at.rule_index,
                        list.iter().map(|k| format!("`{}`", k.as_str())).collect::<Vec<_>>().join(", ")
                    ),
                    "run only the statement kinds the policy allows",
                )
                .with_policy(&at.policy.id, at.rule_index));
            }
            allowed_by.get_or_insert_with(|| at.policy.id.clone());
        }
    }
    if kind.enforced_by_default() {
        return Ok(None);
    }
    match allowed_by {
        Some(p) => Ok(Some(p)),
        None => Err(Block::new(
            "unsupported_statement",
            format!(
                "`{}` statements cannot be proven to respect the policies and no policy allows them",
                kind.as_str()
            ),
            "a query_restriction rule can allow this statement kind explicitly (`statements`)",
        )),
    }
}

/// UPDATE and DELETE without WHERE, when a restriction requires one.
pub fn require_where(rules: &Rules<'_>, stmt: &Statement) -> Result<(), Block> {
    let (op, has_where) = match stmt {
        Statement::Update(u) => (Operation::Update, u.selection.is_some()),
        Statement::Delete(d) => (Operation::Delete, d.selection.is_some()),
        _ => return Ok(()),
    };
    if has_where {
        return Ok(());
    }
    match rules
        .restrictions
        .iter()
        .find(|(_, r)| r.require_where.contains(&op))
    {
        Some((at, _)) => Err(Block::new(
            "query_restriction",
            format!(
                "policy `{}` (rule {}) requires a WHERE clause on {}",
                at.policy.id,
                at.rule_index,
                if op == Operation::Update {
                    "UPDATE"
                } else {
                    "DELETE"
                }
            ),
            "add a WHERE clause that names the rows to change",
        )
        .with_policy(&at.policy.id, at.rule_index)),
        None => Ok(()),
    }
}

/// Blocks a statement with more joins than the tightest `max_joins`.
pub fn max_joins(rules: &Rules<'_>, joins: u64) -> Result<(), Block> {
    let tightest = rules
        .limits
        .iter()
        .filter_map(|(at, l)| l.max_joins.map(|m| (m, at)))
        .min_by_key(|(m, _)| *m);
    match tightest {
        Some((m, at)) if joins > m => Err(Block::new(
            "query_limit",
            format!(
                "the statement joins {joins} relations beyond the first; policy `{}` (rule {}) allows {m}",
                at.policy.id, at.rule_index
            ),
            "split the query, or join fewer tables",
        )
        .with_policy(&at.policy.id, at.rule_index)),
        _ => Ok(()),
    }
}

/// The name of the CTE a capped write's RETURNING rows are read from ([`max_rows`]). Only
/// the outer `SELECT` sees it (the `WITH` is not recursive), so it cannot shadow anything
/// the write reads.
const RETURNED: &str = "verdict_returning";

/// Whether a write statement returns rows (has a RETURNING list).
fn returns_rows(stmt: &Statement) -> bool {
    match stmt {
        Statement::Insert(i) => i.returning.is_some(),
        Statement::Update(u) => u.returning.is_some(),
        Statement::Delete(d) => d.returning.is_some(),
        _ => false,
    }
}

/// The tightest `max_rows` that applies, with the rule that sets it.
fn tightest_max_rows<'r, 'p>(rules: &'r Rules<'p>) -> Option<(u64, &'r RuleRef<'p>)> {
    rules
        .limits
        .iter()
        .filter_map(|(at, l)| l.max_rows.map(|m| (m, at)))
        .min_by_key(|(m, _)| *m)
}

/// `WITH verdict_returning AS (SELECT 1) SELECT * FROM verdict_returning LIMIT m`, as the
/// parser reads it (so that the printed statement reads back as this tree); the caller
/// puts the write in place of the CTE's `SELECT 1`.
fn returned_rows_reader(m: u64) -> Result<Box<Query>, Block> {
    let text = format!("WITH {RETURNED} AS (SELECT 1) SELECT * FROM {RETURNED} LIMIT {m}");
    match crate::parse::parse_statements(&text).map(|mut v| v.pop()) {
        Ok(Some(Statement::Query(q))) => Ok(q),
        _ => Err(Block::new(
            "query_limit",
            "the rows this write returns cannot be capped at the policy's max_rows",
            "leave out RETURNING",
        )),
    }
}

/// The query of the reader's one CTE ([`returned_rows_reader`]).
fn returned_rows_source(reader: &mut Query) -> Option<&mut Query> {
    let cte = reader.with.as_mut()?.cte_tables.first_mut()?;
    Some(cte.query.as_mut())
}

fn capped_write_note(who: &str, m: u64) -> String {
    format!(
        "limit: {who} caps the rows returned at {m} (the write's RETURNING rows are read through `WITH {RETURNED} AS (…) SELECT * FROM {RETURNED} LIMIT {m}`; every row it admits is still written)"
    )
}

fn who(at: &RuleRef<'_>) -> String {
    format!("policy `{}` (rule {})", at.policy.id, at.rule_index)
}

/// [`max_rows`] for a write statement: one that returns rows (`INSERT`/`UPDATE`/`DELETE …
/// RETURNING`, which takes no LIMIT) becomes a data-modifying CTE read by
/// `SELECT * FROM verdict_returning LIMIT n`: it still writes every row it admits, and
/// returns at most `n` of them, with the same columns. Returns the note.
pub fn max_rows_of_write(rules: &Rules<'_>, stmt: &mut Statement) -> Result<Option<String>, Block> {
    let Some((m, at)) = tightest_max_rows(rules).filter(|_| returns_rows(stmt)) else {
        return Ok(None);
    };
    let write = std::mem::replace(stmt, Statement::Query(returned_rows_reader(m)?));
    let body = match write {
        Statement::Insert(_) => SetExpr::Insert(write),
        Statement::Update(_) => SetExpr::Update(write),
        _ => SetExpr::Delete(write),
    };
    if let Statement::Query(reader) = stmt {
        if let Some(source) = returned_rows_source(reader) {
            *source.body = body;
        }
    }
    Ok(Some(capped_write_note(&who(at), m)))
}

/// Adds or lowers the outermost LIMIT to the tightest `max_rows`; never raises the caller's.
/// A query whose body is a write (`WITH … DELETE …`) returns no rows without RETURNING and
/// is left as it is; with RETURNING it is read under the LIMIT as in
/// [`max_rows_of_write`]. Returns the note describing what was done.
pub fn max_rows(rules: &Rules<'_>, q: &mut Query) -> Result<Option<String>, Block> {
    let Some((m, at)) = tightest_max_rows(rules) else {
        return Ok(None);
    };
    let cap = Expr::value(Value::Number(m.to_string(), false));
    let who = who(at);
    if let SetExpr::Insert(w) | SetExpr::Update(w) | SetExpr::Delete(w) = q.body.as_ref() {
        if !returns_rows(w) {
            return Ok(None);
        }
        let write = std::mem::replace(q, *returned_rows_reader(m)?);
        if let Some(source) = returned_rows_source(q) {
            *source = write;
        }
        return Ok(Some(capped_write_note(&who, m)));
    }
    if let Some(Fetch {
        quantity: Some(qty),
        percent: false,
        ..
    }) = q.fetch.as_mut()
    {
        return Ok(lower(qty, m, cap)
            .then(|| format!("limit: {who} caps the rows returned at {m} (FETCH lowered)")));
    }
    Ok(match q.limit_clause.as_mut() {
        Some(LimitClause::LimitOffset {
            limit: Some(limit), ..
        }) => lower(limit, m, cap)
            .then(|| format!("limit: {who} caps the rows returned at {m} (LIMIT lowered)")),
        Some(LimitClause::LimitOffset { limit, .. }) => {
            *limit = Some(cap);
            Some(format!(
                "limit: {who} caps the rows returned at {m} (LIMIT added)"
            ))
        }
        Some(LimitClause::OffsetCommaLimit { limit, .. }) => lower(limit, m, cap)
            .then(|| format!("limit: {who} caps the rows returned at {m} (LIMIT lowered)")),
        None => {
            q.limit_clause = Some(LimitClause::LimitOffset {
                limit: Some(cap),
                offset: None,
                limit_by: Vec::new(),
            });
            Some(format!(
                "limit: {who} caps the rows returned at {m} (LIMIT added)"
            ))
        }
    })
}

/// Lowers a row count to `m` when it may exceed it; a non-constant count becomes `LEAST(count, m)`.
fn lower(count: &mut Expr, m: u64, cap: Expr) -> bool {
    if let Expr::Value(v) = count {
        if let Value::Number(n, _) = &v.value {
            if n.parse::<u64>().is_ok_and(|n| n <= m) {
                return false;
            }
            if n.parse::<u64>().is_ok() {
                *count = cap;
                return true;
            }
        }
    }
    let old = std::mem::replace(count, Expr::value(Value::Null));
    *count = Expr::Function(sqlparser::ast::Function {
        name: sqlparser::ast::ObjectName::from(vec![sqlparser::ast::Ident::new("LEAST")]),
        uses_odbc_syntax: false,
        parameters: sqlparser::ast::FunctionArguments::None,
        args: sqlparser::ast::FunctionArguments::List(sqlparser::ast::FunctionArgumentList {
            duplicate_treatment: None,
            args: vec![
                sqlparser::ast::FunctionArg::Unnamed(sqlparser::ast::FunctionArgExpr::Expr(old)),
                sqlparser::ast::FunctionArg::Unnamed(sqlparser::ast::FunctionArgExpr::Expr(cap)),
            ],
            clauses: Vec::new(),
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: Vec::new(),
    });
    true
}

/// The stateful limits that apply, for the caller to count.
pub fn stateful(rules: &Rules<'_>) -> Vec<LimitNote> {
    let mut out = Vec::new();
    for (at, l) in &rules.limits {
        for (kind, value) in [
            ("queries_per_hour", l.queries_per_hour),
            ("queries_per_day", l.queries_per_day),
            ("max_execution_ms", l.max_execution_ms),
        ] {
            if let Some(value) = value {
                out.push(LimitNote {
                    policy: at.policy.id.clone(),
                    rule_index: at.rule_index,
                    kind: kind.to_string(),
                    value,
                });
            }
        }
    }
    out
}
