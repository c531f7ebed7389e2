//! The active policy set of an organization: its assigned, not deleted policies handed to
//! the engine with `applies_to` from their assignments (datasets and queries included),
//! cached per organization until anything that shapes it changes (the organization's
//! `generation` number moves).
//!
//! Per request one thing may be added, not a decision: exceptions the engine says would
//! exempt the caller (`select::exempts`) and that still have a use left become `except`
//! entries of their policy.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use sqlx::Row;
use verdict_engine::exempts;
use verdict_engine::policy::{Lift, Subjects};
use verdict_engine::{Context, PolicySet};

use crate::audit::Tx;
use crate::db::{now_ms, Backend, Db};
use crate::error::{ApiError, ApiResult};
use crate::store::{self, Assignment, AssignmentSpec};

/// A stored exception that is not revoked (expiry and uses are checked at use).
#[derive(Debug, Clone)]
pub struct ExceptionEntry {
    pub id: String,
    pub policy_id: String,
    /// `user` or `role`.
    pub subject_kind: String,
    pub subject: String,
    pub expires_at: Option<i64>,
    /// The rule indexes it lifts; `None`: the policy's row filters and masks.
    pub rules: Option<Vec<u32>>,
}

impl ExceptionEntry {
    /// Which rules of its policy it lifts.
    pub fn lift(&self) -> Lift {
        match &self.rules {
            None => Lift::FiltersAndMasks,
            Some(list) => Lift::Rules(
                list.iter()
                    .filter_map(|r| usize::try_from(*r).ok())
                    .collect(),
            ),
        }
    }
}

/// The columns [`exception_entry`] reads, in its order.
const EXCEPTION_COLUMNS: &str = "id, policy_id, subject_kind, subject, expires_at, rules";

/// An exception read with [`EXCEPTION_COLUMNS`].
fn exception_entry(row: &sqlx::any::AnyRow) -> ApiResult<ExceptionEntry> {
    Ok(ExceptionEntry {
        id: row.try_get(0)?,
        policy_id: row.try_get(1)?,
        subject_kind: row.try_get(2)?,
        subject: row.try_get(3)?,
        expires_at: row.try_get(4)?,
        rules: crate::exceptions::rule_list(row.try_get(5)?),
    })
}

/// An organization's active set, as of `generation`.
#[derive(Debug)]
pub struct ActiveSet {
    pub generation: i64,
    pub catalog: Value,
    /// The engine-shaped policies, in id order.
    pub policies: Vec<(String, Value)>,
    pub set: Arc<PolicySet>,
    pub exceptions: Vec<ExceptionEntry>,
    /// `(action, risk)` of each live policy, for alerts.
    pub meta: crate::alerts::PolicyMeta,
}

/// The per-organization cache.
#[derive(Debug, Default)]
pub struct Cache {
    sets: Mutex<HashMap<String, Arc<ActiveSet>>>,
}

impl Cache {
    /// The organization's active set, from the cache when it is at least as new as
    /// `generation` (read with the caller's token, at the start of the request).
    pub async fn get(&self, db: &Db, org: &str, generation: i64) -> ApiResult<Arc<ActiveSet>> {
        if let Some(hit) = self.lookup(org) {
            if hit.generation >= generation {
                return Ok(hit);
            }
        }
        let fresh = Arc::new(load(db, org).await?);
        if let Ok(mut sets) = self.sets.lock() {
            let keep_newer = sets
                .get(org)
                .is_some_and(|cached| cached.generation > fresh.generation);
            if !keep_newer {
                sets.insert(org.to_string(), fresh.clone());
            }
        }
        Ok(fresh)
    }

    /// Forgets the organization's set.
    pub fn invalidate(&self, org: &str) {
        if let Ok(mut sets) = self.sets.lock() {
            sets.remove(org);
        }
    }

    fn lookup(&self, org: &str) -> Option<Arc<ActiveSet>> {
        self.sets.lock().ok().and_then(|s| s.get(org).cloned())
    }
}

/// Reads of organizations' generation numbers, shared by concurrent requests.
///
/// A caller needs a read that *started after it arrived* (so it sees every change
/// committed before): it notes how many reads had started, then takes the
/// organization's lock; if a read that started later has completed meanwhile it uses
/// that one's answer, otherwise it reads itself while holding the lock. Under load one
/// read serves every request that arrived while the previous one ran.
#[derive(Debug, Default)]
pub struct Generations {
    orgs: Mutex<HashMap<String, Arc<OrgGeneration>>>,
}

#[derive(Debug, Default)]
struct OrgGeneration {
    /// How many reads have started (a read's number is this count just after it starts).
    started: std::sync::atomic::AtomicU64,
    /// The number and answer of the latest completed read.
    last: tokio::sync::Mutex<(u64, i64)>,
}

impl Generations {
    /// The organization's generation, as of a read that started after this call.
    pub async fn read(&self, db: &Db, org: &str) -> ApiResult<i64> {
        use std::sync::atomic::Ordering;
        let entry = self
            .orgs
            .lock()
            .map(|mut orgs| orgs.entry(org.to_string()).or_default().clone())
            .ok();
        let Some(entry) = entry else {
            return read_generation(db, org).await;
        };
        let arrived = entry.started.load(Ordering::SeqCst);
        let mut last = entry.last.lock().await;
        if last.0 > arrived {
            return Ok(last.1);
        }
        let number = entry.started.fetch_add(1, Ordering::SeqCst) + 1;
        let generation = read_generation(db, org).await?;
        *last = (number, generation);
        Ok(generation)
    }
}

async fn read_generation(db: &Db, org: &str) -> ApiResult<i64> {
    let row = sqlx::query("SELECT generation FROM orgs WHERE id = $1")
        .bind(org)
        .fetch_one(&db.read)
        .await?;
    Ok(row.try_get(0)?)
}

/// Reads everything that shapes the active set in one consistent snapshot.
async fn load(db: &Db, org: &str) -> ApiResult<ActiveSet> {
    let mut tx = match db.backend {
        Backend::Postgres => {
            db.read
                .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
                .await?
        }
        Backend::Sqlite => db.read.begin().await?,
    };
    let row = sqlx::query("SELECT generation FROM orgs WHERE id = $1")
        .bind(org)
        .fetch_one(&mut *tx)
        .await?;
    let generation: i64 = row.try_get(0)?;
    let catalog = store::catalog(&mut *tx, org).await?;
    let rows = store::live_policies(&mut *tx, org).await?;
    let assignments = store::all_assignments(&mut *tx, org).await?;
    let exception_rows = sqlx::query(&format!(
        "SELECT {EXCEPTION_COLUMNS} FROM exceptions \
         WHERE org_id = $1 AND revoked_at IS NULL ORDER BY id"
    ))
    .bind(org)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;

    let mut policies = Vec::new();
    for row in &rows {
        let Some(list) = assignments.get(&row.id).filter(|a| !a.is_empty()) else {
            // INVARIANT: an unassigned policy is stored but never applied.
            continue;
        };
        let specs: Vec<AssignmentSpec> = list.iter().map(Assignment::spec).collect();
        policies.push((row.id.clone(), store::engine_policy(&row.body, &specs)));
    }
    let set = build(&catalog, &policies).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "active_set_invalid",
            format!(
                "the organization's active policy set does not validate: {}",
                e.message
            ),
        )
        .with_details(e.details.map_or(Value::Null, |d| *d))
    })?;
    let ids: BTreeSet<&str> = policies.iter().map(|(id, _)| id.as_str()).collect();
    let mut exceptions = Vec::new();
    for row in &exception_rows {
        let entry = exception_entry(row)?;
        if ids.contains(entry.policy_id.as_str()) {
            exceptions.push(entry);
        }
    }
    let meta = rows
        .iter()
        .map(|row| {
            let field = |k: &str| row.body.get(k).and_then(Value::as_str).map(str::to_string);
            (row.id.clone(), (field("action"), field("risk")))
        })
        .collect();
    Ok(ActiveSet {
        meta,
        generation,
        catalog,
        policies,
        set: Arc::new(set),
        exceptions,
    })
}

/// The exceptions of one policy that are not revoked (for a policy outside the active
/// set, whose exceptions the cached set does not hold).
pub async fn exceptions_of(db: &Db, org: &str, policy_id: &str) -> ApiResult<Vec<ExceptionEntry>> {
    let rows = sqlx::query(&format!(
        "SELECT {EXCEPTION_COLUMNS} FROM exceptions \
         WHERE org_id = $1 AND policy_id = $2 AND revoked_at IS NULL ORDER BY id"
    ))
    .bind(org)
    .bind(policy_id)
    .fetch_all(&db.read)
    .await?;
    rows.iter().map(exception_entry).collect()
}

/// Validates engine-shaped policies against the catalog.
pub fn build(catalog: &Value, policies: &[(String, Value)]) -> ApiResult<PolicySet> {
    store::validate(catalog, policies.iter().map(|(_, p)| p.clone()).collect())
}

/// An exception that exempts this caller from a policy that would otherwise apply.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct AppliedException {
    pub id: String,
    pub policy_id: String,
}

impl ExceptionEntry {
    /// The `except` entries this exception stands for.
    fn subjects(&self) -> Subjects {
        let one = vec![self.subject.clone()];
        match self.subject_kind.as_str() {
            "user" => Subjects {
                users: one,
                ..Subjects::default()
            },
            "role" => Subjects {
                roles: one,
                ..Subjects::default()
            },
            _ => Subjects::default(),
        }
    }
}

/// The exceptions that would change what the engine does for `ctx`: not expired, their
/// subject is the caller, their policy applies to the caller, and they lift at least one
/// of its rules.
pub fn candidates(
    set: &PolicySet,
    exceptions: &[ExceptionEntry],
    ctx: &Context,
) -> Vec<ExceptionEntry> {
    let now = now_ms();
    exceptions
        .iter()
        .filter(|e| e.expires_at.is_none_or(|t| t > now))
        .filter(|e| {
            set.policies
                .iter()
                .find(|p| p.id == e.policy_id)
                .is_some_and(|p| {
                    exempts(p, &e.subjects(), ctx)
                        && p.rules
                            .iter()
                            .enumerate()
                            .any(|(i, r)| e.lift().covers(i, r))
                })
        })
        .cloned()
        .collect()
}

/// The set for one request: the rules the `applied` exceptions lift are lifted (their
/// policies still apply). Borrows the cached set when there are none.
pub fn with_exceptions(set: &Arc<PolicySet>, applied: &[ExceptionEntry]) -> Arc<PolicySet> {
    if applied.is_empty() {
        return set.clone();
    }
    let mut set = (**set).clone();
    for e in applied {
        set.lift(&e.policy_id, &e.lift());
    }
    Arc::new(set)
}

/// Uses one of each exception atomically; returns those that still had a use left and
/// had not expired (a concurrent caller may have taken the last use).
pub async fn consume(
    tx: &mut Tx,
    org: &str,
    candidates: &[ExceptionEntry],
) -> ApiResult<Vec<ExceptionEntry>> {
    let now = now_ms();
    let mut used = Vec::new();
    for e in candidates {
        let result = sqlx::query(
            "UPDATE exceptions SET uses = uses + 1 WHERE org_id = $1 AND id = $2 \
             AND revoked_at IS NULL AND (max_uses IS NULL OR uses < max_uses) \
             AND (expires_at IS NULL OR expires_at > $3)",
        )
        .bind(org)
        .bind(&e.id)
        .bind(now)
        .execute(&mut **tx)
        .await?;
        if result.rows_affected() == 1 {
            used.push(e.clone());
        }
    }
    Ok(used)
}

/// The candidates that still have a use left, without using them (dry runs).
pub async fn usable(
    db: &Db,
    org: &str,
    candidates: Vec<ExceptionEntry>,
) -> ApiResult<Vec<ExceptionEntry>> {
    let now = now_ms();
    let mut usable = Vec::new();
    for e in candidates {
        let row = sqlx::query(
            "SELECT COUNT(*) FROM exceptions WHERE org_id = $1 AND id = $2 \
             AND revoked_at IS NULL AND (max_uses IS NULL OR uses < max_uses) \
             AND (expires_at IS NULL OR expires_at > $3)",
        )
        .bind(org)
        .bind(&e.id)
        .bind(now)
        .fetch_one(&db.read)
        .await?;
        let n: i64 = row.try_get(0)?;
        if n > 0 {
            usable.push(e);
        }
    }
    Ok(usable)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: &str, subject: &str) -> ExceptionEntry {
        ExceptionEntry {
            id: "exc".into(),
            policy_id: "p".into(),
            subject_kind: kind.into(),
            subject: subject.into(),
            expires_at: None,
            rules: None,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn shared_generation_reads_see_every_change_committed_before_them() {
        let dir = std::env::temp_dir().join(format!("verdict-generations-{}", std::process::id()));
        let db = Db::connect(&Db::sqlite_url_in(&dir).unwrap())
            .await
            .unwrap();
        let org = crate::auth::create_token(&db, "acme", "ada", "admin", None)
            .await
            .unwrap()
            .org;
        let org_id: String = sqlx::query("SELECT id FROM orgs WHERE name = $1")
            .bind(&org)
            .fetch_one(&db.read)
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        let generations = Arc::new(Generations::default());
        for round in 1..=20i64 {
            sqlx::query("UPDATE orgs SET generation = $1 WHERE id = $2")
                .bind(round)
                .bind(&org_id)
                .execute(&db.write)
                .await
                .unwrap();
            // Concurrent readers arriving after the change all see it.
            let readers: Vec<_> = (0..8)
                .map(|_| {
                    let (g, db, org_id) = (generations.clone(), db.clone(), org_id.clone());
                    tokio::spawn(async move { g.read(&db, &org_id).await.unwrap() })
                })
                .collect();
            for r in readers {
                assert_eq!(r.await.unwrap(), round);
            }
        }
        db.close().await;
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn exceptions_lift_rules_of_their_policy() {
        let set = Arc::new(
            PolicySet::parse(
                r#"{"policies": [{"id": "p", "applies_to": {"roles": ["analyst"], "datasets": ["mart"]},
                    "rules": [{"type": "row_filter", "table": "t", "predicate": "a = 1"},
                              {"type": "deny", "table": "u"}]},
                    {"id": "q", "rules": [{"type": "deny", "table": "u"}]}]}"#,
            )
            .unwrap(),
        );
        let alice: Context =
            Context::from_json_str(r#"{"user": "alice", "roles": ["analyst"], "dataset": "mart"}"#)
                .unwrap();
        let elsewhere: Context =
            Context::from_json_str(r#"{"user": "alice", "roles": ["analyst"], "dataset": "lake"}"#)
                .unwrap();
        let by_user = entry("user", "alice");
        let by_role = entry("role", "analyst");
        assert_eq!(
            candidates(&set, std::slice::from_ref(&by_user), &alice).len(),
            1
        );
        assert_eq!(
            candidates(&set, std::slice::from_ref(&by_role), &alice).len(),
            1
        );
        // Outside the policy's dataset scope the policy does not apply: nothing to use up.
        assert!(candidates(&set, std::slice::from_ref(&by_user), &elsewhere).is_empty());
        assert!(candidates(&set, &[entry("user", "bob")], &alice).is_empty());
        let expired = ExceptionEntry {
            expires_at: Some(1),
            ..by_user.clone()
        };
        assert!(candidates(&set, &[expired], &alice).is_empty());

        // A default exception on a policy with nothing it lifts (a deny only) is not used.
        let on_q = ExceptionEntry {
            policy_id: "q".into(),
            ..by_user.clone()
        };
        assert!(candidates(&set, std::slice::from_ref(&on_q), &alice).is_empty());
        // Naming the deny makes it one.
        let named = ExceptionEntry {
            rules: Some(vec![0]),
            ..on_q
        };
        assert_eq!(
            candidates(&set, std::slice::from_ref(&named), &alice).len(),
            1
        );

        assert!(Arc::ptr_eq(&with_exceptions(&set, &[]), &set));
        let lifted = with_exceptions(&set, &[by_user, by_role, named]);
        let p = lifted.policies.iter().find(|p| p.id == "p").unwrap();
        assert_eq!(p.lifted.iter().copied().collect::<Vec<_>>(), [0]);
        assert!(p.except.users.is_empty(), "the policy still applies");
        let q = lifted.policies.iter().find(|p| p.id == "q").unwrap();
        assert_eq!(q.lifted.iter().copied().collect::<Vec<_>>(), [0]);
    }
}
