//! Generated writes: `UPDATE … SET … [FROM …] [WHERE …] [RETURNING …]` and
//! `DELETE FROM … [USING …] [WHERE …] [RETURNING …]` over the catalog's tables, with the
//! SELECT generator's expressions and FROM items.
//!
//! Chosen so that the oracle's answer is defined: no column that any policy masks is
//! assigned (the oracle's views compute masked columns, which cannot be written), and
//! with a FROM/USING list the SET values and the RETURNING list read only the target (a
//! target row joined to several rows is written once, with values PostgreSQL may take
//! from any of them).

use rand::seq::SliceRandom;

use super::{rel_quals, ColRef, Gen, Scope, Table, Ty};
use crate::ast::{Expr, Item, Write};

/// The columns some `column_mask` rule of the policy set masks: `(table, column)`.
pub fn masked(policies_json: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for rule in &super::policy_rules(policies_json)? {
        if rule.get("type").and_then(|t| t.as_str()) != Some("column_mask") {
            continue;
        }
        let (Some(table), Some(column)) = (
            rule.get("table").and_then(|t| t.as_str()),
            rule.get("column").and_then(|c| c.as_str()),
        ) else {
            continue;
        };
        let table = table.strip_prefix("public.").unwrap_or(table).to_string();
        out.push((table, column.to_string()));
    }
    Ok(out)
}

impl<'a> Gen<'a> {
    /// One write statement. `masked`: the columns never assigned ([`masked`]).
    pub fn write(&mut self, masked: &[(String, String)]) -> Write {
        self.ctes.clear();
        self.sensitive_ok = self.p(0.15);
        let delete = self.p(0.4);
        let Some(table) = self.target() else {
            return Write {
                table: "tenants".into(),
                alias: None,
                sets: Vec::new(),
                from: Vec::new(),
                filter: None,
                returning: Vec::new(),
            };
        };
        let from_list = self.p(0.3);
        let alias = (from_list || self.p(0.5)).then(|| self.alias("t"));
        let qual = alias.clone().unwrap_or_else(|| table.name.clone());
        let target: Vec<ColRef> = table
            .columns
            .iter()
            .map(|(n, ty)| ColRef {
                sensitive: self
                    .denied
                    .iter()
                    .any(|(t, c)| *t == table.name && c.as_ref() == Some(n)),
                qual: qual.clone(),
                name: n.clone(),
                ty: *ty,
                from_table: true,
            })
            .collect();
        let target_scope = Scope::default().with(target.clone());

        let (from, from_level) = if from_list {
            self.from(&Scope::default(), 1)
        } else {
            (Vec::new(), Vec::new())
        };
        let mut all = target.clone();
        all.extend(from_level);
        let scope = Scope::default().with(all);

        let mut sets = Vec::new();
        if !delete {
            let mut assignable: Vec<&(String, Ty)> = table
                .columns
                .iter()
                .filter(|(n, _)| n != "id")
                .filter(|(n, _)| !masked.iter().any(|(t, c)| *t == table.name && c == n))
                .collect();
            assignable.shuffle(&mut self.rng);
            let n = if self.p(0.3) { 2 } else { 1 };
            for (name, ty) in assignable.into_iter().take(n) {
                let value = match self.below(4) {
                    0 => self.lit(*ty),
                    1 => self
                        .column(*ty, &target_scope, super::Pick::Inner)
                        .unwrap_or_else(|| self.lit(*ty)),
                    _ => self.expr(*ty, &target_scope, 1, 0),
                };
                sets.push((self.spelled(name), value));
            }
        }
        // (A table with nothing assignable gets no SET: the statement is a DELETE.)
        let filter = self.p(0.85).then(|| self.pred(&scope, 1, 0));
        let mut returning = Vec::new();
        if self.p(0.55) {
            let quals = rel_quals(&target);
            match self.below(12) {
                0 if from.is_empty() => returning.push(Item::Star),
                1 => {
                    if let Some(q) = quals.first() {
                        returning.push(Item::QualStar(q.clone()));
                    }
                }
                2 => {
                    if let Some(q) = quals.first() {
                        returning.push(Item::Expr {
                            e: Expr::RowJson { qual: q.clone() },
                            alias: Some("j".into()),
                        });
                    }
                }
                _ => {
                    for i in 0..1 + self.below(3) {
                        let ty = self.value_type();
                        let e = match self.below(3) {
                            0 => self.expr(ty, &target_scope, 1, 0),
                            _ => self
                                .column(ty, &target_scope, super::Pick::Inner)
                                .unwrap_or_else(|| self.lit(ty)),
                        };
                        let alias = self.p(0.4).then(|| format!("r{}", i + 1));
                        returning.push(Item::Expr { e, alias });
                    }
                }
            }
        }
        Write {
            table: self.spelled(&table.name),
            alias,
            sets,
            from,
            filter,
            returning,
        }
    }

    /// The write's target: a catalog table, weighted as in FROM.
    fn target(&mut self) -> Option<&'a Table> {
        let tables = self.tables;
        let candidates: Vec<&'a Table> = tables.iter().filter(|t| self.may_read(t)).collect();
        self.weighted(&candidates)
    }
}

/// The columns a `redact` mask covers whose catalog type is not text: without the catalog
/// the engine cannot know their type and answers `****` where SPEC §5 gives NULL (by
/// design, as the hand-written cases' `without_catalog` notes say), so a write that names
/// one is not compared in the pass without the catalog.
pub fn typeless_without_catalog(
    policies_json: &str,
    tables: &[Table],
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for rule in &super::policy_rules(policies_json)? {
        let redact = rule.pointer("/mask/kind").and_then(|k| k.as_str()) == Some("redact");
        let (Some(table), Some(column)) = (
            rule.get("table").and_then(|t| t.as_str()),
            rule.get("column").and_then(|c| c.as_str()),
        ) else {
            continue;
        };
        let table = table.strip_prefix("public.").unwrap_or(table);
        let non_text = tables
            .iter()
            .filter(|t| t.name == table)
            .flat_map(|t| &t.columns)
            .any(|(c, ty)| c == column && *ty != Ty::Text);
        if redact && non_text && !out.iter().any(|c| c == column) {
            out.push(column.to_string());
        }
    }
    Ok(out)
}
