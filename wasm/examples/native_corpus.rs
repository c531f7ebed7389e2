//! Dumps the native engine's verdict for every case × context of the conformance corpus
//! (tests/conformance), for `wasm/js/byte-identity.mjs` to compare with the wasm engine's.
//!
//! `cargo run -p verdict-wasm --example native_corpus -- OUT.json`
//!
//! OUT.json: `{"policies": TEXT, "contexts": [{"name", "json"}], "cases": [{"id", "sql",
//! "verdicts": [one verdict JSON text per context, in order]}], "suites": [{"name",
//! "policies", "tests", "report"}]}`: the suites are `verdict test`'s fixtures
//! (cli/tests/fixtures/suite) as JSON texts, with the native report (mutation included).

use std::path::Path;
use std::process::ExitCode;

use serde_json::{json, Value as Json};
use verdict_engine::{evaluate, run_suite_with_mutation, Context, PolicySet, Suite};

// The corpus format is the conformance suite's: read it with the suite's own loader.
#[allow(dead_code)]
#[path = "../../tests/conformance/fixtures.rs"]
mod fixtures;

fn main() -> ExitCode {
    let Some(out) = std::env::args().nth(1) else {
        eprintln!("usage: native_corpus OUT.json");
        return ExitCode::from(2);
    };
    match run(Path::new(&out)) {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("native_corpus: {err}");
            ExitCode::FAILURE
        }
    }
}

fn run(out: &Path) -> Result<String, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/conformance");
    let fx = fixtures::Fixtures::load(&dir)?;
    let set = PolicySet::parse(&fx.policies).map_err(|e| e.to_json())?;
    let contexts = fx
        .contexts
        .iter()
        .map(|c| {
            Context::from_json_str(&c.json).map_err(|e| format!("{}: {}", c.name, e.to_json()))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let cases: Vec<Json> = fx
        .cases
        .iter()
        .map(|case| {
            let verdicts: Vec<String> = contexts
                .iter()
                .map(|ctx| evaluate(&set, &case.sql, ctx).to_json())
                .collect();
            json!({ "id": case.id, "sql": case.sql, "verdicts": verdicts })
        })
        .collect();
    let suites = suites()?;
    let doc = json!({
        "policies": fx.policies,
        "contexts": fx.contexts.iter().map(|c| json!({ "name": c.name, "json": c.json })).collect::<Vec<_>>(),
        "cases": cases,
        "suites": suites,
    });
    std::fs::write(out, doc.to_string())
        .map_err(|e| format!("cannot write {}: {e}", out.display()))?;
    Ok(format!(
        "native verdicts: {} cases × {} contexts = {} written to {}",
        fx.cases.len(),
        fx.contexts.len(),
        fx.cases.len() * fx.contexts.len(),
        out.display()
    ))
}

/// `verdict test`'s fixture suites, as JSON texts (the package may read no YAML), with the
/// native report of each.
fn suites() -> Result<Vec<Json>, String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cli/tests/fixtures/suite");
    let json_text = |name: &str| -> Result<String, String> {
        let text = std::fs::read_to_string(dir.join(name))
            .map_err(|e| format!("cannot read {name}: {e}"))?;
        let value: Json = serde_yaml_ng::from_str(&text).map_err(|e| format!("{name}: {e}"))?;
        Ok(value.to_string())
    };
    let policies = json_text("policies.yaml")?;
    let set = PolicySet::parse(&policies).map_err(|e| e.to_json())?;
    ["real.yaml", "weak.json", "failing.yaml"]
        .into_iter()
        .map(|name| {
            let tests = json_text(name)?;
            let suite = Suite::parse(&tests).map_err(|e| format!("{name}: {}", e.to_json()))?;
            let report = run_suite_with_mutation(&set, &suite).to_json();
            Ok(json!({ "name": name, "policies": policies, "tests": tests, "report": report }))
        })
        .collect()
}
