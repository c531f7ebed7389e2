// node-postgres through verdict proxy: prints one JSON object with what it saw.
// Usage: node node_client.js HOST PORT USER PASSWORD DBNAME
const { Client } = require('pg');

async function main() {
  const [host, port, user, password, database] = process.argv.slice(2);
  const client = new Client({ host, port: Number(port), user, password, database,
    application_name: 'node-test', connectionTimeoutMillis: 10000 });
  await client.connect();
  const out = {};
  // Named prepared statement, reused with different parameters.
  const q = { name: 'orders-after', text: 'SELECT id, amount::text AS amount FROM orders WHERE id > $1 ORDER BY id' };
  out.prepared = [];
  for (const min of [0, 10, 20]) {
    const r = await client.query({ ...q, values: [min] });
    out.prepared.push(r.rows.map((row) => [row.id, row.amount]));
  }
  try {
    await client.query({ name: 'salaries', text: 'SELECT * FROM salaries WHERE amount > $1', values: [0] });
    out.blocked = null;
  } catch (e) {
    out.blocked = { code: e.code, message: e.message, detail: e.detail || null, hint: e.hint || null };
  }
  // The session goes on, and the blocked name was never prepared.
  const again = await client.query({ ...q, values: [25] });
  out.after = again.rows.map((row) => row.id);
  await client.query('BEGIN');
  try {
    await client.query('SELECT * FROM salaries');
  } catch (e) {
    out.tx_error = e.code;
  }
  try {
    await client.query('SELECT 1');
  } catch (e) {
    out.tx_after = e.code;
  }
  await client.query('ROLLBACK');
  await client.end();
  console.log(JSON.stringify(out));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
