//! Parsing SQL text into statements, in a [`Dialect`] and within a bounded depth.
//!
//! Two limits keep every later step (resolution, rewriting, printing, proving, dropping
//! the tree), all of which recurse over the syntax tree, within a small stack such as
//! WebAssembly's 1 MiB: the parser's [`RECURSION_LIMIT`], and [`DEPTH_LIMIT`] on the tree
//! it built. The second one is needed because sqlparser parses chains of infix and
//! postfix operators (`a + b + …`, `x::int::int…`, `… IS NULL IS NULL`) and of set
//! operations (`… UNION … UNION …`) in loops, so their depth is not bounded by its
//! recursion limit. Long `AND`/`OR` chains are rebalanced first (they print the same and
//! mean the same), so thousands of `OR`ed conditions still evaluate.

use std::ops::ControlFlow;

mod lexical;

use sqlparser::ast::{
    BinaryOperator, Expr, ObjectName, ObjectNamePart, Query, SetExpr, Statement, TableFactor,
    Value, ValueWithSpan, Values, VisitorMut,
};
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::{Span, Token, TokenWithSpan, Tokenizer};

use crate::dialect::Dialect;

/// How deep expressions and queries may nest; deeper texts are blocked, never overflow.
pub const RECURSION_LIMIT: usize = 64;

/// How deep a parsed tree may be, counting statements, queries, set operations, table
/// factors and expressions (after long `AND`/`OR` chains are rebalanced). 128 fits
/// WebAssembly's 1 MiB stack even in an unoptimized build (wasm/tests/api.rs).
pub const DEPTH_LIMIT: usize = 128;

/// How many `[…]` groups may follow one another (array types, subscripts). PostgreSQL
/// arrays have at most 6 dimensions; sqlparser nests these in a loop, unbounded.
pub const BRACKET_CHAIN_LIMIT: usize = 32;

/// `AND`/`OR` chains whose left spine is this long are rebalanced into a tree of
/// logarithmic depth (a balanced tree of fewer than 2^32 operands never is again).
const REBALANCE_FROM: usize = 32;

/// Why a text did not become statements.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// The text is not SQL the parser reads; the parser's message.
    Syntax(String),
    /// PostgreSQL reads the text otherwise than the parser does, so the engine cannot
    /// judge it (a reserved word such as `ONLY` taken for a table name); why.
    Unsupported(String),
    /// The text nests deeper than the engine's limits; what was too deep.
    TooDeep(String),
}

impl ParseError {
    /// The message, for either kind.
    pub fn message(&self) -> &str {
        match self {
            ParseError::Syntax(m) | ParseError::Unsupported(m) | ParseError::TooDeep(m) => m,
        }
    }
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// The statements of a PostgreSQL text, or why not.
pub fn parse_statements(sql: &str) -> Result<Vec<Statement>, ParseError> {
    parse_statements_in(Dialect::Postgres, sql, DEPTH_LIMIT)
}

/// [`parse_statements`] with another depth limit. Checks that parse the engine's own
/// output again use `2 * DEPTH_LIMIT`: a governed scan becomes a derived table, a few
/// levels deeper than the table it replaces.
pub fn parse_statements_within(
    sql: &str,
    depth_limit: usize,
) -> Result<Vec<Statement>, ParseError> {
    parse_statements_in(Dialect::Postgres, sql, depth_limit)
}

/// The statements of a text in `dialect`, within `depth_limit`.
pub fn parse_statements_in(
    dialect: Dialect,
    sql: &str,
    depth_limit: usize,
) -> Result<Vec<Statement>, ParseError> {
    // sqlparser tries speculative parses at every expression (is `x` a type name before a
    // typed string?) and formats an error message, with the position, for each one it
    // throws away. Without positions that costs less; a text that does not parse is parsed
    // again with them, for the message the caller sees.
    let mut statements = match parser_with(dialect, sql, false)?.parse_statements() {
        Ok(statements) => statements,
        Err(e @ ParserError::RecursionLimitExceeded) => return Err(parser_error(e)),
        Err(_) => parser(dialect, sql)?
            .parse_statements()
            .map_err(parser_error)?,
    };
    let mut checker = Depth::new(depth_limit);
    let _ = crate::walk::walk(&mut statements, &mut checker);
    match checker.stopped {
        None => Ok(statements),
        Some(e) => {
            dismantle(Piece::Statements(statements));
            Err(e)
        }
    }
}

/// How much stack sqlparser's growable-stack wrappers (`recursive-protection`) keep free
/// before they switch to a new segment. Their default, 128 KiB, is less than one level of
/// a nested join takes between two wrapped functions in an unoptimized build of sqlparser
/// 0.64 (about 165 KiB: `parse_table_factor`, `parse_table_and_joins`, `parse_joins`), so a
/// deep enough nesting overflowed before the wrapper looked.
#[cfg(feature = "recursive-protection")]
const STACK_RESERVE: usize = 512 << 10;

/// Sets [`STACK_RESERVE`] (a process-wide setting of the `recursive` crate, which only
/// sqlparser uses here).
fn reserve_stack() {
    #[cfg(feature = "recursive-protection")]
    if recursive::get_minimum_stack_size() < STACK_RESERVE {
        recursive::set_minimum_stack_size(STACK_RESERVE);
    }
}

/// A parser over `text` with the engine's dialect and limits; the text is tokenized
/// here, and runs of `[…]` groups longer than [`BRACKET_CHAIN_LIMIT`] are refused.
pub(crate) fn parser(dialect: Dialect, text: &str) -> Result<Parser<'static>, ParseError> {
    parser_with(dialect, text, true)
}

/// [`parser`], with the tokens' positions kept for the parser's error messages or not
/// (the engine's own checks of the tokens name positions either way).
fn parser_with(
    dialect: Dialect,
    text: &str,
    positions: bool,
) -> Result<Parser<'static>, ParseError> {
    let dialect = dialect.parser();
    reserve_stack();
    // About one token (whitespace included) per two to three bytes of SQL: sized once
    // rather than grown by doubling, each step a copy of every token so far.
    let mut tokens = Vec::with_capacity(text.len() / 2 + 8);
    Tokenizer::new(dialect, text)
        .tokenize_with_location_into_buf(&mut tokens)
        .map_err(|e| parser_error(e.into()))?;
    check_brackets(&tokens)?;
    check_quoted(&tokens)?;
    lexical::check(text, &tokens)?;
    if !positions {
        for t in &mut tokens {
            t.span = Span::empty();
        }
    }
    Ok(Parser::new(dialect)
        .with_recursion_limit(RECURSION_LIMIT)
        .with_tokens_with_locations(tokens))
}

/// Checks a parsed expression against [`DEPTH_LIMIT`] (rebalancing long `AND`/`OR`
/// chains); a tree that is too deep is taken apart without recursion.
pub(crate) fn check_expr(expr: Expr) -> Result<Expr, ParseError> {
    let mut expr = expr;
    let mut checker = Depth::new(DEPTH_LIMIT);
    let _ = crate::walk::walk(&mut expr, &mut checker);
    match checker.stopped {
        None => Ok(expr),
        Some(e) => {
            dismantle(Piece::Expr(Box::new(expr)));
            Err(e)
        }
    }
}

fn parser_error(e: sqlparser::parser::ParserError) -> ParseError {
    let m = e.to_string();
    let m = m
        .strip_prefix("sql parser error: ")
        .unwrap_or(&m)
        .to_string();
    if m.contains("recursion limit exceeded") {
        ParseError::TooDeep(format!(
            "expressions or queries nest more than {RECURSION_LIMIT} levels deep"
        ))
    } else {
        ParseError::Syntax(m)
    }
}

fn check_brackets(tokens: &[TokenWithSpan]) -> Result<(), ParseError> {
    // How many groups in a row end just before the current point, per open bracket.
    let mut runs = vec![0usize];
    let mut after_group = false;
    for t in tokens {
        match &t.token {
            Token::Whitespace(_) => continue,
            Token::LBracket => {
                if let Some(run) = runs.last_mut() {
                    *run = if after_group { *run + 1 } else { 0 };
                    if *run >= BRACKET_CHAIN_LIMIT {
                        return Err(ParseError::TooDeep(format!(
                            "more than {BRACKET_CHAIN_LIMIT} `[…]` groups follow one another"
                        )));
                    }
                }
                runs.push(0);
                after_group = false;
            }
            Token::RBracket => {
                if runs.len() > 1 {
                    runs.pop();
                }
                after_group = true;
            }
            _ => after_group = false,
        }
    }
    Ok(())
}

/// Whether sqlparser prints `text` between `quote`s so that it reads back as itself.
/// It doubles each quote, except a quote after a backslash or before another quote, which
/// it takes as escaped already: the string `a''b` would print as `'a''b'`, which reads
/// `a'b`, and the name `a""b` as `"a""b"`, the name `a"b`.
pub(crate) fn reprints(text: &str, quote: char) -> bool {
    let mut previous = None;
    for c in text.chars() {
        if c == quote && (previous == Some(quote) || previous == Some('\\')) {
            return false;
        }
        previous = Some(c);
    }
    true
}

/// Refuses quoted names and strings that sqlparser would print with another meaning
/// ([`reprints`]): the rewritten SQL would name another table, or compare another value,
/// than the one the engine judged.
fn check_quoted(tokens: &[TokenWithSpan]) -> Result<(), ParseError> {
    for t in tokens {
        let (text, quote, what) = match &t.token {
            Token::Word(w) => match w.quote_style {
                Some(q) => (&w.value, q, "quoted name"),
                None => continue,
            },
            Token::SingleQuotedString(s) | Token::NationalStringLiteral(s) => (s, '\'', "string"),
            _ => continue,
        };
        if !reprints(text, quote) {
            return Err(ParseError::Syntax(format!(
                "the {what} at {} holds {quote}{quote} or \\{quote}, which the engine cannot print back with the same meaning; write it without two quotes in a row or a quote after a backslash (a string can be written E'…' with \\' for each quote)",
                t.span.start
            )));
        }
    }
    Ok(())
}

/// The depth check: counts levels on the way down and stops past [`DEPTH_LIMIT`], so
/// its own recursion is bounded too.
struct Depth {
    limit: usize,
    depth: usize,
    /// What each open query added (itself and its set-operation tree).
    queries: Vec<usize>,
    /// Why the walk stopped: too deep, or a literal that would not print back as itself.
    stopped: Option<ParseError>,
}

impl Depth {
    fn new(limit: usize) -> Depth {
        Depth {
            limit,
            depth: 0,
            queries: Vec::new(),
            stopped: None,
        }
    }

    fn enter(&mut self, levels: usize, what: &str) -> ControlFlow<()> {
        self.depth = self.depth.saturating_add(levels);
        if self.depth > self.limit {
            self.stopped = Some(ParseError::TooDeep(format!(
                "{what} nest more than {} levels deep",
                self.limit
            )));
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }

    /// Stops the walk with `why`, if there is one.
    fn refuse(&mut self, why: Option<ParseError>) -> ControlFlow<()> {
        match why {
            None => ControlFlow::Continue(()),
            Some(why) => {
                self.stopped = Some(why);
                ControlFlow::Break(())
            }
        }
    }

    fn leave(&mut self, levels: usize) -> ControlFlow<()> {
        self.depth = self.depth.saturating_sub(levels);
        ControlFlow::Continue(())
    }
}

// INVARIANT: a visitor keeps why it stopped in itself and breaks with `()`.
impl VisitorMut for Depth {
    type Break = ();

    fn pre_visit_statement(&mut self, _: &mut Statement) -> ControlFlow<()> {
        self.enter(1, "statements")
    }

    fn post_visit_statement(&mut self, _: &mut Statement) -> ControlFlow<()> {
        self.leave(1)
    }

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        // Set operations have no visitor hook of their own: their tree is measured here,
        // without recursion, before the visitor walks into it.
        let levels = 1 + set_operation_depth(&query.body);
        self.queries.push(levels);
        self.enter(levels, "queries and set operations")
    }

    fn post_visit_query(&mut self, _: &mut Query) -> ControlFlow<()> {
        let levels = self.queries.pop().unwrap_or(1);
        self.leave(levels)
    }

    fn pre_visit_table_factor(&mut self, _: &mut TableFactor) -> ControlFlow<()> {
        self.enter(1, "tables and joins")
    }

    fn post_visit_table_factor(&mut self, _: &mut TableFactor) -> ControlFlow<()> {
        self.leave(1)
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        rebalance(expr);
        self.enter(1, "expressions")
    }

    fn post_visit_expr(&mut self, _: &mut Expr) -> ControlFlow<()> {
        self.leave(1)
    }

    fn pre_visit_relation(&mut self, name: &mut ObjectName) -> ControlFlow<()> {
        self.refuse(misread_relation(name).map(ParseError::Unsupported))
    }

    fn pre_visit_value(&mut self, value: &mut ValueWithSpan) -> ControlFlow<()> {
        self.refuse(unprintable(&value.value).map(ParseError::Syntax))
    }
}

/// Why PostgreSQL would not read a table name as the parser did, if it would not: a name
/// that starts with a bare reserved word. The parser takes some of them for names where
/// PostgreSQL takes them for key words, and then judges another statement than the one
/// that runs: it reads `FROM ONLY orders` and `UPDATE ONLY orders` as the table `only`
/// named `orders`, which leaves the governed table `orders` unfiltered when it is printed
/// back (PostgreSQL reads `ONLY orders`: the table without its descendant tables).
fn misread_relation(name: &ObjectName) -> Option<String> {
    let Some(ObjectNamePart::Identifier(first)) = name.0.first() else {
        return None;
    };
    if first.quote_style.is_some() || !crate::ident::is_reserved_word(&first.value) {
        return None;
    }
    let word = first.value.to_ascii_uppercase();
    Some(if word == "ONLY" {
        "`ONLY` before a table name (the table without its descendant tables) is not supported: the engine would take `ONLY` for the table's name; write the table without it".to_string()
    } else {
        format!(
            "`{word}` is a reserved word in PostgreSQL, not a table name; quote it (\"{}\") if a table of that name is meant",
            first.value.to_ascii_lowercase()
        )
    })
}

/// Why a literal cannot be printed back as itself, if it cannot. sqlparser prints these
/// kinds between quotes without escaping them: a hex string read as `x'0\' UNION …'`
/// holds a quote, and printed it would end early and let the rest run as SQL that was
/// never judged. PostgreSQL allows only hex digits in `X'…'` and 0/1 in `B'…'`; the
/// other raw kinds are not PostgreSQL's.
fn unprintable(value: &Value) -> Option<String> {
    match value {
        Value::HexStringLiteral(s) if !s.chars().all(|c| c.is_ascii_hexdigit()) => {
            Some("a hexadecimal string literal (X'…') may hold only hexadecimal digits".into())
        }
        Value::SingleQuotedByteStringLiteral(s) if !s.chars().all(|c| c == '0' || c == '1') => {
            Some("a bit string literal (B'…') may hold only 0 and 1".into())
        }
        Value::TripleSingleQuotedString(_)
        | Value::TripleDoubleQuotedString(_)
        | Value::QuoteDelimitedStringLiteral(_)
        | Value::NationalQuoteDelimitedStringLiteral(_)
        | Value::DoubleQuotedByteStringLiteral(_)
        | Value::TripleSingleQuotedByteStringLiteral(_)
        | Value::TripleDoubleQuotedByteStringLiteral(_)
        | Value::SingleQuotedRawStringLiteral(_)
        | Value::DoubleQuotedRawStringLiteral(_)
        | Value::TripleSingleQuotedRawStringLiteral(_)
        | Value::TripleDoubleQuotedRawStringLiteral(_) => {
            Some(format!("`{value}` is not a PostgreSQL literal"))
        }
        _ => None,
    }
}

/// The depth of the set-operation tree at the top of a query body (0 for a plain SELECT).
fn set_operation_depth(body: &SetExpr) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(body, 0usize)];
    while let Some((e, d)) = stack.pop() {
        if let SetExpr::SetOperation { left, right, .. } = e {
            deepest = deepest.max(d + 1);
            stack.push((left, d + 1));
            stack.push((right, d + 1));
        }
    }
    deepest
}

fn is_chain_op(op: &BinaryOperator) -> bool {
    matches!(op, BinaryOperator::And | BinaryOperator::Or)
}

fn placeholder() -> Expr {
    Expr::value(Value::Null)
}

/// Rebuilds a long chain of one `AND` or `OR` operator as a balanced tree with the same
/// operands in the same order. Both are associative (also in SQL's three-valued logic),
/// and a binary operation prints without parentheses, so the tree prints the same text.
fn rebalance(expr: &mut Expr) {
    let Expr::BinaryOp { op, .. } = expr else {
        return;
    };
    if !is_chain_op(op) {
        return;
    }
    let op = op.clone();
    let mut spine = 0;
    let mut at: &Expr = expr;
    while let Expr::BinaryOp { left, op: this, .. } = at {
        if *this != op || spine >= REBALANCE_FROM {
            break;
        }
        spine += 1;
        at = left;
    }
    if spine < REBALANCE_FROM {
        return;
    }
    // The operands, left to right, found without recursion.
    let mut operands = Vec::new();
    let mut stack = vec![std::mem::replace(expr, placeholder())];
    while let Some(e) = stack.pop() {
        match e {
            Expr::BinaryOp {
                left,
                op: this,
                right,
            } if this == op => {
                stack.push(*right);
                stack.push(*left);
            }
            other => operands.push(other),
        }
    }
    if let Some(tree) = balanced(&op, operands) {
        *expr = tree;
    }
}

/// `a op b op c …` as the parser reads its text back: a left-deep chain, or past
/// `REBALANCE_FROM` operators the balanced tree [`rebalance`] makes of it (so a tree built
/// by the engine compares equal to the one its printed text parses to).
pub(crate) fn chain(op: &BinaryOperator, operands: Vec<Expr>) -> Option<Expr> {
    if operands.len() > REBALANCE_FROM {
        return balanced(op, operands);
    }
    operands.into_iter().reduce(|left, right| Expr::BinaryOp {
        left: Box::new(left),
        op: op.clone(),
        right: Box::new(right),
    })
}

/// `a op b op c …` as a balanced tree (depth log2 n) with the operands in their order;
/// for an associative `op` it means and prints the same as the parser's left-deep chain.
pub(crate) fn balanced(op: &BinaryOperator, operands: Vec<Expr>) -> Option<Expr> {
    let mut operands = operands;
    // Pairs of neighbours, level by level, until one tree is left.
    while operands.len() > 1 {
        let mut next = Vec::with_capacity(operands.len() / 2 + 1);
        let mut items = operands.into_iter();
        while let Some(left) = items.next() {
            match items.next() {
                Some(right) => next.push(Expr::BinaryOp {
                    left: Box::new(left),
                    op: op.clone(),
                    right: Box::new(right),
                }),
                None => next.push(left),
            }
        }
        operands = next;
    }
    operands.pop()
}

/// A part of a too-deep tree waiting to be taken apart.
enum Piece {
    Statements(Vec<Statement>),
    Expr(Box<Expr>),
    SetExpr(Box<SetExpr>),
}

/// Levels below which [`dismantle`] cuts expressions off.
const CUT_DEPTH: usize = 32;

/// Drops a tree of any depth without deep recursion: dropping (like visiting and
/// printing) recurses once per level, so deep chains are cut into shallow pieces first.
fn dismantle(root: Piece) {
    let mut pending = vec![root];
    while let Some(piece) = pending.pop() {
        let mut cutter = Cutter {
            depth: 0,
            pending: Vec::new(),
        };
        match piece {
            Piece::Statements(mut statements) => {
                let _ = crate::walk::walk(&mut statements, &mut cutter);
            }
            Piece::Expr(mut expr) => {
                let _ = crate::walk::walk(expr.as_mut(), &mut cutter);
            }
            Piece::SetExpr(set) => match *set {
                SetExpr::SetOperation { left, right, .. } => {
                    cutter.pending.push(Piece::SetExpr(left));
                    cutter.pending.push(Piece::SetExpr(right));
                }
                mut other => {
                    let _ = crate::walk::walk(&mut other, &mut cutter);
                }
            },
        }
        // Here the piece itself is dropped: it is at most CUT_DEPTH expressions deep.
        pending.append(&mut cutter.pending);
    }
}

struct Cutter {
    depth: usize,
    pending: Vec<Piece>,
}

impl VisitorMut for Cutter {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if matches!(query.body.as_ref(), SetExpr::SetOperation { .. }) {
            let empty = SetExpr::Values(Values {
                explicit_row: false,
                value_keyword: false,
                rows: Vec::new(),
            });
            let body = std::mem::replace(query.body.as_mut(), empty);
            self.pending.push(Piece::SetExpr(Box::new(body)));
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        self.depth += 1;
        if self.depth > CUT_DEPTH {
            self.pending.push(Piece::Expr(Box::new(std::mem::replace(
                expr,
                placeholder(),
            ))));
        }
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, _: &mut Expr) -> ControlFlow<()> {
        self.depth = self.depth.saturating_sub(1);
        ControlFlow::Continue(())
    }
}
