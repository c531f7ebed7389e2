//! Plans: the barrier must not cost what it need not. Statements whose expressions are all
//! leakproof keep their scans unfenced, so PostgreSQL still uses the caller's predicates
//! as index conditions inside the context's rows; statements with a leaky expression are
//! fenced. Checked with EXPLAIN of the rewritten SQL on the real database.

use verdict_engine::PolicySet;
use verdict_testkit::Cluster;

use crate::check::evaluate_twice;
use crate::fixtures::Fixtures;
use crate::setup::Databases;
use crate::sql::Outcome;

/// `(context, SQL, what its plan must show)`: an index used on the caller's predicate.
const INDEXED: &[(&str, &str, &str)] = &[
    ("analyst_t1", "SELECT id, name FROM customers WHERE id = 1", "customers_pkey"),
    ("partner", "SELECT id, name FROM customers WHERE id = 5", "customers_pkey"),
    ("partner", "SELECT id FROM customers WHERE id IN (5, 6, 9)", "customers_pkey"),
    ("partner", "SELECT id FROM customers WHERE id BETWEEN 5 AND 7 AND name <> 'x'", "customers_pkey"),
    ("partner", "SELECT count(*) FROM orders WHERE id >= 200 AND id < 300", "orders_pkey"),
    ("analyst_t2_eu", "SELECT o.id, o.status FROM orders o WHERE o.id = 201", "orders_pkey"),
    ("partner", "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = 201", "orders_pkey"),
    ("partner", "SELECT c.name FROM customers c WHERE c.id = (SELECT customer_id FROM orders WHERE id = 202)", "orders_pkey"),
    ("partner", "SELECT e.name FROM employees e WHERE e.id = 6 OR e.id = 7", "employees_pkey"),
    ("support_t1", "SELECT id FROM customers WHERE created_at > '2021-01-01' AND id = 2", "customers_pkey"),
];

/// `(context, SQL, index)`: a leaky conjunct over the query's own scans is guarded by
/// their filters (`CASE WHEN`), so the scans stay unfenced and the leakproof conjunct
/// still drives an index.
const GUARDED: &[(&str, &str, &str)] = &[
    ("partner", "SELECT id FROM customers WHERE id = 5 AND name::int = 0", "customers_pkey"),
    ("partner", "SELECT name FROM customers WHERE id = 6 AND lower(name) <> 'x'", "customers_pkey"),
    ("analyst_t1", "SELECT id FROM orders WHERE id = 101 AND amount > 10", "orders_pkey"),
    ("partner", "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id AND c.name LIKE 'A%' WHERE o.id = 201", "orders_pkey"),
];

/// `(context, SQL)`: statements with a leaky expression that cannot be guarded, whose
/// filtered scans are fenced.
const FENCED: &[(&str, &str)] = &[
    ("partner", "SELECT id FROM (SELECT id, name::int AS n FROM customers) s WHERE s.n IS NULL"),
    ("partner", "SELECT id FROM (SELECT id, name FROM customers) s WHERE s.name::int = 0"),
    ("partner", "SELECT name FROM customers GROUP BY name HAVING name::int = 0"),
    ("partner", "SELECT c.id FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.notes::int = c.id)"),
    ("partner", "SELECT id FROM customers WHERE id = 5 AND name::int = (SELECT 1)"),
];

/// Runs the checks; returns how many passed and a line per failure.
pub fn check(
    cluster: &Cluster,
    dbs: &mut Databases,
    policies: &PolicySet,
    fixtures: &Fixtures,
) -> Result<(usize, Vec<String>), String> {
    let mut passed = 0;
    let mut failures = Vec::new();
    let context = |name: &str| {
        fixtures
            .contexts
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| format!("plans: no context {name}"))
    };
    let indexed = INDEXED
        .iter()
        .map(|c| (c, false))
        .chain(GUARDED.iter().map(|c| (c, true)));
    for ((ctx, sql, index), guarded) in indexed {
        let ctx = context(ctx)?;
        let rewritten = rewritten(policies, sql, &ctx.json)?;
        if rewritten.contains("OFFSET 0") {
            failures.push(format!("PLAN {sql} @ {}: fenced: {rewritten}", ctx.name));
            continue;
        }
        if guarded != rewritten.contains("CASE WHEN (") {
            failures.push(format!(
                "PLAN {sql} @ {}: {} a guard: {rewritten}",
                ctx.name,
                if guarded { "without" } else { "with" }
            ));
            continue;
        }
        let plan = dbs.real.run_with(
            cluster,
            "SET LOCAL enable_seqscan = off;",
            &format!("EXPLAIN (COSTS OFF) {rewritten}"),
        )?;
        let text = match &plan {
            Outcome::Rows(sets) => sets
                .iter()
                .flat_map(|s| s.rows.iter())
                .filter_map(|r| r.first().cloned().flatten())
                .collect::<Vec<_>>()
                .join("\n"),
            Outcome::Error { .. } => plan.summary(),
        };
        let indexed = text
            .lines()
            .any(|l| l.contains(index) && l.contains("Index") && !l.contains("Filter"));
        if indexed && text.contains("Index Cond") {
            passed += 1;
        } else {
            failures.push(format!(
                "PLAN {sql} @ {}: no index condition on {index}:\n{text}",
                ctx.name
            ));
        }
    }
    for (ctx, sql) in FENCED {
        let ctx = context(ctx)?;
        let rewritten = rewritten(policies, sql, &ctx.json)?;
        if rewritten.contains("OFFSET 0") {
            passed += 1;
        } else {
            failures.push(format!(
                "PLAN {sql} @ {}: not fenced: {rewritten}",
                ctx.name
            ));
        }
    }
    Ok((passed, failures))
}

fn rewritten(policies: &PolicySet, sql: &str, ctx: &str) -> Result<String, String> {
    let verdict =
        evaluate_twice(policies, sql, ctx).map_err(|f| format!("plans: {sql}: {}", f.1))?;
    verdict
        .rewritten_sql
        .ok_or_else(|| format!("plans: {sql} is blocked: {}", verdict.reason))
}
