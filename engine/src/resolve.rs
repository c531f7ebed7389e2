//! Scopes and name lookup: the relations each query level of a statement brings into
//! scope, and how a name finds one, as PostgreSQL resolves it (the innermost query level
//! first; within a level, a name that two relations have is ambiguous).
//!
//! The rewriter pushes a [`Frame`] per query level as it walks a statement and asks
//! [`Scopes`] what a reference means; every walk over the levels goes through here.

use std::collections::BTreeMap;

use sqlparser::ast::{Expr, TableAlias};

use crate::catalog::{Catalog, TableName};
use crate::ident;
use crate::verdict::MaskedColumn;

/// A relation visible in a `SELECT`: what its name refers to and which of its columns are denied.
#[derive(Debug, Clone)]
pub(crate) struct Relation {
    /// The name references use: the alias, or the table's (function's, CTE's) name.
    pub(crate) ref_name: String,
    /// The catalog table it scans, when unaliased (so `schema.table.column` can refer to it).
    pub(crate) qualified: Option<TableName>,
    /// Whether the scan became a derived table named after the table.
    pub(crate) renamed_scan: bool,
    /// Whether the scan became a derived table under a column alias list: its whole row
    /// is then a record with the aliases as field names, not the table's row type.
    pub(crate) aliased_scan: bool,
    /// Denied columns, by the names this relation exposes them under.
    pub(crate) denied_columns: BTreeMap<String, DeniedColumn>,
    /// The columns it exposes, when known (catalog tables); `None`: any name may be one.
    pub(crate) columns: Option<Columns>,
    /// For the target of a write: masked columns and the mask over the target's own row.
    pub(crate) target_masks: BTreeMap<String, (Expr, MaskedColumn)>,
    /// For a rewritten scan: its masked columns, by the names it exposes them under; each
    /// is reported in the verdict when a reference reads it.
    pub(crate) masked_columns: BTreeMap<String, MaskedColumn>,
    /// The catalog table whose row filters the scan applies (a rewritten, filtered scan).
    pub(crate) filtered: Option<TableName>,
    /// An outer join may null-extend it.
    pub(crate) nullable: bool,
}

/// The columns a relation exposes.
#[derive(Debug, Clone)]
pub(crate) enum Columns {
    /// A catalog table's (at this position in the catalog), the first ones renamed by an
    /// alias's column list.
    Catalog { table: usize, renamed: Vec<String> },
    /// These.
    Names(Vec<String>),
}

impl Columns {
    pub(crate) fn contains(&self, catalog: Option<&Catalog>, col: &str) -> bool {
        match self {
            Columns::Names(names) => names.iter().any(|n| n == col),
            Columns::Catalog { table, renamed } => catalog
                .and_then(|c| c.tables().get(*table))
                .is_some_and(|t| {
                    t.columns
                        .iter()
                        .enumerate()
                        .any(|(i, c)| renamed.get(i).unwrap_or(&c.name) == col)
                }),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct DeniedColumn {
    pub(crate) table: TableName,
    pub(crate) column: String,
    pub(crate) policy: String,
    pub(crate) rule_index: usize,
    /// From a `monitor` policy: a reference is reported in `notes`, not blocked.
    pub(crate) monitor: bool,
}

impl Relation {
    /// Some denied column, an enforced one first.
    pub(crate) fn any_denied(&self) -> Option<&DeniedColumn> {
        self.denied_columns
            .values()
            .find(|d| !d.monitor)
            .or_else(|| self.denied_columns.values().next())
    }
}

#[derive(Debug, Default)]
pub(crate) struct Frame {
    pub(crate) ctes: Vec<String>,
    pub(crate) relations: Vec<Relation>,
}

impl Relation {
    /// A relation with nothing governed about it (a derived table, a function, a CTE).
    pub(crate) fn plain(ref_name: String) -> Relation {
        Relation {
            ref_name,
            qualified: None,
            renamed_scan: false,
            aliased_scan: false,
            denied_columns: BTreeMap::new(),
            columns: None,
            target_masks: BTreeMap::new(),
            masked_columns: BTreeMap::new(),
            filtered: None,
            nullable: false,
        }
    }
}

/// The names an alias's column list gives, in order (empty without a list).
pub(crate) fn alias_columns(alias: Option<&TableAlias>) -> Vec<String> {
    alias
        .map(|a| {
            a.columns
                .iter()
                .map(|c| ident::normalize(&c.name))
                .collect()
        })
        .unwrap_or_default()
}

/// A relation's level and its position in it.
pub(crate) type RelationAt = (usize, usize);

/// The query levels in scope, outermost first.
#[derive(Debug, Default)]
pub(crate) struct Scopes {
    frames: Vec<Frame>,
}

impl Scopes {
    /// How many levels are in scope (to [`Scopes::truncate`] back to).
    pub(crate) fn depth(&self) -> usize {
        self.frames.len()
    }

    pub(crate) fn truncate(&mut self, depth: usize) {
        self.frames.truncate(depth);
    }

    pub(crate) fn push(&mut self, frame: Frame) {
        self.frames.push(frame);
    }

    pub(crate) fn pop(&mut self) -> Option<Frame> {
        self.frames.pop()
    }

    /// The innermost level.
    pub(crate) fn innermost(&self) -> Option<&Frame> {
        self.frames.last()
    }

    pub(crate) fn innermost_mut(&mut self) -> Option<&mut Frame> {
        self.frames.last_mut()
    }

    /// The innermost level, made if there is none.
    pub(crate) fn top(&mut self) -> &mut Frame {
        if self.frames.is_empty() {
            self.frames.push(Frame::default());
        }
        let last = self.frames.len() - 1;
        // INVARIANT: just ensured non-empty.
        #[allow(clippy::indexing_slicing)]
        &mut self.frames[last]
    }

    /// The levels, outermost first (`.rev()` for innermost first).
    pub(crate) fn levels(&self) -> std::slice::Iter<'_, Frame> {
        self.frames.iter()
    }

    /// Every relation in scope, at any level (for questions whose answer does not depend
    /// on the order).
    pub(crate) fn all(&self) -> impl Iterator<Item = &Relation> {
        self.frames.iter().flat_map(|f| f.relations.iter())
    }

    /// The relations in the order a name finds them: the innermost level first and, in a
    /// level, the last brought into scope first.
    pub(crate) fn name_order(&self) -> impl Iterator<Item = &Relation> {
        self.frames
            .iter()
            .rev()
            .flat_map(|f| f.relations.iter().rev())
    }

    /// The relation a qualifier `name` refers to.
    pub(crate) fn find_relation(&self, name: &str) -> Option<&Relation> {
        self.name_order().find(|r| r.ref_name == name)
    }

    /// The innermost relation in scope that scans `table` without an alias: what
    /// `schema.table.column` and `schema.table.*` refer to in PostgreSQL.
    pub(crate) fn find_qualified(&self, table: &TableName) -> Option<&Relation> {
        self.name_order()
            .find(|r| r.qualified.as_ref() == Some(table))
    }

    /// Whether a CTE of this name is visible at the innermost level.
    pub(crate) fn cte_visible(&self, name: &str) -> bool {
        self.frames
            .iter()
            .rev()
            .any(|f| f.ctes.iter().any(|c| c == name))
    }

    /// Where a relation is: its level and its position there.
    pub(crate) fn locate(&self, rel: &Relation) -> Option<RelationAt> {
        self.frames.iter().enumerate().find_map(|(f, frame)| {
            frame
                .relations
                .iter()
                .position(|r| std::ptr::eq(r, rel))
                .map(|i| (f, i))
        })
    }

    pub(crate) fn relation_at(&self, (frame, index): RelationAt) -> Option<&Relation> {
        self.frames.get(frame)?.relations.get(index)
    }

    /// The relation an unqualified column binds to: the innermost query level with a
    /// relation that has it; `None` when unknown or ambiguous.
    pub(crate) fn binds(&self, catalog: Option<&Catalog>, col: &str) -> Option<&Relation> {
        for frame in self.frames.iter().rev() {
            let mut found = None;
            for rel in &frame.relations {
                match &rel.columns {
                    // A relation whose columns are unknown may have it.
                    None => return None,
                    Some(cols) if cols.contains(catalog, col) => {
                        if found.is_some() {
                            return None;
                        }
                        found = Some(rel);
                    }
                    Some(_) => {}
                }
            }
            if found.is_some() {
                return found;
            }
        }
        None
    }
}
