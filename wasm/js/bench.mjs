// wasm/native time ratios and the prepared engine's speed-up, in one run
// (scripts/bench-wasm.sh), for both flavors of the engine (scripts/build-wasm.sh): fast
// (verdict-wasm/node/fast, verdict_fast_bg.wasm) and small (verdict-wasm/node, verdict_bg.wasm).
// The native side is two long-lived child processes that time blocks of evaluations on
// request (examples/native_bench_common): one on the system allocator, as a program
// embedding the engine gets by default, one on mimalloc, which the `verdict` binary links; native and wasm blocks of the same query mix
// (wasm/bench/mix.json) are interleaved in rounds, in rotating order, and each round gives
// one ratio per flavor. On a shared machine the speed of both drifts by tens of percent
// within seconds; a round's blocks lie tens of milliseconds apart, so the drift mostly
// cancels in its ratios, and the median over rounds is reported with its quartiles.
//
//   node wasm/js/bench.mjs PKG_DIR NATIVE_BENCH NATIVE_BENCH_MIMALLOC MIX.json [ROUNDS]
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";

import { loadFlavors } from "./flavors.mjs";

const [pkgDir, nativeBin, mimallocBin, mixPath, roundsArg = "100"] = process.argv.slice(2);
const rounds = Number(roundsArg);
if (!pkgDir || !nativeBin || !mimallocBin || !mixPath || !(rounds >= 1)) {
  console.error("usage: node bench.mjs PKG_DIR NATIVE_BENCH NATIVE_BENCH_MIMALLOC MIX.json [ROUNDS]");
  process.exit(2);
}
const mix = JSON.parse(readFileSync(mixPath, "utf8"));
const root = path.resolve(path.dirname(mixPath), "../..");
const policies = readFileSync(path.join(root, mix.policies), "utf8");
const contextText = readFileSync(path.join(root, mix.context), "utf8");
const contextObject = JSON.parse(contextText);
// Passes over the mix per block: prepared blocks, and one-shot blocks (each statement
// loads the policy set again, several times slower).
const passes = mix.repeat ?? 20;
const oneShotPasses = Math.max(1, Math.round(passes / 5));

// --------------------------------------------------------------------- native side

/** A native bench process: `ask(command)` answers its line. */
function nativeProcess(binary) {
  const child = spawn(binary, [mixPath], { stdio: ["pipe", "pipe", "inherit"] });
  const answers = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    child,
    async ask(command) {
      child.stdin.write(`${command}\n`);
      const { value, done } = await answers.next();
      if (done || value.startsWith("error:")) {
        throw new Error(`${path.basename(binary)}: ${done ? "ended" : value} (after \`${command}\`)`);
      }
      return value;
    },
  };
}
const nativeSide = (proc) => ({
  prepared: async () => Number(await proc.ask(`prepared ${passes}`)),
  oneShot: async () => Number(await proc.ask(`one-shot ${oneShotPasses}`)),
});
const system = nativeProcess(nativeBin);
const mimalloc = nativeProcess(mimallocBin);

// ----------------------------------------------------------------------- wasm side

// The process's CPU time in ns (process.cpuUsage: getrusage, microseconds; Node's helper
// threads count too, against wasm), as the native side measures it; other processes on a
// shared machine then count as little as possible.
const now = () => {
  const u = process.cpuUsage();
  return BigInt(u.user + u.system) * 1000n;
};

/** Nanoseconds per statement of `fn` over `n` passes of the mix. */
function block(fn, n) {
  const t = now();
  for (let r = 0; r < n; r++) for (const q of mix.queries) fn(q);
  return Number(now() - t) / (n * mix.queries.length);
}

/** The blocks one module can time: prepared (JSON and object forms) and one-shot. */
function sideOf(api) {
  const engine = new api.PolicyEngine(policies);
  return {
    engine,
    prepared: () => block((q) => engine.evaluateJson(q, contextText), passes),
    object: () => block((q) => engine.evaluate(q, contextObject), passes),
    oneShot: () => block((q) => api.evaluateJson(policies, q, contextText), oneShotPasses),
  };
}

// fast: the nodejs package; small: the web package's glue with its own .wasm.
const { fast: fastApi, small: smallApi } = await loadFlavors(pkgDir);
const sides = {
  native: nativeSide(system),
  mimalloc: nativeSide(mimalloc),
  fast: sideOf(fastApi),
  small: sideOf(smallApi),
};
const names = ["native", "mimalloc", "fast", "small"];

// ---------------------------------------------------------------------------- rounds

/** One round of `kind` blocks: every side once, in an order rotating with `i`. */
async function round(i, kind) {
  const times = {};
  for (let k = 0; k < names.length; k++) {
    const name = names[(i + k) % names.length];
    times[name] = await sides[name][kind]();
  }
  return times;
}

const clock = await system.ask("clock");
// Warm-up: compile tiers, grow memory, fill the engines' remembered texts.
for (let i = 0; i < 6; i++) {
  await round(i, "prepared");
  await round(i, "oneShot");
  sides.fast.object();
}
const runs = { prepared: [], oneShot: [], object: [] };
for (let i = 0; i < rounds; i++) {
  runs.prepared.push(await round(i, "prepared"));
  runs.object.push(sides.fast.object() / runs.prepared.at(-1).fast);
  runs.oneShot.push(await round(i, "oneShot"));
}
system.child.stdin.end();
mimalloc.child.stdin.end();
sides.fast.engine.free();
sides.small.engine.free();

// -------------------------------------------------------------------------- report

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const median = (xs) => quantile(xs, 0.5);
const us = (ns) => `${(ns / 1000).toFixed(1)} µs`;
const time = (kind, name) => median(runs[kind].map((r) => r[name]));
/** The median of a flavor's per-round ratios to a native side, its quartiles, and the
 * ratio of the fastest tenth of each side's blocks (the least disturbed by the machine). */
function ratio(kind, name, base) {
  const rs = runs[kind].map((r) => r[name] / r[base]);
  const fastest = (n) => quantile(runs[kind].map((r) => r[n]), 0.1);
  const q = (x) => quantile(rs, x).toFixed(2);
  return `${median(rs).toFixed(2)} (quartiles ${q(0.25)}–${q(0.75)}; fastest tenth ${(fastest(name) / fastest(base)).toFixed(2)})`;
}

// The packages' .wasm sizes, as scripts/build-wasm.sh measured them (gzip -9).
const sizesPath = path.join(pkgDir, "sizes.json");
if (existsSync(sizesPath)) {
  const sizes = JSON.parse(readFileSync(sizesPath, "utf8"));
  const kb = (b) => `${(b / 1000).toFixed(0)} KB`;
  console.log(`wasm size: small ${kb(sizes.wasm_raw_bytes)} raw, ${kb(sizes.wasm_gzip_bytes)} gzipped; fast ${kb(sizes.fast_raw_bytes)} raw, ${kb(sizes.fast_gzip_bytes)} gzipped`);
}
console.log(`query mix: ${mix.queries.length} statements; ${rounds} rounds of blocks (prepared ${passes} passes, one-shot ${oneShotPasses}), order rotating; Node ${process.version}; ${clock === "cpu" ? "process CPU time on every side" : "native: wall-clock time, wasm: CPU time"}`);
const label = { native: "native (system allocator)", mimalloc: "native (mimalloc)", fast: "wasm fast", small: "wasm small" };
for (const name of names) {
  const object = name === "fast" ? ` (JSON form; object form ${median(runs.object).toFixed(2)}x that)` : "";
  console.log(`${label[name].padEnd(26)} prepared ${us(time("prepared", name))}/statement${object}, one-shot ${us(time("oneShot", name))}/statement (medians)`);
}
for (const name of ["fast", "small"]) {
  for (const base of ["native", "mimalloc"]) {
    console.log(`wasm/native ratio, ${name} flavor vs ${label[base]}: prepared ${ratio("prepared", name, base)}, one-shot ${ratio("oneShot", name, base)}; median of ${rounds} rounds`);
  }
}
const speedUp = (name) => (time("oneShot", name) / time("prepared", name)).toFixed(1);
console.log(`prepared speed-up over one-shot: wasm fast ${speedUp("fast")}x, wasm small ${speedUp("small")}x, native ${speedUp("native")}x, native (mimalloc) ${speedUp("mimalloc")}x`);
