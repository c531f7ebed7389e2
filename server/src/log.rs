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
}

/// Writes one record inside `tx`.
pub async fn insert(tx: &mut Tx, r: &Record) -> Result<(), sqlx::Error> {
    use sqlx::Row;
    let row = sqlx::query(
        "INSERT INTO evaluations (id, org_id, created_at, caller, ctx_user, sql_text, rewritten_sql, verdict, rule, \
         blocked_policy, blocked_rule_index, policies, exceptions, context, context_digest, dataset, query_id, result) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) RETURNING seq",
    )
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
    .bind(&r.result)
    .fetch_one(&mut **tx)
    .await?;
    let seq: i64 = row.try_get(0)?;
    if r.matched.is_empty() {
        return Ok(());
    }
    // One statement for every matched policy of the evaluation.
    let mut sql = String::from(
        "INSERT INTO evaluation_policies (org_id, policy_id, evaluation_seq, mode) VALUES ",
    );
    for i in 0..r.matched.len() {
        if i > 0 {
            sql.push_str(", ");
        }
        let b = i * 4;
        sql.push_str(&format!("(${}, ${}, ${}, ${})", b + 1, b + 2, b + 3, b + 4));
    }
    let mut query = sqlx::query(&sql);
    for (policy, mode) in &r.matched {
        query = query.bind(&r.org_id).bind(policy).bind(seq).bind(mode);
    }
    query.execute(&mut **tx).await?;
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
    for r in records {
        insert(&mut tx, r).await?;
    }
    tx.commit().await
}
