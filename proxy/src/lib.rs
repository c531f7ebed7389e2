#![doc = include_str!("../README.md")]

pub mod audit;
pub mod catalog;
pub mod frame;
pub mod judge;
pub mod login;
pub mod quota;
pub mod relay;
pub mod scram;
mod session;
pub mod source;
pub mod upstream;
pub mod upstream_tls;
pub mod vetted;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use verdict_engine::PolicySet;

pub use login::{JwtConfig, Principals};
pub use upstream::Target;

/// Default largest frontend message, in bytes (PostgreSQL's own limit is 1 GB).
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 16 << 20;
/// Default number of client connections served at once.
pub const DEFAULT_MAX_CONNECTIONS: usize = 100;

/// Limits on what one client may hold or send.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest frontend message after startup; a larger one closes the connection.
    pub max_message_bytes: usize,
    /// Client connections served at once; one more is refused with 53300.
    pub max_connections: usize,
    /// Time a client has to log in.
    pub startup_timeout: Duration,
    /// Time a client may stay silent with nothing running; zero means no limit.
    pub idle_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            startup_timeout: Duration::from_secs(10),
            idle_timeout: Duration::ZERO,
        }
    }
}

/// Everything a proxy needs to run.
pub struct Config {
    pub target: Target,
    /// Where the policies and principals come from.
    pub source: Source,
    pub jwt: Option<JwtConfig>,
    pub limits: Limits,
    /// TLS towards clients (SSL requests are answered `N` without it).
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Where every judged text is recorded.
    pub audit: Option<Arc<audit::AuditLog>>,
}

/// Where a proxy's policies and principals come from.
pub enum Source {
    /// A standalone set and principals (files), fixed for the proxy's life.
    Files {
        policies: PolicySet,
        principals: Principals,
    },
    /// An organization of the server's store (by name), kept current.
    Store { db: verdict_server::Db, org: String },
}

/// A TLS acceptor from a PEM certificate chain and a PEM private key.
pub fn tls_acceptor(cert_pem: &[u8], key_pem: &[u8]) -> Result<tokio_rustls::TlsAcceptor, String> {
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("the TLS certificate is not PEM: {e}"))?;
    if certs.is_empty() {
        return Err("the TLS certificate file holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem)
        .map_err(|e| format!("the TLS key is not a PEM private key: {e}"))?;
    // ring rather than aws-lc-rs: no C toolchain and cmake in the build. rustls 0.23.48
    // deprecates ring's provider only for lacking post-quantum key exchange.
    #[allow(deprecated)]
    let provider = Arc::new(tokio_rustls::rustls::crypto::ring::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| format!("the TLS certificate and key do not fit: {e}"))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// What the sessions share.
pub(crate) struct Shared {
    pub source: Arc<source::Live>,
    pub target: Target,
    pub jwt: Option<JwtConfig>,
    pub limits: Limits,
    /// Client cancel key → upstream cancel key.
    pub cancels: Mutex<HashMap<(i32, i32), (i32, i32)>>,
    /// Random per process: the SCRAM salt shown for user names that do not exist.
    pub mock_salt_secret: [u8; 32],
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    pub quotas: Arc<quota::Quotas>,
    pub audit: Option<Arc<audit::AuditLog>>,
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot listen on {0}: {1}")]
    Listen(String, std::io::Error),
    #[error("{0}")]
    Config(String),
}

/// A bound proxy, ready to serve.
pub struct Proxy {
    listener: TcpListener,
    shared: Arc<Shared>,
}

impl Proxy {
    /// Binds `listen` (`HOST:PORT`; port 0 picks a free one).
    pub async fn bind(listen: &str, mut config: Config) -> Result<Proxy, StartError> {
        let quotas = quota::Quotas::default();
        let live = match config.source {
            Source::Files {
                policies,
                principals,
            } => {
                if principals.is_empty() && config.jwt.is_none() {
                    return Err(StartError::Config(
                        "no way to log in: give --principals FILE, a JWT key (--jwt-secret-file or --jwt-public-key), or both".into(),
                    ));
                }
                source::Live::fixed(policies, principals)
            }
            Source::Store { db, org } => {
                let store = source::Store::open(db.clone(), &org)
                    .await
                    .map_err(StartError::Config)?;
                // Violations raise the organization's alerts: this instance delivers them
                // too (deliveries are claimed in the store, so instances share the queue).
                let alerts = Arc::new(verdict_server::alerts::Queue::default());
                verdict_server::alerts::spawn_worker(
                    db.clone(),
                    alerts.clone(),
                    verdict_server::alerts::WorkerConfig::from_env(),
                );
                // Every judged statement becomes an evaluation of the organization; limits
                // and exceptions are the store's (`judge::OnStore`).
                let sink = audit::StoreSink::start(db, store.org_id().to_string(), alerts);
                let log = config
                    .audit
                    .as_deref()
                    .cloned()
                    .unwrap_or_default()
                    .with_store(sink);
                config.audit = Some(Arc::new(log));
                store.live().await.map_err(StartError::Config)?
            }
        };
        let mut mock_salt_secret = [0u8; 32];
        getrandom::fill(&mut mock_salt_secret)
            .map_err(|e| StartError::Config(format!("no randomness: {e}")))?;
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|e| StartError::Listen(listen.to_string(), e))?;
        Ok(Proxy {
            listener,
            shared: Arc::new(Shared {
                source: live,
                target: config.target,
                jwt: config.jwt,
                limits: config.limits,
                cancels: Mutex::new(HashMap::new()),
                mock_salt_secret,
                tls: config.tls,
                quotas: Arc::new(quotas),
                audit: config.audit,
            }),
        })
    }

    /// The policies and principals in force (and, on a store, its state-change log).
    pub fn source(&self) -> Arc<source::Live> {
        self.shared.source.clone()
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves clients until the task is dropped.
    pub async fn serve(self) -> std::io::Result<()> {
        let permits = Arc::new(Semaphore::new(self.shared.limits.max_connections));
        loop {
            let (mut socket, peer) = match self.listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors and the like: wait and keep serving.
                    eprintln!("verdict proxy: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let shared = self.shared.clone();
            match permits.clone().try_acquire_owned() {
                Ok(permit) => {
                    tokio::spawn(async move {
                        session::serve(socket, peer, shared).await;
                        drop(permit);
                    });
                }
                Err(_) => {
                    tokio::spawn(async move {
                        let msg = judge::fatal("53300", "sorry, too many clients already");
                        // Answer after the client's first message, as PostgreSQL does; a
                        // client that sends nothing is dropped after a moment.
                        let mut first = [0u8; 8];
                        let _ = tokio::time::timeout(Duration::from_secs(2), async {
                            use tokio::io::AsyncReadExt;
                            let _ = socket.read(&mut first).await;
                        })
                        .await;
                        let _ = socket.write_all(&msg).await;
                    });
                }
            }
        }
    }
}

/// Reads a policy set file (JSON or YAML).
pub fn load_policies(text: &str) -> Result<PolicySet, String> {
    PolicySet::parse(text).map_err(|e| {
        let mut msg = e.message.clone();
        for p in &e.problems {
            msg.push_str(&format!(
                "\n  {}",
                serde_json::to_string(p).unwrap_or_default()
            ));
        }
        msg
    })
}

/// The command line's view of a proxy: files and flags, read by [`Options::config`].
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub listen: String,
    pub upstream: String,
    /// A standalone policy set file …
    pub policies: Option<std::path::PathBuf>,
    pub principals: Option<std::path::PathBuf>,
    /// … or the server's store: its database URL …
    pub database: Option<String>,
    /// … or its data directory (SQLite `verdict.db` inside) …
    pub data_dir: Option<std::path::PathBuf>,
    /// … and the organization whose policies and principals apply (default `default`).
    pub org: Option<String>,
    /// The HS256 secret itself (from the environment) …
    pub jwt_secret: Option<String>,
    /// … or a file holding it.
    pub jwt_secret_file: Option<std::path::PathBuf>,
    /// An RS256 public key in PEM.
    pub jwt_public_key: Option<std::path::PathBuf>,
    pub jwt_audience: Option<String>,
    /// PEM certificate chain and private key for TLS towards clients.
    pub tls_cert: Option<std::path::PathBuf>,
    pub tls_key: Option<std::path::PathBuf>,
    /// JSON lines, one per judged SQL text.
    pub audit_log: Option<std::path::PathBuf>,
    pub limits: Limits,
}

fn read(path: &std::path::Path, what: &str) -> Result<String, StartError> {
    std::fs::read_to_string(path)
        .map_err(|e| StartError::Config(format!("cannot read {what} {}: {e}", path.display())))
}

impl Options {
    /// Reads the files, opens the store and checks the flags, reporting the first problem.
    pub async fn config(&self) -> Result<Config, StartError> {
        let target = Target::parse(&self.upstream).map_err(StartError::Config)?;
        let source = match (&self.policies, &self.database, &self.data_dir) {
            (Some(path), None, None) => {
                if self.org.is_some() {
                    return Err(StartError::Config(
                        "--org names an organization of the store; with --policies FILE there is none".into(),
                    ));
                }
                let policies = load_policies(&read(path, "the policy set")?)
                    .map_err(|e| StartError::Config(format!("{}: {e}", path.display())))?;
                let principals = match &self.principals {
                    Some(path) => Principals::parse(&read(path, "the principals file")?)
                        .map_err(|e| StartError::Config(format!("{}: {e}", path.display())))?,
                    None => Principals::default(),
                };
                Source::Files {
                    policies,
                    principals,
                }
            }
            (None, database, data_dir) if database.is_some() != data_dir.is_some() => {
                if self.principals.is_some() {
                    return Err(StartError::Config(
                        "with a store the principals are the organization's (/api/v1/principals); --principals FILE is for --policies FILE".into(),
                    ));
                }
                let url = match (database, data_dir) {
                    (Some(url), _) => url.clone(),
                    (None, Some(dir)) => verdict_server::Db::sqlite_url_in(dir)
                        .map_err(|e| StartError::Config(e.to_string()))?,
                    (None, None) => String::new(),
                };
                let db = verdict_server::Db::connect(&url)
                    .await
                    .map_err(|e| StartError::Config(format!("cannot open the store: {e}")))?;
                Source::Store {
                    db,
                    org: self.org.clone().unwrap_or_else(|| "default".to_string()),
                }
            }
            _ => {
                return Err(StartError::Config(
                    "give exactly one of --policies FILE, --database URL and --data-dir DIR".into(),
                ))
            }
        };
        let secret = match (&self.jwt_secret, &self.jwt_secret_file) {
            (Some(s), None) => Some(s.trim().to_string()),
            (None, Some(path)) => Some(read(path, "the JWT secret")?.trim().to_string()),
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err(StartError::Config(
                    "give the JWT secret once: in the environment or in a file".into(),
                ))
            }
        };
        let jwt = match (secret, &self.jwt_public_key) {
            (Some(s), None) => Some(JwtConfig::hs256(s.as_bytes()).map_err(StartError::Config)?),
            (None, Some(path)) => Some(
                JwtConfig::rs256(read(path, "the JWT public key")?.as_bytes())
                    .map_err(StartError::Config)?,
            ),
            (None, None) => None,
            (Some(_), Some(_)) => {
                return Err(StartError::Config(
                    "give either a JWT secret (HS256) or a public key (RS256), not both".into(),
                ))
            }
        };
        let jwt = match (&self.jwt_audience, jwt) {
            (Some(aud), Some(jwt)) => Some(jwt.with_audience(aud)),
            (None, jwt) => jwt,
            (Some(_), None) => {
                return Err(StartError::Config(
                    "--jwt-audience needs a JWT secret or public key".into(),
                ))
            }
        };
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => {
                let cert = std::fs::read(cert).map_err(|e| {
                    StartError::Config(format!(
                        "cannot read the TLS certificate {}: {e}",
                        cert.display()
                    ))
                })?;
                let key = std::fs::read(key).map_err(|e| {
                    StartError::Config(format!("cannot read the TLS key {}: {e}", key.display()))
                })?;
                Some(tls_acceptor(&cert, &key).map_err(StartError::Config)?)
            }
            (None, None) => None,
            _ => {
                return Err(StartError::Config(
                    "TLS needs both --tls-cert and --tls-key".into(),
                ))
            }
        };
        let audit = match &self.audit_log {
            Some(path) => Some(Arc::new(audit::AuditLog::open(path).map_err(|e| {
                StartError::Config(format!("cannot open the audit log {}: {e}", path.display()))
            })?)),
            None => None,
        };
        Ok(Config {
            target,
            source,
            jwt,
            limits: self.limits.clone(),
            tls,
            audit,
        })
    }
}

/// Runs a proxy until the process is interrupted (Ctrl-C / SIGTERM).
pub fn run(options: &Options) -> Result<(), StartError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| StartError::Config(format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async {
        let config = options.config().await?;
        let proxy = Proxy::bind(&options.listen, config).await?;
        if let Ok(addr) = proxy.local_addr() {
            eprintln!(
                "verdict proxy: listening on {addr}, upstream {}",
                proxy.shared.target.address()
            );
        }
        tokio::select! {
            r = proxy.serve() => r.map_err(|e| StartError::Listen(options.listen.clone(), e)),
            _ = shutdown_signal() => Ok(()),
        }
    })
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// A SCRAM-SHA-256 verifier for `password`, for the principals file.
pub fn hash_password(password: &str) -> String {
    postgres_protocol::password::scram_sha_256(password.as_bytes())
}
