// The warm-up curve of each flavor (scripts/test-wasm.sh prints it; the package README
// quotes it): in a fresh Node process per run, the time to load the module (read, compile,
// instantiate), to prepare the policy set, and the cumulative wall time of the first N
// evaluations of the benchmark's query mix (wasm/bench/mix.json), N = 1 … 50 000. V8
// compiles a module's functions first with its baseline compiler and re-compiles the hot
// ones optimised in the background, so the first calls of the larger fast flavor cost more.
//
//   node wasm/js/warmup.mjs PKG_DIR [RUNS]     (default 5 runs per flavor, alternating;
//                                               the median of each point is printed)
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const [pkgDir, runsArg = "5"] = process.argv.slice(2);
if (!pkgDir) {
  console.error("usage: node wasm/js/warmup.mjs PKG_DIR [RUNS]");
  process.exit(2);
}
const POINTS = [1, 10, 100, 1000, 4000, 10000, 20000, 50000];

if (process.env.VERDICT_WARMUP_CHILD) {
  // One run: `flavor` loaded fresh in this process.
  const flavor = process.env.VERDICT_WARMUP_CHILD;
  const mix = JSON.parse(readFileSync(path.join(root, "wasm/bench/mix.json"), "utf8"));
  const policies = readFileSync(path.join(root, mix.policies), "utf8");
  const context = readFileSync(path.join(root, mix.context), "utf8");
  const t0 = performance.now();
  const { createRequire } = await import("node:module");
  const api = createRequire(import.meta.url)(path.resolve(pkgDir, `verdict-wasm/node/${flavor}.cjs`));
  const t1 = performance.now();
  const engine = new api.PolicyEngine(policies);
  const t2 = performance.now();
  const out = { load: t1 - t0, prepare: t2 - t1, first: {} };
  let n = 0;
  const start = performance.now();
  for (const point of POINTS) {
    while (n < point) {
      engine.evaluateJson(mix.queries[n % mix.queries.length], context);
      n += 1;
    }
    out.first[point] = performance.now() - start;
  }
  process.stdout.write(JSON.stringify(out));
  process.exit(0);
}

const runs = Number(runsArg);
const results = { small: [], fast: [] };
for (let r = 0; r < runs; r++) {
  for (const flavor of r % 2 === 0 ? ["small", "fast"] : ["fast", "small"]) {
    const text = execFileSync(process.execPath, [fileURLToPath(import.meta.url), pkgDir], {
      env: { ...process.env, VERDICT_WARMUP_CHILD: flavor },
      encoding: "utf8",
    });
    results[flavor].push(JSON.parse(text));
  }
}
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
};
const ms = (x) => (x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));
const row = (label, f) => `| ${label} | ${ms(f("small"))} | ${ms(f("fast"))} | ${(f("fast") / f("small")).toFixed(2)} |`;
console.log(`warm-up (median of ${runs} fresh Node ${process.version} processes per flavor; milliseconds of wall time):`);
console.log("");
console.log("| | small | fast | fast/small |");
console.log("|---|---|---|---|");
console.log(row("load the module (read, compile, instantiate)", (f) => median(results[f].map((x) => x.load))));
console.log(row("prepare the policy set (`new PolicyEngine`)", (f) => median(results[f].map((x) => x.prepare))));
for (const p of POINTS) {
  console.log(row(`first ${p.toLocaleString("en")} evaluations`, (f) => median(results[f].map((x) => x.first[p]))));
}
const perStatement = (f, a, b) => median(results[f].map((x) => (x.first[b] - x.first[a]) / (b - a))) * 1000;
console.log(row("µs per evaluation, evaluations 4 001 – 10 000", (f) => perStatement(f, 4000, 10000)));
console.log(row("µs per evaluation, evaluations 10 001 – 20 000", (f) => perStatement(f, 10000, 20000)));
console.log(row("µs per evaluation, evaluations 20 001 – 50 000", (f) => perStatement(f, 20000, 50000)));
// Where the fast flavor's head start is paid back: the first point at which it has spent less.
const even = POINTS.find((p) => median(results.fast.map((x) => x.load + x.first[p])) < median(results.small.map((x) => x.load + x.first[p])));
console.log("");
console.log(`warm-up: fast overtakes small (load + evaluations) ${even ? `by ${even.toLocaleString("en")} evaluations` : "not within 50 000 evaluations"}`);
