// verdict-wasm, fast flavor, for workerd / Cloudflare Workers and other runtimes that import a
// .wasm file as a compiled WebAssembly.Module: ready on import (no fetch, no init needed;
// `init()` resolves at once).
import wasmModule from "../verdict_fast_bg.wasm";
import * as glue from "../glue/fast.js";
import { makeApi } from "../lib/api.js";
import { VerdictError } from "../lib/error.js";

glue.initSync({ module: wasmModule });
const api = makeApi({ ...glue, default: undefined }, VerdictError, "fast");
export const {
  init,
  initSync,
  evaluate,
  evaluateJson,
  validate,
  validateJson,
  runTests,
  explainRow,
  whoSees,
  version,
  PolicyEngine,
  flavor,
} = api;
export { VerdictError };
export default init;
