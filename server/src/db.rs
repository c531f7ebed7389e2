//! The database: one SQL text for both backends through sqlx's `Any` driver, migrations
//! per backend, and the connection rules that keep SQLite safe under concurrent writers.
//!
//! Only `BIGINT` and `TEXT` values cross the boundary (times are Unix milliseconds, JSON is
//! text), so the same queries bind and decode identically on SQLite and PostgreSQL.
//! Placeholders are `$1`, `$2`, … which both backends accept.

use std::borrow::Cow;
use std::path::Path;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor};

/// Which database the server talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Pools for reads and for writes. On SQLite the writer has one connection so that write
/// transactions queue inside the process instead of failing with `SQLITE_BUSY`; on
/// PostgreSQL both are the same pool.
#[derive(Debug, Clone)]
pub struct Db {
    pub backend: Backend,
    pub read: AnyPool,
    pub write: AnyPool,
}

/// Failure to open or migrate the database.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("unsupported database url `{0}`: use sqlite://PATH or postgres://…")]
    UnsupportedUrl(String),
    #[error("cannot open the database: {0}")]
    Open(#[from] sqlx::Error),
    #[error("cannot migrate the database: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot create the data directory `{0}`: {1}")]
    DataDir(String, std::io::Error),
}

const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                              PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;";

/// The writer does not checkpoint the WAL inside its commits: SQLite's automatic
/// checkpoint runs inside the commit that crosses 1000 pages, copying those pages and
/// syncing the file while every evaluation waiting for that commit (group commit) waits
/// too — the long tail of `/evaluate`. A background task checkpoints instead, on the
/// writer's own connection, so between two write transactions (after the evaluations of
/// the last batch were answered) and never concurrently with a write: a checkpoint that
/// runs beside a writer never catches up with it, and SQLite rewinds the WAL only after
/// one that did (measured: the WAL grew past 1 GB in 15 s of load when checkpointed from a
/// reader's connection).
const SQLITE_WRITER_PRAGMAS: &str = "PRAGMA wal_autocheckpoint = 0; \
                                     PRAGMA journal_size_limit = 67108864;";

/// How often the background task checkpoints the WAL.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

impl Db {
    /// Opens `url` (`sqlite://PATH` or `postgres://…`) and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Db, DbError> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DbError::UnsupportedUrl(url.to_string()));
        };
        let db = match backend {
            Backend::Sqlite => {
                // `mode=rwc` creates the file when it is missing.
                let url = if url.contains('?') {
                    url.to_string()
                } else {
                    format!("{url}?mode=rwc")
                };
                let options = AnyConnectOptions::from_str(&url)?;
                let pool = |max: u32, extra: &'static str| {
                    AnyPoolOptions::new()
                        .max_connections(max)
                        .min_connections(1)
                        .acquire_timeout(Duration::from_secs(30))
                        .after_connect(move |conn, _| {
                            Box::pin(async move {
                                conn.execute(SQLITE_PRAGMAS).await?;
                                if !extra.is_empty() {
                                    conn.execute(extra).await?;
                                }
                                Ok(())
                            })
                        })
                };
                // The writer first: it switches the file to WAL before readers open it.
                let write = pool(1, SQLITE_WRITER_PRAGMAS)
                    .connect_with(options.clone())
                    .await?;
                let read = pool(8, "").connect_with(options).await?;
                tokio::spawn(checkpoints(write.clone()));
                Db {
                    backend,
                    read,
                    write,
                }
            }
            Backend::Postgres => {
                let options = AnyConnectOptions::from_str(url)?;
                let pool = AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(options)
                    .await?;
                Db {
                    backend,
                    read: pool.clone(),
                    write: pool,
                }
            }
        };
        db.migrate().await?;
        Ok(db)
    }

    /// The SQLite URL of `verdict.db` inside `dir`, creating the directory.
    pub fn sqlite_url_in(dir: &Path) -> Result<String, DbError> {
        std::fs::create_dir_all(dir).map_err(|e| DbError::DataDir(dir.display().to_string(), e))?;
        Ok(format!("sqlite://{}", dir.join("verdict.db").display()))
    }

    async fn migrate(&self) -> Result<(), DbError> {
        let files: [(i64, &'static str, &'static str); 11] = match self.backend {
            Backend::Sqlite => [
                (
                    1,
                    "init",
                    include_str!("../migrations/sqlite/0001_init.sql"),
                ),
                (
                    3,
                    "query_counts",
                    include_str!("../migrations/sqlite/0003_query_counts.sql"),
                ),
                (
                    4,
                    "principals",
                    include_str!("../migrations/sqlite/0004_principals.sql"),
                ),
                (
                    5,
                    "alerts",
                    include_str!("../migrations/sqlite/0005_alerts.sql"),
                ),
                (
                    6,
                    "alert_channel_ca",
                    include_str!("../migrations/sqlite/0006_alert_channel_ca.sql"),
                ),
                (
                    7,
                    "exception_rules",
                    include_str!("../migrations/sqlite/0007_exception_rules.sql"),
                ),
                (
                    8,
                    "policy_tests",
                    include_str!("../migrations/sqlite/0008_policy_tests.sql"),
                ),
                (
                    9,
                    "change_review",
                    include_str!("../migrations/sqlite/0009_change_review.sql"),
                ),
                (
                    10,
                    "data_sources",
                    include_str!("../migrations/sqlite/0010_data_sources.sql"),
                ),
                (
                    11,
                    "policy_seed_fields",
                    include_str!("../migrations/sqlite/0011_policy_seed_fields.sql"),
                ),
                (
                    12,
                    "data_source_secrets",
                    include_str!("../migrations/sqlite/0012_data_source_secrets.sql"),
                ),
            ],
            Backend::Postgres => [
                (
                    1,
                    "init",
                    include_str!("../migrations/postgres/0001_init.sql"),
                ),
                (
                    3,
                    "query_counts",
                    include_str!("../migrations/postgres/0003_query_counts.sql"),
                ),
                (
                    4,
                    "principals",
                    include_str!("../migrations/postgres/0004_principals.sql"),
                ),
                (
                    5,
                    "alerts",
                    include_str!("../migrations/postgres/0005_alerts.sql"),
                ),
                (
                    6,
                    "alert_channel_ca",
                    include_str!("../migrations/postgres/0006_alert_channel_ca.sql"),
                ),
                (
                    7,
                    "exception_rules",
                    include_str!("../migrations/postgres/0007_exception_rules.sql"),
                ),
                (
                    8,
                    "policy_tests",
                    include_str!("../migrations/postgres/0008_policy_tests.sql"),
                ),
                (
                    9,
                    "change_review",
                    include_str!("../migrations/postgres/0009_change_review.sql"),
                ),
                (
                    10,
                    "data_sources",
                    include_str!("../migrations/postgres/0010_data_sources.sql"),
                ),
                (
                    11,
                    "policy_seed_fields",
                    include_str!("../migrations/postgres/0011_policy_seed_fields.sql"),
                ),
                (
                    12,
                    "data_source_secrets",
                    include_str!("../migrations/postgres/0012_data_source_secrets.sql"),
                ),
            ],
        };
        let migrator = Migrator {
            migrations: Cow::Owned(
                files
                    .iter()
                    .map(|(version, name, sql)| {
                        Migration::new(
                            *version,
                            Cow::Borrowed(*name),
                            MigrationType::Simple,
                            Cow::Borrowed(*sql),
                            false,
                        )
                    })
                    .collect(),
            ),
            ignore_missing: false,
            // Several server instances may start at once on one PostgreSQL database.
            locking: self.backend == Backend::Postgres,
            no_tx: false,
        };
        migrator.run(&self.write).await?;
        Ok(())
    }

    /// Closes every connection (SQLite checkpoints its WAL on the last close).
    pub async fn close(&self) {
        self.read.close().await;
        self.write.close().await;
    }
}

/// Checkpoints the SQLite WAL every [`CHECKPOINT_EVERY`] through the writer's pool (one
/// connection: the checkpoint waits for the current write transaction) until it closes.
async fn checkpoints(pool: AnyPool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if pool.is_closed() {
            return;
        }
        // A failed checkpoint is retried at the next tick; the WAL only grows meanwhile.
        let _ = pool.execute("PRAGMA wal_checkpoint(PASSIVE)").await;
    }
}

/// The server's clock: Unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Unix milliseconds as RFC 3339 (UTC, milliseconds).
pub fn format_time(ms: i64) -> String {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| ms.to_string())
}

/// RFC 3339 text as Unix milliseconds.
pub fn parse_time(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A new random identifier with a prefix, such as `asg_3f9c…`.
pub fn new_id(prefix: &str) -> String {
    let mut bytes = [0u8; 12];
    // INVARIANT: the OS random source does not fail on supported platforms; if it ever
    // did, a time-derived value still keeps ids unique within this process.
    if getrandom::fill(&mut bytes).is_err() {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        for (i, b) in t.to_le_bytes().iter().take(12).enumerate() {
            if let Some(slot) = bytes.get_mut(i) {
                *slot = *b;
            }
        }
    }
    format!("{prefix}_{}", hex::encode(bytes))
}
