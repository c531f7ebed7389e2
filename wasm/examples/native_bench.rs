//! The native side of the wasm/native benchmark (`scripts/bench-wasm.sh`): evaluates the
//! query mix of `wasm/bench/mix.json` and prints the nanoseconds per evaluation.
//!
//! `cargo run --release -p verdict-wasm --example native_bench -- MIX.json ROUNDS`
//!
//! Prints one JSON line: `{"prepared_ns": …, "one_shot_ns": …}` — the median over rounds of
//! the time per statement with the policy set loaded once (prepared, as
//! `PolicyEngine#evaluateJson`), and loaded again for every statement (one-shot, as
//! `evaluateJson`); both read the context text per statement, as those calls do. Time is
//! the process's CPU time where the platform gives it (`"clock": "cpu"`), else wall-clock
//! time, so other work on a shared machine counts as little as possible.

use std::hint::black_box;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use serde_json::Value as Json;
use verdict_engine::{evaluate, Context, PolicySet};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(mix), rounds) = (args.next(), args.next()) else {
        eprintln!("usage: native_bench MIX.json [ROUNDS]");
        return ExitCode::from(2);
    };
    let rounds: usize = rounds.and_then(|r| r.parse().ok()).unwrap_or(20);
    match run(PathBuf::from(mix), rounds) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("native_bench: {err}");
            ExitCode::FAILURE
        }
    }
}

/// The process's CPU time in nanoseconds (CLOCK_PROCESS_CPUTIME_ID), as Node's
/// `process.cpuUsage()` gives it on the wasm side, so that other processes on a shared
/// machine do not count; `None` off Unix, and then wall-clock time is measured.
/// (`/proc/thread-self/schedstat` advances only at scheduler ticks, a few milliseconds: too
/// coarse for rounds of tens of milliseconds.)
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

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

fn run(mix_path: PathBuf, rounds: usize) -> Result<String, String> {
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
    let per_round = mix.get("repeat").and_then(Json::as_u64).unwrap_or(20) as usize;
    let set = PolicySet::parse(&policies).map_err(|e| e.to_json())?;
    let n = (queries.len() * per_round) as f64;
    let mut prepared = Vec::new();
    let mut one_shot = Vec::new();
    for _ in 0..rounds {
        let t = Mark::now();
        for _ in 0..per_round {
            for q in &queries {
                // As `engine.evaluateJson(sql, contextJson)`: the context text is read per call.
                let ctx = Context::from_json_str(&context).map_err(|e| e.to_json())?;
                black_box(evaluate(&set, q, &ctx).to_json());
            }
        }
        prepared.push(t.elapsed_ns() / n);
        let t = Mark::now();
        for _ in 0..per_round {
            for q in &queries {
                // As a one-shot call: load the set and the context for each statement.
                let set = PolicySet::parse(&policies).map_err(|e| e.to_json())?;
                let ctx = Context::from_json_str(&context).map_err(|e| e.to_json())?;
                black_box(evaluate(&set, q, &ctx).to_json());
            }
        }
        one_shot.push(t.elapsed_ns() / n);
    }
    let clock = if cpu_ns().is_some() { "cpu" } else { "wall" };
    Ok(format!(
        "{{\"prepared_ns\":{:.0},\"one_shot_ns\":{:.0},\"clock\":\"{clock}\"}}",
        median(prepared),
        median(one_shot)
    ))
}
