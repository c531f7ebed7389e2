//! The evaluation log, written with group commit: concurrent evaluations wait for one
//! shared transaction instead of one each, and each caller is answered only after the
//! transaction holding its record has committed (an acknowledged evaluation is logged).

use std::sync::OnceLock;

use tokio::sync::{mpsc, oneshot};

use crate::audit::Tx;
use crate::db::Db;
use crate::error::{ApiError, ApiResult};

/// One evaluation to log.
#[derive(Debug, Clone)]
pub struct Record {
    pub id: String,
    pub org_id: String,
    pub created_at: i64,
    pub caller: String,
    pub ctx_user: Option<String>,
    pub sql: String,
    pub rewritten_sql: Option<String>,
    pub verdict: String,
    pub rule: String,
    pub blocked_policy: Option<String>,
    pub blocked_rule_index: Option<i64>,
    /// JSON array of the matched policies' ids.
    pub policies: String,
    /// `(policy id, mode)` of each matched policy, for the per-policy trail.
    pub matched: Vec<(String, String)>,
    /// JSON array of the exceptions applied.
    pub exceptions: String,
    pub context: String,
    pub context_digest: String,
    pub dataset: Option<String>,
    pub query_id: Option<String>,
    /// The verdict JSON.
    pub result: String,
    /// Violations that raise alerts, queued with the record.
    pub alerts: Vec<crate::alerts::Event>,
}

const EVALUATION_COLUMNS: &str = "id, org_id, created_at, caller, ctx_user, sql_text, rewritten_sql, verdict, rule, \
     blocked_policy, blocked_rule_index, policies, exceptions, context, context_digest, dataset, query_id, result";

/// Bind parameters per `evaluations` row.
const EVALUATION_PARAMS: usize = 18;

/// `evaluation_policies` rows per statement at most: 4 parameters each stays far below
/// the bind limits of SQLite (32 766) and PostgreSQL (65 535).
const POLICY_ROWS_PER_STATEMENT: usize = 512;

/// Splits `items` into runs whose lengths are powers of two (largest first, at most
/// `max`), so that a handful of statement texts serve every batch size and stay in the
/// connection's prepared-statement cache.
fn runs<T>(items: &[T], max: usize) -> Vec<&[T]> {
    let mut out = Vec::new();
    let mut rest = items;
    while !rest.is_empty() {
        let mut n = max.min(rest.len());
        if !n.is_power_of_two() {
            n = n.next_power_of_two() / 2;
        }
        let (head, tail) = rest.split_at(n);
        out.push(head);
        rest = tail;
    }
    out
}

/// `($1, …, $n), ($n+1, …)`: `rows` groups of `width` placeholders.
fn placeholders(rows: usize, width: usize) -> String {
    let mut sql = String::with_capacity(rows * width * 5);
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..width {
            if col > 0 {
                sql.push_str(", ");
            }
            sql.push('$');
            sql.push_str(&(row * width + col + 1).to_string());
        }
        sql.push(')');
    }
    sql
}

/// Writes one record inside `tx`.
pub async fn insert(tx: &mut Tx, r: &Record) -> Result<(), sqlx::Error> {
    insert_all(tx, &[r]).await
}

/// Writes records inside `tx` with a few multi-row statements (runs of a power of two
/// rows) instead of two statements per record.
pub async fn insert_all(tx: &mut Tx, records: &[&Record]) -> Result<(), sqlx::Error> {
    let mut matched: Vec<(&Record, i64, &(String, String))> = Vec::new();
    for run in runs(records, MAX_BATCH) {
        insert_evaluations(tx, run, &mut matched).await?;
    }
    for run in runs(&matched, POLICY_ROWS_PER_STATEMENT) {
        let sql = format!(
            "INSERT INTO evaluation_policies (org_id, policy_id, evaluation_seq, mode) VALUES {}",
            placeholders(run.len(), 4)
        );
        let mut query = sqlx::query(&sql);
        for (r, seq, (policy, mode)) in run {
            query = query.bind(&r.org_id).bind(policy).bind(*seq).bind(mode);
        }
        query.execute(&mut **tx).await?;
    }
    for r in records {
        crate::alerts::insert_events(tx, &r.org_id, &r.id, r.created_at, &r.alerts).await?;
    }
    Ok(())
}

/// Inserts `records` with one statement; adds their matched policies with the sequence
/// numbers they got to `matched`.
async fn insert_evaluations<'r>(
    tx: &mut Tx,
    records: &[&'r Record],
    matched: &mut Vec<(&'r Record, i64, &'r (String, String))>,
) -> Result<(), sqlx::Error> {
    use sqlx::Row;
    let sql = format!(
        "INSERT INTO evaluations ({EVALUATION_COLUMNS}) VALUES {} RETURNING id, seq",
        placeholders(records.len(), EVALUATION_PARAMS)
    );
    let mut query = sqlx::query(&sql);
    for r in records {
        query = query
            .bind(&r.id)
            .bind(&r.org_id)
            .bind(r.created_at)
            .bind(&r.caller)
            .bind(&r.ctx_user)
            .bind(&r.sql)
            .bind(&r.rewritten_sql)
            .bind(&r.verdict)
            .bind(&r.rule)
            .bind(&r.blocked_policy)
            .bind(r.blocked_rule_index)
            .bind(&r.policies)
            .bind(&r.exceptions)
            .bind(&r.context)
            .bind(&r.context_digest)
            .bind(&r.dataset)
            .bind(&r.query_id)
            .bind(&r.result);
    }
    // RETURNING gives no row order: match the sequence numbers by id.
    let rows = query.fetch_all(&mut **tx).await?;
    let mut seqs = std::collections::HashMap::with_capacity(rows.len());
    for row in &rows {
        let id: String = row.try_get(0)?;
        let seq: i64 = row.try_get(1)?;
        seqs.insert(id, seq);
    }
    for r in records {
        let seq = *seqs
            .get(&r.id)
            .ok_or_else(|| sqlx::Error::Protocol(format!("no sequence number for {}", r.id)))?;
        matched.extend(r.matched.iter().map(|m| (*r, seq, m)));
    }
    Ok(())
}

type Job = (Record, oneshot::Sender<Result<(), String>>);

/// The most records one transaction takes.
const MAX_BATCH: usize = 256;

/// The writer of one server instance.
#[derive(Debug, Default)]
pub struct Log {
    sender: OnceLock<mpsc::Sender<Job>>,
}

impl Log {
    /// Logs `record`; returns once it is committed.
    pub async fn write(&self, db: &Db, record: Record) -> ApiResult<()> {
        let sender = self.sender.get_or_init(|| {
            let (tx, rx) = mpsc::channel(4 * MAX_BATCH);
            tokio::spawn(run(db.clone(), rx));
            tx
        });
        let (ack, done) = oneshot::channel();
        sender
            .send((record, ack))
            .await
            .map_err(|_| ApiError::internal("the evaluation log writer stopped"))?;
        match done.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ApiError::internal(e)),
            Err(_) => Err(ApiError::internal("the evaluation log writer stopped")),
        }
    }
}

async fn run(db: Db, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let records: Vec<&Record> = batch.iter().map(|(r, _)| r).collect();
        match write_batch(&db, &records).await {
            Ok(()) => {
                for (_, ack) in batch {
                    let _ = ack.send(Ok(()));
                }
            }
            Err(_) => {
                // One bad record must not fail the others: write each on its own.
                for (record, ack) in batch {
                    let result = write_batch(&db, &[&record])
                        .await
                        .map_err(|e| e.to_string());
                    let _ = ack.send(result);
                }
            }
        }
    }
}

async fn write_batch(db: &Db, records: &[&Record]) -> Result<(), sqlx::Error> {
    let mut tx = db.write.begin().await?;
    insert_all(&mut tx, records).await?;
    tx.commit().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_rows_in_order() {
        assert_eq!(placeholders(1, 2), "($1, $2)");
        assert_eq!(placeholders(2, 3), "($1, $2, $3), ($4, $5, $6)");
        assert_eq!(EVALUATION_COLUMNS.split(',').count(), EVALUATION_PARAMS);
    }

    #[test]
    fn runs_are_powers_of_two_up_to_max() {
        let items: Vec<usize> = (0..300).collect();
        let lens: Vec<usize> = runs(&items, 256).iter().map(|r| r.len()).collect();
        assert_eq!(lens, [256, 32, 8, 4]);
        let lens: Vec<usize> = runs(&items[..7], 4).iter().map(|r| r.len()).collect();
        assert_eq!(lens, [4, 2, 1]);
        assert!(runs::<usize>(&[], 8).is_empty());
        let joined: Vec<usize> = runs(&items, 64).concat();
        assert_eq!(joined, items);
    }
}
