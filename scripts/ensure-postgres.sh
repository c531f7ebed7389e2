#!/usr/bin/env bash
# Makes sure PostgreSQL server binaries (initdb, pg_ctl, postgres) exist, installing
# Debian's `postgresql` package when they do not. Idempotent; silent when already there.
# The conformance suite (tests/conformance) starts its own throw-away cluster with them.
set -euo pipefail

have_server() {
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1 \
        && command -v postgres >/dev/null 2>&1; then
        return 0
    fi
    local dir
    for dir in /usr/lib/postgresql/*/bin; do
        if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
            return 0
        fi
    done
    return 1
}

if have_server; then
    exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
    as_root=()
elif command -v sudo >/dev/null 2>&1; then
    as_root=(sudo -n)
else
    echo "ensure-postgres: PostgreSQL server binaries are missing and I am not root (no sudo either);" >&2
    echo "ensure-postgres: install the 'postgresql' package, or set VERDICT_PG_BIN to its bin directory" >&2
    exit 1
fi

echo "ensure-postgres: installing PostgreSQL (apt-get install postgresql)" >&2
export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq >/dev/null
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends postgresql >/dev/null

if ! have_server; then
    echo "ensure-postgres: apt-get finished but initdb/pg_ctl/postgres are still missing" >&2
    exit 1
fi
echo "ensure-postgres: PostgreSQL installed" >&2
