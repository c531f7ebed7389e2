#!/usr/bin/env bash
# The main job: build the `verdict` CLI (release) and judge the example query for the
# example context against the example policy set, printing the verdict.
#
#   scripts/run.sh                 # the example evaluation
#   scripts/run.sh validate --policies examples/policies.yaml   # any other verdict command
#
# Installs only what is missing; works from any directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

if [ "${CI:-}" = "true" ]; then
    export CARGO_TERM_COLOR=never
fi

# Rust may be installed with rustup but not yet on PATH in a fresh shell.
if ! command -v cargo >/dev/null 2>&1 && [ -x "$HOME/.cargo/bin/cargo" ]; then
    export PATH="$HOME/.cargo/bin:$PATH"
fi
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

echo "run.sh: verdict eval --policies examples/policies.json --context examples/context.json --sql-file examples/query.sql --pretty" >&2
echo "--- examples/query.sql" >&2
cat examples/query.sql >&2
echo "--- verdict" >&2
exec "$verdict" eval \
    --policies examples/policies.json \
    --context examples/context.json \
    --sql-file examples/query.sql \
    --pretty
