// Imports the worker in Node 20 and calls its fetch handler with web-standard Requests.
// Needs the package at node_modules/verdict-wasm (scripts/test-wasm.sh links it; `npm
// install` does the same from the tarball) and, for the reference answers, the package's
// fast flavor (VERDICT_WASM_PKG, default target/wasm-pkg). Under workerd the worker is
// served by tests/npm/check.mjs.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

import worker from "../worker.js";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../..");
const pkg = process.env.VERDICT_WASM_PKG ?? path.join(root, "target/wasm-pkg");
const reference = createRequire(import.meta.url)(path.join(pkg, "verdict-wasm/node/fast.cjs"));

const policies = readFileSync(path.join(root, "examples/policies.json"), "utf8");
const context = JSON.parse(readFileSync(path.join(root, "examples/context.json"), "utf8"));
const env = { VERDICT_POLICIES: policies };

function post(body, init = {}) {
  return new Request("https://verdict.example/evaluate", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: typeof body === "string" ? body : JSON.stringify(body),
    ...init,
  });
}

test("POST /evaluate answers the verdict JSON, byte for byte", async () => {
  for (const sql of [
    "SELECT name, email FROM customers WHERE id = 7",
    readFileSync(path.join(root, "examples/query.sql"), "utf8"),
    "SELECT * FROM salaries",
    "DROP TABLE orders",
    "SELEC nonsense",
  ]) {
    const res = await worker.fetch(post({ sql, context }), env);
    assert.equal(res.status, 200, sql);
    assert.match(res.headers.get("content-type"), /^application\/json/);
    const text = await res.text();
    assert.equal(text, reference.evaluateJson(policies, sql, JSON.stringify(context)), sql);
  }
});

test("a verdict is rewritten SQL or a block with a reason", async () => {
  const ok = await (await worker.fetch(post({ sql: "SELECT id FROM orders", context }), env)).json();
  assert.equal(ok.verdict, "row_filter");
  assert.match(ok.rewritten_sql, /tenant_id = 1/);
  const blocked = await (await worker.fetch(post({ sql: "SELECT * FROM salaries", context }), env)).json();
  assert.equal(blocked.verdict, "block");
  assert.equal(blocked.rule, "deny");
  assert.equal(blocked.rewritten_sql, undefined);
});

test("without a context the context is empty", async () => {
  const res = await worker.fetch(post({ sql: "SELECT id FROM orders" }), env);
  assert.equal(await res.text(), reference.evaluateJson(policies, "SELECT id FROM orders", "{}"));
});

test("requests that cannot be judged are 4xx with an error object", async () => {
  const cases = [
    [post("{not json"), 400, "invalid_request"],
    [post({ context }), 400, "invalid_request"],
    [post([1, 2]), 400, "invalid_request"],
    [post({ sql: "SELECT 1", context: { roles: "analyst" } }), 400, "invalid_context"],
    [new Request("https://verdict.example/evaluate"), 405, "method_not_allowed"],
    [new Request("https://verdict.example/nope", { method: "POST", body: "{}" }), 404, "not_found"],
    [post("x".repeat((1 << 20) + 1)), 413, "payload_too_large"],
  ];
  for (const [request, status, code] of cases) {
    const res = await worker.fetch(request, env);
    assert.equal(res.status, status, `${request.method} ${request.url}`);
    const body = await res.json();
    assert.equal(body.error.code, code);
    assert.equal(typeof body.error.message, "string");
  }
  const res = await worker.fetch(new Request("https://verdict.example/evaluate"), env);
  assert.equal(res.headers.get("allow"), "POST");
});

test("a misconfigured policy set is a 500 listing every problem", async () => {
  const bad = JSON.stringify({ policies: [{ id: "p", rules: [{ type: "row_filter", table: "orders", predicate: "tenant_id = = 1" }] }] });
  const res = await worker.fetch(post({ sql: "SELECT 1" }), { ...env, VERDICT_POLICIES: bad });
  assert.equal(res.status, 500);
  const body = await res.json();
  assert.equal(body.error.code, "invalid_policy");
  assert.equal(body.error.problems[0].field, "rules[0].predicate");
  assert.equal(typeof body.error.problems[0].column, "number");
  const missing = await worker.fetch(post({ sql: "SELECT 1" }), {});
  assert.equal(missing.status, 500);
  assert.equal((await missing.json()).error.code, "not_configured");
  // The configured set is prepared again when the binding changes back.
  const again = await worker.fetch(post({ sql: "SELECT id FROM orders", context }), env);
  assert.equal(again.status, 200);
});

test("GET / names the service and the engine version", async () => {
  const res = await worker.fetch(new Request("https://verdict.example/"), env);
  assert.deepEqual(await res.json(), { service: "verdict", version: reference.version() });
});

test("the worker uses web-standard APIs only", () => {
  const source = readFileSync(path.join(here, "../worker.js"), "utf8").replace(/^\s*\/\/.*$/gm, "");
  for (const name of ["process", "require(", "Buffer", "node:", "__dirname", "document", "window", "globalThis.fs"]) {
    assert.ok(!source.includes(name), `worker.js uses ${name}`);
  }
});
