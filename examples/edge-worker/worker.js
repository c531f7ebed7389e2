// A module worker that answers `POST /evaluate` with Verdict's verdict JSON.
//
// It uses only web-standard APIs (Request, Response, URL), so it runs on workerd /
// Cloudflare Workers, Deno Deploy, Vercel Edge and the like, and in Node 20. The engine is
// the `verdict-wasm` package: under workerd (its `workerd`/`worker` export condition) it
// imports the .wasm as a compiled module, so nothing is fetched at run time; in Node it
// reads the file. Either way it is ready on import. Bindings (`env`):
//   VERDICT_POLICIES  the policy set: JSON text, or an object (required)
//
// POST /evaluate  {"sql": "...", "context": {...}}  ->  200 with the verdict JSON (every
//                 verdict, `block` included, as the CLI exits 0); 400 with
//                 {"error": {code, message}} for a request that cannot be judged.
// GET /           {"service": "verdict", "version": "..."}

import { PolicyEngine, VerdictError, version } from "verdict-wasm";

const MAX_BODY_BYTES = 1 << 20;
const JSON_TYPE = { "content-type": "application/json; charset=utf-8" };

let prepared = null; // { source, engine }: the policy set validated once, reused per request

function json(status, text, headers = {}) {
  return new Response(text, { status, headers: { ...JSON_TYPE, ...headers } });
}

function error(status, code, message, headers = {}) {
  return json(status, JSON.stringify({ error: { code, message } }), headers);
}

function engineFor(env) {
  const source = env.VERDICT_POLICIES;
  if (prepared === null || prepared.source !== source) {
    prepared?.engine.free();
    prepared = null;
    // Throws a VerdictError listing every problem when the configured set is invalid.
    prepared = { source, engine: new PolicyEngine(source) };
  }
  return prepared.engine;
}

async function evaluateRequest(request, env) {
  const length = Number(request.headers.get("content-length") ?? "0");
  if (length > MAX_BODY_BYTES) {
    return error(413, "payload_too_large", `the body is larger than ${MAX_BODY_BYTES} bytes`);
  }
  const text = await request.text();
  if (text.length > MAX_BODY_BYTES) {
    return error(413, "payload_too_large", `the body is larger than ${MAX_BODY_BYTES} bytes`);
  }
  let body;
  try {
    body = JSON.parse(text);
  } catch (e) {
    return error(400, "invalid_request", `the body is not valid JSON: ${e.message}`);
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    return error(400, "invalid_request", 'the body must be an object: {"sql": "...", "context": {...}}');
  }
  if (typeof body.sql !== "string") {
    return error(400, "invalid_request", "`sql` must be a string");
  }
  let engine;
  try {
    engine = engineFor(env);
  } catch (e) {
    if (e instanceof VerdictError) {
      return json(500, JSON.stringify({ error: { code: e.code, message: `VERDICT_POLICIES: ${e.message}`, problems: e.problems } }));
    }
    throw e;
  }
  const context = body.context === undefined || body.context === null ? "" : JSON.stringify(body.context);
  // The JSON form answers the verdict's exact bytes, or {"error": {...}} for a bad context.
  const answer = engine.evaluateJson(body.sql, context);
  return json(answer.startsWith('{"error":') ? 400 : 200, answer);
}

export default {
  async fetch(request, env = {}) {
    const url = new URL(request.url);
    if (url.pathname === "/evaluate") {
      if (request.method !== "POST") {
        return error(405, "method_not_allowed", "use POST /evaluate", { allow: "POST" });
      }
      if (env.VERDICT_POLICIES === undefined) {
        return error(500, "not_configured", "the VERDICT_POLICIES binding is missing");
      }
      return evaluateRequest(request, env);
    }
    if (url.pathname === "/" && request.method === "GET") {
      return json(200, JSON.stringify({ service: "verdict", version: version() }));
    }
    return error(404, "not_found", `no route for ${request.method} ${url.pathname}`);
  },
};
