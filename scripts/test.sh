#!/usr/bin/env bash
# Every test, in the order CI runs them; stops at the first failure:
#   1. cargo fmt --all --check
#   2. cargo clippy --workspace --all-targets -- -D warnings
#   3. cargo test --workspace   (unit, CLI and the PostgreSQL conformance suite)
#   4. scripts/test-api-contract.sh (openapi-spec-validator and Schemathesis, live server)
#   5. cargo build --release --bin verdict
#
# Installs only what is missing (rustfmt and clippy components, PostgreSQL server
# binaries through scripts/ensure-postgres.sh); fast when everything is there.
# Works from any directory.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. scripts/lib.sh

fmt_color=()
if [ "${CI:-}" = "true" ]; then
    fmt_color=(-- --color=never)
fi

# ------------------------------------------------------------------------- set-up

cargo_env
disk_check "$root" 8
if ! command -v cargo >/dev/null 2>&1; then
    echo "test.sh: cargo is missing; install Rust (https://rustup.rs) and run this again" >&2
    exit 1
fi

for component in rustfmt clippy; do
    probe=(cargo fmt --version)
    [ "$component" = clippy ] && probe=(cargo clippy --version)
    if ! "${probe[@]}" >/dev/null 2>&1; then
        if command -v rustup >/dev/null 2>&1; then
            step "rustup component add $component"
            rustup component add "$component"
        else
            echo "test.sh: $component is missing and rustup is not available to install it" >&2
            exit 1
        fi
    fi
done

if [ -f scripts/ensure-postgres.sh ]; then
    bash scripts/ensure-postgres.sh
fi

# The proxy's client tests drive real clients: psycopg 3 (PyPI) and node-postgres (npm).
psycopg_version=3.3.9
if ! python3 -c "import psycopg, sys; sys.exit(psycopg.__version__ != '$psycopg_version')" 2>/dev/null; then
    step "pip install psycopg[binary]==$psycopg_version"
    python3 -m pip install --quiet --disable-pip-version-check "psycopg[binary]==$psycopg_version"
fi
if [ ! -d proxy/tests/clients/node_modules/pg ]; then
    step "npm ci (proxy/tests/clients: node-postgres)"
    (cd proxy/tests/clients && npm ci --silent --no-audit --no-fund)
fi

# pgjdbc (Debian's package; Maven Central is not reachable everywhere) and a JDK to run it.
if ! command -v java >/dev/null 2>&1 || [ ! -f /usr/share/java/postgresql.jar ]; then
    step "apt-get install default-jdk-headless libpostgresql-jdbc-java (proxy: pgjdbc)"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless libpostgresql-jdbc-java >/dev/null \
            || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq default-jdk-headless libpostgresql-jdbc-java >/dev/null; }
    else
        echo "test.sh: java or pgjdbc is missing; run as root with apt-get, or install default-jdk-headless libpostgresql-jdbc-java" >&2
    fi
fi

# -------------------------------------------------------------------------- tests

step "cargo fmt --all --check"
cargo fmt --all --check "${fmt_color[@]}"

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

step "cargo test --workspace"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
test_status=0
cargo test --workspace 2>&1 | tee "$log" || test_status=$?
echo
echo "--- test summary"
# Cargo's "Running"/"Doc-tests" headers, each harness's "test result:" line, and the
# summary lines of custom runners (such as the conformance suite) that count passes.
grep -E '^[[:space:]]+(Running|Doc-tests) |^test result:|[0-9]+ (passed|failed)' "$log" || true
if [ "$test_status" -ne 0 ]; then
    echo "test.sh: cargo test failed (exit $test_status)" >&2
    exit "$test_status"
fi
bash scripts/test-api-contract.sh
bash scripts/test-wasm.sh

step "cargo build --release --bin verdict"
cargo build --release --bin verdict
echo "built $root/target/release/verdict"

bash scripts/test-editor.sh

step "all tests passed"
