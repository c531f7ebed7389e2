#!/usr/bin/env bash
# The cost of the engine's enforcement in PostgreSQL, against PostgreSQL's own: the
# engine's rewritten SQL (run by the tables' owner) vs the original SQL under native row
# level security plus masking views (run by a role the policies apply to), on the same
# data, one query shape at a time, in one run. Usage:
#
#   scripts/bench-rls.sh [customers] [transactions-per-query]   (default: 1000000 200)
#
# Starts a throw-away cluster (removed at the end), loads `customers` customers of 100
# tenants, 3 orders each, with an application's indexes, and measures each query shape
# with pgbench (one client, prepared statements off: the engine's text is what a client
# sends). Prints per shape the mean latency of both, their ratio, whether each plan uses
# an index, and the ratio of the totals. Needs PostgreSQL (scripts/ensure-postgres.sh)
# and builds target/release/verdict when missing.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=lib.sh source-path=SCRIPTDIR
. "$root/scripts/lib.sh"
cargo_env

customers="${1:-1000000}"
transactions="${2:-200}"

"$root/scripts/ensure-postgres.sh"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[ -x "$bin/initdb" ] || bin="$(dirname "$(command -v initdb)")"
verdict="$root/target/release/verdict"
if [ ! -x "$verdict" ]; then
    step "cargo build --release --bin verdict"
    cargo build --release --bin verdict --manifest-path "$root/Cargo.toml"
fi

work="$(mktemp -d)"
as_pg=()
if [ "$(id -u)" = 0 ]; then
    chown postgres "$work"
    as_pg=(runuser -u postgres --)
fi
port=$((20000 + RANDOM % 20000))
cleanup() {
    "${as_pg[@]}" "$bin/pg_ctl" -D "$work/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
step "starting PostgreSQL on port $port"
"${as_pg[@]}" "$bin/initdb" -D "$work/data" -A trust -U postgres >/dev/null
"${as_pg[@]}" "$bin/pg_ctl" -D "$work/data" -l "$work/log" -w \
    -o "-p $port -k $work -c fsync=off -c shared_buffers=256MB -c max_parallel_workers_per_gather=0" start >/dev/null
psql=(psql -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$port" -U postgres -d postgres)

step "loading $customers customers and $((customers * 3)) orders"
"${psql[@]}" <<SQL
CREATE TABLE customers (
    id integer PRIMARY KEY, tenant_id integer NOT NULL, name text NOT NULL,
    email text, ssn text, created_at timestamp NOT NULL);
CREATE TABLE orders (
    id integer PRIMARY KEY, tenant_id integer NOT NULL, customer_id integer NOT NULL,
    amount numeric(10,2) NOT NULL, status text NOT NULL, ordered_on date NOT NULL);
INSERT INTO customers
    SELECT i, i % 100, 'customer ' || i, 'c' || i || '@example.com',
           lpad((i::bigint * 7919 % 1000000000)::text, 9, '0'),
           timestamp '2020-01-01' + (i % 1000) * interval '1 day'
    FROM generate_series(1, $customers) i;
INSERT INTO orders
    SELECT i, c % 100, c, (i % 1000) + 0.5, (ARRAY['paid','pending','shipped','void'])[1 + i % 4],
           date '2020-01-01' + (i / 100) % 1500
    FROM generate_series(1, $((customers * 3))) i, LATERAL (SELECT 1 + i % $customers AS c) x;
CREATE INDEX ON customers (tenant_id);
CREATE INDEX ON orders (customer_id);
CREATE INDEX ON orders (tenant_id, ordered_on);
ANALYZE;
-- Native: row level security and masking views for the role the policies apply to.
CREATE ROLE analyst LOGIN;
ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
ALTER TABLE orders ENABLE ROW LEVEL SECURITY;
CREATE POLICY tenant ON customers TO analyst USING (tenant_id = current_setting('app.tenant')::int);
CREATE POLICY tenant ON orders TO analyst USING (tenant_id = current_setting('app.tenant')::int);
CREATE SCHEMA masked;
CREATE VIEW masked.customers WITH (security_invoker = true) AS
    SELECT id, tenant_id, name,
           regexp_replace(email, '^.*(@)|^[^@]*\$', E'****\\\\1') AS email,
           CASE WHEN char_length(ssn) > 4 THEN repeat('*', char_length(ssn) - 4) || right(ssn, 4)
                ELSE repeat('*', char_length(ssn)) END AS ssn,
           created_at
    FROM public.customers;
CREATE VIEW masked.orders WITH (security_invoker = true) AS SELECT * FROM public.orders;
GRANT USAGE ON SCHEMA masked TO analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA public, masked TO analyst;
ALTER ROLE analyst SET search_path = masked, public;
ALTER ROLE analyst SET app.tenant = '42';
SQL

cat >"$work/policies.json" <<'JSON'
{ "catalog": { "tables": [
    { "name": "customers", "columns": [
        {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"},
        {"name": "name", "type": "text"}, {"name": "email", "type": "text"},
        {"name": "ssn", "type": "text"}, {"name": "created_at", "type": "timestamp"} ] },
    { "name": "orders", "columns": [
        {"name": "id", "type": "integer"}, {"name": "tenant_id", "type": "integer"},
        {"name": "customer_id", "type": "integer"}, {"name": "amount", "type": "numeric(10,2)"},
        {"name": "status", "type": "text"}, {"name": "ordered_on", "type": "date"} ] } ] },
  "policies": [ { "id": "tenant", "applies_to": { "roles": ["analyst"] }, "rules": [
    { "type": "row_filter", "table": "customers", "predicate": "tenant_id = ctx.attr.tenant_id" },
    { "type": "row_filter", "table": "orders", "predicate": "tenant_id = ctx.attr.tenant_id" },
    { "type": "column_mask", "table": "customers", "column": "email", "mask": {"kind": "email"} },
    { "type": "column_mask", "table": "customers", "column": "ssn", "mask": {"kind": "partial", "show_last": 4} } ] } ] }
JSON
echo '{"user": "ann", "roles": ["analyst"], "attributes": {"tenant_id": 42}}' >"$work/context.json"

# Query shapes; 4242 stands for a random id of tenant 42 (pgbench's :k).
shapes=(
    "point lookup|SELECT name, email, ssn FROM customers WHERE id = 4242"
    "point lookup, leaky|SELECT name FROM customers WHERE id = 4242 AND lower(name) <> 'x'"
    "range|SELECT count(*), sum(amount) FROM orders WHERE tenant_id = 42 AND ordered_on BETWEEN '2021-01-01' AND '2021-01-31'"
    "join|SELECT c.name, sum(o.amount) FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.id = 4242 GROUP BY c.name"
    "correlated subquery|SELECT c.id, (SELECT max(o.amount) FROM orders o WHERE o.customer_id = c.id) FROM customers c WHERE c.id BETWEEN 4242 AND 4442"
    "aggregate|SELECT status, count(*) FROM orders WHERE ordered_on >= '2023-06-01' GROUP BY status"
    "in subquery|SELECT count(*) FROM orders WHERE customer_id IN (SELECT id FROM customers WHERE id BETWEEN 4242 AND 5242)"
)

mean_ms() { # pgbench output -> mean latency in ms
    sed -n 's/^latency average = \([0-9.]*\) ms$/\1/p'
}
uses_index() { # plan text on stdin -> yes/no
    if grep -Eq 'Index (Only )?Scan|Bitmap Index Scan'; then echo yes; else echo no; fi
}

step "measuring ($transactions transactions per shape and side)"
printf '%-22s %12s %12s %7s %10s %10s %7s\n' shape "rls ms" "engine ms" ratio "rls index" "eng index" fenced
total_rls=0
total_engine=0
log_ratios=0
for entry in "${shapes[@]}"; do
    name="${entry%%|*}"
    sql="${entry#*|}"
    rewritten="$("$verdict" eval --policies "$work/policies.json" --context "$work/context.json" --sql "$sql" \
        | python3 -c 'import json,sys; v=json.load(sys.stdin); print(v.get("rewritten_sql") or sys.exit("blocked: " + v["reason"]))')"
    fenced=no
    case "$rewritten" in *"OFFSET 0"*) fenced=yes ;; esac
    printf '\\set k 42 + 100 * random(0, %d)\n%s;\n' $((customers / 100 - 30)) "${sql//4242/:k}" >"$work/rls.sql"
    printf '\\set k 42 + 100 * random(0, %d)\n%s;\n' $((customers / 100 - 30)) "${rewritten//4242/:k}" >"$work/engine.sql"
    rls_index="$("${psql[@]}" -U analyst -At -c "EXPLAIN ${sql//4242/4242}" | uses_index)"
    engine_index="$("${psql[@]}" -At -c "EXPLAIN ${rewritten}" | uses_index)"
    # Warm both, then measure them alternately, twice each; the faster run of each counts.
    pg=( "$bin/pgbench" -n -h "$work" -p "$port" -d postgres -c 1 -M simple )
    "${pg[@]}" -U analyst -f "$work/rls.sql" -t 20 >/dev/null 2>&1
    "${pg[@]}" -U postgres -f "$work/engine.sql" -t 20 >/dev/null 2>&1
    best_rls=""
    best_engine=""
    for _ in 1 2; do
        r="$("${pg[@]}" -U analyst -f "$work/rls.sql" -t "$transactions" 2>&1 | mean_ms)"
        e="$("${pg[@]}" -U postgres -f "$work/engine.sql" -t "$transactions" 2>&1 | mean_ms)"
        best_rls="$(python3 -c "print(min(x for x in [$r, ${best_rls:-1e9}]))")"
        best_engine="$(python3 -c "print(min(x for x in [$e, ${best_engine:-1e9}]))")"
    done
    ratio="$(python3 -c "print(f'{$best_engine / $best_rls:.2f}')")"
    printf '%-22s %12.3f %12.3f %7s %10s %10s %7s\n' "$name" "$best_rls" "$best_engine" "$ratio" "$rls_index" "$engine_index" "$fenced"
    total_rls="$(python3 -c "print($total_rls + $best_rls)")"
    total_engine="$(python3 -c "print($total_engine + $best_engine)")"
    log_ratios="$(python3 -c "import math; print($log_ratios + math.log($best_engine / $best_rls))")"
done
python3 -c "import math; print(f'total: rls {$total_rls:.3f} ms, engine {$total_engine:.3f} ms, ratio {$total_engine / $total_rls:.2f}, geometric mean of the ratios {math.exp($log_ratios / ${#shapes[@]}):.2f} (engine / native row level security)')"
