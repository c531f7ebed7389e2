//! Printing the rewritten statements, checked to read back as what was judged.
//!
//! What callers run must be what the engine judged. sqlparser prints some trees
//! ambiguously (`- @x` as `-@x`, one operator), so every answer's SQL must parse again,
//! print the same, and parse to the very tree the engine judged (positions aside), or the
//! statement is blocked.
//!
//! Most of a rewritten text is the engine's own scans (`(SELECT <columns, masks> FROM t
//! WHERE <filters>)`), built from the policies and the context, the same text for every
//! statement that reads the table in that context. The rewriter builds a scan as text and
//! puts a table named by a placeholder in its place in the tree, so the check is split:
//! the statements printed with their placeholders (the *skeleton*) must read back with
//! every placeholder as a table, and each scan's text must read back alone as one query
//! (so it is exactly what sqlparser prints for that query). Then the whole text reads back
//! too: at a placeholder the tokenizer is between tokens, `(` and `)` are tokens of their
//! own, the scan's text ends its last token by itself (a comment or an open quote would
//! not have read back alone), and a derived table takes the place of a table name in the
//! grammar. What the checks found is remembered (bounded): a statement text with the tree
//! it reads back as, so that an application's repeated statements are compared with it
//! rather than parsed again, and the scan texts that read back (a fact about the text
//! alone). Debug builds also check the whole text every time and assert that both checks
//! agree.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::ops::ControlFlow;
use std::sync::Mutex;

use sqlparser::ast::{
    Ident, ObjectName, ObjectNamePart, Query, Statement, TableAlias, TableFactor, VisitorMut,
};

use crate::parse;

/// How the placeholder names of one evaluation start: a placeholder is this, its number
/// and `_`.
const PLACEHOLDER: &str = "verdict_scan_placeholder_";

/// The names of the tables that stand for scans while a statement is checked: a start
/// that the caller's SQL text does not hold (so none of its tables has such a name), then
/// the scan's number and `_`.
#[derive(Debug, Clone)]
pub struct Placeholders {
    prefix: String,
}

impl Placeholders {
    /// Placeholders whose names the SQL text does not hold, in any letter case.
    pub(crate) fn for_sql(sql: &str) -> Self {
        Placeholders {
            prefix: fresh_prefix(PLACEHOLDER, sql),
        }
    }

    /// A table named by placeholder `n`, with the scan's alias, in the place of scan `n`.
    pub(crate) fn table(&self, n: usize, alias: TableAlias) -> TableFactor {
        TableFactor::Table {
            name: ObjectName(vec![ObjectNamePart::Identifier(Ident::new(concat(&[
                &self.prefix,
                Decimal::new(n).as_str(),
                "_",
            ])))]),
            alias: Some(alias),
            args: None,
            with_hints: Vec::new(),
            version: None,
            with_ordinality: false,
            partitions: Vec::new(),
            json_path: None,
            sample: None,
            index_directives: Vec::new(),
            inheritance: None,
        }
    }

    /// The number of the placeholder naming this table, if one does.
    fn number(&self, tf: &TableFactor) -> Option<usize> {
        let TableFactor::Table { name, .. } = tf else {
            return None;
        };
        let [ObjectNamePart::Identifier(id)] = name.0.as_slice() else {
            return None;
        };
        if id.quote_style.is_some() {
            return None;
        }
        id.value
            .strip_prefix(self.prefix.as_str())?
            .strip_suffix('_')?
            .parse()
            .ok()
    }
}

/// `parts` joined, in one allocation and without the formatting machinery (which costs
/// most in WebAssembly): for texts built on every evaluation.
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        out.push_str(p);
    }
    out
}

/// A number in decimal, written without the formatting machinery.
pub(crate) struct Decimal {
    digits: [u8; 20],
    start: usize,
}

impl Decimal {
    pub(crate) fn new(n: usize) -> Decimal {
        // 20 digits hold any 64-bit number.
        let (mut digits, mut start, mut n) = ([b'0'; 20], 20usize, n as u64);
        while let Some(next) = start.checked_sub(1) {
            start = next;
            if let Some(d) = digits.get_mut(start) {
                *d = b'0' + (n % 10) as u8;
            }
            n /= 10;
            if n == 0 {
                break;
            }
        }
        Decimal { digits, start }
    }

    pub(crate) fn as_str(&self) -> &str {
        // INVARIANT: only ASCII digits are written.
        self.digits
            .get(self.start..)
            .and_then(|d| std::str::from_utf8(d).ok())
            .unwrap_or_default()
    }
}

/// `base` (ASCII, lower case), with `x_` added until `text` does not hold it in any ASCII
/// letter case: names `{prefix}{n}_` then cannot be taken for anything the text holds.
pub(crate) fn fresh_prefix(base: &str, text: &str) -> String {
    let mut prefix = base.to_string();
    while contains_ignoring_ascii_case(text, &prefix) {
        prefix.push_str("x_");
    }
    prefix
}

/// `text` cut at its markers `{prefix}{n}_`: each piece before a marker with the marker's
/// number, and the rest after the last marker; `None` if a marker's number does not read.
pub(crate) fn cut_at_markers<'t>(
    text: &'t str,
    prefix: &str,
) -> Option<(Vec<(&'t str, usize)>, &'t str)> {
    let mut cuts = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let after = rest.get(at + prefix.len()..)?;
        let digits = after.find('_')?;
        cuts.push((rest.get(..at)?, after.get(..digits)?.parse().ok()?));
        rest = after.get(digits + 1..)?;
    }
    Some((cuts, rest))
}

/// Whether `text` holds `needle` (ASCII, lower case) in any ASCII letter case.
fn contains_ignoring_ascii_case(text: &str, needle: &str) -> bool {
    let (text, needle) = (text.as_bytes(), needle.as_bytes());
    if needle.is_empty() {
        return true;
    }
    text.windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle))
}

/// The statements printed as one text (`;\n` between them) with scan `n`'s text in the
/// place of placeholder `n`, if it reads back as the statements judged.
pub(crate) fn print_checked(
    memo: &Memo,
    mut statements: Vec<Statement>,
    scans: &[String],
    names: &Placeholders,
) -> Option<String> {
    let skeleton = print(&statements);
    if scans.is_empty() {
        return reads_back_as(
            memo,
            Tree::ReadsBack,
            &skeleton,
            &skeleton,
            &statements,
            None,
        )
        .then_some(skeleton);
    }
    let whole = fill(&skeleton, scans, &names.prefix);
    let Some(whole) = whole else {
        // A context value holds a placeholder's name: put the scans in the tree as
        // derived tables, and check the whole text.
        let mut queries = Vec::with_capacity(scans.len());
        for text in scans {
            match parse::parse_statements_within(text, 2 * parse::DEPTH_LIMIT) {
                Ok(mut v) => match (v.pop(), v.is_empty()) {
                    (Some(Statement::Query(q)), true) => queries.push(Some(*q)),
                    _ => return None,
                },
                Err(_) => return None,
            }
        }
        let _ = crate::walk::walk(
            &mut statements,
            &mut PutScansBack {
                scans: &mut queries,
                names,
            },
        );
        let whole = print(&statements);
        return parsed_back(&whole)
            .is_some_and(|again| again == statements)
            .then_some(whole);
    };
    let key = format!("{}\n{skeleton}", names.prefix);
    let split = reads_back_as(
        memo,
        Tree::Skeleton,
        &key,
        &skeleton,
        &statements,
        Some((scans.len(), names)),
    ) && scans.iter().all(|t| scan_reads_back_remembered(memo, t));
    drop(statements);
    debug_assert_eq!(
        split,
        reads_back(&whole),
        "the split read-back check disagrees with the whole text's: {whole:?}"
    );
    split.then_some(whole)
}

/// Statements as the engine prints them.
fn print(statements: &[Statement]) -> String {
    let mut out = String::new();
    for (i, stmt) in statements.iter().enumerate() {
        if i > 0 {
            out.push_str(";\n");
        }
        // INVARIANT: writing into a String cannot fail.
        let _ = write!(out, "{stmt}");
    }
    out
}

/// The statements of `sql` if it parses again and prints the same.
fn parsed_back(sql: &str) -> Option<Vec<Statement>> {
    let again = parse::parse_statements_within(sql, 2 * parse::DEPTH_LIMIT).ok()?;
    (print(&again) == sql).then_some(again)
}

/// Whether SQL printed from a tree parses again and prints the same.
fn reads_back(sql: &str) -> bool {
    parsed_back(sql).is_some()
}

/// Whether `text`, printed from `judged`, reads back as `judged`: it parses again, prints
/// the same, and parses to a tree equal to `judged` (positions aside), with `placeholders`
/// (a count) tables named by placeholders. A fixed point alone is not enough: two trees
/// can print as one text (a tree without the parentheses its precedence needs, or a name
/// printed with the escaping of another), and the text then runs as the tree it parses to.
/// The tree a text reads back as is remembered under `key`, so a repeated statement is
/// compared with it rather than parsed again.
fn reads_back_as(
    memo: &Memo,
    tree_of: Tree,
    key: &str,
    text: &str,
    judged: &[Statement],
    placeholders: Option<(usize, &Placeholders)>,
) -> bool {
    if let Some(tree) = memo.lock().trees(tree_of).get(key) {
        // Debug builds parse again: what was remembered must still be what it reads as.
        debug_assert!(
            parsed_back(text).as_deref() == Some(tree.as_slice()),
            "{tree_of:?} remembered a tree the text does not read back as: {key:?}"
        );
        return tree.as_slice() == judged;
    }
    let Some(mut again) = parsed_back(text) else {
        return false;
    };
    if let Some((count, names)) = placeholders {
        let mut found = 0;
        let _ = crate::walk::walk(
            &mut again,
            &mut CountPlaceholders {
                found: &mut found,
                names,
            },
        );
        if found != count {
            return false;
        }
    }
    if again.as_slice() != judged {
        return false;
    }
    if key.len() <= KNOWN_TEXT_BYTES {
        let cost = key.len() * TREE_BYTES_PER_TEXT_BYTE;
        let mut known = memo.lock();
        known.make_room(cost);
        if known
            .trees(tree_of)
            .insert(key.to_string(), again)
            .is_none()
        {
            known.bytes += cost;
        }
    }
    true
}

/// A scan's text reads back alone as one query.
fn scan_reads_back(text: &str) -> bool {
    parsed_back(text).is_some_and(|again| matches!(again.as_slice(), [Statement::Query(_)]))
}

/// The statement checks whose trees are remembered.
#[derive(Debug, Clone, Copy)]
enum Tree {
    /// [`reads_back_as`] for statements without scans (the key is the text).
    ReadsBack,
    /// [`reads_back_as`] for a skeleton (the key is the placeholders' prefix, `\n`, the
    /// skeleton).
    Skeleton,
}

/// What the checks established, bounded: statement texts with the trees they read back as
/// (the same statements, an application's repeated queries, are parsed again once), and
/// scan texts known to read back (a table read in the same context). Cleared when it
/// holds [`KNOWN_BYTES`] (estimated); longer texts are not kept.
///
/// Owned by the policy set the statements are judged under ([`crate::PolicySet`]), so
/// whoever holds the set (the WebAssembly `PolicyEngine`, the server's active set) holds
/// what it remembers, and dropping the set drops it. A clone starts empty; it never makes
/// two sets unequal.
#[derive(Default)]
pub struct Memo(Mutex<Known>);

impl Memo {
    /// Locked (a panic elsewhere while it was held leaves nothing half-done in it).
    fn lock(&self) -> std::sync::MutexGuard<'_, Known> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets every text known to pass a check, so the next evaluations check everything
    /// (benchmarks of the cold path).
    #[doc(hidden)]
    pub fn forget(&self) {
        self.lock().forget(true);
    }

    /// Forgets the statements known to read back, not the scans (benchmarks of statements
    /// the engine has not seen, over tables read before in the same context).
    #[doc(hidden)]
    pub fn forget_statements(&self) {
        self.lock().forget(false);
    }
}

impl Clone for Memo {
    fn clone(&self) -> Memo {
        Memo::default()
    }
}

impl PartialEq for Memo {
    fn eq(&self, _: &Memo) -> bool {
        true
    }
}

impl std::fmt::Debug for Memo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Memo")
    }
}

#[derive(Default)]
struct Known {
    /// By [`Tree::ReadsBack`].
    reads_back: BTreeMap<String, Vec<Statement>>,
    /// By [`Tree::Skeleton`].
    skeletons: BTreeMap<String, Vec<Statement>>,
    /// Scan texts known to pass [`scan_reads_back`] (a fact about the text alone: scans
    /// are the engine's own text).
    scans: BTreeSet<String>,
    bytes: usize,
}

impl Known {
    fn trees(&mut self, tree: Tree) -> &mut BTreeMap<String, Vec<Statement>> {
        match tree {
            Tree::ReadsBack => &mut self.reads_back,
            Tree::Skeleton => &mut self.skeletons,
        }
    }

    /// Forgets the statements' trees, and the scans too when `scans`.
    fn forget(&mut self, scans: bool) {
        let trees = [
            std::mem::take(&mut self.reads_back),
            std::mem::take(&mut self.skeletons),
        ];
        let mut freed: usize = trees
            .iter()
            .flat_map(BTreeMap::keys)
            .map(|k| k.len() * TREE_BYTES_PER_TEXT_BYTE)
            .sum();
        if scans {
            freed += std::mem::take(&mut self.scans)
                .iter()
                .map(String::len)
                .sum::<usize>();
        }
        self.bytes -= freed;
    }

    /// Forgets everything if `cost` more bytes would pass [`KNOWN_BYTES`].
    fn make_room(&mut self, cost: usize) {
        if self.bytes + cost > KNOWN_BYTES {
            self.forget(true);
        }
    }
}

/// How much a [`Memo`] holds at most (texts, and trees estimated from their texts), and
/// the longest text it keeps.
const KNOWN_BYTES: usize = 8 << 20;
const KNOWN_TEXT_BYTES: usize = 64 << 10;

/// A parsed statement takes about this many bytes of memory per byte of its text (an
/// estimate on the side of more: identifiers, boxes and vectors of every node).
const TREE_BYTES_PER_TEXT_BYTE: usize = 16;

/// [`scan_reads_back`], from `memo` when the scan passed before.
fn scan_reads_back_remembered(memo: &Memo, text: &str) -> bool {
    if memo.lock().scans.contains(text) {
        // Debug builds check again: what was remembered must still hold.
        debug_assert!(
            scan_reads_back(text),
            "a scan remembered that fails its check: {text:?}"
        );
        return true;
    }
    let ok = scan_reads_back(text);
    if ok && text.len() <= KNOWN_TEXT_BYTES {
        let mut known = memo.lock();
        known.make_room(text.len());
        if known.scans.insert(text.to_string()) {
            known.bytes += text.len();
        }
    }
    ok
}

/// The skeleton with each placeholder replaced by its scan's text in parentheses, as
/// sqlparser prints a derived table; `None` if a placeholder is not one of ours, or the
/// skeleton holds the placeholders' prefix more or fewer times than there are scans.
fn fill(skeleton: &str, texts: &[String], prefix: &str) -> Option<String> {
    let (cuts, last) = cut_at_markers(skeleton, prefix)?;
    if cuts.len() != texts.len() {
        return None;
    }
    let mut out =
        String::with_capacity(skeleton.len() + texts.iter().map(|t| t.len() + 2).sum::<usize>());
    for (piece, n) in cuts {
        out.push_str(piece);
        out.push('(');
        out.push_str(texts.get(n)?);
        out.push(')');
    }
    out.push_str(last);
    Some(out)
}

/// Puts scans (parsed from their texts) back in the place of their placeholders.
struct PutScansBack<'s> {
    scans: &'s mut Vec<Option<Query>>,
    names: &'s Placeholders,
}

impl VisitorMut for PutScansBack<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, tf: &mut TableFactor) -> ControlFlow<()> {
        let Some(n) = self.names.number(tf) else {
            return ControlFlow::Continue(());
        };
        let TableFactor::Table { alias, .. } = tf else {
            return ControlFlow::Continue(());
        };
        let Some(query) = self.scans.get_mut(n).and_then(Option::take) else {
            return ControlFlow::Continue(());
        };
        *tf = TableFactor::Derived {
            lateral: false,
            subquery: Box::new(query),
            alias: alias.take(),
            sample: None,
        };
        ControlFlow::Continue(())
    }
}

/// Counts the tables named by a placeholder.
struct CountPlaceholders<'c> {
    found: &'c mut usize,
    names: &'c Placeholders,
}

impl VisitorMut for CountPlaceholders<'_> {
    type Break = ();

    fn pre_visit_table_factor(&mut self, tf: &mut TableFactor) -> ControlFlow<()> {
        if self.names.number(tf).is_some() {
            *self.found += 1;
        }
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first statement of `sql`, as the engine parses it.
    fn statement(sql: &str) -> Statement {
        parse::parse_statements(sql).unwrap().remove(0)
    }

    #[test]
    fn a_text_that_reads_back_as_another_tree_is_refused() {
        let names = Placeholders::for_sql("");
        // As parsed, a tree reads back as itself.
        let judged = statement("SELECT a FROM t WHERE (x OR y) AND z");
        assert_eq!(
            print_checked(&Memo::default(), vec![judged.clone()], &[], &names).as_deref(),
            Some("SELECT a FROM t WHERE (x OR y) AND z")
        );
        // Without its parentheses, `(x OR y) AND z` prints as `x OR y AND z`, a fixed point
        // that parses as `x OR (y AND z)`.
        let Statement::Query(mut q) = judged else {
            unreachable!()
        };
        let sqlparser::ast::SetExpr::Select(select) = q.body.as_mut() else {
            unreachable!()
        };
        let Some(sqlparser::ast::Expr::BinaryOp { left, .. }) = select.selection.as_mut() else {
            unreachable!()
        };
        let sqlparser::ast::Expr::Nested(inner) = left.as_mut() else {
            unreachable!()
        };
        let inner = std::mem::replace(
            inner.as_mut(),
            sqlparser::ast::Expr::value(sqlparser::ast::Value::Null),
        );
        **left = inner;
        let unparenthesized = Statement::Query(q);
        let text = unparenthesized.to_string();
        assert_eq!(text, "SELECT a FROM t WHERE x OR y AND z");
        assert!(reads_back(&text), "the text is a fixed point");
        assert_eq!(
            print_checked(&Memo::default(), vec![unparenthesized.clone()], &[], &names),
            None
        );
        // Also when the text was remembered from a statement that read back as itself.
        let same_text = statement("SELECT a FROM t WHERE x OR y AND z");
        assert!(print_checked(&Memo::default(), vec![same_text], &[], &names).is_some());
        assert_eq!(
            print_checked(&Memo::default(), vec![unparenthesized], &[], &names),
            None
        );

        // A name sqlparser prints with the escaping of another: the table `a""b` prints as
        // `"a""b"`, which names the table `a"b` (and prints the same).
        let mut judged = statement("SELECT 1 FROM \"placeholder\"");
        let _ = crate::walk::walk(&mut judged, &mut Rename("a\"\"b"));
        let text = judged.to_string();
        assert_eq!(text, "SELECT 1 FROM \"a\"\"b\"");
        assert!(reads_back(&text), "the text is a fixed point");
        assert_eq!(
            print_checked(&Memo::default(), vec![judged], &[], &names),
            None
        );
    }

    /// Renames every quoted identifier.
    struct Rename(&'static str);

    impl VisitorMut for Rename {
        type Break = ();

        fn pre_visit_relation(&mut self, name: &mut ObjectName) -> ControlFlow<()> {
            for part in &mut name.0 {
                if let ObjectNamePart::Identifier(id) = part {
                    id.value = self.0.to_string();
                }
            }
            ControlFlow::Continue(())
        }
    }

    #[test]
    fn decimals_and_joined_texts_are_what_format_gives() {
        for n in [0, 7, 10, 99, 100, 12_345, u32::MAX as usize, usize::MAX] {
            assert_eq!(Decimal::new(n).as_str(), n.to_string());
        }
        assert_eq!(concat(&[]), "");
        assert_eq!(concat(&["a", "", "bc", "é"]), "abcé");
    }

    #[test]
    fn placeholders_avoid_names_the_text_holds_in_any_case() {
        assert_eq!(Placeholders::for_sql("SELECT 1").prefix, PLACEHOLDER);
        let sql = "SELECT * FROM Verdict_Scan_Placeholder_0_ JOIN verdict_scan_placeholder_x_1_";
        assert_eq!(
            Placeholders::for_sql(sql).prefix,
            format!("{PLACEHOLDER}x_x_")
        );
    }

    #[test]
    fn contains_ignoring_ascii_case_finds_every_position() {
        assert!(contains_ignoring_ascii_case("abc", ""));
        assert!(contains_ignoring_ascii_case("xxABc", "abc"));
        assert!(contains_ignoring_ascii_case("abc", "abc"));
        assert!(contains_ignoring_ascii_case("aaab", "aab"));
        assert!(!contains_ignoring_ascii_case("ab", "abc"));
        assert!(!contains_ignoring_ascii_case("", "a"));
        assert!(!contains_ignoring_ascii_case("abd abx", "abc"));
        // Not Unicode case folding: `ı` and `K` (Kelvin) are not ASCII letters.
        assert!(!contains_ignoring_ascii_case("\u{212a}", "k"));
        assert!(contains_ignoring_ascii_case("é_abc_é", "_abc_"));
    }
}
