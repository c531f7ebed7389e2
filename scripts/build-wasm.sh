#!/usr/bin/env bash
# Builds the WebAssembly engine as one npm package, verdict-wasm, and its `npm pack`
# tarball:
#
#   target/wasm-pkg/verdict-wasm/           the package: package.json (`exports` conditions
#                                           node / workerd / worker / browser / import and
#                                           subpaths /small /fast /web /node /verdict_bg.wasm),
#                                           index.d.ts, README, glue/, lib/, entry points
#   target/wasm-pkg/verdict-wasm-VERSION.tgz what `npm install` takes
#
# The hand-written part (entry points per runtime, lib/api.js, lib/error.js, index.d.ts) is
# wasm/js/pkg; the README is wasm/js/README.md. The engine is compiled in two flavors of
# one module (same exports, same JavaScript glue, same answers; LTO, one codegen unit,
# panic=abort), each bound for the web (ES module, `init()`) and nodejs (CommonJS) targets:
#
#   small  verdict_bg.wasm: profile `wasm-release`, opt-level z, wasm-opt dead/duplicate-
#          code passes kept only when they gzip smaller. The default everywhere.
#   fast   verdict_fast_bg.wasm: profile `wasm-fast`, opt-level 3, then wasm-opt -O3: for
#          long-lived servers (verdict-wasm/fast); slower to start (wasm/js/warmup.mjs).
#
# Measured (gzip -9; per-statement time in Node relative to the small flavor, same run):
# small 1.82 MB raw / 577 KB gz; fast 3.14 MB / 997 KB, 0.52x the time. Nothing between
# reaches both: opt-level z with wasm-opt -O3 613 KB, 0.82x; z with LLVM inline threshold
# 50 642 KB, 0.80x; "s" 716 KB, 0.77x; 2 with inline threshold 25 755 KB, 0.65x.
# Each flavor is bound by the wasm-bindgen CLI of exactly the crate's version. Prints the
# .wasm sizes raw, gzipped and brotli-compressed; writes them and the tarball's name to
# target/wasm-pkg/sizes.json.
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

# build_flavor NAME PROFILE: compiles the crate with PROFILE and binds it for the web
# (ES module, `init()`) and nodejs (CommonJS) targets into $out/.NAME/{web,nodejs}.
build_flavor() {
    local name="$1" profile="$2"
    note "cargo build -p verdict-wasm --target $target --profile $profile ($name flavor)"
    cargo build -p verdict-wasm --lib --target "$target" --profile "$profile" \
        ${VERDICT_WASM_FEATURES:+--features "$VERDICT_WASM_FEATURES"}
    for t in web nodejs; do
        wasm-bindgen --target "$t" --out-dir "$out/.$name/$t" --out-name verdict \
            --no-typescript --remove-name-section --remove-producers-section \
            "$target_dir/$target/$profile/verdict_wasm.wasm"
    done
    # One binary for both targets: wasm-bindgen binds the same module the same way.
    if ! cmp -s "$out/.$name/web/verdict_bg.wasm" "$out/.$name/nodejs/verdict_bg.wasm"; then
        echo "build-wasm: the $name flavor's nodejs and web .wasm files differ" >&2
        exit 1
    fi
}

build_flavor small wasm-release
build_flavor fast wasm-fast
# The JavaScript glue must not depend on the flavor: the package binds each flavor's
# binary with a copy of the same glue.
for t in web nodejs; do
    if ! cmp -s "$out/.small/$t/verdict.js" "$out/.fast/$t/verdict.js"; then
        echo "build-wasm: the small and fast flavors' $t glue differs" >&2
        exit 1
    fi
done
small="$out/.small/web/verdict_bg.wasm"
fast="$out/.fast/web/verdict_bg.wasm"

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

# ---------------------------------------------------------------------- the package

version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)"
pkg="$out/verdict-wasm"
src=wasm/js/pkg
mkdir -p "$pkg/glue" "$pkg/lib"
cp "$small" "$pkg/verdict_bg.wasm"
cp "$fast" "$pkg/verdict_fast_bg.wasm"
# glue_copy FROM TO FILE: the glue with its one reference to verdict_bg.wasm pointing at
# ../FILE (the binaries sit at the package's root, the glue in glue/).
glue_copy() {
    local from="$1" to="$2" file="$3" before after
    case "$from" in
        */web/*) before="'verdict_bg.wasm'" after="'../$file'" ;;
        *) before='${__dirname}/verdict_bg.wasm' after='${__dirname}/../'"$file" ;;
    esac
    if [ "$(grep -cF "$before" "$from")" != 1 ]; then
        echo "build-wasm: $from does not name verdict_bg.wasm exactly once" >&2
        exit 1
    fi
    BEFORE="$before" AFTER="$after" perl -pe 's/\Q$ENV{BEFORE}\E/$ENV{AFTER}/' "$from" >"$to"
}
glue_copy "$out/.small/web/verdict.js" "$pkg/glue/small.js" verdict_bg.wasm
glue_copy "$out/.small/web/verdict.js" "$pkg/glue/fast.js" verdict_fast_bg.wasm
glue_copy "$out/.small/nodejs/verdict.js" "$pkg/glue/small.cjs" verdict_bg.wasm
glue_copy "$out/.small/nodejs/verdict.js" "$pkg/glue/fast.cjs" verdict_fast_bg.wasm
rm -rf "$out/.small" "$out/.fast"
# The hand-written layer: lib/ as ES modules and, for require(), as CommonJS.
for m in api error; do
    cp "$src/lib/$m.js" "$pkg/lib/$m.js"
    {
        echo '"use strict";'
        sed -E 's/^export (function|class) ([A-Za-z]+)/\1 \2/' "$src/lib/$m.js"
    } >"$pkg/lib/$m.cjs"
done
echo 'module.exports = { makeApi };' >>"$pkg/lib/api.cjs"
echo 'module.exports = { VerdictError };' >>"$pkg/lib/error.cjs"
for d in web node worker; do
    mkdir -p "$pkg/$d"
    cp "$src/$d"/* "$pkg/$d/"
done
cp "$src/index.d.ts" "$pkg/index.d.ts"
cp "$src/index.d.ts" "$pkg/index.d.cts"
cp wasm/js/README.md "$pkg/README.md"
# entry FLAVOR: the conditions of `.` (small), `./small` and `./fast`. Order matters: the
# first condition a resolver knows wins.
entry() {
    cat <<EOF
{
      "types": "./index.d.ts",
      "workerd": "./worker/$1.js",
      "worker": "./worker/$1.js",
      "node": {
        "import": { "types": "./index.d.ts", "default": "./node/$1.mjs" },
        "require": { "types": "./index.d.cts", "default": "./node/$1.cjs" }
      },
      "browser": "./web/$1.js",
      "import": "./web/$1.js",
      "default": "./web/$1.js"
    }
EOF
}
cat >"$pkg/package.json" <<EOF
{
  "name": "verdict-wasm",
  "version": "$version",
  "description": "Verdict SQL data-access policy engine in WebAssembly: Node, browsers, bundlers, workerd",
  "license": "Apache-2.0",
  "type": "module",
  "main": "./node/small.cjs",
  "module": "./web/small.js",
  "types": "./index.d.ts",
  "exports": {
    ".": $(entry small),
    "./small": $(entry small),
    "./fast": $(entry fast),
    "./web": { "types": "./index.d.ts", "default": "./web/small.js" },
    "./web/fast": { "types": "./index.d.ts", "default": "./web/fast.js" },
    "./node": {
      "import": { "types": "./index.d.ts", "default": "./node/small.mjs" },
      "require": { "types": "./index.d.cts", "default": "./node/small.cjs" }
    },
    "./node/fast": {
      "import": { "types": "./index.d.ts", "default": "./node/fast.mjs" },
      "require": { "types": "./index.d.cts", "default": "./node/fast.cjs" }
    },
    "./verdict_bg.wasm": "./verdict_bg.wasm",
    "./verdict_fast_bg.wasm": "./verdict_fast_bg.wasm",
    "./package.json": "./package.json"
  },
  "sideEffects": ["./worker/*", "./node/*"],
  "files": ["index.d.ts", "index.d.cts", "glue/", "lib/", "web/", "node/", "worker/", "verdict_bg.wasm", "verdict_fast_bg.wasm", "README.md"],
  "engines": { "node": ">=20" }
}
EOF
node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$pkg/package.json"
tarball="$(cd "$pkg" && npm pack --pack-destination "$out" --silent 2>/dev/null | tail -n 1)"
note "npm pack: ${out#"$root"/}/$tarball ($(size "$out/$tarball") bytes)"

br() { node -e 'const z=require("zlib");process.stdout.write(String(z.brotliCompressSync(require("fs").readFileSync(process.argv[1]),{params:{[z.constants.BROTLI_PARAM_QUALITY]:11}}).length))' "$1"; }
small_raw="$(size "$pkg/verdict_bg.wasm")"
small_gz="$(gz "$pkg/verdict_bg.wasm")"
small_br="$(br "$pkg/verdict_bg.wasm")"
fast_raw="$(size "$pkg/verdict_fast_bg.wasm")"
fast_gz="$(gz "$pkg/verdict_fast_bg.wasm")"
fast_br="$(br "$pkg/verdict_fast_bg.wasm")"
cat >"$out/sizes.json" <<EOF
{"wasm_raw_bytes": $small_raw, "wasm_gzip_bytes": $small_gz, "wasm_brotli_bytes": $small_br, "fast_raw_bytes": $fast_raw, "fast_gzip_bytes": $fast_gz, "fast_brotli_bytes": $fast_br, "tarball": "$tarball"}
EOF
note "package in ${pkg#"$root"/}; tarball ${out#"$root"/}/$tarball"
note "wasm-opt: small flavor $small_note; fast flavor $fast_note"
note "engine .wasm, small flavor (verdict_bg.wasm): $small_raw bytes raw, $small_gz gzip -9, $small_br brotli -11"
note "engine .wasm, fast flavor (verdict_fast_bg.wasm): $fast_raw bytes raw, $fast_gz gzip -9, $fast_br brotli -11"
