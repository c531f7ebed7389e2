#!/usr/bin/env bash
# Builds the WebAssembly engine as three npm-shaped packages:
#
#   target/wasm-pkg/web/       ES module + `init()`, for pages and edge workers
#   target/wasm-pkg/bundler/   ES module importing the .wasm, for webpack/Vite/esbuild
#   target/wasm-pkg/nodejs/    CommonJS, for Node
#
# each with package.json, the hand-written TypeScript definitions (wasm/js/*.d.ts) and a
# README (wasm/js/README.md). The .wasm is built once (profile `wasm-release`: opt-level z,
# LTO, one codegen unit, panic=abort), bound by the wasm-bindgen CLI of exactly the crate's
# version, and optimised by wasm-opt (binaryen from npm) only when that makes it smaller
# gzipped. Prints the .wasm's size raw and gzipped; writes them to target/wasm-pkg/sizes.json.
#
# Installs only what is missing: the wasm32 target (rustup), wasm-bindgen-cli (cargo
# install, ~4 min once), binaryen (npm, into target/wasm-tools; skipped without npm).
# `--tools-only` installs those and stops.
# Environment: VERDICT_WASM_OUT (output directory), VERDICT_WASM_OPT=0 (skip wasm-opt),
# VERDICT_WASM_FEATURES (cargo features of verdict-wasm, e.g. `yaml`: YAML input, ~100 KB
# more), VERDICT_WASM_OPT_LEVEL (trade size for speed). Measured (gzip -9 after wasm-opt):
# opt-level z 1.81 MB raw / 575 KB gz (the default; the only setting under 600 KB),
# "s" 2.32 MB / 733 KB, 3 3.50 MB / 1027 KB; per-crate overrides under LTO cost nearly as
# much (engine at 3: 783 KB; engine and sqlparser at 3: 993 KB); wasm-opt -Oz/-O3 are
# smaller raw but larger gzipped (629/632 KB) and take minutes.
# Works from any directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

out="${VERDICT_WASM_OUT:-$root/target/wasm-pkg}"
tools="$root/target/wasm-tools"
target=wasm32-unknown-unknown
profile=wasm-release
binaryen_version=132.0.0

note() { echo "build-wasm: $*"; }

# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cargo_env

# ------------------------------------------------------------------------- tools

if command -v rustup >/dev/null 2>&1; then
    if ! rustup target list --installed | grep -qx "$target"; then
        note "rustup target add $target"
        rustup target add "$target"
    fi
fi

# The CLI must equal the wasm-bindgen crate in Cargo.lock exactly.
wb_version="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
if [ -z "$wb_version" ]; then
    echo "build-wasm: cannot find the wasm-bindgen version in Cargo.lock" >&2
    exit 1
fi
have_wb="$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)"
if [ "$have_wb" != "$wb_version" ]; then
    note "cargo install wasm-bindgen-cli --version $wb_version (found: ${have_wb:-none})"
    # Not --locked: its lock file wants a webpki-roots version this registry lacks.
    cargo install wasm-bindgen-cli --version "$wb_version"
fi

wasm_opt=""
if [ "${VERDICT_WASM_OPT:-1}" != "0" ]; then
    if [ -x "$tools/node_modules/.bin/wasm-opt" ]; then
        wasm_opt="$tools/node_modules/.bin/wasm-opt"
    elif command -v npm >/dev/null 2>&1; then
        note "npm install binaryen@$binaryen_version (into target/wasm-tools)"
        mkdir -p "$tools"
        if npm install --prefix "$tools" --no-audit --no-fund --loglevel=error \
            "binaryen@$binaryen_version" >/dev/null; then
            wasm_opt="$tools/node_modules/.bin/wasm-opt"
        else
            note "binaryen could not be installed; continuing without wasm-opt"
        fi
    elif command -v wasm-opt >/dev/null 2>&1; then
        wasm_opt="$(command -v wasm-opt)"
    else
        note "no npm and no wasm-opt; continuing without wasm-opt"
    fi
fi

# `--tools-only`: install the tools above and stop (scripts/test-editor.sh reuses this step).
if [ "${1:-}" = "--tools-only" ]; then
    note "tools ready: wasm-bindgen $wb_version, wasm-opt ${wasm_opt:-none}"
    exit 0
fi

# ------------------------------------------------------------------------- build

if [ -n "${VERDICT_WASM_OPT_LEVEL:-}" ]; then
    export CARGO_PROFILE_WASM_RELEASE_OPT_LEVEL="$VERDICT_WASM_OPT_LEVEL"
fi
note "cargo build -p verdict-wasm --target $target --profile $profile (opt-level ${VERDICT_WASM_OPT_LEVEL:-z})"
cargo build -p verdict-wasm --lib --target "$target" --profile "$profile" \
    ${VERDICT_WASM_FEATURES:+--features "$VERDICT_WASM_FEATURES"}
target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
raw_wasm="$target_dir/$target/$profile/verdict_wasm.wasm"

rm -rf "$out"
mkdir -p "$out"
for t in web bundler nodejs; do
    wasm-bindgen --target "$t" --out-dir "$out/$t" --out-name verdict_wasm \
        --no-typescript --remove-name-section --remove-producers-section "$raw_wasm"
done
# One binary for all three: wasm-bindgen binds the same module the same way.
for t in bundler nodejs; do
    if ! cmp -s "$out/web/verdict_wasm_bg.wasm" "$out/$t/verdict_wasm_bg.wasm"; then
        echo "build-wasm: the $t and web .wasm files differ" >&2
        exit 1
    fi
done

gz() { gzip -9 -c "$1" | wc -c | tr -d ' '; }
bound="$out/web/verdict_wasm_bg.wasm"
raw_size="$(wc -c <"$bound" | tr -d ' ')"
gz_size="$(gz "$bound")"
opt_note="not run"
if [ -n "$wasm_opt" ]; then
    # -Oz makes this module smaller raw but larger gzipped (measured: +7%); these passes
    # only remove duplicates and dead code. The result is kept only if it gzips smaller.
    features=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
        --enable-mutable-globals --enable-multivalue --enable-reference-types)
    if "$wasm_opt" "${features[@]}" --strip-debug --strip-producers \
        --duplicate-function-elimination --remove-unused-module-elements --vacuum \
        "$bound" -o "$out/opt.wasm"; then
        opt_gz="$(gz "$out/opt.wasm")"
        if [ "$opt_gz" -lt "$gz_size" ]; then
            opt_note="kept ($gz_size -> $opt_gz bytes gzipped)"
            for t in web bundler nodejs; do cp "$out/opt.wasm" "$out/$t/verdict_wasm_bg.wasm"; done
            raw_size="$(wc -c <"$bound" | tr -d ' ')"
            gz_size="$opt_gz"
        else
            opt_note="dropped (gzipped $opt_gz >= $gz_size bytes)"
        fi
    else
        opt_note="failed; kept wasm-bindgen's output"
    fi
    rm -f "$out/opt.wasm"
fi

# ---------------------------------------------------------------------- packages

version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
for t in web bundler nodejs; do
    dir="$out/$t"
    rm -f "$dir"/*.wasm.d.ts
    cp wasm/js/verdict_wasm.d.ts "$dir/verdict_wasm.d.ts"
    if [ "$t" = web ]; then
        cat wasm/js/web.d.ts >>"$dir/verdict_wasm.d.ts"
    fi
    cp wasm/js/README.md "$dir/README.md"
    case "$t" in
        web)
            files='"verdict_wasm.js", "verdict_wasm_bg.wasm", "verdict_wasm.d.ts"'
            entry='"type": "module",
  "main": "verdict_wasm.js",
  "module": "verdict_wasm.js",
  "exports": { ".": { "types": "./verdict_wasm.d.ts", "default": "./verdict_wasm.js" }, "./verdict_wasm_bg.wasm": "./verdict_wasm_bg.wasm" },'
            ;;
        bundler)
            files='"verdict_wasm.js", "verdict_wasm_bg.js", "verdict_wasm_bg.wasm", "verdict_wasm.d.ts"'
            entry='"type": "module",
  "main": "verdict_wasm.js",
  "module": "verdict_wasm.js",
  "sideEffects": ["./verdict_wasm.js", "./snippets/*"],'
            ;;
        nodejs)
            files='"verdict_wasm.js", "verdict_wasm_bg.wasm", "verdict_wasm.d.ts"'
            entry='"main": "verdict_wasm.js",'
            ;;
    esac
    cat >"$dir/package.json" <<EOF
{
  "name": "verdict-wasm-$t",
  "version": "$version",
  "description": "Verdict SQL data-access policy engine in WebAssembly ($t target)",
  "license": "Apache-2.0",
  $entry
  "types": "verdict_wasm.d.ts",
  "files": [$files, "README.md"]
}
EOF
done

cat >"$out/sizes.json" <<EOF
{"wasm_raw_bytes": $raw_size, "wasm_gzip_bytes": $gz_size}
EOF
note "packages in ${out#"$root"/}/{web,bundler,nodejs}"
note "wasm-opt: $opt_note"
note "engine .wasm: $raw_size bytes raw, $gz_size bytes gzipped (gzip -9)"
