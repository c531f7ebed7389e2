//! Running a SQL text as the unprivileged role and comparing what comes back.

use postgres::{Client, SimpleQueryMessage};

use verdict_testkit::Cluster;

/// The unprivileged role every case runs as: SELECT on the tables (real) or on the
/// secure views (oracle), nothing else.
pub const APP_ROLE: &str = "verdict_app";

/// One statement's answer: column names and rows, every value as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResultSet {
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// What PostgreSQL answered to a whole SQL text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The result sets of the statements that return rows.
    Rows(Vec<ResultSet>),
    /// The first error, with its SQLSTATE.
    Error { code: String, message: String },
}

impl Outcome {
    /// Whether any statement returned at least one row.
    pub fn has_rows(&self) -> bool {
        match self {
            Outcome::Rows(sets) => sets.iter().any(|s| !s.rows.is_empty()),
            Outcome::Error { .. } => false,
        }
    }

    /// The error of a relation or column that does not exist: the oracle's way of saying
    /// that the context may not see it.
    pub fn is_absent_error(&self) -> bool {
        matches!(self, Outcome::Error { code, .. } if code == "42P01" || code == "42703")
    }

    /// A one-line summary with the first rows, to show what leaked.
    pub fn summary_with_rows(&self) -> String {
        let mut out = self.summary();
        if let Outcome::Rows(sets) = self {
            let rows: Vec<String> = sets
                .iter()
                .flat_map(|s| s.rows.iter())
                .take(3)
                .map(show_row)
                .collect();
            if !rows.is_empty() {
                out.push_str(&format!(": {}", rows.join(" ")));
            }
        }
        out
    }

    /// A one-line summary.
    pub fn summary(&self) -> String {
        match self {
            Outcome::Rows(sets) => {
                let parts: Vec<String> = sets
                    .iter()
                    .map(|s| format!("{} row(s) of ({})", s.rows.len(), s.columns.join(", ")))
                    .collect();
                if parts.is_empty() {
                    "no result set".to_string()
                } else {
                    parts.join("; ")
                }
            }
            Outcome::Error { code, message } => format!("error {code}: {message}"),
        }
    }
}

/// A connection as the app role to one database, reopened when a statement breaks it.
pub struct Conn {
    db: String,
    client: Client,
}

impl Conn {
    pub fn open(cluster: &Cluster, db: &str) -> Result<Conn, String> {
        Ok(Conn {
            db: db.to_string(),
            client: cluster.connect(db, APP_ROLE)?,
        })
    }

    /// Runs `sql` inside `BEGIN; SET LOCAL ROLE verdict_app; …; ROLLBACK`. The connection
    /// already logs in as that role, so a `RESET ROLE` or `COMMIT` in `sql` cannot reach
    /// a superuser; the transaction undoes anything else.
    pub fn run(&mut self, cluster: &Cluster, sql: &str) -> Result<Outcome, String> {
        self.run_with(cluster, "", sql)
    }

    /// [`Conn::run`] with planner settings (`SET LOCAL …;` statements) first.
    pub fn run_with(
        &mut self,
        cluster: &Cluster,
        settings: &str,
        sql: &str,
    ) -> Result<Outcome, String> {
        // A statement that runs out of time on a loaded machine says nothing about what
        // PostgreSQL answers: run it once more with time to spare.
        let outcome = self.run_once(cluster, settings, sql, "10s")?;
        match outcome {
            Outcome::Error { ref code, .. } if code == "57014" => {
                self.run_once(cluster, settings, sql, "120s")
            }
            outcome => Ok(outcome),
        }
    }

    fn run_once(
        &mut self,
        cluster: &Cluster,
        settings: &str,
        sql: &str,
        timeout: &str,
    ) -> Result<Outcome, String> {
        if self.client.is_closed() {
            self.client = cluster.connect(&self.db, APP_ROLE)?;
        }
        self.client
            .batch_execute(&format!(
                "BEGIN; SET LOCAL ROLE {APP_ROLE}; SET LOCAL statement_timeout = '{timeout}'; {settings}"
            ))
            .map_err(|e| format!("cannot open a transaction on {}: {e}", self.db))?;
        let outcome = match self.client.simple_query(sql) {
            Ok(messages) => Outcome::Rows(collect(messages)),
            Err(e) => match e.as_db_error() {
                Some(db) => Outcome::Error {
                    code: db.code().code().to_string(),
                    // The DETAIL too: errors that echo values put them there.
                    message: match db.detail() {
                        Some(detail) => format!("{} DETAIL: {detail}", db.message()),
                        None => db.message().to_string(),
                    },
                },
                None => Outcome::Error {
                    code: "client".to_string(),
                    message: e.to_string(),
                },
            },
        };
        if self.client.batch_execute("ROLLBACK").is_err() || self.client.is_closed() {
            // A protocol-level surprise (COPY, a dropped connection): start afresh.
            self.client = cluster.connect(&self.db, APP_ROLE)?;
        }
        Ok(outcome)
    }
}

fn collect(messages: Vec<SimpleQueryMessage>) -> Vec<ResultSet> {
    let mut sets = Vec::new();
    let mut current: Option<ResultSet> = None;
    for message in messages {
        match message {
            SimpleQueryMessage::RowDescription(columns) => {
                if let Some(set) = current.take() {
                    sets.push(set);
                }
                current = Some(ResultSet {
                    columns: columns.iter().map(|c| c.name().to_string()).collect(),
                    rows: Vec::new(),
                });
            }
            SimpleQueryMessage::Row(row) => {
                let values: Vec<Option<String>> = (0..row.len())
                    .map(|i| row.get(i).map(str::to_string))
                    .collect();
                match current.as_mut() {
                    Some(set) => set.rows.push(values),
                    None => {
                        let columns = row.columns().iter().map(|c| c.name().to_string()).collect();
                        current = Some(ResultSet {
                            columns,
                            rows: vec![values],
                        });
                    }
                }
            }
            SimpleQueryMessage::CommandComplete(_) => {
                if let Some(set) = current.take() {
                    sets.push(set);
                }
            }
            _ => {}
        }
    }
    if let Some(set) = current.take() {
        sets.push(set);
    }
    sets
}

/// Why two outcomes differ, or `None` when they are the same (rows as multisets unless
/// `ordered`).
pub fn difference(expected: &Outcome, got: &Outcome, ordered: bool) -> Option<String> {
    match (expected, got) {
        (Outcome::Rows(a), Outcome::Rows(b)) => {
            if a.len() != b.len() {
                return Some(format!(
                    "{} result set(s) expected, {} returned",
                    a.len(),
                    b.len()
                ));
            }
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                if x.columns != y.columns {
                    return Some(format!(
                        "result set {i}: columns ({}) expected, ({}) returned",
                        x.columns.join(", "),
                        y.columns.join(", ")
                    ));
                }
                if let Some(diff) = rows_difference(&x.rows, &y.rows, ordered) {
                    return Some(format!("result set {i}: {diff}"));
                }
            }
            None
        }
        (Outcome::Error { code: a, .. }, Outcome::Error { code: b, .. }) if a == b => None,
        _ => Some(format!(
            "expected {}, got {}",
            expected.summary(),
            got.summary()
        )),
    }
}

/// The first value of `hidden` that an error `message` prints: as a whole word (not a
/// part of a longer one, such as a digest), and not written in the statement `sql` itself
/// (an error echoing the caller's own literal reveals nothing).
pub fn printed_hidden<'h>(message: &str, sql: &str, hidden: &'h [String]) -> Option<&'h str> {
    let word = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
    hidden
        .iter()
        .filter(|v| !sql.contains(v.as_str()))
        .find(|v| {
            message.match_indices(v.as_str()).any(|(at, m)| {
                let before = message.get(..at).and_then(|s| s.chars().next_back());
                let after = message.get(at + m.len()..).and_then(|s| s.chars().next());
                let alnum = |c: char| c.is_alphanumeric();
                let inside_a_word =
                    (word(before) && v.starts_with(alnum)) || (word(after) && v.ends_with(alnum));
                !inside_a_word
            })
        })
        .map(String::as_str)
}

/// What a side channel shows, or `None`: the rewritten SQL may answer where the oracle
/// fails (it evaluated fewer rows), but never fail where the oracle answers, and an error
/// may not print a value the context cannot see (`hidden`). Rows must match as usual.
pub fn side_channel(
    expected: &Outcome,
    got: &Outcome,
    ordered: bool,
    sql: &str,
    hidden: &[String],
) -> Option<String> {
    match (expected, got) {
        (_, Outcome::Error { message, .. }) => {
            if let Some(value) = printed_hidden(message, sql, hidden) {
                return Some(format!(
                    "prints the hidden value `{value}`: {}",
                    got.summary()
                ));
            }
            match expected {
                Outcome::Error { .. } => None,
                Outcome::Rows(_) => Some(format!(
                    "the rewritten SQL fails where the oracle answers ({}): {}",
                    expected.summary(),
                    got.summary()
                )),
            }
        }
        (Outcome::Error { .. }, Outcome::Rows(_)) => None,
        (Outcome::Rows(_), Outcome::Rows(_)) => difference(expected, got, ordered),
    }
}

/// Planner settings under which the rewritten SQL of a `strict` case runs again: each
/// makes PostgreSQL choose other scans, joins or orders of evaluation.
pub const PLANS: &[&str] = &[
    "SET LOCAL enable_seqscan = off;",
    "SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off;",
    "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off;",
    "SET LOCAL enable_nestloop = off; SET LOCAL enable_hashjoin = off;",
    "SET LOCAL enable_material = off; SET LOCAL enable_hashagg = off; SET LOCAL enable_sort = off;",
    "SET LOCAL join_collapse_limit = 1; SET LOCAL from_collapse_limit = 1;",
    "SET LOCAL cpu_operator_cost = 1000; SET LOCAL random_page_cost = 0.01;",
];

/// One row, every value as text.
pub type Row = Vec<Option<String>>;

/// Why two row lists differ (as multisets unless `ordered`), or `None`.
pub fn rows_difference(expected: &[Row], got: &[Row], ordered: bool) -> Option<String> {
    if ordered {
        if expected == got {
            return None;
        }
        let at = expected
            .iter()
            .zip(got)
            .position(|(a, b)| a != b)
            .unwrap_or(expected.len().min(got.len()));
        return Some(format!(
            "{} row(s) expected, {} returned; first difference at row {at}: expected {}, got {}",
            expected.len(),
            got.len(),
            expected
                .get(at)
                .map(show_row)
                .unwrap_or_else(|| "nothing".into()),
            got.get(at)
                .map(show_row)
                .unwrap_or_else(|| "nothing".into()),
        ));
    }
    let mut a: Vec<&Row> = expected.iter().collect();
    let mut b: Vec<&Row> = got.iter().collect();
    a.sort();
    b.sort();
    if a == b {
        return None;
    }
    // Multiset differences, both ways.
    let (mut only_expected, mut only_got) = (Vec::new(), Vec::new());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        match (a.get(i), b.get(j)) {
            (Some(x), Some(y)) if x == y => {
                i += 1;
                j += 1;
            }
            (Some(x), Some(y)) if x < y => {
                only_expected.push(*x);
                i += 1;
            }
            (Some(_), Some(y)) => {
                only_got.push(*y);
                j += 1;
            }
            (Some(x), None) => {
                only_expected.push(*x);
                i += 1;
            }
            (None, Some(y)) => {
                only_got.push(*y);
                j += 1;
            }
            (None, None) => break,
        }
    }
    let show = |rows: &[&Row]| -> String {
        let mut shown: Vec<String> = rows.iter().take(5).map(|r| show_row(r)).collect();
        if rows.len() > 5 {
            shown.push(format!("… {} more", rows.len() - 5));
        }
        shown.join(" ")
    };
    let mut message = format!(
        "{} row(s) expected, {} returned; only in oracle: [{}]; only in rewritten: [{}]",
        expected.len(),
        got.len(),
        show(&only_expected),
        show(&only_got)
    );
    if let (Some(a), Some(b)) = (only_expected.first(), only_got.first()) {
        message.push_str(&first_cell_difference(a, b));
    }
    Some(message)
}

/// Where the first differing rows first differ, with context around the first differing
/// character (long values are cut in the row listing).
fn first_cell_difference(a: &Row, b: &Row) -> String {
    let Some((col, (x, y))) = a.iter().zip(b).enumerate().find(|(_, (x, y))| x != y) else {
        return String::new();
    };
    let (x, y) = match (x, y) {
        (Some(x), Some(y)) => (x, y),
        _ => return format!("; first difference in column {col}: {x:?} vs {y:?}"),
    };
    let at = x
        .chars()
        .zip(y.chars())
        .position(|(p, q)| p != q)
        .unwrap_or(x.chars().count().min(y.chars().count()));
    let from = at.saturating_sub(20);
    let cut = |s: &str| s.chars().skip(from).take(60).collect::<String>();
    format!(
        "; first difference in column {col} at character {at}: oracle …{:?}…, rewritten …{:?}…",
        cut(x),
        cut(y)
    )
}

/// A row for a report line, long values cut.
pub fn show_row(row: &Row) -> String {
    let cells: Vec<String> = row
        .iter()
        .map(|v| match v {
            None => "NULL".to_string(),
            Some(s) => {
                let mut s = s.clone();
                if s.chars().count() > 60 {
                    s = s.chars().take(57).collect::<String>() + "…";
                }
                format!("{s:?}")
            }
        })
        .collect();
    format!("({})", cells.join(", "))
}
