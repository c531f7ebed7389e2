//! The generator: random, well-typed SELECTs over the conformance schema (the catalog of
//! policies.json), from a seeded ChaCha8 stream so that a seed and an index give the same
//! query on every machine.
//!
//! Every column reference is to a column of the base tables, derived tables or CTEs in
//! scope, with the type the catalog gives; the masks of a context may change a column's
//! type (a hashed date is text), in which case both sides fail alike. Only constructs
//! whose answer does not depend on the plan are generated: no LIMIT without an ORDER BY
//! over every output column, window functions whose value does not depend on the order
//! of peers, aggregates whose result does not depend on the input order (string_agg
//! orders by its own argument), no division and no cast that can fail on a value.

#[path = "gen_write.rs"]
pub mod write;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::ast::{Body, Expr, FromItem, Item, Join, Query, Rel, Select};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Int,
    Num,
    Text,
    Date,
    Ts,
    Bool,
}

/// A catalog table: its name and columns as SQL text (quoted where the catalog quotes).
#[derive(Debug, Clone)]
pub struct Table {
    pub name: String,
    pub columns: Vec<(String, Ty)>,
}

fn type_of(catalog_type: &str) -> Option<Ty> {
    let t = catalog_type.to_ascii_lowercase();
    if t == "integer" || t == "int" || t == "bigint" {
        Some(Ty::Int)
    } else if t.starts_with("numeric") {
        Some(Ty::Num)
    } else if t == "text" {
        Some(Ty::Text)
    } else if t == "date" {
        Some(Ty::Date)
    } else if t.starts_with("timestamp") {
        Some(Ty::Ts)
    } else {
        None
    }
}

/// What deny rules name (reads included): tables, or columns of a table. The generator
/// reaches them in a minority of statements only, so that most statements get past the
/// deny rules to the rewrite.
pub type Denied = Vec<(String, Option<String>)>;

/// Every rule of every policy in the policy set's JSON.
pub fn policy_rules(policies_json: &str) -> Result<Vec<serde_json::Value>, String> {
    let value: serde_json::Value =
        serde_json::from_str(policies_json).map_err(|e| format!("policies.json: {e}"))?;
    let policies = value.get("policies").and_then(|p| p.as_array());
    Ok(policies
        .into_iter()
        .flatten()
        .filter_map(|p| p.get("rules").and_then(|r| r.as_array()))
        .flatten()
        .cloned()
        .collect())
}

pub fn denied(policies_json: &str) -> Result<Denied, String> {
    let mut out = Vec::new();
    for rule in &policy_rules(policies_json)? {
        if rule.get("type").and_then(|t| t.as_str()) != Some("deny") {
            continue;
        }
        let reads = match rule.get("operations").and_then(|o| o.as_array()) {
            None => true,
            Some(ops) => ops.iter().any(|o| o.as_str() == Some("select")),
        };
        let Some(table) = rule.get("table").and_then(|t| t.as_str()) else {
            continue;
        };
        if !reads {
            continue;
        }
        let table = table.strip_prefix("public.").unwrap_or(table).to_string();
        match rule.get("columns").and_then(|c| c.as_array()) {
            None => out.push((table, None)),
            Some(cols) => {
                for c in cols.iter().filter_map(|c| c.as_str()) {
                    out.push((table.clone(), Some(c.to_string())));
                }
            }
        }
    }
    Ok(out)
}

/// The tables of the policy set's catalog (every one in `public`).
pub fn catalog(policies_json: &str) -> Result<Vec<Table>, String> {
    let value: serde_json::Value =
        serde_json::from_str(policies_json).map_err(|e| format!("policies.json: {e}"))?;
    let tables = value
        .pointer("/catalog/tables")
        .and_then(|t| t.as_array())
        .ok_or("policies.json has no catalog.tables")?;
    let mut out = Vec::new();
    for t in tables {
        let name = t
            .get("name")
            .and_then(|n| n.as_str())
            .ok_or("a catalog table without a name")?;
        let name = name.strip_prefix("public.").unwrap_or(name).to_string();
        let mut columns = Vec::new();
        for c in t
            .get("columns")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
        {
            let (Some(col), Some(ty)) = (
                c.get("name").and_then(|n| n.as_str()),
                c.get("type").and_then(|n| n.as_str()).and_then(type_of),
            ) else {
                return Err(format!("{name}: a column without a known type: {c}"));
            };
            columns.push((col.to_string(), ty));
        }
        out.push(Table { name, columns });
    }
    Ok(out)
}

/// A column in scope: how to qualify it, its name, its type.
#[derive(Debug, Clone)]
struct ColRef {
    qual: String,
    name: String,
    ty: Ty,
    /// A column some policy denies: chosen only by statements that may read such.
    sensitive: bool,
    /// A column of a table or CTE (not of a derived table or VALUES list).
    from_table: bool,
}

/// The columns visible at each query level, the outermost first.
#[derive(Debug, Clone, Default)]
struct Scope {
    levels: Vec<Vec<ColRef>>,
}

impl Scope {
    fn with(&self, level: Vec<ColRef>) -> Scope {
        let mut s = self.clone();
        s.levels.push(level);
        s
    }
}

/// A visible CTE: its name and output columns.
#[derive(Debug, Clone)]
struct CteInfo {
    name: String,
    columns: Vec<(String, Ty)>,
}

pub struct Gen<'a> {
    rng: ChaCha8Rng,
    tables: &'a [Table],
    denied: &'a [(String, Option<String>)],
    /// Whether this statement may name denied tables and columns.
    sensitive_ok: bool,
    next_alias: usize,
    ctes: Vec<CteInfo>,
}

/// Which query levels a column may come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pick {
    /// The innermost level (GROUP BY keys, window clauses, aggregate arguments).
    Inner,
    /// Mostly the innermost, sometimes an enclosing one (a correlated reference).
    Any,
    /// An enclosing level only (the correlation of a subquery's WHERE).
    Outer,
}

/// The per-query seed: query `index` of run `seed`.
pub fn query_seed(seed: u64, index: u64) -> u64 {
    // SplitMix64 of the pair, so that neighbouring seeds give unrelated streams.
    let mut z = seed
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(index.wrapping_mul(0xBF58_476D_1CE4_E5B9));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const INT_LITS: [&str; 14] = [
    "0", "1", "2", "3", "4", "5", "7", "10", "12", "100", "101", "201", "500", "-1",
];
const NUM_LITS: [&str; 9] = [
    "0", "1.5", "9.99", "12.34", "50.00", "100", "250.00", "999.99", "-2.5",
];
const TEXT_LITS: [&str; 20] = [
    "'EU'",
    "'US'",
    "'APAC'",
    "'paid'",
    "'shipped'",
    "'alice'",
    "'carol'",
    "'eng'",
    "'ops'",
    "'Widget'",
    "'support'",
    "'analyst'",
    "'a'",
    "''",
    "'Acme'",
    "'login'",
    "'****'",
    "'hidden@example.com'",
    "'Ada Lovelace'",
    "'x'",
];
const DATE_LITS: [&str; 5] = [
    "DATE '2024-01-15'",
    "DATE '2024-02-29'",
    "DATE '2020-01-01'",
    "DATE '1900-01-01'",
    "DATE '2024-03-01'",
];
const TS_LITS: [&str; 3] = [
    "TIMESTAMP '2024-01-01 09:00:00'",
    "TIMESTAMP '2021-01-01 00:00:00'",
    "TIMESTAMP '2024-01-03 11:00:00'",
];
const LIKE_PATTERNS: [&str; 7] = [
    "'%a%'",
    "'A%'",
    "'%@%'",
    "'_%'",
    "'%.example'",
    "'%*%'",
    "'%e'",
];

/// How deep expressions nest before only leaves are generated.
const MAX_EXPR_DEPTH: u32 = 3;
/// How deep queries nest (subqueries, derived tables, CTE bodies).
const MAX_QUERY_DEPTH: u32 = 2;

impl<'a> Gen<'a> {
    pub fn new(tables: &'a [Table], denied: &'a [(String, Option<String>)], seed: u64) -> Gen<'a> {
        Gen {
            rng: ChaCha8Rng::seed_from_u64(seed),
            tables,
            denied,
            sensitive_ok: false,
            next_alias: 0,
            ctes: Vec::new(),
        }
    }

    /// A value in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        self.rng.gen_range(0..n.max(1))
    }

    fn p(&mut self, probability: f64) -> bool {
        self.rng.gen_bool(probability)
    }

    fn pick_str(&mut self, xs: &[&'static str]) -> &'static str {
        xs.choose(&mut self.rng).copied().unwrap_or("NULL")
    }

    fn alias(&mut self, prefix: &str) -> String {
        self.next_alias += 1;
        format!("{prefix}{}", self.next_alias)
    }

    fn lit(&mut self, ty: Ty) -> Expr {
        let s = match ty {
            Ty::Int => self.pick_str(&INT_LITS),
            Ty::Num => self.pick_str(&NUM_LITS),
            Ty::Text => self.pick_str(&TEXT_LITS),
            Ty::Date => self.pick_str(&DATE_LITS),
            Ty::Ts => self.pick_str(&TS_LITS),
            Ty::Bool => self.pick_str(&["TRUE", "FALSE"]),
        };
        Expr::lit(s)
    }

    fn value_type(&mut self) -> Ty {
        // Weighted: integers and text most, booleans rarely.
        match self.below(12) {
            0..=3 => Ty::Int,
            4..=5 => Ty::Num,
            6..=9 => Ty::Text,
            10 => Ty::Date,
            _ => {
                if self.p(0.5) {
                    Ty::Ts
                } else {
                    Ty::Bool
                }
            }
        }
    }

    // ------------------------------------------------------------------ queries

    /// A whole statement.
    pub fn statement(&mut self) -> Query {
        self.ctes.clear();
        self.sensitive_ok = self.p(0.15);
        let mut ctes = Vec::new();
        let recursive = self.p(0.05);
        if recursive {
            let (name, q, columns) = self.recursive_cte();
            ctes.push((name, q));
            self.ctes.push(CteInfo {
                name: "rc".into(),
                columns,
            });
        }
        if self.p(0.15) {
            for k in 0..1 + self.below(2) {
                let shadow = ["orders", "customers", "employees", "tickets"];
                // Under WITH RECURSIVE a CTE named like a table would read itself.
                let name = if !recursive && self.p(0.3) {
                    self.pick_str(&shadow).to_string()
                } else {
                    format!("w{k}")
                };
                if self.ctes.iter().any(|c| c.name == name) {
                    continue;
                }
                let (q, columns) = self.query(&Scope::default(), 1, None, true);
                ctes.push((name.clone(), q));
                self.ctes.push(CteInfo { name, columns });
            }
        }
        let (body, columns) = self.body(&Scope::default(), 0, None, false);
        let mut q = Query {
            ctes,
            recursive,
            ..Query::of(body)
        };
        if self.p(0.3) {
            q.order_by = (1..=columns.len()).map(|i| (i, self.p(0.3))).collect();
            if self.p(0.5) {
                q.limit = Some(self.below(8) as u32);
            }
            if self.p(0.15) {
                q.offset = Some(self.below(4) as u32);
            }
        }
        q
    }

    /// `rc(id, lvl, v) AS (SELECT … FROM T UNION [ALL] SELECT …, rc.lvl + 1, … FROM rc
    /// JOIN U ON U.… = rc.id WHERE rc.lvl < 3)`: a recursive CTE over governed tables.
    fn recursive_cte(&mut self) -> (String, Query, Vec<(String, Ty)>) {
        let mut used = Vec::new();
        let (rel, cols) = self.rel(&Scope::default(), MAX_QUERY_DEPTH, &mut used, false);
        let scope = Scope::default().with(cols);
        let id = self
            .column(Ty::Int, &scope, Pick::Inner)
            .unwrap_or_else(|| Expr::lit("1"));
        let v = self.expr(Ty::Text, &scope, MAX_QUERY_DEPTH, 1);
        let filter = if self.p(0.5) {
            Some(self.pred(&scope, MAX_QUERY_DEPTH, 1))
        } else {
            None
        };
        let item = |e: Expr| Item::Expr { e, alias: None };
        let base = Select {
            distinct: false,
            items: vec![item(id), item(Expr::lit("1")), item(v)],
            from: vec![FromItem {
                rel,
                joins: Vec::new(),
            }],
            filter,
            group_by: Vec::new(),
            having: None,
        };
        let rc = |name: &str, ty: Ty| ColRef {
            qual: "rc".into(),
            name: name.into(),
            ty,
            sensitive: false,
            from_table: false,
        };
        let mut used = vec!["rc".to_string()];
        let (rel2, cols2) = self.rel(&Scope::default(), MAX_QUERY_DEPTH, &mut used, false);
        let key = cols2
            .iter()
            .filter(|c| c.ty == Ty::Int)
            .cloned()
            .collect::<Vec<_>>();
        let on = match key.choose(&mut self.rng).cloned() {
            Some(k) => {
                let l = self.reference(&k);
                Expr::bin("=", l, Expr::lit("rc.id"))
            }
            None => Expr::lit("TRUE"),
        };
        let mut level = vec![rc("id", Ty::Int), rc("lvl", Ty::Int), rc("v", Ty::Text)];
        level.extend(cols2.iter().cloned());
        let scope2 = Scope::default().with(level);
        let next_id = match key.choose(&mut self.rng).cloned() {
            Some(k) => self.reference(&k),
            None => Expr::lit("rc.id"),
        };
        let v2 = self.expr(Ty::Text, &scope2, MAX_QUERY_DEPTH, 1);
        let mut filter2 = Expr::bin("<", Expr::lit("rc.lvl"), Expr::lit("3"));
        if self.p(0.4) {
            let extra = self.pred(&scope2, MAX_QUERY_DEPTH, 1);
            filter2 = Expr::bin("AND", filter2, extra);
        }
        let step = Select {
            distinct: false,
            items: vec![
                item(next_id),
                item(Expr::bin("+", Expr::lit("rc.lvl"), Expr::lit("1"))),
                item(v2),
            ],
            from: vec![FromItem {
                rel: Rel::Named {
                    name: "rc".into(),
                    alias: None,
                    columns: Vec::new(),
                },
                joins: vec![Join {
                    kind: "JOIN",
                    rel: rel2,
                    on: Some(on),
                    using: Vec::new(),
                }],
            }],
            filter: Some(filter2),
            group_by: Vec::new(),
            having: None,
        };
        let body = Body::SetOp {
            op: "UNION",
            all: self.p(0.6),
            l: Box::new(Body::Select(Box::new(base))),
            r: Box::new(Body::Select(Box::new(step))),
        };
        let columns = vec![
            ("id".to_string(), Ty::Int),
            ("lvl".to_string(), Ty::Int),
            ("v".to_string(), Ty::Text),
        ];
        ("rc(id, lvl, v)".to_string(), Query::of(body), columns)
    }

    /// A query (no ORDER BY) with its output columns; `want` forces their types;
    /// `aliased` names every output column (derived tables, CTEs).
    fn query(
        &mut self,
        outer: &Scope,
        depth: u32,
        want: Option<&[Ty]>,
        aliased: bool,
    ) -> (Query, Vec<(String, Ty)>) {
        let (body, columns) = self.body(outer, depth, want, aliased);
        (Query::of(body), columns)
    }

    fn body(
        &mut self,
        outer: &Scope,
        depth: u32,
        want: Option<&[Ty]>,
        aliased: bool,
    ) -> (Body, Vec<(String, Ty)>) {
        let setop = self.p(if depth == 0 { 0.15 } else { 0.08 });
        let (l, columns) = self.select(outer, depth, want, aliased, setop);
        if !setop {
            return (Body::Select(Box::new(l)), columns);
        }
        let types: Vec<Ty> = columns.iter().map(|c| c.1).collect();
        let (r, _) = self.select(outer, depth, Some(&types), false, true);
        let op = self.pick_str(&["UNION", "UNION", "INTERSECT", "EXCEPT"]);
        let all = self.p(0.4);
        (
            Body::SetOp {
                op,
                all,
                l: Box::new(Body::Select(Box::new(l))),
                r: Box::new(Body::Select(Box::new(r))),
            },
            columns,
        )
    }

    fn select(
        &mut self,
        outer: &Scope,
        depth: u32,
        want: Option<&[Ty]>,
        aliased: bool,
        in_setop: bool,
    ) -> (Select, Vec<(String, Ty)>) {
        let mut select = Select {
            distinct: false,
            items: Vec::new(),
            from: Vec::new(),
            filter: None,
            group_by: Vec::new(),
            having: None,
        };
        let mut columns = Vec::new();
        let types: Vec<Ty> = match want {
            Some(w) => w.to_vec(),
            None => (0..1 + self.below(4)).map(|_| self.value_type()).collect(),
        };

        // Rarely, no FROM at all: scalar subqueries and literals.
        if depth == 0 && want.is_none() && self.p(0.04) {
            for (i, ty) in types.iter().enumerate() {
                let e = if self.p(0.8) {
                    Expr::Subquery(Box::new(self.scalar_subquery(*ty, outer, depth)))
                } else {
                    self.lit(*ty)
                };
                let alias = format!("c{}", i + 1);
                columns.push((alias.clone(), *ty));
                select.items.push(Item::Expr {
                    e,
                    alias: Some(alias),
                });
            }
            return (select, columns);
        }

        let (from, level) = self.from(outer, depth);
        select.from = from;
        let scope = outer.with(level.clone());
        if self.p(0.6) {
            select.filter = Some(self.pred(&scope, depth, 0));
        }

        if self.p(0.25) {
            // Grouped: keys are columns or small expressions; items are keys or aggregates.
            let mut keys: Vec<(Expr, Ty)> = Vec::new();
            for _ in 0..self.below(3) {
                let ty = self.value_type();
                if let Some(c) = self.column(ty, &scope, Pick::Inner) {
                    let key = if self.p(0.25) { self.wrap(ty, c) } else { c };
                    keys.push((key, ty));
                }
            }
            select.group_by = keys.iter().map(|k| k.0.clone()).collect();
            for (i, ty) in types.iter().enumerate() {
                let key = keys.iter().find(|k| k.1 == *ty).map(|k| k.0.clone());
                let e = match key {
                    Some(k) if self.p(0.6) => k,
                    _ => self.aggregate(*ty, &scope, depth),
                };
                self.push_item(&mut select, &mut columns, e, *ty, i, aliased);
            }
            if self.p(0.3) {
                let ty = *[Ty::Int, Ty::Num, Ty::Text]
                    .choose(&mut self.rng)
                    .unwrap_or(&Ty::Int);
                let agg = self.aggregate(ty, &scope, depth);
                let rhs = self.lit(ty);
                let op = self.pick_str(&["=", "<>", "<", ">", ">=", "<="]);
                select.having = Some(Expr::bin(op, agg, rhs));
            }
        } else if want.is_none() && !aliased && !in_setop && self.p(0.12) {
            // Stars and whole-row references.
            let rels = rel_quals(&level);
            match self.below(3) {
                0 => {
                    select.items.push(Item::Star);
                    columns.extend(level.iter().map(|c| (c.name.clone(), c.ty)));
                }
                1 => {
                    let q = rels.choose(&mut self.rng).cloned().unwrap_or_default();
                    select.items.push(Item::QualStar(q.clone()));
                    columns.extend(
                        level
                            .iter()
                            .filter(|c| c.qual == q)
                            .map(|c| (c.name.clone(), c.ty)),
                    );
                }
                _ => {
                    let q = rels.choose(&mut self.rng).cloned().unwrap_or_default();
                    // A whole-row reference names the relation, never its schema.
                    let q = q.rsplit('.').next().unwrap_or_default().to_string();
                    select.items.push(Item::Expr {
                        e: Expr::RowJson { qual: q },
                        alias: Some("j".into()),
                    });
                    columns.push(("j".into(), Ty::Text));
                }
            }
        } else {
            for (i, ty) in types.iter().enumerate() {
                let window = want.is_none() && !in_setop && self.p(0.1);
                let (e, ty) = if window {
                    self.window(&scope)
                } else {
                    (self.expr(*ty, &scope, depth, 0), *ty)
                };
                self.push_item(&mut select, &mut columns, e, ty, i, aliased);
            }
        }
        select.distinct = self.p(0.15);
        (select, columns)
    }

    fn push_item(
        &mut self,
        select: &mut Select,
        columns: &mut Vec<(String, Ty)>,
        e: Expr,
        ty: Ty,
        i: usize,
        aliased: bool,
    ) {
        let alias = if aliased || self.p(0.3) {
            Some(format!("c{}", i + 1))
        } else {
            None
        };
        let name = match (&alias, &e) {
            (Some(a), _) => a.clone(),
            (None, Expr::Col { name, .. }) => name.clone(),
            _ => "?column?".into(),
        };
        columns.push((name, ty));
        select.items.push(Item::Expr { e, alias });
    }

    /// FROM: one or two comma-separated items, each a relation with up to two joins
    /// (ON, USING, NATURAL, CROSS; LATERAL derived tables that read the join tree).
    fn from(&mut self, outer: &Scope, depth: u32) -> (Vec<FromItem>, Vec<ColRef>) {
        let mut items = Vec::new();
        let mut level: Vec<ColRef> = Vec::new();
        let mut used: Vec<String> = Vec::new();
        let max_rels = if depth == 0 { 3 } else { 2 };
        let mut rels = 0;
        let n_items = if self.p(0.1) { 2 } else { 1 };
        for _ in 0..n_items {
            if rels >= max_rels {
                break;
            }
            let (rel, cols) = self.rel(&Scope::default(), depth, &mut used, false);
            rels += 1;
            let mut tree = cols;
            let mut joins = Vec::new();
            let n_joins = match self.below(20) {
                0..=9 => 0,
                10..=16 => 1,
                _ => 2,
            };
            for _ in 0..n_joins {
                if rels >= max_rels {
                    break;
                }
                let lateral = depth < MAX_QUERY_DEPTH && self.p(0.08);
                let (jrel, jcols) = if lateral {
                    let sees = outer.with(tree.clone());
                    self.rel(&sees, depth, &mut used, true)
                } else {
                    self.rel(&Scope::default(), depth, &mut used, false)
                };
                rels += 1;
                let mut kind = self.pick_str(&[
                    "JOIN",
                    "JOIN",
                    "LEFT JOIN",
                    "LEFT JOIN",
                    "RIGHT JOIN",
                    "FULL JOIN",
                    "CROSS JOIN",
                ]);
                if lateral && (kind == "RIGHT JOIN" || kind == "FULL JOIN") {
                    // A LATERAL item cannot be the right side of RIGHT or FULL JOIN.
                    kind = "LEFT JOIN";
                }
                // Names both sides share once, with one type: candidates for USING.
                let shared: Vec<String> = jcols
                    .iter()
                    .filter(|b| {
                        let left: Vec<&ColRef> = tree.iter().filter(|a| a.name == b.name).collect();
                        left.len() == 1
                            && left.first().is_some_and(|a| a.ty == b.ty)
                            && jcols.iter().filter(|x| x.name == b.name).count() == 1
                    })
                    .map(|b| b.name.clone())
                    .collect();
                let mut using = Vec::new();
                let on = if kind == "CROSS JOIN" {
                    None
                } else if !shared.is_empty() && !lateral && self.p(0.15) {
                    let common = jcols
                        .iter()
                        .filter(|b| tree.iter().any(|a| a.name == b.name))
                        .count();
                    if self.p(0.3) && joins.is_empty() && shared.len() == common {
                        kind = "NATURAL JOIN";
                    } else if let Some(n) = shared.choose(&mut self.rng) {
                        using.push(n.clone());
                    }
                    None
                } else if lateral {
                    Some(Expr::lit("TRUE"))
                } else {
                    let mut cond = self.join_condition(&tree, &jcols);
                    if kind != "FULL JOIN" && self.p(0.3) {
                        let mut both = tree.clone();
                        both.extend(jcols.iter().cloned());
                        let extra = self.pred(&outer.with(both), depth, 1);
                        cond = Expr::bin("AND", cond, extra);
                    }
                    Some(cond)
                };
                tree.extend(jcols);
                joins.push(Join {
                    kind,
                    rel: jrel,
                    on,
                    using,
                });
            }
            level.extend(tree);
            items.push(FromItem { rel, joins });
        }
        (items, level)
    }

    /// An equality between a column of the join tree so far and one of the new relation,
    /// of the same type (key-like integer columns preferred); `TRUE` when there is none.
    fn join_condition(&mut self, left: &[ColRef], right: &[ColRef]) -> Expr {
        let mut pairs: Vec<(&ColRef, &ColRef)> = Vec::new();
        for a in left {
            for b in right {
                if a.ty == b.ty && (self.sensitive_ok || !(a.sensitive || b.sensitive)) {
                    pairs.push((a, b));
                }
            }
        }
        let keyish = |c: &ColRef| c.ty == Ty::Int && c.name.to_ascii_lowercase().ends_with("id");
        let keyed: Vec<(&ColRef, &ColRef)> = pairs
            .iter()
            .filter(|(a, b)| keyish(a) && keyish(b))
            .copied()
            .collect();
        let pool = if !keyed.is_empty() && self.p(0.8) {
            keyed
        } else {
            pairs
        };
        let Some((a, b)) = pool.choose(&mut self.rng).copied() else {
            return Expr::lit("TRUE");
        };
        let (a, b) = (a.clone(), b.clone());
        let l = self.reference(&a);
        let r = self.reference(&b);
        Expr::bin("=", l, r)
    }

    /// An unquoted identifier as written by someone careless about case (PostgreSQL folds
    /// it to lower case), or quoted in lower case; quoted ones stay as they are.
    fn spelled(&mut self, ident: &str) -> String {
        if ident.starts_with('"') || !self.p(0.15) {
            return ident.to_string();
        }
        if self.p(0.3) {
            // Quoted in lower case: the same name.
            return format!("\"{ident}\"");
        }
        if self.p(0.5) {
            ident.to_ascii_uppercase()
        } else {
            let mut chars = ident.chars();
            match chars.next() {
                Some(c) => c.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        }
    }

    /// `qual.name`, each part spelled in some case.
    fn reference(&mut self, c: &ColRef) -> Expr {
        let qual = c
            .qual
            .split('.')
            .map(|part| self.spelled(part))
            .collect::<Vec<_>>()
            .join(".");
        Expr::Col {
            qual: Some(qual),
            name: self.spelled(&c.name),
        }
    }

    /// A relation: a catalog table (not shadowed by a CTE, or schema-qualified), a CTE, or
    /// a derived table (LATERAL when `lateral`, reading `sees`).
    fn rel(
        &mut self,
        sees: &Scope,
        depth: u32,
        used: &mut Vec<String>,
        lateral: bool,
    ) -> (Rel, Vec<ColRef>) {
        if lateral || (depth < MAX_QUERY_DEPTH && self.p(0.12)) {
            let alias = self.alias("d");
            let (mut q, cols) = self.query(sees, depth + 1, None, true);
            let mut names: Vec<String> = cols.iter().map(|c| c.0.clone()).collect();
            let mut columns = Vec::new();
            if self.p(0.3) {
                // The names come from a column alias list instead of the items.
                strip_aliases(&mut q.body);
                names = (1..=names.len()).map(|i| format!("k{i}")).collect();
                columns = names.clone();
            }
            let refs = names
                .iter()
                .zip(&cols)
                .map(|(n, c)| ColRef {
                    qual: alias.clone(),
                    name: n.clone(),
                    ty: c.1,
                    sensitive: false,
                    from_table: false,
                })
                .collect();
            used.push(alias.clone());
            return (
                Rel::Derived {
                    q: Box::new(q),
                    alias,
                    columns,
                    lateral,
                },
                refs,
            );
        }
        if self.p(0.03) {
            return self.values(used);
        }
        let mut schema_qualified = false;
        let (name, cols) = if !self.ctes.is_empty() && self.p(0.35) {
            let i = self.below(self.ctes.len());
            match self.ctes.get(i) {
                Some(c) => (c.name.clone(), c.columns.clone()),
                None => ("tenants".to_string(), Vec::new()),
            }
        } else {
            // `public.T` is never a CTE: now and then, a table a CTE shadows.
            schema_qualified = self.p(0.1);
            let tables = self.tables;
            let candidates: Vec<&Table> = tables
                .iter()
                .filter(|t| schema_qualified || !self.ctes.iter().any(|c| c.name == t.name))
                .filter(|t| self.may_read(t))
                .collect();
            match self.weighted(&candidates) {
                Some(t) => (t.name.clone(), t.columns.clone()),
                None => ("tenants".to_string(), Vec::new()),
            }
        };
        let shadowed = self.ctes.iter().any(|c| c.name == name);
        let alias = if used.contains(&name) || (schema_qualified && shadowed) || self.p(0.6) {
            // Now and then an alias named like another governed table.
            let lookalike = self.pick_str(&["orders", "customers", "employees", "tickets"]);
            if self.p(0.1) && lookalike != name && !used.iter().any(|u| u == lookalike) {
                Some(lookalike.to_string())
            } else {
                Some(self.alias("t"))
            }
        } else {
            None
        };
        // A column alias list renames the first columns.
        let mut renamed = Vec::new();
        if alias.is_some() && self.p(0.08) {
            let k = 1 + self.below(cols.len().max(1));
            renamed = (1..=k.min(cols.len())).map(|i| format!("a{i}")).collect();
        }
        let qual = match &alias {
            Some(a) => a.clone(),
            None if schema_qualified && self.p(0.5) => format!("public.{name}"),
            None => name.clone(),
        };
        used.push(alias.clone().unwrap_or_else(|| name.clone()));
        let refs = cols
            .into_iter()
            .enumerate()
            .map(|(i, (n, ty))| ColRef {
                sensitive: self
                    .denied
                    .iter()
                    .any(|(t, c)| *t == name && c.as_ref() == Some(&n)),
                qual: qual.clone(),
                name: renamed.get(i).cloned().unwrap_or(n),
                ty,
                from_table: true,
            })
            .collect();
        let written = if schema_qualified {
            format!("public.{}", self.spelled(&name))
        } else {
            self.spelled(&name)
        };
        (
            Rel::Named {
                name: written,
                alias,
                columns: renamed,
            },
            refs,
        )
    }

    /// Whether this statement may name `table`: one that some policy denies whole only
    /// when the statement may name denied things.
    fn may_read(&self, table: &Table) -> bool {
        self.sensitive_ok
            || !self
                .denied
                .iter()
                .any(|(d, c)| *d == table.name && c.is_none())
    }

    /// One of `candidates` at random, each as likely as its [`weight`].
    fn weighted(&mut self, candidates: &[&'a Table]) -> Option<&'a Table> {
        let weights: Vec<u32> = candidates.iter().map(|t| weight(&t.name)).collect();
        let total: u32 = weights.iter().sum();
        let mut roll = self.rng.gen_range(0..total.max(1));
        for (t, w) in candidates.iter().zip(&weights) {
            if roll < *w {
                return Some(t);
            }
            roll -= w;
        }
        candidates.first().copied()
    }

    /// `(VALUES (…), …) AS v(c1, …)` of literals.
    fn values(&mut self, used: &mut Vec<String>) -> (Rel, Vec<ColRef>) {
        let alias = self.alias("v");
        let types: Vec<Ty> = (0..1 + self.below(3))
            .map(|_| self.value_type_no_bool())
            .collect();
        let rows = (0..1 + self.below(3))
            .map(|_| types.iter().map(|t| self.lit(*t)).collect())
            .collect();
        let columns: Vec<String> = (1..=types.len()).map(|i| format!("x{i}")).collect();
        let refs = columns
            .iter()
            .zip(&types)
            .map(|(n, t)| ColRef {
                qual: alias.clone(),
                name: n.clone(),
                ty: *t,
                sensitive: false,
                from_table: false,
            })
            .collect();
        used.push(alias.clone());
        (
            Rel::Values {
                rows,
                alias,
                columns,
            },
            refs,
        )
    }

    // -------------------------------------------------------------- expressions

    /// A column of type `ty` in scope (see `Pick`); qualified, or bare where PostgreSQL
    /// binds the bare name to the same column.
    fn column(&mut self, ty: Ty, scope: &Scope, pick: Pick) -> Option<Expr> {
        let n = scope.levels.len();
        if n == 0 {
            return None;
        }
        let level = match pick {
            Pick::Inner => n - 1,
            Pick::Any if n > 1 && self.p(0.25) => self.below(n - 1),
            Pick::Any => n - 1,
            Pick::Outer if n > 1 => self.below(n - 1),
            Pick::Outer => return None,
        };
        let sensitive_ok = self.sensitive_ok;
        // A qualifier that a deeper level also has would bind there.
        // (`public.t` and `t` name the same relation.)
        let last = |q: &str| q.rsplit('.').next().unwrap_or_default().to_string();
        let rebound = |c: &ColRef, at: usize| {
            scope
                .levels
                .iter()
                .skip(at + 1)
                .any(|cols| cols.iter().any(|x| last(&x.qual) == last(&c.qual)))
        };
        let fits = |c: &&ColRef| c.ty == ty && (sensitive_ok || !c.sensitive) && !rebound(c, level);
        let mut candidates: Vec<&ColRef> = scope
            .levels
            .get(level)
            .into_iter()
            .flatten()
            .filter(fits)
            .collect();
        let mut level = level;
        if candidates.is_empty() && pick == Pick::Any && level != n - 1 {
            level = n - 1;
            candidates = scope
                .levels
                .get(level)
                .into_iter()
                .flatten()
                .filter(|c| c.ty == ty && (sensitive_ok || !c.sensitive))
                .collect();
        }
        let c = *candidates.choose(&mut self.rng)?;
        let same_name = |cols: &Vec<ColRef>| cols.iter().filter(|x| x.name == c.name).count();
        let unique_here = scope.levels.get(level).map(same_name) == Some(1);
        let hidden = scope
            .levels
            .iter()
            .skip(level + 1)
            .any(|cols| same_name(cols) > 0);
        let c = c.clone();
        if unique_here && !hidden && self.p(0.35) {
            Some(Expr::Col {
                qual: None,
                name: self.spelled(&c.name),
            })
        } else if !c.qual.contains('.') && c.from_table && self.p(0.05) {
            // A field of the whole-row reference.
            Some(Expr::Field {
                qual: self.spelled(&c.qual),
                name: self.spelled(&c.name),
            })
        } else {
            Some(self.reference(&c))
        }
    }

    /// A column or, failing that, a literal.
    fn leaf(&mut self, ty: Ty, scope: &Scope) -> Expr {
        if self.p(0.8) {
            if let Some(c) = self.column(ty, scope, Pick::Any) {
                return c;
            }
        }
        self.lit(ty)
    }

    /// A one-argument function of a value, keeping its type.
    fn wrap(&mut self, ty: Ty, e: Expr) -> Expr {
        match ty {
            Ty::Int => Expr::func("abs", vec![e]),
            Ty::Num => Expr::func("round", vec![e, Expr::lit("0")]),
            Ty::Text => {
                let f = self.pick_str(&["lower", "upper", "initcap", "btrim"]);
                Expr::func(f, vec![e])
            }
            Ty::Date => Expr::Cast {
                e: Box::new(Expr::func("date_trunc", vec![Expr::lit("'month'"), e])),
                ty: "date",
            },
            Ty::Ts => Expr::func("date_trunc", vec![Expr::lit("'day'"), e]),
            Ty::Bool => Expr::Prefix {
                op: "NOT",
                e: Box::new(e),
            },
        }
    }

    /// An expression of type `ty`.
    fn expr(&mut self, ty: Ty, scope: &Scope, depth: u32, ed: u32) -> Expr {
        if ty == Ty::Bool {
            return self.pred(scope, depth, ed);
        }
        if ed >= MAX_EXPR_DEPTH || self.p(0.45) {
            return self.leaf(ty, scope);
        }
        let d = ed + 1;
        let subquery_ok = depth < MAX_QUERY_DEPTH;
        match self.below(10) {
            0 => {
                let n = 1 + self.below(2);
                let mut whens = Vec::new();
                for _ in 0..n {
                    let c = self.pred(scope, depth, d);
                    let v = self.expr(ty, scope, depth, d);
                    whens.push((c, v));
                }
                let otherwise = if self.p(0.7) {
                    Some(Box::new(self.expr(ty, scope, depth, d)))
                } else {
                    None
                };
                Expr::Case { whens, otherwise }
            }
            1 => {
                let e = self.expr(ty, scope, depth, d);
                let l = self.lit(ty);
                Expr::func("coalesce", vec![e, l])
            }
            2 if subquery_ok => Expr::Subquery(Box::new(self.scalar_subquery(ty, scope, depth))),
            _ => self.typed(ty, scope, depth, d),
        }
    }

    /// Type-specific operators and functions.
    fn typed(&mut self, ty: Ty, scope: &Scope, depth: u32, d: u32) -> Expr {
        match ty {
            Ty::Int => match self.below(9) {
                0 => {
                    let op = self.pick_str(&["+", "-", "*"]);
                    let l = self.expr(Ty::Int, scope, depth, d);
                    let r = self.leaf(Ty::Int, scope);
                    Expr::bin(op, l, r)
                }
                1 => Expr::func("length", vec![self.expr(Ty::Text, scope, depth, d)]),
                2 => Expr::Cast {
                    e: Box::new(self.expr(Ty::Num, scope, depth, d)),
                    ty: "integer",
                },
                3 => Expr::Cast {
                    e: Box::new(Expr::Extract {
                        field: "YEAR",
                        e: Box::new(self.expr(Ty::Date, scope, depth, d)),
                    }),
                    ty: "integer",
                },
                4 => Expr::func("abs", vec![self.expr(Ty::Int, scope, depth, d)]),
                5 => {
                    let e = self.expr(Ty::Int, scope, depth, d);
                    let l = self.lit(Ty::Int);
                    Expr::func("nullif", vec![e, l])
                }
                // Expressions that fail for some values, printing them (a text that is
                // no number) or not (a division by zero): never on a row the context
                // cannot see.
                6 => Expr::Cast {
                    e: Box::new(self.expr(Ty::Text, scope, depth, d)),
                    ty: "integer",
                },
                7 => {
                    let e = self.leaf(Ty::Int, scope);
                    let l = self.lit(Ty::Int);
                    Expr::bin("/", Expr::lit("1000"), Expr::bin("-", e, l))
                }
                _ => {
                    let t = self.expr(Ty::Text, scope, depth, d);
                    Expr::func("strpos", vec![t, Expr::lit("'a'")])
                }
            },
            Ty::Num => match self.below(6) {
                0 => {
                    let l = self.expr(Ty::Num, scope, depth, d);
                    let r = self.leaf(Ty::Num, scope);
                    Expr::bin("+", l, r)
                }
                1 => {
                    let l = self.expr(Ty::Num, scope, depth, d);
                    Expr::bin("*", l, Expr::lit("2"))
                }
                2 => Expr::func(
                    "round",
                    vec![self.expr(Ty::Num, scope, depth, d), Expr::lit("1")],
                ),
                3 => Expr::Cast {
                    e: Box::new(self.expr(Ty::Int, scope, depth, d)),
                    ty: "numeric",
                },
                4 => {
                    let e = self.expr(Ty::Num, scope, depth, d);
                    let l = self.lit(Ty::Num);
                    Expr::func("greatest", vec![e, l])
                }
                _ => Expr::func("abs", vec![self.expr(Ty::Num, scope, depth, d)]),
            },
            Ty::Text => match self.below(10) {
                0 => {
                    let e = self.expr(Ty::Text, scope, depth, d);
                    self.wrap(Ty::Text, e)
                }
                1 => Expr::func(
                    "substr",
                    vec![
                        self.expr(Ty::Text, scope, depth, d),
                        Expr::lit("1"),
                        Expr::lit("3"),
                    ],
                ),
                2 => {
                    let f = self.pick_str(&["left", "right"]);
                    Expr::func(
                        f,
                        vec![self.expr(Ty::Text, scope, depth, d), Expr::lit("2")],
                    )
                }
                3 => {
                    let a = self.expr(Ty::Text, scope, depth, d);
                    let ty = self.value_type();
                    let b = self.expr(ty, scope, depth, d);
                    Expr::func("concat", vec![a, Expr::lit("'-'"), b])
                }
                4 => {
                    let a = self.expr(Ty::Text, scope, depth, d);
                    let b = self.leaf(Ty::Text, scope);
                    Expr::bin("||", a, b)
                }
                5 => {
                    let from = *[Ty::Int, Ty::Num, Ty::Date, Ty::Ts]
                        .choose(&mut self.rng)
                        .unwrap_or(&Ty::Int);
                    Expr::Cast {
                        e: Box::new(self.expr(from, scope, depth, d)),
                        ty: "text",
                    }
                }
                6 => Expr::func(
                    "replace",
                    vec![
                        self.expr(Ty::Text, scope, depth, d),
                        Expr::lit("'a'"),
                        Expr::lit("'*'"),
                    ],
                ),
                7 => Expr::func(
                    "split_part",
                    vec![
                        self.expr(Ty::Text, scope, depth, d),
                        Expr::lit("'@'"),
                        Expr::lit("2"),
                    ],
                ),
                8 => Expr::func("md5", vec![self.expr(Ty::Text, scope, depth, d)]),
                _ => Expr::func(
                    "coalesce",
                    vec![self.expr(Ty::Text, scope, depth, d), Expr::lit("'none'")],
                ),
            },
            Ty::Date => match self.below(3) {
                0 => {
                    let e = self.expr(Ty::Date, scope, depth, d);
                    let n = self.pick_str(&["1", "3", "30", "365"]);
                    Expr::bin("+", e, Expr::lit(n))
                }
                1 => Expr::Cast {
                    e: Box::new(self.expr(Ty::Ts, scope, depth, d)),
                    ty: "date",
                },
                _ => {
                    let e = self.expr(Ty::Date, scope, depth, d);
                    self.wrap(Ty::Date, e)
                }
            },
            Ty::Ts => match self.below(2) {
                0 => Expr::Cast {
                    e: Box::new(self.expr(Ty::Date, scope, depth, d)),
                    ty: "timestamp",
                },
                _ => {
                    let e = self.expr(Ty::Ts, scope, depth, d);
                    self.wrap(Ty::Ts, e)
                }
            },
            Ty::Bool => self.pred(scope, depth, d),
        }
    }

    /// A predicate.
    fn pred(&mut self, scope: &Scope, depth: u32, ed: u32) -> Expr {
        let d = ed + 1;
        let leafish = ed >= MAX_EXPR_DEPTH;
        let subquery_ok = depth < MAX_QUERY_DEPTH && !leafish;
        let choice = if leafish {
            self.below(3)
        } else {
            self.below(14)
        };
        match choice {
            0 | 1 => {
                let ty = self.value_type_no_bool();
                let l = if leafish {
                    self.leaf(ty, scope)
                } else {
                    self.expr(ty, scope, depth, d)
                };
                let r = if self.p(0.7) {
                    self.lit(ty)
                } else {
                    self.leaf(ty, scope)
                };
                let op = self.pick_str(&[
                    "=",
                    "=",
                    "<>",
                    "<",
                    "<=",
                    ">",
                    ">=",
                    "IS DISTINCT FROM",
                    "IS NOT DISTINCT FROM",
                ]);
                Expr::bin(op, l, r)
            }
            2 => {
                let ty = self.value_type_no_bool();
                let e = self.leaf(ty, scope);
                let op = self.pick_str(&["IS NULL", "IS NOT NULL"]);
                Expr::Postfix { e: Box::new(e), op }
            }
            3 | 4 => {
                let op = self.pick_str(&["AND", "OR"]);
                let l = self.pred(scope, depth, d);
                let r = self.pred(scope, depth, d);
                Expr::bin(op, l, r)
            }
            5 => Expr::Prefix {
                op: "NOT",
                e: Box::new(self.pred(scope, depth, d)),
            },
            6 => {
                let ty = self.value_type_no_bool();
                let e = self.expr(ty, scope, depth, d);
                let list = (0..1 + self.below(3)).map(|_| self.lit(ty)).collect();
                Expr::InList {
                    e: Box::new(e),
                    list,
                    negated: self.p(0.3),
                }
            }
            7 => {
                let ty = *[Ty::Int, Ty::Num, Ty::Date, Ty::Text]
                    .choose(&mut self.rng)
                    .unwrap_or(&Ty::Int);
                let e = self.expr(ty, scope, depth, d);
                let mut lo = self.lit(ty);
                let mut hi = self.lit(ty);
                if lo.sql() > hi.sql() {
                    std::mem::swap(&mut lo, &mut hi);
                }
                Expr::Between {
                    e: Box::new(e),
                    lo: Box::new(lo),
                    hi: Box::new(hi),
                    negated: self.p(0.2),
                }
            }
            8 => {
                let e = self.expr(Ty::Text, scope, depth, d);
                let op = self.pick_str(&["LIKE", "ILIKE", "NOT LIKE"]);
                let pattern = self.pick_str(&LIKE_PATTERNS);
                Expr::bin(op, e, Expr::lit(pattern))
            }
            9 | 10 if subquery_ok => {
                let q = self.subquery(None, scope, depth);
                Expr::Exists {
                    q: Box::new(q),
                    negated: self.p(0.3),
                }
            }
            11 | 12 if subquery_ok => {
                let ty = self.value_type_no_bool();
                let e = self.expr(ty, scope, depth, d);
                let q = self.subquery(Some(ty), scope, depth);
                Expr::InSub {
                    e: Box::new(e),
                    q: Box::new(q),
                    negated: self.p(0.3),
                }
            }
            13 if subquery_ok => {
                let ty = *[Ty::Int, Ty::Num, Ty::Text, Ty::Date]
                    .choose(&mut self.rng)
                    .unwrap_or(&Ty::Int);
                let e = self.expr(ty, scope, depth, d);
                if self.p(0.4) {
                    // `e op ANY/ALL (SELECT …)`: a column of any number of rows.
                    let q = self.subquery(Some(ty), scope, depth);
                    let op = self.pick_str(&["= ANY", "<> ALL", "< ANY", ">= ALL"]);
                    return Expr::bin(op, e, Expr::Subquery(Box::new(q)));
                }
                let q = self.scalar_subquery(ty, scope, depth);
                let op = self.pick_str(&["=", "<>", "<", ">", ">="]);
                Expr::bin(op, e, Expr::Subquery(Box::new(q)))
            }
            _ => {
                let ty = self.value_type_no_bool();
                let l = self.leaf(ty, scope);
                let r = self.lit(ty);
                Expr::bin("=", l, r)
            }
        }
    }

    fn value_type_no_bool(&mut self) -> Ty {
        let ty = self.value_type();
        if ty == Ty::Bool {
            Ty::Text
        } else {
            ty
        }
    }

    /// An aggregate of type `ty` over the rows of `scope`'s innermost level: its
    /// arguments read that level only (an argument reading only enclosing levels would
    /// make it an aggregate of the enclosing query) and hold no subquery.
    fn aggregate(&mut self, ty: Ty, full: &Scope, _depth: u32) -> Expr {
        let inner = Scope {
            levels: full.levels.last().cloned().into_iter().collect(),
        };
        let scope = &inner;
        let depth = MAX_QUERY_DEPTH;
        let mut e = match ty {
            Ty::Int => match self.below(5) {
                0 => Expr::Func {
                    name: "count",
                    args: Vec::new(),
                    star: true,
                    distinct: false,
                    order: None,
                    filter: None,
                },
                1 => {
                    let t = self.value_type_no_bool();
                    Expr::func("count", vec![self.expr(t, scope, depth, 1)])
                }
                2 => {
                    let t = self.value_type_no_bool();
                    let arg = self.leaf(t, scope);
                    Expr::Func {
                        name: "count",
                        args: vec![arg],
                        star: false,
                        distinct: true,
                        order: None,
                        filter: None,
                    }
                }
                3 => Expr::func("sum", vec![self.expr(Ty::Int, scope, depth, 1)]),
                _ => {
                    let f = self.pick_str(&["min", "max"]);
                    Expr::func(f, vec![self.expr(Ty::Int, scope, depth, 1)])
                }
            },
            Ty::Num => match self.below(3) {
                0 => Expr::func("sum", vec![self.expr(Ty::Num, scope, depth, 1)]),
                1 => {
                    let t = if self.p(0.5) { Ty::Num } else { Ty::Int };
                    Expr::func("avg", vec![self.expr(t, scope, depth, 1)])
                }
                _ => {
                    let f = self.pick_str(&["min", "max"]);
                    Expr::func(f, vec![self.expr(Ty::Num, scope, depth, 1)])
                }
            },
            Ty::Text => {
                if self.p(0.3) {
                    let arg = self.expr(Ty::Text, scope, depth, 1);
                    Expr::Func {
                        name: "string_agg",
                        args: vec![arg.clone(), Expr::lit("','")],
                        star: false,
                        distinct: false,
                        order: Some(Box::new(arg)),
                        filter: None,
                    }
                } else {
                    let f = self.pick_str(&["min", "max"]);
                    Expr::func(f, vec![self.expr(Ty::Text, scope, depth, 1)])
                }
            }
            Ty::Date | Ty::Ts => {
                let f = self.pick_str(&["min", "max"]);
                Expr::func(f, vec![self.expr(ty, scope, depth, 1)])
            }
            Ty::Bool => {
                let f = self.pick_str(&["bool_or", "bool_and"]);
                Expr::func(f, vec![self.pred(scope, depth, 1)])
            }
        };
        if self.p(0.12) {
            let f = self.pred(scope, depth, 2);
            if let Expr::Func { filter, .. } = &mut e {
                *filter = Some(Box::new(f));
            }
        }
        e
    }

    /// A window function whose value does not depend on the order of peers.
    fn window(&mut self, scope: &Scope) -> (Expr, Ty) {
        let part_ty = self.value_type_no_bool();
        let partition: Vec<Expr> = self
            .column(part_ty, scope, Pick::Inner)
            .into_iter()
            .collect();
        let order_ty = self.value_type_no_bool();
        let order: Vec<Expr> = self
            .column(order_ty, scope, Pick::Inner)
            .into_iter()
            .collect();
        let count_star = Expr::Func {
            name: "count",
            args: Vec::new(),
            star: true,
            distinct: false,
            order: None,
            filter: None,
        };
        match self.below(5) {
            0 => (
                Expr::Window {
                    func: Box::new(count_star),
                    partition,
                    order: Vec::new(),
                },
                Ty::Int,
            ),
            1 => {
                let arg = self.leaf(Ty::Num, scope);
                (
                    Expr::Window {
                        func: Box::new(Expr::func("sum", vec![arg])),
                        partition,
                        order,
                    },
                    Ty::Num,
                )
            }
            2 => {
                let f = self.pick_str(&["rank", "dense_rank"]);
                (
                    Expr::Window {
                        func: Box::new(Expr::func(f, Vec::new())),
                        partition,
                        order,
                    },
                    Ty::Int,
                )
            }
            3 => {
                let arg = self.leaf(Ty::Text, scope);
                let f = self.pick_str(&["min", "max"]);
                (
                    Expr::Window {
                        func: Box::new(Expr::func(f, vec![arg])),
                        partition,
                        order: Vec::new(),
                    },
                    Ty::Text,
                )
            }
            _ => (
                Expr::Window {
                    func: Box::new(count_star),
                    partition,
                    order,
                },
                Ty::Int,
            ),
        }
    }

    /// `(SELECT agg(…) FROM … WHERE …)`: one row whatever the data, often correlated.
    fn scalar_subquery(&mut self, ty: Ty, outer: &Scope, depth: u32) -> Query {
        let (from, level) = self.from(outer, depth + 1);
        let scope = outer.with(level.clone());
        let filter = self.correlated_filter(outer, &level, &scope, depth + 1);
        let e = self.aggregate(ty, &scope, depth + 1);
        Query::simple(Select {
            distinct: false,
            items: vec![Item::Expr { e, alias: None }],
            from,
            filter,
            group_by: Vec::new(),
            having: None,
        })
    }

    /// `SELECT 1 …` (for EXISTS) or `SELECT <one column of type ty> …` (for IN).
    fn subquery(&mut self, ty: Option<Ty>, outer: &Scope, depth: u32) -> Query {
        if let (Some(t), true) = (ty, self.p(0.15)) {
            // A grouped or set-operation subquery now and then.
            let (q, _) = self.query(outer, depth + 1, Some(&[t]), false);
            return q;
        }
        let (from, level) = self.from(outer, depth + 1);
        let scope = outer.with(level.clone());
        let filter = self.correlated_filter(outer, &level, &scope, depth + 1);
        let e = match ty {
            Some(t) => self.expr(t, &scope, depth + 1, 1),
            None => Expr::lit("1"),
        };
        Query::simple(Select {
            distinct: ty.is_some() && self.p(0.2),
            items: vec![Item::Expr { e, alias: None }],
            from,
            filter,
            group_by: Vec::new(),
            having: None,
        })
    }

    /// A WHERE for a subquery: often an equality with a column of the enclosing query,
    /// and a random predicate.
    fn correlated_filter(
        &mut self,
        outer: &Scope,
        level: &[ColRef],
        scope: &Scope,
        depth: u32,
    ) -> Option<Expr> {
        let mut parts = Vec::new();
        if !outer.levels.is_empty() && self.p(0.6) {
            let inner_col = level.choose(&mut self.rng).cloned();
            if let Some(c) = inner_col {
                if let Some(o) = self.column(c.ty, scope, Pick::Outer) {
                    let inner = self.reference(&c);
                    parts.push(Expr::bin("=", inner, o));
                }
            }
        }
        if self.p(0.5) {
            parts.push(self.pred(scope, depth, 1));
        }
        let mut it = parts.into_iter();
        let first = it.next()?;
        Some(it.fold(first, |acc, p| Expr::bin("AND", acc, p)))
    }
}

/// The distinct qualifiers of a level, in order.
fn rel_quals(level: &[ColRef]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in level {
        if !out.contains(&c.qual) {
            out.push(c.qual.clone());
        }
    }
    out
}

/// How often a table is chosen: the denied ones rarely.
fn weight(table: &str) -> u32 {
    match table {
        "customers" | "orders" => 5,
        "employees" | "tickets" => 4,
        "secrets" | "salaries" => 1,
        _ => 3,
    }
}

/// Removes the item aliases of the body's first SELECT (a column alias list names them).
fn strip_aliases(body: &mut Body) {
    match body {
        Body::Select(s) => {
            for item in &mut s.items {
                if let Item::Expr { alias, .. } = item {
                    *alias = None;
                }
            }
        }
        Body::SetOp { l, .. } => strip_aliases(l),
    }
}
