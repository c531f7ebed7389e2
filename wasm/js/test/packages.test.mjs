// The built npm package (scripts/build-wasm.sh: target/wasm-pkg/verdict-wasm and its
// `npm pack` tarball) as its users load it, in Node: the Node entry points (import and
// require, small and fast), the web entry point (init, initSync) and the rough edges of
// the hand-written layer (lib/api.js). VERDICT_WASM_PKG names the output directory
// (default target/wasm-pkg). tests/npm/check.mjs installs the tarball into fresh projects.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";
import path from "node:path";

import { loadFlavors } from "../flavors.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../..");
const out = path.resolve(process.env.VERDICT_WASM_PKG ?? path.join(root, "target/wasm-pkg"));
const pkg = path.join(out, "verdict-wasm");

const POLICIES = readFileSync(path.join(root, "examples/policies.json"), "utf8");
const POLICIES_YAML = readFileSync(path.join(root, "examples/policies.yaml"), "utf8");
// The package reads YAML only when built with VERDICT_WASM_FEATURES=yaml (scripts/build-wasm.sh).
const READS_YAML = (process.env.VERDICT_WASM_FEATURES ?? "").split(/[ ,]/).includes("yaml");
const CONTEXT = readFileSync(path.join(root, "examples/context.json"), "utf8");
const SQL = "SELECT name, email FROM customers WHERE id = 7";

const { fast, small: node } = await loadFlavors(out);
const expected = node.evaluateJson(POLICIES, SQL, CONTEXT);
const FLAVORS = { fast, small: node };

/** Runs an ES module script in a fresh Node process; answers its stdout. */
function esm(script, args = []) {
  return execFileSync(process.execPath, [...args, "--input-type=module", "-e", script], { encoding: "utf8" });
}
const url = (rel) => JSON.stringify(pathToFileURL(path.join(pkg, rel)).href);

test("one package: package.json, its exports and files, both flavors, the tarball", () => {
  const meta = JSON.parse(readFileSync(path.join(pkg, "package.json"), "utf8"));
  assert.equal(meta.name, "verdict-wasm");
  assert.equal(meta.version, node.version());
  for (const sub of [".", "./small", "./fast", "./web", "./node", "./verdict_bg.wasm", "./verdict_fast_bg.wasm"]) {
    assert.ok(meta.exports[sub], `exports ${sub}`);
  }
  for (const sub of [".", "./small", "./fast"]) {
    assert.deepEqual(Object.keys(meta.exports[sub]), ["types", "workerd", "worker", "node", "browser", "import", "default"], sub);
  }
  const targets = [];
  const walk = (v) => (typeof v === "string" ? targets.push(v) : Object.values(v).forEach(walk));
  walk(meta.exports);
  for (const file of targets) assert.ok(existsSync(path.join(pkg, file)), file);
  const smallWasm = readFileSync(path.join(pkg, "verdict_bg.wasm"));
  const fastWasm = readFileSync(path.join(pkg, "verdict_fast_bg.wasm"));
  assert.ok(smallWasm.length < fastWasm.length, "the small flavor is the smaller");
  assert.equal(node.flavor, "small");
  assert.equal(fast.flavor, "fast");
  const sizes = JSON.parse(readFileSync(path.join(out, "sizes.json"), "utf8"));
  assert.ok(existsSync(path.join(out, sizes.tarball)), "the npm pack tarball");
  assert.match(sizes.tarball, new RegExp(`^verdict-wasm-${meta.version.replaceAll(".", "\\.")}\\.tgz$`));
});

test("Node: import and require share one instance and one VerdictError", async () => {
  const mod = await import(pathToFileURL(path.join(pkg, "node/small.mjs")).href);
  const cjs = createRequire(import.meta.url)(path.join(pkg, "node/small.cjs"));
  assert.equal(mod.PolicyEngine, cjs.PolicyEngine);
  assert.equal(mod.VerdictError, cjs.VerdictError);
  assert.equal(mod.evaluateJson(POLICIES, SQL, CONTEXT), expected);
  await mod.default(); // init() resolves at once in Node
  assert.equal(typeof mod.init, "function");
});

test("the object form equals the JSON form, in both flavors", () => {
  for (const api of Object.values(FLAVORS)) {
    const verdict = api.evaluate(JSON.parse(POLICIES), SQL, JSON.parse(CONTEXT));
    assert.equal(JSON.stringify(verdict), expected);
    assert.equal(verdict.verdict, "row_filter");
    assert.equal(Object.getPrototypeOf(verdict), Object.prototype, "a plain object");
    assert.equal(api.evaluateJson(POLICIES, SQL, CONTEXT), expected);
  }
  if (READS_YAML) {
    assert.equal(node.evaluateJson(POLICIES_YAML, SQL, CONTEXT, '{"dialect":"postgres"}'), expected);
  }
});

test("without YAML, YAML text is the error yaml_unsupported", { skip: READS_YAML }, () => {
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

test("errors are thrown VerdictErrors (instanceof works) in the object form, documents in the JSON form", () => {
  const bad = { policies: [{ id: "p1", rules: [
    { type: "row_filter", table: "orders", predicate: "tenant_id =\n = 1" },
    { type: "column_mask", table: "customers", column: "email", mask: { kind: "scramble" } },
  ] }] };
  for (const api of Object.values(FLAVORS)) {
    for (const call of [() => api.evaluate(bad, SQL, {}), () => new api.PolicyEngine(bad)]) {
      assert.throws(call, (e) => {
        assert.ok(e instanceof Error);
        assert.ok(e instanceof api.VerdictError, "instanceof VerdictError");
        assert.equal(Object.getPrototypeOf(e), api.VerdictError.prototype, "a real VerdictError");
        assert.ok(e instanceof fast.VerdictError, "instanceof holds across flavors");
        assert.equal(e.name, "VerdictError");
        assert.equal(e.code, "invalid_policy");
        assert.equal(e.problems.length, 2);
        assert.deepEqual(Object.keys(e.problems[0]), ["policy", "policy_index", "rule_index", "kind", "field", "message", "line", "column"]);
        assert.equal(e.problems[0].line, 2);
        assert.equal(JSON.stringify(e), JSON.stringify(JSON.parse(api.validateJson(JSON.stringify(bad))).error));
        return true;
      });
    }
  }
  assert.ok(!(new Error("x") instanceof node.VerdictError));
  const made = new node.VerdictError("invalid_context", "made by hand");
  assert.ok(made instanceof node.VerdictError && made.code === "invalid_context" && made.name === "VerdictError");
  const answer = node.validate(bad);
  assert.equal(answer.error.problems.length, 2);
  assert.equal(JSON.stringify(answer), node.validateJson(JSON.stringify(bad)));
  assert.deepEqual(JSON.parse(node.evaluateJson("{", SQL)).error.code, "invalid_policy");
  assert.throws(() => node.evaluate(JSON.parse(POLICIES), SQL, { break_glass: "yes" }), { name: "VerdictError", code: "invalid_context" });
  assert.throws(() => node.evaluate(JSON.parse(POLICIES), 42), { name: "VerdictError", code: "invalid_arguments" });
  assert.throws(() => node.evaluate(JSON.parse(POLICIES), SQL, {}, { dialect: "mysql" }), { code: "unsupported_dialect" });
  const cyclic = { user: "a" };
  cyclic.self = cyclic;
  assert.throws(() => node.evaluate(JSON.parse(POLICIES), SQL, cyclic), { name: "VerdictError", code: "invalid_context" });
  assert.throws(() => node.evaluate(JSON.parse(POLICIES), SQL, { attributes: { n: 1n } }), { code: "invalid_context" });
  assert.throws(() => node.evaluate(() => 1, SQL), { code: "invalid_policy" });
  // A Date nested in an object is its ISO text, as JSON.stringify writes it.
  const withDate = { attributes: { tenant_id: 1, at: new Date(0) } };
  assert.equal(
    JSON.stringify(node.evaluate(JSON.parse(POLICIES), SQL, withDate)),
    node.evaluateJson(POLICIES, SQL, JSON.stringify(withDate)),
  );
});

test("rough edges: a Date or a JSON string as context, {} as a policy set", () => {
  const engine = new node.PolicyEngine(POLICIES);
  assert.throws(() => engine.evaluate(SQL, new Date(0)), (e) => {
    assert.ok(e instanceof node.VerdictError);
    assert.equal(e.code, "invalid_context");
    assert.match(e.message, /^the context must be an object or its JSON text; got a Date/);
    return true;
  });
  assert.throws(() => node.evaluate(POLICIES, SQL, new Date(0)), { code: "invalid_context" });
  const twice = JSON.stringify(CONTEXT);
  assert.throws(() => engine.evaluate(SQL, twice), { code: "invalid_context", message: /JSON-encoded twice/ });
  assert.equal(JSON.parse(engine.evaluateJson(SQL, twice)).error.code, "invalid_context");
  assert.throws(() => engine.evaluate(SQL, "42"), { code: "invalid_context", message: /got a number/ });
  for (const bad of [{}, { polices: [] }, 7]) {
    assert.throws(() => new node.PolicyEngine(bad), (e) => {
      assert.ok(e instanceof node.VerdictError);
      assert.equal(e.code, "invalid_policy");
      assert.match(e.message, /^expected an array of policies, \{policies: \[\.\.\.\]\}/);
      return true;
    });
  }
  engine.free();
});

test("rough edges: use after free() is the VerdictError engine_freed; JSON.stringify(engine) says what it holds", () => {
  for (const [flavor, api] of Object.entries(FLAVORS)) {
    const engine = new api.PolicyEngine(POLICIES);
    assert.equal(JSON.stringify(engine), `{"PolicyEngine":{"flavor":"${flavor}","valid":true,"policies":4,"rules":7,"tables":3,"governed_tables":3}}`);
    assert.equal(engine.freed, false);
    engine.free();
    engine.free(); // twice is fine
    assert.equal(engine.freed, true);
    assert.equal(JSON.stringify(engine), '{"PolicyEngine":{"freed":true}}');
    for (const call of [() => engine.evaluate(SQL, {}), () => engine.evaluateJson(SQL), () => engine.summary()]) {
      assert.throws(call, (e) => {
        assert.ok(e instanceof api.VerdictError);
        assert.equal(e.code, "engine_freed");
        assert.match(e.message, /after free\(\)/);
        assert.doesNotMatch(e.message, /null pointer/);
        return true;
      });
    }
  }
  // Symbol.dispose where the runtime has it (Node 20 has no `using` syntax).
  if (typeof Symbol.dispose === "symbol") {
    const disposable = new node.PolicyEngine(POLICIES);
    disposable[Symbol.dispose]();
    assert.equal(disposable.freed, true);
  }
});

test("validate summarises, as `verdict validate` prints", () => {
  const summary = '{"valid":true,"policies":4,"rules":7,"tables":3,"governed_tables":3}';
  if (READS_YAML) assert.equal(node.validateJson(POLICIES_YAML), summary);
  assert.equal(node.validateJson(POLICIES), summary);
  assert.equal(JSON.stringify(node.validate(JSON.parse(POLICIES))), summary);
  const engine = new node.PolicyEngine(POLICIES);
  assert.equal(JSON.stringify(engine.evaluate(SQL, JSON.parse(CONTEXT))), expected);
  assert.equal(JSON.stringify(engine.summary()), summary);
  engine.free();
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
  assert.equal(engine.evaluateJson(SQL, CONTEXT), expected);
  engine.free();
});

test("web entry: a clear error before init(); init and initSync load either flavor", () => {
  const scripts = {
    "before init": `import { evaluateJson, PolicyEngine, VerdictError } from ${url("web/small.js")};
      for (const f of [() => evaluateJson("{}", "SELECT 1"), () => new PolicyEngine("{}")]) {
        try { f(); throw new Error("no error"); } catch (e) {
          if (!(e instanceof VerdictError) || e.code !== "not_initialized") throw e;
        }
      }
      process.stdout.write(${JSON.stringify(expected)});`,
    initSync: `import { initSync, evaluateJson, flavor } from ${url("web/small.js")};
      import { readFileSync } from "node:fs";
      initSync({ module: readFileSync(new URL(${url("verdict_bg.wasm")})) });
      if (flavor !== "small") throw new Error(flavor);`,
    "init with a compiled module, fast flavor": `import init, { evaluateJson, flavor } from ${url("web/fast.js")};
      import { readFileSync } from "node:fs";
      await init({ module_or_path: await WebAssembly.compile(readFileSync(new URL(${url("verdict_fast_bg.wasm")}))) });
      await init(); // a second call resolves at once
      if (flavor !== "fast") throw new Error(flavor);`,
  };
  for (const [how, prelude] of Object.entries(scripts)) {
    const script = how === "before init" ? prelude : `${prelude}
      process.stdout.write(evaluateJson(${JSON.stringify(POLICIES)}, ${JSON.stringify(SQL)}, ${JSON.stringify(CONTEXT)}));`;
    assert.equal(esm(script), expected, how);
  }
});

test("the README's JavaScript snippets parse on this Node (no `using`)", () => {
  const readme = readFileSync(path.join(pkg, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/```(js|mjs|cjs)[^\n]*\n([\s\S]*?)```/g)];
  assert.ok(blocks.length >= 6, "snippets found");
  const dir = mkdtempSync(path.join(tmpdir(), "verdict-readme-"));
  blocks.forEach(([, lang, code], i) => {
    assert.doesNotMatch(code, /^\s*(await\s+)?using\s/m, "no `using` declarations");
    const file = path.join(dir, `snippet${i}.${lang === "cjs" ? "cjs" : "mjs"}`);
    writeFileSync(file, code);
    execFileSync(process.execPath, ["--check", file], { encoding: "utf8" });
  });
  rmSync(dir, { recursive: true, force: true });
});
