//! Writes the literal unions of the npm package's TypeScript definitions
//! (`wasm/js/pkg/index.d.ts`, between the GENERATED markers) from the engine's own lists,
//! and fails when the file differs: `VERDICT_BLESS=1 cargo test -p verdict-wasm --test types`
//! rewrites it after a deliberate change. The error codes are the engine's `ErrorCode`s and
//! the JS layer's own (read from its source).
#![cfg(not(target_arch = "wasm32"))]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use verdict_engine::policy::{MaskKind, Mode, Operation};
use verdict_engine::{Dialect, ErrorCode, ProblemKind, VerdictRule};

const BEGIN: &str = "// BEGIN GENERATED (cargo test -p verdict-wasm --test types)\n";
const END: &str = "// END GENERATED\n";

fn union(items: impl IntoIterator<Item = String>) -> String {
    items
        .into_iter()
        .map(|s| format!("\n  | \"{s}\""))
        .collect::<String>()
}

/// The codes quoted right after `marker` (whitespace and newlines between allowed).
fn codes_after(text: &str, marker: &str, codes: &mut BTreeSet<String>) {
    for (at, _) in text.match_indices(marker) {
        let rest = text[at + marker.len()..].trim_start();
        if let Some(rest) = rest.strip_prefix('"') {
            let code: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if !code.is_empty() && rest[code.len()..].starts_with('"') {
                codes.insert(code);
            }
        }
    }
}

fn error_codes(root: &Path) -> BTreeSet<String> {
    let mut codes: BTreeSet<String> = ErrorCode::ALL
        .iter()
        .map(|c| c.as_str().to_string())
        .collect();
    let js = fs::read_to_string(root.join("wasm/js/pkg/lib/api.js")).unwrap();
    codes_after(&js, "new VerdictError(", &mut codes);
    codes
}

fn generated(root: &Path) -> String {
    let mut out = String::from(BEGIN);
    let mut push = |doc: &str, name: &str, items: Vec<String>| {
        out.push_str(&format!(
            "/** {doc} */\nexport type {name} ={};\n\n",
            union(items)
        ));
    };
    push(
        "Every `code` of a VerdictError or an `{\"error\": {...}}` document.",
        "ErrorCode",
        error_codes(root).into_iter().collect(),
    );
    push(
        "What decided a verdict (`verdict.rule`).",
        "VerdictRule",
        VerdictRule::ALL
            .iter()
            .map(|r| r.as_str().to_string())
            .collect(),
    );
    push(
        "The kinds of column masks.",
        "MaskKind",
        MaskKind::ALL
            .iter()
            .map(|k| k.as_str().to_string())
            .collect(),
    );
    push(
        "Statement kinds of `deny.operations`, `query_restriction.statements` and `require_where`.",
        "Operation",
        Operation::ALL.iter().map(|(n, _)| n.to_string()).collect(),
    );
    push(
        "SQL dialects (`options.dialect`; the engine also accepts them in any case).",
        "Dialect",
        Dialect::ALL
            .iter()
            .flat_map(|d| d.names())
            .map(|n| n.to_string())
            .collect(),
    );
    push(
        "A policy's mode: `monitor` policies only report what they would do.",
        "PolicyMode",
        Mode::ALL.iter().map(|m| m.as_str().to_string()).collect(),
    );
    push(
        "What kind of validation problem a `Problem` is.",
        "ProblemKind",
        ProblemKind::ALL
            .iter()
            .map(|k| k.as_str().to_string())
            .collect(),
    );
    out.truncate(out.trim_end().len());
    out.push('\n');
    out.push_str(END);
    out
}

#[test]
fn the_definitions_literal_unions_are_the_engines() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let path = root.join("wasm/js/pkg/index.d.ts");
    let text = fs::read_to_string(&path).unwrap();
    let (head, rest) = text.split_once(BEGIN).expect("the BEGIN GENERATED marker");
    let (_, tail) = rest.split_once(END).expect("the END GENERATED marker");
    let expected = format!("{head}{}{tail}", generated(root));
    if std::env::var("VERDICT_BLESS").as_deref() == Ok("1") {
        fs::write(&path, &expected).unwrap();
    }
    assert!(
        fs::read_to_string(&path).unwrap() == expected,
        "{} differs from the engine's lists; after a deliberate change run \
         VERDICT_BLESS=1 cargo test -p verdict-wasm --test types",
        path.display()
    );
}
