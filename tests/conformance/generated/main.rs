//! Generated differential testing (in the spirit of SQLancer): random, well-typed SELECTs
//! over the conformance schema, each in a random context of the SELECT suite, judged
//! against the context's oracle views like the hand-written cases (see judge.rs), then
//! again with the policy set's catalog left out (`Pass`). A failure prints the seed, the
//! query, the context, the verdict and the rewritten SQL, and a shrunk query that fails
//! the same way.
//!
//! `cargo test -p verdict-conformance --test generated`. Environment:
//! `VERDICT_GEN_SEED` (default 1), `VERDICT_GEN_COUNT` (default 2500),
//! `VERDICT_GEN_START` (the first query index, default 0: `VERDICT_GEN_START=i
//! VERDICT_GEN_COUNT=1` reruns query i of a seed), `VERDICT_CONTEXT` (one context),
//! `VERDICT_VERBOSE=1` (every query with its outcome; `=2` with verdict and rewritten SQL),
//! `VERDICT_GEN_SHRINK=all` (shrink over-blocks too, to see their pattern),
//! `VERDICT_GEN_SQL=…` (judge this one SQL text in every selected context instead; the
//! rows are compared as multisets).

#[allow(dead_code)]
#[path = "../check.rs"]
mod check;
#[allow(dead_code)]
#[path = "../fixtures.rs"]
mod fixtures;
#[allow(dead_code)]
#[path = "../setup.rs"]
mod setup;
#[allow(dead_code)]
#[path = "../sql.rs"]
mod sql;
#[allow(dead_code)]
#[path = "../write_sql.rs"]
mod write_sql;
#[allow(dead_code)]
#[path = "../writes.rs"]
mod writes;

mod ast;
mod gen;
mod judge;
mod shrink;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use verdict_engine::PolicySet;
use verdict_testkit::Cluster;

use ast::{Query, Write};
use check::{Kind as CheckKind, Tally};
use fixtures::{ContextFixture, Fixtures, WriteCase};
use judge::{judge, Judged, Kind};
use setup::Databases;

/// The default seed and count: the count keeps the run within about three minutes on two
/// cores (setup included).
const DEFAULT_SEED: u64 = 1;
const DEFAULT_COUNT: u64 = 2500;
/// Generated writes (UPDATE and DELETE) after the queries, from their own streams.
const DEFAULT_WRITES: u64 = 1000;
/// Added to the seed for the writes' streams, so that they are not the queries'.
const WRITE_STREAMS: u64 = 0x5752_4954_4553;
/// At most this many judged candidates per shrink.
const SHRINK_BUDGET: usize = 3000;

fn main() -> ExitCode {
    match run() {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("generated: {e}");
            println!("generated: 0 passed, 1 failed");
            ExitCode::FAILURE
        }
    }
}

fn env_u64(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name) {
        Ok(v) => v
            .trim()
            .parse()
            .map_err(|e| format!("{name}={v} is not a number: {e}")),
        Err(_) => Ok(default),
    }
}

struct Run<'a> {
    cluster: &'a Cluster,
    dbs: Databases,
    policies: &'a PolicySet,
    /// The same policy set without its catalog (the second pass).
    uncataloged: &'a PolicySet,
}

/// Every query is judged twice: with the policy set's catalog, and without it, where any
/// block passes (the engine needs the catalog to list masked tables' columns, `*` among
/// them) but what it allows must still give the oracle's answer and leak nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pass {
    Catalog,
    NoCatalog,
}

impl Pass {
    fn suffix(self) -> &'static str {
        match self {
            Pass::Catalog => "",
            Pass::NoCatalog => " (no catalog)",
        }
    }
}

impl Run<'_> {
    fn judge(
        &mut self,
        pass: Pass,
        ctx: &ContextFixture,
        q: &Query,
        oracle: Option<sql::Outcome>,
    ) -> Result<Judged, String> {
        let policies = self.policies_of(pass);
        judge(
            self.cluster,
            &mut self.dbs,
            policies,
            ctx,
            &q.sql(),
            q.ordered(),
            oracle,
        )
    }

    /// The smallest query reached by single steps that each still give `kind`.
    fn shrink(
        &mut self,
        pass: Pass,
        ctx: &ContextFixture,
        q: &Query,
        kind: Kind,
    ) -> Result<(Query, Judged, usize), String> {
        let mut best = q.clone();
        let mut best_judged = self.judge(pass, ctx, &best, None)?;
        let mut tries = 0;
        'outer: loop {
            for candidate in shrink::candidates(&best) {
                if tries >= SHRINK_BUDGET {
                    break 'outer;
                }
                tries += 1;
                let j = self.judge(pass, ctx, &candidate, None)?;
                if j.kind == kind {
                    best = candidate;
                    best_judged = j;
                    continue 'outer;
                }
            }
            break;
        }
        Ok((best, best_judged, tries))
    }
}

impl<'a> Run<'a> {
    fn policies_of(&self, pass: Pass) -> &'a PolicySet {
        match pass {
            Pass::Catalog => self.policies,
            Pass::NoCatalog => self.uncataloged,
        }
    }

    /// Judges a generated write in `ctx` with the write suite's judge (the oracle decides
    /// what is expected; both databases must be as before afterwards).
    fn judge_write(
        &mut self,
        pass: Pass,
        ctx: &ContextFixture,
        case: &WriteCase,
        fingerprints: &mut writes::Fingerprints,
    ) -> Result<writes::WriteResult, String> {
        let policies = self.policies_of(pass);
        writes::check(
            self.cluster,
            &mut self.dbs,
            policies,
            case,
            ctx,
            fingerprints,
            pass == Pass::NoCatalog,
        )
    }

    /// The smallest write reached by single steps that each still give `kind`.
    fn shrink_write(
        &mut self,
        pass: Pass,
        ctx: &ContextFixture,
        w: &Write,
        kind: CheckKind,
        fingerprints: &mut writes::Fingerprints,
    ) -> Result<(Write, usize), String> {
        let mut best = w.clone();
        let mut tries = 0;
        'outer: loop {
            for candidate in shrink::write_candidates(&best) {
                if tries >= SHRINK_BUDGET {
                    break 'outer;
                }
                tries += 1;
                let case = WriteCase::generated("generated/shrunk".into(), candidate.sql());
                let r = self.judge_write(pass, ctx, &case, fingerprints)?;
                if r.kind == kind {
                    best = candidate;
                    continue 'outer;
                }
            }
            break;
        }
        Ok((best, tries))
    }
}

/// Whether a generated write's outcome fails the run: as for the hand-written write
/// cases, except that an over-block is safe and only counted (as for generated queries).
fn write_fails(kind: CheckKind) -> bool {
    kind.is_failure() && kind != CheckKind::OverBlocked
}

/// Where a generated query came from, and how much to print of it.
#[derive(Clone, Copy)]
struct Shown {
    seed: u64,
    index: u64,
    list_all: bool,
    details: bool,
}

impl Run<'_> {
    /// Prints a judged query when it failed (with its shrunk form) or when every query is
    /// listed; answers the shrunk failure's one-line summary.
    fn show(
        &mut self,
        shown: Shown,
        pass: Pass,
        ctx: &ContextFixture,
        q: &Query,
        j: &Judged,
    ) -> Result<Option<String>, String> {
        let failed = j.kind.is_failure();
        if !failed && !shown.list_all {
            return Ok(None);
        }
        let Shown { seed, index, .. } = shown;
        let sql = q.sql();
        let mut out = format!(
            "{} [{}] query {index} of seed {seed} @ {}{}",
            if failed { "FAIL" } else { "ok  " },
            j.kind.label(),
            ctx.name,
            pass.suffix()
        );
        if failed || shown.details {
            out.push_str(&format!(
                "\n    reproduce: VERDICT_GEN_SEED={seed} VERDICT_GEN_START={index} \
                 VERDICT_GEN_COUNT=1 VERDICT_VERBOSE=2"
            ));
            out.push_str(&format!("\n    context:   contexts/{}.json", ctx.name));
            describe(&mut out, "", &sql, j);
        } else {
            out.push_str(&format!("\n    sql: {sql}"));
        }
        let mut failure = None;
        if failed {
            let (small, small_j, tries) = self.shrink(pass, ctx, q, j.kind)?;
            describe(&mut out, "shrunk ", &small.sql(), &small_j);
            out.push_str(&format!("\n    ({tries} shrink candidates judged)"));
            failure = Some(format!(
                "{} @ {}{}: {}",
                j.kind.label(),
                ctx.name,
                pass.suffix(),
                small.sql()
            ));
        }
        println!("{out}");
        Ok(failure)
    }
}

/// Counts a block in its group ([`pattern`] of its rule and reason); the first of a group
/// keeps `example` as the group's.
fn count_group(
    groups: &mut BTreeMap<String, (usize, String)>,
    verdict: Option<&verdict_engine::Verdict>,
    example: impl FnOnce() -> Result<String, String>,
) -> Result<(), String> {
    let key = verdict
        .map(|v| pattern(&format!("{}: {}", v.rule, v.reason)))
        .unwrap_or_default();
    let entry = groups.entry(key).or_insert((0, String::new()));
    entry.0 += 1;
    if entry.0 == 1 {
        entry.1 = example()?;
    }
    Ok(())
}

/// Prints blocks grouped by rule and reason ([`pattern`]): count and a first example.
fn print_groups(title: &str, groups: &BTreeMap<String, (usize, String)>) {
    if groups.is_empty() {
        return;
    }
    println!("{title}");
    for (key, (n, example)) in groups {
        println!("  {n} × {key}\n      e.g. {example}");
    }
}

/// A block reason with the generated aliases (`t3`, `d1.*`) made alike, so that over-blocks
/// group by pattern; at most 300 characters (a context's filter may be long).
fn pattern(reason: &str) -> String {
    let full = reason
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            let name = part.strip_suffix(".*").unwrap_or(part);
            let alias = name.len() > 1
                && name.starts_with(['t', 'd', 'v'])
                && name.chars().skip(1).all(|c| c.is_ascii_digit());
            if i % 2 == 1 && alias {
                part.replacen(name, &format!("{}N", name.get(..1).unwrap_or_default()), 1)
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("`");
    match full.char_indices().nth(300) {
        Some((cut, _)) => format!("{}…", full.get(..cut).unwrap_or_default()),
        None => full,
    }
}

fn describe(out: &mut String, label: &str, sql: &str, j: &Judged) {
    out.push_str(&format!("\n    {label}sql:       {sql}"));
    if let Some(v) = &j.verdict {
        out.push_str(&format!(
            "\n    {label}verdict:   {} (rule {}: {})",
            v.verdict.as_str(),
            v.rule,
            v.reason
        ));
        if let Some(r) = &v.rewritten_sql {
            out.push_str(&format!("\n    {label}rewritten: {r}"));
        }
    }
    if !j.detail.is_empty() {
        out.push_str(&format!("\n    {label}saw:       {}", j.detail));
    }
}

fn run() -> Result<bool, String> {
    let started = Instant::now();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("conformance");
    let fixtures = Fixtures::load(&dir)?;
    let policies = PolicySet::parse(&fixtures.policies)
        .map_err(|e| format!("policies.json does not load: {}", e.message))?;
    let tables = gen::catalog(&fixtures.policies)?;
    let denied = gen::denied(&fixtures.policies)?;

    let seed = env_u64("VERDICT_GEN_SEED", DEFAULT_SEED)?;
    let count = env_u64("VERDICT_GEN_COUNT", DEFAULT_COUNT)?;
    let start = env_u64("VERDICT_GEN_START", 0)?;
    let write_count = env_u64("VERDICT_GEN_WRITES", DEFAULT_WRITES)?;
    let write_start = env_u64("VERDICT_GEN_WRITES_START", 0)?;
    let masked = gen::write::masked(&fixtures.policies)?;
    let typeless = gen::write::typeless_without_catalog(&fixtures.policies, &tables)?;
    let context_filter = std::env::var("VERDICT_CONTEXT").ok();
    let verbose = std::env::var("VERDICT_VERBOSE").unwrap_or_default();
    let (list_all, details) = (!verbose.is_empty(), verbose == "2");
    let shrink_all = std::env::var("VERDICT_GEN_SHRINK").is_ok_and(|v| v == "all");

    let contexts: Vec<&ContextFixture> = fixtures
        .contexts
        .iter()
        .filter(|c| c.in_suite(fixtures::SELECT_SUITE))
        .filter(|c| context_filter.as_ref().is_none_or(|f| *f == c.name))
        .collect();
    let write_contexts: Vec<&ContextFixture> = fixtures
        .contexts
        .iter()
        .filter(|c| c.in_suite(fixtures::WRITES_SUITE))
        .filter(|c| context_filter.as_ref().is_none_or(|f| *f == c.name))
        .collect();
    if contexts.is_empty() && write_contexts.is_empty() {
        println!("generated: no context selected");
        println!("generated: 0 passed, 1 failed");
        return Ok(false);
    }

    let mut cluster = Cluster::start("generated", 60)?;
    let dbs = setup::create_databases(&cluster, &fixtures)?;
    let setup_time = started.elapsed();
    let uncataloged = fixtures.policies_without_catalog()?;
    let mut run = Run {
        cluster: &cluster,
        dbs,
        policies: &policies,
        uncataloged: &uncataloged,
    };

    // VERDICT_GEN_SQL: judge one SQL text (a shrunk query) in every selected context, in
    // both passes.
    if let Ok(sql) = std::env::var("VERDICT_GEN_SQL") {
        let (mut checks, mut failed) = (0, 0);
        for ctx in &contexts {
            for (pass, policies) in [(Pass::Catalog, &policies), (Pass::NoCatalog, &uncataloged)] {
                let j = judge(run.cluster, &mut run.dbs, policies, ctx, &sql, false, None)?;
                checks += 1;
                failed += usize::from(j.kind.is_failure());
                let mut out = format!("[{}] @ {}{}", j.kind.label(), ctx.name, pass.suffix());
                describe(&mut out, "", &sql, &j);
                println!("{out}");
            }
        }
        drop(run);
        cluster.stop();
        println!("generated: {} passed, {failed} failed", checks - failed);
        return Ok(failed == 0);
    }

    let mut tally: BTreeMap<Kind, usize> = BTreeMap::new();
    let mut tally_uncataloged: BTreeMap<Kind, usize> = BTreeMap::new();
    // Over-blocks by rule and reason: count and the first query (shrunk with
    // VERDICT_GEN_SHRINK=all).
    let mut over_blocks: BTreeMap<String, (usize, String)> = BTreeMap::new();
    // Blocks by another rule than `deny` where the oracle cannot see: rule and reason.
    let mut other_rules: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut shrunk_failures = Vec::new();
    for index in start..start.saturating_add(count) {
        let mut g = gen::Gen::new(&tables, &denied, gen::query_seed(seed, index));
        let Some(ctx) = contexts.get(g.below(contexts.len())).copied() else {
            continue;
        };
        let q = g.statement();
        let sql = q.sql();
        let j = run.judge(Pass::Catalog, ctx, &q, None)?;
        *tally.entry(j.kind).or_default() += 1;
        if j.kind == Kind::BlockedOtherRule {
            count_group(&mut other_rules, j.verdict.as_ref(), || Ok(sql.clone()))?;
        }
        if j.kind == Kind::OverBlocked {
            count_group(&mut over_blocks, j.verdict.as_ref(), || {
                if shrink_all {
                    Ok(run.shrink(Pass::Catalog, ctx, &q, j.kind)?.0.sql())
                } else {
                    Ok(sql.clone())
                }
            })?;
        }
        let oracle = j.oracle.clone();
        let shown = Shown {
            seed,
            index,
            list_all,
            details,
        };
        if let Some(failure) = run.show(shown, Pass::Catalog, ctx, &q, &j)? {
            shrunk_failures.push(failure);
        }
        // The same query without the catalog, against the same oracle answer.
        let u = run.judge(Pass::NoCatalog, ctx, &q, oracle)?;
        *tally_uncataloged.entry(u.kind).or_default() += 1;
        if let Some(failure) = run.show(shown, Pass::NoCatalog, ctx, &q, &u)? {
            shrunk_failures.push(failure);
        }
    }

    // The generated writes, each in a random context of the write suite, in both passes.
    let mut write_tallies = [Tally::default(), Tally::default()];
    let mut fingerprints = writes::Fingerprints::default();
    let mut write_over_blocks: BTreeMap<String, (usize, String)> = BTreeMap::new();
    let mut write_other_rules: BTreeMap<String, (usize, String)> = BTreeMap::new();
    for index in write_start..write_start.saturating_add(write_count) {
        let stream = gen::query_seed(seed.wrapping_add(WRITE_STREAMS), index);
        let mut g = gen::Gen::new(&tables, &denied, stream);
        let Some(ctx) = write_contexts.get(g.below(write_contexts.len())).copied() else {
            continue;
        };
        let w = g.write(&masked);
        let case = WriteCase::generated(format!("generated/write-{index}"), w.sql());
        let sql_lower = case.sql.to_lowercase();
        for (pass, tally) in [Pass::Catalog, Pass::NoCatalog]
            .into_iter()
            .zip(&mut write_tallies)
        {
            let mut r = run.judge_write(pass, ctx, &case, &mut fingerprints)?;
            if r.kind == CheckKind::Wrong && r.verdict().is_some_and(|v| v.is_block()) {
                // A block where the oracle refuses too, by another rule than the oracle's
                // reason (a masked whole row before a denied column): still a block.
                count_group(&mut write_other_rules, r.verdict(), || Ok(case.sql.clone()))?;
                r.kind = CheckKind::Blocked;
            }
            if pass == Pass::NoCatalog
                && matches!(r.kind, CheckKind::Wrong | CheckKind::Error)
                && typeless.iter().any(|c| sql_lower.contains(c.as_str()))
            {
                // gen::write::typeless_without_catalog: not compared without the catalog.
                r.kind = CheckKind::Allowed;
            }
            tally.add(r.kind);
            if r.kind == CheckKind::OverBlocked && pass == Pass::Catalog {
                count_group(&mut write_over_blocks, r.verdict(), || Ok(case.sql.clone()))?;
            }
            let failed = write_fails(r.kind);
            if !failed && !list_all {
                continue;
            }
            let mut out = format!(
                "{}{}",
                r.report(&case, ctx, details || failed),
                pass.suffix()
            );
            if failed {
                out.push_str(&format!(
                    "\n    reproduce: VERDICT_GEN_SEED={seed} VERDICT_GEN_COUNT=0 \
                     VERDICT_GEN_WRITES_START={index} VERDICT_GEN_WRITES=1 VERDICT_VERBOSE=2"
                ));
                let (small, tries) = run.shrink_write(pass, ctx, &w, r.kind, &mut fingerprints)?;
                out.push_str(&format!(
                    "\n    shrunk:    {}\n    ({tries} shrink candidates judged)",
                    small.sql()
                ));
                shrunk_failures.push(format!(
                    "{} @ {}{}: {}",
                    r.kind.label(),
                    ctx.name,
                    pass.suffix(),
                    small.sql()
                ));
            }
            println!("{out}");
        }
    }
    let run_time = started.elapsed() - setup_time;
    drop(run);
    cluster.stop();

    let count_kinds = |tally: &BTreeMap<Kind, usize>| {
        let total: usize = tally.values().sum();
        let failed: usize = tally
            .iter()
            .filter(|(k, _)| k.is_failure())
            .map(|(_, n)| n)
            .sum();
        let counts: Vec<String> = Kind::ALL
            .iter()
            .map(|k| format!("{} {}", tally.get(k).copied().unwrap_or(0), k.label()))
            .collect();
        (total, failed, counts.join(", "))
    };
    let (total, failed, counts) = count_kinds(&tally);
    let (total_u, failed_u, counts_u) = count_kinds(&tally_uncataloged);
    print_groups(
        "generated: over-blocks (safe) by rule and reason:",
        &over_blocks,
    );
    print_groups(
        "generated: blocked by another rule where the oracle cannot see:",
        &other_rules,
    );
    if !shrunk_failures.is_empty() {
        println!("generated: failures, shrunk:");
        for f in &shrunk_failures {
            println!("  {f}");
        }
    }
    println!(
        "generated: seed {seed}, queries {start}..{} in {} contexts — {counts}",
        start.saturating_add(count),
        contexts.len(),
    );
    println!("generated: the same queries without the catalog — {counts_u}");
    print_groups(
        "generated: writes over-blocked (safe) by rule and reason:",
        &write_over_blocks,
    );
    print_groups(
        "generated: writes blocked by another rule than the oracle's reason:",
        &write_other_rules,
    );
    let [writes_catalog, writes_uncataloged] = &write_tallies;
    println!(
        "generated: writes {write_start}..{} in {} contexts — {}",
        write_start.saturating_add(write_count),
        write_contexts.len(),
        writes_catalog.write_summary()
    );
    println!(
        "generated: the same writes without the catalog — {}",
        writes_uncataloged.write_summary()
    );
    let write_total = writes_catalog.total() + writes_uncataloged.total();
    let write_failed: usize = write_tallies
        .iter()
        .map(|t| t.failures() - t.count(CheckKind::OverBlocked))
        .sum();
    println!(
        "generated: setup {:.1}s, queries and writes {:.1}s (both passes)",
        setup_time.as_secs_f64(),
        run_time.as_secs_f64(),
    );
    let (total, failed) = (
        total + total_u + write_total,
        failed + failed_u + write_failed,
    );
    println!("generated: {} passed, {failed} failed", total - failed);
    Ok(failed == 0 && total > 0)
}
