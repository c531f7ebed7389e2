//! Query restrictions and limits: which statement kinds may run, WHERE requirements,
//! denied functions, row and join limits; and the stateful limits one evaluation cannot
//! decide, reported for the caller to count.

use crate::verdict::RuleNo;
use crate::verdict::VerdictRule;
use sqlparser::ast::{
    Expr, LimitClause, OnConflictAction, OnInsert, Query, SetExpr, Statement, Value,
};

use crate::applicable::{RuleRef, Rules};
use crate::policy::{Operation, StatementKind};
use crate::rewrite::Block;
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
                    VerdictRule::QueryRestriction,
                    format!(
                        "`{}` statements are not allowed by policy `{}` (rule {}), which allows only {}",
                        kind.as_str(),
                        at.policy.id,
                        RuleNo(at.rule_index),
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
            VerdictRule::UnsupportedStatement,
            format!(
                "`{}` statements cannot be proven to respect the policies and no policy allows them",
                kind.as_str()
            ),
            "a query_restriction rule can allow this statement kind explicitly (`statements`)",
        )),
    }
}

/// Whether a statement is an `INSERT … ON CONFLICT … DO UPDATE`: it updates the rows its
/// proposed rows conflict with, so it is an UPDATE of its target as well as an INSERT.
pub fn is_upsert(stmt: &Statement) -> bool {
    matches!(stmt, Statement::Insert(i) if matches!(&i.on, Some(OnInsert::OnConflict(c)) if matches!(c.action, OnConflictAction::DoUpdate(_))))
}

/// [`gate`] for a statement: its kind, and for an upsert ([`is_upsert`]) also `update`.
pub fn gate_statement(rules: &Rules<'_>, stmt: &Statement) -> Result<Option<String>, Block> {
    let allowed_by = gate(rules, kind_of(stmt))?;
    if is_upsert(stmt) {
        gate(rules, StatementKind::Update).map_err(|mut b| {
            b.reason = format!(
                "INSERT … ON CONFLICT DO UPDATE updates the rows it conflicts with, and {}",
                b.reason
            );
            b.hint = "use ON CONFLICT DO NOTHING, or a plain INSERT".into();
            b
        })?;
    }
    Ok(allowed_by)
}

/// UPDATE and DELETE without WHERE, when a restriction requires one. An `INSERT … ON
/// CONFLICT DO UPDATE` is an UPDATE: it needs a WHERE in its DO UPDATE (without one it
/// updates every row it conflicts with, and `INSERT … SELECT` can propose every row of
/// the table); `DO NOTHING` is an INSERT only.
pub fn require_where(rules: &Rules<'_>, stmt: &Statement) -> Result<(), Block> {
    let (op, has_where, what) = match stmt {
        Statement::Update(u) => (Operation::Update, u.selection.is_some(), "UPDATE"),
        Statement::Delete(d) => (Operation::Delete, d.selection.is_some(), "DELETE"),
        Statement::Insert(i) => match &i.on {
            Some(OnInsert::OnConflict(c)) => match &c.action {
                OnConflictAction::DoUpdate(du) => (
                    Operation::Update,
                    du.selection.is_some(),
                    "UPDATE, which INSERT … ON CONFLICT DO UPDATE is,",
                ),
                OnConflictAction::DoNothing => return Ok(()),
            },
            _ => return Ok(()),
        },
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
            VerdictRule::QueryRestriction,
            format!(
                "policy `{}` (rule {}) requires a WHERE clause on {what}",
                at.policy.id,
                RuleNo(at.rule_index),
            ),
            if matches!(stmt, Statement::Insert(_)) {
                "add a WHERE clause to DO UPDATE that names the conflicting rows it may change"
            } else {
                "add a WHERE clause that names the rows to change"
            },
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
            VerdictRule::QueryLimit,
            format!(
                "the statement joins {joins} relations beyond the first; policy `{}` (rule {}) allows {m}",
                at.policy.id,
                RuleNo(at.rule_index)
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

/// A cap on the rows returned: the policy whose `max_rows` set it (the tightest that
/// applies) and the note that says how.
pub struct Cap<'p> {
    pub policy: &'p str,
    pub note: String,
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
/// puts the write in place of the CTE's `SELECT 1`, and may put CTEs before it.
fn returned_rows_reader(m: u64) -> Result<Box<Query>, Block> {
    let text = format!("WITH {RETURNED} AS (SELECT 1) SELECT * FROM {RETURNED} LIMIT {m}");
    match crate::parse::parse_statements(&text).map(|mut v| v.pop()) {
        Ok(Some(Statement::Query(q))) => Ok(q),
        _ => Err(Block::new(
            VerdictRule::QueryLimit,
            "the rows this write returns cannot be capped at the policy's max_rows",
            "leave out RETURNING",
        )),
    }
}

/// The query of the reader's last CTE, `verdict_returning` ([`returned_rows_reader`]).
fn returned_rows_source(reader: &mut Query) -> Option<&mut Query> {
    let cte = reader.with.as_mut()?.cte_tables.last_mut()?;
    Some(cte.query.as_mut())
}

fn capped_write_note(who: &str, m: u64) -> String {
    format!(
        "limit: {who} caps the rows returned at {m} (the write's RETURNING rows are read through `WITH {RETURNED} AS (…) SELECT * FROM {RETURNED} LIMIT {m}`; every row it admits is still written)"
    )
}

fn who(at: &RuleRef<'_>) -> String {
    format!("policy `{}` (rule {})", at.policy.id, RuleNo(at.rule_index))
}

/// [`max_rows`] for a write statement: one that returns rows (`INSERT`/`UPDATE`/`DELETE …
/// RETURNING`, which takes no LIMIT) becomes a data-modifying CTE read by
/// `SELECT * FROM verdict_returning LIMIT n`: it still writes every row it admits, and
/// returns at most `n` of them, with the same columns. Returns the note.
pub fn max_rows_of_write<'p>(
    rules: &Rules<'p>,
    stmt: &mut Statement,
) -> Result<Option<Cap<'p>>, Block> {
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
    Ok(Some(Cap {
        policy: at.policy.id.as_str(),
        note: capped_write_note(&who(at), m),
    }))
}

/// The alias of the derived table a query is read through when its own LIMIT or FETCH
/// cannot be lowered (`FETCH … WITH TIES`).
const LIMITED: &str = "verdict_limited";

/// Caps the rows a query returns at the tightest `max_rows`; never raises the caller's
/// count. The count PostgreSQL applies is the one of the query's outermost LIMIT or
/// FETCH, or, for a query in parentheses without one of its own (`(SELECT … LIMIT 5)`,
/// `(SELECT …) ORDER BY …`), of the query inside: PostgreSQL takes a second LIMIT there
/// for an error, and merges ORDER BY, LIMIT and OFFSET written after the parentheses
/// into the query inside them. That count is lowered (`LEAST(count, n)` when it is not a
/// constant; a FETCH count that is not a number becomes that LIMIT), or a LIMIT added. `FETCH … WITH TIES` may return more rows than its count:
/// the whole query is then read through `SELECT * FROM (…) AS verdict_limited LIMIT n`
/// (same columns, in the same order: PostgreSQL reads a derived table's rows in the
/// order the derived table returns them when the outer query has nothing but a LIMIT).
/// `FETCH … PERCENT`, and LIMIT with FETCH, are not PostgreSQL: blocked. A query whose
/// body is a write (`WITH … DELETE …`) returns no rows without RETURNING and is left as it
/// is; with RETURNING it is read under the LIMIT as in [`max_rows_of_write`], its own
/// WITH joined to the reader's (PostgreSQL takes a data-modifying WITH only at the top).
/// Returns the note describing what was done.
pub fn max_rows<'p>(rules: &Rules<'p>, q: &mut Query) -> Result<Option<Cap<'p>>, Block> {
    let Some((m, at)) = tightest_max_rows(rules) else {
        return Ok(None);
    };
    let policy = at.policy.id.as_str();
    let who = who(at);
    let capped = |note: String| Ok(Some(Cap { policy, note }));
    if let SetExpr::Insert(w) | SetExpr::Update(w) | SetExpr::Delete(w) = q.body.as_ref() {
        if !returns_rows(w) {
            return Ok(None);
        }
        let mut write = std::mem::replace(q, *returned_rows_reader(m)?);
        let own = write.with.take();
        if let Some(source) = returned_rows_source(q) {
            *source = write;
        }
        if let (Some(own), Some(with)) = (own, q.with.as_mut()) {
            with.recursive |= own.recursive;
            let reader = std::mem::replace(&mut with.cte_tables, own.cte_tables);
            with.cte_tables.extend(reader);
        }
        return capped(capped_write_note(&who, m));
    }
    match at_effective_limit(q, &mut |h| cap(h, m))? {
        Capped::Unchanged => Ok(None),
        Capped::Changed(how) => capped(format!(
            "limit: {who} caps the rows returned at {m} ({how})"
        )),
        Capped::ReadThrough => {
            let text = format!("SELECT * FROM (SELECT 1) AS {LIMITED} LIMIT {m}");
            let mut outer = match crate::parse::parse_statements(&text).map(|mut v| v.pop()) {
                Ok(Some(Statement::Query(outer))) => outer,
                _ => return Err(uncappable("this FETCH … WITH TIES")),
            };
            match derived_of(&mut outer) {
                Some(slot) => std::mem::swap(slot, q),
                None => return Err(uncappable("this FETCH … WITH TIES")),
            }
            *q = *outer;
            capped(format!(
                "limit: {who} caps the rows returned at {m} (FETCH … WITH TIES may return more rows than its count: the query is read through `SELECT * FROM (…) AS {LIMITED} LIMIT {m}`)"
            ))
        }
    }
}

/// What capping did to the query that holds the effective count.
enum Capped {
    Unchanged,
    /// Lowered or added, how.
    Changed(&'static str),
    /// The count cannot be lowered exactly: read the whole query through a LIMIT.
    ReadThrough,
}

/// Runs `f` on the query whose LIMIT or FETCH PostgreSQL applies to the rows `q`
/// returns ([`max_rows`]).
fn at_effective_limit<R>(q: &mut Query, f: &mut dyn FnMut(&mut Query) -> R) -> R {
    if q.limit_clause.is_none() && q.fetch.is_none() {
        if let SetExpr::Query(inner) = q.body.as_mut() {
            return at_effective_limit(inner, f);
        }
    }
    f(q)
}

/// The subquery of `SELECT * FROM (…) AS verdict_limited …`.
fn derived_of(outer: &mut Query) -> Option<&mut Query> {
    let SetExpr::Select(select) = outer.body.as_mut() else {
        return None;
    };
    match &mut select.from.first_mut()?.relation {
        sqlparser::ast::TableFactor::Derived { subquery, .. } => Some(subquery.as_mut()),
        _ => None,
    }
}

fn uncappable(what: &str) -> Block {
    Block::new(
        VerdictRule::QueryLimit,
        format!("the rows of {what} cannot be capped at the policy's max_rows"),
        "use LIMIT n or FETCH FIRST n ROWS ONLY",
    )
}

/// Lowers the LIMIT or FETCH count of the query that holds it to `m`, or adds a LIMIT.
fn cap(q: &mut Query, m: u64) -> Result<Capped, Block> {
    let cap = Expr::value(Value::Number(m.to_string(), false));
    let has_limit = matches!(
        &q.limit_clause,
        Some(
            LimitClause::LimitOffset { limit: Some(_), .. } | LimitClause::OffsetCommaLimit { .. }
        )
    );
    if let Some(fetch) = q.fetch.as_mut() {
        if has_limit {
            return Err(Block::new(
                VerdictRule::UnsupportedSyntax,
                "a query with both LIMIT and FETCH FIRST is not PostgreSQL",
                "use one of LIMIT n or FETCH FIRST n ROWS ONLY",
            ));
        }
        if fetch.percent {
            return Err(Block::new(
                VerdictRule::UnsupportedSyntax,
                "FETCH FIRST … PERCENT is not PostgreSQL",
                "use FETCH FIRST n ROWS ONLY, or LIMIT n",
            ));
        }
        if fetch.with_ties {
            return Ok(Capped::ReadThrough);
        }
        if fetch.quantity.as_ref().is_some_and(
            |qty| !matches!(qty, Expr::Value(v) if matches!(v.value, Value::Number(..))),
        ) {
            // `FETCH FIRST LEAST(…) ROWS` does not read back (the parser takes only a
            // value there): a count that is not a number becomes the same LIMIT.
            let mut count = fetch.quantity.take().unwrap_or(Expr::value(Value::Null));
            lower(&mut count, m, cap);
            q.fetch = None;
            let offset = match q.limit_clause.take() {
                Some(LimitClause::LimitOffset { offset, .. }) => offset,
                _ => None,
            };
            q.limit_clause = Some(LimitClause::LimitOffset {
                limit: Some(count),
                offset,
                limit_by: Vec::new(),
            });
            return Ok(Capped::Changed("FETCH made LIMIT and lowered"));
        }
        return Ok(match fetch.quantity.as_mut() {
            Some(qty) => {
                if lower(qty, m, cap) {
                    Capped::Changed("FETCH lowered")
                } else {
                    Capped::Unchanged
                }
            }
            // `FETCH FIRST ROW ONLY`: one row.
            None if m >= 1 => Capped::Unchanged,
            None => {
                fetch.quantity = Some(cap);
                Capped::Changed("FETCH lowered")
            }
        });
    }
    Ok(match q.limit_clause.as_mut() {
        Some(LimitClause::LimitOffset {
            limit: Some(limit), ..
        })
        | Some(LimitClause::OffsetCommaLimit { limit, .. }) => {
            if lower(limit, m, cap) {
                Capped::Changed("LIMIT lowered")
            } else {
                Capped::Unchanged
            }
        }
        Some(LimitClause::LimitOffset { limit, .. }) => {
            *limit = Some(cap);
            Capped::Changed("LIMIT added")
        }
        None => {
            q.limit_clause = Some(LimitClause::LimitOffset {
                limit: Some(cap),
                offset: None,
                limit_by: Vec::new(),
            });
            Capped::Changed("LIMIT added")
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
