#!/usr/bin/env bash
# Regenerates engine/src/leak/pg.rs from a running PostgreSQL's catalog:
#   scripts/gen-leakproof.sh [psql connection options…]
# e.g. scripts/gen-leakproof.sh -h /tmp -p 5432 -U postgres
# The conformance suite checks the committed file against the PostgreSQL it starts.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
psql -X -At -v ON_ERROR_STOP=1 "$@" -f "$root/scripts/leakproof.sql" >"$root/engine/src/leak/pg.rs"
echo "wrote engine/src/leak/pg.rs"
