// wasm/native time ratio and the prepared engine's speed-up, in one run
// (scripts/bench-wasm.sh). The native side is a long-lived child process
// (examples/native_bench.rs) that times blocks of evaluations on request; native and wasm
// blocks of the same query mix (wasm/bench/mix.json) are interleaved in pairs, in
// alternating order, and each pair gives one ratio. On a shared machine the speed of both
// drifts by tens of percent within seconds; a pair's two blocks lie tens of milliseconds
// apart, so the drift mostly cancels in its ratio, and the median over pairs is reported
// with its quartiles.
//
//   node wasm/js/bench.mjs PKG_DIR NATIVE_BENCH_BINARY MIX.json [PAIRS]
import { spawn } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { createInterface } from "node:readline";

const [pkgDir, nativeBin, mixPath, pairsArg = "100"] = process.argv.slice(2);
const pairs = Number(pairsArg);
if (!pkgDir || !nativeBin || !mixPath || !(pairs >= 1)) {
  console.error("usage: node bench.mjs PKG_DIR NATIVE_BENCH_BINARY MIX.json [PAIRS]");
  process.exit(2);
}
const wasm = createRequire(import.meta.url)(path.resolve(pkgDir, "nodejs/verdict_wasm.js"));
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

const child = spawn(nativeBin, [mixPath], { stdio: ["pipe", "pipe", "inherit"] });
const answers = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
async function ask(command) {
  child.stdin.write(`${command}\n`);
  const { value, done } = await answers.next();
  if (done || value.startsWith("error:")) {
    throw new Error(`native_bench: ${done ? "ended" : value} (after \`${command}\`)`);
  }
  return value;
}
const native = async (kind, n) => Number(await ask(`${kind} ${n}`));

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

const engine = new wasm.PolicyEngine(policies);
const inWasm = {
  prepared: (n) => block((q) => engine.evaluateJson(q, contextText), n),
  object: (n) => block((q) => engine.evaluate(q, contextObject), n),
  oneShot: (n) => block((q) => wasm.evaluateJson(policies, q, contextText), n),
};

// ---------------------------------------------------------------------------- pairs

/** One pair: both sides' blocks, in the order the pair's index gives. */
async function pair(i, nativeKind, wasmFn, n) {
  if (i % 2 === 0) {
    const nat = await native(nativeKind, n);
    return { nat, w: wasmFn(n) };
  }
  const w = wasmFn(n);
  return { nat: await native(nativeKind, n), w };
}

const clock = await ask("clock");
// Warm-up: compile tiers, grow memory, fill both engines' remembered texts.
for (let i = 0; i < 4; i++) {
  await pair(i, "prepared", inWasm.prepared, passes);
  await pair(i, "one-shot", inWasm.oneShot, oneShotPasses);
  inWasm.object(passes);
}
const runs = { prepared: [], oneShot: [], object: [] };
for (let i = 0; i < pairs; i++) {
  runs.prepared.push(await pair(i, "prepared", inWasm.prepared, passes));
  runs.object.push(inWasm.object(passes) / runs.prepared.at(-1).w);
  runs.oneShot.push(await pair(i, "one-shot", inWasm.oneShot, oneShotPasses));
}
child.stdin.end();
engine.free();

// -------------------------------------------------------------------------- report

const quantile = (xs, q) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const median = (xs) => quantile(xs, 0.5);
const spread = (xs) => `quartiles ${quantile(xs, 0.25).toFixed(2)}–${quantile(xs, 0.75).toFixed(2)}`;
const us = (ns) => `${(ns / 1000).toFixed(1)} µs`;
const ratios = (ps) => ps.map((p) => p.w / p.nat);
const side = (ps, k) => median(ps.map((p) => p[k]));

// The package's .wasm size, as scripts/build-wasm.sh measured it (gzip -9).
const sizesPath = path.join(pkgDir, "sizes.json");
if (existsSync(sizesPath)) {
  const sizes = JSON.parse(readFileSync(sizesPath, "utf8"));
  const kb = (b) => `${(b / 1000).toFixed(0)} KB`;
  console.log(`wasm size: ${kb(sizes.wasm_raw_bytes)} raw, ${kb(sizes.wasm_gzip_bytes)} gzipped (${sizes.wasm_raw_bytes} / ${sizes.wasm_gzip_bytes} bytes)`);
}
console.log(`query mix: ${mix.queries.length} statements; ${pairs} pairs of blocks (prepared ${passes} passes, one-shot ${oneShotPasses}), order alternating; Node ${process.version}; ${clock === "cpu" ? "process CPU time on both sides" : "native: wall-clock time, wasm: CPU time"}`);
console.log(`native  prepared ${us(side(runs.prepared, "nat"))}/statement, one-shot ${us(side(runs.oneShot, "nat"))}/statement (medians)`);
console.log(`wasm    prepared ${us(side(runs.prepared, "w"))}/statement (JSON form; object form ${median(runs.object).toFixed(2)}x that), one-shot ${us(side(runs.oneShot, "w"))}/statement (medians)`);
const prepared = ratios(runs.prepared);
const oneShot = ratios(runs.oneShot);
// The fastest tenth of each side's blocks: the blocks least disturbed by the machine.
const fast = (ps) => (quantile(ps.map((p) => p.w), 0.1) / quantile(ps.map((p) => p.nat), 0.1)).toFixed(2);
console.log(`wasm/native ratio: prepared ${median(prepared).toFixed(2)} (${spread(prepared)}; fastest tenth ${fast(runs.prepared)}), one-shot ${median(oneShot).toFixed(2)} (${spread(oneShot)}; fastest tenth ${fast(runs.oneShot)}); median of ${pairs} pairs`);
console.log(`prepared speed-up over one-shot: wasm ${(side(runs.oneShot, "w") / side(runs.prepared, "w")).toFixed(1)}x, native ${(side(runs.oneShot, "nat") / side(runs.prepared, "nat")).toFixed(1)}x`);
