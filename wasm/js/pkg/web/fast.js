// verdict-wasm, fast flavor, for pages and bundlers: `await init()` once first (it fetches
// ../verdict_fast_bg.wasm next to this package, which Vite and webpack 5 bundle as an
// asset), or `init({ module_or_path })` / `initSync({ module })` with the URL, bytes or
// WebAssembly.Module you have.
import * as glue from "../glue/fast.js";
import { makeApi } from "../lib/api.js";
import { VerdictError } from "../lib/error.js";

const api = makeApi(glue, VerdictError, "fast");
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
