//! `--audit-log FILE`: one JSON line per judged SQL text (who, from where, the SQL, what
//! ran, the verdict and its policies), appended by a writer thread that flushes once per
//! burst (group commit), so sessions never wait for the disk.

use std::fs::OpenOptions;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::mpsc::{channel, Sender};

use serde_json::json;

/// An open audit log.
#[derive(Debug)]
pub struct AuditLog {
    tx: Sender<String>,
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
        Ok(AuditLog { tx })
    }

    /// Queues one record.
    pub fn record(&self, r: &Record<'_>) {
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
        if self.tx.send(line.to_string()).is_err() {
            eprintln!("verdict proxy: the audit log writer stopped");
        }
    }
}
