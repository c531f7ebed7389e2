//! The generated queries' syntax: a small tree that renders to PostgreSQL and that the
//! shrinker can cut down (drop a clause, a join, a select item, an arm; replace an
//! expression by one of its parts).

use std::fmt::Write as _;

/// An expression. Rendered with parentheses around every compound part, so that no
/// precedence question arises.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `qual.name`, or `name` alone where PostgreSQL binds it to the same column.
    Col { qual: Option<String>, name: String },
    /// Literal SQL text (`42`, `'EU'`, `DATE '2024-01-01'`, `TRUE`).
    Lit(String),
    /// `(l op r)`.
    Bin {
        op: &'static str,
        l: Box<Expr>,
        r: Box<Expr>,
    },
    /// `(NOT e)`, `(- e)`.
    Prefix { op: &'static str, e: Box<Expr> },
    /// `(e IS NULL)`, `(e IS NOT NULL)`.
    Postfix { e: Box<Expr>, op: &'static str },
    /// `name(args)`; `name(*)` when `star`; with `DISTINCT`, an `ORDER BY` inside the
    /// call and a `FILTER (WHERE …)` for aggregates.
    Func {
        name: &'static str,
        args: Vec<Expr>,
        star: bool,
        distinct: bool,
        order: Option<Box<Expr>>,
        filter: Option<Box<Expr>>,
    },
    /// `func OVER (PARTITION BY … ORDER BY …)`.
    Window {
        func: Box<Expr>,
        partition: Vec<Expr>,
        order: Vec<Expr>,
    },
    /// `CASE WHEN c THEN v … ELSE e END`.
    Case {
        whens: Vec<(Expr, Expr)>,
        otherwise: Option<Box<Expr>>,
    },
    /// `CAST(e AS ty)`.
    Cast { e: Box<Expr>, ty: &'static str },
    /// `EXTRACT(field FROM e)`.
    Extract { field: &'static str, e: Box<Expr> },
    /// A scalar subquery `(SELECT …)`.
    Subquery(Box<Query>),
    /// `[NOT] EXISTS (SELECT …)`.
    Exists { q: Box<Query>, negated: bool },
    /// `e [NOT] IN (SELECT …)`.
    InSub {
        e: Box<Expr>,
        q: Box<Query>,
        negated: bool,
    },
    /// `e [NOT] IN (a, b, …)`.
    InList {
        e: Box<Expr>,
        list: Vec<Expr>,
        negated: bool,
    },
    /// `e [NOT] BETWEEN lo AND hi`.
    Between {
        e: Box<Expr>,
        lo: Box<Expr>,
        hi: Box<Expr>,
        negated: bool,
    },
    /// A whole-row reference: `row_to_json(alias)::text`.
    RowJson { qual: String },
    /// A field of a whole-row reference: `(alias).name`.
    Field { qual: String, name: String },
}

/// A select list entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Expr {
        e: Expr,
        alias: Option<String>,
    },
    /// `*`
    Star,
    /// `qual.*`
    QualStar(String),
}

/// A relation in FROM.
#[derive(Debug, Clone, PartialEq)]
pub enum Rel {
    /// A table or CTE by name, with an optional alias and column alias list.
    Named {
        name: String,
        alias: Option<String>,
        columns: Vec<String>,
    },
    /// `(VALUES (…), …) AS alias(columns)`.
    Values {
        rows: Vec<Vec<Expr>>,
        alias: String,
        columns: Vec<String>,
    },
    /// `[LATERAL] (query) AS alias`, with an optional column alias list.
    Derived {
        q: Box<Query>,
        alias: String,
        columns: Vec<String>,
        lateral: bool,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Join {
    /// `JOIN`, `LEFT JOIN`, `RIGHT JOIN`, `FULL JOIN`, `CROSS JOIN`, `NATURAL JOIN`.
    pub kind: &'static str,
    pub rel: Rel,
    pub on: Option<Expr>,
    /// `USING (…)` instead of ON.
    pub using: Vec<String>,
}

/// One comma-separated FROM entry: a relation and its joins.
#[derive(Debug, Clone, PartialEq)]
pub struct FromItem {
    pub rel: Rel,
    pub joins: Vec<Join>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub distinct: bool,
    pub items: Vec<Item>,
    pub from: Vec<FromItem>,
    pub filter: Option<Expr>,
    pub group_by: Vec<Expr>,
    pub having: Option<Expr>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Select(Box<Select>),
    /// `l UNION [ALL] r`, `INTERSECT`, `EXCEPT`.
    SetOp {
        op: &'static str,
        all: bool,
        l: Box<Body>,
        r: Box<Body>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// `WITH` entries: a name (with its column list, for a recursive one) and a query.
    pub ctes: Vec<(String, Query)>,
    /// `WITH RECURSIVE`.
    pub recursive: bool,
    pub body: Body,
    /// `ORDER BY` output positions (1-based) with `DESC`; when present it covers every
    /// output column, so the order of distinct rows is total.
    pub order_by: Vec<(usize, bool)>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
}

impl Query {
    /// `body` alone: no `WITH`, `ORDER BY`, `LIMIT` or `OFFSET`.
    pub fn of(body: Body) -> Query {
        Query {
            ctes: Vec::new(),
            recursive: false,
            body,
            order_by: Vec::new(),
            limit: None,
            offset: None,
        }
    }

    pub fn simple(select: Select) -> Query {
        Query::of(Body::Select(Box::new(select)))
    }

    /// Whether the answer's row order is defined (ORDER BY over every output column).
    pub fn ordered(&self) -> bool {
        !self.order_by.is_empty()
    }

    pub fn sql(&self) -> String {
        let mut out = String::new();
        self.render(&mut out);
        out
    }

    fn render(&self, out: &mut String) {
        if !self.ctes.is_empty() {
            out.push_str(if self.recursive {
                "WITH RECURSIVE "
            } else {
                "WITH "
            });
            for (i, (name, q)) in self.ctes.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{name} AS (");
                q.render(out);
                out.push(')');
            }
            out.push(' ');
        }
        self.body.render(out, true);
        if !self.order_by.is_empty() {
            out.push_str(" ORDER BY ");
            let keys: Vec<String> = self
                .order_by
                .iter()
                .map(|(p, desc)| format!("{p}{}", if *desc { " DESC" } else { "" }))
                .collect();
            out.push_str(&keys.join(", "));
        }
        if let Some(n) = self.limit {
            let _ = write!(out, " LIMIT {n}");
        }
        if let Some(n) = self.offset {
            let _ = write!(out, " OFFSET {n}");
        }
    }
}

impl Body {
    fn render(&self, out: &mut String, top: bool) {
        match self {
            Body::Select(s) => s.render(out),
            Body::SetOp { op, all, l, r } => {
                if !top {
                    out.push('(');
                }
                l.render(out, false);
                let _ = write!(out, " {op}{} ", if *all { " ALL" } else { "" });
                r.render(out, false);
                if !top {
                    out.push(')');
                }
            }
        }
    }
}

impl Select {
    fn render(&self, out: &mut String) {
        out.push_str("SELECT ");
        if self.distinct {
            out.push_str("DISTINCT ");
        }
        render_items(&self.items, out);
        if !self.from.is_empty() {
            out.push_str(" FROM ");
            render_from(&self.from, out);
        }
        if let Some(w) = &self.filter {
            out.push_str(" WHERE ");
            w.render(out);
        }
        if !self.group_by.is_empty() {
            out.push_str(" GROUP BY ");
            for (i, g) in self.group_by.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                g.render(out);
            }
        }
        if let Some(h) = &self.having {
            out.push_str(" HAVING ");
            h.render(out);
        }
    }
}

/// A select list or RETURNING list.
fn render_items(items: &[Item], out: &mut String) {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        match item {
            Item::Star => out.push('*'),
            Item::QualStar(q) => {
                let _ = write!(out, "{q}.*");
            }
            Item::Expr { e, alias } => {
                e.render(out);
                if let Some(a) = alias {
                    let _ = write!(out, " AS {a}");
                }
            }
        }
    }
}

/// FROM items with their joins (also UPDATE's FROM and DELETE's USING).
fn render_from(from: &[FromItem], out: &mut String) {
    for (i, f) in from.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        f.rel.render(out);
        for j in &f.joins {
            let _ = write!(out, " {} ", j.kind);
            j.rel.render(out);
            if let Some(on) = &j.on {
                out.push_str(" ON ");
                on.render(out);
            }
            if !j.using.is_empty() {
                let _ = write!(out, " USING ({})", j.using.join(", "));
            }
        }
    }
}

/// A generated write: `UPDATE t [AS a] SET … [FROM …] [WHERE …] [RETURNING …]`, or
/// `DELETE FROM t [AS a] [USING …] [WHERE …] [RETURNING …]` when it sets nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Write {
    pub table: String,
    pub alias: Option<String>,
    /// `SET` assignments: column and value; none for a DELETE.
    pub sets: Vec<(String, Expr)>,
    /// UPDATE's `FROM`, DELETE's `USING`.
    pub from: Vec<FromItem>,
    pub filter: Option<Expr>,
    pub returning: Vec<Item>,
}

impl Write {
    pub fn sql(&self) -> String {
        let mut out = String::new();
        let target = match &self.alias {
            Some(a) => format!("{} AS {a}", self.table),
            None => self.table.clone(),
        };
        if self.sets.is_empty() {
            let _ = write!(out, "DELETE FROM {target}");
        } else {
            let _ = write!(out, "UPDATE {target} SET ");
            for (i, (col, e)) in self.sets.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                let _ = write!(out, "{col} = ");
                e.render(&mut out);
            }
        }
        if !self.from.is_empty() {
            out.push_str(if self.sets.is_empty() {
                " USING "
            } else {
                " FROM "
            });
            render_from(&self.from, &mut out);
        }
        if let Some(w) = &self.filter {
            out.push_str(" WHERE ");
            w.render(&mut out);
        }
        if !self.returning.is_empty() {
            out.push_str(" RETURNING ");
            render_items(&self.returning, &mut out);
        }
        out
    }
}

impl Rel {
    fn render(&self, out: &mut String) {
        match self {
            Rel::Named {
                name,
                alias,
                columns,
            } => {
                out.push_str(name);
                if let Some(a) = alias {
                    let _ = write!(out, " AS {a}");
                    if !columns.is_empty() {
                        let _ = write!(out, "({})", columns.join(", "));
                    }
                }
            }
            Rel::Values {
                rows,
                alias,
                columns,
            } => {
                out.push_str("(VALUES ");
                for (i, row) in rows.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push('(');
                    for (j, e) in row.iter().enumerate() {
                        if j > 0 {
                            out.push_str(", ");
                        }
                        e.render(out);
                    }
                    out.push(')');
                }
                let _ = write!(out, ") AS {alias}({})", columns.join(", "));
            }
            Rel::Derived {
                q,
                alias,
                columns,
                lateral,
            } => {
                if *lateral {
                    out.push_str("LATERAL ");
                }
                out.push('(');
                q.render(out);
                let _ = write!(out, ") AS {alias}");
                if !columns.is_empty() {
                    let _ = write!(out, "({})", columns.join(", "));
                }
            }
        }
    }
}

impl Expr {
    pub fn lit(s: impl Into<String>) -> Expr {
        Expr::Lit(s.into())
    }

    pub fn bin(op: &'static str, l: Expr, r: Expr) -> Expr {
        Expr::Bin {
            op,
            l: Box::new(l),
            r: Box::new(r),
        }
    }

    pub fn func(name: &'static str, args: Vec<Expr>) -> Expr {
        Expr::Func {
            name,
            args,
            star: false,
            distinct: false,
            order: None,
            filter: None,
        }
    }

    pub fn sql(&self) -> String {
        let mut out = String::new();
        self.render(&mut out);
        out
    }

    fn render(&self, out: &mut String) {
        match self {
            Expr::Col { qual, name } => match qual {
                Some(q) => {
                    let _ = write!(out, "{q}.{name}");
                }
                None => out.push_str(name),
            },
            Expr::Lit(s) => out.push_str(s),
            Expr::Bin { op, l, r } => {
                out.push('(');
                l.render(out);
                let _ = write!(out, " {op} ");
                r.render(out);
                out.push(')');
            }
            Expr::Prefix { op, e } => {
                let _ = write!(out, "({op} ");
                e.render(out);
                out.push(')');
            }
            Expr::Postfix { e, op } => {
                out.push('(');
                e.render(out);
                let _ = write!(out, " {op})");
            }
            Expr::Func {
                name,
                args,
                star,
                distinct,
                order,
                filter,
            } => {
                let _ = write!(out, "{name}(");
                if *star {
                    out.push('*');
                }
                if *distinct {
                    out.push_str("DISTINCT ");
                }
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    a.render(out);
                }
                if let Some(o) = order {
                    out.push_str(" ORDER BY ");
                    o.render(out);
                }
                out.push(')');
                if let Some(f) = filter {
                    out.push_str(" FILTER (WHERE ");
                    f.render(out);
                    out.push(')');
                }
            }
            Expr::Window {
                func,
                partition,
                order,
            } => {
                func.render(out);
                out.push_str(" OVER (");
                if !partition.is_empty() {
                    out.push_str("PARTITION BY ");
                    for (i, p) in partition.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        p.render(out);
                    }
                }
                if !order.is_empty() {
                    if !partition.is_empty() {
                        out.push(' ');
                    }
                    out.push_str("ORDER BY ");
                    for (i, p) in order.iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        p.render(out);
                    }
                }
                out.push(')');
            }
            Expr::Case { whens, otherwise } => {
                out.push_str("CASE");
                for (c, v) in whens {
                    out.push_str(" WHEN ");
                    c.render(out);
                    out.push_str(" THEN ");
                    v.render(out);
                }
                if let Some(e) = otherwise {
                    out.push_str(" ELSE ");
                    e.render(out);
                }
                out.push_str(" END");
            }
            Expr::Cast { e, ty } => {
                out.push_str("CAST(");
                e.render(out);
                let _ = write!(out, " AS {ty})");
            }
            Expr::Extract { field, e } => {
                let _ = write!(out, "EXTRACT({field} FROM ");
                e.render(out);
                out.push(')');
            }
            Expr::Subquery(q) => {
                out.push('(');
                q.render(out);
                out.push(')');
            }
            Expr::Exists { q, negated } => {
                out.push_str(if *negated {
                    "(NOT EXISTS ("
                } else {
                    "(EXISTS ("
                });
                q.render(out);
                out.push_str("))");
            }
            Expr::InSub { e, q, negated } => {
                out.push('(');
                e.render(out);
                out.push_str(if *negated { " NOT IN (" } else { " IN (" });
                q.render(out);
                out.push_str("))");
            }
            Expr::InList { e, list, negated } => {
                out.push('(');
                e.render(out);
                out.push_str(if *negated { " NOT IN (" } else { " IN (" });
                for (i, x) in list.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    x.render(out);
                }
                out.push_str("))");
            }
            Expr::Between { e, lo, hi, negated } => {
                out.push('(');
                e.render(out);
                out.push_str(if *negated {
                    " NOT BETWEEN "
                } else {
                    " BETWEEN "
                });
                lo.render(out);
                out.push_str(" AND ");
                hi.render(out);
                out.push(')');
            }
            Expr::RowJson { qual } => {
                let _ = write!(out, "CAST(row_to_json({qual}) AS text)");
            }
            Expr::Field { qual, name } => {
                let _ = write!(out, "({qual}).{name}");
            }
        }
    }
}
