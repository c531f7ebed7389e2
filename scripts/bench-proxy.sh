#!/usr/bin/env bash
# The cost of the data plane: `pgbench -S` (simple and -M prepared) straight to
# PostgreSQL, through PgBouncer (Debian's, session pooling) and through `verdict proxy`
# (with a row filter on pgbench_accounts), same machine, same run. Usage:
#
#   scripts/bench-proxy.sh [seconds-per-run] [clients]   (default: 10 8)
#
# Starts a throw-away cluster (removed at the end), `pgbench -i -s 1`, PgBouncer and the
# proxy; prints TPS per path and mode, the ratios proxy/PgBouncer and proxy/direct, and
# the p50 latency per statement (from pgbench's per-transaction log; -S is one statement
# per transaction) with what the proxy adds over the direct path. Not a test: numbers.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$root/scripts/lib.sh"
cargo_env

seconds="${1:-10}"
clients="${2:-8}"

"$root/scripts/ensure-postgres.sh"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$bin/initdb" ] || bin="$(dirname "$(command -v initdb)")"
command -v pgbouncer >/dev/null || apt_install pgbouncer
verdict="$root/target/release/verdict"
if [ ! -x "$verdict" ]; then
    step "cargo build --release --bin verdict"
    cargo build --release --bin verdict --manifest-path "$root/Cargo.toml"
fi

work="$(mktemp -d)"
chmod 755 "$work"
as_pg=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$work"
    as_pg=(runuser -u postgres --)
fi
pg_port=$((20000 + RANDOM % 10000))
bouncer_port=$((pg_port + 1))
proxy_port=$((pg_port + 2))
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    "${as_pg[@]}" "$bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

step "starting PostgreSQL on port $pg_port"
"${as_pg[@]}" "$bin/initdb" -D "$work/data" -A trust -U postgres >/dev/null
"${as_pg[@]}" "$bin/pg_ctl" -D "$work/data" -l "$work/log" -w \
    -o "-p $pg_port -k $work -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null
"$bin/pgbench" -i -s 1 -q -h 127.0.0.1 -p "$pg_port" -U postgres postgres >/dev/null 2>&1

step "starting PgBouncer on port $bouncer_port and verdict proxy on port $proxy_port"
cat >"$work/pgbouncer.ini" <<EOF
[databases]
postgres = host=127.0.0.1 port=$pg_port dbname=postgres user=postgres
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $bouncer_port
unix_socket_dir =
auth_type = any
pool_mode = session
max_client_conn = 200
default_pool_size = $((clients + 2))
logfile = $work/pgbouncer.log
pidfile = $work/pgbouncer.pid
EOF
chown -R "$(stat -c %U "$work")" "$work"
"${as_pg[@]}" pgbouncer "$work/pgbouncer.ini" >/dev/null 2>&1 &
pids+=($!)

cat >"$work/policies.json" <<'EOF'
{"catalog": {"tables": [
  {"name": "public.pgbench_accounts", "columns": [{"name": "aid", "type": "integer"},
    {"name": "bid", "type": "integer"}, {"name": "abalance", "type": "integer"},
    {"name": "filler", "type": "character(84)"}]},
  {"name": "public.pgbench_branches", "columns": [{"name": "bid", "type": "integer"},
    {"name": "bbalance", "type": "integer"}, {"name": "filler", "type": "character(88)"}]},
  {"name": "public.pgbench_tellers", "columns": [{"name": "tid", "type": "integer"},
    {"name": "bid", "type": "integer"}, {"name": "tbalance", "type": "integer"},
    {"name": "filler", "type": "character(84)"}]},
  {"name": "public.pgbench_history", "columns": [{"name": "tid", "type": "integer"},
    {"name": "bid", "type": "integer"}, {"name": "aid", "type": "integer"},
    {"name": "delta", "type": "integer"}, {"name": "mtime", "type": "timestamp"},
    {"name": "filler", "type": "character(22)"}]}]},
 "policies": [{"id": "branch", "rules": [
   {"type": "row_filter", "table": "pgbench_accounts", "predicate": "bid = ctx.attr.bid"}]}]}
EOF
verifier="$(printf 'bench' | "$verdict" proxy --hash-password)"
cat >"$work/principals.json" <<EOF
{"principals": [{"user": "bench", "password": "$verifier", "roles": ["bench"], "attributes": {"bid": 1}}]}
EOF
"$verdict" proxy --listen "127.0.0.1:$proxy_port" \
    --upstream "postgres://postgres@127.0.0.1:$pg_port/postgres" \
    --policies "$work/policies.json" --principals "$work/principals.json" \
    --max-connections 200 2>"$work/proxy.log" &
pids+=($!)
for port in "$bouncer_port" "$proxy_port"; do
    for _ in $(seq 50); do
        (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
        sleep 0.1
    done
done

# run LABEL PORT USER MODE -> "tps p50_ms"
run() {
    local label="$1" port="$2" user="$3" mode="$4" dir="$work/log-$1-$4"
    mkdir -p "$dir"
    local out
    out="$(cd "$dir" && PGPASSWORD=bench "$bin/pgbench" -n -S -M "$mode" -c "$clients" -j 2 \
        -T "$seconds" -l -h 127.0.0.1 -p "$port" -U "$user" postgres 2>&1)" || {
        echo "$label $mode failed:" >&2
        echo "$out" >&2
        exit 1
    }
    local tps p50
    tps="$(echo "$out" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | tail -1)"
    # Per-transaction log: column 3 is the latency in microseconds.
    p50="$(cat "$dir"/pgbench_log.* | awk '{print $3}' | sort -n |
        awk '{v[NR]=$1} END {printf "%.3f", v[int((NR+1)/2)]/1000}')"
    echo "$tps $p50"
}

declare -A tps p50
for mode in simple prepared; do
    for path in direct pgbouncer proxy; do
        case "$path" in
            direct) port="$pg_port" user=postgres ;;
            pgbouncer) port="$bouncer_port" user=postgres ;;
            proxy) port="$proxy_port" user=bench ;;
        esac
        step "pgbench -S -M $mode, $clients clients, ${seconds}s: $path"
        read -r t p < <(run "$path" "$port" "$user" "$mode")
        tps[$path-$mode]="$t"
        p50[$path-$mode]="$p"
        echo "tps $t, p50 $p ms"
    done
done

step "results ($clients clients, ${seconds}s per run, $(nproc) cores)"
printf '%-9s %-8s %12s %10s\n' mode path tps "p50 ms"
for mode in simple prepared; do
    for path in direct pgbouncer proxy; do
        printf '%-9s %-8s %12s %10s\n' "$mode" "$path" "${tps[$path-$mode]}" "${p50[$path-$mode]}"
    done
done
for mode in simple prepared; do
    awk -v m="$mode" -v pr="${tps[proxy-$mode]}" -v pb="${tps[pgbouncer-$mode]}" \
        -v d="${tps[direct-$mode]}" -v lp="${p50[proxy-$mode]}" -v ld="${p50[direct-$mode]}" \
        'BEGIN { printf "%s: proxy/pgbouncer TPS %.2f, proxy/direct TPS %.2f, p50 added by the proxy %.3f ms\n", m, pr/pb, pr/d, lp-ld }'
done
