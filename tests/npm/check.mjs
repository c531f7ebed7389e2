// The npm package as its users get it: the `npm pack` tarball that scripts/build-wasm.sh
// writes, installed into fresh projects under target/npm-check (nothing is imported from
// the source tree), checked in each runtime the README documents:
//
//   node-esm, node-cjs   Node: `import` and `require` of `.`, `/small`, `/fast`, `/node`,
//                        `/web` (initSync), and the README's Node snippets, run as written
//   typescript           tsc (strict, exactOptionalPropertyTypes, noUncheckedIndexedAccess,
//                        lib es2022 + dom, skipLibCheck false) compiles a program, and a file
//                        of typos each marked @ts-expect-error (an unused one fails); with
//                        lib esnext, `using engine = new PolicyEngine(...)` compiles
//   bundles              esbuild, Vite and webpack 5 bundles and a plain
//                        <script type="module"> page, loaded in headless Chromium
//   serverless           an esbuild bundle for Node with the .wasm embedded, run from a
//                        directory without node_modules
//   workerd              the edge worker (examples/edge-worker/worker.js, the app) bundled
//                        as wrangler does and served by `workerd` on loopback: every
//                        conformance case x context answers the native CLI's bytes
//
// Then prints the .wasm sizes (raw, gzip -9, brotli -11) of both flavors.
//
//   node tests/npm/check.mjs PKG_DIR NATIVE.json
//
// PKG_DIR is build-wasm.sh's output (sizes.json names the tarball); NATIVE.json comes from
// `cargo run -p verdict-wasm --example native_corpus`. The tools are those of
// tests/npm/tools.json, installed in target/npm-tools. Prints `npm check: N passed, M
// failed` and exits non-zero on any failure.
import { execFileSync, spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { once } from "node:events";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const [pkgDirArg, nativePath] = process.argv.slice(2);
if (!pkgDirArg || !nativePath) {
  console.error("usage: node tests/npm/check.mjs PKG_DIR NATIVE.json");
  process.exit(2);
}
const pkgDir = path.resolve(pkgDirArg);
const sizes = JSON.parse(readFileSync(path.join(pkgDir, "sizes.json"), "utf8"));
const tarball = path.join(pkgDir, sizes.tarball);
const tools = path.join(root, "target/npm-tools/node_modules");
const toolRequire = createRequire(path.join(tools, "noop.js"));
const work = path.join(root, "target/npm-check");
const native = JSON.parse(readFileSync(nativePath, "utf8"));

// The reference: the first corpus case under the first context, as the native CLI answers.
const SAMPLE = { policies: native.policies, sql: native.cases[0].sql, context: native.contexts[0].json, expected: native.cases[0].verdicts[0] };

let passed = 0;
let failed = 0;
async function check(name, body) {
  const started = Date.now();
  try {
    const note = await body();
    passed += 1;
    console.log(`ok   ${name} (${Date.now() - started} ms)${note ? `: ${note}` : ""}`);
  } catch (e) {
    failed += 1;
    console.log(`FAIL ${name}: ${e?.stack ?? e}`);
  }
}
function assert(ok, message) {
  if (!ok) throw new Error(message);
}
function run(cmd, args, cwd, options = {}) {
  return execFileSync(cmd, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...options });
}

/** A fresh project with the tarball installed and `files` written. */
function project(name, files = {}, type = "module") {
  const dir = path.join(work, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: `check-${name}`, private: true, type }, null, 2));
  run("npm", ["install", "--no-audit", "--no-fund", "--loglevel=error", tarball], dir);
  for (const [file, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
    writeFileSync(path.join(dir, file), text);
  }
  return dir;
}

const data = `export const POLICIES = ${JSON.stringify(SAMPLE.policies)};
export const SQL = ${JSON.stringify(SAMPLE.sql)};
export const CONTEXT = ${JSON.stringify(SAMPLE.context)};
export const EXPECTED = ${JSON.stringify(SAMPLE.expected)};
`;

/** The README's snippets tagged for a runtime: ```js test=node-esm (or node-cjs, page). */
function readmeSnippets(tag) {
  const readme = readFileSync(path.join(work, "node-esm/node_modules/verdict-wasm/README.md"), "utf8");
  return [...readme.matchAll(/```[a-z]+ test=([a-z-]+)\n([\s\S]*?)```/g)].filter((m) => m[1] === tag).map((m) => m[2]);
}

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });
console.log(`installing ${path.relative(root, tarball)} into fresh projects under ${path.relative(root, work)}`);

// ------------------------------------------------------------------------------ Node

await check("Node ESM: import of ., /small, /fast, /node, /web", () => {
  const dir = project("node-esm", {
    "data.js": data,
    "main.js": `import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import init, { evaluate, evaluateJson, PolicyEngine, VerdictError, flavor, version } from "verdict-wasm";
import * as small from "verdict-wasm/small";
import * as fast from "verdict-wasm/fast";
import * as nodeEntry from "verdict-wasm/node";
import * as web from "verdict-wasm/web";
import { POLICIES, SQL, CONTEXT, EXPECTED } from "./data.js";

await init(); // resolves at once in Node
assert.equal(flavor, "small");
assert.equal(fast.flavor, "fast");
assert.equal(small.PolicyEngine, PolicyEngine);
assert.equal(nodeEntry.PolicyEngine, PolicyEngine);
for (const api of [small, fast]) {
  assert.equal(api.evaluateJson(POLICIES, SQL, CONTEXT), EXPECTED);
  const engine = new api.PolicyEngine(POLICIES);
  assert.equal(JSON.stringify(engine.evaluate(SQL, JSON.parse(CONTEXT))), EXPECTED);
  engine.free();
}
assert.equal(JSON.stringify(evaluate(JSON.parse(POLICIES), SQL, JSON.parse(CONTEXT))), EXPECTED);
assert.throws(() => new PolicyEngine({}), (e) => e instanceof VerdictError && e.code === "invalid_policy");
const wasm = readFileSync(createRequire(import.meta.url).resolve("verdict-wasm/verdict_bg.wasm"));
web.initSync({ module: wasm });
assert.equal(web.evaluateJson(POLICIES, SQL, CONTEXT), EXPECTED);
assert.equal(JSON.parse(readFileSync(new URL("./node_modules/verdict-wasm/package.json", import.meta.url))).version, version());
console.log("node-esm ok");
`,
  });
  assert(run(process.execPath, ["main.js"], dir).includes("node-esm ok"), "main.js");
  const snippets = readmeSnippets("node-esm");
  assert(snippets.length >= 1, "README has node-esm snippets");
  snippets.forEach((code, i) => {
    writeFileSync(path.join(dir, `readme${i}.mjs`), code);
    run(process.execPath, [`readme${i}.mjs`], dir);
  });
  return `${snippets.length} README snippets ran`;
});

await check("Node CJS: require of ., /fast, /node", () => {
  const dir = project("node-cjs", {
    "main.js": `const assert = require("node:assert/strict");
const { evaluateJson, PolicyEngine, VerdictError, flavor } = require("verdict-wasm");
const fast = require("verdict-wasm/fast");
const nodeEntry = require("verdict-wasm/node");
const d = ${JSON.stringify(SAMPLE)};
assert.equal(flavor, "small");
assert.equal(fast.flavor, "fast");
assert.equal(nodeEntry.PolicyEngine, PolicyEngine);
assert.equal(evaluateJson(d.policies, d.sql, d.context), d.expected);
assert.equal(fast.evaluateJson(d.policies, d.sql, d.context), d.expected);
const engine = new PolicyEngine(d.policies);
engine.free();
assert.throws(() => engine.evaluate(d.sql), (e) => e instanceof VerdictError && e.code === "engine_freed");
console.log("node-cjs ok");
`,
  }, "commonjs");
  assert(run(process.execPath, ["main.js"], dir).includes("node-cjs ok"), "main.js");
  const snippets = readmeSnippets("node-cjs");
  assert(snippets.length >= 1, "README has node-cjs snippets");
  snippets.forEach((code, i) => {
    writeFileSync(path.join(dir, `readme${i}.cjs`), code);
    run(process.execPath, [`readme${i}.cjs`], dir);
  });
  return `${snippets.length} README snippets ran`;
});

// ------------------------------------------------------------------------ TypeScript

await check("TypeScript: strict program compiles; every typo fails", () => {
  const tsc = path.join(tools, "typescript/bin/tsc");
  const options = {
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    skipLibCheck: false,
    lib: ["es2022", "dom"],
    target: "es2022",
    module: "nodenext",
    moduleResolution: "nodenext",
    noEmit: true,
    types: [],
  };
  const dir = project("typescript", {
    "tsconfig.json": JSON.stringify({ compilerOptions: options, files: ["program.ts", "typos.ts", "program.cts"] }, null, 2),
    "program.ts": readFileSync(path.join(here, "fixtures/program.ts"), "utf8"),
    "typos.ts": readFileSync(path.join(here, "fixtures/typos.ts"), "utf8"),
    "program.cts": readFileSync(path.join(here, "fixtures/program.cts"), "utf8"),
    "esnext/tsconfig.json": JSON.stringify({ compilerOptions: { ...options, lib: ["esnext", "dom"] }, files: ["using.ts"] }, null, 2),
    "esnext/using.ts": readFileSync(path.join(here, "fixtures/using.ts"), "utf8"),
  });
  const compile = (project) => {
    try {
      run(process.execPath, [tsc, "-p", project], dir);
    } catch (e) {
      throw new Error(`tsc -p ${project}:\n${e.stdout}${e.stderr}`);
    }
  };
  compile(".");
  compile("esnext");
  // Each @ts-expect-error must be consumed by a real error: without the markers, the typos
  // file must fail with exactly as many errors as it has markers.
  const typos = readFileSync(path.join(dir, "typos.ts"), "utf8");
  const markers = typos.split("\n").filter((l) => l.includes("@ts-expect-error")).length;
  writeFileSync(path.join(dir, "typos.ts"), typos.replaceAll("// @ts-expect-error", "// expected error:"));
  let out = "";
  try {
    run(process.execPath, [tsc, "-p", "."], dir);
  } catch (e) {
    out = e.stdout;
  }
  const errors = out.split("\n").filter((l) => /^typos\.ts\(\d+,\d+\): error TS/.test(l));
  const lines = new Set(errors.map((l) => l.match(/^typos\.ts\((\d+),/)[1]));
  assert(lines.size === markers, `${markers} typos marked, ${lines.size} lines with errors:\n${out}`);
  return `TypeScript ${JSON.parse(readFileSync(path.join(tools, "typescript/package.json"), "utf8")).version}; ${markers} typos rejected`;
});

await check("types: every field of every corpus verdict is declared; rewritten_sql exactly when not block", () => {
  const dts = readFileSync(path.join(work, "typescript/node_modules/verdict-wasm/index.d.ts"), "utf8");
  const declared = (field) => new RegExp(`^\\s+${field}\\??: `, "m").test(dts);
  const fields = new Map();
  let verdicts = 0;
  for (const c of native.cases) {
    for (const text of c.verdicts) {
      const v = JSON.parse(text);
      verdicts += 1;
      assert(("rewritten_sql" in v) === (v.verdict !== "block"), `${c.id}: rewritten_sql with verdict ${v.verdict}`);
      for (const key of Object.keys(v)) fields.set(key, (fields.get(key) ?? 0) + 1);
      for (const list of ["masked_columns", "row_filters", "matched_policies", "limits", "monitored"]) {
        for (const item of v[list] ?? []) for (const key of Object.keys(item)) fields.set(`${list}.${key}`, 0);
      }
      if (v.blocked_by) for (const key of Object.keys(v.blocked_by)) fields.set(`blocked_by.${key}`, 0);
    }
  }
  const missing = [...fields.keys()].filter((f) => !declared(f.split(".").pop()));
  assert(missing.length === 0, `returned but not declared: ${missing.join(", ")}`);
  return `${verdicts} verdicts, ${fields.size} distinct fields, limits in ${fields.get("limits") ?? 0}`;
});

// --------------------------------------------------------------- bundles in Chromium

const APP = (loader) => `import init, { PolicyEngine, evaluateJson, VerdictError, flavor } from "verdict-wasm";
import { POLICIES, SQL, CONTEXT, EXPECTED } from "./data.js";
${loader}
const engine = new PolicyEngine(POLICIES);
const prepared = JSON.stringify(engine.evaluate(SQL, JSON.parse(CONTEXT)));
engine.free();
let freed = "";
try { engine.evaluate(SQL); } catch (e) { freed = e instanceof VerdictError ? e.code : String(e); }
window.verdictResult = { oneShot: evaluateJson(POLICIES, SQL, CONTEXT), prepared, freed, flavor, expected: EXPECTED };
`;

const pages = {};
await check("bundles: esbuild, Vite, webpack 5 build the app", async () => {
  const dir = project("bundles", {
    "src/data.js": data,
    // esbuild does not follow `new URL(..., import.meta.url)`: import the .wasm's URL.
    "src/esbuild.js": APP(`import wasmUrl from "verdict-wasm/verdict_bg.wasm";\nawait init({ module_or_path: new URL(wasmUrl, import.meta.url) });`),
    "src/vite.js": APP("await init();"),
    "src/webpack.js": APP("await init();"),
    "src/fast.js": `import init, { evaluateJson, flavor } from "verdict-wasm/fast";
import wasmUrl from "verdict-wasm/verdict_fast_bg.wasm";
import { POLICIES, SQL, CONTEXT, EXPECTED } from "./data.js";
await init({ module_or_path: new URL(wasmUrl, import.meta.url) });
window.verdictResult = { oneShot: evaluateJson(POLICIES, SQL, CONTEXT), prepared: EXPECTED, freed: "engine_freed", flavor, expected: EXPECTED };
`,
    "vite.html": `<!doctype html><html><head><meta charset="utf-8"><title>vite</title></head><body><script type="module" src="/src/vite.js"></script></body></html>`,
    "plain.html": `<!doctype html><html><head><meta charset="utf-8"><title>plain</title></head><body>
<script type="module">
${readmeSnippets("page")[0] ?? "throw new Error('no page snippet in the README')"}
</script></body></html>`,
  });
  const esbuild = toolRequire("esbuild");
  for (const [entry, out] of [["esbuild.js", "esbuild"], ["fast.js", "esbuild-fast"]]) {
    await esbuild.build({
      absWorkingDir: dir,
      entryPoints: [`src/${entry}`],
      bundle: true,
      format: "esm",
      platform: "browser",
      target: "es2022",
      outdir: `dist/${out}`,
      loader: { ".wasm": "file" },
      logLevel: "error",
    });
    writeFileSync(path.join(dir, `dist/${out}/index.html`), `<!doctype html><script type="module" src="./${entry}"></script>`);
  }
  const vite = await import(pathToFileURL(path.join(tools, "vite/dist/node/index.js")).href);
  await vite.build({
    root: dir,
    configFile: false,
    base: "./",
    logLevel: "error",
    build: { outDir: "dist/vite", target: "es2022", rollupOptions: { input: path.join(dir, "vite.html") } },
  });
  const webpack = toolRequire("webpack");
  const stats = await new Promise((resolve, reject) =>
    webpack(
      {
        mode: "production",
        context: dir,
        entry: "./src/webpack.js",
        output: { path: path.join(dir, "dist/webpack"), filename: "main.js", publicPath: "auto" },
        resolve: { modules: [path.join(dir, "node_modules"), tools] },
        resolveLoader: { modules: [tools] },
        performance: { hints: false },
      },
      (err, s) => (err ? reject(err) : resolve(s)),
    ),
  );
  assert(!stats.hasErrors(), stats.toString("errors-only"));
  writeFileSync(path.join(dir, "dist/webpack/index.html"), `<!doctype html><script src="./main.js"></script>`);
  pages.esbuild = "/dist/esbuild/index.html";
  pages["esbuild, /fast"] = "/dist/esbuild-fast/index.html";
  pages.vite = "/dist/vite/vite.html";
  pages.webpack = "/dist/webpack/index.html";
  pages["<script type=module>"] = "/plain.html";
  const wasmFiles = (d) => readdirSync(path.join(dir, d), { recursive: true }).filter((f) => String(f).endsWith(".wasm"));
  return `wasm emitted: esbuild ${wasmFiles("dist/esbuild").length}, vite ${wasmFiles("dist/vite").length}, webpack ${wasmFiles("dist/webpack").length}`;
});

function serve(dir) {
  const types = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json" };
  const server = createServer((req, res) => {
    const file = path.join(dir, decodeURIComponent(new URL(req.url, "http://x").pathname));
    if (!file.startsWith(dir) || !existsSync(file)) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": types[path.extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  server.listen(0, "127.0.0.1");
  return server;
}

if (Object.keys(pages).length > 0) {
  const dir = path.join(work, "bundles");
  // The plain page imports the package's files as they lie in node_modules.
  const server = serve(dir);
  await once(server, "listening");
  const base = `http://127.0.0.1:${server.address().port}`;
  const { chromium } = toolRequire("playwright-core");
  const browser = await chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    for (const [name, page] of Object.entries(pages)) {
      await check(`Chromium: ${name} bundle`, async () => {
        const tab = await browser.newPage();
        const errors = [];
        tab.on("pageerror", (e) => errors.push(String(e)));
        await tab.goto(base + page);
        await tab.waitForFunction(() => window.verdictResult !== undefined || window.verdictError !== undefined, null, { timeout: 20000 }).catch(() => {});
        const r = await tab.evaluate(() => window.verdictResult);
        await tab.close();
        assert(r, `no result; page errors: ${errors.join("; ")}`);
        assert(r.oneShot === r.expected, `one-shot ${r.oneShot}`);
        assert(r.prepared === r.expected, `prepared ${r.prepared}`);
        assert(r.freed === "engine_freed", `after free: ${r.freed}`);
        return `${r.flavor} flavor, the CLI's bytes`;
      });
    }
  } finally {
    await browser.close();
    server.close();
  }
}

// ------------------------------------------------------------------------ serverless

await check("serverless: an esbuild bundle for Node with the .wasm inside runs without node_modules", async () => {
  const dir = project("serverless", {
    "data.js": data,
    "handler.js": readmeSnippets("serverless")[0] ?? "throw new Error('no serverless snippet in the README')",
    "main.js": `import { handler } from "./handler.js";
import { POLICIES, SQL, CONTEXT, EXPECTED } from "./data.js";
const res = await handler({ body: JSON.stringify({ policies: POLICIES, sql: SQL, context: JSON.parse(CONTEXT) }) });
if (res.body !== EXPECTED) throw new Error(res.body);
console.log("serverless ok");
`,
  });
  await toolRequire("esbuild").build({
    absWorkingDir: dir,
    entryPoints: ["main.js"],
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    outfile: "lambda/index.mjs",
    loader: { ".wasm": "binary" },
    logLevel: "error",
  });
  const alone = path.join(work, "serverless-deployed");
  mkdirSync(alone, { recursive: true });
  cpSync(path.join(dir, "lambda"), alone, { recursive: true });
  assert(run(process.execPath, ["index.mjs"], alone).includes("serverless ok"), "bundle ran");
});

// --------------------------------------------------------------------------- workerd

await check("workerd: the edge worker answers the corpus as the CLI does", async () => {
  const dir = project("workerd", {
    "src/worker.js": readFileSync(path.join(root, "examples/edge-worker/worker.js"), "utf8"),
  });
  // What wrangler does: bundle with the workerd conditions, the .wasm kept as a module.
  await toolRequire("esbuild").build({
    absWorkingDir: dir,
    entryPoints: ["src/worker.js"],
    bundle: true,
    format: "esm",
    platform: "neutral",
    conditions: ["workerd", "worker", "browser"],
    mainFields: ["module", "main"],
    outdir: "dist",
    loader: { ".wasm": "copy" },
    logLevel: "error",
  });
  const wasmName = readdirSync(path.join(dir, "dist")).find((f) => f.endsWith(".wasm"));
  assert(wasmName, "the bundle keeps the .wasm as a module");
  // A port the system just handed out, free again for workerd to take.
  const probe = createServer().listen(0, "127.0.0.1");
  await once(probe, "listening");
  const { port } = probe.address();
  await new Promise((resolve) => probe.close(resolve));
  writeFileSync(path.join(dir, "config.capnp"), `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [ (name = "main", worker = .verdict) ],
  sockets = [ (name = "http", address = "127.0.0.1:${port}", http = (), service = "main") ],
);
const verdict :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "dist/worker.js"),
    (name = "${wasmName}", wasm = embed "dist/${wasmName}"),
  ],
  bindings = [ (name = "VERDICT_POLICIES", text = embed "policies.json") ],
  compatibilityDate = "2025-01-01",
);
`);
  writeFileSync(path.join(dir, "policies.json"), native.policies);
  const bin = path.join(tools, ".bin/workerd");
  const child = spawn(bin, ["serve", "config.capnp", "--experimental"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout.on("data", (d) => (log += d));
  child.stderr.on("data", (d) => (log += d));
  try {
    const base = `http://127.0.0.1:${port}`;
    let up = false;
    for (let i = 0; i < 100 && !up; i++) {
      try {
        const res = await fetch(`${base}/`);
        const body = await res.json();
        up = res.status === 200 && body.service === "verdict";
      } catch {
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    assert(up, `workerd did not answer GET /:\n${log}`);
    const jobs = [];
    for (const c of native.cases) {
      native.contexts.forEach((ctx, i) => jobs.push({ sql: c.sql, context: ctx.json, expected: c.verdicts[i], id: `${c.id} [${ctx.name}]` }));
    }
    let same = 0;
    const diffs = [];
    let next = 0;
    const started = Date.now();
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (next < jobs.length) {
          const job = jobs[next++];
          const res = await fetch(`${base}/evaluate`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: `{"sql":${JSON.stringify(job.sql)},"context":${job.context}}`,
          });
          const text = await res.text();
          if (res.status === 200 && text === job.expected) same += 1;
          else if (diffs.length < 3) diffs.push(`${job.id}: ${res.status} ${text.slice(0, 300)}`);
        }
      }),
    );
    assert(same === jobs.length, `${same} of ${jobs.length} identical:\n${diffs.join("\n")}`);
    return `${same} of ${jobs.length} identical in ${((Date.now() - started) / 1000).toFixed(1)} s`;
  } finally {
    child.kill();
  }
});

// ---------------------------------------------------------------------------- sizes

const kb = (n) => `${(n / 1000).toFixed(0)} KB`; // kB, as bench.mjs prints them
console.log(`npm size: small flavor (verdict_bg.wasm): ${kb(sizes.wasm_raw_bytes)} raw, ${kb(sizes.wasm_gzip_bytes)} gzip, ${kb(sizes.wasm_brotli_bytes)} brotli`);
console.log(`npm size: fast flavor (verdict_fast_bg.wasm): ${kb(sizes.fast_raw_bytes)} raw, ${kb(sizes.fast_gzip_bytes)} gzip, ${kb(sizes.fast_brotli_bytes)} brotli`);
console.log(`npm size: tarball ${sizes.tarball}: ${kb(readFileSync(tarball).length)}`);
console.log(`npm check: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
