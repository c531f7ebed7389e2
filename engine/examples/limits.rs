//! Time and peak memory of the engine on inputs at its limits: deep nesting, long chains,
//! megabyte texts, large policy sets and catalogs.
//!
//! `cargo run --release -p verdict-engine --example limits` prints one row per case. Each
//! case runs in its own child process (this binary with `--case NAME`), so the peak
//! resident memory (`VmHWM` of `/proc/self/status`) is that case's alone, and a case that
//! overflowed the stack would show as a crashed child instead of taking the table down.
//! The evaluation runs on a thread with a 1 MiB stack, like WebAssembly's default.
//!
//! `--case NAME` runs one case and prints `verdict time_ms peak_kib`;
//! `--stack KIB` changes the thread's stack; `--list` lists the cases.

// A measuring tool, not engine code: a failed child or a malformed line is reported loudly.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Instant;

#[path = "../tests/limits/inputs.rs"]
mod inputs;

use verdict_engine::{evaluate, Context, PolicySet};

fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn run_case(name: &str, stack_kib: usize) {
    let case = inputs::cases()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case `{name}`"));
    let handle = std::thread::Builder::new()
        .stack_size(stack_kib * 1024)
        .spawn(move || {
            let load = Instant::now();
            let set = match &case.policies {
                Some(text) => PolicySet::parse(text).expect("policies load"),
                None => inputs::conformance_policies(),
            };
            let load_ms = load.elapsed().as_secs_f64() * 1e3;
            let ctx = Context::from_json_str(case.context.as_deref().unwrap_or(inputs::CONTEXT))
                .expect("context loads");
            let start = Instant::now();
            let verdict = evaluate(&set, &case.sql, &ctx);
            let json = verdict.to_json();
            let ms = start.elapsed().as_secs_f64() * 1e3;
            (
                verdict.verdict.as_str(),
                verdict.rule,
                ms,
                load_ms,
                json.len(),
            )
        })
        .expect("thread starts");
    let (decision, rule, ms, load_ms, json_len) = handle.join().expect("evaluation thread");
    println!(
        "{decision}/{rule} {ms:.2} {load_ms:.2} {json_len} {}",
        peak_kib()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let stack_kib = args
        .iter()
        .position(|a| a == "--stack")
        .and_then(|i| args.get(i + 1))
        .map_or(1024, |v| v.parse().expect("--stack KIB"));
    if args.iter().any(|a| a == "--list") {
        for c in inputs::cases() {
            println!("{}", c.name);
        }
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--case") {
        run_case(args.get(i + 1).expect("--case NAME"), stack_kib);
        return;
    }
    let exe = std::env::current_exe().expect("own path");
    println!(
        "{:<34} {:>9} {:>28} {:>11} {:>10} {:>11} {:>10}",
        "case", "sql KiB", "verdict/rule", "eval ms", "load ms", "json B", "peak MiB"
    );
    for case in inputs::cases() {
        let out = Command::new(&exe)
            .args(["--case", &case.name, "--stack", &stack_kib.to_string()])
            .output()
            .expect("child runs");
        let line = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<&str> = line.split_whitespace().collect();
        let sql_kib = case.sql.len() as f64 / 1024.0;
        match fields.as_slice() {
            [verdict, ms, load_ms, json, peak] if out.status.success() => println!(
                "{:<34} {:>9.1} {:>28} {:>11} {:>10} {:>11} {:>10.1}",
                case.name,
                sql_kib,
                verdict,
                ms,
                load_ms,
                json,
                peak.parse::<f64>().unwrap_or(0.0) / 1024.0
            ),
            _ => println!(
                "{:<34} {:>9.1} CRASHED ({}): {}",
                case.name,
                sql_kib,
                out.status,
                String::from_utf8_lossy(&out.stderr)
                    .lines()
                    .last()
                    .unwrap_or("")
            ),
        }
    }
}
