//! Evaluation time against the floor of a bare sqlparser parse + print of the same queries.
//!
//! Run with `cargo bench -p verdict-engine --bench evaluate`. Both sides run over the same
//! query mix in alternating rounds within one process; the ratio of the medians is printed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test helpers fail loudly on broken fixtures

use std::hint::black_box;
use std::time::{Duration, Instant};

use sqlparser::dialect::PostgreSqlDialect;
use sqlparser::parser::Parser;
use verdict_engine::{evaluate, Context, PolicySet};

const QUERIES: &[&str] = &[
    "SELECT id, amount FROM orders WHERE amount > 10 ORDER BY id",
    "SELECT o.id, c.email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.ssn LIKE '%1' ORDER BY 1",
    "SELECT c.name, count(*) AS n, sum(o.amount) FROM customers c LEFT JOIN orders o ON o.customer_id = c.id GROUP BY c.name HAVING count(*) > 1",
    "WITH big AS (SELECT customer_id, sum(amount) AS total FROM orders GROUP BY customer_id) SELECT c.id, b.total FROM customers c JOIN big b ON b.customer_id = c.id",
    "SELECT id FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE region = 'EU') AND EXISTS (SELECT 1 FROM orders o2 WHERE o2.customer_id = customers.id)",
    "SELECT region, amount, rank() OVER (PARTITION BY region ORDER BY amount DESC) FROM orders",
    "SELECT id, name FROM products UNION ALL SELECT id, name FROM customers",
    "SELECT p.name FROM products p WHERE p.id > 3 ORDER BY p.name LIMIT 10",
    "SELECT c.id, l.total FROM customers c, LATERAL (SELECT sum(amount) AS total FROM orders o WHERE o.customer_id = c.id) l",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5) SELECT i FROM n",
    "SELECT email, birth_date FROM customers WHERE email LIKE '%@example.com' ORDER BY email",
    "SELECT * FROM orders WHERE tenant_id = 1 AND region IN ('EU', 'US')",
];

/// Writes, for the same comparison (issue: the benchmark extended with write statements).
const WRITES: &[&str] = &[
    "UPDATE orders SET amount = amount * 2 WHERE region = 'EU'",
    "UPDATE orders SET tenant_id = 1, amount = 0 WHERE id = 3 RETURNING id, amount",
    "DELETE FROM orders o USING products p WHERE o.id = p.id AND p.name LIKE 'x%'",
    "INSERT INTO orders (id, tenant_id, customer_id, amount, region) VALUES (100, 1, 1, 9.5, 'EU'), (101, 1, 2, 3, 'US')",
    "INSERT INTO orders (id, tenant_id, amount) VALUES (7, 1, 2) ON CONFLICT (id) DO UPDATE SET amount = EXCLUDED.amount",
    "UPDATE customers SET name = upper(name) WHERE email LIKE '%@example.com' RETURNING id, email",
    "DELETE FROM customers WHERE id IN (SELECT customer_id FROM orders WHERE amount > 100)",
    "WITH moved AS (DELETE FROM orders WHERE id < 10 RETURNING *) SELECT count(*) FROM moved",
];

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

fn main() {
    let set = PolicySet::parse(include_str!("../tests/fixtures/policies.json"))
        .expect("fixture policies load");
    let ctx = Context::from_json_str(
        r#"{"user":"alice","roles":["analyst"],"attributes":{"tenant_id":1}}"#,
    )
    .expect("fixture context loads");
    let dialect = PostgreSqlDialect {};
    let floor = || {
        for q in QUERIES {
            let stmts = Parser::parse_sql(&dialect, q).expect("bench queries parse");
            for s in &stmts {
                black_box(s.to_string());
            }
        }
    };
    let engine = || {
        for q in QUERIES {
            black_box(evaluate(&set, q, &ctx).to_json());
        }
    };
    // The engine remembers texts that read back (in the policy set): the loop above
    // repeats the same statements, as applications do. Statements it has not seen (their
    // scans known), and nothing remembered at all (a first evaluation):
    let engine_new = || {
        for q in QUERIES {
            verdict_engine::testing::forget_statements(&set);
            black_box(evaluate(&set, q, &ctx).to_json());
        }
    };
    let engine_cold = || {
        for q in QUERIES {
            verdict_engine::testing::forget(&set);
            black_box(evaluate(&set, q, &ctx).to_json());
        }
    };
    let floor_writes = || {
        for q in WRITES {
            let stmts = Parser::parse_sql(&dialect, q).expect("bench writes parse");
            for s in &stmts {
                black_box(s.to_string());
            }
        }
    };
    let engine_writes = || {
        for q in WRITES {
            let v = evaluate(&set, q, &ctx);
            assert!(v.rewritten_sql.is_some(), "{q}: {}", v.reason);
            black_box(v.to_json());
        }
    };
    // The same set without column masks, to show what building and printing masks costs.
    let mut unmasked: serde_json::Value =
        serde_json::from_str(include_str!("../tests/fixtures/policies.json"))
            .expect("fixture is JSON");
    if let Some(policies) = unmasked["policies"].as_array_mut() {
        for p in policies {
            if let Some(rules) = p["rules"].as_array_mut() {
                rules.retain(|r| r["type"] != "column_mask");
            }
        }
    }
    let unmasked = PolicySet::from_json(&unmasked).expect("loads");
    let engine_unmasked = || {
        for q in QUERIES {
            black_box(evaluate(&unmasked, q, &ctx).to_json());
        }
    };
    let one_shot_load = || {
        black_box(
            PolicySet::parse(include_str!("../tests/fixtures/policies.json")).expect("loads"),
        );
    };
    if let Ok(what) = std::env::var("VERDICT_BENCH_PROFILE") {
        // Only one side, for a profiler.
        for _ in 0..2000 {
            match what.as_str() {
                "floor" => floor(),
                "unmasked" => engine_unmasked(),
                _ => engine(),
            }
        }
        return;
    }
    let quick = std::env::var("VERDICT_BENCH_QUICK").is_ok();
    let (rounds, iters) = if quick { (5, 20) } else { (31, 200) };
    for _ in 0..iters {
        floor();
        engine();
    }
    let mut f = Vec::new();
    let mut e = Vec::new();
    let mut l = Vec::new();
    let mut u = Vec::new();
    let mut c = Vec::new();
    let mut n = Vec::new();
    let mut fw = Vec::new();
    let mut ew = Vec::new();
    // Each side `iters` times in a row, timed as one sample.
    let timed = |samples: &mut Vec<Duration>, side: &dyn Fn()| {
        let t = Instant::now();
        for _ in 0..iters {
            side();
        }
        samples.push(t.elapsed());
    };
    for _ in 0..rounds {
        timed(&mut fw, &floor_writes);
        timed(&mut ew, &engine_writes);
        timed(&mut u, &engine_unmasked);
        timed(&mut f, &floor);
        timed(&mut e, &engine);
        timed(&mut n, &engine_new);
        timed(&mut c, &engine_cold);
        timed(&mut l, &one_shot_load);
    }
    let per = |d: Duration| d.as_secs_f64() * 1e6 / (iters as f64 * QUERIES.len() as f64);
    let (fm, em, lm, um) = (median(f), median(e), median(l), median(u));
    println!("queries in mix: {}", QUERIES.len());
    println!("floor  (sqlparser parse + print): {:.2} µs/query", per(fm));
    println!(
        "engine (evaluate + verdict JSON): {:.2} µs/query (repeated statements)",
        per(em)
    );
    println!(
        "policy set load + validation:    {:.2} µs/load",
        lm.as_secs_f64() * 1e6 / iters as f64
    );
    println!("engine, same set without masks:   {:.2} µs/query", per(um));
    let (nm, cm) = (median(n), median(c));
    println!(
        "engine, statements not seen before: {:.2} µs/query",
        per(nm)
    );
    println!("engine, nothing remembered (cold): {:.2} µs/query", per(cm));
    println!(
        "ratio engine/floor: {:.2}",
        em.as_secs_f64() / fm.as_secs_f64()
    );
    println!(
        "ratio engine on statements not seen before/floor: {:.2}",
        nm.as_secs_f64() / fm.as_secs_f64()
    );
    println!(
        "ratio engine cold/floor: {:.2}",
        cm.as_secs_f64() / fm.as_secs_f64()
    );
    println!(
        "ratio engine without masks/floor: {:.2}",
        um.as_secs_f64() / fm.as_secs_f64()
    );
    let (fwm, ewm) = (median(fw), median(ew));
    let per_w = |d: Duration| d.as_secs_f64() * 1e6 / (iters as f64 * WRITES.len() as f64);
    println!("writes in mix: {}", WRITES.len());
    println!(
        "floor  (writes, parse + print):   {:.2} µs/statement",
        per_w(fwm)
    );
    println!(
        "engine (writes):                  {:.2} µs/statement",
        per_w(ewm)
    );
    println!(
        "ratio engine/floor, writes: {:.2}",
        ewm.as_secs_f64() / fwm.as_secs_f64()
    );
    println!(
        "ratio engine/floor, queries and writes together: {:.2}",
        (em.as_secs_f64() + ewm.as_secs_f64()) / (fm.as_secs_f64() + fwm.as_secs_f64())
    );
}
