//! Running a write case as the writer role inside `BEGIN … ROLLBACK`: what each statement
//! returned and how many rows it affected, and the base rows at the end of the
//! transaction; the database's fingerprint, taken after it.

use std::io::Read;

use postgres::{Client, SimpleQueryMessage};

use crate::fixtures::{Compare, OracleMode};
use crate::sql::{rows_difference, show_row, Row};
use verdict_testkit::Cluster;

/// The unprivileged role write cases run as: SELECT, INSERT, UPDATE and DELETE on the
/// governed tables (real) or on the context's views (oracle), nothing else.
pub const WRITER_ROLE: &str = "verdict_writer";

/// What one statement of a text gave back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementResult {
    /// Column names, when the statement returned rows (a query, RETURNING, COPY TO STDOUT).
    pub columns: Option<Vec<String>>,
    pub rows: Vec<Row>,
    /// The command's row count: rows inserted, updated, deleted, or returned.
    pub count: u64,
}

/// What PostgreSQL did with a whole SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOutcome {
    /// Every statement ran; `contents` are the base rows (table, row) before the ROLLBACK.
    Done {
        statements: Vec<StatementResult>,
        contents: Vec<Row>,
    },
    /// The first error, with its SQLSTATE.
    Error { code: String, message: String },
}

impl WriteOutcome {
    /// Whether any statement returned a row.
    pub fn has_rows(&self) -> bool {
        match self {
            WriteOutcome::Done { statements, .. } => statements.iter().any(|s| !s.rows.is_empty()),
            WriteOutcome::Error { .. } => false,
        }
    }

    /// Whether the base rows differ from `initial` (sorted).
    pub fn changed(&self, initial: &[Row]) -> bool {
        match self {
            WriteOutcome::Done { contents, .. } => sorted(contents) != initial,
            WriteOutcome::Error { .. } => false,
        }
    }

    pub fn is_error(&self, sqlstate: &str) -> bool {
        matches!(self, WriteOutcome::Error { code, .. } if code == sqlstate)
    }

    pub fn error_message(&self) -> Option<&str> {
        match self {
            WriteOutcome::Error { message, .. } => Some(message),
            WriteOutcome::Done { .. } => None,
        }
    }

    /// A one-line summary, with the first returned rows, and what changed from `initial`
    /// when given.
    pub fn summary(&self, initial: Option<&[Row]>) -> String {
        match self {
            WriteOutcome::Error { code, message } => format!("error {code}: {message}"),
            WriteOutcome::Done {
                statements,
                contents,
            } => {
                let parts: Vec<String> = statements
                    .iter()
                    .map(|s| match &s.columns {
                        Some(cols) => {
                            let mut part =
                                format!("{} row(s) of ({})", s.rows.len(), cols.join(", "));
                            let shown: Vec<String> = s.rows.iter().take(3).map(show_row).collect();
                            if !shown.is_empty() {
                                part.push_str(&format!(": {}", shown.join(" ")));
                            }
                            part
                        }
                        None => format!("{} row(s) affected", s.count),
                    })
                    .collect();
                match initial {
                    Some(initial) => {
                        format!(
                            "{}; {}",
                            parts.join("; "),
                            changes(initial, &sorted(contents))
                        )
                    }
                    None => parts.join("; "),
                }
            }
        }
    }
}

/// A connection as the writer role to one database, reopened when a statement breaks it.
pub struct WriterConn {
    pub db: String,
    client: Client,
}

impl WriterConn {
    pub fn open(cluster: &Cluster, db: &str) -> Result<WriterConn, String> {
        Ok(WriterConn {
            db: db.to_string(),
            client: cluster.connect(db, WRITER_ROLE)?,
        })
    }

    /// Runs `sql` inside `BEGIN; SET LOCAL ROLE verdict_writer; …; ROLLBACK` (with the
    /// trigger views first in the search_path for `OracleMode::Triggers`), and reads the
    /// base rows before the ROLLBACK.
    pub fn run(
        &mut self,
        cluster: &Cluster,
        sql: &str,
        mode: OracleMode,
    ) -> Result<WriteOutcome, String> {
        self.run_with(cluster, "", sql, mode)
    }

    /// [`WriterConn::run`] with planner settings (`SET LOCAL …;`, crate::sql::PLANS)
    /// first in the transaction.
    pub fn run_with(
        &mut self,
        cluster: &Cluster,
        plan: &str,
        sql: &str,
        mode: OracleMode,
    ) -> Result<WriteOutcome, String> {
        if self.client.is_closed() {
            self.client = cluster.connect(&self.db, WRITER_ROLE)?;
        }
        let mut begin = format!(
            "BEGIN; SET LOCAL ROLE {WRITER_ROLE}; SET LOCAL statement_timeout = '10s'; {plan}"
        );
        if mode == OracleMode::Triggers {
            begin.push_str("; SET LOCAL search_path = wm, public");
        }
        self.client
            .batch_execute(&begin)
            .map_err(|e| format!("cannot open a transaction on {}: {e}", self.db))?;
        let ran = if is_copy(sql) {
            self.copy_out(sql)
        } else {
            self.client.simple_query(sql).map(statements)
        };
        let outcome = match ran {
            Ok(statements) => match self
                .client
                .simple_query("SELECT tbl, row_text FROM harness.contents() ORDER BY tbl, row_text")
            {
                Ok(messages) => WriteOutcome::Done {
                    statements,
                    contents: rows_of(messages),
                },
                Err(e) => error(&e),
            },
            Err(e) => error(&e),
        };
        if self.client.batch_execute("ROLLBACK").is_err() || self.client.is_closed() {
            // A protocol-level surprise (a dropped connection): start afresh.
            self.client = cluster.connect(&self.db, WRITER_ROLE)?;
        }
        Ok(outcome)
    }

    /// The md5 over every table of the database (harness.fingerprint()).
    pub fn fingerprint(&mut self) -> Result<String, String> {
        let messages = self
            .client
            .simple_query("SELECT harness.fingerprint()")
            .map_err(|e| format!("cannot fingerprint database {}: {e}", self.db))?;
        rows_of(messages)
            .into_iter()
            .next()
            .and_then(|row| row.into_iter().next().flatten())
            .ok_or_else(|| format!("no fingerprint from database {}", self.db))
    }

    /// The base rows outside any case (table, row), sorted.
    pub fn contents(&mut self) -> Result<Vec<Row>, String> {
        let messages = self
            .client
            .simple_query("SELECT tbl, row_text FROM harness.contents()")
            .map_err(|e| format!("cannot read the contents of database {}: {e}", self.db))?;
        Ok(sorted(&rows_of(messages)))
    }

    fn copy_out(&mut self, sql: &str) -> Result<Vec<StatementResult>, postgres::Error> {
        let mut reader = self.client.copy_out(sql)?;
        let mut bytes = Vec::new();
        // A read error ends the data; the statement's own error comes from the server.
        let _ = reader.read_to_end(&mut bytes);
        drop(reader);
        let text = String::from_utf8_lossy(&bytes);
        let rows: Vec<Row> = text.lines().map(|l| vec![Some(l.to_string())]).collect();
        Ok(vec![StatementResult {
            columns: Some(vec!["copy".to_string()]),
            count: rows.len() as u64,
            rows,
        }])
    }
}

/// Whether a text is a COPY statement (its rows come through the COPY protocol).
fn is_copy(sql: &str) -> bool {
    sql.trim_start()
        .get(..4)
        .is_some_and(|w| w.eq_ignore_ascii_case("copy"))
}

fn error(e: &postgres::Error) -> WriteOutcome {
    match e.as_db_error() {
        Some(db) => WriteOutcome::Error {
            code: db.code().code().to_string(),
            // The DETAIL too: errors that echo values put them there.
            message: match db.detail() {
                Some(detail) => format!("{} DETAIL: {detail}", db.message()),
                None => db.message().to_string(),
            },
        },
        None => WriteOutcome::Error {
            code: "client".to_string(),
            message: e.to_string(),
        },
    }
}

fn statements(messages: Vec<SimpleQueryMessage>) -> Vec<StatementResult> {
    let mut out = Vec::new();
    let mut columns: Option<Vec<String>> = None;
    let mut rows: Vec<Row> = Vec::new();
    for message in messages {
        match message {
            SimpleQueryMessage::RowDescription(cols) => {
                columns = Some(cols.iter().map(|c| c.name().to_string()).collect());
            }
            SimpleQueryMessage::Row(row) => {
                if columns.is_none() {
                    columns = Some(row.columns().iter().map(|c| c.name().to_string()).collect());
                }
                rows.push(
                    (0..row.len())
                        .map(|i| row.get(i).map(str::to_string))
                        .collect(),
                );
            }
            SimpleQueryMessage::CommandComplete(count) => {
                out.push(StatementResult {
                    columns: columns.take(),
                    rows: std::mem::take(&mut rows),
                    count,
                });
            }
            _ => {}
        }
    }
    out
}

fn rows_of(messages: Vec<SimpleQueryMessage>) -> Vec<Row> {
    statements(messages)
        .into_iter()
        .flat_map(|s| s.rows)
        .collect()
}

/// What changed between two sorted lists of base rows: the rows gone and the rows new.
fn changes(before: &[Row], after: &[Row]) -> String {
    let (mut gone, mut new) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    loop {
        match (before.get(i), after.get(j)) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => {
                gone.push(x);
                i += 1;
            }
            (_, Some(y)) => {
                new.push(y);
                j += 1;
            }
            (Some(x), None) => {
                gone.push(x);
                i += 1;
            }
            (None, None) => break,
        }
    }
    if gone.is_empty() && new.is_empty() {
        return "base rows unchanged".to_string();
    }
    let show = |rows: &[&Row]| -> String {
        let mut shown: Vec<String> = rows.iter().take(4).map(|r| show_row(r)).collect();
        if rows.len() > 4 {
            shown.push(format!("… {} more", rows.len() - 4));
        }
        shown.join(" ")
    };
    format!(
        "base rows changed: {} gone [{}], {} new [{}]",
        gone.len(),
        show(&gone),
        new.len(),
        show(&new)
    )
}

fn sorted(rows: &[Row]) -> Vec<Row> {
    let mut v = rows.to_vec();
    v.sort();
    v
}

/// Why the real run differs from the oracle's, or `None` when they agree: the same
/// SQLSTATE, or per statement the same columns, counts and rows (capped at `max_rows`
/// when given) and then the same base rows.
pub fn difference(
    expected: &WriteOutcome,
    got: &WriteOutcome,
    ordered: bool,
    compare: Compare,
    max_rows: Option<usize>,
) -> Option<String> {
    let (
        WriteOutcome::Done {
            statements: a,
            contents: ca,
        },
        WriteOutcome::Done {
            statements: b,
            contents: cb,
        },
    ) = (expected, got)
    else {
        return match (expected, got) {
            (WriteOutcome::Error { code: x, .. }, WriteOutcome::Error { code: y, .. })
                if x == y =>
            {
                None
            }
            _ => Some(format!(
                "the oracle gave {}, the rewritten SQL {}",
                expected.summary(None),
                got.summary(None)
            )),
        };
    };
    if compare == Compare::All {
        if a.len() != b.len() {
            return Some(format!(
                "{} statement result(s) expected, {} returned",
                a.len(),
                b.len()
            ));
        }
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            if x.columns != y.columns {
                return Some(format!(
                    "statement {i}: columns ({}) expected, ({}) returned",
                    x.columns.as_deref().unwrap_or_default().join(", "),
                    y.columns.as_deref().unwrap_or_default().join(", ")
                ));
            }
            let capped = max_rows.filter(|_| x.columns.is_some());
            match capped {
                Some(cap) => {
                    if let Some(d) = capped_difference(&x.rows, &y.rows, cap, ordered) {
                        return Some(format!("statement {i}: {d}"));
                    }
                }
                None => {
                    if let Some(d) = rows_difference(&x.rows, &y.rows, ordered) {
                        return Some(format!("statement {i}: {d}"));
                    }
                    if x.count != y.count {
                        return Some(format!(
                            "statement {i}: {} row(s) affected expected, {} affected",
                            x.count, y.count
                        ));
                    }
                }
            }
        }
    }
    rows_difference(&sorted(ca), &sorted(cb), false)
        .map(|d| format!("base rows after the statement: {d}"))
}

/// The oracle's rows capped at `cap`: in order, its first rows; else as many of its rows.
fn capped_difference(expected: &[Row], got: &[Row], cap: usize, ordered: bool) -> Option<String> {
    let want = expected.len().min(cap);
    if ordered {
        let head = expected.get(..want).unwrap_or(expected);
        return rows_difference(head, got, true).map(|d| format!("capped at {cap}: {d}"));
    }
    if got.len() != want {
        return Some(format!(
            "capped at {cap}: {want} row(s) expected (of the oracle's {}), {} returned",
            expected.len(),
            got.len()
        ));
    }
    let mut pool: Vec<&Row> = expected.iter().collect();
    for row in got {
        match pool.iter().position(|r| *r == row) {
            Some(at) => {
                pool.swap_remove(at);
            }
            None => {
                return Some(format!(
                    "capped at {cap}: the row {} is not among the oracle's",
                    show_row(row)
                ))
            }
        }
    }
    None
}
