//! The conformance suite's SELECT cases through the proxy: for every case and context
//! (logged in with a JWT carrying that context), what the client gets through the proxy
//! must equal what the engine's rewritten SQL gives when run directly — the same rows, or
//! the same error — and a statement the engine blocks must come back as 42501 with the
//! verdict's reason and no row. The oracle comparison itself stays the conformance
//! suite's job (`cargo test -p verdict-conformance`); this checks the data plane adds
//! nothing and loses nothing.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use postgres::{Client, SimpleQueryMessage};
use serde::Deserialize;
use serde_json::Value as Json;
use verdict_engine::{evaluate, Context, PolicySet};
use verdict_proxy::{JwtConfig, Limits, Principals, Proxy, Target};

use crate::env::{login_at, Env, JWT_SECRET};
use crate::{case, Case};

pub fn all() -> Vec<Case> {
    vec![
        case!(conformance_selects_through_proxy),
        case!(conformance_writes_through_proxy),
    ]
}

const DB: &str = "conformance_real";
const ROLE: &str = "conformance_app";
/// The role the write cases run as (the conformance suite's writer grants).
const WRITER: &str = "conformance_proxy_writer";

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance")
}

fn read(name: &str) -> String {
    std::fs::read_to_string(dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[derive(Deserialize)]
struct Entry {
    id: String,
    sql: String,
    #[serde(default)]
    contexts: Option<Vec<String>>,
}

/// What a client sees for one statement: rows as text (sorted: the cases' orders are
/// compared by the conformance suite), or an error's SQLSTATE and message.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Rows(Vec<Vec<Option<String>>>),
    Error(String, String),
}

fn run(client: &mut Client, sql: &str) -> Seen {
    match client.simple_query(sql) {
        Ok(messages) => {
            let mut rows: Vec<Vec<Option<String>>> = messages
                .into_iter()
                .filter_map(|m| match m {
                    SimpleQueryMessage::Row(r) => {
                        Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
                    }
                    _ => None,
                })
                .collect();
            rows.sort();
            Seen::Rows(rows)
        }
        Err(e) => match e.as_db_error() {
            Some(db) => Seen::Error(db.code().code().to_string(), db.message().to_string()),
            None => Seen::Error("connection".into(), e.to_string()),
        },
    }
}

/// The conformance suite's real database (made once per run), with a read-only role
/// and a writer role.
fn prepare(env: &Env) {
    let mut admin = env.cluster.connect("postgres", "postgres").unwrap();
    let exists = !admin
        .query("SELECT 1 FROM pg_database WHERE datname = $1", &[&DB])
        .unwrap()
        .is_empty();
    if exists {
        return;
    }
    admin
        .batch_execute(&format!("CREATE DATABASE {DB}"))
        .unwrap();
    admin
        .batch_execute(&format!(
            "CREATE ROLE {ROLE} LOGIN NOSUPERUSER; CREATE ROLE {WRITER} LOGIN NOSUPERUSER"
        ))
        .unwrap();
    let mut real = env.cluster.connect(DB, "postgres").unwrap();
    for file in ["schema.sql", "real_extras.sql", "app_functions.sql"] {
        real.batch_execute(&read(file)).unwrap();
    }
    real.batch_execute(&format!(
        "GRANT USAGE ON SCHEMA public, archive TO {ROLE}, {WRITER};
         GRANT SELECT ON ALL TABLES IN SCHEMA public, archive TO {ROLE};
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {WRITER};
         GRANT SELECT ON ALL TABLES IN SCHEMA archive TO {WRITER};"
    ))
    .unwrap();
}

/// A proxy for the conformance policies (without quotas) in front of the real database
/// as `role`, on `runtime`.
fn proxy_for(
    env: &Env,
    runtime: &tokio::runtime::Runtime,
    policies: &str,
    role: &str,
) -> std::net::SocketAddr {
    runtime.block_on(async {
        let config = verdict_proxy::Config {
            target: Target::parse(&format!(
                "postgres://{role}@127.0.0.1:{}/{DB}",
                env.cluster.port()
            ))
            .unwrap(),
            source: verdict_proxy::Source::Files {
                policies: PolicySet::parse(policies).unwrap(),
                principals: Principals::default(),
            },
            jwt: Some(JwtConfig::hs256(JWT_SECRET).unwrap()),
            limits: Limits::default(),
            tls: None,
            audit: None,
        };
        let proxy = Proxy::bind("127.0.0.1:0", config).await.unwrap();
        let addr = proxy.local_addr().unwrap();
        tokio::spawn(proxy.serve());
        addr
    })
}

/// The contexts, by name.
fn contexts() -> BTreeMap<String, Json> {
    let mut contexts: BTreeMap<String, Json> = BTreeMap::new();
    for entry in std::fs::read_dir(dir().join("contexts")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "json") {
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            contexts.insert(name, serde_json::from_str(&text).unwrap());
        }
    }
    contexts
}

/// The cases of a directory of the suite (`cases`, `writes`), named `file/id`.
fn cases(sub: &str) -> Vec<(String, Entry)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir().join(sub))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for file in files {
        let stem = file.file_stem().unwrap().to_string_lossy().into_owned();
        let entries: Vec<Entry> =
            serde_yaml_ng::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
        cases.extend(entries.into_iter().map(|e| (format!("{stem}/{}", e.id), e)));
    }
    cases
}

fn conformance_selects_through_proxy(env: &Env) {
    prepare(env);
    // The quotas (queries_per_hour/day) are counted state: case `quotas_are_counted`
    // tests them; here both sides judge without them, so that every case compares.
    let policies = without_quotas(&read("policies.json"));
    let set = PolicySet::parse(&policies).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let proxy = proxy_for(env, &runtime, &policies, ROLE);
    let contexts = contexts();
    let cases = cases("cases");

    let mut direct = env.cluster.connect(DB, ROLE).unwrap();
    let (mut same_rows, mut same_errors, mut blocked) = (0usize, 0usize, 0usize);
    let mut passed_vetted = 0usize;
    let mut passed_catalog = 0usize;
    let mut wrong: Vec<String> = Vec::new();
    let mut leaks: Vec<String> = Vec::new();
    for (name, ctx_json) in &contexts {
        let ctx = Context::from_json(ctx_json).unwrap();
        let mut claims = ctx_json.clone();
        claims["exp"] = serde_json::json!(crate::env::now() + 3600);
        let token = env.jwt(claims);
        let mut client = login_at(proxy, name, &token).unwrap();
        for (id, case) in &cases {
            if case
                .contexts
                .as_ref()
                .is_some_and(|c| !c.iter().any(|c| c == name))
            {
                continue;
            }
            let verdict = evaluate(&set, &case.sql, &ctx);
            let through = run(&mut client, &case.sql);
            let what = format!("{id} as {name}");
            let is_block = verdict.is_block();
            // The vetted driver chatter (empty texts, BEGIN/COMMIT/ROLLBACK, SELECT
            // version()) passes though the engine alone blocks it; it reads no table. So do
            // catalog reads, with their relations filtered to the readable tables.
            let vetted = match verdict_proxy::judge::judge(&set, &ctx, &case.sql) {
                verdict_proxy::judge::Judged::Forward(text) if is_block => Some(text),
                _ => None,
            };
            if let Some(text) = vetted {
                let trimmed = case
                    .sql
                    .trim_matches(|c: char| c.is_whitespace() || c == ';');
                let catalog = verdict_proxy::catalog::answer(&set, &ctx, &case.sql).is_some();
                assert!(
                    trimmed.is_empty()
                        || verdict_proxy::vetted::may_be_vetted(&case.sql)
                        || catalog,
                    "{what}: passed without the engine"
                );
                let want = run(&mut direct, &text);
                if through == want && catalog {
                    passed_catalog += 1;
                } else if through == want {
                    passed_vetted += 1;
                } else {
                    wrong.push(format!(
                        "{what}: vetted, proxy {through:?}, direct {want:?}"
                    ));
                }
                continue;
            }
            match verdict.rewritten_sql.clone().filter(|_| !is_block) {
                None => match &through {
                    Seen::Error(code, message) if code == "42501" && *message == verdict.reason => {
                        blocked += 1
                    }
                    Seen::Rows(_) => leaks.push(format!("{what}: blocked, yet rows came back")),
                    other => wrong.push(format!("{what}: blocked, proxy said {other:?}")),
                },
                Some(rewritten) => {
                    let want = run(&mut direct, &rewritten);
                    if through == want {
                        match want {
                            Seen::Rows(_) => same_rows += 1,
                            Seen::Error(..) => same_errors += 1,
                        }
                    } else {
                        wrong.push(format!("{what}: proxy {through:?}, direct {want:?}"));
                    }
                }
            }
            if matches!(&through, Seen::Error(c, _) if c == "connection") {
                client = login_at(proxy, name, &token).unwrap();
            }
        }
    }
    print!(
        "({} cases x {} contexts: {same_rows} same rows, {same_errors} same errors, {blocked} blocks as 42501, {passed_vetted} vetted passed, {passed_catalog} catalog reads filtered, {} wrong, {} leaks) ",
        cases.len(),
        contexts.len(),
        wrong.len(),
        leaks.len()
    );
    assert!(leaks.is_empty(), "{leaks:#?}");
    assert!(
        wrong.is_empty(),
        "{}",
        wrong
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(same_rows > 1000 && blocked > 100);
    drop(runtime);
}

/// The policy set's text without `queries_per_hour`/`queries_per_day` (a limit rule left
/// with nothing else to say goes too).
fn without_quotas(text: &str) -> String {
    let mut set: Json = serde_json::from_str(text).unwrap();
    for policy in set["policies"].as_array_mut().unwrap() {
        let rules = policy["rules"].as_array_mut().unwrap();
        for rule in rules.iter_mut() {
            if let Some(obj) = rule.as_object_mut() {
                obj.remove("queries_per_hour");
                obj.remove("queries_per_day");
            }
        }
        rules.retain(|r| r.as_object().is_some_and(|o| o.len() > 1));
    }
    set.to_string()
}

/// The contexts the write cases run in when they name none (contexts.yaml: `suites`
/// absent, or naming `writes`).
fn write_suite_contexts() -> Vec<String> {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(&read("contexts.yaml")).unwrap();
    let map = doc.as_mapping().unwrap();
    map.iter()
        .filter(|(_, v)| match v.get("suites") {
            None => true,
            Some(list) => list
                .as_sequence()
                .unwrap()
                .iter()
                .any(|s| s.as_str() == Some("writes")),
        })
        .map(|(k, _)| k.as_str().unwrap().to_string())
        .collect()
}

/// What a client sees for one write: the rows (RETURNING, COPY … TO STDOUT lines; sorted)
/// and the rows each statement reports, or an error.
fn run_write(client: &mut Client, sql: &str) -> Seen {
    let upper = sql.trim_start().to_ascii_uppercase();
    if upper.starts_with("COPY") && upper.contains("FROM STDIN") {
        // COPY … FROM STDIN with no data: what runs is the COPY statement itself.
        let result = client.copy_in::<_>(sql).and_then(|w| w.finish());
        return match result {
            Ok(n) => Seen::Rows(vec![vec![Some(format!("COPY {n}"))]]),
            Err(e) => seen_error(&e),
        };
    }
    if upper.starts_with("COPY") && upper.contains("TO STDOUT") {
        use std::io::Read;
        return match client.copy_out(sql) {
            Ok(mut r) => {
                let mut text = String::new();
                match r.read_to_string(&mut text) {
                    Ok(_) => {
                        let mut lines: Vec<Vec<Option<String>>> =
                            text.lines().map(|l| vec![Some(l.to_string())]).collect();
                        lines.sort();
                        Seen::Rows(lines)
                    }
                    Err(e) => Seen::Error("io".into(), e.to_string()),
                }
            }
            Err(e) => seen_error(&e),
        };
    }
    match client.simple_query(sql) {
        Ok(messages) => {
            let mut rows: Vec<Vec<Option<String>>> = Vec::new();
            let mut counts = Vec::new();
            for m in messages {
                match m {
                    SimpleQueryMessage::Row(r) => rows.push(
                        (0..r.len())
                            .map(|i| r.get(i).map(without_timings))
                            .collect(),
                    ),
                    SimpleQueryMessage::CommandComplete(n) => counts.push(n),
                    _ => {}
                }
            }
            rows.sort();
            rows.push(vec![Some(format!("counts {counts:?}"))]);
            Seen::Rows(rows)
        }
        Err(e) => seen_error(&e),
    }
}

fn seen_error(e: &postgres::Error) -> Seen {
    match e.as_db_error() {
        Some(db) => Seen::Error(db.code().code().to_string(), db.message().to_string()),
        None => Seen::Error("connection".into(), e.to_string()),
    }
}

/// The write suite's cases through the proxy, each in `BEGIN … ROLLBACK` on both sides:
/// what the client gets through the proxy (RETURNING rows, affected-row counts, COPY
/// output, errors) equals what the engine's rewritten SQL gives directly, and a block is
/// 42501 with the verdict's reason. The oracle stays the conformance suite's job.
fn conformance_writes_through_proxy(env: &Env) {
    prepare(env);
    let policies = without_quotas(&read("policies.json"));
    let set = PolicySet::parse(&policies).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let proxy = proxy_for(env, &runtime, &policies, WRITER);
    let contexts = contexts();
    let suite = write_suite_contexts();
    let cases = cases("writes");
    let mut direct = env.cluster.connect(DB, WRITER).unwrap();
    let (mut same_rows, mut same_errors, mut blocked, mut vetted, mut checks) =
        (0usize, 0usize, 0usize, 0usize, 0usize);
    let mut wrong: Vec<String> = Vec::new();
    let mut leaks: Vec<String> = Vec::new();
    let tx = |c: &mut Client, sql: &str, what: &str| {
        c.batch_execute(sql)
            .unwrap_or_else(|e| panic!("{what}: {sql}: {e}"))
    };
    for (name, ctx_json) in &contexts {
        let ctx = Context::from_json(ctx_json).unwrap();
        let mut claims = ctx_json.clone();
        claims["exp"] = serde_json::json!(crate::env::now() + 3600);
        let token = env.jwt(claims);
        let mut client = login_at(proxy, name, &token).unwrap();
        for (id, case) in &cases {
            let runs_here = match &case.contexts {
                Some(list) => list.iter().any(|c| c == name),
                None => suite.iter().any(|c| c == name),
            };
            if !runs_here {
                continue;
            }
            checks += 1;
            let what = format!("{id} as {name}");
            let verdict = evaluate(&set, &case.sql, &ctx);
            let judged = verdict_proxy::judge::judge(&set, &ctx, &case.sql);
            tx(&mut client, "BEGIN", &what);
            let through = run_write(&mut client, &case.sql);
            if matches!(&through, Seen::Error(c, _) if c == "connection") {
                client = login_at(proxy, name, &token).unwrap();
            } else {
                tx(&mut client, "ROLLBACK", &what);
            }
            let want = |text: &str, direct: &mut Client| {
                tx(direct, "BEGIN", &what);
                let want = run_write(direct, text);
                tx(direct, "ROLLBACK", &what);
                want
            };
            match (&judged, verdict.is_block()) {
                // Vetted statements and catalog reads pass though the engine blocks them.
                (verdict_proxy::judge::Judged::Forward(text), true) => {
                    let w = want(text, &mut direct);
                    if through == w {
                        vetted += 1;
                    } else {
                        wrong.push(format!("{what}: vetted, proxy {through:?}, direct {w:?}"));
                    }
                }
                (_, true) => match &through {
                    Seen::Error(code, message) if code == "42501" && *message == verdict.reason => {
                        blocked += 1
                    }
                    Seen::Rows(_) => leaks.push(format!("{what}: blocked, yet it ran")),
                    other => wrong.push(format!("{what}: blocked, proxy said {other:?}")),
                },
                (_, false) => {
                    let rewritten = verdict.rewritten_sql.clone().unwrap();
                    let w = want(&rewritten, &mut direct);
                    if through == w {
                        match w {
                            Seen::Rows(_) => same_rows += 1,
                            Seen::Error(..) => same_errors += 1,
                        }
                    } else {
                        wrong.push(format!("{what}: proxy {through:?}, direct {w:?}"));
                    }
                }
            }
        }
    }
    print!(
        "({} write cases, {checks} checks: {same_rows} same results, {same_errors} same errors, {blocked} blocks as 42501, {vetted} vetted passed, {} wrong, {} leaks) ",
        cases.len(),
        wrong.len(),
        leaks.len()
    );
    assert!(leaks.is_empty(), "{leaks:#?}");
    assert!(
        wrong.is_empty(),
        "{}",
        wrong
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    assert!(same_rows > 200 && blocked > 100, "too few checks compared");
    drop(runtime);
}

/// A line of `EXPLAIN ANALYZE` output without its timings, which differ run to run
/// (`actual time=0.017..0.025`, `Execution Time: 0.059 ms`); anything else as it is.
fn without_timings(line: &str) -> String {
    let trimmed = line.trim_start();
    if trimmed.starts_with("Planning Time:") || trimmed.starts_with("Execution Time:") {
        return line.replace(|c: char| c.is_ascii_digit(), "0");
    }
    let Some(at) = line.find("actual time=") else {
        return line.to_string();
    };
    let start = at + "actual time=".len();
    let end = line[start..].find(' ').map_or(line.len(), |e| start + e);
    format!(
        "{}{}{}",
        &line[..start],
        line[start..end].replace(|c: char| c.is_ascii_digit(), "0"),
        &line[end..]
    )
}
