#!/usr/bin/env bash
# The main job: build `verdict` (release) and run the Policies API server on an embedded
# SQLite database in a data directory. On the first run it creates an admin token; every
# run prints the URL and that token.
#
#   scripts/run.sh                 # the server on http://127.0.0.1:8080 (Ctrl-C stops it)
#   VERDICT_ADDR=0.0.0.0:9000 VERDICT_DATA_DIR=/var/lib/verdict scripts/run.sh
#   scripts/run.sh eval --policies examples/policies.json --context examples/context.json \
#       --sql-file examples/query.sql --pretty      # any other verdict command
#
# Installs only what is missing; works from any directory.
set -euo pipefail
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

cargo_env
if ! command -v cargo >/dev/null 2>&1; then
    echo "run.sh: cargo is missing; install Rust (https://rustup.rs) and run this again" >&2
    exit 1
fi

echo "run.sh: cargo build --release --bin verdict" >&2
cargo build --release --bin verdict
verdict="$root/target/release/verdict"

if [ "$#" -gt 0 ]; then
    exec "$verdict" "$@"
fi

data_dir="${VERDICT_DATA_DIR:-$root/.verdict}"
addr="${VERDICT_ADDR:-127.0.0.1:8080}"
serve_args=(--addr "$addr" --data-dir "$data_dir")
# The built policy editor, when there is one, is served at `/`; it is built when missing
# (scripts/build-editor.sh installs trunk the first time, ~10 min).
web_dir="${VERDICT_WEB_DIR:-$root/dist}"
if [ -z "${VERDICT_WEB_DIR:-}" ] && [ ! -f "$web_dir/index.html" ]; then
    echo "run.sh: building the policy editor (scripts/build-editor.sh)" >&2
    bash "$root/scripts/build-editor.sh" >&2 ||
        echo "run.sh: the editor could not be built; serving the API without it" >&2
fi
if [ -f "$web_dir/index.html" ]; then
    serve_args+=(--web-dir "$web_dir")
fi
echo "run.sh: verdict serve ${serve_args[*]}" >&2
exec "$verdict" serve "${serve_args[@]}"
