// wasm/native time ratio and the prepared engine's speed-up, in one run
// (scripts/bench-wasm.sh). Alternates the native bench binary and the wasm engine in Node
// over the same query mix (wasm/bench/mix.json) several times and compares the medians.
//
//   node wasm/js/bench.mjs PKG_DIR NATIVE_BENCH_BINARY MIX.json [ALTERNATIONS] [ROUNDS]
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const [pkgDir, nativeBin, mixPath, alternations = "3", rounds = "15"] = process.argv.slice(2);
if (!pkgDir || !nativeBin || !mixPath) {
  console.error("usage: node bench.mjs PKG_DIR NATIVE_BENCH_BINARY MIX.json [ALTERNATIONS] [ROUNDS]");
  process.exit(2);
}
const wasm = createRequire(import.meta.url)(path.resolve(pkgDir, "nodejs/verdict_wasm.js"));
const mix = JSON.parse(readFileSync(mixPath, "utf8"));
const root = path.resolve(path.dirname(mixPath), "../..");
const policies = readFileSync(path.join(root, mix.policies), "utf8");
const contextText = readFileSync(path.join(root, mix.context), "utf8");
const contextObject = JSON.parse(contextText);
const repeat = mix.repeat ?? 20;
const n = mix.queries.length * repeat;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// The process's CPU time in ns (process.cpuUsage: getrusage, microseconds; Node's helper
// threads count too, against wasm), as the native bench measures it; other processes on a
// shared machine then count as little as possible.
const now = () => {
  const u = process.cpuUsage();
  return BigInt(u.user + u.system) * 1000n;
};

function time(fn) {
  const t = now();
  for (let r = 0; r < repeat; r++) for (const q of mix.queries) fn(q);
  return Number(now() - t) / n;
}

function wasmRounds(engine) {
  const prepared = [];
  const object = [];
  const oneShot = [];
  for (let i = 0; i < Number(rounds); i++) {
    prepared.push(time((q) => engine.evaluateJson(q, contextText)));
    object.push(time((q) => engine.evaluate(q, contextObject)));
    oneShot.push(time((q) => wasm.evaluateJson(policies, q, contextText)));
  }
  return { prepared: median(prepared), object: median(object), oneShot: median(oneShot) };
}

const engine = new wasm.PolicyEngine(policies);
wasmRounds(engine); // warm-up: compile tiers, grow memory
const native = [];
const inWasm = [];
for (let a = 0; a < Number(alternations); a++) {
  native.push(JSON.parse(execFileSync(nativeBin, [mixPath, rounds], { encoding: "utf8" })));
  inWasm.push(wasmRounds(engine));
}
engine.free();

const us = (ns) => `${(ns / 1000).toFixed(1)} µs`;
const nat = { prepared: median(native.map((x) => x.prepared_ns)), oneShot: median(native.map((x) => x.one_shot_ns)) };
const w = {
  prepared: median(inWasm.map((x) => x.prepared)),
  object: median(inWasm.map((x) => x.object)),
  oneShot: median(inWasm.map((x) => x.oneShot)),
};
// The package's .wasm size, as scripts/build-wasm.sh measured it (gzip -9).
const sizesPath = path.join(pkgDir, "sizes.json");
if (existsSync(sizesPath)) {
  const sizes = JSON.parse(readFileSync(sizesPath, "utf8"));
  const kb = (b) => `${(b / 1000).toFixed(0)} KB`;
  console.log(`wasm size: ${kb(sizes.wasm_raw_bytes)} raw, ${kb(sizes.wasm_gzip_bytes)} gzipped (${sizes.wasm_raw_bytes} / ${sizes.wasm_gzip_bytes} bytes)`);
}
console.log(`query mix: ${mix.queries.length} statements x ${repeat}, ${rounds} rounds, ${alternations} alternations native/wasm (Node ${process.version}), CPU time (native: ${native[0].clock === "cpu" ? "CPU" : "wall-clock"} time)`);
console.log(`native  prepared ${us(nat.prepared)}/statement, one-shot ${us(nat.oneShot)}/statement`);
console.log(`wasm    prepared ${us(w.prepared)}/statement (JSON form), ${us(w.object)} (object form), one-shot ${us(w.oneShot)}/statement`);
const minOf = (xs) => Math.min(...xs);
const natMin = minOf(native.map((x) => x.prepared_ns));
const wasmMin = minOf(inWasm.map((x) => x.prepared));
console.log(`wasm/native ratio: prepared ${(w.prepared / nat.prepared).toFixed(2)} (median of alternations; best alternation ${(wasmMin / natMin).toFixed(2)}), one-shot ${(w.oneShot / nat.oneShot).toFixed(2)}`);
console.log(`prepared speed-up over one-shot: wasm ${(w.oneShot / w.prepared).toFixed(1)}x, native ${(nat.oneShot / nat.prepared).toFixed(1)}x`);
