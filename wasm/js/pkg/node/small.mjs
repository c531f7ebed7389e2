// verdict-wasm, small flavor, for Node (ES module): the CommonJS entry's one instance, so
// `import` and `require` in one process share the engine and its VerdictError.
import cjs from "./small.cjs";

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
  VerdictError,
} = cjs;
export default cjs.init;
