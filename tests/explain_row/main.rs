//! `explain_row` checked differentially on a real PostgreSQL (issue 21): generated tables,
//! rows (with NULLs), policy sets (row filters with AND, OR, NOT, IN, BETWEEN, ANY,
//! comparisons, IS NULL and `ctx.*` references, filters scoped by role, a monitored filter,
//! break-glass and a deny) and contexts, from a seeded ChaCha8 stream. For every (row,
//! context) pair:
//!
//! - each conjunct explain_row prints in its diagnostic query has exactly the value
//!   PostgreSQL computes for it on the stored row, so the conjuncts it blames are exactly
//!   those PostgreSQL computes FALSE or NULL, and the ones it leaves out are exactly those
//!   whose context value is missing;
//! - the row is visible by explain_row exactly when the engine's rewritten
//!   `SELECT id FROM <table>` returns it (a blocked statement returns nothing).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeSet;

use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Value as Json};
use verdict_engine::explain_row::{Outcome, Truth};
use verdict_engine::{evaluate, explain_row, Context, PolicySet};
use verdict_testkit::Cluster;

const SCENARIOS: usize = 20;
const ROWS: usize = 25;
const CONTEXTS: usize = 25;
const TEXTS: [&str; 3] = ["x", "y", "z"];

/// A random comparison, membership or null test over the table's columns.
fn atom(rng: &mut ChaCha8Rng) -> String {
    let int = |rng: &mut ChaCha8Rng| rng.gen_range(0..5).to_string();
    let text = |rng: &mut ChaCha8Rng| format!("'{}'", TEXTS.choose(rng).unwrap());
    let int_col = |rng: &mut ChaCha8Rng| *["a", "b"].choose(rng).unwrap();
    let text_col = |rng: &mut ChaCha8Rng| *["c", "d"].choose(rng).unwrap();
    let cmp = |rng: &mut ChaCha8Rng| *["=", "<>", "<", "<=", ">", ">="].choose(rng).unwrap();
    match rng.gen_range(0..16) {
        0 => format!("{} = ctx.attr.ta", int_col(rng)),
        1 => format!("{} {} ctx.attr.ta", int_col(rng), cmp(rng)),
        2 => format!("{} {} {}", int_col(rng), cmp(rng), int(rng)),
        3 => format!("n {} {}.5", cmp(rng), rng.gen_range(-1..3)),
        4 => format!(
            "{} IN ({}, {}{})",
            int_col(rng),
            int(rng),
            int(rng),
            if rng.gen_bool(0.3) { ", NULL" } else { "" }
        ),
        5 => format!("{} NOT IN ({}, {})", int_col(rng), int(rng), int(rng)),
        6 => format!("{} = ctx.user", text_col(rng)),
        7 => format!(
            "{} IS NULL",
            [int_col(rng), text_col(rng)].choose(rng).unwrap()
        ),
        8 => format!(
            "{} IS NOT NULL",
            [int_col(rng), "n", "e"].choose(rng).unwrap()
        ),
        9 => format!("{} = ANY(ctx.roles)", text_col(rng)),
        10 => format!("{} = ANY(ctx.attr.tl)", int_col(rng)),
        11 => format!("{} = ctx.attr.tb", text_col(rng)),
        12 => format!("{} BETWEEN {} AND {}", int_col(rng), int(rng), int(rng)),
        13 => format!(
            "{} {} {}",
            text_col(rng),
            ["=", "<>"].choose(rng).unwrap(),
            text(rng)
        ),
        14 => ["e", "NOT e", "e IS TRUE", "e IS FALSE"]
            .choose(rng)
            .unwrap()
            .to_string(),
        _ => format!("{} IN ({}, {})", text_col(rng), text(rng), text(rng)),
    }
}

/// A predicate of one to three top-level conjuncts.
fn predicate(rng: &mut ChaCha8Rng) -> String {
    // Mostly one or two conjuncts, so that visible rows are common too.
    let n = [1, 1, 1, 2, 2, 3][rng.gen_range(0..6)];
    let parts: Vec<String> = (0..n)
        .map(|_| match rng.gen_range(0..10) {
            0..=4 => atom(rng),
            5..=8 => format!("({} OR {})", atom(rng), atom(rng)),
            _ => format!("NOT ({})", atom(rng)),
        })
        .collect();
    parts.join(" AND ")
}

fn policies(rng: &mut ChaCha8Rng, table: &str) -> Json {
    let filter = |rng: &mut ChaCha8Rng| json!([{"type": "row_filter", "table": table, "predicate": predicate(rng)}]);
    let mut list = vec![
        json!({"id": "everyone", "break_glass_allowed": rng.gen_bool(0.5), "rules": filter(rng)}),
        json!({"id": "r1-only", "applies_to": {"roles": ["r1"]}, "rules": filter(rng)}),
        json!({"id": "watch", "mode": "monitor", "rules": filter(rng)}),
    ];
    if rng.gen_bool(0.5) {
        list.push(json!({"id": "second", "applies_to": {"roles": ["r2"]}, "rules": filter(rng)}));
    }
    list.push(json!({"id": "blocked", "applies_to": {"roles": ["x"]},
        "rules": [{"type": "deny", "table": table}]}));
    let columns: Vec<Json> = [
        ("id", "integer"),
        ("a", "integer"),
        ("b", "integer"),
        ("c", "text"),
        ("d", "text"),
        ("n", "numeric"),
        ("e", "boolean"),
    ]
    .iter()
    .map(|(n, t)| json!({"name": n, "type": t}))
    .collect();
    json!({"catalog": {"tables": [{"name": table, "columns": columns}]}, "policies": list})
}

/// A SQL literal for a generated row value, or NULL about one time in seven.
fn value(rng: &mut ChaCha8Rng, column: &str) -> String {
    if rng.gen_bool(0.15) {
        return "NULL".into();
    }
    match column {
        "a" | "b" => rng.gen_range(0..5).to_string(),
        "c" | "d" => format!("'{}'", TEXTS.choose(rng).unwrap()),
        "n" => format!("{}.{}", rng.gen_range(-2..4), rng.gen_range(0..10)),
        _ => rng.gen_bool(0.5).to_string(),
    }
}

fn context(rng: &mut ChaCha8Rng) -> Context {
    let mut attributes = serde_json::Map::new();
    if !rng.gen_bool(0.05) {
        let ta = if rng.gen_bool(0.1) {
            Json::Null
        } else {
            json!(rng.gen_range(0..5))
        };
        attributes.insert("ta".into(), ta);
    }
    if !rng.gen_bool(0.05) {
        let tb = if rng.gen_bool(0.1) {
            Json::Null
        } else {
            json!(TEXTS.choose(rng).unwrap())
        };
        attributes.insert("tb".into(), tb);
    }
    if !rng.gen_bool(0.05) {
        // Empty lists, lists of NULLs only and numbers written as strings included: an
        // `ANY` operand of strings and nulls is typed by the integer column, as
        // PostgreSQL types a scalar string beside it.
        let n = rng.gen_range(0..4);
        let strings = rng.gen_bool(0.3);
        let tl: Vec<Json> = (0..n)
            .map(|_| {
                if rng.gen_bool(0.2) {
                    Json::Null
                } else if strings {
                    json!(rng.gen_range(0..5).to_string())
                } else {
                    json!(rng.gen_range(0..5))
                }
            })
            .collect();
        attributes.insert("tl".into(), Json::Array(tl));
    }
    let roles: Vec<&str> = ["r1", "r2", "x", "y", "z"]
        .into_iter()
        .filter(|r| rng.gen_bool(if *r == "x" { 0.05 } else { 0.35 }))
        .collect();
    let mut ctx = json!({"roles": roles, "attributes": attributes,
        "break_glass": rng.gen_bool(0.1)});
    if !rng.gen_bool(0.05) {
        ctx["user"] = json!(TEXTS.choose(rng).unwrap());
    }
    Context::from_json(&ctx).unwrap()
}

fn truth(v: Option<bool>) -> Truth {
    match v {
        Some(true) => Truth::True,
        Some(false) => Truth::False,
        None => Truth::Null,
    }
}

#[test]
fn explain_row_agrees_with_postgresql() {
    let started = std::time::Instant::now();
    let cluster = Cluster::start("explain_row", 10).unwrap();
    let mut db = cluster
        .connect("postgres", verdict_testkit::SUPERUSER)
        .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(21);
    let (mut pairs, mut hidden, mut blamed, mut conjuncts, mut missing, mut admitted) =
        (0usize, 0usize, 0usize, 0usize, 0usize, 0usize);
    for s in 0..SCENARIOS {
        let table = format!("t{s}");
        db.batch_execute(&format!(
            "CREATE TABLE {table} (id int PRIMARY KEY, a int, b int, c text, d text, n numeric, e boolean)"
        ))
        .unwrap();
        let rows: Vec<String> = (0..ROWS)
            .map(|id| {
                let vals: Vec<String> = ["a", "b", "c", "d", "n", "e"]
                    .iter()
                    .map(|c| value(&mut rng, c))
                    .collect();
                format!("({id}, {})", vals.join(", "))
            })
            .collect();
        db.batch_execute(&format!("INSERT INTO {table} VALUES {}", rows.join(", ")))
            .unwrap();
        // The rows as PostgreSQL stores them, as JSON.
        let stored: Vec<(i32, Json)> = db
            .query(
                &format!("SELECT id, row_to_json(t)::text FROM {table} t ORDER BY id"),
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| {
                let text: String = r.get(1);
                (r.get(0), serde_json::from_str(&text).unwrap())
            })
            .collect();
        let set = PolicySet::from_json(&policies(&mut rng, &table)).unwrap();
        for _ in 0..CONTEXTS {
            let ctx = context(&mut rng);
            let select = format!("SELECT id FROM {table}");
            let verdict = evaluate(&set, &select, &ctx);
            let returned: BTreeSet<i32> = match &verdict.rewritten_sql {
                Some(sql) if !verdict.is_block() => db
                    .query(sql.as_str(), &[])
                    .unwrap_or_else(|e| panic!("`{sql}`: {e}"))
                    .iter()
                    .map(|r| r.get(0))
                    .collect(),
                _ => BTreeSet::new(),
            };
            for (id, row) in &stored {
                let e = explain_row(&set, &table, row, &ctx).unwrap();
                let case = || {
                    format!(
                        "table {table}, row {row}, context {}\n{}",
                        serde_json::to_string(&ctx).unwrap(),
                        e.to_json()
                    )
                };
                assert_ne!(e.outcome, Outcome::Undecided, "{}", case());
                assert_eq!(e.visible, returned.contains(id), "{}", case());
                if let Some(sql) = &e.diagnostic_sql {
                    let got = db
                        .query_one(sql.as_str(), &[])
                        .unwrap_or_else(|err| panic!("`{sql}`: {err}\n{}", case()));
                    for c in e.filters.iter().flat_map(|f| &f.conjuncts) {
                        conjuncts += 1;
                        let Some(col) = &c.diagnostic_column else {
                            assert!(c.context.iter().any(|b| b.value.is_none()), "{}", case());
                            assert!(!c.blamed, "{}", case());
                            missing += 1;
                            continue;
                        };
                        let pg = truth(got.get::<_, Option<bool>>(col.as_str()));
                        assert_eq!(c.value, pg, "conjunct `{}` ({col}): {}", c.written, case());
                        assert_eq!(
                            c.blamed,
                            matches!(pg, Truth::False | Truth::Null),
                            "{}",
                            case()
                        );
                        blamed += usize::from(c.blamed);
                    }
                } else {
                    assert!(
                        e.filters
                            .iter()
                            .all(|f| f.conjuncts.iter().all(|c| c.sql.is_none())),
                        "{}",
                        case()
                    );
                }
                if !e.visible {
                    hidden += 1;
                }
                if let Some(changes) = &e.admit_with {
                    // The suggested change admits the row in PostgreSQL too.
                    let mut changed = serde_json::to_value(&ctx).unwrap();
                    for ch in changes {
                        let path: Vec<&str> = ch.reference.split('.').collect();
                        match path.as_slice() {
                            ["ctx", "attr", name] => changed["attributes"][*name] = ch.to.clone(),
                            ["ctx", field] => changed[*field] = ch.to.clone(),
                            _ => panic!("{}", ch.reference),
                        }
                    }
                    let changed = Context::from_json(&changed).unwrap();
                    let v = evaluate(&set, &select, &changed);
                    let sql = v.rewritten_sql.as_deref().filter(|_| !v.is_block());
                    let sql = sql.unwrap_or_else(|| panic!("blocked: {}", case()));
                    let ids: Vec<i32> = db
                        .query(sql, &[])
                        .unwrap()
                        .iter()
                        .map(|r| r.get(0))
                        .collect();
                    assert!(ids.contains(id), "{}", case());
                    admitted += 1;
                }
                pairs += 1;
            }
        }
    }
    println!(
        "explain_row: {pairs} (row, context) pairs agree with PostgreSQL ({hidden} hidden; \
         {conjuncts} conjuncts, {blamed} blamed, {missing} lacking context; \
         {admitted} admitting changes checked) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    assert!(pairs >= 10_000, "{pairs}");
}
