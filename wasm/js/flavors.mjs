// Both flavors of the built package (scripts/build-wasm.sh: PKG_DIR/verdict-wasm) in one
// Node process, through the package's own Node entry points: `verdict-wasm/node/fast`
// (verdict_fast_bg.wasm) and `verdict-wasm/node` (small, verdict_bg.wasm). Used by the
// byte-identity check, the benchmark and the package tests.
import { createRequire } from "node:module";
import path from "node:path";

/** `{ fast, small }`: each flavor's API, loaded, from the package in `pkgDir/verdict-wasm`. */
export async function loadFlavors(pkgDir) {
  const require = createRequire(import.meta.url);
  const fast = require(path.resolve(pkgDir, "verdict-wasm/node/fast.cjs"));
  const small = require(path.resolve(pkgDir, "verdict-wasm/node/small.cjs"));
  return { fast, small };
}
