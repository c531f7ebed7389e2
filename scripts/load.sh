#!/usr/bin/env bash
# Load measurement of the Policies API on loopback: throughput and latency percentiles of
# `POST /api/v1/policy-evaluations` (dry run) and `POST /api/v1/evaluate` (audited), with
# `wrk` (Debian's package, installed when missing). Not part of CI; bounded in time.
#
#   scripts/load.sh                        # 10 s per endpoint, 2 wrk threads, 64 connections
#   SECONDS_PER_RUN=30 CONNECTIONS=128 scripts/load.sh
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/verdict scripts/load.sh
#   ENDPOINTS=/api/v1/evaluate scripts/load.sh      # one endpoint only
#   DISTINCT_SQL=1 scripts/load.sh                  # every request a statement text not seen
#                                                   # before (its LIMIT varies); the engine
#                                                   # remembers texts that read back
#   VERDICT_BIN=/tmp/verdict-old scripts/load.sh    # that binary instead of building one
#   PERF=1 scripts/load.sh                          # also `perf record` the server, top symbols
#   PERF=/tmp/p scripts/load.sh                     # … and keep /tmp/p.<n>.data for perf report
#   CALLGRIND=1 CONNECTIONS=4 scripts/load.sh       # the server under valgrind: instructions per
#                                                   # request (immune to the machine's load);
#                                                   # KEEP=/tmp/k keeps the callgrind files
#
# It starts its own server (release build) on a free loopback port with a fresh SQLite
# data directory (or DATABASE_URL), loads the example catalog and policies, assigns them
# to role `analyst`, runs wrk, and stops the server it started.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
duration="${SECONDS_PER_RUN:-10}"
connections="${CONNECTIONS:-64}"
threads="${THREADS:-2}"

# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cargo_env
if ! command -v wrk >/dev/null 2>&1; then
    as_root=()
    [ "$(id -u)" -eq 0 ] || as_root=(sudo -n)
    echo "load.sh: installing wrk" >&2
    "${as_root[@]}" apt-get update -qq >/dev/null
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi

if [ -n "${VERDICT_BIN:-}" ]; then
    verdict="$VERDICT_BIN"    # a given build, e.g. to compare two versions
else
    cargo build --release --bin verdict >&2
    verdict="${CARGO_TARGET_DIR:-$root/target}/release/verdict"
fi

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

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
db_args=(--data-dir "$work/data")
[ -n "${DATABASE_URL:-}" ] && db_args+=(--database "$DATABASE_URL")
launcher=()
if [ -n "${CALLGRIND:-}" ]; then
    launcher=(valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out" --dump-instr=no)
fi
"${launcher[@]}" "$verdict" serve --addr "127.0.0.1:$port" "${db_args[@]}" >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 1 600); do
    grep -q "admin token" "$work/server.log" 2>/dev/null && break
    sleep 0.1
done
token="$(sed -n 's/^verdict: admin token: //p' "$work/server.log")"
if [ -z "$token" ]; then
    echo "load.sh: the server did not start (or its database already had tokens):" >&2
    cat "$work/server.log" >&2
    exit 1
fi
base="http://127.0.0.1:$port"

# The example catalog and policies, assigned to analysts.
python3 - "$base" "$token" <<'PY'
import json, sys, urllib.request
base, token = sys.argv[1], sys.argv[2]
example = json.load(open("examples/policies.json"))
def call(method, path, body):
    req = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    urllib.request.urlopen(req).read()
call("PUT", "/api/v1/catalog", example["catalog"])
for p in example["policies"]:
    p.pop("applies_to", None)
    p["assignments"] = [{"kind": "role", "value": "analyst"}]
    call("POST", "/api/v1/policies", p)
PY

sql="SELECT c.name, c.email, o.amount FROM customers c JOIN orders o ON o.customer_id = c.id WHERE o.status = 'open' ORDER BY o.amount DESC LIMIT 10"
body="$(python3 -c 'import json,sys; print(json.dumps({"sql": sys.argv[1], "context": json.load(open("examples/context.json"))}))' "$sql")"
cat >"$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = os.getenv("LOAD_BODY")
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. os.getenv("LOAD_TOKEN")
if os.getenv("DISTINCT_SQL") == "1" then
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  local template = wrk.body
  request = function()
    local body = template:gsub("LIMIT 10", "LIMIT " .. math.random(11, 2000000000))
    return wrk.format(nil, nil, nil, body)
  end
end
done = function(summary, latency, requests)
  io.write(string.format("summary: %d requests, %.0f req/s, p50 %.2f ms, p99 %.2f ms, errors %d (status %d)\n",
    summary.requests, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    summary.errors.status))
end
LUA
export LOAD_BODY="$body" LOAD_TOKEN="$token" DISTINCT_SQL="${DISTINCT_SQL:-0}"
# CPU seconds the server process has used (user + system), from /proc.
cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.3f", ($14 + $15) / hz }' "/proc/$server_pid/stat"; }
echo "--- machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg) before the runs"
for endpoint in ${ENDPOINTS:-/api/v1/policy-evaluations /api/v1/evaluate}; do
    echo "--- POST $endpoint  ($threads threads, $connections connections, ${duration}s)"
    before="$(cpu)"
    [ -n "${CALLGRIND:-}" ] && callgrind_control --zero "$server_pid" >/dev/null
    perf_pid=""
    if [ -n "${PERF:-}" ]; then
        perf_data="$work/perf.data"
        [ "$PERF" = 1 ] || perf_data="$PERF.$(basename "$endpoint").data"
        perf record -q -F 499 -g -o "$perf_data" -p "$server_pid" >/dev/null 2>&1 &
        perf_pid=$!
    fi
    wrk -t"$threads" -c"$connections" -d"${duration}s" --latency -s "$work/post.lua" "$base$endpoint" \
        | tee "$work/wrk.out" | grep -E "Requests/sec|Latency|99%|summary:|Non-2xx"
    after="$(cpu)"
    if [ -n "${CALLGRIND:-}" ]; then
        name="$(basename "$endpoint")"
        callgrind_control --dump="$name" "$server_pid" >/dev/null
        sleep 1
        dump="$(ls -t "$work"/callgrind.out.* | head -1)"
        requests="$(sed -n 's/^summary: \([0-9]*\) requests.*/\1/p' "$work/wrk.out")"
        total="$(sed -n 's/^summary: \([0-9]*\)$/\1/p; s/^totals: \([0-9]*\)$/\1/p' "$dump" | head -1)"
        awk -v t="$total" -v n="$requests" 'BEGIN { printf "server instructions: %.0f per request (%d requests)\n", t / n, n }'
        if [ -n "${KEEP:-}" ]; then cp "$dump" "$KEEP.$name.callgrind"; fi
        echo "self, top 30 (instructions):"
        { callgrind_annotate "$dump" 2>/dev/null | grep -E '^ *[0-9,]+ ' | head -30; } || true
    fi
    if [ -n "$perf_pid" ]; then
        kill -INT "$perf_pid" 2>/dev/null || true
        wait "$perf_pid" 2>/dev/null || true
        echo "server CPU by symbol (self, top 25):"
        { perf report -i "$perf_data" --no-children --sort symbol --stdio 2>/dev/null \
            | grep -E '^ +[0-9]' | sed 's/  *-  *-  *$//' | head -25; } || true
    fi
    requests="$(sed -n 's/^summary: \([0-9]*\) requests.*/\1/p' "$work/wrk.out")"
    # What the server alone spends per request; 1e6 / that = requests per second per core
    # the server could serve if it had the core to itself (wrk shares the machine).
    awk -v b="$before" -v a="$after" -v n="$requests" -v cores="$(nproc)" 'BEGIN {
        us = (a - b) * 1e6 / n
        printf "server CPU: %.0f us per request; %.0f req/s per core, %.0f req/s on %d cores if the server had them alone\n", us, 1e6 / us, cores * 1e6 / us, cores }'
done
