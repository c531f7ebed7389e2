//! Column and whole-row references: denied columns, masked columns of a write target,
//! qualified and database-qualified names, functional notation.

use crate::catalog::TableName;
use crate::functions;
use crate::ident;
use crate::resolve::{DeniedColumn, Relation, RelationAt};
use crate::verdict::{Decision, Monitored, RuleNo};
use crate::verdict::{MaskedColumn, VerdictRule};
use sqlparser::ast::{
    AccessExpr, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident, ObjectName,
};

use super::calls::session_state;
use super::{unsupported, Block, Flow, Rewriter};

impl Rewriter<'_> {
    /// A reference to a denied column: blocks, or for a monitored deny, notes and goes on.
    pub(super) fn denied(&mut self, d: &DeniedColumn, how: &str) -> Flow {
        let block = d.block(how);
        if d.monitor {
            self.monitor(Monitored {
                policy: d.policy.clone(),
                rule_index: d.rule_index,
                would: Decision::Block,
                table: None,
                column: None,
                detail: block.reason,
            });
            Ok(())
        } else {
            Err(block)
        }
    }

    /// `name.*` in a select list (it expands to the columns).
    pub(super) fn check_whole_row_name(&mut self, name: &ObjectName) -> Flow {
        self.check_whole_row(name, false)
    }

    /// `name.*`; `in_expr` (a function argument, a row value) makes it the whole row.
    pub(super) fn check_whole_row(&mut self, name: &ObjectName, in_expr: bool) -> Flow {
        let Some(parts) = ident::object_parts(name) else {
            return Ok(());
        };
        let rel = match parts.as_slice() {
            [q] => self.scopes.find_relation(&ident::normalize(q)),
            [s, t] => self
                .scopes
                .find_qualified(&TableName::new(ident::normalize(s), ident::normalize(t))),
            _ => return Err(database_qualified(&format!("{name}.*"))),
        };
        let read: Vec<MaskedColumn> = rel
            .map(|r| r.masked_columns.values().cloned().collect())
            .unwrap_or_default();
        let masked = rel.map(|r| Self::masked_whole_row(r, &format!("`{name}.*`")));
        if in_expr {
            if let Some(r) = rel {
                Self::aliased_whole_row(r, &format!("`{name}.*`"))?;
            }
        }
        if let Some(d) = rel.and_then(|r| r.any_denied().cloned()) {
            self.denied(&d, &format!(" and `{name}.*` would read it"))?;
        }
        self.read_masked(read);
        masked.unwrap_or(Ok(()))
    }

    /// `schema.table.*` → `table.*` where the scan of `schema.table` became a derived
    /// table named `table`, as `schema.table.column` references are re-pointed.
    pub(super) fn repoint_whole_row(&self, name: &mut ObjectName) -> Flow {
        let Some(parts) = ident::object_parts(name) else {
            return Ok(());
        };
        let [s, t] = parts.as_slice() else {
            return Ok(());
        };
        let tn = TableName::new(ident::normalize(s), ident::normalize(t));
        if self.repointable(&tn, &format!("{name}.*"))? {
            let table = (*t).clone();
            *name = ObjectName::from(vec![table]);
        }
        Ok(())
    }

    /// Whether a reference `what` qualified by `table` must be re-pointed at the derived
    /// table its scan became (named after the table). Blocks when that name would reach
    /// another relation first: one of an inner query level named like the table (an
    /// alias, a CTE), which PostgreSQL's `schema.table` never means.
    pub(super) fn repointable(&self, table: &TableName, what: &str) -> Result<bool, Block> {
        let Some(rel) = self.scopes.find_qualified(table) else {
            return Ok(false);
        };
        if !rel.renamed_scan {
            return Ok(false);
        }
        match self.scopes.find_relation(&table.name) {
            Some(named) if std::ptr::eq(named, rel) => Ok(true),
            _ => Err(Block::new(
                VerdictRule::UnsupportedSyntax,
                format!(
                    "`{what}` names the table `{table}`, whose scan is rewritten under the name `{}`, and that name means another relation of an inner query level here",
                    ident::display(&table.name)
                ),
                format!("give `{table}` an alias and qualify the reference with it"),
            )),
        }
    }

    /// A reference `q.name` (or `schema.table.name`) whose `name` is not a column of the
    /// relation `rel`: PostgreSQL then reads it as the function `name` called on the whole
    /// row (`s.row_to_json` is `row_to_json(s)`), so it is checked as a whole-row reference.
    /// Without the relation's columns (no catalog, a join's alias) only names of built-in
    /// functions that take a row count (`functions::takes_a_row`).
    pub(super) fn functional_notation(
        &mut self,
        rel_index: RelationAt,
        col: &str,
        what: &str,
    ) -> Flow {
        let Some(rel) = self.scopes.relation_at(rel_index) else {
            return Ok(());
        };
        let call = match &rel.columns {
            Some(cols) => !cols.contains(self.catalog, col),
            None => functions::takes_a_row(col),
        };
        if !call {
            return Ok(());
        }
        let how = format!(" and `{what}` reads the whole row (PostgreSQL calls `{col}` on it)");
        let read: Vec<MaskedColumn> = rel.masked_columns.values().cloned().collect();
        let denied = rel.any_denied().cloned();
        let masked = Self::masked_whole_row(rel, &format!("`{what}`"));
        let aliased = Self::aliased_whole_row(rel, &format!("`{what}`"));
        if let Some(d) = denied {
            self.denied(&d, &how)?;
        }
        masked?;
        aliased?;
        self.read_masked(read);
        // The call itself is judged as one written `col(q)`.
        let function = ObjectName::from(vec![ident::make_ident(col)]);
        self.check_denied_call(&function)?;
        self.check_known_function(&function)
    }

    /// The masked value a column reference stands for, when it names a masked column of a
    /// write target; blocks when the reference might bind to either the target or an
    /// inner relation whose columns are unknown.
    pub(super) fn target_mask_for(
        &self,
        expr: &Expr,
    ) -> Result<Option<(Expr, MaskedColumn)>, Block> {
        match expr {
            Expr::CompoundIdentifier(parts) => {
                let names: Vec<String> = parts.iter().map(ident::normalize).collect();
                if let [sch, t, col] = names.as_slice() {
                    let tn = TableName::new(sch.clone(), t.clone());
                    return Ok(self
                        .scopes
                        .name_order()
                        .find(|r| r.qualified.as_ref() == Some(&tn))
                        .and_then(|r| r.target_masks.get(col))
                        .map(|(m, info)| (Expr::Nested(Box::new(m.clone())), info.clone())));
                }
                let [q, col] = names.as_slice() else {
                    return Ok(None);
                };
                Ok(self
                    .scopes
                    .find_relation(q)
                    .and_then(|r| r.target_masks.get(col))
                    .map(|(m, info)| (Expr::Nested(Box::new(m.clone())), info.clone())))
            }
            Expr::Identifier(id) => {
                let col = ident::normalize(id);
                let has = |rel: &&Relation| {
                    rel.columns
                        .as_ref()
                        .is_none_or(|cols| cols.contains(self.catalog, &col))
                };
                // Innermost query level first: a name binds at the first level with a
                // relation that has it, and is ambiguous (an error) when two there have it.
                let mut unknown_inner = false;
                for frame in self.scopes.levels().rev() {
                    let candidates: Vec<&Relation> = frame.relations.iter().filter(has).collect();
                    let masked = candidates.iter().find_map(|r| r.target_masks.get(&col));
                    let Some((m, info)) = masked else {
                        if candidates.iter().any(|r| r.columns.is_some()) {
                            return Ok(None);
                        }
                        unknown_inner |= !candidates.is_empty();
                        continue;
                    };
                    if unknown_inner || candidates.len() > 1 {
                        return Err(Block::new(
                            VerdictRule::ColumnMask,
                            format!("`{col}` may refer to the masked column of the written table or to a column of another relation"),
                            "qualify the column with its table's name or alias",
                        ));
                    }
                    return Ok(Some((Expr::Nested(Box::new(m.clone())), info.clone())));
                }
                Ok(None)
            }
            _ => Ok(None),
        }
    }

    /// Whether any relation in scope has denied or masked columns or was renamed (checks
    /// are needed).
    pub(super) fn names_matter(&self) -> bool {
        self.scopes.all().any(|r| {
            r.renamed_scan
                || r.aliased_scan
                || !r.denied_columns.is_empty()
                || !r.target_masks.is_empty()
                || !r.masked_columns.is_empty()
        })
    }

    /// A whole-row value of a scan rewritten under a column alias list would carry the
    /// aliases as field names where PostgreSQL gives the table's row type.
    pub(super) fn aliased_whole_row(rel: &Relation, what: &str) -> Flow {
        if !rel.aliased_scan {
            return Ok(());
        }
        Err(unsupported(&format!(
            "{what} is the whole row of `{}`, a governed table with a column alias list; \
             rewritten, its fields would be named by the aliases instead of the table's columns",
            rel.ref_name
        )))
    }

    /// A whole-row reference to a write target whose columns are masked would read them raw.
    pub(super) fn masked_whole_row(rel: &Relation, what: &str) -> Flow {
        match rel.target_masks.values().next() {
            Some((_, info)) => Err(Block::new(
                VerdictRule::ColumnMask,
                format!(
                    "{what} reads the whole row of `{}`, whose column `{}` is masked by policy `{}` (rule {})",
                    info.table,
                    info.column,
                    info.policy,
                    RuleNo(info.rule_index)
                ),
                "name the columns you need; masked columns are shown masked when named",
            )
            .with_policy(&info.policy, info.rule_index)),
            None => Ok(()),
        }
    }

    pub(super) fn check_expr(&mut self, expr: &mut Expr) -> Flow {
        self.check_calls(expr)?;
        match expr {
            Expr::CompoundIdentifier(parts) if parts.len() > 3 => {
                let text = parts
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(".");
                return Err(database_qualified(&text));
            }
            // `db.schema.table.col[1]`: the dotted names before a subscript are one reference.
            Expr::CompoundFieldAccess { root, access_chain }
                if matches!(root.as_ref(), Expr::Identifier(_)) =>
            {
                let dotted = access_chain
                    .iter()
                    .take_while(|a| matches!(a, AccessExpr::Dot(Expr::Identifier(_))))
                    .count();
                if dotted >= 3 {
                    return Err(database_qualified(&expr.to_string()));
                }
            }
            // `current_schema`, `user`, …: unquoted, PostgreSQL's session state, not a column.
            Expr::Identifier(id)
                if self.catalog.is_some()
                    && id.quote_style.is_none()
                    && functions::reads_session_state(&ident::normalize(id)) =>
            {
                return Err(session_state(&ident::normalize(id)));
            }
            Expr::Identifier(_) if !self.names_matter() => {}
            // Under a strict catalog `t.f` may also be the call `f(t)`, judged as a call.
            Expr::CompoundIdentifier(_) if !self.names_matter() && self.catalog.is_none() => {}
            Expr::Identifier(id) => {
                let name = ident::normalized(id);
                let name = name.as_ref();
                // PostgreSQL reads a bare name as a column when a relation at any query
                // level has one of that name, and only otherwise as a relation's whole row
                // (`SELECT email FROM customers email` reads the column).
                let column = self.scopes.all().any(|r| {
                    r.columns
                        .as_ref()
                        .is_some_and(|c| c.contains(self.catalog, name))
                });
                let mut hits = Vec::new();
                let mut read: Vec<MaskedColumn> = Vec::new();
                for rel in self.scopes.name_order() {
                    if let Some(d) = rel.denied_columns.get(name) {
                        hits.push((d.clone(), String::new()));
                    }
                    read.extend(rel.masked_columns.get(name).cloned());
                    if rel.ref_name == name && !column {
                        read.extend(rel.masked_columns.values().cloned());
                        if let Some(d) = rel.any_denied() {
                            hits.push((
                                d.clone(),
                                format!(" and the whole-row reference `{name}` would read it"),
                            ));
                        }
                    }
                }
                for (d, how) in hits {
                    self.denied(&d, &how)?;
                }
                self.read_masked(read);
                // Denies first (they say more); then masks a whole row of a write target would skip.
                if let Some(rel) = self.scopes.find_relation(name).filter(|_| !column) {
                    Self::masked_whole_row(rel, &format!("`{name}`"))?;
                    Self::aliased_whole_row(rel, &format!("`{name}`"))?;
                }
            }
            Expr::CompoundIdentifier(parts) => {
                let names: Vec<std::borrow::Cow<'_, str>> =
                    parts.iter().map(ident::normalized).collect();
                let names: Vec<&str> = names.iter().map(|n| n.as_ref()).collect();
                let what = parts
                    .iter()
                    .map(|p| p.to_string())
                    .collect::<Vec<_>>()
                    .join(".");
                if let [q, col, ..] = names.as_slice() {
                    let rel = self.scopes.find_relation(q);
                    let read: Vec<MaskedColumn> = rel
                        .and_then(|r| r.masked_columns.get(*col).cloned())
                        .into_iter()
                        .collect();
                    self.read_masked(read);
                    let rel = self.scopes.find_relation(q);
                    let at = rel.and_then(|r| self.scopes.locate(r));
                    if let Some(d) = rel.and_then(|r| r.denied_columns.get(*col)).cloned() {
                        self.denied(&d, "")?;
                    }
                    if let (Some(at), [_, _]) = (at, names.as_slice()) {
                        self.functional_notation(at, col, &what)?;
                    }
                }
                if let [s, t, col] = names.as_slice() {
                    let tn = TableName::new(*s, *t);
                    let read: Vec<MaskedColumn> = self
                        .scopes
                        .find_qualified(&tn)
                        .and_then(|r| r.masked_columns.get(*col).cloned())
                        .into_iter()
                        .collect();
                    self.read_masked(read);
                    let rel = self.scopes.find_qualified(&tn);
                    let at = rel.and_then(|r| self.scopes.locate(r));
                    if let Some(d) = rel.and_then(|r| r.denied_columns.get(*col)).cloned() {
                        self.denied(&d, "")?;
                    }
                    if let Some(at) = at {
                        self.functional_notation(at, col, &what)?;
                    }
                    if self.repointable(&tn, &what)? {
                        // `schema.table.column` → `table.column`: the scan is now named `table`.
                        let kept: Vec<Ident> = parts.iter().skip(1).cloned().collect();
                        *parts = kept;
                    }
                }
            }
            Expr::QualifiedWildcard(name, _) => {
                self.check_whole_row(name, true)?;
                self.repoint_whole_row(name)?;
            }
            Expr::Function(f) => {
                if let FunctionArguments::List(list) = &mut f.args {
                    for arg in &mut list.args {
                        let arg = match arg {
                            FunctionArg::Named { arg, .. }
                            | FunctionArg::ExprNamed { arg, .. }
                            | FunctionArg::Unnamed(arg) => arg,
                        };
                        if let FunctionArgExpr::QualifiedWildcard(name) = arg {
                            self.check_whole_row(name, true)?;
                            self.repoint_whole_row(name)?;
                        }
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// A column reference or `*` that names its database (`db.schema.table.column`,
/// `db.schema.table.*`): PostgreSQL reads it when `db` is the current database, which the
/// engine does not know, so it cannot tell which relation it reads; FROM refuses such
/// table names the same way.
pub(super) fn database_qualified(what: &str) -> Block {
    Block::new(
        VerdictRule::UnknownRelation,
        format!("`{what}` names a database; only `schema.table.column`, `table.column` and `alias.column` are supported"),
        "remove the database name, or qualify the column with its table's alias",
    )
}
