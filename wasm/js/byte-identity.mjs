// Replays the conformance corpus through both flavors of the wasm engine (fast:
// verdict-wasm/node/fast; small: verdict-wasm/node, both from the built package) and compares
// every verdict with the native engine's, byte for byte.
//
//   node wasm/js/byte-identity.mjs PKG_DIR NATIVE.json
//
// NATIVE.json comes from `cargo run -p verdict-wasm --example native_corpus -- NATIVE.json`.
// Each case × context is checked in three forms, which must all equal the native bytes:
// the one-shot JSON form (`evaluateJson`), the prepared JSON form
// (`PolicyEngine#evaluateJson`) and the object form (`JSON.stringify(engine.evaluate(…))`).
// Then each of `verdict test`'s fixture suites through `runTests` (JSON texts and objects,
// with mutation) must give the native report's bytes.
// Prints `byte-identity: N passed, M failed` (each case × context and each suite, in each
// flavor) and exits non-zero on any difference.
import { readFileSync } from "node:fs";

import { loadFlavors } from "./flavors.mjs";

const [pkgDir, nativePath] = process.argv.slice(2);
if (!pkgDir || !nativePath) {
  console.error("usage: node byte-identity.mjs PKG_DIR NATIVE.json");
  process.exit(2);
}
const { fast, small } = await loadFlavors(pkgDir);
const native = JSON.parse(readFileSync(nativePath, "utf8"));

const policyObject = JSON.parse(native.policies);
const contexts = native.contexts.map((c) => ({ name: c.name, text: c.json, object: JSON.parse(c.json) }));

let passed = 0;
let failed = 0;
const counts = [];
const shown = [];
for (const [flavor, wasm] of [["fast", fast], ["small", small]]) {
  const engine = new wasm.PolicyEngine(native.policies);
  let flavorPassed = 0;
  for (const c of native.cases) {
    contexts.forEach((ctx, i) => {
      const expected = c.verdicts[i];
      const forms = {
        evaluateJson: wasm.evaluateJson(native.policies, c.sql, ctx.text),
        "PolicyEngine#evaluateJson": engine.evaluateJson(c.sql, ctx.text),
        "PolicyEngine#evaluate": JSON.stringify(engine.evaluate(c.sql, ctx.object)),
      };
      // The one-shot object form re-converts the whole policy set: check it on a sample.
      if (i === 0) forms.evaluate = JSON.stringify(wasm.evaluate(policyObject, c.sql, ctx.object));
      const wrong = Object.entries(forms).filter(([, got]) => got !== expected);
      if (wrong.length === 0) {
        flavorPassed += 1;
      } else {
        failed += 1;
        if (shown.length < 5) shown.push({ id: c.id, context: ctx.name, form: `${flavor} ${wrong[0][0]}`, expected, got: wrong[0][1] });
      }
    });
  }
  engine.free();
  for (const suite of native.suites) {
    const forms = {
      "runTests(text)": wasm.runTests(suite.policies, suite.tests, '{"mutate":true}'),
      "runTests(object)": wasm.runTests(JSON.parse(suite.policies), JSON.parse(suite.tests), { mutate: true }),
    };
    const wrong = Object.entries(forms).filter(([, got]) => got !== suite.report);
    if (wrong.length === 0) {
      flavorPassed += 1;
    } else {
      failed += 1;
      if (shown.length < 5) shown.push({ id: `suite ${suite.name}`, context: "-", form: `${flavor} ${wrong[0][0]}`, expected: suite.report, got: wrong[0][1] });
    }
  }
  passed += flavorPassed;
  counts.push(`${flavor} ${flavorPassed}`);
}

for (const s of shown) {
  console.log(`DIFF ${s.id} [${s.context}] via ${s.form}\n  native: ${s.expected}\n  wasm:   ${s.got}`);
}
console.log(
  `replayed ${native.cases.length} cases x ${contexts.length} contexts and ${native.suites.length} test suites through both flavors of the wasm engine (${fast.version()}): ${counts.join(", ")} identical`,
);
console.log(`byte-identity: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed === 2 * (native.cases.length * contexts.length + native.suites.length) ? 0 : 1);
