// Both flavors of the built engine (scripts/build-wasm.sh) in one Node process: fast, the
// nodejs package; small, the web package's verdict_wasm_bg.wasm through the web glue.
// Used by the byte-identity check, the benchmark and the package tests.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

/** `{ fast, small }`: each module's exports, instantiated, from the packages in `pkgDir`. */
export async function loadFlavors(pkgDir) {
  const fast = createRequire(import.meta.url)(path.resolve(pkgDir, "nodejs/verdict_wasm.js"));
  const small = await import(pathToFileURL(path.resolve(pkgDir, "web/verdict_wasm.js")).href);
  small.initSync({ module: readFileSync(path.resolve(pkgDir, "web/verdict_wasm_bg.wasm")) });
  return { fast, small };
}
