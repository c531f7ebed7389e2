#!/usr/bin/env bash
# Builds the WebAssembly engine as three npm-shaped packages:
#
#   target/wasm-pkg/web/       ES module + `init()`, for pages and edge workers
#   target/wasm-pkg/bundler/   ES module importing the .wasm, for webpack/Vite/esbuild
#   target/wasm-pkg/nodejs/    CommonJS, for Node
#
# each with package.json, the hand-written TypeScript definitions (wasm/js/*.d.ts) and a
# README (wasm/js/README.md). The engine is compiled in two flavors of one module (same
# exports, same JavaScript glue, same answers; LTO, one codegen unit, panic=abort):
#
#   small  profile `wasm-release`, opt-level z, wasm-opt dead/duplicate-code passes kept
#          only when they gzip smaller: for pages, which download it. web and bundler.
#   fast   profile `wasm-fast`, opt-level 3, then wasm-opt -O3: for servers, tests and edge
#          workers, which run it in hot loops. nodejs, and web's verdict_wasm_fast_bg.wasm.
#
# Measured (gzip -9; per-statement time in Node relative to the small flavor, same run):
# small 1.82 MB raw / 577 KB gz; fast 3.14 MB / 997 KB, 0.52x the time. Nothing between
# reaches both: opt-level z with wasm-opt -O3 613 KB, 0.82x; z with LLVM inline threshold
# 50 642 KB, 0.80x; "s" 716 KB, 0.77x; 2 with inline threshold 25 755 KB, 0.65x.
# Each flavor is bound by the wasm-bindgen CLI of exactly the crate's version. Prints the
# .wasm sizes raw and gzipped; writes them to target/wasm-pkg/sizes.json.
#
# Installs only what is missing: the wasm32 target (rustup), wasm-bindgen-cli (cargo
# install, ~4 min once), binaryen (npm, into target/wasm-tools; skipped without npm).
# `--tools-only` installs those and stops.
# Environment: VERDICT_WASM_OUT (output directory), VERDICT_WASM_OPT=0 (no wasm-opt),
# VERDICT_WASM_FAST_OPT=0 (no wasm-opt -O3 on the fast flavor, which takes about a minute),
# VERDICT_WASM_FEATURES (cargo features of verdict-wasm, e.g. `yaml`: YAML input, ~100 KB
# more).
# Works from any directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

out="${VERDICT_WASM_OUT:-$root/target/wasm-pkg}"
tools="$root/target/wasm-tools"
target=wasm32-unknown-unknown
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

target_dir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
gz() { gzip -9 -c "$1" | wc -c | tr -d ' '; }
size() { wc -c <"$1" | tr -d ' '; }
features=(--enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext
    --enable-mutable-globals --enable-multivalue --enable-reference-types)

rm -rf "$out"
mkdir -p "$out"

# build_flavor NAME PROFILE: compiles the crate with PROFILE and binds it for the three
# targets into $out/.NAME/{web,bundler,nodejs}.
build_flavor() {
    local name="$1" profile="$2"
    note "cargo build -p verdict-wasm --target $target --profile $profile ($name flavor)"
    cargo build -p verdict-wasm --lib --target "$target" --profile "$profile" \
        ${VERDICT_WASM_FEATURES:+--features "$VERDICT_WASM_FEATURES"}
    for t in web bundler nodejs; do
        wasm-bindgen --target "$t" --out-dir "$out/.$name/$t" --out-name verdict_wasm \
            --no-typescript --remove-name-section --remove-producers-section \
            "$target_dir/$target/$profile/verdict_wasm.wasm"
    done
    # One binary for all three targets: wasm-bindgen binds the same module the same way.
    for t in bundler nodejs; do
        if ! cmp -s "$out/.$name/web/verdict_wasm_bg.wasm" "$out/.$name/$t/verdict_wasm_bg.wasm"; then
            echo "build-wasm: the $name flavor's $t and web .wasm files differ" >&2
            exit 1
        fi
    done
}

build_flavor small wasm-release
build_flavor fast wasm-fast
# The JavaScript glue must not depend on the flavor: each package may carry either binary.
for t in web bundler nodejs; do
    for js in "$out/.small/$t"/*.js; do
        if ! cmp -s "$js" "$out/.fast/$t/${js##*/}"; then
            echo "build-wasm: the small and fast flavors' $t/${js##*/} differ" >&2
            exit 1
        fi
    done
done
small="$out/.small/web/verdict_wasm_bg.wasm"
fast="$out/.fast/web/verdict_wasm_bg.wasm"

small_note="not run"
fast_note="not run"
if [ -n "$wasm_opt" ]; then
    # Small flavor: -Oz makes this module smaller raw but larger gzipped (measured: +7%);
    # these passes only remove duplicates and dead code. Kept only if it gzips smaller.
    before="$(gz "$small")"
    if "$wasm_opt" "${features[@]}" --strip-debug --strip-producers \
        --duplicate-function-elimination --remove-unused-module-elements --vacuum \
        "$small" -o "$out/opt.wasm"; then
        after="$(gz "$out/opt.wasm")"
        if [ "$after" -lt "$before" ]; then
            small_note="kept ($before -> $after bytes gzipped)"
            mv "$out/opt.wasm" "$small"
        else
            small_note="dropped (gzipped $after >= $before bytes)"
        fi
    else
        small_note="failed; kept wasm-bindgen's output"
    fi
    # Fast flavor: -O3 (binaryen's own inlining and local optimisation after LLVM's);
    # measured 3-4 % less time per statement and 6 % smaller raw. About a minute.
    if [ "${VERDICT_WASM_FAST_OPT:-1}" = "0" ]; then
        fast_note="skipped (VERDICT_WASM_FAST_OPT=0)"
    elif "$wasm_opt" "${features[@]}" --strip-debug --strip-producers -O3 "$fast" -o "$out/opt.wasm"; then
        fast_note="-O3 ($(size "$fast") -> $(size "$out/opt.wasm") bytes raw)"
        mv "$out/opt.wasm" "$fast"
    else
        fast_note="failed; kept wasm-bindgen's output"
    fi
    rm -f "$out/opt.wasm"
fi

# Packages: web (pages, edge workers) and bundler carry the small flavor; nodejs carries
# the fast one; web carries the fast one too, as verdict_wasm_fast_bg.wasm, for workers
# that pass it to init().
for t in web bundler nodejs; do
    mkdir -p "$out/$t"
    cp "$out/.small/$t"/*.js "$out/$t/"
done
cp "$small" "$out/web/verdict_wasm_bg.wasm"
cp "$fast" "$out/web/verdict_wasm_fast_bg.wasm"
cp "$small" "$out/bundler/verdict_wasm_bg.wasm"
cp "$fast" "$out/nodejs/verdict_wasm_bg.wasm"
rm -rf "$out/.small" "$out/.fast"

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
            files='"verdict_wasm.js", "verdict_wasm_bg.wasm", "verdict_wasm_fast_bg.wasm", "verdict_wasm.d.ts"'
            entry='"type": "module",
  "main": "verdict_wasm.js",
  "module": "verdict_wasm.js",
  "exports": { ".": { "types": "./verdict_wasm.d.ts", "default": "./verdict_wasm.js" }, "./verdict_wasm_bg.wasm": "./verdict_wasm_bg.wasm", "./verdict_wasm_fast_bg.wasm": "./verdict_wasm_fast_bg.wasm" },'
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

small_raw="$(size "$out/web/verdict_wasm_bg.wasm")"
small_gz="$(gz "$out/web/verdict_wasm_bg.wasm")"
fast_raw="$(size "$out/nodejs/verdict_wasm_bg.wasm")"
fast_gz="$(gz "$out/nodejs/verdict_wasm_bg.wasm")"
cat >"$out/sizes.json" <<EOF
{"wasm_raw_bytes": $small_raw, "wasm_gzip_bytes": $small_gz, "fast_raw_bytes": $fast_raw, "fast_gzip_bytes": $fast_gz}
EOF
note "packages in ${out#"$root"/}/{web,bundler,nodejs}"
note "wasm-opt: small flavor $small_note; fast flavor $fast_note"
note "engine .wasm, small flavor (web, bundler): $small_raw bytes raw, $small_gz bytes gzipped (gzip -9)"
note "engine .wasm, fast flavor (nodejs; web's verdict_wasm_fast_bg.wasm): $fast_raw bytes raw, $fast_gz bytes gzipped"
