#!/usr/bin/env bash
# Every WebAssembly test, in order, stopping at the first failure:
#   1. scripts/build-wasm.sh            the npm package verdict-wasm and its tarball
#                                       (target/wasm-pkg), built once
#   2. the types' generated unions      cargo test -p verdict-wasm --test types
#   3. wasm-bindgen-test in Node        wasm/tests/api.rs
#   4. wasm-bindgen-test in Chromium    the same test binary, headless (Debian chromium)
#   5. the package in Node              node --test wasm/js/test/
#   6. the edge worker in Node 20       node --test examples/edge-worker/test/
#   7. byte identity                    every conformance case x context, native vs wasm
#   8. the tarball in fresh projects    tests/npm/check.mjs: Node ESM/CJS, TypeScript,
#                                       esbuild/Vite/webpack bundles in Chromium, the edge
#                                       worker under workerd answering the corpus, sizes
#   9. benchmark (not a test)           the .wasm's size raw/gzipped, wasm/native time ratio
#  10. warm-up (not a test)             the first N evaluations' cost, small vs fast flavor
#  11. clippy for wasm32                cargo clippy -p verdict-wasm --target wasm32-unknown-unknown
# then prints each runner's summary line.
#
# Installs only what is missing: the wasm32 target, wasm-bindgen-cli (through
# build-wasm.sh), Node.js, Debian's chromium + chromium-driver (apt-get, as root) and the
# npm tools of tests/npm/tools.json at their exact versions (into target/npm-tools).
# Works from any directory.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo_env

log="$(mktemp -d)"
trap 'rm -rf "$log"' EXIT

# ------------------------------------------------------------------------- set-up

if ! command -v node >/dev/null 2>&1; then
    apt_install nodejs
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$node_major" -lt 20 ]; then
    echo "test-wasm.sh: Node.js $(node --version) is too old; the edge worker test needs Node 20+" >&2
    exit 1
fi
need_chromium

# ------------------------------------------------------------------------- build

pkg="${VERDICT_WASM_OUT:-$root/target/wasm-pkg}"
step "scripts/build-wasm.sh"
VERDICT_WASM_OUT="$pkg" bash scripts/build-wasm.sh
export VERDICT_WASM_PKG="$pkg"

# ------------------------------------------------------------------------- tests

step "cargo test -p verdict-wasm --test types   (index.d.ts's unions are the engine's lists)"
cargo test -q -p verdict-wasm --test types

wbt() {
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
        cargo test -p verdict-wasm --target wasm32-unknown-unknown --test api "$@"
}

step "wasm-bindgen-test in Node"
wbt 2>&1 | tee "$log/node.txt"

step "wasm-bindgen-test in headless Chromium"
# The same binary; wasm/webdriver.json (cargo runs tests in the crate directory) adds
# the flags that keep Chromium off the network.
WASM_BINDGEN_USE_BROWSER=1 wbt 2>&1 | tee "$log/chromium.txt"

step "node --test wasm/js/test/   (the npm package)"
node --test --test-reporter=spec wasm/js/test/ 2>&1 | tee "$log/packages.txt"

step "node --test examples/edge-worker/test/   (the edge worker, $(node --version))"
# What `npm install` does with the worker's `file:` dependency, without npm.
mkdir -p examples/edge-worker/node_modules
rm -f examples/edge-worker/node_modules/verdict-wasm-web
ln -sfn "$pkg/verdict-wasm" examples/edge-worker/node_modules/verdict-wasm
node --test --test-reporter=spec examples/edge-worker/test/ 2>&1 | tee "$log/worker.txt"

step "byte identity: the conformance corpus, native vs wasm"
cargo run -q -p verdict-wasm --example native_corpus -- "$log/native.json"
node wasm/js/byte-identity.mjs "$pkg" "$log/native.json" 2>&1 | tee "$log/identity.txt"

step "the tarball in fresh projects (tests/npm/check.mjs)"
tools="$root/target/npm-tools"
# tests/npm/tools.json pins each tool exactly and tools-lock.json everything beneath them.
if ! cmp -s tests/npm/tools-lock.json "$tools/package-lock.json" || [ ! -d "$tools/node_modules" ]; then
    rm -rf "$tools"
    mkdir -p "$tools"
    cp tests/npm/tools.json "$tools/package.json"
    cp tests/npm/tools-lock.json "$tools/package-lock.json"
    (cd "$tools" && npm ci --no-audit --no-fund --loglevel=error)
fi
node tests/npm/check.mjs "$pkg" "$log/native.json" 2>&1 | tee "$log/npm.txt"

step "benchmark: the .wasm's size and the wasm/native time ratio (not a test: numbers depend on the machine)"
VERDICT_WASM_OUT="$pkg" bash scripts/bench-wasm.sh --no-build 60 2>&1 | tee "$log/bench.txt"

step "warm-up curve of both flavors (not a test; wasm/js/warmup.mjs)"
node wasm/js/warmup.mjs "$pkg" 1 2>&1 | tee "$log/warmup.txt"

step "cargo clippy -p verdict-wasm -p verdict-wasm-alloc --all-targets --target wasm32-unknown-unknown -- -D warnings"
cargo clippy -p verdict-wasm -p verdict-wasm-alloc --all-targets --target wasm32-unknown-unknown -- -D warnings

# ------------------------------------------------------------------------ summary

echo
echo "--- wasm test summary"
echo "wasm-bindgen-test (Node):     $(grep -E '^test result:' "$log/node.txt" | tail -n 1)"
echo "wasm-bindgen-test (Chromium): $(grep -E '^test result:' "$log/chromium.txt" | tail -n 1)"
for runner in packages worker; do
    pass="$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$log/$runner.txt")"
    fail="$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$log/$runner.txt")"
    label="npm package (node --test):"
    [ "$runner" = worker ] && label="edge worker (node --test):"
    printf '%-30s %s passed, %s failed\n' "$label" "${pass:-?}" "${fail:-?}"
done
grep -E '^byte-identity:' "$log/identity.txt"
grep -E '^npm (check|size)' "$log/npm.txt"
grep -E '^(wasm size:|wasm/native ratio)' "$log/bench.txt"
grep -E '^warm-up: ' "$log/warmup.txt"
echo "wasm tests passed"
