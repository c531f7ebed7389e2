//! The native side of the wasm/native benchmark (`scripts/bench-wasm.sh`, `js/bench.mjs`),
//! shared by its two binaries: `native_bench` (the system allocator, as a program embedding
//! the engine gets by default) and `native_bench_mimalloc` (mimalloc, which the `verdict`
//! binary links), both with the engine's default features (wasm/Cargo.toml), as those programs
//! build it. A long-lived process that times blocks of evaluations on request, so that
//! the benchmark can interleave native and wasm blocks closely in time and compare them
//! round by round.
//!
//! `cargo run --release -p verdict-wasm --example native_bench -- MIX.json`
//!
//! Reads commands on stdin, one per line, and answers each with one line:
//! - `prepared N`: N passes over the mix's queries with the policy set loaded once, as
//!   `PolicyEngine#evaluateJson` (the context text is read per statement, as that call
//!   does); answers the nanoseconds per statement.
//! - `one-shot N`: the same with the policy set loaded again for every statement, as
//!   `evaluateJson`; answers the nanoseconds per statement.
//! - `clock`: answers `cpu` when blocks are timed by the process's CPU time (Unix), else
//!   `wall`.
//!
//! Anything else is answered with a line starting `error:`. Ends at the end of stdin.

use std::hint::black_box;
use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use serde_json::Value as Json;
use verdict_engine::{evaluate, Context, PolicySet};

pub fn main() -> ExitCode {
    let Some(mix) = std::env::args().nth(1) else {
        eprintln!("usage: native_bench MIX.json  (then commands on stdin: prepared N | one-shot N | clock)");
        return ExitCode::from(2);
    };
    let bench = match Bench::load(PathBuf::from(mix)) {
        Ok(bench) => bench,
        Err(err) => {
            eprintln!("native_bench: {err}");
            return ExitCode::FAILURE;
        }
    };
    let stdout = std::io::stdout();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let answer = bench.command(line.trim());
        let mut out = stdout.lock();
        if writeln!(out, "{answer}")
            .and_then(|()| out.flush())
            .is_err()
        {
            break;
        }
    }
    ExitCode::SUCCESS
}

/// The process's CPU time in nanoseconds (CLOCK_PROCESS_CPUTIME_ID), as Node's
/// `process.cpuUsage()` gives it on the wasm side, so that other processes on a shared
/// machine do not count; `None` off Unix, and then wall-clock time is measured.
/// (`/proc/thread-self/schedstat` advances only at scheduler ticks, a few milliseconds: too
/// coarse for blocks of tens of milliseconds.)
#[cfg(unix)]
fn cpu_ns() -> Option<u64> {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    Some(u64::try_from(t.tv_sec).ok()? * 1_000_000_000 + u64::try_from(t.tv_nsec).ok()?)
}

#[cfg(not(unix))]
fn cpu_ns() -> Option<u64> {
    None
}

/// A start mark: CPU time when the platform gives it, else wall-clock time.
enum Mark {
    Cpu(u64),
    Wall(Instant),
}

impl Mark {
    fn now() -> Mark {
        match cpu_ns() {
            Some(ns) => Mark::Cpu(ns),
            None => Mark::Wall(Instant::now()),
        }
    }

    fn elapsed_ns(&self) -> f64 {
        match self {
            Mark::Cpu(start) => cpu_ns().unwrap_or(*start).saturating_sub(*start) as f64,
            Mark::Wall(start) => start.elapsed().as_nanos() as f64,
        }
    }
}

struct Bench {
    policies: String,
    context: String,
    queries: Vec<String>,
    set: PolicySet,
}

impl Bench {
    fn load(mix_path: PathBuf) -> Result<Bench, String> {
        let read =
            |p: &PathBuf| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
        let mix: Json = serde_json::from_str(&read(&mix_path)?).map_err(|e| e.to_string())?;
        let root = mix_path
            .parent()
            .map(|p| p.join("../.."))
            .unwrap_or_default();
        let field = |k: &str| {
            mix.get(k)
                .and_then(Json::as_str)
                .ok_or(format!("mix.json lacks `{k}`"))
        };
        let policies = read(&root.join(field("policies")?))?;
        let context = read(&root.join(field("context")?))?;
        let queries: Vec<String> = mix
            .get("queries")
            .and_then(Json::as_array)
            .map(|qs| {
                qs.iter()
                    .filter_map(|q| q.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if queries.is_empty() {
            return Err("mix.json has no `queries`".into());
        }
        let set = PolicySet::parse(&policies).map_err(|e| e.to_json())?;
        Ok(Bench {
            policies,
            context,
            queries,
            set,
        })
    }

    fn command(&self, line: &str) -> String {
        let mut words = line.split_whitespace();
        let (kind, passes) = (words.next(), words.next().map(str::parse::<usize>));
        let result = match (kind, passes) {
            (Some("clock"), None) => {
                return (if cpu_ns().is_some() { "cpu" } else { "wall" }).to_string()
            }
            (Some("prepared"), Some(Ok(n))) if n > 0 => self.block(n, false),
            (Some("one-shot"), Some(Ok(n))) if n > 0 => self.block(n, true),
            _ => Err(format!("unknown command `{line}`")),
        };
        match result {
            Ok(ns) => format!("{ns:.0}"),
            Err(err) => format!("error: {err}"),
        }
    }

    /// Nanoseconds per statement over `passes` passes of the mix.
    fn block(&self, passes: usize, one_shot: bool) -> Result<f64, String> {
        let t = Mark::now();
        for _ in 0..passes {
            for q in &self.queries {
                let loaded;
                let set = if one_shot {
                    // As a one-shot call: load the set for each statement.
                    loaded = PolicySet::parse(&self.policies).map_err(|e| e.to_json())?;
                    &loaded
                } else {
                    &self.set
                };
                // As `evaluateJson(…, contextJson)`: the context text is read per call.
                let ctx = Context::from_json_str(&self.context).map_err(|e| e.to_json())?;
                black_box(evaluate(set, q, &ctx).to_json());
            }
        }
        Ok(t.elapsed_ns() / (passes * self.queries.len()) as f64)
    }
}
