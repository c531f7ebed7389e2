"""psycopg 3 through verdict proxy: prints one JSON object with what it saw.

Usage: python3 psycopg_client.py HOST PORT USER PASSWORD DBNAME
"""
import json
import sys

import psycopg
from psycopg import errors

host, port, user, password, dbname = sys.argv[1:6]
out = {}
conn = psycopg.connect(host=host, port=int(port), user=user, password=password,
                       dbname=dbname, application_name="psycopg-test", connect_timeout=10)
with conn.cursor() as cur:
    # Server-side parameters: psycopg 3 binds them with the extended protocol.
    cur.execute("SELECT id, amount::text FROM orders WHERE id > %s AND status = %s ORDER BY id",
                (4, "paid"))
    out["params"] = [list(r) for r in cur.fetchall()]
    # An explicitly prepared statement, run three times.
    for _ in range(3):
        cur.execute("SELECT count(*) FROM orders WHERE id > %s", (0,), prepare=True)
    out["prepared"] = cur.fetchone()[0]
    cur.execute("SELECT email, ssn FROM customers ORDER BY id")
    out["masked"] = [list(r) for r in cur.fetchall()]
    try:
        cur.execute("SELECT * FROM salaries WHERE amount > %s", (0,))
        out["blocked"] = None
    except errors.InsufficientPrivilege as e:
        out["blocked"] = {"sqlstate": e.sqlstate, "message": e.diag.message_primary,
                          "detail": e.diag.message_detail, "hint": e.diag.message_hint}
conn.rollback()
# A transaction with a block inside: the block fails it, as in PostgreSQL.
try:
    with conn.transaction():
        with conn.cursor() as cur:
            cur.execute("UPDATE orders SET status = status WHERE id > %s", (0,))
            out["updated"] = cur.rowcount
            cur.execute("SELECT * FROM salaries")
except errors.InsufficientPrivilege:
    out["tx_blocked"] = True
with conn.cursor() as cur:
    cur.execute("SHOW application_name")
    out["application_name"] = cur.fetchone()[0]
    # COPY ... TO STDOUT, judged as its query.
    with cur.copy("COPY (SELECT id FROM orders ORDER BY id) TO STDOUT") as copy:
        out["copy"] = [int(row[0]) for row in copy.rows()]
conn.close()
print(json.dumps(out))
