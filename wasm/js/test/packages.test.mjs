// The built npm packages (scripts/build-wasm.sh) as their users load them, in Node:
// nodejs (require and import), web (initSync, init) and bundler (ES-module integration of
// the .wasm, with --experimental-wasm-modules). VERDICT_WASM_PKG names the packages'
// directory (default target/wasm-pkg).
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync, existsSync } from "node:fs";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";

import { loadFlavors } from "../flavors.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../..");
const pkg = path.resolve(process.env.VERDICT_WASM_PKG ?? path.join(root, "target/wasm-pkg"));

const POLICIES = readFileSync(path.join(root, "examples/policies.json"), "utf8");
const POLICIES_YAML = readFileSync(path.join(root, "examples/policies.yaml"), "utf8");
// The package reads YAML only when built with VERDICT_WASM_FEATURES=yaml (scripts/build-wasm.sh).
const READS_YAML = (process.env.VERDICT_WASM_FEATURES ?? "").split(/[ ,]/).includes("yaml");
const CONTEXT = readFileSync(path.join(root, "examples/context.json"), "utf8");
const SQL = "SELECT name, email FROM customers WHERE id = 7";

// fast: the nodejs package; small: the web package's glue with its own .wasm, in this process.
const { fast: node, small } = await loadFlavors(pkg);
const expected = node.evaluateJson(POLICIES, SQL, CONTEXT);

const FLAVORS = { fast: node, small };

test("each package has package.json, the hand-written .d.ts, a README and its flavor's .wasm", () => {
  const smallWasm = readFileSync(path.join(pkg, "web/verdict_wasm_bg.wasm"));
  const fastWasm = readFileSync(path.join(pkg, "web/verdict_wasm_fast_bg.wasm"));
  assert.ok(!smallWasm.equals(fastWasm), "two flavors");
  assert.ok(smallWasm.length < fastWasm.length, "the small flavor is the smaller");
  const wasmOf = { web: smallWasm, bundler: smallWasm, nodejs: fastWasm };
  for (const target of ["web", "bundler", "nodejs"]) {
    const dir = path.join(pkg, target);
    const meta = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8"));
    assert.equal(meta.name, `verdict-wasm-${target}`);
    assert.equal(meta.version, node.version());
    assert.equal(meta.types, "verdict_wasm.d.ts");
    for (const file of meta.files) assert.ok(existsSync(path.join(dir, file)), `${target}/${file}`);
    const dts = readFileSync(path.join(dir, "verdict_wasm.d.ts"), "utf8");
    for (const name of ["evaluate(", "evaluateJson(", "validate(", "validateJson(", "runTests(", "version(", "class PolicyEngine", "VerdictError"]) {
      assert.ok(dts.includes(name), `${target} .d.ts declares ${name}`);
    }
    assert.equal(dts.includes("export default function init("), target === "web");
    assert.match(readFileSync(path.join(dir, "README.md"), "utf8"), /In a page/);
    assert.ok(readFileSync(path.join(dir, "verdict_wasm_bg.wasm")).equals(wasmOf[target]), `${target} .wasm`);
  }
});

test("nodejs: the object form equals the JSON form", () => {
  const verdict = node.evaluate(JSON.parse(POLICIES), SQL, JSON.parse(CONTEXT));
  assert.equal(JSON.stringify(verdict), expected);
  assert.equal(verdict.verdict, "row_filter");
  assert.equal(Object.getPrototypeOf(verdict), Object.prototype, "a plain object");
  if (READS_YAML) {
    assert.equal(node.evaluateJson(POLICIES_YAML, SQL, CONTEXT, '{"dialect":"postgres"}'), expected);
  }
});

test("nodejs: without YAML, YAML text is the error yaml_unsupported", { skip: READS_YAML }, () => {
  const code = (out) => JSON.parse(out).error.code;
  assert.equal(code(node.evaluateJson(POLICIES_YAML, SQL, CONTEXT)), "yaml_unsupported");
  assert.equal(code(node.evaluateJson(POLICIES, SQL, "user: alice\nroles: [analyst]\n")), "yaml_unsupported");
  assert.equal(code(node.validateJson(POLICIES_YAML)), "yaml_unsupported");
  assert.equal(node.validate(POLICIES_YAML).error.code, "yaml_unsupported");
  assert.throws(() => node.evaluate(POLICIES_YAML, SQL, CONTEXT), { name: "VerdictError", code: "yaml_unsupported" });
  assert.throws(() => new node.PolicyEngine(POLICIES_YAML), { name: "VerdictError", code: "yaml_unsupported" });
  const engine = new node.PolicyEngine(POLICIES);
  assert.throws(() => engine.evaluate(SQL, "user: alice"), { code: "yaml_unsupported" });
  assert.equal(code(engine.evaluateJson(SQL, "user: alice")), "yaml_unsupported");
  engine.free();
});

test("nodejs: errors are thrown VerdictErrors in the object form, documents in the JSON form", () => {
  const bad = { policies: [{ id: "p1", rules: [
    { type: "row_filter", table: "orders", predicate: "tenant_id =\n = 1" },
    { type: "column_mask", table: "customers", column: "email", mask: { kind: "scramble" } },
  ] }] };
  for (const call of [() => node.evaluate(bad, SQL, {}), () => new node.PolicyEngine(bad)]) {
    assert.throws(call, (e) => {
      assert.ok(e instanceof Error);
      assert.equal(e.name, "VerdictError");
      assert.equal(e.code, "invalid_policy");
      assert.equal(e.problems.length, 2);
      assert.deepEqual(Object.keys(e.problems[0]), ["policy", "policy_index", "rule_index", "field", "message", "line", "column"]);
      assert.equal(e.problems[0].line, 2);
      return true;
    });
  }
  const answer = node.validate(bad);
  assert.equal(answer.error.problems.length, 2);
  assert.equal(JSON.stringify(answer), node.validateJson(JSON.stringify(bad)));
  assert.deepEqual(JSON.parse(node.evaluateJson("{", SQL)).error.code, "invalid_policy");
  assert.throws(() => node.evaluate(JSON.parse(POLICIES), SQL, { break_glass: "yes" }), { name: "VerdictError", code: "invalid_context" });
  assert.throws(() => node.evaluate(JSON.parse(POLICIES), 42), { name: "VerdictError", code: "invalid_arguments" });
  assert.throws(() => node.evaluate(JSON.parse(POLICIES), SQL, {}, { dialect: "mysql" }), { code: "unsupported_dialect" });
  // Objects are read as JSON.stringify writes them: a Date is its ISO text; a cycle or a
  // BigInt is an error, never a trap.
  const withDate = { attributes: { tenant_id: 1, at: new Date(0) } };
  assert.equal(
    JSON.stringify(node.evaluate(JSON.parse(POLICIES), SQL, withDate)),
    node.evaluateJson(POLICIES, SQL, JSON.stringify(withDate)),
  );
  const cyclic = { user: "a" };
  cyclic.self = cyclic;
  assert.throws(() => node.evaluate(JSON.parse(POLICIES), SQL, cyclic), { name: "VerdictError", code: "invalid_context" });
  assert.throws(() => node.evaluate(JSON.parse(POLICIES), SQL, { attributes: { n: 1n } }), { code: "invalid_context" });
  assert.throws(() => node.evaluate(() => 1, SQL), { code: "invalid_policy" });
});

test("nodejs: validate summarises, as `verdict validate` prints", () => {
  const summary = '{"valid":true,"policies":4,"rules":7,"tables":3,"governed_tables":3}';
  if (READS_YAML) assert.equal(node.validateJson(POLICIES_YAML), summary);
  assert.equal(node.validateJson(POLICIES), summary);
  assert.equal(JSON.stringify(node.validate(JSON.parse(POLICIES))), summary);
});

test("nodejs: a prepared engine answers like one-shot calls and can be freed", () => {
  const engine = new node.PolicyEngine(POLICIES);
  assert.equal(engine.evaluateJson(SQL, CONTEXT), expected);
  assert.equal(JSON.stringify(engine.evaluate(SQL, JSON.parse(CONTEXT))), expected);
  assert.equal(JSON.stringify(engine.summary()), node.validateJson(POLICIES));
  engine.free();
  assert.throws(() => engine.evaluate(SQL, {}));
  if (Symbol.dispose) {
    const disposable = new node.PolicyEngine(POLICIES);
    disposable[Symbol.dispose]();
  }
});

for (const [flavor, api] of Object.entries(FLAVORS)) test(`${flavor} flavor: deep nesting blocks cleanly`, () => {
  // Each flavor's frames have their own sizes: the parser's depth limit must hold in both.
  const engine = new api.PolicyEngine(POLICIES);
  const deepExpr = `SELECT ${"(".repeat(5000)}1${")".repeat(5000)} FROM orders`;
  const deepQuery = `SELECT * FROM ${"(SELECT * FROM ".repeat(500)}orders${") AS t".repeat(500)}`;
  for (const sql of [deepExpr, deepQuery]) {
    const v = engine.evaluate(sql, JSON.parse(CONTEXT));
    assert.equal(v.verdict, "block");
    assert.equal(v.rule, "parse_error");
  }
  const ok = engine.evaluate(`SELECT ${"(".repeat(60)}id${")".repeat(60)} FROM orders`, JSON.parse(CONTEXT));
  assert.equal(ok.verdict, "row_filter");
  // Still usable after the deep inputs.
  assert.equal(engine.evaluateJson(SQL, CONTEXT), expected);
  engine.free();
});

test("nodejs: an ES module can import the CommonJS package", async () => {
  const mod = await import(pathToFileURL(path.join(pkg, "nodejs/verdict_wasm.js")).href);
  assert.equal(mod.evaluateJson(POLICIES, SQL, CONTEXT), expected);
});

test("web: initSync and init instantiate the module", () => {
  // Each import of the glue has its own instance: a fresh process per way of loading.
  const glue = pathToFileURL(path.join(pkg, "web/verdict_wasm.js")).href;
  const wasmPath = path.join(pkg, "web/verdict_wasm_bg.wasm");
  const fastPath = path.join(pkg, "web/verdict_wasm_fast_bg.wasm");
  const scripts = {
    initSync: `import { initSync, evaluateJson } from ${JSON.stringify(glue)};
      import { readFileSync } from "node:fs";
      initSync({ module: readFileSync(${JSON.stringify(wasmPath)}) });`,
    init: `import init, { evaluateJson } from ${JSON.stringify(glue)};
      import { readFileSync } from "node:fs";
      await init({ module_or_path: await WebAssembly.compile(readFileSync(${JSON.stringify(wasmPath)})) });`,
    "init with the fast flavor": `import init, { evaluateJson } from ${JSON.stringify(glue)};
      import { readFileSync } from "node:fs";
      await init({ module_or_path: await WebAssembly.compile(readFileSync(${JSON.stringify(fastPath)})) });`,
  };
  for (const [how, prelude] of Object.entries(scripts)) {
    const script = `${prelude}
      process.stdout.write(evaluateJson(${JSON.stringify(POLICIES)}, ${JSON.stringify(SQL)}, ${JSON.stringify(CONTEXT)}));`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
    assert.equal(out, expected, how);
  }
});

test("bundler: the ES-module integration of the .wasm loads", () => {
  const glue = pathToFileURL(path.join(pkg, "bundler/verdict_wasm.js")).href;
  const script = `import { evaluateJson } from ${JSON.stringify(glue)};
    process.stdout.write(evaluateJson(${JSON.stringify(POLICIES)}, ${JSON.stringify(SQL)}, ${JSON.stringify(CONTEXT)}));`;
  const out = execFileSync(
    process.execPath,
    ["--experimental-wasm-modules", "--no-warnings", "--input-type=module", "-e", script],
    { encoding: "utf8" },
  );
  assert.equal(out, expected);
});
