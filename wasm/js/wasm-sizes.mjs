// What is big in the engine's .wasm: the code bytes of each function, grouped by the crate
// its (demangled) name belongs to, from the module cargo writes before wasm-bindgen strips
// the name section (target/wasm32-unknown-unknown/<profile>/verdict_wasm.wasm).
//
//   node wasm/js/wasm-sizes.mjs MODULE.wasm [TOP]   (default: the 25 largest groups)
import { readFileSync } from "node:fs";
import { gzipSync } from "node:zlib";

const [file, topArg = "25"] = process.argv.slice(2);
if (!file) {
  console.error("usage: node wasm/js/wasm-sizes.mjs MODULE.wasm [TOP]");
  process.exit(2);
}
const bytes = readFileSync(file);
let at = 8;
const leb = () => {
  let result = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[at++];
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (b < 0x80) return result;
  }
};
const sections = [];
while (at < bytes.length) {
  const id = bytes[at++];
  const size = leb();
  sections.push({ id, start: at, size });
  at += size;
}
// Imported functions come first in the function index space.
let imported = 0;
const importSec = sections.find((s) => s.id === 2);
if (importSec) {
  at = importSec.start;
  const n = leb();
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < 2; k++) at += leb(); // module, field names
    const kind = bytes[at++];
    if (kind === 0) {
      leb();
      imported += 1;
    } else if (kind === 1) {
      at += 1;
      const flags = leb();
      leb();
      if (flags & 1) leb();
    } else if (kind === 2) {
      const flags = leb();
      leb();
      if (flags & 1) leb();
    } else if (kind === 3) {
      at += 2;
    } else {
      at += 1;
      leb();
    }
  }
}
const code = sections.find((s) => s.id === 10);
at = code.start;
const count = leb();
const sizes = [];
for (let i = 0; i < count; i++) {
  const size = leb();
  sizes.push({ index: imported + i, start: at, size });
  at += size;
}
const names = new Map();
for (const s of sections.filter((s) => s.id === 0)) {
  at = s.start;
  const len = leb();
  const name = bytes.subarray(at, at + len).toString();
  at += len;
  if (name !== "name") continue;
  const end = s.start + s.size;
  while (at < end) {
    const sub = bytes[at++];
    const subSize = leb();
    const subEnd = at + subSize;
    if (sub === 1) {
      const n = leb();
      for (let i = 0; i < n; i++) {
        const idx = leb();
        const l = leb();
        names.set(idx, bytes.subarray(at, at + l).toString());
        at += l;
      }
    }
    at = subEnd;
  }
}
if (names.size === 0) {
  console.error(`${file} has no name section`);
  process.exit(1);
}
/** The crate of a (legacy-mangled) Rust symbol: its first path segment, or for an impl
 * `<Type as Trait>` the type's crate; generic code instantiated for engine types counts
 * for the crate that defines the function. */
function crateOf(name) {
  const m = name.match(/^_ZN(\d+)/);
  if (!m) return /^(memcpy|memset|memmove|memcmp|__)/.test(name) ? "compiler_builtins" : "(unnamed)";
  let seg = name.slice(3 + m[1].length, 3 + m[1].length + Number(m[1]));
  seg = seg.replace(/^_?\$LT\$/, "").replace(/^\$RF\$/, "").replace(/^mut\$u20\$/, "").replace(/^dyn\$u20\$/, "");
  let crate = seg.split(/\.\.|\$/)[0] || "(unnamed)";
  // Generic std code (drop_in_place, Vec, clone, fmt) instantiated for a type of an
  // application crate counts for that crate, named as `sqlparser (via core)`.
  if (["core", "alloc", "T", "A"].includes(crate)) {
    const owner = name.match(/(sqlparser|verdict_engine|verdict_wasm|serde_json|serde_wasm_bindgen|serde_path_to_error)\.\./);
    if (owner) crate = `${owner[1]} (via ${crate})`;
  }
  return crate;
}
const groups = new Map();
const total = sizes.reduce((a, s) => a + s.size, 0);
for (const s of sizes) {
  const crate = crateOf(names.get(s.index) ?? "");
  const g = groups.get(crate) ?? { bytes: 0, functions: 0, parts: [] };
  g.bytes += s.size;
  g.functions += 1;
  g.parts.push(bytes.subarray(s.start, s.start + s.size));
  groups.set(crate, g);
}
const data = sections.filter((s) => s.id === 11).reduce((a, s) => a + s.size, 0);
console.log(`${file}: ${bytes.length} bytes; code ${total} bytes in ${count} functions; data ${data} bytes`);
console.log("crate                          code bytes   share   gzip alone   functions");
for (const [crate, g] of [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, Number(topArg))) {
  const gz = gzipSync(Buffer.concat(g.parts), { level: 9 }).length;
  console.log(`${crate.padEnd(30)} ${String(g.bytes).padStart(10)}  ${((100 * g.bytes) / total).toFixed(1).padStart(5)} %  ${String(gz).padStart(10)}   ${String(g.functions).padStart(8)}`);
}
if (process.env.LARGEST) {
  console.log(`the ${process.env.LARGEST} largest functions:`);
  for (const s of [...sizes].sort((a, b) => b.size - a.size).slice(0, Number(process.env.LARGEST))) {
    console.log(`${String(s.size).padStart(8)}  ${(names.get(s.index) ?? "?").replace(/17h[0-9a-f]{16}E$/, "").replace(/\$LT\$/g, "<").replace(/\$GT\$/g, ">").replace(/\$u20\$/g, " ").replace(/\.\./g, "::").slice(0, 150)}`);
  }
}
