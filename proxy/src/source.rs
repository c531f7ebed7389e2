//! Where the proxy's policies and principals come from: files read at start (fixed), or
//! the server's store, kept current by a task that checks the organization's generation
//! every [`REFRESH`] through the server's generation reads and active-set cache, so that
//! a change made on any server instance is seen within a second. A store that cannot be
//! read for [`STALE_AFTER`] fails closed: statements are blocked and logins refused until
//! a check succeeds again.

use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use verdict_engine::{Context, PolicySet};
use verdict_server::active::{ActiveSet, Cache, Generations};
use verdict_server::Db;

use crate::login::{Principal, Principals};
use crate::scram::Verifier;

/// How often the store's generation is checked.
pub const REFRESH: Duration = Duration::from_millis(250);
/// How long the last successful check stays good when the store cannot be read.
pub const STALE_AFTER: Duration = Duration::from_millis(1500);

/// The store could not be read recently: fail closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable;

#[derive(Debug)]
struct Snapshot {
    generation: i64,
    set: Arc<PolicySet>,
    /// On a store: the active set the policies come from (exceptions, actions and risks).
    active: Option<Arc<ActiveSet>>,
    principals: Arc<Principals>,
    checked: Instant,
}

/// The store a source reads, for what is judged against it.
#[derive(Debug, Clone)]
pub struct StoreRef {
    pub db: Db,
    pub org_id: String,
}

/// The most state-change lines a source keeps (the oldest go first).
const KEEP_EVENTS: usize = 64;

/// The policies and principals in force.
#[derive(Debug)]
pub struct Live {
    /// From files: never stale.
    fixed: bool,
    snapshot: RwLock<Snapshot>,
    store: Option<StoreRef>,
    /// The lines logged when the store became unreadable or readable again.
    events: Mutex<Vec<String>>,
}

impl Live {
    /// A fixed set and principals (files).
    pub fn fixed(set: PolicySet, principals: Principals) -> Arc<Live> {
        Arc::new(Live {
            fixed: true,
            snapshot: RwLock::new(Snapshot {
                generation: 0,
                set: Arc::new(set),
                active: None,
                principals: Arc::new(principals),
                checked: Instant::now(),
            }),
            store: None,
            events: Mutex::default(),
        })
    }

    /// Logs a change of the store's state (once per change, not per check).
    fn event(&self, line: String) {
        eprintln!("{line}");
        if let Ok(mut events) = self.events.lock() {
            if events.len() >= KEEP_EVENTS {
                events.remove(0);
            }
            events.push(line);
        }
    }

    /// The lines logged so far when the store became unreadable or readable again.
    pub fn store_events(&self) -> Vec<String> {
        self.events.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// On a store: the store and the active set in force (exceptions and alerts apply to
    /// statements judged against it).
    pub fn on_store(&self) -> Result<Option<(&StoreRef, Arc<ActiveSet>)>, Unavailable> {
        let Some(store) = &self.store else {
            return Ok(None);
        };
        Ok(self.fresh(|s| s.active.clone())?.map(|a| (store, a)))
    }

    fn fresh<T>(&self, pick: impl FnOnce(&Snapshot) -> T) -> Result<T, Unavailable> {
        let snapshot = self.snapshot.read().map_err(|_| Unavailable)?;
        if self.fixed || snapshot.checked.elapsed() < STALE_AFTER {
            Ok(pick(&snapshot))
        } else {
            Err(Unavailable)
        }
    }

    /// The active policy set.
    pub fn policies(&self) -> Result<Arc<PolicySet>, Unavailable> {
        self.fresh(|s| s.set.clone())
    }

    /// The principals.
    pub fn principals(&self) -> Result<Arc<Principals>, Unavailable> {
        self.fresh(|s| s.principals.clone())
    }

    /// Whether this source is files (and so needs principals or a JWT key to be usable).
    pub fn is_fixed(&self) -> bool {
        self.fixed
    }
}

/// The organization's active set and principals in the store.
pub struct Store {
    db: Db,
    org_id: String,
    cache: Cache,
    generations: Generations,
}

impl Store {
    /// Opens the organization named `org` of the store `db`.
    pub async fn open(db: Db, org: &str) -> Result<Store, String> {
        let org_id = verdict_server::store::org_id(&db, org)
            .await
            .map_err(|e| format!("cannot read the store: {}", e.cause()))?
            .ok_or_else(|| {
                format!(
                    "the store has no organization `{org}` (it is created with its first token)"
                )
            })?;
        Ok(Store {
            db,
            org_id,
            cache: Cache::default(),
            generations: Generations::default(),
        })
    }

    /// The organization's id in the store.
    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    /// Reads the current state, unless it is still at `known` generation.
    async fn read(&self, known: Option<i64>) -> Result<Option<Snapshot>, String> {
        let generation = self
            .generations
            .read(&self.db, &self.org_id)
            .await
            .map_err(|e| e.cause().to_string())?;
        if known == Some(generation) {
            return Ok(None);
        }
        let active = self
            .cache
            .get(&self.db, &self.org_id, generation)
            .await
            .map_err(|e| e.cause().to_string())?;
        let stored = verdict_server::principals::load(&self.db, &self.org_id)
            .await
            .map_err(|e| e.cause().to_string())?;
        let mut principals = Principals::default();
        for p in stored {
            // A stored principal the proxy cannot use cannot log in (fail closed).
            match (
                Verifier::parse(&p.verifier),
                Context::from_json_value(p.context),
            ) {
                (Ok(verifier), Ok(context)) => {
                    principals.insert(p.user, Principal { verifier, context });
                }
                _ => eprintln!(
                    "verdict proxy: principal `{}` in the store is unusable; it cannot log in",
                    p.user
                ),
            }
        }
        Ok(Some(Snapshot {
            generation: active.generation.max(generation),
            set: active.set.clone(),
            active: Some(active),
            principals: Arc::new(principals),
            checked: Instant::now(),
        }))
    }

    /// Reads the store once, then keeps the returned source current from a task of the
    /// current runtime.
    pub async fn live(self) -> Result<Arc<Live>, String> {
        let first = self
            .read(None)
            .await?
            .ok_or_else(|| "cannot read the store".to_string())?;
        let live = Arc::new(Live {
            fixed: false,
            snapshot: RwLock::new(first),
            store: Some(StoreRef {
                db: self.db.clone(),
                org_id: self.org_id.clone(),
            }),
            events: Mutex::default(),
        });
        let weak = Arc::downgrade(&live);
        tokio::spawn(async move {
            let mut failing = false;
            loop {
                tokio::time::sleep(REFRESH).await;
                let Some(live) = weak.upgrade() else { return };
                let known = live.snapshot.read().ok().map(|s| s.generation);
                match self.read(known).await {
                    Ok(update) => {
                        if failing {
                            live.event("verdict proxy: the store is readable again".into());
                            failing = false;
                        }
                        if let Ok(mut snapshot) = live.snapshot.write() {
                            match update {
                                Some(new) => *snapshot = new,
                                None => snapshot.checked = Instant::now(),
                            }
                        }
                    }
                    Err(e) => {
                        if !failing {
                            live.event(format!("verdict proxy: cannot read the store ({e}); statements are blocked and logins refused until it can"));
                            failing = true;
                        }
                    }
                }
            }
        });
        Ok(live)
    }
}
