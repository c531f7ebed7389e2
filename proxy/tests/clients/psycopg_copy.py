"""psycopg 3's COPY ... FROM STDIN through verdict proxy: prints one JSON object.

Usage: python3 psycopg_copy.py HOST PORT USER PASSWORD DBNAME
Copies two rows (ids 2001, 2002, tenant 1) into orders with `cursor.copy()`, then counts
them in the same session (which must still be usable when the COPY was blocked).
"""
import json
import sys

import psycopg
from psycopg import errors

host, port, user, password, dbname = sys.argv[1:6]
out = {}
conn = psycopg.connect(host=host, port=int(port), user=user, password=password,
                       dbname=dbname, connect_timeout=10)
try:
    with conn.cursor() as cur:
        with cur.copy("COPY orders (id, tenant_id, amount, status) FROM STDIN") as copy:
            copy.write_row((2001, 1, "12.50", "open"))
            copy.write_row((2002, 1, "99.00", "paid"))
        out["copied"] = cur.rowcount
    conn.commit()
except errors.InsufficientPrivilege as e:
    conn.rollback()
    out["blocked"] = {"sqlstate": e.sqlstate, "message": e.diag.message_primary,
                      "detail": e.diag.message_detail}
with conn.cursor() as cur:
    cur.execute("SELECT count(*) FROM orders WHERE id > %s", (2000,))
    out["after"] = cur.fetchone()[0]
conn.close()
print(json.dumps(out))
