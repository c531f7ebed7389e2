#!/usr/bin/env bash
# The Policies API's contract, checked by independent tools against a live server:
#   1. builds `verdict` and starts `verdict serve` on a temporary SQLite database;
#   2. validates /openapi.json with openapi-spec-validator;
#   3. runs Schemathesis with every check, writes included, a bounded number of examples
#      per operation, and prints its summary line. Any failure fails the script.
#
# The Python tools are pinned and installed into target/api-contract-venv when missing.
# VERDICT_API_EXAMPLES sets Schemathesis' examples per operation (default 100);
# VERDICT_API_SEED its seed (default 1, so that runs repeat).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. scripts/lib.sh
cargo_env

validator_version=0.9.0
schemathesis_version=4.32.5
venv="$root/target/api-contract-venv"

step "Python tools: openapi-spec-validator $validator_version, schemathesis $schemathesis_version"
have_st="$("$venv/bin/schemathesis" --version 2>/dev/null || true)"
have_validator="$("$venv/bin/pip" show openapi-spec-validator 2>/dev/null || true)"
if [ "$have_st" != "schemathesis, version $schemathesis_version" ] ||
    ! grep -qx "Version: $validator_version" <<<"$have_validator"; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check \
        "openapi-spec-validator==$validator_version" "schemathesis==$schemathesis_version"
fi

step "cargo build -p verdict-cli --bin verdict"
cargo build -p verdict-cli --bin verdict
bin="$root/target/debug/verdict"

work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

step "verdict serve (SQLite in $work)"
"$bin" serve --addr 127.0.0.1:0 --data-dir "$work/data" >"$work/serve.log" 2>&1 &
server_pid=$!
base=""
for _ in $(seq 1 100); do
    base="$(sed -n 's|^verdict: serving \(http://[0-9.:]*\) .*|\1|p' "$work/serve.log" | head -n 1)"
    [ -n "$base" ] && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
        cat "$work/serve.log" >&2
        echo "test-api-contract.sh: the server did not start" >&2
        exit 1
    fi
    sleep 0.1
done
token="$(sed -n 's|^verdict: admin token: \(.*\)$|\1|p' "$work/serve.log" | head -n 1)"
if [ -z "$base" ] || [ -z "$token" ]; then
    cat "$work/serve.log" >&2
    echo "test-api-contract.sh: no address or token in the server's output" >&2
    exit 1
fi
echo "server at $base"

step "openapi-spec-validator $base/openapi.json"
curl -fsS "$base/openapi.json" -o "$work/openapi.json"
"$venv/bin/openapi-spec-validator" "$work/openapi.json"

step "schemathesis run (every check)"
# The catalog of the examples, so that the documented examples create real policies.
curl -fsS -X PUT -H "Authorization: Bearer $token" -H 'Content-Type: application/json' \
    --data "$(python3 -c 'import json; print(json.dumps(json.load(open("examples/policies.json"))["catalog"]))')" \
    "$base/api/v1/catalog" >/dev/null
cd "$work"
cp "$root/scripts/schemathesis.toml" "$work/schemathesis.toml"
status=0
"$venv/bin/schemathesis" run "$base/openapi.json" \
    --checks all \
    --header "Authorization: Bearer $token" \
    --max-examples "${VERDICT_API_EXAMPLES:-100}" \
    --seed "${VERDICT_API_SEED:-1}" \
    --workers 2 \
    --no-color \
    --generation-database none \
    >"$work/schemathesis.log" 2>&1 || status=$?
cat "$work/schemathesis.log"
echo
echo "--- schemathesis summary"
grep -E '^  [0-9]+ generated' "$work/schemathesis.log" || true
grep -E '^=+ .* =+$' "$work/schemathesis.log" | tail -n 1 || true
# Writes were exercised: what the audit trail recorded during the run.
curl -fsS -H "Authorization: Bearer $token" "$base/api/v1/audit?limit=500" |
    python3 -c 'import collections, json, sys
actions = collections.Counter(e["action"] for e in json.load(sys.stdin)["items"])
print("writes recorded in the audit trail:", ", ".join(f"{a} {n}" for a, n in sorted(actions.items())) or "none")'
if [ "$status" -ne 0 ]; then
    echo "test-api-contract.sh: Schemathesis found failures (exit $status)" >&2
    exit "$status"
fi
step "API contract: valid document, no Schemathesis failures"
