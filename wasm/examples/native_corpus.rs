//! Dumps the native engine's verdict for every case × context of the conformance corpus
//! (tests/conformance), for `wasm/js/byte-identity.mjs` to compare with the wasm engine's.
//!
//! `cargo run -p verdict-wasm --example native_corpus -- OUT.json`
//!
//! OUT.json: `{"policies": TEXT, "contexts": [{"name", "json"}], "cases": [{"id", "sql",
//! "verdicts": [one verdict JSON text per context, in order]}]}`.

use std::path::Path;
use std::process::ExitCode;

use serde_json::{json, Value as Json};
use verdict_engine::{evaluate, Context, PolicySet};

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
    let doc = json!({
        "policies": fx.policies,
        "contexts": fx.contexts.iter().map(|c| json!({ "name": c.name, "json": c.json })).collect::<Vec<_>>(),
        "cases": cases,
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
