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
}

impl Case {
    /// The explicit expectation for a context; `None` lets the oracle decide (see `check`).
    pub fn expectation(&self, context: &str) -> Option<Expect> {
        self.expect.get(context).copied().or(self.default_expect)
    }

    pub fn runs_in(&self, context: &str) -> bool {
        self.contexts
            .as_ref()
            .is_none_or(|list| list.iter().any(|c| c == context))
    }
}

/// Everything the suite reads.
pub struct Fixtures {
    pub schema_sql: String,
    pub real_extras_sql: String,
    pub oracle_functions_sql: String,
    pub policies: String,
    pub contexts: Vec<ContextFixture>,
    pub cases: Vec<Case>,
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
            contexts.push(ContextFixture {
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
        Ok(Fixtures {
            schema_sql: read(&dir.join("schema.sql"))?,
            real_extras_sql: read(&dir.join("real_extras.sql"))?,
            oracle_functions_sql: read(&dir.join("oracle").join("functions.sql"))?,
            policies: read(&dir.join("policies.json"))?,
            contexts,
            cases,
        })
    }
}

fn load_cases(dir: &Path, contexts: &[String]) -> Result<Vec<Case>, String> {
    let mut files: Vec<PathBuf> = fs::read_dir(dir)
        .map_err(|e| format!("cannot list {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml" || e == "yml"))
        .collect();
    files.sort();
    let mut cases: Vec<Case> = Vec::new();
    for file in files {
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
            });
        }
    }
    Ok(cases)
}
