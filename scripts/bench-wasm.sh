#!/usr/bin/env bash
# Benchmarks the WebAssembly engine against the native one, in one run, and prints the
# wasm/native time ratio and the prepared engine's speed-up over one-shot calls.
# Not a test: numbers depend on the machine. Builds the packages (scripts/build-wasm.sh;
# `--no-build` uses those already in VERDICT_WASM_OUT, default target/wasm-pkg) and the
# native bench (release) first; a few minutes cold.
#   scripts/bench-wasm.sh [--no-build] [ROUNDS]   (rounds of native and wasm blocks;
#                                                   default 100, ~15 s)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cargo_env

pkg="${VERDICT_WASM_OUT:-$root/target/wasm-pkg}"
if [ "${1:-}" = "--no-build" ]; then
    shift
else
    bash scripts/build-wasm.sh
fi
cargo build --release -q -p verdict-wasm --example native_bench --example native_bench_mimalloc
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
echo
node wasm/js/bench.mjs "$pkg" "$target_dir/release/examples/native_bench" \
    "$target_dir/release/examples/native_bench_mimalloc" wasm/bench/mix.json "$@"
