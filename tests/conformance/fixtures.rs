//! The suite's files: the context manifest, contexts, oracle scripts and case files.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// What a check expects of the engine in one context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Expect {
    /// The engine allows; the rewritten SQL on the real tables gives what the original SQL
    /// gives on the context's oracle views.
    Match,
    /// The engine blocks.
    Block,
    /// The engine blocks, or PostgreSQL rejects the rewritten SQL; never a row.
    Reject,
    /// Syntax the engine may fail closed on (SPEC §4.1): blocking is conformant, and when
    /// the engine allows, the answer must match the oracle's.
    Optional,
}

impl Expect {
    pub fn as_str(self) -> &'static str {
        match self {
            Expect::Match => "match",
            Expect::Block => "block",
            Expect::Reject => "reject",
            Expect::Optional => "optional",
        }
    }
}

/// A sanity query on an oracle database and the rows it must give.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sanity {
    pub sql: String,
    pub rows: Vec<Vec<Option<String>>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestEntry {
    absent: Expect,
    #[serde(default)]
    block_rules: Vec<String>,
    #[serde(default)]
    sanity: Vec<Sanity>,
    /// The suites whose cases run here unless they name their contexts: `select`
    /// (cases/) and `writes` (writes/); absent = both.
    #[serde(default)]
    suites: Option<Vec<String>>,
}

/// One context: its JSON for the engine, its oracle script, and its manifest entry.
#[derive(Debug, Clone)]
pub struct ContextFixture {
    pub name: String,
    pub json: String,
    pub oracle_sql: String,
    /// The expectation when the oracle lacks a relation or column the SQL uses.
    pub absent: Expect,
    /// Verdict rules that may block a statement in this context besides the expected one
    /// (`deny` for what the oracle cannot see, or the case's `rule`).
    pub block_rules: Vec<String>,
    pub sanity: Vec<Sanity>,
    /// The suites (`select`, `writes`) whose cases run here by default.
    pub suites: Vec<String>,
}

impl ContextFixture {
    /// Whether cases of `suite` that do not name their contexts run here.
    pub fn in_suite(&self, suite: &str) -> bool {
        self.suites.iter().any(|s| s == suite)
    }
}

/// `expect:` in a case: one expectation for every context, or a map by context name
/// with an optional `default`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum ExpectSpec {
    One(Expect),
    Map(BTreeMap<String, Expect>),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct CaseEntry {
    id: String,
    sql: String,
    #[serde(default)]
    ordered: bool,
    #[serde(default)]
    contexts: Option<Vec<String>>,
    #[serde(default)]
    expect: Option<ExpectSpec>,
    #[serde(default)]
    rule: Option<String>,
    #[serde(default)]
    strict: bool,
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
}

/// One case: a SQL text run in several contexts.
#[derive(Debug, Clone)]
pub struct Case {
    /// `<file stem>/<id>`.
    pub id: String,
    pub sql: String,
    /// Compare rows in order (the SQL's ORDER BY is total) rather than as multisets.
    pub ordered: bool,
    /// The contexts to run in; `None` = all.
    pub contexts: Option<Vec<String>>,
    pub default_expect: Option<Expect>,
    pub expect: BTreeMap<String, Expect>,
    /// The verdict rule a block must name, when the case says.
    pub rule: Option<String>,
    /// A side-channel case: errors must match in message and detail, and the rewritten
    /// SQL must answer the same under every plan of [`crate::sql::PLANS`].
    pub strict: bool,
}

impl Case {
    /// The explicit expectation for a context; `None` lets the oracle decide (see `check`).
    pub fn expectation(&self, context: &str) -> Option<Expect> {
        self.expect.get(context).copied().or(self.default_expect)
    }

    pub fn runs_in(&self, ctx: &ContextFixture) -> bool {
        match &self.contexts {
            Some(list) => list.contains(&ctx.name),
            None => ctx.in_suite(SELECT_SUITE),
        }
    }
}

/// The suite of SELECT cases (cases/).
pub const SELECT_SUITE: &str = "select";
/// The suite of write and restriction cases (writes/).
pub const WRITES_SUITE: &str = "writes";

/// Everything the suite reads.
pub struct Fixtures {
    pub schema_sql: String,
    pub real_extras_sql: String,
    pub app_functions_sql: String,
    pub oracle_functions_sql: String,
    /// harness.sql: contents and fingerprint functions, with `{data}` for the schema.
    pub harness_sql: String,
    /// oracle/writable.sql: check options and the trigger views of every oracle.
    pub oracle_writable_sql: String,
    pub policies: String,
    pub contexts: Vec<ContextFixture>,
    pub cases: Vec<Case>,
    pub write_cases: Vec<WriteCase>,
}

fn read(path: &Path) -> Result<String, String> {
    fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

impl Fixtures {
    /// Loads and cross-checks every fixture under `dir` (tests/conformance).
    pub fn load(dir: &Path) -> Result<Fixtures, String> {
        let manifest_path = dir.join("contexts.yaml");
        let manifest: BTreeMap<String, ManifestEntry> =
            serde_yaml_ng::from_str(&read(&manifest_path)?)
                .map_err(|e| format!("{}: {e}", manifest_path.display()))?;
        let mut contexts = Vec::new();
        for (name, entry) in manifest {
            let suites = entry
                .suites
                .unwrap_or_else(|| vec![SELECT_SUITE.into(), WRITES_SUITE.into()]);
            if let Some(s) = suites
                .iter()
                .find(|s| *s != SELECT_SUITE && *s != WRITES_SUITE)
            {
                return Err(format!(
                    "{}: context `{name}` names unknown suite `{s}`",
                    manifest_path.display()
                ));
            }
            contexts.push(ContextFixture {
                suites,
                json: read(&dir.join("contexts").join(format!("{name}.json")))?,
                oracle_sql: read(&dir.join("oracle").join(format!("{name}.sql")))?,
                name,
                absent: entry.absent,
                block_rules: entry.block_rules,
                sanity: entry.sanity,
            });
        }
        // Every context file must be in the manifest, or it would silently never run.
        for entry in fs::read_dir(dir.join("contexts")).map_err(|e| e.to_string())? {
            let path = entry.map_err(|e| e.to_string())?.path();
            let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned());
            if path.extension().is_some_and(|e| e == "json")
                && !contexts.iter().any(|c| Some(&c.name) == stem.as_ref())
            {
                return Err(format!("{} is not listed in contexts.yaml", path.display()));
            }
        }
        let names: Vec<String> = contexts.iter().map(|c| c.name.clone()).collect();
        let cases = load_cases(&dir.join("cases"), &names)?;
        let write_cases = load_write_cases(&dir.join("writes"), &names)?;
        Ok(Fixtures {
            schema_sql: read(&dir.join("schema.sql"))?,
            real_extras_sql: read(&dir.join("real_extras.sql"))?,
            app_functions_sql: read(&dir.join("app_functions.sql"))?,
            oracle_functions_sql: read(&dir.join("oracle").join("functions.sql"))?,
            harness_sql: read(&dir.join("harness.sql"))?,
            oracle_writable_sql: read(&dir.join("oracle").join("writable.sql"))?,
            policies: read(&dir.join("policies.json"))?,
            contexts,
            cases,
            write_cases,
        })
    }

    /// The policy set without its `catalog` (the passes that check what the engine allows
    /// when it does not know the tables' columns).
    pub fn policies_without_catalog(&self) -> Result<verdict_engine::PolicySet, String> {
        let mut json: serde_json::Value =
            serde_json::from_str(&self.policies).map_err(|e| format!("policies.json: {e}"))?;
        if let Some(obj) = json.as_object_mut() {
            obj.remove("catalog");
        }
        verdict_engine::PolicySet::from_json(&json).map_err(|e| {
            format!(
                "policies.json without its catalog does not load: {}",
                e.message
            )
        })
    }
}

/// The YAML files of a case directory, sorted.
fn yaml_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

fn load_cases(dir: &Path, contexts: &[String]) -> Result<Vec<Case>, String> {
    let mut cases: Vec<Case> = Vec::new();
    for file in yaml_files(dir)? {
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let entries: Vec<CaseEntry> = serde_yaml_ng::from_str(&read(&file)?)
            .map_err(|e| format!("{}: {e}", file.display()))?;
        for entry in entries {
            let id = format!("{stem}/{}", entry.id);
            if cases.iter().any(|c| c.id == id) {
                return Err(format!("{}: duplicate case id `{id}`", file.display()));
            }
            let (default_expect, expect) = match entry.expect {
                None => (None, BTreeMap::new()),
                Some(ExpectSpec::One(e)) => (Some(e), BTreeMap::new()),
                Some(ExpectSpec::Map(mut map)) => (map.remove("default"), map),
            };
            let unknown = expect
                .keys()
                .chain(entry.contexts.iter().flatten())
                .find(|k| !contexts.contains(k));
            if let Some(k) = unknown {
                return Err(format!(
                    "{}: case `{id}` names unknown context `{k}`",
                    file.display()
                ));
            }
            cases.push(Case {
                id,
                sql: entry.sql,
                ordered: entry.ordered,
                contexts: entry.contexts,
                default_expect,
                expect,
                rule: entry.rule,
                strict: entry.strict,
            });
        }
    }
    Ok(cases)
}

/// What a write or restriction check expects of the engine in one context.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WriteExpect {
    /// The engine allows; in `BEGIN … ROLLBACK` the rewritten SQL on the real tables and
    /// the original SQL through the oracle's views give the same affected-row counts, the
    /// same returned rows and the same base rows afterwards (or the same SQLSTATE).
    Match,
    /// The engine blocks.
    Block,
    /// The oracle refuses the write (a row its view would not show: check option): the
    /// engine blocks, or its rewritten SQL changes nothing and returns no row.
    Refuse,
    /// The engine blocks, or PostgreSQL rejects the rewritten SQL, or it changes nothing
    /// and returns no row.
    Reject,
    /// The engine may fail closed; when it allows, the answers must match.
    Optional,
    /// The engine allows a statement that cannot run on both sides alike (TRUNCATE,
    /// transaction control, session state); only the verdict is checked.
    Allow,
}

impl WriteExpect {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteExpect::Match => "match",
            WriteExpect::Block => "block",
            WriteExpect::Refuse => "refuse",
            WriteExpect::Reject => "reject",
            WriteExpect::Optional => "optional",
            WriteExpect::Allow => "allow",
        }
    }
}

/// Which relations the oracle writes through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OracleMode {
    /// The context's auto-updatable views WITH CHECK OPTION (`public`).
    #[default]
    Views,
    /// The trigger views of `wm` first: for writes of masked (computed) columns.
    Triggers,
}

/// What is compared when a write case runs on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compare {
    /// Counts, returned rows and the base rows afterwards.
    #[default]
    All,
    /// Only the base rows afterwards (the output differs by nature, e.g. EXPLAIN).
    Contents,
}

/// A value for every context, or a map by context name with an optional `default`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum Spec<T> {
    One(T),
    Map(BTreeMap<String, T>),
}

/// A per-context value: the map's entry, else the default.
#[derive(Debug, Clone)]
pub struct ByContext<T> {
    default: Option<T>,
    map: BTreeMap<String, T>,
}

impl<T: Clone> ByContext<T> {
    fn from_spec(spec: Option<Spec<T>>) -> ByContext<T> {
        match spec {
            None => ByContext {
                default: None,
                map: BTreeMap::new(),
            },
            Some(Spec::One(v)) => ByContext {
                default: Some(v),
                map: BTreeMap::new(),
            },
            Some(Spec::Map(mut map)) => ByContext {
                default: map.remove("default"),
                map,
            },
        }
    }

    pub fn get(&self, context: &str) -> Option<&T> {
        self.map.get(context).or(self.default.as_ref())
    }

    fn contexts(&self) -> impl Iterator<Item = &String> {
        self.map.keys()
    }
}

/// `rule:` of a write case: one verdict rule, or a list of acceptable ones (a statement
/// with two reasons to block may name either, e.g. a denied column in `RETURNING *` of an
/// INSERT whose row is also outside the filter).
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Rules {
    One(String),
    Any(Vec<String>),
}

impl Rules {
    pub fn list(&self) -> Vec<&str> {
        match self {
            Rules::One(r) => vec![r.as_str()],
            Rules::Any(rs) => rs.iter().map(String::as_str).collect(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct WriteCaseEntry {
    id: String,
    sql: String,
    #[serde(default)]
    contexts: Option<Vec<String>>,
    #[serde(default)]
    expect: Option<Spec<WriteExpect>>,
    #[serde(default)]
    rule: Option<Spec<Rules>>,
    #[serde(default)]
    oracle: OracleMode,
    #[serde(default)]
    oracle_sql: Option<String>,
    #[serde(default)]
    ordered: bool,
    #[serde(default)]
    compare: Compare,
    #[serde(default)]
    max_rows: Option<usize>,
    #[serde(default)]
    limits: Option<Spec<Vec<String>>>,
    #[serde(default)]
    notes: Option<Spec<Vec<String>>>,
    #[serde(default)]
    rewritten: Option<Spec<String>>,
    #[serde(default)]
    known_bug: Option<String>,
    #[serde(default)]
    without_catalog: Option<String>,
    #[serde(default)]
    strict: bool,
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
}

/// One write or restriction case (writes/*.yaml), run in several contexts.
#[derive(Debug, Clone)]
pub struct WriteCase {
    /// `<file stem>/<id>`.
    pub id: String,
    pub sql: String,
    /// The contexts to run in; `None` = the contexts of the writes suite.
    pub contexts: Option<Vec<String>>,
    /// `None` lets the oracle decide (see `writes::check`).
    pub expect: ByContext<WriteExpect>,
    /// The verdict rules a block may name.
    pub rule: ByContext<Rules>,
    pub oracle: OracleMode,
    /// What the oracle runs instead of `sql`, where the original cannot run on views
    /// (`COPY t TO STDOUT` → `COPY (SELECT * FROM t) TO STDOUT`).
    pub oracle_sql: Option<String>,
    pub ordered: bool,
    pub compare: Compare,
    /// Each result set must be the oracle's capped at this many rows (in order when
    /// `ordered`, else any of its rows).
    pub max_rows: Option<usize>,
    /// The verdict's `limits`, exactly, as `policy/kind=value`.
    pub limits: ByContext<Vec<String>>,
    /// Texts each of which some note of the verdict must contain.
    pub notes: ByContext<Vec<String>>,
    /// The exact rewritten SQL.
    pub rewritten: ByContext<String>,
    /// A suspected engine bug: a failure is reported as such and does not fail the run.
    pub known_bug: Option<String>,
    /// Why the case's answers are not compared when the policy set has no catalog (the
    /// engine answers otherwise by design, e.g. a mask that depends on the column's type).
    pub without_catalog: Option<String>,
    /// Side channels: a case that matches the oracle runs again under every plan of
    /// `crate::sql::PLANS`; it must still match, and no error may print a value the
    /// context cannot see.
    pub strict: bool,
}

impl WriteCase {
    /// A case with no expectation of its own (the oracle decides), for a generated
    /// statement (the generated suite).
    #[allow(dead_code)]
    pub fn generated(id: String, sql: String) -> WriteCase {
        WriteCase {
            id,
            sql,
            contexts: None,
            expect: ByContext::from_spec(None),
            rule: ByContext::from_spec(None),
            oracle: OracleMode::Views,
            oracle_sql: None,
            ordered: false,
            compare: Compare::All,
            max_rows: None,
            limits: ByContext::from_spec(None),
            notes: ByContext::from_spec(None),
            rewritten: ByContext::from_spec(None),
            known_bug: None,
            without_catalog: None,
            strict: false,
        }
    }

    pub fn runs_in(&self, ctx: &ContextFixture) -> bool {
        match &self.contexts {
            Some(list) => list.contains(&ctx.name),
            None => ctx.in_suite(WRITES_SUITE),
        }
    }

    /// The SQL the oracle runs.
    pub fn oracle_sql(&self) -> &str {
        self.oracle_sql.as_deref().unwrap_or(&self.sql)
    }
}

fn load_write_cases(dir: &Path, contexts: &[String]) -> Result<Vec<WriteCase>, String> {
    let mut cases: Vec<WriteCase> = Vec::new();
    for file in yaml_files(dir)? {
        let stem = file
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let entries: Vec<WriteCaseEntry> = serde_yaml_ng::from_str(&read(&file)?)
            .map_err(|e| format!("{}: {e}", file.display()))?;
        for entry in entries {
            let id = format!("{stem}/{}", entry.id);
            if cases.iter().any(|c| c.id == id) {
                return Err(format!("{}: duplicate case id `{id}`", file.display()));
            }
            let case = WriteCase {
                id,
                sql: entry.sql,
                contexts: entry.contexts,
                expect: ByContext::from_spec(entry.expect),
                rule: ByContext::from_spec(entry.rule),
                oracle: entry.oracle,
                oracle_sql: entry.oracle_sql,
                ordered: entry.ordered,
                compare: entry.compare,
                max_rows: entry.max_rows,
                limits: ByContext::from_spec(entry.limits),
                notes: ByContext::from_spec(entry.notes),
                rewritten: ByContext::from_spec(entry.rewritten),
                known_bug: entry.known_bug,
                without_catalog: entry.without_catalog,
                strict: entry.strict,
            };
            let unknown = case
                .expect
                .contexts()
                .chain(case.rule.contexts())
                .chain(case.limits.contexts())
                .chain(case.notes.contexts())
                .chain(case.rewritten.contexts())
                .chain(case.contexts.iter().flatten())
                .find(|k| !contexts.contains(k));
            if let Some(k) = unknown {
                return Err(format!(
                    "{}: case `{}` names unknown context `{k}`",
                    file.display(),
                    case.id
                ));
            }
            cases.push(case);
        }
    }
    Ok(cases)
}
