//! The pipeline for one SQL text: select the policies, parse, enforce each statement,
//! and assemble the verdict.

use sqlparser::ast::{CopySource, CopyTarget, Statement};

use crate::applicable::{self, Rules};
use crate::context::Context;
use crate::parse;
use crate::policy::{Operation, PolicySet, StatementKind};
use crate::print;
use crate::restrict;
use crate::rewrite::{Applied, Block, Rewriter};
use crate::verdict::build::{allowed, blocked, break_glass_notes};
use crate::verdict::{RuleNo, Verdict, VerdictRule};

/// Evaluates one SQL text for one context against a validated policy set.
pub fn evaluate(set: &PolicySet, sql: &str, ctx: &Context) -> Verdict {
    let selection = applicable::policies(set, ctx, Operation::Select);
    let mut statements = match parse::parse_statements_in(set.dialect, sql, parse::DEPTH_LIMIT) {
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
    if let Statement::Copy {
        payload: Some(_), ..
    } = stmt
    {
        // The parser reads the lines after `COPY … FROM STDIN;` as the COPY's data;
        // PostgreSQL, sent the same text, runs them as statements.
        return Err(Block::new(
            VerdictRule::UnsupportedSyntax,
            "text after COPY … FROM STDIN would be read as its data here but run as statements by PostgreSQL",
            "send COPY … FROM STDIN as a statement of its own, and its data through the COPY protocol",
        ));
    }
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
