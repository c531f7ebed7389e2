#!/usr/bin/env bash
# The policy editor's tests, stopping at the first failure:
#   1. scripts/build-editor.sh          the editor, built once with Trunk into dist/
#   2. wasm-bindgen-test in Chromium    web-editor/tests/components.rs, headless
#   3. Playwright end to end            web-editor/e2e/ against `verdict serve` on SQLite
#                                       (started by the test) and a throw-away PostgreSQL
#                                       cluster as the data preview's data source (started
#                                       by the test; VERDICT_PG_BIN names its bin directory),
#                                       screenshots and Performance API measurements in
#                                       target/editor-e2e/
# then prints each runner's summary line, the measurements and the sizes.
# (The editor's native unit tests run with `cargo test --workspace`.)
#
# Installs only what is missing: trunk, the wasm32 target, wasm-bindgen-cli and wasm-opt
# (through build-editor.sh), Node.js, Debian's chromium + chromium-driver (apt-get, as
# root) and the e2e's npm packages (`npm ci`: playwright-core only; no browser download).
# Works from any directory.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
cargo_env
export PATH="$root/target/wasm-tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"

log="$(mktemp -d)"
trap 'rm -rf "$log"' EXIT
out="$root/target/editor-e2e"

# ------------------------------------------------------------------------- set-up

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    apt_install nodejs npm
fi
need_chromium
# The data preview's e2e runs on its own PostgreSQL cluster (initdb, pg_ctl, psql).
if [ -f scripts/ensure-postgres.sh ]; then
    bash scripts/ensure-postgres.sh
fi

step "npm ci   (web-editor/e2e: playwright-core)"
(cd web-editor/e2e && npm ci --no-audit --no-fund --loglevel=error)

# ------------------------------------------------------------------------- build

step "scripts/build-editor.sh"
bash scripts/build-editor.sh

step "cargo build --release --bin verdict"
cargo build --release --bin verdict

# ------------------------------------------------------------------------- tests

step "wasm-bindgen-test in headless Chromium   (web-editor/tests/components.rs)"
# web-editor/webdriver.json (cargo runs tests in the crate directory) keeps Chromium off
# the network.
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
    cargo test -p verdict-web-editor --target wasm32-unknown-unknown --test components 2>&1 |
    tee "$log/components.txt"

step "cargo clippy -p verdict-web-editor --no-deps --all-targets --target wasm32-unknown-unknown -- -D warnings"
# --no-deps: the engine and the other crates are linted by scripts/test.sh.
cargo clippy -p verdict-web-editor --no-deps --all-targets --target wasm32-unknown-unknown -- -D warnings

step "Playwright end to end   (node --test web-editor/e2e/)"
rm -rf "$out"
mkdir -p "$out"
VERDICT_BIN="$root/target/release/verdict" VERDICT_DIST="$root/dist" VERDICT_E2E_OUT="$out" \
    node --test --test-reporter=spec --test-concurrency=1 web-editor/e2e/ 2>&1 | tee "$log/e2e.txt"

# ------------------------------------------------------------------------ summary

echo
echo "--- editor test summary"
echo "wasm-bindgen-test (Chromium): $(grep -E '^test result:' "$log/components.txt" | tail -n 1)"
pass="$(sed -n 's/^ℹ pass \([0-9]*\)$/\1/p' "$log/e2e.txt")"
fail="$(sed -n 's/^ℹ fail \([0-9]*\)$/\1/p' "$log/e2e.txt")"
echo "e2e: ${pass:-?} passed, ${fail:-?} failed"
if [ -f "$out/perf.json" ]; then
    echo "performance: $(cat "$out/perf.json")"
fi
if [ -f "$out/perf-tests-panel.json" ]; then
    echo "keystrokes with the policy tests loaded: $(tr -d '\n ' <"$out/perf-tests-panel.json")"
fi
echo "sizes: $(cat target/editor-sizes.json)"
echo "screenshots: ${out#"$root"/}/*.png"
echo "editor tests passed"
