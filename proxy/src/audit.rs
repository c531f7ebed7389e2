//! `--audit-log FILE`: one JSON line per judged SQL text (who, from where, the SQL, what
//! ran, the verdict and its policies), appended by a writer thread that flushes once per
//! burst (group commit), so sessions never wait for the disk.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{channel, Sender};

use serde_json::json;

/// Where judged texts are recorded: a file of JSON lines, the store's evaluations, or both.
#[derive(Debug, Clone, Default)]
pub struct AuditLog {
    file: Option<Sender<String>>,
    store: Option<StoreSink>,
}

/// The store's evaluation log (the server's group commit), fed from a channel so that
/// sessions never wait for it.
#[derive(Debug, Clone)]
pub struct StoreSink {
    tx: tokio::sync::mpsc::UnboundedSender<verdict_server::log::Record>,
    org_id: String,
    /// Woken when a logged evaluation queued alerts.
    alerts: std::sync::Arc<verdict_server::alerts::Queue>,
}

impl StoreSink {
    /// Starts the writer for organization `org_id` of `db` on the current runtime; the
    /// alert worker waiting on `alerts` is woken after each evaluation that queued alerts.
    pub fn start(
        db: verdict_server::Db,
        org_id: String,
        alerts: std::sync::Arc<verdict_server::alerts::Queue>,
    ) -> StoreSink {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<verdict_server::log::Record>();
        let wake = alerts.clone();
        tokio::spawn(async move {
            let log = std::sync::Arc::new(verdict_server::log::Log::default());
            while let Some(record) = rx.recv().await {
                // Each write joins the current group commit.
                let (log, db, wake) = (log.clone(), db.clone(), wake.clone());
                tokio::spawn(async move {
                    let queued = !record.alerts.is_empty();
                    match log.write(&db, record).await {
                        Ok(()) if queued => wake.wake(),
                        Ok(()) => {}
                        Err(e) => eprintln!(
                            "verdict proxy: cannot log an evaluation in the store: {}",
                            e.cause()
                        ),
                    }
                });
            }
        });
        StoreSink { tx, org_id, alerts }
    }

    /// The organization the sink logs for.
    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    /// Queues an evaluation already built (with its alerts).
    pub fn queue(&self, record: verdict_server::log::Record) {
        if self.tx.send(record).is_err() {
            eprintln!("verdict proxy: the store's evaluation writer stopped");
        }
    }

    /// Tells the alert worker that an evaluation written elsewhere queued alerts.
    pub fn wake_alerts(&self) {
        self.alerts.wake();
    }
}

/// One record.
pub struct Record<'a> {
    pub principal: &'a str,
    pub client: &'a str,
    pub application: &'a str,
    pub sql: &'a str,
    /// What went upstream; `None` for a block.
    pub ran: Option<&'a str>,
    pub verdict: &'a str,
    pub rule: &'a str,
    pub policies: Vec<&'a str>,
    /// The engine's verdict (none for a vetted statement).
    pub full: Option<&'a verdict_engine::Verdict>,
    pub ctx: &'a verdict_engine::Context,
}

impl AuditLog {
    /// Opens (appends to) `path` and starts its writer thread.
    pub fn open(path: &Path) -> std::io::Result<AuditLog> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let (tx, rx) = channel::<String>();
        let shown = path.display().to_string();
        std::thread::Builder::new()
            .name("verdict-proxy-audit".into())
            .spawn(move || {
                let mut out = BufWriter::new(file);
                while let Ok(line) = rx.recv() {
                    let mut ok = writeln!(out, "{line}").is_ok();
                    while let Ok(more) = rx.try_recv() {
                        ok &= writeln!(out, "{more}").is_ok();
                    }
                    if !(ok && out.flush().is_ok()) {
                        eprintln!("verdict proxy: cannot write the audit log {shown}");
                    }
                }
            })?;
        Ok(AuditLog {
            file: Some(tx),
            store: None,
        })
    }

    /// This log, also writing to the store.
    pub fn with_store(mut self, sink: StoreSink) -> AuditLog {
        self.store = Some(sink);
        self
    }

    /// The store's evaluation log, when there is one.
    pub fn store(&self) -> Option<&StoreSink> {
        self.store.as_ref()
    }

    /// Queues one record.
    pub fn record(&self, r: &Record<'_>) {
        if let Some(store) = &self.store {
            store.record(r);
        }
        self.record_file(r);
    }

    /// Queues one record for the file only (the store's evaluation is written apart).
    pub fn record_file(&self, r: &Record<'_>) {
        if self.file.is_none() {
            return;
        }
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let line = json!({
            "time_ms": u64::try_from(millis).unwrap_or(u64::MAX),
            "principal": r.principal,
            "client": r.client,
            "application_name": r.application,
            "sql": r.sql,
            "rewritten_sql": r.ran,
            "verdict": r.verdict,
            "rule": r.rule,
            "policies": r.policies,
        });
        if let Some(file) = &self.file {
            if file.send(line.to_string()).is_err() {
                eprintln!("verdict proxy: the audit log writer stopped");
            }
        }
    }
}

impl StoreSink {
    /// Queues the evaluation of `r`.
    fn record(&self, r: &Record<'_>) {
        self.queue(evaluation(&self.org_id, r, "[]"));
    }
}

/// The evaluation of `r` for organization `org_id`, with `exceptions` (a JSON array of
/// the exceptions applied) and no alerts.
pub fn evaluation(org_id: &str, r: &Record<'_>, exceptions: &str) -> verdict_server::log::Record {
    {
        use sha2::Digest as _;
        let context = serde_json::to_string(r.ctx).unwrap_or_else(|_| "{}".into());
        let mut result = match r.full {
            Some(v) => serde_json::from_str(&v.to_json()).unwrap_or_else(|_| json!({})),
            None => json!({"verdict": r.verdict, "rule": r.rule, "rewritten_sql": r.ran}),
        };
        if let Some(obj) = result.as_object_mut() {
            // Where the statement came from, beside the verdict as the engine gave it.
            obj.insert(
                "proxy".into(),
                json!({"principal": r.principal, "client": r.client, "application_name": r.application, "rewritten_sql": r.ran, "verdict": r.verdict, "rule": r.rule}),
            );
        }
        let blocked = r.full.and_then(|v| v.blocked_by.as_ref());
        verdict_server::log::Record {
            id: verdict_server::db::new_id("ev"),
            org_id: org_id.to_string(),
            created_at: verdict_server::db::now_ms(),
            caller: format!("proxy:{}", r.principal),
            ctx_user: r.ctx.user.clone(),
            sql: r.sql.to_string(),
            rewritten_sql: r.ran.map(str::to_string),
            verdict: r.verdict.to_string(),
            rule: r.rule.to_string(),
            blocked_policy: blocked.map(|b| b.policy.clone()),
            blocked_rule_index: blocked.map(|b| i64::try_from(b.rule_index).unwrap_or(i64::MAX)),
            policies: json!(r.policies).to_string(),
            matched: r
                .full
                .map(|v| {
                    v.matched_policies
                        .iter()
                        .map(|m| (m.id.clone(), m.mode.clone()))
                        .collect()
                })
                .unwrap_or_default(),
            exceptions: exceptions.to_string(),
            context_digest: hex_digest(sha2::Sha256::digest(context.as_bytes()).as_slice()),
            context,
            dataset: r.ctx.dataset.clone(),
            query_id: r.ctx.query_id.clone(),
            result: result.to_string(),
            // Added by the server's enforcement from the policies' actions and risks.
            alerts: Vec::new(),
        }
    }
}

fn hex_digest(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
