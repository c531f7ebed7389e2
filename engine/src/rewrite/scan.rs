//! A governed table in FROM: resolving its name, the catalog's default access, and the
//! filtered, masked scan it becomes.

use crate::applicable::{RuleRef, TableRules};
use crate::catalog::TableName;
use crate::context::SubstituteError;
use crate::ident;
use crate::literal;
use crate::resolve::{alias_columns, Columns, DeniedColumn, Relation};
use crate::verdict::{Decision, Monitored, RuleNo};
use crate::verdict::{MaskedColumn, RowFilter, VerdictRule};
use sqlparser::ast::{Expr, Ident, ObjectName, TableAlias, TableFactor, Value};
use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{unsupported, Block, Flow, Rewriter};

/// Why `ONLY t`, `ONLY (t)` and `t *` are refused.
pub(super) const INHERITANCE_MARKER: &str = "`ONLY` before a table name (the table without its descendant tables) and `*` after it are not supported: the scan the engine prints in the table's place would not keep them; write the table without them";

impl<'a> Rewriter<'a> {
    /// What a plain table reference names: a visible CTE, or a table.
    pub(super) fn resolve_table(&self, tf: &TableFactor) -> Result<Resolved, Block> {
        let TableFactor::Table {
            name,
            alias,
            with_hints,
            version,
            partitions,
            json_path,
            index_directives,
            inheritance,
            sample,
            with_ordinality,
            ..
        } = tf
        else {
            return Err(unsupported("this FROM item is not supported"));
        };
        if inheritance.is_some() {
            // `ONLY t` and `t *` choose which inheritance children a scan reads; the
            // fenced scan the engine prints in its place would not carry the choice.
            return Err(unsupported(INHERITANCE_MARKER));
        }
        if !with_hints.is_empty()
            || version.is_some()
            || !partitions.is_empty()
            || json_path.is_some()
            || !index_directives.is_empty()
            || *with_ordinality
        {
            return Err(unsupported("this table reference syntax is not PostgreSQL"));
        }
        let parts = ident::object_parts(name)
            .ok_or_else(|| unsupported("this table name is not supported"))?;
        if let [single] = parts.as_slice() {
            let n = ident::normalize(single);
            if self.scopes.cte_visible(&n) {
                let ref_name = alias
                    .as_ref()
                    .map(|a| ident::normalize(&a.name))
                    .unwrap_or(n);
                return Ok(Resolved::Cte(Relation::plain(ref_name)));
            }
        }
        let table = table_name(name, &parts)?;
        Ok(Resolved::Table {
            table,
            alias: alias.clone(),
            sampled: sample.is_some(),
        })
    }

    /// The catalog's entry for a table (its position and itself): `None` without a
    /// catalog; a block when the strict catalog does not list it.
    pub(super) fn catalog_entry(
        &self,
        table: &TableName,
    ) -> Result<Option<(usize, &'a crate::catalog::Table)>, Block> {
        match self.catalog {
            Some(cat) => cat.entry(table).map(Some).ok_or_else(|| {
                Block::new(
                    VerdictRule::UnknownRelation,
                    format!("relation `{table}` is not in the catalog"),
                    "only tables listed in the policy set's catalog can be used; names are case-sensitive when quoted",
                )
            }),
            None => Ok(None),
        }
    }

    /// `catalog.default_access: "deny"`: a governed table no enforced policy naming it
    /// applies to is blocked (crate::applicable::default_denied says what counts).
    pub(super) fn default_access(&self, table: &TableName) -> Flow {
        let deny = self
            .catalog
            .is_some_and(|c| c.default_access == crate::catalog::DefaultAccess::Deny);
        if !deny || !crate::applicable::default_denied(self.set, self.ctx, table) {
            return Ok(());
        }
        Err(Block::new(
            VerdictRule::DefaultDeny,
            format!(
                "table `{table}` is governed by the policy set, and no enforced policy that names it applies to this context (the catalog's `default_access` is `deny`)"
            ),
            format!("ask for a policy that grants this context access to `{table}` (for every row: a row filter with the predicate `true`)"),
        ))
    }

    /// A reference to a catalog table: checks, then the filtered, masked scan.
    pub(super) fn scan(
        &mut self,
        tf: &mut TableFactor,
        tf_alias: Option<TableAlias>,
        sample: bool,
        table: TableName,
    ) -> Result<Relation, Block> {
        let catalog_entry = self.catalog_entry(&table)?;
        self.default_access(&table)?;
        let catalog_table = catalog_entry.map(|(_, t)| t);
        self.applied.tables.insert(table.clone());
        let rules = self.rules.table(&table);
        if let Some(at) = rules.and_then(|r| r.denied) {
            return Err(table_denied(&table, at));
        }
        let ref_name = tf_alias
            .as_ref()
            .map(|a| ident::normalize(&a.name))
            .unwrap_or_else(|| table.name.clone());
        let alias_cols = alias_columns(tf_alias.as_ref());
        let mut rel = Relation {
            ref_name,
            qualified: tf_alias.is_none().then(|| table.clone()),
            renamed_scan: false,
            aliased_scan: false,
            denied_columns: BTreeMap::new(),
            columns: catalog_entry.map(|(table, _)| Columns::Catalog {
                table,
                renamed: alias_cols.clone(),
            }),
            target_masks: BTreeMap::new(),
            masked_columns: BTreeMap::new(),
            filtered: None,
            nullable: false,
        };
        // Denied columns, under the names the alias's column list gives them; monitored
        // denies first, so an enforced deny of the same column replaces its entry.
        let monitored = self.monitored.table(&table);
        let denied = monitored
            .iter()
            .flat_map(|r| r.denied_columns.iter().map(|(c, at)| (c, at, true)))
            .chain(
                rules
                    .iter()
                    .flat_map(|r| r.denied_columns.iter().map(|(c, at)| (c, at, false))),
            );
        let mut renamed_denied = None;
        for (col, at, monitor) in denied {
            let position =
                catalog_table.and_then(|t| t.columns.iter().position(|c| c.name == *col));
            let exposed = match (position, alias_cols.is_empty()) {
                (Some(p), false) => alias_cols
                    .get(p)
                    .cloned()
                    .unwrap_or_else(|| col.to_string()),
                (None, false) => {
                    return Err(Block::new(
                        VerdictRule::CatalogRequired,
                        format!("column aliases on `{table}` hide its denied column `{col}`, and the catalog does not list its position"),
                        "add the table's columns to the catalog, or drop the column aliases",
                    )
                    .by(*at))
                }
                _ => col.to_string(),
            };
            let denied_column = DeniedColumn {
                table: table.clone(),
                column: col.to_string(),
                policy: at.policy.id.clone(),
                rule_index: at.rule_index,
                monitor,
            };
            // An alias list that reaches a denied column's position names it: the
            // context's table has no such column, so the list cannot be that long.
            if !monitor
                && renamed_denied.is_none()
                && position.is_some_and(|p| p < alias_cols.len())
            {
                renamed_denied = Some(denied_column.block(&format!(
                    " and the column alias list of `{}` renames it to `{exposed}`",
                    rel.ref_name
                )));
            }
            rel.denied_columns.insert(exposed, denied_column);
        }
        if let Some(m) = monitored {
            self.monitor_scan(&table, m);
        }
        if let Some(b) = renamed_denied {
            return Err(b);
        }
        let Some(rules) = rules else { return Ok(rel) };
        if !rules.needs_rewrite() {
            return Ok(rel);
        }
        if sample {
            return Err(unsupported(
                "TABLESAMPLE on a governed table is not supported",
            ));
        }
        let scan = self.scan_text(&table, rules)?;
        // Masked columns, under the names the alias's column list gives them: reported when
        // a reference reads them (the scan masks them whether or not one does).
        for (col, m) in &rules.masks {
            let position =
                catalog_table.and_then(|t| t.columns.iter().position(|c| c.name == *col));
            let exposed = position
                .and_then(|p| alias_cols.get(p).cloned())
                .unwrap_or_else(|| col.to_string());
            rel.masked_columns.insert(
                exposed,
                MaskedColumn {
                    table: table.to_string(),
                    column: col.to_string(),
                    kind: m.mask.kind().to_string(),
                    policy: m.at.policy.id.clone(),
                    rule_index: m.at.rule_index,
                },
            );
        }
        let alias = tf_alias.unwrap_or_else(|| TableAlias {
            explicit: true,
            name: ident::make_ident(&table.name),
            columns: Vec::new(),
            at: None,
        });
        rel.aliased_scan = !alias.columns.is_empty();
        // The scan stays text until the statement is printed (crate::print): a placeholder
        // table takes its place in the tree.
        *tf = self.placeholders.table(self.scans.len(), alias);
        if !rules.filters.is_empty() {
            self.filtered_scans.push(self.scans.len());
            rel.filtered = Some(table);
        }
        self.scans.push(scan);
        rel.renamed_scan = rel.qualified.is_some();
        Ok(rel)
    }

    /// Notes what the monitored policies would do to this scan (once per table).
    pub(super) fn monitor_scan(&mut self, table: &TableName, m: &TableRules<'_>) {
        if !self.monitored_tables.insert(table.clone()) {
            return;
        }
        let record = |at: &RuleRef<'_>, would, column: Option<String>, detail| Monitored {
            policy: at.policy.id.clone(),
            rule_index: at.rule_index,
            would,
            table: (would != Decision::Block).then(|| table.to_string()),
            column,
            detail,
        };
        if let Some(at) = m.denied {
            let b = table_denied(table, at);
            self.monitor(record(&at, Decision::Block, None, b.reason));
        }
        for (at, predicate) in &m.filters {
            let r = match self.ctx.substitute_text(predicate) {
                Ok(text) => record(at, Decision::RowFilter, None, text),
                Err(e) => record(
                    at,
                    Decision::Block,
                    None,
                    substitute_block(table, *at, e).reason,
                ),
            };
            self.monitor(r);
        }
        for (col, chosen) in &m.masks {
            let r = record(
                &chosen.at,
                Decision::Mask,
                Some(col.to_string()),
                chosen.mask.kind().to_string(),
            );
            self.monitor(r);
        }
    }

    /// `SELECT <columns, masked> FROM schema.table WHERE <filters>`, as sqlparser prints
    /// it (crate::print checks that it reads back so), built anew for each reference.
    pub(super) fn scan_text(
        &mut self,
        table: &TableName,
        rules: &TableRules<'_>,
    ) -> Result<String, Block> {
        let first = self.built.insert(table.clone());
        let mut shown = String::new();
        if first {
            table.push_to(&mut shown);
        }
        let mut filters = Vec::with_capacity(rules.filters.len());
        for (at, predicate) in &rules.filters {
            let text = self.filter_text(table, *at, predicate)?;
            if first {
                self.applied.row_filters.push(RowFilter {
                    table: shown.clone(),
                    predicate: text.clone(),
                    policy: at.policy.id.clone(),
                    rule_index: at.rule_index,
                });
                self.applied.policies.insert(at.policy.id.clone());
            }
            filters.push(text);
        }
        let mut out = String::with_capacity(256);
        out.push_str("SELECT ");
        match self.catalog.and_then(|c| c.table(table)) {
            Some(t) => {
                for (i, c) in t.columns.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    // INVARIANT (all `write!`s here): writing into a String cannot fail.
                    if rules.denied_columns.contains_key(c.name.as_str()) {
                        // Safeguard: a denied column that slipped past the checks reads NULL.
                        let null = Expr::value(Value::Null);
                        let e = match &c.sql_type {
                            Some(t) => literal::cast(null, t.clone()),
                            None => null,
                        };
                        let _ = write!(out, "{e} AS {}", c.shown);
                    } else if let Some(m) = rules.masks.get(c.name.as_str()) {
                        if first {
                            self.applied.policies.insert(m.at.policy.id.clone());
                        }
                        out.push_str(m.sql);
                        out.push_str(" AS ");
                        out.push_str(&c.shown);
                    } else {
                        out.push_str(&c.shown);
                    }
                }
            }
            None => {
                if let Some((col, m)) = rules.masks.iter().next() {
                    return Err(Block::new(
                        VerdictRule::CatalogRequired,
                        format!("column `{col}` of `{table}` is masked, and without a catalog the engine cannot list the table's other columns"),
                        "add the table and its columns to the policy set's catalog",
                    )
                    .by(m.at));
                }
                out.push('*');
            }
        }
        out.push_str(" FROM ");
        table.push_to(&mut out);
        // Several filters are ANDed, each in parentheses (as a balanced tree prints).
        for (i, f) in filters.iter().enumerate() {
            out.push_str(if i == 0 { " WHERE " } else { " AND " });
            if filters.len() > 1 {
                out.push('(');
                out.push_str(f);
                out.push(')');
            } else {
                out.push_str(f);
            }
        }
        self.charge_scan(table, &out)?;
        Ok(out)
    }
}

pub(super) fn table_denied(table: &TableName, at: RuleRef<'_>) -> Block {
    Block::new(
        VerdictRule::Deny,
        format!(
            "table `{table}` is denied by policy `{}` (rule {})",
            at.policy.id,
            RuleNo(at.rule_index)
        ),
        "this table cannot be queried in this context",
    )
    .by(at)
}

pub(super) fn substitute_block(table: &TableName, at: RuleRef<'_>, e: SubstituteError) -> Block {
    match e {
        SubstituteError::Missing(r) => Block::new(
            VerdictRule::MissingContext,
            format!(
                "the row filter of policy `{}` (rule {}) on `{table}` needs `{}`, which the context lacks",
                at.policy.id,
                RuleNo(at.rule_index),
                r.display()
            ),
            format!("supply `{}` in the context", r.display()),
        )
        .by(at),
        SubstituteError::Invalid(r, why) => Block::new(
            VerdictRule::InvalidContext,
            format!("context value `{}` cannot be used: {why}", r.display()),
            "fix the context value",
        )
        .by(at),
    }
}

pub(super) enum Resolved {
    Cte(Relation),
    Table {
        table: TableName,
        alias: Option<TableAlias>,
        sampled: bool,
    },
}

/// A table reference's name: `table` or `schema.table`; other forms are blocked.
pub(super) fn table_name(name: &ObjectName, parts: &[&Ident]) -> Result<TableName, Block> {
    TableName::from_idents(parts).ok_or_else(|| {
        Block::new(
            VerdictRule::UnknownRelation,
            format!("`{name}` names another database; only `schema.table` is supported"),
            "remove the database name",
        )
    })
}
