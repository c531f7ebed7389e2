#!/usr/bin/env bash
# Regenerates the engine's lists taken from PostgreSQL's catalog, from a running server:
#   scripts/gen-pg-catalog.sh [psql connection options…]
# e.g. scripts/gen-pg-catalog.sh -h /tmp -p 5432 -U postgres
#   engine/src/leak/pg.rs   leakproof comparison operators and casts (scripts/leakproof.sql)
#   engine/src/builtins.rs  built-in functions a caller may use (scripts/builtins.sql)
#   engine/src/pg_types.rs  built-in type names a catalog column may have (scripts/types.sql)
# The conformance suite checks the committed files against the PostgreSQL it starts.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
psql -X -At -v ON_ERROR_STOP=1 "$@" -f "$root/scripts/leakproof.sql" >"$root/engine/src/leak/pg.rs"
psql -X -At -v ON_ERROR_STOP=1 "$@" -f "$root/scripts/builtins.sql" >"$root/engine/src/builtins.rs"
psql -X -At -v ON_ERROR_STOP=1 "$@" -f "$root/scripts/types.sql" >"$root/engine/src/pg_types.rs"
echo "wrote engine/src/leak/pg.rs, engine/src/builtins.rs and engine/src/pg_types.rs"
