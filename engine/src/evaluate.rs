//! The pipeline for one SQL text: select the policies, parse, enforce each statement,
//! and assemble the verdict.

use crate::verdict::RuleNo;
use crate::verdict::VerdictRule;
use sqlparser::ast::{CopySource, CopyTarget, Statement};

use crate::applicable::{self, Rules, Selection};
use crate::context::Context;
use crate::parse;
use crate::policy::{Operation, PolicySet, StatementKind};
use crate::print::{self, concat, Decimal};
use crate::restrict;
use crate::rewrite::{Applied, Block, Rewriter};
use crate::verdict::{BlockedBy, Decision, MatchedPolicy, Verdict};

/// Evaluates one SQL text for one context against a validated policy set.
pub fn evaluate(set: &PolicySet, sql: &str, ctx: &Context) -> Verdict {
    let selection = applicable::policies(set, ctx, Operation::Select);
    let mut statements = match parse::parse_statements(sql) {
        Ok(s) if !s.is_empty() => s,
        parsed => {
            let block = match parsed {
                Err(e) => parse_block(e),
                Ok(_) => Block::new(
                    VerdictRule::EmptyStatement,
                    "the SQL text holds no statement",
                    "send one or more SQL statements",
                ),
            };
            return blocked(block, &selection, &Applied::default(), Vec::new());
        }
    };
    let rules = &selection.enforced;
    let mut rewriter = Rewriter::new(
        set,
        rules,
        &selection.monitored,
        ctx,
        print::Placeholders::for_sql(sql),
    );
    rewriter.limit_output(sql.len());
    for (at, r) in &rules.restrictions {
        rewriter.deny_functions(&at.policy.id, at.rule_index, &r.denied_functions);
    }
    let mut notes = Vec::new();
    let mut outcome = Ok(());
    for stmt in statements.iter_mut() {
        let first_scan = rewriter.begin_statement();
        outcome = enforce(&mut rewriter, rules, stmt, &mut notes);
        // A view's query is read later with expressions the engine never judges.
        let view = matches!(stmt, Statement::CreateView(_));
        rewriter.fence_scans(first_scan, view);
        if outcome.is_err() {
            break;
        }
    }
    let (scans, placeholders) = (rewriter.scans, rewriter.placeholders);
    let mut applied = rewriter.applied;
    let mut all_notes = std::mem::take(&mut applied.notes);
    all_notes.extend(notes);
    all_notes.extend(break_glass_notes(ctx, &selection, &applied));
    let limits = restrict::stateful(rules);
    for l in &limits {
        all_notes.push(format!(
            "limit: policy `{}` (rule {}) sets {} = {}; the engine cannot count it, the caller must",
            l.policy,
            RuleNo(l.rule_index),
            l.kind,
            l.value
        ));
    }
    if outcome.is_ok() {
        // A statement that runs counts against the stateful limits: their policies act on it.
        for l in &limits {
            applied.policies.insert(l.policy.clone());
        }
    }
    let mut verdict = match outcome {
        Err(block) => blocked(block, &selection, &applied, all_notes),
        Ok(()) => match print::print_checked(&set.memo, statements, &scans, &placeholders) {
            Some(rewritten) => allowed(rewritten, &selection, applied, all_notes),
            None => blocked(
                Block::new(
                    VerdictRule::UnsupportedSyntax,
                    "the rewritten SQL would not read back as the statement the engine judged (an operator or literal that prints ambiguously)",
                    "write the statement differently, e.g. with parentheses or spaces around unary operators",
                ),
                &selection,
                &applied,
                all_notes,
            ),
        },
    };
    verdict.limits = limits;
    verdict
}

/// Why a text that did not become statements is blocked.
fn parse_block(e: parse::ParseError) -> Block {
    match e {
        parse::ParseError::Syntax(message) => Block::new(
            VerdictRule::ParseError,
            format!("the SQL does not parse: {message}"),
            "fix the syntax; statements that cannot be parsed are never run",
        ),
        parse::ParseError::Unsupported(why) => Block::new(
            VerdictRule::UnsupportedSyntax,
            why,
            "write the statement in a form the engine can judge; statements it cannot judge are never run",
        ),
        parse::ParseError::TooDeep(what) => Block::new(
            VerdictRule::ParseError,
            format!("the SQL is nested too deeply for the engine to judge: {what}"),
            "flatten the statement: fewer nested parentheses, subqueries or CTEs, shorter chains of operators or set operations (an IN list instead of many ORs)",
        ),
    }
}

fn enforce(
    rewriter: &mut Rewriter<'_>,
    rules: &Rules<'_>,
    stmt: &mut Statement,
    notes: &mut Vec<String>,
) -> Result<(), Block> {
    let kind = restrict::kind_of(stmt);
    let allowed_by = restrict::gate_statement(rules, stmt)?;
    restrict::require_where(rules, stmt)?;
    let joins_before = rewriter.joins;
    match stmt {
        Statement::Query(q) => {
            rewriter.statement_query(q)?;
            if let Some(cap) = restrict::max_rows(rules, q)? {
                capped(rewriter, notes, cap);
            }
        }
        Statement::Insert(_) | Statement::Update(_) | Statement::Delete(_) => {
            rewriter.write(stmt)?;
            if let Some(cap) = restrict::max_rows_of_write(rules, stmt)? {
                capped(rewriter, notes, cap);
            }
        }
        Statement::Copy {
            source,
            to: true,
            target,
            ..
        } => {
            if !matches!(target, CopyTarget::Stdout) {
                return Err(Block::new(
                    VerdictRule::UnsupportedStatement,
                    "COPY … TO a server file or program writes outside the database",
                    "use COPY … TO STDOUT",
                ));
            }
            if let CopySource::Table {
                table_name,
                columns,
            } = source
            {
                // `COPY t TO STDOUT` reads the table: it is judged as `SELECT … FROM t`.
                let list = if columns.is_empty() {
                    "*".to_string()
                } else {
                    columns
                        .iter()
                        .map(|c| c.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let text = format!("SELECT {list} FROM {table_name}");
                let query = match parse::parse_statements(&text)
                    .ok()
                    .and_then(|mut v| v.pop())
                {
                    Some(Statement::Query(q)) => q,
                    _ => {
                        return Err(Block::new(
                            VerdictRule::UnsupportedStatement,
                            "this COPY cannot be judged",
                            "use COPY (query) TO STDOUT",
                        ))
                    }
                };
                *source = CopySource::Query(query);
            }
            if let CopySource::Query(q) = source {
                rewriter.statement_query(q)?;
                if let Some(cap) = restrict::max_rows(rules, q)? {
                    capped(rewriter, notes, cap);
                }
            }
        }
        Statement::CreateTable(ct) if ct.query.is_some() => {
            if let Some(q) = ct.query.as_mut() {
                rewriter.statement_query(q)?;
            }
            note_allowed(notes, allowed_by.as_deref(), kind);
        }
        Statement::Explain { statement, .. } => {
            // EXPLAIN ANALYZE runs the statement, and any plan describes it: the explained
            // statement is judged and enforced like one sent alone.
            enforce(rewriter, rules, statement, notes)?;
            note_allowed(notes, allowed_by.as_deref(), kind);
        }
        Statement::Call(f) => {
            rewriter.call(f)?;
            note_allowed(notes, allowed_by.as_deref(), kind);
        }
        Statement::CreateView(cv) => {
            rewriter.query(&mut cv.query)?;
            note_allowed(notes, allowed_by.as_deref(), kind);
        }
        _ => note_allowed(notes, allowed_by.as_deref(), kind),
    }
    restrict::max_joins(rules, rewriter.joins - joins_before)
}

/// A query limit capped the rows: its note, and its policy among the matched ones.
fn capped(rewriter: &mut Rewriter<'_>, notes: &mut Vec<String>, cap: restrict::Cap<'_>) {
    rewriter.record_policy(cap.policy);
    notes.push(cap.note);
}

fn note_allowed(notes: &mut Vec<String>, policy: Option<&str>, kind: StatementKind) {
    if let Some(policy) = policy {
        notes.push(format!(
            "policy `{policy}` allows `{}` statements explicitly; they run as written, except that queries inside them are enforced",
            kind.as_str()
        ));
    }
}

fn break_glass_notes(ctx: &Context, selection: &Selection<'_>, applied: &Applied) -> Vec<String> {
    if !ctx.break_glass {
        return Vec::new();
    }
    let bypassed: Vec<&str> = selection
        .bypassed
        .policies
        .iter()
        .filter(|p| {
            p.rules
                .iter()
                .any(|r| r.table().is_some_and(|t| applied.tables.contains(t)))
        })
        .map(|p| p.id.as_str())
        .collect();
    if bypassed.is_empty() {
        vec!["break-glass: requested, but no policy on the tables read allows it; every policy applies".into()]
    } else {
        bypassed
            .into_iter()
            .map(|id| format!("break-glass: policy `{id}` is bypassed (it allows break-glass); this access should be reviewed"))
            .collect()
    }
}

/// Policies that govern a table the statement reads, in priority order, with their mode.
fn matched(
    selection: &Selection<'_>,
    applied: &Applied,
    extra: Option<&str>,
) -> Vec<MatchedPolicy> {
    let mut out: Vec<(i64, String, &'static str)> = Vec::new();
    for (rules, mode) in [
        (&selection.enforced, "enforce"),
        (&selection.monitored, "monitor"),
    ] {
        for p in &rules.policies {
            let touches = p
                .rules
                .iter()
                .any(|r| r.table().is_some_and(|t| applied.tables.contains(t)))
                || applied.policies.contains(&p.id)
                || extra == Some(p.id.as_str());
            if touches {
                out.push((p.priority, p.id.clone(), mode));
            }
        }
    }
    out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    out.into_iter()
        .map(|(_, id, mode)| MatchedPolicy {
            id,
            mode: mode.to_string(),
        })
        .collect()
}

fn blocked(
    block: Block,
    selection: &Selection<'_>,
    applied: &Applied,
    notes: Vec<String>,
) -> Verdict {
    let extra = block.blocked_by.as_ref().map(|(p, _)| p.as_str());
    let explanation = vec![match &block.blocked_by {
        Some((p, r)) => format!(
            "policy `{p}` rule {} blocks the statement: {}",
            RuleNo(*r),
            block.reason
        ),
        None => format!("the engine blocks the statement: {}", block.reason),
    }];
    Verdict {
        verdict: Decision::Block,
        rule: block.rule,
        reason: block.reason,
        hint: block.hint,
        masked_columns: Vec::new(),
        row_filters: Vec::new(),
        row_filter_predicate: None,
        rewritten_sql: None,
        matched_policies: matched(selection, applied, extra),
        notes,
        limits: Vec::new(),
        blocked_by: block
            .blocked_by
            .map(|(policy, rule_index)| BlockedBy { policy, rule_index }),
        monitored: applied.monitored.clone(),
        explanation,
    }
}

fn allowed(
    rewritten: String,
    selection: &Selection<'_>,
    applied: Applied,
    notes: Vec<String>,
) -> Verdict {
    let mut explanation = applied.proofs.clone();
    // Texts built for every verdict: joined without the formatting machinery.
    for f in &applied.row_filters {
        explanation.push(concat(&[
            "policy `",
            &f.policy,
            "` rule ",
            Decimal::new(f.rule_index.saturating_add(1)).as_str(),
            " (row_filter) keeps only the rows of `",
            &f.table,
            "` where `",
            &f.predicate,
            "`",
        ]));
    }
    for m in &applied.masked_columns {
        explanation.push(concat(&[
            "policy `",
            &m.policy,
            "` rule ",
            Decimal::new(m.rule_index.saturating_add(1)).as_str(),
            " (column_mask) shows `",
            &m.table,
            ".",
            &m.column,
            "` through the `",
            &m.kind,
            "` mask",
        ]));
    }
    let mut predicates: Vec<&str> = Vec::new();
    for f in &applied.row_filters {
        if !predicates.contains(&f.predicate.as_str()) {
            predicates.push(&f.predicate);
        }
    }
    let row_filter_predicate = match predicates.as_slice() {
        [] => None,
        [one] => Some((*one).to_string()),
        many => Some(
            many.iter()
                .map(|p| format!("({p})"))
                .collect::<Vec<_>>()
                .join(" AND "),
        ),
    };
    let list = |items: Vec<String>| items.join(", ");
    let (decision, rule, reason, hint) = if !applied.row_filters.is_empty() {
        let mut tables: Vec<String> = applied
            .row_filters
            .iter()
            .map(|f| concat(&["`", &f.table, "`"]))
            .collect();
        tables.dedup();
        (
            Decision::RowFilter,
            VerdictRule::RowFilter,
            concat(&["row filters limit the rows of ", &list(tables)]),
            "run rewritten_sql: it returns only the rows the policies admit",
        )
    } else if !applied.masked_columns.is_empty() {
        let cols = applied
            .masked_columns
            .iter()
            .map(|m| concat(&["`", &m.table, ".", &m.column, "` (", &m.kind, ")"]))
            .collect();
        (
            Decision::Mask,
            VerdictRule::ColumnMask,
            concat(&["masks apply to ", &list(cols)]),
            "run rewritten_sql: masked columns keep their names and positions",
        )
    } else {
        (
            Decision::Allow,
            VerdictRule::Allow,
            if applied.tables.is_empty() {
                "the statement reads no governed table".to_string()
            } else {
                "no enforced policy filters or masks what this statement reads".to_string()
            },
            "run rewritten_sql",
        )
    };
    Verdict {
        verdict: decision,
        rule,
        reason,
        hint: hint.to_string(),
        matched_policies: matched(selection, &applied, None),
        masked_columns: applied.masked_columns,
        row_filters: applied.row_filters,
        row_filter_predicate,
        rewritten_sql: Some(rewritten),
        notes,
        limits: Vec::new(),
        blocked_by: None,
        monitored: applied.monitored,
        explanation,
    }
}
