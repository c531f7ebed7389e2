//! Integration tests of `verdict proxy` against a real PostgreSQL (a throw-away testkit
//! cluster), with real clients: the `postgres` crate (simple and extended protocol),
//! `psql`, and raw sockets for hostile input.
//!
//! `cargo test -p verdict-proxy --test proxy [FILTER]` runs the cases whose name contains
//! FILTER.

// A test binary without libtest's harness is not `cfg(test)`, so clippy.toml's allowances
// for tests do not reach it; panicking on a broken expectation is what a test does.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod clients;
mod conformance;
mod copy;
mod env;
mod hostile;
mod protocol;
mod store;
mod tls;

use std::io::Write;
use std::time::Instant;

pub use env::Env;

/// A named case.
pub struct Case {
    pub name: &'static str,
    pub run: fn(&Env),
}

#[macro_export]
macro_rules! case {
    ($f:path) => {
        $crate::Case {
            name: stringify!($f),
            run: $f,
        }
    };
}

fn main() {
    // The store-log case runs a proxy in a child process of this binary to read its stderr.
    if let Some(url) = std::env::args()
        .skip_while(|a| a != store::CHILD_FLAG)
        .nth(1)
    {
        store::child_proxy(&url);
        return;
    }
    let filter: Option<String> = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let mut all: Vec<Case> = protocol::all();
    all.extend(clients::all());
    all.extend(copy::all());
    all.extend(hostile::all());
    all.extend(conformance::all());
    all.extend(store::all());
    all.extend(tls::all());
    let selected: Vec<&Case> = all
        .iter()
        .filter(|c| filter.as_deref().is_none_or(|f| c.name.contains(f)))
        .collect();
    let env = Env::start();
    let started = Instant::now();
    let mut failed = Vec::new();
    for case in &selected {
        print!("proxy {} ... ", case.name);
        let _ = std::io::stdout().flush();
        let t = Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (case.run)(&env)));
        match result {
            Ok(()) => println!("ok ({} ms)", t.elapsed().as_millis()),
            Err(_) => {
                println!("FAILED");
                failed.push(case.name);
            }
        }
    }
    println!(
        "\nproxy tests: {} passed, {} failed in {:.1} s",
        selected.len() - failed.len(),
        failed.len(),
        started.elapsed().as_secs_f64()
    );
    drop(env);
    if !failed.is_empty() {
        println!("failed: {}", failed.join(", "));
        std::process::exit(1);
    }
}
