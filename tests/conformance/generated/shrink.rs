//! Shrinking a failing query: every query one step smaller (a clause, a CTE, a join, a
//! FROM item, a select item or a set-operation arm dropped; an expression replaced by one
//! of its parts, a predicate by TRUE, a subquery by NULL), tried in that order; the first
//! that fails the same way is kept, until none does. A step may make the SQL invalid: it
//! then fails another way and is not kept.

use crate::ast::{Body, Expr, FromItem, Item, Query, Rel, Select, Write};

/// The queries one step smaller than `q`, the larger cuts first.
pub fn candidates(q: &Query) -> Vec<Query> {
    let mut out = Vec::new();
    if q.limit.is_some() || q.offset.is_some() {
        let mut c = q.clone();
        c.limit = None;
        c.offset = None;
        out.push(c);
    }
    if !q.order_by.is_empty() {
        let mut c = q.clone();
        c.order_by.clear();
        c.limit = None;
        c.offset = None;
        out.push(c);
    }
    for i in 0..q.ctes.len() {
        let mut c = q.clone();
        c.ctes.remove(i);
        out.push(c);
    }
    for body in body_candidates(&q.body) {
        let mut c = q.clone();
        c.body = body;
        out.push(c);
    }
    for (i, (_, cte)) in q.ctes.iter().enumerate() {
        for smaller in candidates(cte) {
            let mut c = q.clone();
            if let Some(slot) = c.ctes.get_mut(i) {
                slot.1 = smaller;
            }
            out.push(c);
        }
    }
    out
}

fn body_candidates(b: &Body) -> Vec<Body> {
    match b {
        Body::Select(s) => select_candidates(s)
            .into_iter()
            .map(|s| Body::Select(Box::new(s)))
            .collect(),
        Body::SetOp { op, all, l, r } => {
            let mut out = vec![(**l).clone(), (**r).clone()];
            if *all {
                out.push(Body::SetOp {
                    op,
                    all: false,
                    l: l.clone(),
                    r: r.clone(),
                });
            }
            for x in body_candidates(l) {
                out.push(Body::SetOp {
                    op,
                    all: *all,
                    l: Box::new(x),
                    r: r.clone(),
                });
            }
            for x in body_candidates(r) {
                out.push(Body::SetOp {
                    op,
                    all: *all,
                    l: l.clone(),
                    r: Box::new(x),
                });
            }
            out
        }
    }
}

fn select_candidates(s: &Select) -> Vec<Select> {
    let mut out = Vec::new();
    let with = |f: &dyn Fn(&mut Select)| {
        let mut c = s.clone();
        f(&mut c);
        c
    };
    if s.having.is_some() {
        out.push(with(&|c| c.having = None));
    }
    if !s.group_by.is_empty() {
        out.push(with(&|c| {
            c.group_by.clear();
            c.having = None;
        }));
    }
    if s.filter.is_some() {
        out.push(with(&|c| c.filter = None));
    }
    if s.distinct {
        out.push(with(&|c| c.distinct = false));
    }
    if s.from.len() > 1 {
        for i in 0..s.from.len() {
            out.push(with(&|c| {
                c.from.remove(i);
            }));
        }
    }
    for (i, f) in s.from.iter().enumerate() {
        for smaller in from_candidates(f) {
            out.push(with(&|c| {
                if let Some(slot) = c.from.get_mut(i) {
                    *slot = smaller.clone();
                }
            }));
        }
    }
    if s.items.len() > 1 {
        for i in 0..s.items.len() {
            out.push(with(&|c| {
                c.items.remove(i);
            }));
        }
    }
    for (i, item) in s.items.iter().enumerate() {
        if let Item::Expr { e, alias } = item {
            for smaller in expr_candidates(e) {
                out.push(with(&|c| {
                    if let Some(slot) = c.items.get_mut(i) {
                        *slot = Item::Expr {
                            e: smaller.clone(),
                            alias: alias.clone(),
                        };
                    }
                }));
            }
        }
    }
    if let Some(w) = &s.filter {
        for smaller in expr_candidates(w) {
            out.push(with(&|c| c.filter = Some(smaller.clone())));
        }
    }
    if let Some(h) = &s.having {
        for smaller in expr_candidates(h) {
            out.push(with(&|c| c.having = Some(smaller.clone())));
        }
    }
    for (i, g) in s.group_by.iter().enumerate() {
        if s.group_by.len() > 1 {
            out.push(with(&|c| {
                c.group_by.remove(i);
            }));
        }
        for smaller in expr_candidates(g) {
            out.push(with(&|c| {
                if let Some(slot) = c.group_by.get_mut(i) {
                    *slot = smaller.clone();
                }
            }));
        }
    }
    out
}

fn from_candidates(f: &FromItem) -> Vec<FromItem> {
    let mut out = Vec::new();
    for i in 0..f.joins.len() {
        let mut c = f.clone();
        c.joins.remove(i);
        out.push(c);
    }
    for (i, j) in f.joins.iter().enumerate() {
        if !j.using.is_empty() {
            let mut c = f.clone();
            if let Some(slot) = c.joins.get_mut(i) {
                slot.using.clear();
                slot.kind = "CROSS JOIN";
            }
            out.push(c);
        }
        if j.kind != "JOIN" && j.kind != "CROSS JOIN" && !j.kind.starts_with("NATURAL") {
            let mut c = f.clone();
            if let Some(slot) = c.joins.get_mut(i) {
                slot.kind = "JOIN";
            }
            out.push(c);
        }
        if let Some(on) = &j.on {
            for smaller in expr_candidates(on) {
                let mut c = f.clone();
                if let Some(slot) = c.joins.get_mut(i) {
                    slot.on = Some(smaller);
                }
                out.push(c);
            }
        }
        for rel in rel_candidates(&j.rel) {
            let mut c = f.clone();
            if let Some(slot) = c.joins.get_mut(i) {
                slot.rel = rel;
            }
            out.push(c);
        }
    }
    for rel in rel_candidates(&f.rel) {
        let mut c = f.clone();
        c.rel = rel;
        out.push(c);
    }
    out
}

fn rel_candidates(r: &Rel) -> Vec<Rel> {
    match r {
        Rel::Named { .. } => Vec::new(),
        Rel::Values {
            rows,
            alias,
            columns,
        } if rows.len() > 1 => vec![Rel::Values {
            rows: rows.iter().take(1).cloned().collect(),
            alias: alias.clone(),
            columns: columns.clone(),
        }],
        Rel::Values { .. } => Vec::new(),
        Rel::Derived {
            q,
            alias,
            columns,
            lateral,
        } => candidates(q)
            .into_iter()
            .map(|q| Rel::Derived {
                q: Box::new(q),
                alias: alias.clone(),
                columns: columns.clone(),
                lateral: *lateral,
            })
            .collect(),
    }
}

fn is_predicate(e: &Expr) -> bool {
    match e {
        Expr::Bin { op, .. } => matches!(
            *op,
            "AND"
                | "OR"
                | "="
                | "<>"
                | "<"
                | "<="
                | ">"
                | ">="
                | "LIKE"
                | "ILIKE"
                | "NOT LIKE"
                | "IS DISTINCT FROM"
                | "IS NOT DISTINCT FROM"
                | "= ANY"
                | "<> ALL"
                | "< ANY"
                | ">= ALL"
        ),
        Expr::Prefix { op, .. } => *op == "NOT",
        Expr::Postfix { .. }
        | Expr::Exists { .. }
        | Expr::InSub { .. }
        | Expr::InList { .. }
        | Expr::Between { .. } => true,
        _ => false,
    }
}

/// Expressions one step smaller than `e`.
fn expr_candidates(e: &Expr) -> Vec<Expr> {
    let mut out = Vec::new();
    if is_predicate(e) {
        out.push(Expr::lit("TRUE"));
    }
    if matches!(e, Expr::Subquery(_)) {
        out.push(Expr::lit("NULL"));
    }
    // The parts themselves.
    match e {
        Expr::Col { .. } | Expr::Lit(_) | Expr::RowJson { .. } | Expr::Field { .. } => {}
        Expr::Bin { l, r, .. } => {
            out.push((**l).clone());
            out.push((**r).clone());
        }
        Expr::Prefix { e, .. } | Expr::Postfix { e, .. } | Expr::Cast { e, .. } => {
            out.push((**e).clone());
        }
        Expr::Extract { e, .. } => out.push((**e).clone()),
        Expr::Func { args, .. } => out.extend(args.iter().cloned()),
        Expr::Window { func, .. } => out.push((**func).clone()),
        Expr::Case { whens, otherwise } => {
            for (_, v) in whens {
                out.push(v.clone());
            }
            if let Some(o) = otherwise {
                out.push((**o).clone());
            }
        }
        Expr::InSub { e, .. } | Expr::InList { e, .. } | Expr::Between { e, .. } => {
            out.push((**e).clone());
        }
        Expr::Subquery(_) | Expr::Exists { .. } => {}
    }
    // Smaller parts in place.
    match e {
        Expr::Col { .. } | Expr::Lit(_) | Expr::RowJson { .. } | Expr::Field { .. } => {}
        Expr::Bin { op, l, r } => {
            for x in expr_candidates(l) {
                out.push(Expr::bin(op, x, (**r).clone()));
            }
            for x in expr_candidates(r) {
                out.push(Expr::bin(op, (**l).clone(), x));
            }
        }
        Expr::Prefix { op, e } => {
            for x in expr_candidates(e) {
                out.push(Expr::Prefix { op, e: Box::new(x) });
            }
        }
        Expr::Postfix { e, op } => {
            for x in expr_candidates(e) {
                out.push(Expr::Postfix { e: Box::new(x), op });
            }
        }
        Expr::Cast { e, ty } => {
            for x in expr_candidates(e) {
                out.push(Expr::Cast { e: Box::new(x), ty });
            }
        }
        Expr::Extract { field, e } => {
            for x in expr_candidates(e) {
                out.push(Expr::Extract {
                    field,
                    e: Box::new(x),
                });
            }
        }
        Expr::Func {
            name,
            args,
            star,
            distinct,
            order,
            filter,
        } => {
            let base =
                |args: Vec<Expr>, order: Option<Box<Expr>>, filter: Option<Box<Expr>>| Expr::Func {
                    name,
                    args,
                    star: *star,
                    distinct: *distinct,
                    order,
                    filter,
                };
            if filter.is_some() {
                out.push(base(args.clone(), order.clone(), None));
            }
            if *distinct {
                out.push(Expr::Func {
                    name,
                    args: args.clone(),
                    star: *star,
                    distinct: false,
                    order: order.clone(),
                    filter: filter.clone(),
                });
            }
            for (i, a) in args.iter().enumerate() {
                for x in expr_candidates(a) {
                    let mut args = args.clone();
                    if let Some(slot) = args.get_mut(i) {
                        *slot = x;
                    }
                    out.push(base(args, order.clone(), filter.clone()));
                }
            }
            if let Some(f) = filter {
                for x in expr_candidates(f) {
                    out.push(base(args.clone(), order.clone(), Some(Box::new(x))));
                }
            }
        }
        Expr::Window {
            func,
            partition,
            order,
        } => {
            if !partition.is_empty() {
                out.push(Expr::Window {
                    func: func.clone(),
                    partition: Vec::new(),
                    order: order.clone(),
                });
            }
            if !order.is_empty() {
                out.push(Expr::Window {
                    func: func.clone(),
                    partition: partition.clone(),
                    order: Vec::new(),
                });
            }
        }
        Expr::Case { whens, otherwise } => {
            if whens.len() > 1 {
                for i in 0..whens.len() {
                    let mut w = whens.clone();
                    w.remove(i);
                    out.push(Expr::Case {
                        whens: w,
                        otherwise: otherwise.clone(),
                    });
                }
            }
            if otherwise.is_some() {
                out.push(Expr::Case {
                    whens: whens.clone(),
                    otherwise: None,
                });
            }
            for (i, (c, v)) in whens.iter().enumerate() {
                for x in expr_candidates(c) {
                    let mut w = whens.clone();
                    if let Some(slot) = w.get_mut(i) {
                        *slot = (x, v.clone());
                    }
                    out.push(Expr::Case {
                        whens: w,
                        otherwise: otherwise.clone(),
                    });
                }
                for x in expr_candidates(v) {
                    let mut w = whens.clone();
                    if let Some(slot) = w.get_mut(i) {
                        *slot = (c.clone(), x);
                    }
                    out.push(Expr::Case {
                        whens: w,
                        otherwise: otherwise.clone(),
                    });
                }
            }
        }
        Expr::Subquery(q) => {
            for x in candidates(q) {
                out.push(Expr::Subquery(Box::new(x)));
            }
        }
        Expr::Exists { q, negated } => {
            for x in candidates(q) {
                out.push(Expr::Exists {
                    q: Box::new(x),
                    negated: *negated,
                });
            }
        }
        Expr::InSub { e, q, negated } => {
            for x in expr_candidates(e) {
                out.push(Expr::InSub {
                    e: Box::new(x),
                    q: q.clone(),
                    negated: *negated,
                });
            }
            for x in candidates(q) {
                out.push(Expr::InSub {
                    e: e.clone(),
                    q: Box::new(x),
                    negated: *negated,
                });
            }
        }
        Expr::InList { e, list, negated } => {
            if list.len() > 1 {
                out.push(Expr::InList {
                    e: e.clone(),
                    list: list.iter().take(1).cloned().collect(),
                    negated: *negated,
                });
            }
            for x in expr_candidates(e) {
                out.push(Expr::InList {
                    e: Box::new(x),
                    list: list.clone(),
                    negated: *negated,
                });
            }
        }
        Expr::Between { e, lo, hi, negated } => {
            for x in expr_candidates(e) {
                out.push(Expr::Between {
                    e: Box::new(x),
                    lo: lo.clone(),
                    hi: hi.clone(),
                    negated: *negated,
                });
            }
        }
    }
    out
}

/// The writes one step smaller than `w`: RETURNING, WHERE, the FROM/USING list, an
/// assignment or a returned item dropped; a FROM item cut down; an expression replaced by
/// one of its parts.
pub fn write_candidates(w: &Write) -> Vec<Write> {
    let mut out = Vec::new();
    let with = |f: &dyn Fn(&mut Write)| {
        let mut c = w.clone();
        f(&mut c);
        c
    };
    if !w.returning.is_empty() {
        out.push(with(&|c| c.returning.clear()));
    }
    if w.filter.is_some() {
        out.push(with(&|c| c.filter = None));
    }
    if !w.from.is_empty() {
        out.push(with(&|c| c.from.clear()));
    }
    if w.sets.len() > 1 {
        for i in 0..w.sets.len() {
            out.push(with(&|c| {
                c.sets.remove(i);
            }));
        }
    }
    if w.returning.len() > 1 {
        for i in 0..w.returning.len() {
            out.push(with(&|c| {
                c.returning.remove(i);
            }));
        }
    }
    for (i, f) in w.from.iter().enumerate() {
        for smaller in from_candidates(f) {
            out.push(with(&|c| {
                if let Some(slot) = c.from.get_mut(i) {
                    *slot = smaller.clone();
                }
            }));
        }
    }
    if let Some(filter) = &w.filter {
        for smaller in expr_candidates(filter) {
            out.push(with(&|c| c.filter = Some(smaller.clone())));
        }
    }
    for (i, (_, e)) in w.sets.iter().enumerate() {
        for smaller in expr_candidates(e) {
            out.push(with(&|c| {
                if let Some(slot) = c.sets.get_mut(i) {
                    slot.1 = smaller.clone();
                }
            }));
        }
    }
    for (i, item) in w.returning.iter().enumerate() {
        if let Item::Expr { e, alias } = item {
            for smaller in expr_candidates(e) {
                out.push(with(&|c| {
                    if let Some(slot) = c.returning.get_mut(i) {
                        *slot = Item::Expr {
                            e: smaller.clone(),
                            alias: alias.clone(),
                        };
                    }
                }));
            }
        }
    }
    out
}
