//! Differential conformance suite: for every case and context, the engine's rewritten
//! SQL on the real tables must give what the original SQL gives on hand-written secure
//! views of that context (the oracle), and what the oracle cannot see must be blocked.
//! Write and restriction cases (writes/) run in `BEGIN … ROLLBACK` on both sides, compare
//! affected-row counts, returned rows and the base rows afterwards, and fingerprint every
//! database after each case.
//!
//! Run with `cargo test -p verdict-conformance --test conformance`. Environment:
//! `VERDICT_CASE=substring` and `VERDICT_CONTEXT=name` select checks, `VERDICT_VERBOSE=1`
//! lists every check (`=2` with details), `VERDICT_PG_BIN` points at PostgreSQL's bin directory,
//! `VERDICT_KEEP_PGDATA=1` keeps the throw-away cluster's directory.

mod check;
mod fixtures;
mod plans;
mod setup;
mod sql;
mod write_sql;
mod writes;

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use check::{Kind, Tally};
use fixtures::Fixtures;
use verdict_testkit::Cluster;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("conformance: {e}");
            println!("conformance: 0 passed, 1 failed");
            ExitCode::FAILURE
        }
    }
}

/// Everything between loading the fixtures and the summary; the cluster guard drops
/// (stops the server, removes its directory) before `main` returns.
fn run() -> Result<bool, String> {
    let started = Instant::now();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance");
    let fixtures = Fixtures::load(&dir)?;
    let policies = verdict_engine::PolicySet::parse(&fixtures.policies).map_err(|e| {
        format!(
            "policies.json does not load: {} {}",
            e.message,
            serde_json::to_string(&e.problems).unwrap_or_default()
        )
    })?;

    // VERDICT_VERBOSE=1 lists every check, =2 with its details.
    let verbose = std::env::var("VERDICT_VERBOSE").unwrap_or_default();
    let (list_all, details) = (!verbose.is_empty(), verbose == "2");

    let mut cluster = Cluster::start("conformance", 60)?;
    let mut dbs = setup::create_databases(&cluster, &fixtures)?;
    setup::check_catalog_lists(&cluster)?;
    println!("conformance: engine/src/leak/pg.rs, engine/src/builtins.rs and engine/src/pg_types.rs equal what this PostgreSQL's catalog generates");
    let setup_time = started.elapsed();

    let select = Selection::from_env();
    let select_checks = select.checks(
        &fixtures.cases,
        &fixtures.contexts,
        |c| &c.id,
        |c, x| c.runs_in(x),
    );
    let write_checks = select.checks(
        &fixtures.write_cases,
        &fixtures.contexts,
        |c| &c.id,
        |c, x| c.runs_in(x),
    );

    let mut tally = Tally::default();
    for (case, contexts) in &select_checks {
        for ctx in contexts {
            let result = check::check(&cluster, &mut dbs, &policies, case, ctx)?;
            if result.kind.is_failure() || list_all {
                println!("{}", result.report(case, ctx, details));
            }
            tally.add(result.kind);
        }
    }
    let case_count = select_checks.len();
    let select_time = started.elapsed();

    // The SELECT cases again, with the policy set's catalog left out
    // (check::check_without_catalog).
    let without_catalog = fixtures.policies_without_catalog()?;
    let mut uncataloged = Tally::default();
    for (case, contexts) in &select_checks {
        for ctx in contexts {
            let result =
                check::check_without_catalog(&cluster, &mut dbs, &without_catalog, case, ctx)?;
            if result.kind.is_failure() || list_all {
                println!("{} (no catalog)", result.report(case, ctx, details));
            }
            uncataloged.add(result.kind);
        }
    }
    let uncataloged_time = started.elapsed();

    // The write and restriction cases (writes/), with their own outcomes and counts.
    let mut writes = Tally::default();
    let mut fingerprints = writes::Fingerprints::default();
    for (case, contexts) in &write_checks {
        let mut bug_seen = false;
        for ctx in contexts {
            let result = writes::check(
                &cluster,
                &mut dbs,
                &policies,
                case,
                ctx,
                &mut fingerprints,
                false,
            )?;
            bug_seen |= result.kind == Kind::KnownBug;
            if result.kind.is_failure() || result.kind == Kind::KnownBug || list_all {
                println!("{}", result.report(case, ctx, details));
            }
            writes.add(result.kind);
        }
        if let (Some(bug), false) = (&case.known_bug, bug_seen) {
            println!(
                "NOTE {} passes in every context although marked as a known bug ({}): \
                 remove `known_bug`",
                case.id,
                check::one_line(bug)
            );
        }
    }
    let write_case_count = write_checks.len();

    // The write cases again without the catalog (writes::judge).
    let mut writes_uncataloged = Tally::default();
    for (case, contexts) in &write_checks {
        for ctx in contexts {
            let result = writes::check(
                &cluster,
                &mut dbs,
                &without_catalog,
                case,
                ctx,
                &mut fingerprints,
                true,
            )?;
            if result.kind.is_failure() || list_all {
                println!("{} (no catalog)", result.report(case, ctx, details));
            }
            writes_uncataloged.add(result.kind);
        }
    }
    // Leakproof statements keep their index scans; leaky ones are fenced (plans.rs).
    let (plans_passed, plan_failures) = plans::check(&cluster, &mut dbs, &policies, &fixtures)?;
    for f in &plan_failures {
        println!("FAIL {f}");
    }
    drop(dbs);
    cluster.stop();

    println!(
        "conformance: {} checks ({case_count} cases × their contexts, {} contexts) — {}",
        tally.total(),
        fixtures
            .contexts
            .iter()
            .filter(|c| c.in_suite(fixtures::SELECT_SUITE))
            .count(),
        tally.summary()
    );
    println!(
        "conformance: without the catalog: {} checks — {} match, {} blocked, {} allowed and not compared (cases that block with the catalog, or reading relations no policy names that the oracle lacks), {} wrong, {} leaks, {} errors",
        uncataloged.total(),
        uncataloged.count(Kind::Match),
        uncataloged.count(Kind::BlockedOptional),
        uncataloged.count(Kind::Allowed),
        uncataloged.count(Kind::Wrong),
        uncataloged.count(Kind::Leak),
        uncataloged.count(Kind::Error),
    );
    println!(
        "conformance: writes and restrictions: {} checks ({write_case_count} cases × their contexts) — {}",
        writes.total(),
        writes.write_summary()
    );
    println!(
        "conformance: writes and restrictions without the catalog: {} checks — {} match, {} blocked, {} no-op where the oracle refuses, {} rejected by PostgreSQL as expected, {} allowed and not compared, {} wrong, {} leaks, {} errors, {} unexpected runs",
        writes_uncataloged.total(),
        writes_uncataloged.count(Kind::Match),
        writes_uncataloged.count(Kind::BlockedOptional),
        writes_uncataloged.count(Kind::NoOp),
        writes_uncataloged.count(Kind::Rejected),
        writes_uncataloged.count(Kind::Allowed),
        writes_uncataloged.count(Kind::Wrong),
        writes_uncataloged.count(Kind::Leak),
        writes_uncataloged.count(Kind::Error),
        writes_uncataloged.count(Kind::UnexpectedRun),
    );
    println!(
        "conformance: {} fingerprints (real and the context's oracle after every write check), all equal to the ones before the suite",
        fingerprints.compared
    );
    println!(
        "conformance: plans: {plans_passed} statements use their index or are fenced as expected, {} failed",
        plan_failures.len()
    );
    println!(
        "conformance: setup {:.1}s, selects {:.1}s, without the catalog {:.1}s, total {:.1}s",
        setup_time.as_secs_f64(),
        (select_time - setup_time).as_secs_f64(),
        (uncataloged_time - select_time).as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    let failed = tally.failures()
        + uncataloged.failures()
        + writes.failures()
        + writes_uncataloged.failures()
        + plan_failures.len();
    let total = tally.total()
        + uncataloged.total()
        + writes.total()
        + writes_uncataloged.total()
        + plans_passed
        + plan_failures.len();
    println!("conformance: {} passed, {failed} failed", total - failed);
    if total == 0 {
        println!("conformance: no check selected");
        return Ok(false);
    }
    Ok(failed == 0)
}

/// The checks `VERDICT_CASE` (a substring of case ids) and `VERDICT_CONTEXT` (a context's
/// name) select.
struct Selection {
    case: Option<String>,
    context: Option<String>,
}

impl Selection {
    fn from_env() -> Selection {
        Selection {
            case: std::env::var("VERDICT_CASE").ok(),
            context: std::env::var("VERDICT_CONTEXT").ok(),
        }
    }

    /// Each selected case with the selected contexts it runs in (cases with none left out).
    fn checks<'f, C>(
        &self,
        cases: &'f [C],
        contexts: &'f [fixtures::ContextFixture],
        id: impl Fn(&C) -> &str,
        runs_in: impl Fn(&C, &fixtures::ContextFixture) -> bool,
    ) -> Vec<(&'f C, Vec<&'f fixtures::ContextFixture>)> {
        cases
            .iter()
            .filter(|case| {
                self.case
                    .as_ref()
                    .is_none_or(|f| id(case).contains(f.as_str()))
            })
            .map(|case| {
                let ctxs = contexts
                    .iter()
                    .filter(|ctx| {
                        runs_in(case, ctx) && self.context.as_ref().is_none_or(|f| *f == ctx.name)
                    })
                    .collect::<Vec<_>>();
                (case, ctxs)
            })
            .filter(|(_, ctxs)| !ctxs.is_empty())
            .collect()
    }
}
