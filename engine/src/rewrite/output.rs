//! A bound on the rewritten SQL's size, and row filters filled in once per statement text.
//!
//! Each governed scan repeats its table's row filters with the context's values in them,
//! so a short text that names a table many times, under a context with a large array,
//! would become a huge rewritten SQL (a 77 kB text over a 20 000-element array: gigabytes).
//! The rewriter charges each scan and each write target's filters as it builds them and
//! blocks past [`Output::limit`], so the huge text is never built; and it fills the
//! context into each filter once, reusing the text for every later scan.

use crate::verdict::VerdictRule;
use std::collections::BTreeMap;

use super::{substitute_block, Block, Rewriter};
use crate::applicable::{RuleRef, TableRules};
use crate::catalog::TableName;
use crate::policy::Predicate;

/// What any statement may add, whatever its size: 1 MiB.
pub const FIXED_ALLOWANCE: usize = 1 << 20;
/// What each byte of the statement's text may add.
pub const PER_INPUT_BYTE: usize = 16;
/// How many times each governed table's scan (its filters and masks with the context's
/// values filled in) may be added beyond that.
pub const PER_TABLE_SCAN: usize = 8;

/// The output charged so far, and the filters already filled in.
#[derive(Debug, Default)]
pub(crate) struct Output {
    input: usize,
    /// Bytes of scans and write filters charged so far.
    used: usize,
    /// The longest charge per table: each table's own text counts towards the limit.
    tables: BTreeMap<TableName, usize>,
    /// The sum of `tables`.
    table_total: usize,
    /// Row filters with the context filled in, by policy id and rule index.
    filters: BTreeMap<(String, usize), String>,
}

impl Output {
    /// The bound for a statement text of `input` bytes.
    pub(crate) fn for_input(input: usize) -> Output {
        Output {
            input,
            ..Output::default()
        }
    }

    /// `FIXED_ALLOWANCE + PER_INPUT_BYTE × input + PER_TABLE_SCAN × (each table's scan)`.
    pub(crate) fn limit(&self) -> usize {
        FIXED_ALLOWANCE
            .saturating_add(PER_INPUT_BYTE.saturating_mul(self.input))
            .saturating_add(PER_TABLE_SCAN.saturating_mul(self.table_total))
    }

    fn charge(&mut self, table: &TableName, bytes: usize) -> Result<(), Block> {
        let known = self.tables.entry(table.clone()).or_insert(0);
        if bytes > *known {
            self.table_total = self.table_total.saturating_add(bytes - *known);
            *known = bytes;
        }
        self.used = self.used.saturating_add(bytes);
        if self.used <= self.limit() {
            return Ok(());
        }
        Err(Block::new(
            VerdictRule::OutputLimit,
            format!(
                "the rewritten SQL would exceed {} bytes (1 MiB, plus {PER_INPUT_BYTE} bytes per byte of the statement, plus {PER_TABLE_SCAN} times each governed table's filtered, masked scan): every reference to `{table}` repeats its row filters and masks with the context's values ({bytes} bytes each)",
                self.limit()
            ),
            format!(
                "name `{table}` fewer times (read it once, e.g. in a WITH query, and refer to that), or send fewer statements at once"
            ),
        ))
    }
}

impl Rewriter<'_> {
    /// The row filter's text with the context filled in; filled once per rule, the same
    /// text for every later scan.
    pub(super) fn filter_text(
        &mut self,
        table: &TableName,
        at: RuleRef<'_>,
        predicate: &Predicate,
    ) -> Result<String, Block> {
        let key = (at.policy.id.clone(), at.rule_index);
        if let Some(text) = self.output.filters.get(&key) {
            return Ok(text.clone());
        }
        let text = self
            .ctx
            .substitute_text(predicate)
            .map_err(|e| substitute_block(table, at, e))?;
        self.output.filters.insert(key, text.clone());
        Ok(text)
    }

    /// Charges a scan's text against the bound.
    pub(super) fn charge_scan(&mut self, table: &TableName, scan: &str) -> Result<(), Block> {
        self.output.charge(table, scan.len())
    }

    /// Charges a write target's filters, before they are added to its WHERE clause: each
    /// one is printed there and in the verdict's explanation.
    pub(super) fn charge_target(
        &mut self,
        table: &TableName,
        rules: Option<&TableRules<'_>>,
    ) -> Result<(), Block> {
        let mut bytes = 0usize;
        for (at, predicate) in rules.map(|r| r.filters.as_slice()).unwrap_or_default() {
            let text = self.filter_text(table, *at, predicate)?;
            bytes = bytes.saturating_add(text.len().saturating_mul(2));
        }
        self.output.charge(table, bytes)
    }
}
