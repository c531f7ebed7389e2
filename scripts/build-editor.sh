#!/usr/bin/env bash
# Builds the policy editor (web-editor/, Leptos CSR) with Trunk into dist/, which
# `verdict serve --web-dir dist` (and so scripts/run.sh) serves at `/`.
#
# Nothing is downloaded at build time (Trunk.toml: `offline = true`, pinned tools). The
# tools are installed only when missing: the wasm32 target, wasm-bindgen-cli of Cargo.lock's
# version and binaryen's wasm-opt (both through `scripts/build-wasm.sh --tools-only`), and
# trunk 0.21.14 (`cargo install --locked`, ~10 min once). Prints the size of every file of
# dist/, raw and gzipped, and writes them to target/editor-sizes.json; writes each text and
# wasm file's brotli form (quality 11) beside it, which the server then sends as it is.
# Works from any directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

trunk_version=0.21.14

# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cargo_env
note() { echo "build-editor: $*"; }

bash scripts/build-wasm.sh --tools-only
# Trunk uses the pinned wasm-bindgen and wasm-opt only when they are on PATH.
export PATH="$root/target/wasm-tools/node_modules/.bin:$HOME/.cargo/bin:$PATH"
have_trunk="$(trunk --version 2>/dev/null | awk '{ print $2 }' || true)"
if [ "$have_trunk" != "$trunk_version" ]; then
    note "cargo install trunk --version $trunk_version --locked (found: ${have_trunk:-none}; ~10 min once)"
    # trunk's own release profile (fat LTO, one codegen unit) triples its build time; a
    # build tool needs none of it.
    CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
        CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
        cargo install trunk --version "$trunk_version" --locked
fi

export TRUNK_SKIP_VERSION_CHECK=true
note "trunk build --release (profile editor-release)"
trunk build --release

# Brotli at its best quality, once, here: the server sends a file's `.br` sibling when the
# build wrote one, and otherwise compresses large files at quality 9 (quality 11 takes
# seconds per megabyte; on the editor's wasm it saves about a tenth of the first load).
command -v brotli >/dev/null 2>&1 || apt_install brotli
for f in dist/*.wasm dist/*.js dist/*.css dist/*.html; do
    [ -f "$f" ] || continue
    brotli --force --best --lgwin=24 --output="$f.br" "$f"
done

gz() { gzip -9 -c "$1" | wc -c | tr -d ' '; }
total_raw=0
total_gz=0
entries=""
for f in dist/*; do
    [ -f "$f" ] || continue
    case "$f" in *.br) continue ;; esac
    raw="$(wc -c <"$f" | tr -d ' ')"
    zipped="$(gz "$f")"
    total_raw=$((total_raw + raw))
    total_gz=$((total_gz + zipped))
    printf 'build-editor: %-48s %9s bytes raw %9s gzipped\n' "${f#dist/}" "$raw" "$zipped"
    entries="$entries${entries:+, }\"${f#dist/}\": {\"raw\": $raw, \"gzip\": $zipped}"
done
mkdir -p target
echo "{\"files\": {$entries}, \"total_raw\": $total_raw, \"total_gzip\": $total_gz}" >target/editor-sizes.json
note "dist/: $total_raw bytes raw, $total_gz bytes gzipped (gzip -9)"
