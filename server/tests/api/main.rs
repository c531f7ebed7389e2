//! Integration tests of every endpoint of the Policies API, each case run against SQLite
//! and against a real PostgreSQL that this suite starts itself (a throw-away cluster),
//! plus a SIGKILL-and-restart test of the server process on SQLite.
//!
//! `cargo test -p verdict-server --test api [FILTER]` runs the cases whose name contains
//! FILTER. `VERDICT_TEST_BACKENDS=sqlite` (or `postgres`) limits the backends.

// A test binary without libtest's harness is not `cfg(test)`, so clippy.toml's allowances
// for tests do not reach it; panicking on a broken expectation is what a test does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod alerts;
mod audit_views;
mod cases;
mod contract;
mod data_source_security;
mod data_sources;
mod explain;
mod kill;
mod limits;
mod policy_tests;
mod principals;
mod review;
mod robustness;
mod seed_fields;
mod support;

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::time::Instant;

use support::{Backend, Databases, Env};

type CaseFuture = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A named case.
pub struct Case {
    pub name: &'static str,
    pub run: fn(Env) -> CaseFuture,
}

#[macro_export]
macro_rules! case {
    ($f:path) => {
        $crate::Case {
            name: stringify!($f),
            run: |env| Box::pin($f(env)),
        }
    };
}

fn main() {
    if kill::is_child() {
        kill::child_main();
        return;
    }
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let backends: Vec<Backend> = match std::env::var("VERDICT_TEST_BACKENDS").ok().as_deref() {
        Some("sqlite") => vec![Backend::Sqlite],
        Some("postgres") => vec![Backend::Postgres],
        _ => vec![Backend::Sqlite, Backend::Postgres],
    };
    let mut all: Vec<Case> = cases::all();
    all.extend(robustness::all());
    all.extend(contract::all());
    all.extend(limits::all());
    all.extend(alerts::all());
    all.extend(principals::all());
    all.extend(policy_tests::all());
    all.extend(explain::all());
    all.extend(review::all());
    all.extend(data_sources::all());
    all.extend(audit_views::all());
    all.extend(seed_fields::all());
    all.extend(data_source_security::all());
    let selected: Vec<&Case> = all
        .iter()
        .filter(|c| filter.as_ref().is_none_or(|f| c.name.contains(f.as_str())))
        .collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .expect("tokio runtime");

    // The data-source cases read a PostgreSQL on either backend.
    let needs_cluster = backends.contains(&Backend::Postgres)
        || selected.iter().any(|c| c.name.starts_with("data_source"));
    let cluster = if needs_cluster && !selected.is_empty() {
        let started = Instant::now();
        match verdict_testkit::Cluster::start("server tests", 200) {
            Ok(c) => {
                eprintln!(
                    "server tests: PostgreSQL cluster up in {:.1?}",
                    started.elapsed()
                );
                Some(c)
            }
            Err(e) => {
                eprintln!("server tests: cannot start PostgreSQL: {e}");
                std::process::exit(1);
            }
        }
    } else {
        None
    };
    let databases = Databases::new(cluster);
    let mut total_passed = 0;
    let mut total_failed = 0;
    let mut failures = Vec::new();
    for backend in &backends {
        let mut passed = 0;
        let mut failed = 0;
        for case in &selected {
            let started = Instant::now();
            let env = runtime.block_on(databases.env(*backend));
            let db = env.db.clone();
            let result = runtime.block_on(async { tokio::spawn((case.run)(env)).await });
            runtime.block_on(db.close());
            let ok = result.is_ok();
            println!(
                "test {}::{} ... {} ({:.0?})",
                backend.name(),
                case.name,
                if ok { "ok" } else { "FAILED" },
                started.elapsed()
            );
            let _ = std::io::stdout().flush();
            if ok {
                passed += 1;
            } else {
                failed += 1;
                failures.push(format!("{}::{}", backend.name(), case.name));
            }
        }
        println!("{}: {passed} passed, {failed} failed", backend.name());
        total_passed += passed;
        total_failed += failed;
    }
    if filter
        .as_ref()
        .is_none_or(|f| "kill_during_writes".contains(f.as_str()))
        && backends.contains(&Backend::Sqlite)
    {
        let started = Instant::now();
        let ok = std::panic::catch_unwind(|| kill::kill_during_writes(&databases.tmp)).is_ok();
        println!(
            "test sqlite::kill_during_writes ... {} ({:.0?})",
            if ok { "ok" } else { "FAILED" },
            started.elapsed()
        );
        if ok {
            total_passed += 1;
        } else {
            total_failed += 1;
            failures.push("sqlite::kill_during_writes".to_string());
        }
    }
    if filter
        .as_ref()
        .is_none_or(|f| "queued_alert_survives_restart".contains(f.as_str()))
        && backends.contains(&Backend::Sqlite)
    {
        let started = Instant::now();
        let ok = std::panic::catch_unwind(|| kill::queued_alert_survives_restart(&databases.tmp))
            .is_ok();
        println!(
            "test sqlite::queued_alert_survives_restart ... {} ({:.0?})",
            if ok { "ok" } else { "FAILED" },
            started.elapsed()
        );
        if ok {
            total_passed += 1;
        } else {
            total_failed += 1;
            failures.push("sqlite::queued_alert_survives_restart".to_string());
        }
    }
    drop(databases);
    for f in &failures {
        println!("failed: {f}");
    }
    println!("api: {total_passed} passed, {total_failed} failed");
    if total_failed > 0 {
        std::process::exit(1);
    }
}
