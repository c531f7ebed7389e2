//! The live preview's computation: the draft policy, the organization's other policies and
//! the catalog become one policy set, which the engine (linked into this wasm) validates
//! and evaluates. Pure, so it is tested natively; the components only render its output.

use serde_json::{json, Map, Value};
use verdict_engine::{evaluate, Context, InputError, PolicySet, Problem, ProblemKind, Verdict};

use crate::model;

/// A loaded preview set and what loading it said about the draft.
#[derive(Debug)]
pub struct Loaded {
    /// The set the preview evaluates against (absent when something does not validate).
    pub set: Option<PolicySet>,
    /// Problems inside the draft policy (fields relative to the policy).
    pub draft_problems: Vec<Problem>,
    /// Problems elsewhere: the catalog, or another policy.
    pub other_problems: Vec<Problem>,
    /// A message when the set did not load for a reason without problems (not an object…).
    pub error: Option<String>,
    /// Things the author should know about this preview (unassigned draft, …).
    pub notes: Vec<String>,
    /// How many policies the preview evaluates.
    pub policies: usize,
}

fn set_value(catalog: &Value, policies: Vec<Value>) -> Value {
    let mut set = Map::new();
    if !catalog.is_null() {
        set.insert("catalog".into(), catalog.clone());
    }
    set.insert("policies".into(), Value::Array(policies));
    Value::Object(set)
}

fn split_problems(err: InputError, loaded: &mut Loaded, draft_first: bool) {
    if err.problems.is_empty() {
        loaded.error = Some(err.message);
        return;
    }
    for p in err.problems {
        if draft_first && p.policy_index == Some(0) {
            loaded.draft_problems.push(p);
        } else {
            loaded.other_problems.push(p);
        }
    }
}

/// The organization's other stored policies that the server would apply (assigned, with
/// another id than the draft's), loaded once: typing in the draft only reloads the draft.
pub fn load_base(
    catalog: &Value,
    others: &[Value],
    draft_id: &str,
) -> Result<PolicySet, InputError> {
    let policies: Vec<Value> = others
        .iter()
        .filter(|p| p.get("id").and_then(Value::as_str) != Some(draft_id) && model::is_assigned(p))
        .map(model::engine_policy)
        .collect();
    PolicySet::from_json(&set_value(catalog, policies))
}

/// The draft loaded alone against the catalog, then put into the base set where the
/// engine would have sorted it (priority, highest first, then id).
pub fn load_with(base: &Result<PolicySet, InputError>, catalog: &Value, draft: &Value) -> Loaded {
    let mut loaded = Loaded {
        set: None,
        draft_problems: Vec::new(),
        other_problems: Vec::new(),
        error: None,
        notes: Vec::new(),
        policies: 0,
    };
    if !draft.is_object() {
        loaded.error = Some("the policy must be a JSON object".into());
        return loaded;
    }
    let alone = PolicySet::from_json(&set_value(catalog, vec![model::engine_policy(draft)]));
    let assigned = model::is_assigned(draft);
    match (base, alone) {
        (Ok(base), Ok(alone)) => {
            let mut set = base.clone();
            if assigned {
                // INVARIANT: the engine's loader orders policies this way (policy/load.rs);
                // `combined_set_equals_a_full_load` checks that both agree.
                set.policies.extend(alone.policies);
                set.policies
                    .sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.id.cmp(&b.id)));
            } else {
                loaded.notes.push(
                    "this policy has no assignment: the server stores it but applies it to no one, so the preview leaves it out".into(),
                );
            }
            loaded.policies = set.policies.len();
            loaded.set = Some(set);
        }
        (base, alone) => {
            if let Err(e) = alone {
                split_problems(e, &mut loaded, true);
            }
            if let Err(e) = base {
                split_problems(e.clone(), &mut loaded, false);
            }
        }
    }
    // The server's rule for ids (they appear in URLs), checked here so that a bad id is
    // seen while typing, not at the save.
    let id = draft.get("id").and_then(Value::as_str).unwrap_or("");
    if !verdict_api_model::id_ok(id) && !loaded.draft_problems.iter().any(|p| p.field == "id") {
        loaded.draft_problems.push(id_problem(id));
    }
    if model::assignments(draft)
        .iter()
        .any(|(k, _)| k == "dataset" || k == "query")
    {
        loaded.notes.push(
            "this policy is scoped to datasets or queries: the preview applies it only when the context names one of them (`dataset`, `query_id`)".into(),
        );
    }
    loaded
}

/// The problem of an id the server would refuse.
fn id_problem(id: &str) -> Problem {
    use verdict_api_model::policy::{MAX_ID_LEN, RESERVED_IDS};
    let message = if id.is_empty() {
        "a policy needs an id".to_string()
    } else if RESERVED_IDS.contains(&id) {
        format!("`{id}` is reserved (it names an endpoint)")
    } else {
        format!(
            "`{id}` is not a policy id: use 1–{MAX_ID_LEN} letters, digits, `.`, `_`, `:` or `-`, starting with a letter or digit"
        )
    };
    let kind = if id.is_empty() {
        ProblemKind::Missing
    } else {
        ProblemKind::InvalidValue
    };
    Problem {
        policy: None,
        policy_index: Some(0),
        rule_index: None,
        kind,
        field: "id".into(),
        message,
        line: None,
        column: None,
    }
}

/// The draft's problems and the server's (from its last refusal), each listed once: a
/// server problem of a field the browser already reports is the same problem.
pub fn merge_problems(local: &[Problem], server: &[Problem]) -> Vec<Problem> {
    let mut all: Vec<Problem> = local.to_vec();
    for p in server {
        let known = all
            .iter()
            .any(|q| q.field == p.field && (q.message == p.message || local.contains(q)));
        if !known {
            all.push(p.clone());
        }
    }
    all
}

/// Loads the preview set in one go (the draft, then the other stored policies that the
/// server would apply).
pub fn load(catalog: &Value, draft: &Value, others: &[Value]) -> Loaded {
    let id = draft.get("id").and_then(Value::as_str).unwrap_or("");
    load_with(&load_base(catalog, others, id), catalog, draft)
}

/// A context from the editor's context value; an invalid one gives the engine's message.
pub fn context(value: &Value) -> Result<Context, String> {
    Context::from_json(value).map_err(|e| e.message)
}

/// Evaluates one SQL text.
pub fn run(set: &PolicySet, sql: &str, ctx: &Context) -> Verdict {
    evaluate(set, sql, ctx)
}

/// A piece of SQL text and whether it differs from the other side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    pub text: String,
    pub changed: bool,
}

fn tokenize(sql: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = sql;
    while let Some(c) = rest.chars().next() {
        let len = if rest.starts_with("--") {
            // A comment runs to the end of its line (the line break is whitespace).
            rest.find('\n').unwrap_or(rest.len())
        } else if rest.starts_with("/*") {
            rest.find("*/").map_or(rest.len(), |i| i + 2)
        } else if c.is_whitespace() {
            rest.find(|ch: char| !ch.is_whitespace())
                .unwrap_or(rest.len())
        } else if c.is_alphanumeric() || c == '_' {
            rest.find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len())
        } else if c == '\'' || c == '"' {
            // A quoted literal or identifier, with doubled quotes inside.
            let mut end = rest.len();
            let mut chars = rest.char_indices().skip(1).peekable();
            while let Some((i, ch)) = chars.next() {
                if ch == c {
                    if chars.peek().map(|(_, n)| *n) == Some(c) {
                        chars.next();
                        continue;
                    }
                    end = i + ch.len_utf8();
                    break;
                }
            }
            end
        } else {
            c.len_utf8()
        };
        let (tok, tail) = rest.split_at(len.max(c.len_utf8()).min(rest.len()));
        out.push(tok);
        rest = tail;
    }
    out
}

fn segments(tokens: &[&str], keep: &[bool]) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for (tok, kept) in tokens.iter().zip(keep) {
        let changed = !kept;
        match out.last_mut() {
            Some(last) if last.changed == changed => last.text.push_str(tok),
            _ => out.push(Segment {
                text: (*tok).to_string(),
                changed,
            }),
        }
    }
    out
}

/// The largest token table the highlighter computes (beyond it, nothing is highlighted).
const MAX_CELLS: usize = 400_000;

/// Token-level difference of the original and the rewritten SQL: `(original, rewritten)`,
/// each as segments marked `changed` where the other side has no counterpart.
pub fn sql_diff(original: &str, rewritten: &str) -> (Vec<Segment>, Vec<Segment>) {
    let a = tokenize(original);
    let b = tokenize(rewritten);
    let mut keep_a = vec![false; a.len()];
    let mut keep_b = vec![false; b.len()];
    // Common prefix and suffix first: most rewrites keep both ends of the statement.
    let mut pre = 0;
    while pre < a.len() && pre < b.len() && a.get(pre) == b.get(pre) {
        pre += 1;
    }
    let mut suf = 0;
    while suf < a.len() - pre
        && suf < b.len() - pre
        && a.get(a.len() - 1 - suf) == b.get(b.len() - 1 - suf)
    {
        suf += 1;
    }
    for k in keep_a.iter_mut().take(pre) {
        *k = true;
    }
    for k in keep_b.iter_mut().take(pre) {
        *k = true;
    }
    for k in keep_a.iter_mut().rev().take(suf) {
        *k = true;
    }
    for k in keep_b.iter_mut().rev().take(suf) {
        *k = true;
    }
    let ma = a.get(pre..a.len() - suf).unwrap_or(&[]);
    let mb = b.get(pre..b.len() - suf).unwrap_or(&[]);
    let (n, m) = (ma.len(), mb.len());
    if n > 0 && m > 0 && (n + 1) * (m + 1) <= MAX_CELLS {
        // Longest common subsequence over the middle tokens.
        let w = m + 1;
        let mut table = vec![0u32; (n + 1) * w];
        for i in (0..n).rev() {
            for j in (0..m).rev() {
                let v = if ma.get(i) == mb.get(j) {
                    table.get((i + 1) * w + j + 1).copied().unwrap_or(0) + 1
                } else {
                    let down = table.get((i + 1) * w + j).copied().unwrap_or(0);
                    let right = table.get(i * w + j + 1).copied().unwrap_or(0);
                    down.max(right)
                };
                if let Some(cell) = table.get_mut(i * w + j) {
                    *cell = v;
                }
            }
        }
        let (mut i, mut j) = (0, 0);
        while i < n && j < m {
            if ma.get(i) == mb.get(j) {
                if let Some(k) = keep_a.get_mut(pre + i) {
                    *k = true;
                }
                if let Some(k) = keep_b.get_mut(pre + j) {
                    *k = true;
                }
                i += 1;
                j += 1;
            } else if table.get((i + 1) * w + j) >= table.get(i * w + j + 1) {
                i += 1;
            } else {
                j += 1;
            }
        }
    } else if n > 0 && m > 0 {
        // Too large to compare: show the middle unhighlighted rather than block the preview.
        for k in keep_a.iter_mut().skip(pre).take(n) {
            *k = true;
        }
        for k in keep_b.iter_mut().skip(pre).take(m) {
            *k = true;
        }
    }
    // Whitespace never counts as a change.
    for (t, k) in a.iter().zip(keep_a.iter_mut()) {
        if t.trim().is_empty() {
            *k = true;
        }
    }
    for (t, k) in b.iter().zip(keep_b.iter_mut()) {
        if t.trim().is_empty() {
            *k = true;
        }
    }
    (segments(&a, &keep_a), segments(&b, &keep_b))
}

/// A problem's field as the form labels it: `rules[1].predicate` is `Rule 2 › predicate`
/// (the form numbers rules from 1; the engine's paths count from 0).
pub fn field_label(field: &str) -> String {
    let Some(inner) = field.strip_prefix("rules[") else {
        return field.to_string();
    };
    let digits = inner.chars().take_while(char::is_ascii_digit).count();
    let (Some(n), Some(rest)) = (
        inner.get(..digits).and_then(|d| d.parse::<usize>().ok()),
        inner.get(digits..).and_then(|r| r.strip_prefix(']')),
    ) else {
        return field.to_string();
    };
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    if rest.is_empty() {
        format!("Rule {}", n + 1)
    } else {
        format!("Rule {} › {rest}", n + 1)
    }
}

/// A context preset: a name and the context value.
pub fn builtin_presets() -> Vec<(String, Value)> {
    vec![
        (
            "Analyst of tenant 1".into(),
            json!({"user": "alice", "roles": ["analyst"], "attributes": {"tenant_id": 1, "region": "EU"},
                   "purpose": "reporting", "workspace": "sales", "data_source": "warehouse", "break_glass": false}),
        ),
        (
            "Analyst of tenant 2".into(),
            json!({"user": "bob", "roles": ["analyst"], "attributes": {"tenant_id": 2, "region": "US"},
                   "purpose": "reporting", "workspace": "sales", "data_source": "warehouse", "break_glass": false}),
        ),
        (
            "Data protection officer".into(),
            json!({"user": "dpo", "roles": ["analyst", "dpo"], "attributes": {"tenant_id": 1},
                   "purpose": "audit", "workspace": "compliance", "data_source": "warehouse", "break_glass": false}),
        ),
        (
            "On-call engineer (break-glass)".into(),
            json!({"user": "oncall", "roles": ["engineer"], "attributes": {},
                   "purpose": "incident", "workspace": "ops", "data_source": "warehouse", "break_glass": true}),
        ),
    ]
}

/// Sample queries for the preview, over the catalog's first tables when there is one.
pub fn sample_queries(catalog: &Value) -> Vec<String> {
    let tables = model::catalog_tables(catalog);
    let mut out = Vec::new();
    for t in tables.iter().take(3) {
        let bare = t.rsplit('.').next().unwrap_or(t);
        let cols = model::catalog_columns(catalog, t);
        let list = if cols.is_empty() {
            "*".to_string()
        } else {
            cols.iter().take(4).cloned().collect::<Vec<_>>().join(", ")
        };
        out.push(format!("SELECT {list} FROM {bare} LIMIT 10"));
    }
    if let (Some(a), Some(b)) = (tables.first(), tables.get(1)) {
        let (a, b) = (
            a.rsplit('.').next().unwrap_or(a),
            b.rsplit('.').next().unwrap_or(b),
        );
        out.push(format!("SELECT count(*) FROM {a} JOIN {b} ON true"));
    }
    out.push("SELECT 1".into());
    out.push("DELETE FROM orders".into());
    out
}

/// What a change in the rewritten SQL does, for its highlight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// A masked column's expression.
    Mask,
    /// A row filter (and the guards that keep the query's own conditions behind it).
    Filter,
    /// A row limit.
    Limit,
    /// Any other change.
    Other,
}

impl Mark {
    /// The CSS class of the highlight.
    pub fn class(self) -> &'static str {
        match self {
            Mark::Mask => "hl-mask",
            Mark::Filter => "hl-filter",
            Mark::Limit => "hl-limit",
            Mark::Other => "hl-change",
        }
    }
}

/// A piece of the rewritten SQL: its text and, when changed, what the change does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marked {
    pub text: String,
    pub mark: Option<Mark>,
}

/// Keywords that start a clause on a line of its own.
const CLAUSES: &[&str] = &[
    "SELECT",
    "FROM",
    "WHERE",
    "GROUP",
    "HAVING",
    "ORDER",
    "LIMIT",
    "OFFSET",
    "FETCH",
    "UNION",
    "INTERSECT",
    "EXCEPT",
    "JOIN",
    "LEFT",
    "RIGHT",
    "INNER",
    "FULL",
    "CROSS",
    "WITH",
    "VALUES",
    "SET",
    "RETURNING",
    "WINDOW",
];

/// Keywords that do not start a line after these (`LEFT JOIN`, `UNION ALL`).
const GLUED: &[&str] = &[
    "LEFT", "RIGHT", "INNER", "FULL", "CROSS", "NATURAL", "OUTER",
];

fn is_word(tok: &str, word: &str) -> bool {
    tok.eq_ignore_ascii_case(word)
}

/// SQL laid out on several lines: each clause on a line of its own, subqueries indented.
/// Only whitespace changes (a line break is never removed), so the text means the same
/// and two texts laid out alike compare token by token.
pub fn format_sql(sql: &str) -> String {
    let toks = tokenize(sql);
    let mut out = String::with_capacity(sql.len() + sql.len() / 4);
    let mut depth: usize = 0;
    // The depth of each open parenthesis that holds a subquery (its contents indented).
    let mut sub: Vec<usize> = Vec::new();
    let mut prev_word = "";
    let indent = |d: usize| "  ".repeat(d);
    let mut i = 0;
    while let Some(tok) = toks.get(i) {
        let next_sig = toks
            .get(i + 1..)
            .and_then(|r| r.iter().find(|t| !t.trim().is_empty()));
        if tok.trim().is_empty() {
            // Clauses of the statement or of a subquery, not words inside a call
            // (`EXTRACT(YEAR FROM d)`).
            let at_level = depth == sub.last().copied().unwrap_or(0);
            let starts_clause = at_level
                && next_sig.is_some_and(|n| {
                    CLAUSES.iter().any(|c| is_word(n, c))
                        && !GLUED.iter().any(|g| is_word(prev_word, g))
                        && !(is_word(prev_word, "UNION")
                            || is_word(prev_word, "ORDER")
                            || is_word(prev_word, "GROUP"))
                });
            if (starts_clause && !out.is_empty()) || tok.contains('\n') {
                out.push('\n');
                out.push_str(&indent(sub.len()));
            } else {
                out.push_str(tok);
            }
        } else if *tok == "(" {
            depth += 1;
            out.push('(');
            if next_sig.is_some_and(|n| is_word(n, "SELECT") || is_word(n, "WITH")) {
                sub.push(depth);
                out.push('\n');
                out.push_str(&indent(sub.len()));
                // The whitespace before the subquery's SELECT is replaced by this break.
                while toks
                    .get(i + 1)
                    .is_some_and(|t| t.trim().is_empty() && !t.contains('\n'))
                {
                    i += 1;
                }
            }
        } else if *tok == ")" {
            if sub.last() == Some(&depth) {
                sub.pop();
                out.push('\n');
                out.push_str(&indent(sub.len()));
            }
            depth = depth.saturating_sub(1);
            out.push(')');
        } else {
            out.push_str(tok);
        }
        if !tok.trim().is_empty() {
            prev_word = tok;
        }
        i += 1;
    }
    out
}

/// Marks what each change in the rewritten SQL does: the expressions that stand for masked
/// columns (`… AS column`), the row filters' predicates (with their `WHERE`/`AND` and the
/// `CASE WHEN` guards), and `LIMIT`s; other changes stay `Other`.
pub fn mark_changes(
    rewritten: &[Segment],
    masked_columns: &[String],
    predicates: &[String],
) -> Vec<Marked> {
    // Work on tokens with their changed flag.
    let mut toks: Vec<(&str, bool)> = Vec::new();
    for s in rewritten {
        for t in tokenize(&s.text) {
            toks.push((t, s.changed));
        }
    }
    let mut marks: Vec<Option<Mark>> = toks.iter().map(|(_, c)| c.then_some(Mark::Other)).collect();
    let sig: Vec<usize> = (0..toks.len())
        .filter(|&k| toks.get(k).is_some_and(|(t, _)| !t.trim().is_empty()))
        .collect();
    let text = |k: usize| toks.get(k).map_or("", |(t, _)| *t);
    let changed = |k: usize| toks.get(k).is_some_and(|(_, c)| *c);
    let set = |marks: &mut Vec<Option<Mark>>, k: usize, m: Mark| {
        if changed(k) {
            if let Some(slot) = marks.get_mut(k) {
                *slot = Some(m);
            }
        }
    };
    let unquote = |t: &str| t.trim_matches('"').to_ascii_lowercase();
    // Masks: `expr AS column`, back to the `,` or `SELECT` that starts the item.
    let masked: Vec<String> = masked_columns
        .iter()
        .map(|c| c.to_ascii_lowercase())
        .collect();
    for (n, &k) in sig.iter().enumerate() {
        if !is_word(text(k), "AS") {
            continue;
        }
        let Some(&col) = sig.get(n + 1) else { continue };
        if !masked.contains(&unquote(text(col))) {
            continue;
        }
        let mut level = 0i32;
        let mut start = n;
        while start > 0 {
            let Some(&p) = sig.get(start - 1) else { break };
            let t = text(p);
            if t == ")" {
                level += 1;
            } else if t == "(" {
                if level == 0 {
                    break;
                }
                level -= 1;
            } else if level == 0 && (t == "," || is_word(t, "SELECT")) {
                break;
            }
            start -= 1;
        }
        let (Some(&from), Some(&to)) = (sig.get(start), sig.get(n + 1)) else {
            continue;
        };
        if (from..=to).any(&changed) {
            for k in from..=to {
                set(&mut marks, k, Mark::Mask);
            }
        }
    }
    // Row filters: each predicate's tokens where they appear, with the WHERE/AND before.
    for predicate in predicates {
        let want: Vec<&str> = tokenize(predicate)
            .into_iter()
            .filter(|t| !t.trim().is_empty())
            .collect();
        if want.is_empty() || want.len() > sig.len() {
            continue;
        }
        for n in 0..=(sig.len() - want.len()) {
            let hit = want
                .iter()
                .enumerate()
                .all(|(j, w)| sig.get(n + j).is_some_and(|&k| text(k) == *w));
            if !hit {
                continue;
            }
            let (Some(&from), Some(&to)) = (sig.get(n), sig.get(n + want.len() - 1)) else {
                continue;
            };
            for k in from..=to {
                set(&mut marks, k, Mark::Filter);
            }
            if let Some(&before) = n.checked_sub(1).and_then(|b| sig.get(b)) {
                if is_word(text(before), "WHERE") || is_word(text(before), "AND") {
                    set(&mut marks, before, Mark::Filter);
                }
            }
        }
    }
    for (n, &k) in sig.iter().enumerate() {
        let t = text(k);
        if ["CASE", "WHEN", "THEN", "END"]
            .iter()
            .any(|w| is_word(t, w))
            && changed(k)
        {
            set(&mut marks, k, Mark::Filter);
        }
        if is_word(t, "LIMIT") && changed(k) {
            set(&mut marks, k, Mark::Limit);
            if let Some(&v) = sig.get(n + 1) {
                set(&mut marks, v, Mark::Limit);
            }
        }
    }
    // Whitespace between two tokens of one kind joins them; elsewhere it is unmarked.
    for k in 0..toks.len() {
        if text(k).trim().is_empty() {
            let before = k
                .checked_sub(1)
                .and_then(|b| marks.get(b).copied().flatten());
            let after = marks.get(k + 1).copied().flatten();
            if let Some(slot) = marks.get_mut(k) {
                *slot = if before.is_some() && before == after {
                    before
                } else {
                    None
                };
            }
        }
    }
    let mut out: Vec<Marked> = Vec::new();
    for (k, (t, _)) in toks.iter().enumerate() {
        let mark = marks.get(k).copied().flatten();
        match out.last_mut() {
            Some(last) if last.mark == mark => last.text.push_str(t),
            _ => out.push(Marked {
                text: (*t).to_string(),
                mark,
            }),
        }
    }
    out
}

/// The SQL of the query box as HTML with its tokens classed for highlighting (keywords,
/// strings, numbers, comments); every other character escaped.
pub fn highlight_html(sql: &str) -> String {
    const KEYWORDS: &[&str] = &[
        "select",
        "from",
        "where",
        "and",
        "or",
        "not",
        "join",
        "left",
        "right",
        "inner",
        "outer",
        "full",
        "cross",
        "on",
        "using",
        "group",
        "by",
        "order",
        "having",
        "limit",
        "offset",
        "as",
        "distinct",
        "union",
        "all",
        "intersect",
        "except",
        "with",
        "insert",
        "into",
        "values",
        "update",
        "set",
        "delete",
        "returning",
        "case",
        "when",
        "then",
        "else",
        "end",
        "in",
        "is",
        "null",
        "like",
        "ilike",
        "between",
        "exists",
        "asc",
        "desc",
        "true",
        "false",
        "cast",
        "fetch",
        "first",
        "next",
        "rows",
        "only",
        "lateral",
        "natural",
        "create",
        "drop",
        "alter",
        "table",
        "grant",
        "truncate",
        "window",
        "over",
        "partition",
    ];
    let mut out = String::with_capacity(sql.len() * 2);
    let escape = |out: &mut String, t: &str| {
        for ch in t.chars() {
            match ch {
                '<' => out.push_str("&lt;"),
                '>' => out.push_str("&gt;"),
                '&' => out.push_str("&amp;"),
                '"' => out.push_str("&quot;"),
                _ => out.push(ch),
            }
        }
    };
    for t in tokenize(sql) {
        let class = if t.starts_with("--") || t.starts_with("/*") {
            Some("sx-comment")
        } else if t.starts_with('\'') {
            Some("sx-string")
        } else if t.starts_with('"') {
            Some("sx-ident")
        } else if t.chars().next().is_some_and(|c| c.is_ascii_digit()) {
            Some("sx-number")
        } else if KEYWORDS.iter().any(|k| t.eq_ignore_ascii_case(k)) {
            Some("sx-keyword")
        } else {
            None
        };
        match class {
            Some(c) => {
                out.push_str("<span class=\"");
                out.push_str(c);
                out.push_str("\">");
                escape(&mut out, t);
                out.push_str("</span>");
            }
            None => escape(&mut out, t),
        }
    }
    // A final line break needs a character after it to take up a line in a <pre>.
    if sql.ends_with('\n') {
        out.push(' ');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Value {
        json!({"tables": [{"name": "public.orders", "columns": [
            {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"},
            {"name": "email", "type": "text"}]}]})
    }

    #[test]
    fn draft_problems_carry_predicate_positions() {
        let draft = json!({"id": "p", "assignments": [{"kind": "everyone", "value": "*"}],
            "rules": [{"type": "row_filter", "table": "orders", "predicate": "tenant_id =\n = 1"}]});
        let loaded = load(&catalog(), &draft, &[]);
        assert!(loaded.set.is_none());
        let p = loaded.draft_problems.first().expect("a problem");
        assert_eq!(p.field, "rules[0].predicate");
        assert_eq!((p.line, p.column), (Some(2), Some(2)));
    }

    #[test]
    fn verdict_follows_the_draft() {
        let ctx = context(&json!({"user": "a", "attributes": {"tenant_id": 7}})).unwrap();
        let mut draft =
            json!({"id": "p", "assignments": [{"kind": "everyone", "value": "*"}], "rules": []});
        let sql = "SELECT id, email FROM orders";
        let v = run(
            load(&catalog(), &draft, &[]).set.as_ref().unwrap(),
            sql,
            &ctx,
        );
        assert_eq!(v.verdict.as_str(), "allow");
        draft["rules"] = json!([
            {"type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant_id"},
            {"type": "column_mask", "table": "orders", "column": "email", "mask": {"kind": "email"}}]);
        let v = run(
            load(&catalog(), &draft, &[]).set.as_ref().unwrap(),
            sql,
            &ctx,
        );
        assert_eq!(v.verdict.as_str(), "row_filter");
        assert_eq!(v.masked_columns.len(), 1);
        assert!(v.rewritten_sql.unwrap().contains("tenant_id = 7"));
    }

    #[test]
    fn unassigned_draft_is_left_out_with_a_note() {
        let draft = json!({"id": "p", "rules": [{"type": "deny", "table": "orders"}]});
        let loaded = load(&catalog(), &draft, &[]);
        assert_eq!(loaded.policies, 0);
        assert_eq!(loaded.notes.len(), 1);
        let v = run(
            loaded.set.as_ref().unwrap(),
            "SELECT id FROM orders",
            &Context::default(),
        );
        assert_eq!(v.verdict.as_str(), "allow");
    }

    #[test]
    fn others_with_the_draft_id_are_replaced() {
        let other = json!({"id": "p", "assignments": [{"kind": "everyone", "value": "*"}],
            "rules": [{"type": "deny", "table": "orders"}]});
        let draft =
            json!({"id": "p", "assignments": [{"kind": "everyone", "value": "*"}], "rules": []});
        let loaded = load(&catalog(), &draft, &[other]);
        assert_eq!(loaded.policies, 1);
    }

    #[test]
    fn combined_set_equals_a_full_load() {
        let others: Vec<Value> = (0..6)
            .map(|i| {
                json!({"id": format!("o{i}"), "priority": i % 3,
                "assignments": [{"kind": "role", "value": "r"}],
                "rules": [{"type": "deny", "table": "orders", "columns": ["email"]}]})
            })
            .collect();
        let draft = json!({"id": "o3a", "priority": 1, "assignments": [{"kind": "everyone", "value": "*"}],
            "rules": [{"type": "row_filter", "table": "orders", "predicate": "tenant_id = 1"}]});
        let loaded = load(&catalog(), &draft, &others);
        let mut all = vec![model::engine_policy(&draft)];
        all.extend(others.iter().map(model::engine_policy));
        let full = PolicySet::from_json(&set_value(&catalog(), all)).unwrap();
        assert_eq!(loaded.set.unwrap(), full);
    }

    #[test]
    fn sql_diff_marks_inserted_tokens() {
        let (a, b) = sql_diff(
            "SELECT id FROM orders WHERE id = 1",
            "SELECT id FROM (SELECT id FROM public.orders WHERE tenant_id = 7) AS orders WHERE id = 1",
        );
        assert!(a.iter().all(|s| !s.changed));
        let changed: String = b
            .iter()
            .filter(|s| s.changed)
            .map(|s| s.text.as_str())
            .collect();
        assert!(changed.contains("tenant_id"), "{changed}");
        let all: String = b.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(all, "SELECT id FROM (SELECT id FROM public.orders WHERE tenant_id = 7) AS orders WHERE id = 1");
    }

    #[test]
    fn rule_fields_count_from_one() {
        assert_eq!(field_label("rules[1].predicate"), "Rule 2 › predicate");
        assert_eq!(field_label("rules[0].mask.kind"), "Rule 1 › mask.kind");
        assert_eq!(field_label("rules[3]"), "Rule 4");
        assert_eq!(field_label("applies_to[0]"), "applies_to[0]");
        assert_eq!(field_label("rules[x]"), "rules[x]");
    }

    #[test]
    fn ids_follow_the_server_rule() {
        for (id, ok) in [
            ("tenant-isolation", true),
            ("a.b_c:d-1", true),
            ("bad id!", false),
            ("-leading", false),
            ("replay", false),
            ("", false),
        ] {
            let draft = json!({"id": id, "rules": []});
            let loaded = load(&catalog(), &draft, &[]);
            let at_id: Vec<&Problem> = loaded
                .draft_problems
                .iter()
                .filter(|p| p.field == "id")
                .collect();
            assert_eq!(at_id.is_empty(), ok, "{id}: {at_id:?}");
            assert!(at_id.len() <= 1, "{id}: {at_id:?}");
            assert_eq!(ok, verdict_api_model::id_ok(id));
        }
    }

    #[test]
    fn server_problems_are_listed_once() {
        let p = |field: &str, message: &str| Problem {
            policy: None,
            policy_index: Some(0),
            rule_index: None,
            kind: verdict_engine::ProblemKind::InvalidValue,
            field: field.into(),
            message: message.into(),
            line: None,
            column: None,
        };
        let local = vec![p("rules[0].predicate", "unknown column `x`")];
        let server = vec![
            p("rules[0].predicate", "unknown column `x`"),
            p("rules[0].predicate", "unknown column `x` (on the server)"),
            p("id", "a policy with this id exists"),
            p("id", "a policy with this id exists"),
        ];
        let merged = merge_problems(&local, &server);
        let fields: Vec<&str> = merged.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, ["rules[0].predicate", "id"]);
    }

    #[test]
    fn tokenizer_keeps_quoted_text_whole() {
        assert_eq!(tokenize("a='x''y' b"), vec!["a", "=", "'x''y'", " ", "b"]);
        assert_eq!(tokenize("é1 \"Q\""), vec!["é1", " ", "\"Q\""]);
    }

    #[test]
    fn formatting_puts_clauses_on_lines_and_changes_only_whitespace() {
        let sql = "SELECT id FROM (SELECT id, EXTRACT(YEAR FROM d) AS y FROM public.orders WHERE tenant_id = 7) AS orders LEFT JOIN x ON x.id = orders.id WHERE id = 1 ORDER BY id LIMIT 5";
        let f = format_sql(sql);
        assert_eq!(
            f,
            "SELECT id\nFROM (\n  SELECT id, EXTRACT(YEAR FROM d) AS y\n  FROM public.orders\n  WHERE tenant_id = 7\n) AS orders\nLEFT JOIN x ON x.id = orders.id\nWHERE id = 1\nORDER BY id\nLIMIT 5"
        );
        let bare = |t: &str| t.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        assert_eq!(bare(&f), bare(sql));
        // A comment keeps its line: what follows it is never pulled onto it.
        let commented = "SELECT 1 -- FROM nowhere\nFROM t";
        let f = format_sql(commented);
        assert!(f.contains("-- FROM nowhere\n"), "{f}");
        assert_eq!(
            tokenize(commented)
                .iter()
                .filter(|t| t.starts_with("--"))
                .count(),
            1
        );
        // Literals are left whole.
        assert_eq!(
            format_sql("SELECT 'a FROM b' FROM t"),
            "SELECT 'a FROM b'\nFROM t"
        );
    }

    #[test]
    fn changes_are_marked_as_masks_filters_and_limits() {
        let draft = json!({"id": "p", "assignments": [{"kind": "everyone", "value": "*"}], "rules": [
            {"type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant_id"},
            {"type": "column_mask", "table": "orders", "column": "email", "mask": {"kind": "email"}},
            {"type": "query_limit", "max_rows": 100}]});
        let ctx = context(&json!({"user": "a", "attributes": {"tenant_id": 7}})).unwrap();
        let sql = "SELECT id, email FROM orders";
        let v = run(
            load(&catalog(), &draft, &[]).set.as_ref().unwrap(),
            sql,
            &ctx,
        );
        let rewritten = v.rewritten_sql.clone().unwrap();
        let (_, b) = sql_diff(&format_sql(sql), &format_sql(&rewritten));
        let columns: Vec<String> = v.masked_columns.iter().map(|m| m.column.clone()).collect();
        let predicates: Vec<String> = v.row_filters.iter().map(|f| f.predicate.clone()).collect();
        let marked = mark_changes(&b, &columns, &predicates);
        let of = |m: Mark| -> String {
            marked
                .iter()
                .filter(|x| x.mark == Some(m))
                .map(|x| x.text.as_str())
                .collect::<Vec<_>>()
                .join(" | ")
        };
        assert!(of(Mark::Mask).contains("AS email"), "{marked:?}");
        assert!(!of(Mark::Mask).contains("tenant_id"), "{marked:?}");
        assert!(of(Mark::Filter).contains("tenant_id = 7"), "{marked:?}");
        assert!(
            of(Mark::Limit).contains("LIMIT 100"),
            "{rewritten}: {marked:?}"
        );
        let all: String = marked.iter().map(|x| x.text.as_str()).collect();
        assert_eq!(all, format_sql(&rewritten));
    }

    #[test]
    fn the_query_box_highlights_tokens_and_escapes_the_rest() {
        let html = highlight_html("SELECT '<b>' FROM t WHERE n > 1 -- done");
        assert_eq!(
            html,
            "<span class=\"sx-keyword\">SELECT</span> <span class=\"sx-string\">'&lt;b&gt;'</span> <span class=\"sx-keyword\">FROM</span> t <span class=\"sx-keyword\">WHERE</span> n &gt; <span class=\"sx-number\">1</span> <span class=\"sx-comment\">-- done</span>"
        );
    }
}
