//! Test support shared by Verdict's test suites (`publish = false`).
//!
//! [`Cluster`] is a throw-away PostgreSQL cluster: a temp directory, initdb, a free
//! loopback port, and always a stop and a removal at the end (the guard's `Drop`, also
//! after a failure). `VERDICT_PG_BIN` points at PostgreSQL's bin directory;
//! `VERDICT_KEEP_PGDATA=1` keeps the cluster's directory.

pub mod tls;

use std::ffi::{OsStr, OsString};
use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{SystemTime, UNIX_EPOCH};

#[cfg(feature = "client")]
use postgres::{Client, Config, NoTls};

/// The OS user that owns the cluster when we run as root (initdb refuses root).
const SERVER_OS_USER: &str = "postgres";

/// The cluster's superuser, created by initdb.
pub const SUPERUSER: &str = "postgres";

/// A running cluster; dropping it stops the server and removes its directory.
pub struct Cluster {
    /// Names the suite in messages, the directory and `application_name`.
    label: String,
    dir: PathBuf,
    bin: PathBuf,
    port: u16,
    /// `Some(user)` when server commands must run as another OS user.
    run_as: Option<String>,
    running: bool,
}

impl Cluster {
    /// Creates and starts a fresh cluster; `label` names the suite in messages
    /// (`conformance`, `server tests`), `max_connections` is the server's limit.
    pub fn start(label: &str, max_connections: u32) -> Result<Cluster, String> {
        let bin = find_bin_dir()?;
        let run_as = if is_root()? {
            Some(SERVER_OS_USER.to_string())
        } else {
            None
        };
        let base = if run_as.is_some() {
            // The server user must reach the directory: the root user's TMPDIR may not be
            // readable by it, /tmp always is.
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let dir = base.join(format!(
            "verdict-{}-{}-{nanos}",
            label.replace(|c: char| !c.is_ascii_alphanumeric(), "-"),
            std::process::id()
        ));
        fs::create_dir_all(dir.join("sock"))
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        // From here on the guard owns the directory: any early return removes it.
        let mut cluster = Cluster {
            label: label.to_string(),
            dir,
            bin,
            port: 0,
            run_as,
            running: false,
        };
        if let Some(user) = &cluster.run_as {
            let out = Command::new("chown")
                .arg("-R")
                .arg(format!("{user}:"))
                .arg(&cluster.dir)
                .output()
                .map_err(|e| format!("cannot run chown: {e}"))?;
            check(&out, "chown of the cluster directory")?;
        }
        cluster.initdb()?;
        // Another process may take the free port before the server binds it: retry.
        let mut attempt = 0;
        loop {
            attempt += 1;
            cluster.port = free_port()?;
            match cluster.start_server(max_connections) {
                Ok(()) => return Ok(cluster),
                Err(e) if attempt < 3 && e.contains("could not bind") => {
                    cluster.stop();
                    eprintln!(
                        "{}: port {} was taken, retrying",
                        cluster.label, cluster.port
                    );
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// The loopback port the server listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` for the superuser (trust authentication on loopback).
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{SUPERUSER}@127.0.0.1:{}/{db}", self.port)
    }

    /// A connection to `db` as `user` (trust authentication on loopback).
    #[cfg(feature = "client")]
    pub fn connect(&self, db: &str, user: &str) -> Result<Client, String> {
        Config::new()
            .host("127.0.0.1")
            .port(self.port)
            .user(user)
            .dbname(db)
            .application_name(&format!("verdict-{}", self.label))
            .connect(NoTls)
            .map_err(|e| format!("cannot connect to database {db} as {user}: {e}"))
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn log_file(&self) -> PathBuf {
        self.dir.join("server.log")
    }

    /// Runs a server binary with `args`, as the server's OS user when we are root
    /// (`runuser -u`, or `su` where util-linux's runuser is missing).
    fn run_server(&self, program: &str, args: &[OsString]) -> std::io::Result<Output> {
        let path = self.bin.join(program);
        match &self.run_as {
            None => Command::new(path).args(args).output(),
            Some(user) if find_in_path("runuser").is_some() => {
                Command::new(find_in_path("runuser").unwrap_or_else(|| PathBuf::from("runuser")))
                    .arg("-u")
                    .arg(user)
                    .arg("--")
                    .arg(path)
                    .args(args)
                    .output()
            }
            Some(user) => {
                let mut line = format!("exec {}", shell_quote(path.as_os_str()));
                for arg in args {
                    line.push(' ');
                    line.push_str(&shell_quote(arg));
                }
                Command::new("su")
                    .args(["-s", "/bin/sh", user.as_str(), "-c"])
                    .arg(line)
                    .output()
            }
        }
    }

    fn initdb(&self) -> Result<(), String> {
        let mut args = vec![OsString::from("-D"), self.data_dir().into_os_string()];
        args.extend(
            [
                "-U",
                SUPERUSER,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
            .map(OsString::from),
        );
        let out = self
            .run_server("initdb", &args)
            .map_err(|e| format!("cannot run initdb: {e}"))?;
        check(&out, "initdb")
    }

    fn start_server(&mut self, max_connections: u32) -> Result<(), String> {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -c port={} -c unix_socket_directories={} \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c max_connections={max_connections} -c shared_buffers=32MB \
             -c log_min_messages=warning -c datestyle=iso,mdy -c timezone=UTC",
            self.port,
            self.dir.join("sock").display()
        );
        let mut args = vec![
            OsString::from("-D"),
            self.data_dir().into_os_string(),
            OsString::from("-l"),
            self.log_file().into_os_string(),
        ];
        args.extend(["-w", "-t", "60", "-o", options.as_str(), "start"].map(OsString::from));
        let out = self
            .run_server("pg_ctl", &args)
            .map_err(|e| format!("cannot run pg_ctl start: {e}"))?;
        // pg_ctl may have started the server even when it reports a failure.
        self.running = true;
        check(&out, "pg_ctl start").map_err(|e| format!("{e}\n{}", self.log_tail()))
    }

    fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.log_file()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let from = lines.len().saturating_sub(20);
        let tail = lines.get(from..).unwrap_or_default().join("\n");
        format!("server log ({}):\n{tail}", self.log_file().display())
    }

    /// Stops the server now (the guard would do it at the end anyway).
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        let mut args = vec![OsString::from("-D"), self.data_dir().into_os_string()];
        args.extend(["-m", "immediate", "-w", "-t", "30", "stop"].map(OsString::from));
        let result = self.run_server("pg_ctl", &args);
        if let Ok(out) = result {
            if !out.status.success() {
                eprintln!(
                    "{}: pg_ctl stop failed: {}",
                    self.label,
                    String::from_utf8_lossy(&out.stderr).trim()
                );
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop();
        if std::env::var_os("VERDICT_KEEP_PGDATA").is_some() {
            eprintln!("{}: kept {}", self.label, self.dir.display());
            return;
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            eprintln!("{}: cannot remove {}: {e}", self.label, self.dir.display());
        }
    }
}

fn check(out: &Output, what: &str) -> Result<(), String> {
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "{what} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}

/// Single-quotes a word for `sh -c`.
fn shell_quote(word: &OsStr) -> String {
    format!("'{}'", word.to_string_lossy().replace('\'', "'\\''"))
}

fn is_root() -> Result<bool, String> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .map_err(|e| format!("cannot run `id -u`: {e}"))?;
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// A port nobody listens on right now (the OS picks it for a socket bound to port 0).
fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| format!("cannot bind a loopback port: {e}"))?;
    let port = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound port: {e}"))?
        .port();
    drop(listener);
    Ok(port)
}

fn has_server_binaries(dir: &Path) -> bool {
    ["initdb", "pg_ctl", "postgres"]
        .iter()
        .all(|b| dir.join(b).is_file())
}

/// `VERDICT_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`, else `PATH`.
fn find_bin_dir() -> Result<PathBuf, String> {
    if let Some(dir) = std::env::var_os("VERDICT_PG_BIN") {
        let dir = PathBuf::from(dir);
        if has_server_binaries(&dir) {
            return Ok(dir);
        }
        return Err(format!(
            "VERDICT_PG_BIN={} has no initdb, pg_ctl and postgres",
            dir.display()
        ));
    }
    let mut versioned: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            has_server_binaries(&bin).then_some((version, bin))
        })
        .collect();
    versioned.sort();
    if let Some((_, bin)) = versioned.pop() {
        return Ok(bin);
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if has_server_binaries(&dir) {
                // pg_ctl finds `postgres` beside its real location; resolve symlinks.
                let real = fs::canonicalize(dir.join("pg_ctl"))
                    .ok()
                    .and_then(|p| p.parent().map(Path::to_path_buf))
                    .filter(|d| has_server_binaries(d))
                    .unwrap_or(dir);
                return Ok(real);
            }
        }
    }
    Err(
        "no PostgreSQL server binaries (initdb, pg_ctl, postgres) found in \
         /usr/lib/postgresql/*/bin or PATH; run scripts/ensure-postgres.sh \
         or set VERDICT_PG_BIN"
            .to_string(),
    )
}
