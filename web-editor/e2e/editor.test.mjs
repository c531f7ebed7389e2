// End-to-end tests of the policy editor in a real browser: Playwright (playwright-core)
// drives Debian's Chromium against `verdict serve` on SQLite, which this file starts with
// the built editor (dist/) and stops at the end. The tests run in order and share one page,
// like a person working through the editor. Screenshots and the Performance API numbers
// go to $VERDICT_E2E_OUT.
//
//   VERDICT_BIN=target/release/verdict VERDICT_DIST=dist VERDICT_E2E_OUT=target/editor-e2e \
//     node --test --test-concurrency=1 web-editor/e2e/

import { test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync, mkdirSync, rmSync, existsSync, readdirSync, chmodSync } from 'node:fs';
import { tmpdir, loadavg } from 'node:os';
import { join, dirname } from 'node:path';
import { createServer } from 'node:net';
import { gzipSync } from 'node:zlib';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const bin = process.env.VERDICT_BIN || join(root, 'target', 'release', 'verdict');
const dist = process.env.VERDICT_DIST || join(root, 'dist');
const out = process.env.VERDICT_E2E_OUT || join(root, 'target', 'editor-e2e');
mkdirSync(out, { recursive: true });

let server;
let dataDir;
let base;
let token;
let browser;
let exampleCount;
let exampleTables;
let page;
const pageErrors = [];
let current = '';
beforeEach((t) => { current = t.name; });

// ------------------------------------------------------------------ helpers

async function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function api(method, path, body, headers = {}) {
  const res = await fetch(base + path, {
    method,
    headers: {
      Authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Polls `fn` until it returns a truthy value; fails with `what` after `ms`. */
async function until(fn, what, ms = 15000) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

const byId = (p, id) => p.locator(`[data-testid="${id}"]`);
const textOf = async (p, id) => (await byId(p, id).first().textContent()) ?? '';
async function waitText(p, id, pred, what) {
  return until(async () => {
    const t = await textOf(p, id);
    return pred(t) ? t : false;
  }, `${what ?? id} (text of ${id})`);
}
/** SQL text as one line: the preview lays SQL out on several lines (whitespace only). */
const flat = (t) => t.replace(/\s+/g, ' ').replace(/\( /g, '(').replace(/ \)/g, ')').trim();
const shot = (p, name) => p.screenshot({ path: join(out, `${name}.png`), fullPage: false });
/** A screenshot at 1280×800 (the size new screens are checked at), then the size before. */
async function shot1280(p, name) {
  const size = p.viewportSize();
  await p.setViewportSize({ width: 1280, height: 800 });
  await p.screenshot({ path: join(out, `${name}-1280x800.png`), fullPage: false });
  await p.setViewportSize(size);
}

// axe-core (pinned in package.json, from npm ci) checks a screen; every violation goes to
// $VERDICT_E2E_OUT/axe.json, and the last test asserts none is serious or critical.
const axeSource = readFileSync(join(here, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');
const axeResults = {};
async function checkA11y(p, screen) {
  // Evaluated through the DevTools protocol, so no script tag (and no CSP question).
  await p.evaluate(axeSource);
  const violations = await p.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ['violations'] });
    return r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      nodes: v.nodes.map((n) => ({ target: n.target.join(' '), summary: n.failureSummary })),
    }));
  });
  axeResults[screen] = violations;
  writeFileSync(join(out, 'axe.json'), JSON.stringify(axeResults, null, 1));
  return violations;
}

/** Elements that stick out of the viewport sideways, or a page that scrolls sideways. */
async function overflow(p) {
  return p.evaluate(() => {
    const w = document.documentElement.clientWidth;
    const found = [];
    if (document.documentElement.scrollWidth > w + 1) found.push(`page scrolls sideways: ${document.documentElement.scrollWidth} > ${w}`);
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.width === 0 || el.closest('.sr-only, [hidden]')) continue;
      // Content inside a scrolling box is seen by scrolling it.
      let clip = el.parentElement;
      let scrolled = false;
      while (clip && clip !== document.body) {
        const o = getComputedStyle(clip).overflowX;
        if (o === 'auto' || o === 'scroll' || o === 'hidden') { scrolled = true; break; }
        clip = clip.parentElement;
      }
      if (!scrolled && (r.right > w + 1 || r.left < -1)) {
        found.push(`${el.tagName.toLowerCase()}${el.dataset.testid ? `[data-testid=${el.dataset.testid}]` : ''}.${el.className} spans ${Math.round(r.left)}–${Math.round(r.right)} of ${w}`);
      }
    }
    return found.slice(0, 10);
  });
}

async function newPage(ctxOptions = {}) {
  const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, ...ctxOptions });
  const p = await context.newPage();
  p.on('pageerror', (e) => pageErrors.push(`${current}: ${e}`));
  p.on('console', (m) => {
    // The browser logs every 4xx the tests provoke (401, 412): those are expected answers.
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) {
      pageErrors.push(`${current}: console: ${m.text()}`);
    }
  });
  return p;
}

async function signIn(p) {
  await p.goto(base + '/');
  await byId(p, 'token-input').fill(token);
  await byId(p, 'signin-button').click();
  await byId(p, 'whoami').waitFor();
}

async function openPolicy(p, id) {
  await p.goto(`${base}/#/policy/${id}`);
  await p.locator('[data-testid="editor"][data-ready="true"]').waitFor();
}

// ------------------------------------------------------------------ server and data

const invoices = {
  name: 'public.invoices',
  columns: [
    { name: 'id', type: 'integer' },
    { name: 'tenant_id', type: 'integer' },
    { name: 'customer_email', type: 'text' },
    { name: 'total', type: 'numeric(12,2)' },
    { name: 'issued_on', type: 'date' },
  ],
};

// ------------------------------------------------------------------ PostgreSQL for the data preview

// A throw-away PostgreSQL cluster holding the example tables with rows, registered as a
// data source: the data preview runs on it through the server. Like the Rust testkit:
// initdb (as the `postgres` OS user when we are root), loopback only, trust
// authentication, removed at the end. VERDICT_PG_BIN names the bin directory.
let pg;
function pgBin() {
  if (process.env.VERDICT_PG_BIN) return process.env.VERDICT_PG_BIN;
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base) ? readdirSync(base).filter((v) => existsSync(join(base, v, 'bin', 'initdb'))) : [];
  versions.sort((a, b) => Number(b) - Number(a));
  if (versions.length) return join(base, versions[0], 'bin');
  try {
    return dirname(execFileSync('sh', ['-c', 'command -v initdb'], { encoding: 'utf8' }).trim());
  } catch {
    throw new Error('no PostgreSQL server binaries (set VERDICT_PG_BIN, or run scripts/ensure-postgres.sh)');
  }
}
function asServerUser(program, args) {
  const root = process.getuid && process.getuid() === 0;
  return root
    ? execFileSync('runuser', ['-u', 'postgres', '--', program, ...args], { stdio: 'pipe' })
    : execFileSync(program, args, { stdio: 'pipe' });
}
async function startPostgres() {
  const bin = pgBin();
  const dir = mkdtempSync(join('/tmp', 'verdict-e2e-pg-'));
  chmodSync(dir, 0o755);
  mkdirSync(join(dir, 'sock'));
  if (process.getuid && process.getuid() === 0) execFileSync('chown', ['-R', 'postgres:', dir]);
  const port = await freePort();
  asServerUser(join(bin, 'initdb'), ['-D', join(dir, 'data'), '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--locale=C', '--no-sync']);
  asServerUser(join(bin, 'pg_ctl'), ['-D', join(dir, 'data'), '-l', join(dir, 'server.log'), '-w', '-t', '60', '-o',
    `-c listen_addresses=127.0.0.1 -c port=${port} -c unix_socket_directories=${join(dir, 'sock')} -c fsync=off -c synchronous_commit=off -c timezone=UTC`, 'start']);
  pg = { bin, dir, port };
  const psql = (db, sql) => execFileSync(join(bin, 'psql'), ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', db, '-c', sql], { stdio: 'pipe' });
  psql('postgres', 'CREATE DATABASE warehouse');
  psql('warehouse', `
    CREATE TABLE customers (id integer PRIMARY KEY, tenant_id integer, name text, email text, ssn text, password_hash text, created_at date);
    CREATE TABLE orders (id integer PRIMARY KEY, tenant_id integer, customer_id integer, amount numeric(12,2), status text, ordered_at date);
    CREATE TABLE salaries (employee_id integer, tenant_id integer, amount numeric(12,2));
    INSERT INTO customers VALUES
      (1, 1, 'Ann', 'ann@one.example', '111-22-3331', 'h1', '2024-01-05'),
      (2, 1, 'Ben', 'ben@one.example', '111-22-3332', 'h2', '2024-02-05'),
      (3, 1, 'Cy', NULL, '111-22-3333', 'h3', '2024-03-05'),
      (4, 2, 'Dee', 'dee@two.example', '222-33-4441', 'h4', '2024-04-05'),
      (5, 2, 'Eve', 'eve@two.example', '222-33-4442', 'h5', '2024-05-05'),
      (6, 2, 'Fay', 'fay@two.example', '222-33-4443', 'h6', '2024-06-05');
    INSERT INTO orders VALUES (1, 1, 1, 10.50, 'open', '2024-07-01'), (2, 1, 2, 20.00, 'paid', '2024-07-02'),
      (3, 2, 4, 30.25, 'open', '2024-07-03');`);
  return `postgres://postgres:e2e-secret-pw@127.0.0.1:${port}/warehouse`;
}
function stopPostgres() {
  if (!pg) return;
  try {
    asServerUser(join(pg.bin, 'pg_ctl'), ['-D', join(pg.dir, 'data'), '-m', 'immediate', '-w', 'stop']);
  } catch (e) {
    console.error(`pg_ctl stop: ${e}`);
  }
  rmSync(pg.dir, { recursive: true, force: true });
  pg = undefined;
}
let warehouseUrl;

before(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'verdict-e2e-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  server = spawn(bin, ['serve', '--addr', `127.0.0.1:${port}`, '--data-dir', dataDir, '--web-dir', dist], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  server.stdout.on('data', (d) => (log += d));
  server.stderr.on('data', (d) => (log += d));
  await until(async () => (await fetch(base + '/health')).ok, `the server to start (${log})`, 30000);
  token = readFileSync(join(dataDir, 'admin-token'), 'utf8').trim();

  // The example policy set, a table no policy governs yet, and enough policies to page.
  const examples = JSON.parse(readFileSync(join(root, 'examples', 'policies.json'), 'utf8'));
  exampleCount = examples.policies.length;
  exampleTables = examples.catalog.tables.length;
  const catalog = { tables: [...examples.catalog.tables, invoices] };
  assert.equal((await api('PUT', '/api/v1/catalog', catalog)).status, 200);
  for (const p of examples.policies) {
    const body = p.applies_to ? p : { ...p, assignments: [{ kind: 'everyone', value: '*' }] };
    const r = await api('POST', '/api/v1/policies', body);
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  for (let i = 1; i <= 22; i++) {
    const id = `ops-${String(i).padStart(2, '0')}`;
    const r = await api('POST', '/api/v1/policies', {
      id,
      name: `Ops guard ${i}`,
      priority: i,
      enabled: i % 5 !== 0,
      compliance_tags: i % 2 ? ['sox'] : [],
      rules: [{ type: 'deny', table: 'salaries', operations: ['ddl'] }],
      assignments: [{ kind: 'role', value: 'dba' }],
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
  }
  // Logged evaluations for the impact panel.
  const alice = JSON.parse(readFileSync(join(root, 'examples', 'context.json'), 'utf8'));
  for (const sql of [
    'SELECT id, customer_email, total FROM invoices',
    'SELECT count(*) FROM invoices WHERE total > 100',
    'SELECT name, email FROM customers WHERE id = 7',
  ]) {
    assert.equal((await api('POST', '/api/v1/evaluate', { sql, context: alice })).status, 200);
  }

  // The data source of the data preview.
  warehouseUrl = await startPostgres();
  const ds = await api('POST', '/api/v1/data-sources', { name: 'E2E warehouse', url: warehouseUrl });
  assert.equal(ds.status, 201, JSON.stringify(ds.body));
  assert.ok(!JSON.stringify(ds.body).includes('e2e-secret-pw'), 'the password is never answered');

  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
    ],
  });
  page = await newPage();
});

after(async () => {
  await browser?.close();
  if (server) {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  stopPostgres();
});

// ------------------------------------------------------------------ keystroke latency

const pct = (xs, p) => {
  const v = xs.slice().sort((a, b) => a - b);
  return v.length ? v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))] : null;
};
const r2 = (x) => (x == null ? null : +x.toFixed(2));
const stats = (xs) => ({ p50_ms: r2(pct(xs, 50)), p95_ms: r2(pct(xs, 95)), max_ms: r2(pct(xs, 100)) });

/** Installs the measurement on the input `testid`, types `typed` key by key (40 ms apart,
 * from the end of the text) and returns what the page saw for every key:
 * - `lat`: keydown's timestamp → the preview's `data-seq` changed (the verdict is in the
 *   DOM: `dom`) → the next animation frame → a task after it (the frame is painted);
 * - `events`: Event Timing entries (Chromium reports those of 16 ms or more, rounded to 8 ms),
 *   which run from the keydown's timestamp to the next frame presented after processing;
 * - `spans`: the editor's own User Timing spans (`verdict:*`, see web-editor/src/perf.rs). */
async function typeAndObserve(p, testid, typed) {
  await p.evaluate((id) => {
    const preview = document.querySelector('[data-testid="preview"]');
    const input = document.querySelector(`[data-testid="${id}"]`);
    window.verdictPerf = true;
    performance.clearMeasures();
    const m = (window.__m = { keys: [], lat: [], dom: [], events: [], firstInput: [] });
    window.__obs?.forEach((o) => o.disconnect());
    const eo = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) {
        m.events.push({ name: e.name, start: e.startTime, duration: e.duration, interactionId: e.interactionId,
          processingStart: e.processingStart, processingEnd: e.processingEnd });
      }
    });
    eo.observe({ type: 'event', durationThreshold: 16 });
    const fo = new PerformanceObserver((list) => list.getEntries().forEach((e) => m.firstInput.push(e.duration)));
    fo.observe({ type: 'first-input', buffered: true });
    window.__obs = [eo, fo];
    const onKey = (e) => {
      const start = e.timeStamp;
      m.keys.push(start);
      const seq = preview.dataset.seq;
      const obs = new MutationObserver(() => {
        if (preview.dataset.seq === seq) return;
        obs.disconnect();
        m.dom.push(performance.now() - start);
        requestAnimationFrame(() => setTimeout(() => m.lat.push(performance.now() - start), 0));
      });
      obs.observe(preview, { attributes: true, attributeFilter: ['data-seq'] });
    };
    input.addEventListener('keydown', onKey, { capture: true });
    window.__stop = () => input.removeEventListener('keydown', onKey, { capture: true });
  }, testid);
  await byId(p, testid).click();
  await p.keyboard.press('Control+End');
  await p.keyboard.type(typed, { delay: 40 });
  await until(async () => (await p.evaluate(() => window.__m.lat.length)) >= typed.length, 'every keystroke measured');
  // Event Timing entries arrive after the frame is presented.
  await p.waitForTimeout(300);
  return p.evaluate(() => {
    const m = window.__m;
    window.__obs.forEach((o) => o.disconnect());
    window.__stop();
    window.verdictPerf = false;
    const spans = performance.getEntriesByType('measure')
      .filter((e) => e.name.startsWith('verdict:'))
      .map((e) => ({ name: e.name.slice(8), start: e.startTime, duration: e.duration }));
    performance.clearMeasures();
    return { ...m, spans };
  });
}

/** The key each timestamp belongs to: the last keydown at or before it. */
const keyOf = (keys, t) => {
  let k = -1;
  for (let i = 0; i < keys.length; i++) if (keys[i] <= t + 0.5) k = i;
  return k;
};

// Interval sets (µs): their union, and the length of that union.
const merge = (iv) => {
  const out = [];
  for (const [s, e] of iv.slice().sort((x, y) => x[0] - y[0])) {
    const last = out[out.length - 1];
    if (last && s <= last[1]) last[1] = Math.max(last[1], e); else out.push([s, e]);
  }
  return out;
};
const len = (iv) => merge(iv).reduce((n, [s, e]) => n + e - s, 0);

/** Where a keystroke's main-thread time goes, from a Chromium trace, per keystroke (one
 * keydown to the next):
 * - `input`: keydown to the end of the key's event dispatch (Chromium inserting the
 *   character, the editor's handler and the Leptos effects it runs as microtasks);
 * - `frame_wait`: from there to the next frame starting (the 60 Hz frame clock: not work);
 * - `frame`: that frame's style, layout, paint and commit to the compositor;
 * and, summed over the window: `js` (every script callback: the editor's wasm, Leptos, the
 * measuring code's few observers), `style`, `layout` (forced ones inside the dispatch
 * included), `paint` (pre-paint, paint, layerize, commit), `browser_input` (the rest of the
 * event dispatch: text insertion, selection), `gc`, and `other_tasks` (main-thread tasks
 * none of these explains, such as the pass over the page's form controls that follows
 * each typed character). */
function traceBreakdown(trace) {
  const events = JSON.parse(trace.toString('utf8')).traceEvents ?? [];
  const isKey = (e, type) => e.name === 'EventDispatch' && e.args?.data?.type === type && e.ph === 'X';
  const keydowns = events.filter((e) => isKey(e, 'keydown'));
  if (!keydowns.length) return [];
  const { pid, tid } = keydowns[0];
  const main = events.filter((e) => e.pid === pid && e.tid === tid && e.ph === 'X' && e.dur != null);
  const names = {
    js: ['FunctionCall', 'RunMicrotasks', 'TimerFire', 'FireAnimationFrame', 'FireIdleCallback'],
    style: ['UpdateLayoutTree', 'RecalculateStyles'],
    layout: ['Layout'],
    paint: ['PrePaint', 'Paint', 'Layerize', 'Commit', 'UpdateLayer', 'PaintImage', 'UpdateLayerTree'],
    gc: ['MinorGC', 'MajorGC'],
    dispatch: ['EventDispatch'],
    task: ['RunTask'],
  };
  const starts = keydowns.map((e) => e.ts).sort((x, y) => x - y);
  return starts.map((a, i) => {
    const b = starts[i + 1] ?? a + 200_000;
    const inWin = main.filter((e) => e.ts >= a && e.ts < b);
    const iv = Object.fromEntries(Object.entries(names).map(([k, ns]) =>
      [k, inWin.filter((e) => ns.includes(e.name)).map((e) => [e.ts, e.ts + e.dur])]));
    const work = [...iv.js, ...iv.style, ...iv.layout];
    // Dispatch time not spent in script, style or layout: Chromium's own input handling.
    const browserInput = len(iv.dispatch) - (len(iv.dispatch) + len(work) - len([...iv.dispatch, ...work]));
    const explained = len([...iv.js, ...iv.style, ...iv.layout, ...iv.paint, ...iv.gc, ...iv.dispatch]);
    // The key's own dispatch: keypress holds textInput, input and the microtasks after it.
    const dispatch = inWin.filter((e) => isKey(e, 'keypress') || isKey(e, 'input') || isKey(e, 'keydown'));
    const inputEnd = Math.max(...dispatch.map((e) => e.ts + e.dur));
    const frameStart = inWin.filter((e) => e.ts >= inputEnd && (e.name === 'PrePaint' || e.name === 'FireAnimationFrame'))
      .reduce((m, e) => Math.min(m, e.ts), Infinity);
    const commit = inWin.find((e) => e.name === 'Commit' && e.ts >= frameStart);
    const ms = (us) => us / 1000;
    return {
      input: ms(inputEnd - a),
      frame_wait: Number.isFinite(frameStart) ? ms(frameStart - inputEnd) : null,
      frame: commit ? ms(commit.ts + commit.dur - frameStart) : null,
      js: ms(len(iv.js)),
      style: ms(len(iv.style)),
      layout: ms(len(iv.layout)),
      paint: ms(len(iv.paint)),
      browser_input: ms(browserInput),
      gc: ms(len(iv.gc)),
      other_tasks: ms(Math.max(0, len(iv.task) - explained)),
    };
  });
}

/** Types into `testid` twice: once plainly for the latencies (both measures), once under
 * Chromium tracing for where the time goes. */
async function measureTyping(p, testid, typed) {
  const plain = await typeAndObserve(p, testid, typed);
  // The event-timing latency of a key: the longest entry of its keydown, keypress or input.
  const et = plain.keys.map((t, i) => {
    const next = plain.keys[i + 1] ?? Infinity;
    const ds = plain.events.filter((e) => ['keydown', 'keypress', 'beforeinput', 'input'].includes(e.name) && e.start >= t - 0.5 && e.start < next)
      .map((e) => e.duration);
    return ds.length ? Math.max(...ds) : null;
  });
  const reported = et.filter((x) => x != null);
  // Unreported keys took less than 16 ms (rounded): they count as 0 for the order.
  const etPct = (q) => {
    const v = pct(et.map((x) => x ?? 0), q);
    return v ? v : '<16';
  };
  const spanRows = plain.keys.map(() => ({}));
  for (const s of plain.spans) {
    const k = keyOf(plain.keys, s.start);
    if (k >= 0) spanRows[k][s.name] = (spanRows[k][s.name] ?? 0) + s.duration;
  }
  const spanNames = [...new Set(plain.spans.map((s) => s.name))].sort();

  // The same keys again, traced, then removed so the text is as before.
  await browser.startTracing(p, {
    categories: process.env.VERDICT_E2E_TRACE_CATEGORIES?.split(',') ??
      ['devtools.timeline', 'disabled-by-default-devtools.timeline', 'v8.execute', 'blink.user_timing'],
  });
  await typeAndObserve(p, testid, typed);
  const trace = await browser.stopTracing();
  // For Chrome DevTools' Performance panel (Load profile…).
  writeFileSync(join(out, `trace-${testid}.json`), trace);
  for (let i = 0; i < typed.length; i++) await p.keyboard.press('Backspace');
  const rows = traceBreakdown(trace);
  const parts = ['input', 'frame_wait', 'frame', 'js', 'style', 'layout', 'paint', 'browser_input', 'gc', 'other_tasks'];
  const at = (q) => {
    const o = {};
    for (const k of parts) o[k] = r2(pct(rows.map((r) => r[k]).filter((x) => x != null), q));
    // User Timing resolution is 0.1 ms in a page that is not cross-origin isolated.
    for (const name of spanNames) o[`span:${name}`] = r2(pct(spanRows.map((r) => r[name] ?? 0), q));
    return o;
  };
  const work = rows.filter((r) => r.frame != null).map((r) => r.input + r.frame);
  const main = rows.filter((r) => r.frame != null).map((r) => r.input + r.frame_wait + r.frame);
  return {
    keystrokes: plain.lat.length,
    ...stats(plain.lat),
    in_dom: stats(plain.dom),
    event_timing: {
      keystrokes: et.length,
      reported: reported.length,
      p50_ms: etPct(50),
      p95_ms: etPct(95),
      max_ms: reported.length ? Math.max(...reported) : '<16',
      first_input_ms: plain.firstInput[0] ?? null,
    },
    breakdown_ms: {
      traced_keystrokes: rows.length,
      p50: at(50),
      p95: at(95),
      // The keystroke's work (input dispatch + its frame), and keydown → frame committed.
      work: stats(work),
      keydown_to_frame_committed: stats(main),
    },
  };
}

// ------------------------------------------------------------------ the tests

test('sign-in screen refuses a wrong token', async () => {
  await page.goto(base + '/');
  await byId(page, 'signin-form').waitFor();
  await shot(page, '01-sign-in');
  await checkA11y(page, 'sign-in');
  await byId(page, 'token-input').fill('vdt_not-a-token');
  await byId(page, 'signin-button').click();
  await waitText(page, 'signin-error', (t) => t.includes('sign-in failed'));
});

test('signs in; the list pages, searches and filters on the server', async () => {
  await signIn(page);
  const total = exampleCount + 22;
  await waitText(page, 'page-info', (t) => t === `1–20 of ${total}`);
  await waitText(page, 'dashboard', (t) => t.includes(`${total}policies`));
  await shot(page, '02-policy-list');
  await checkA11y(page, 'list');
  await byId(page, 'next-page').click();
  await waitText(page, 'page-info', (t) => t === `21–${total} of ${total}`);
  await byId(page, 'search').fill('tenant');
  await waitText(page, 'page-info', (t) => t === '1–1 of 1');
  await byId(page, 'policy-row-tenant-isolation').waitFor();
  await byId(page, 'search').fill('');
  await byId(page, 'filter-type').selectOption('column_mask');
  await waitText(page, 'page-info', (t) => t === '1–2 of 2');
  await byId(page, 'filter-type').selectOption('');
  await byId(page, 'filter-enabled').selectOption('false');
  await waitText(page, 'page-info', (t) => t === '1–4 of 4');
  await byId(page, 'filter-enabled').selectOption('');
  await byId(page, 'filter-mode').selectOption('monitor');
  await waitText(page, 'page-info', (t) => t === '1–1 of 1');
  await byId(page, 'policy-row-date-coarsening-trial').waitFor();
  await byId(page, 'filter-mode').selectOption('');
  await byId(page, 'filter-tag').fill('sox');
  await byId(page, 'filter-tag').press('Enter');
  await waitText(page, 'page-info', (t) => t === '1–11 of 11');
});

test('creates a policy with a mask and a row filter; the live verdict follows as one types', async () => {
  await byId(page, 'new-policy').click();
  await byId(page, 'policy-form').waitFor();
  // A new policy applies to no one until its author says where; nothing was restored.
  assert.equal(await byId(page, 'assignment-0').count(), 0);
  assert.equal(await byId(page, 'restored-banner').count(), 0);
  assert.equal(await byId(page, 'save').isDisabled(), true, 'nothing to create yet');
  await byId(page, 'assignment-kind').selectOption('everyone');
  await byId(page, 'assignment-add').click();
  await waitText(page, 'assignment-0', (t) => t.includes('everyone'));
  await byId(page, 'policy-id').fill('e2e-invoices');
  await byId(page, 'policy-name').fill('Invoices: tenant rows, masked e-mails');
  await byId(page, 'side-preview').click();
  await byId(page, 'ctx-preset').selectOption('Analyst of tenant 1');
  const sql = 'SELECT id, customer_email, total FROM invoices WHERE total > 100';
  await byId(page, 'sql-input').fill(sql);
  await waitText(page, 'verdict-badge', (t) => t === 'allow');
  const before = await textOf(page, 'rewritten-sql');
  assert.equal(flat(before), sql);
  // Laid out on lines: each clause on its own.
  assert.equal(before, 'SELECT id, customer_email, total\nFROM invoices\nWHERE total > 100');

  await byId(page, 'add-rule-type').selectOption('column_mask');
  await byId(page, 'add-rule').click();
  await byId(page, 'rule-0-table').fill('invoices');
  await byId(page, 'rule-0-column').fill('customer_email');
  await byId(page, 'rule-0-mask-kind').selectOption('email');
  await waitText(page, 'verdict-badge', (t) => t === 'mask');
  await waitText(page, 'masked-columns', (t) => t.includes('public.invoices.customer_email'));
  const masked = await textOf(page, 'rewritten-sql');
  assert.notEqual(masked, before);
  assert.match(masked, /regexp_replace\(customer_email/);

  await byId(page, 'add-rule-type').selectOption('row_filter');
  await byId(page, 'add-rule').click();
  await byId(page, 'rule-1-table').fill('invoices');
  // Typed key by key, as a person would.
  await byId(page, 'rule-1-predicate').click();
  await page.keyboard.type('tenant_id = ctx.attr.tenant_id');
  await waitText(page, 'verdict-badge', (t) => t === 'row_filter');
  await waitText(page, 'row-filters', (t) => t.includes('tenant_id = 1'));
  const filtered = await textOf(page, 'rewritten-sql');
  // `total > 100` on a numeric column is not leakproof in PostgreSQL: it runs only on
  // rows the row filter admits.
  assert.match(
    flat(filtered),
    /FROM public\.invoices WHERE tenant_id = 1\) AS invoices WHERE \(CASE WHEN \(invoices\.tenant_id = 1\) THEN \(total > 100\) END\)$/,
  );
  assert.ok(filtered.split('\n').length >= 6, `several lines: ${filtered}`);
  // The changes are highlighted against the original, each kind in its own style.
  const marked = (cls) => page.locator(`[data-testid="rewritten-sql"] mark.${cls}`).allTextContents();
  assert.match((await marked('hl-mask')).join(' '), /regexp_replace\(customer_email.*AS customer_email/s);
  assert.match((await marked('hl-filter')).join(' '), /tenant_id = 1/);
  assert.ok(!(await marked('hl-mask')).join(' ').includes('tenant_id'), 'a filter is not shown as a mask');
  const legend = await textOf(page, 'sql-legend');
  assert.match(legend, /masked column/);
  assert.match(legend, /row filter/);
  // Copy buttons copy what is shown.
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  await byId(page, 'copy-rewritten').click();
  await waitText(page, 'copy-rewritten', (t) => t.startsWith('copied'));
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), filtered);
  // The query box highlights SQL as it is typed.
  const keywords = await page.locator('[data-testid="sql-highlight"] .sx-keyword').allTextContents();
  assert.deepEqual(keywords, ['SELECT', 'FROM', 'WHERE']);
  assert.equal(await textOf(page, 'sql-highlight'), sql);
  await waitText(page, 'matched-policies', (t) => t.includes('e2e-invoices'));
  // The engine counts rules from 0; the editor shows them as the form numbers them.
  const why = await waitText(page, 'explanation', (t) => t.includes('policy `e2e-invoices` rule 2 (row_filter)'));
  assert.match(why, /policy `e2e-invoices` rule 1 \(column_mask\)/);

  // Another tenant's context changes the substituted literal.
  await byId(page, 'ctx-preset').selectOption('Analyst of tenant 2');
  await waitText(page, 'row-filters', (t) => t.includes('tenant_id = 2'));
  await byId(page, 'ctx-preset').selectOption('Analyst of tenant 1');
  await waitText(page, 'row-filters', (t) => t.includes('tenant_id = 1'));
  await shot(page, '03-editor-live-preview');
  await byId(page, 'rewritten-sql').scrollIntoViewIfNeeded();
  await shot1280(page, '03b-readable-sql');
  await checkA11y(page, 'editor with preview');

  // The raw tab shows the same draft (reached with the keyboard: arrows move between tabs).
  await byId(page, 'tab-form').focus();
  await page.keyboard.press('ArrowRight');
  await until(async () => (await byId(page, 'tab-raw').getAttribute('aria-selected')) === 'true', 'the raw tab selected');
  assert.equal(await page.evaluate(() => document.activeElement.dataset.testid), 'tab-raw');
  const raw = await byId(page, 'raw-text').inputValue();
  const parsed = JSON.parse(raw);
  assert.equal(parsed.rules[1].predicate, 'tenant_id = ctx.attr.tenant_id');
  assert.deepEqual(parsed.rules[0].mask, { kind: 'email' });
  await byId(page, 'tab-form').click();
});

test('a predicate error shows at its line and column, and blocks nothing else', async () => {
  await byId(page, 'rule-1-predicate').fill('tenant_id = ctx.attr.tenant_id\n  AND = 3');
  const problem = await waitText(page, 'problem-rules-1--predicate', (t) => t.includes('line 2, column'));
  assert.match(problem, /line 2, column 7/);
  await waitText(page, 'verdict-badge', (t) => t === 'invalid');
  await waitText(page, 'problem-summary', (t) => t.includes('Rule 2 › predicate'));
  assert.equal(await byId(page, 'rule-1-predicate').getAttribute('aria-invalid'), 'true');
  await shot(page, '04-predicate-error');
  await checkA11y(page, 'editor with a problem');
  // The problem's link shows the field it names, with the form's numbering.
  await page.locator('[data-testid="problem-summary"] [data-problem-field="rules[1].predicate"]').click();
  await until(async () => (await page.evaluate(() => document.activeElement?.dataset.testid)) === 'rule-1-predicate',
    'the predicate focused from the problem summary');
  // Save waits until the problems are fixed.
  assert.equal(await byId(page, 'save').isDisabled(), true, 'Save is disabled while there are problems');
  await byId(page, 'rule-1-predicate').fill('tenant_id = ctx.attr.tenant_id');
  await waitText(page, 'verdict-badge', (t) => t === 'row_filter');
  await until(async () => !(await byId(page, 'save').isDisabled()), 'Save enabled again');

  // Ids follow the server's rule while typing, not only at the save.
  await byId(page, 'policy-id').fill('bad id!');
  await waitText(page, 'problem-id', (t) => t.includes('is not a policy id'));
  assert.equal(await byId(page, 'save').isDisabled(), true);
  await page.keyboard.press('Control+s');
  await byId(page, 'policy-id').fill('replay');
  await waitText(page, 'problem-id', (t) => t.includes('reserved'));
  await byId(page, 'policy-id').fill('e2e-invoices');
  await until(async () => (await byId(page, 'problem-id').count()) === 0, 'the id problem gone');
  await until(async () => !(await byId(page, 'save').isDisabled()), 'Save enabled again');
  for (const id of ['bad id!', 'replay']) {
    assert.equal((await api('GET', `/api/v1/policies/${encodeURIComponent(id)}`)).status === 200, false);
  }
});

test('saves; after a reload the policy is found and its draft is gone', async () => {
  await byId(page, 'save').click();
  await waitText(page, 'revision', (t) => t === 'revision 1');
  assert.match(page.url(), /#\/policy\/e2e-invoices$/);
  const stored = await api('GET', '/api/v1/policies/e2e-invoices');
  assert.equal(stored.status, 200);
  assert.equal(stored.body.rules.length, 2);
  assert.deepEqual(stored.body.assignments.map((a) => a.kind), ['everyone']);

  await page.reload();
  await page.locator('[data-testid="editor"][data-ready="true"]').waitFor();
  await waitText(page, 'revision', (t) => t === 'revision 1');
  assert.equal(await byId(page, 'rule-1-predicate').inputValue(), 'tenant_id = ctx.attr.tenant_id');
  assert.equal(await byId(page, 'unsaved').count(), 0);

  await byId(page, 'nav-policies').click();
  await byId(page, 'search').fill('e2e-inv');
  await waitText(page, 'page-info', (t) => t === '1–1 of 1');
  await byId(page, 'policy-row-e2e-invoices').locator('a').click();
  await page.locator('[data-testid="editor"][data-ready="true"]').waitFor();
  await waitText(page, 'editor-title', (t) => t.startsWith('Invoices'));
});

test('unsaved changes survive a reload (localStorage draft)', async () => {
  await byId(page, 'policy-description').fill('draft text');
  await byId(page, 'unsaved').waitFor();
  await page.reload();
  await byId(page, 'restored-banner').waitFor();
  assert.equal(await byId(page, 'policy-description').inputValue(), 'draft text');
  await byId(page, 'discard-draft').click();
  assert.equal(await byId(page, 'policy-description').inputValue(), '');
  assert.equal(await byId(page, 'unsaved').count(), 0);
});

test('an edit from a second browser makes the first stale: three-way merge, nothing reverted silently', async () => {
  const other = await newPage();
  await signIn(other);
  await openPolicy(other, 'e2e-invoices');
  await byId(other, 'policy-name').fill('Changed elsewhere');
  await byId(other, 'rule-0-mask-kind').selectOption('hash');
  await byId(other, 'save').click();
  await waitText(other, 'revision', (t) => t === 'revision 2');
  await other.context().close();

  // Here: the priority (theirs untouched) and the name (they changed it too).
  await byId(page, 'policy-priority').fill('5');
  await byId(page, 'policy-name').fill('Invoices (mine)');
  await byId(page, 'save').click();
  await byId(page, 'conflict').waitFor();
  const diff = await textOf(page, 'conflict-diff');
  assert.match(diff, /Base \(revision 1\)/);
  assert.match(diff, /Theirs \(revision 2\)/);
  assert.match(await textOf(page, 'merge-row-name'), /both changed it/);
  assert.match(await textOf(page, 'merge-row-priority'), /only you changed it/);
  assert.match(await textOf(page, 'merge-row-rules-0-'), /only they changed it/);
  // Their mask change is kept unless someone chooses otherwise.
  assert.equal(await byId(page, 'merge-rules-0--theirs').isChecked(), true);
  assert.equal(await byId(page, 'merge-priority-mine').isChecked(), true);
  // The name is undecided: no merged save until it is chosen.
  assert.equal(await byId(page, 'conflict-save-merged').isDisabled(), true);
  await shot1280(page, '05-conflict-merge');
  await checkA11y(page, 'conflict');

  // Overwriting would revert their changes: it asks first, naming them.
  await byId(page, 'conflict-overwrite').click();
  await waitText(page, 'confirm-text', (t) => t.includes('rules[0]') && t.includes('name'));
  await waitText(page, 'conflict-overwrite', (t) => t.startsWith('Confirm'));
  await shot1280(page, '05b-conflict-confirm-overwrite');
  assert.equal((await api('GET', '/api/v1/policies/e2e-invoices')).body.revision, 2, 'nothing saved by the first click');

  await byId(page, 'merge-name-theirs').check();
  await until(async () => !(await byId(page, 'conflict-save-merged').isDisabled()), 'merged save enabled');
  await byId(page, 'conflict-save-merged').click();
  await waitText(page, 'revision', (t) => t === 'revision 3');
  assert.equal(await byId(page, 'conflict').count(), 0);
  const stored = await api('GET', '/api/v1/policies/e2e-invoices');
  assert.equal(stored.body.priority, 5);
  assert.equal(stored.body.name, 'Changed elsewhere');
  assert.deepEqual(stored.body.rules[0].mask, { kind: 'hash' });
  assert.equal(stored.body.rules[1].predicate, 'tenant_id = ctx.attr.tenant_id');
});

test('version history: diff, and roll back to a version after a confirmation', async () => {
  await byId(page, 'side-history').click();
  await byId(page, 'version-1').waitFor();
  await byId(page, 'version-2').waitFor();
  await byId(page, 'diff-1').click();
  await waitText(page, 'version-diff', (t) => t.includes('Version 1 → 3') && t.includes('priority'));
  await shot(page, '06-history-diff');
  await checkA11y(page, 'history');
  // The first click only asks (and shows what the rollback undoes).
  await byId(page, 'rollback-2').click();
  await waitText(page, 'rollback-confirm-text', (t) => t.includes('version 2'));
  await waitText(page, 'version-diff', (t) => t.includes('Version 2 → 3') && t.includes('priority'));
  await waitText(page, 'rollback-2', (t) => t.startsWith('Confirm'));
  await shot1280(page, '06b-history-confirm-rollback');
  assert.equal((await api('GET', '/api/v1/policies/e2e-invoices')).body.revision, 3);
  await byId(page, 'rollback-2').click();
  await waitText(page, 'revision', (t) => t === 'revision 4');
  assert.equal(await byId(page, 'policy-name').inputValue(), 'Changed elsewhere');
  assert.equal(await byId(page, 'policy-priority').inputValue(), '0');
  await byId(page, 'version-4').waitFor();
  const stored = await api('GET', '/api/v1/policies/e2e-invoices');
  assert.equal(stored.body.revision, 4);
  assert.equal(stored.body.name, 'Changed elsewhere');
});

test('impact panel: the server replays the draft over logged evaluations', async () => {
  // The three evaluations were logged before this policy existed. The unchanged draft
  // changes nothing against the current policies; that the two on invoices are now
  // filtered and masked is reported apart, as changed since logging.
  await byId(page, 'side-impact').click();
  await byId(page, 'impact-run').click();
  await waitText(page, 'impact-summary', (t) => t.startsWith('0 of 3 evaluations would change'));
  await waitText(page, 'impact-since-logging', (t) => t.startsWith('2 of 3 logged answers'));
  // A stricter draft would block them.
  await byId(page, 'add-rule-type').selectOption('deny');
  await byId(page, 'add-rule').click();
  await byId(page, 'rule-2-table').fill('invoices');
  await byId(page, 'impact-run').click();
  await waitText(page, 'impact-summary', (t) => t.startsWith('2 of 3 evaluations would change'));
  await waitText(page, 'impact', (t) => t.includes('row_filter→block'));
  await shot(page, '07-impact');
  await byId(page, 'rule-2-remove').click();
  assert.equal(await byId(page, 'unsaved').count(), 0);
});

test('audit: the evaluation log with filters in the URL, one evaluation opened, the trail and the top blocking rules', async () => {
  const alice = JSON.parse(readFileSync(join(root, 'examples', 'context.json'), 'utf8'));
  const blocked = await api('POST', '/api/v1/evaluate', { sql: 'SELECT * FROM salaries', context: alice });
  assert.equal(blocked.body.verdict, 'block');
  await byId(page, 'nav-audit').click();
  await byId(page, 'audit-page').waitFor();
  await waitText(page, 'log-count', (t) => t === '4 evaluations');
  await byId(page, 'log-verdict').selectOption('block');
  await byId(page, 'log-apply').click();
  await waitText(page, 'log-count', (t) => t === '1 evaluation');
  assert.match(page.url(), /#\/audit\?verdict=block$/);
  await byId(page, 'log-verdict').selectOption('');
  await byId(page, 'log-table').fill('invoices');
  await byId(page, 'log-apply').click();
  await waitText(page, 'log-count', (t) => t === '2 evaluations');
  assert.match(page.url(), /#\/audit\?table=invoices$/);
  // The back button returns to the previous filters.
  await page.goBack();
  await waitText(page, 'log-count', (t) => t === '1 evaluation');
  assert.equal(await byId(page, 'log-verdict').inputValue(), 'block');
  await waitText(page, 'top-blocking', (t) => t.includes('protect-secrets'));
  await waitText(page, 'audit-trail', (t) => t.includes('e2e-invoices'));
  await shot1280(page, '16-audit-log');
  await checkA11y(page, 'audit');
  await page.locator(`[data-testid="log-row-${blocked.body.evaluation_id}"] a`).click();
  await byId(page, 'evaluation-page').waitFor();
  await waitText(page, 'evaluation-sql', (t) => t.includes('FROM salaries'));
  await waitText(page, 'evaluation-context', (t) => t.includes('alice'));
  await waitText(page, 'evaluation-policies', (t) => t.includes('protect-secrets'));
  await shot1280(page, '17-evaluation');
  await page.goBack();
  await waitText(page, 'log-count', (t) => t === '1 evaluation');
});

/** Every axe finding of a screen (any impact): the new screens must have none. */
async function noAxeFindings(p, screen) {
  const vs = await checkA11y(p, screen);
  assert.deepEqual(vs.map((v) => `${v.impact} ${v.id}: ${v.nodes.map((n) => n.target).join(', ')}`), [], `axe on ${screen}`);
}

/** Screenshots at 1280×800 and 1920×1080 with the layout check, then the size before. */
async function shotsAndLayout(p, name) {
  const size = p.viewportSize();
  const problems = [];
  for (const [w, h] of [[1280, 800], [1920, 1080]]) {
    await p.setViewportSize({ width: w, height: h });
    await p.waitForTimeout(100);
    await p.screenshot({ path: join(out, `${name}-${w}x${h}.png`), fullPage: false });
    problems.push(...(await overflow(p)).map((x) => `${w}×${h} ${name}: ${x}`));
  }
  await p.setViewportSize(size);
  assert.deepEqual(problems, []);
}

test('data preview: the rows as this context sees them beside the author\'s, masked cells and filtered rows marked', async () => {
  await openPolicy(page, 'pii-masking');
  await byId(page, 'ctx-preset').selectOption('Analyst of tenant 1');
  await byId(page, 'sql-input').fill('SELECT id, name, email, ssn FROM customers ORDER BY id');
  await waitText(page, 'verdict-badge', (t) => t.length > 0);
  await byId(page, 'side-data').click();
  await byId(page, 'data-source').waitFor();
  assert.match(await textOf(page, 'data-source'), /E2E warehouse \(postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:\d+\/warehouse\)/);
  assert.ok(!(await page.content()).includes('e2e-secret-pw'), 'the password is not in the page');
  await byId(page, 'data-run').click();
  await byId(page, 'data-as-context').waitFor();
  // As alice (tenant 1) sees them: three rows, e-mail and SSN masked in each.
  const seen = byId(page, 'data-as-context');
  const own = byId(page, 'data-as-author');
  assert.equal(await seen.locator('tbody tr').count(), 3);
  assert.equal(await own.locator('tbody tr').count(), 6);
  assert.equal(await seen.locator('[data-testid="masked-cell"]').count(), 6);
  assert.equal(await own.locator('[data-testid="masked-cell"]').count(), 0);
  assert.equal(await seen.locator('th.col-masked').count(), 2);
  const masked = await seen.locator('[data-testid="masked-cell"]').allTextContents();
  const raw = await own.locator('td').allTextContents();
  for (const cell of masked.filter((c) => c !== 'NULL')) {
    assert.ok(!raw.includes(cell), `masked cell ${cell} shows a raw value`);
  }
  assert.ok(raw.includes('ann@one.example') && raw.includes('111-22-3331'), 'the author sees raw values');
  const ssn = await seen.locator('tbody tr').first().locator('td').nth(3).textContent();
  assert.ok(ssn.endsWith('3331') && ssn !== '111-22-3331', `partial mask keeps the last four: ${ssn}`);
  await waitText(page, 'data-filtered', (t) => t === '3 rows filtered out');
  await waitText(page, 'data-masked', (t) => t === 'masked: email, ssn');
  await shotsAndLayout(page, '19-data-preview');
  await noAxeFindings(page, 'data preview');
  // The query is the live preview's: change it there, run again here.
  const runWith = async (sql) => {
    await byId(page, 'side-preview').click();
    await byId(page, 'sql-input').fill(sql);
    await byId(page, 'side-data').click();
    await waitText(page, 'data-sql', (t) => t === sql);
    await byId(page, 'data-run').click();
  };
  // A blocked verdict runs nothing.
  await runWith('SELECT id, password_hash FROM customers');
  await waitText(page, 'data-blocked', (t) => t.includes('nothing ran'));
  assert.equal(await byId(page, 'data-as-context').count(), 0);
  // PostgreSQL's refusal shows structured.
  await runWith('SELECT id / 0 AS x FROM orders');
  await waitText(page, 'data-error', (t) => t.includes('division by zero') && t.includes('SQLSTATE 22012'));
  await byId(page, 'side-preview').click();
  await byId(page, 'sql-input').fill('SELECT * FROM orders LIMIT 10');
});

test('catalog editor: add a column and save it', async () => {
  await byId(page, 'nav-catalog').click();
  await byId(page, 'catalog-page').waitFor();
  const t = exampleTables; // invoices comes after the example tables
  await until(async () => (await byId(page, `catalog-table-${t}-name`).inputValue()) === 'public.invoices', 'invoices in the catalog');
  await byId(page, `catalog-table-${t}-add-column`).click();
  await byId(page, `catalog-table-${t}-column-${invoices.columns.length}-name`).fill('currency');
  await byId(page, 'catalog-save').click();
  await waitText(page, 'status', (t) => t.includes('catalog saved'));
  const cat = await api('GET', '/api/v1/catalog');
  const inv = cat.body.catalog.tables.find((t) => t.name === 'public.invoices');
  assert.deepEqual(inv.columns.at(-1), { name: 'currency', type: 'text' });
  await shot(page, '08-catalog');
  await checkA11y(page, 'catalog');
});

test('a viewer token reads and previews but cannot change', async () => {
  const made = await new Promise((resolve, reject) => {
    const p = spawn(bin, ['token', 'create', '--user', 'vic', '--role', 'viewer', '--data-dir', dataDir]);
    let text = '';
    p.stdout.on('data', (d) => (text += d));
    p.on('error', reject);
    p.on('exit', () => resolve(text));
  });
  const viewerToken = made.match(/vdt_[A-Za-z0-9_-]+/)?.[0];
  assert.ok(viewerToken, `no token in: ${made}`);
  const viewer = await newPage();
  await viewer.goto(base + '/');
  await byId(viewer, 'token-input').fill(viewerToken);
  await byId(viewer, 'signin-button').click();
  await waitText(viewer, 'whoami', (t) => t.includes('vic (viewer)'));
  assert.equal(await byId(viewer, 'new-policy').isDisabled(), true);
  await openPolicy(viewer, 'e2e-invoices');
  await byId(viewer, 'read-only').waitFor();
  await byId(viewer, 'policy-priority').fill('9');
  await waitText(viewer, 'verdict-badge', (t) => t === 'row_filter');
  assert.equal(await byId(viewer, 'save').isDisabled(), true);
  await viewer.context().close();
});

test('exceptions: grant one for a user, then revoke it', async () => {
  await openPolicy(page, 'e2e-invoices');
  await byId(page, 'side-exceptions').click();
  await byId(page, 'exception-subject').fill('bob');
  await byId(page, 'exception-max-uses').fill('3');
  await byId(page, 'exception-reason').fill('quarterly audit');
  await byId(page, 'exception-grant').click();
  const row = page.locator('[data-testid^="exception-"]', { hasText: 'user bob' });
  await until(async () => (await row.textContent()).includes('active'), 'the granted exception');
  assert.match(await row.textContent(), /0 \/ 3/);
  await shot(page, '09-exceptions');
  await row.getByRole('button', { name: 'Revoke' }).click();
  await until(async () => (await row.textContent()).includes('revoked'), 'the revoked exception');
});

test('Ctrl+S saves; delete takes a policy out of the list', async () => {
  await byId(page, 'policy-description').fill('saved with the keyboard');
  await page.keyboard.press('Control+s');
  await waitText(page, 'revision', (t) => t === 'revision 5');
  assert.equal((await api('GET', '/api/v1/policies/e2e-invoices')).body.description, 'saved with the keyboard');

  await openPolicy(page, 'ops-22');
  await byId(page, 'delete').click();
  await waitText(page, 'delete', (t) => t === 'Confirm delete');
  await byId(page, 'delete').click();
  await waitText(page, 'page-info', (t) => t === `1–20 of ${exampleCount + 22}`);
  assert.equal((await api('GET', '/api/v1/policies/ops-22')).status, 404);
});

test('a missing or deleted policy shows the error and no editor; nothing can be saved', async () => {
  for (const id of ['does-not-exist', 'ops-22']) {
    await page.goto(`${base}/#/policy/${id}`);
    await waitText(page, 'load-error', (t) => t.includes('cannot open this policy'));
    assert.equal(await byId(page, 'editor').count(), 0, `${id}: no editor`);
    assert.equal(await byId(page, 'save').count(), 0, `${id}: no Save`);
    await page.keyboard.press('Control+s');
  }
  await shot1280(page, '15-missing-policy');
  await checkA11y(page, 'missing policy');
  for (const id of ['new-policy', 'does-not-exist']) {
    assert.equal((await api('GET', `/api/v1/policies/${id}`)).status, 404, `${id} was created`);
  }
});

test('audit: a deleted policy is restored from the list; the trail shows each change field by field', async () => {
  await page.goto(`${base}/#/audit`);
  await byId(page, 'deleted-ops-22').waitFor();
  await page.locator('[data-testid="deleted-ops-22"] [data-testid="restore"]').click();
  await waitText(page, 'status', (t) => t.includes('restored `ops-22`'));
  await until(async () => (await byId(page, 'deleted-ops-22').count()) === 0, 'ops-22 out of the deleted list');
  assert.equal((await api('GET', '/api/v1/policies/ops-22')).status, 200);
  // The trail of the reloaded page has the restore; its changes open field by field.
  await page.goto(`${base}/#/audit?policy=ops-22`);
  await page.reload();
  const restore = page.locator('[data-testid="trail-entry"]', { hasText: 'policy.restore ops-22' }).first();
  await restore.waitFor();
  await restore.locator('[data-testid="trail-diff-button"]').click();
  await until(async () => (await restore.locator('[data-testid="trail-diff"]').textContent())?.includes('deleted: true → false'), 'the restore\'s field diff');
  const update = page.locator('[data-testid="trail-entry"]', { hasText: 'policy.update e2e-invoices' }).first();
  await update.locator('[data-testid="trail-diff-button"]').click();
  await until(async () => (await update.locator('[data-testid="trail-diff"]').textContent())?.includes('→'), 'an update\'s field diff');
  await shotsAndLayout(page, '20-audit-deleted-and-diffs');
  await noAxeFindings(page, 'audit with deleted policies and diffs');
});

test('opening New policy twice restores nothing: the banner shows only a real draft', async () => {
  await page.goto(`${base}/#/new`);
  await byId(page, 'policy-form').waitFor();
  await new Promise((r) => setTimeout(r, 600)); // past the draft store's delay
  await page.goto(`${base}/#/`);
  await byId(page, 'page-info').waitFor();
  await page.goto(`${base}/#/new`);
  await byId(page, 'policy-form').waitFor();
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(await byId(page, 'restored-banner').count(), 0);
  // A real unsaved new policy is restored, with the banner.
  await byId(page, 'policy-name').fill('kept for later');
  await new Promise((r) => setTimeout(r, 600));
  await page.reload();
  await byId(page, 'restored-banner').waitFor();
  assert.equal(await byId(page, 'policy-name').inputValue(), 'kept for later');
  await byId(page, 'discard-draft').click();
  assert.equal(await byId(page, 'restored-banner').count(), 0);
});

// ------------------------------------------------------------------ lifecycle (issue 21)

/** An API token of a new user of the organization, made with the CLI. */
async function makeToken(user, role) {
  const made = await new Promise((resolve, reject) => {
    const p = spawn(bin, ['token', 'create', '--user', user, '--role', role, '--data-dir', dataDir]);
    let text = '';
    p.stdout.on('data', (d) => (text += d));
    p.on('error', reject);
    p.on('exit', () => resolve(text));
  });
  const t = made.match(/vdt_[A-Za-z0-9_-]+/)?.[0];
  assert.ok(t, `no token in: ${made}`);
  return t;
}

async function signInWith(p, t, who) {
  await p.goto(base + '/');
  await byId(p, 'token-input').fill(t);
  await byId(p, 'signin-button').click();
  await waitText(p, 'whoami', (x) => x.includes(who));
}

/** Screenshots of the current screen at 1280×800 and 1920×1080; what sticks out sideways. */
async function bothSizes(p, name) {
  const size = p.viewportSize();
  const problems = [];
  for (const [w, h] of [[1280, 800], [1920, 1080]]) {
    await p.setViewportSize({ width: w, height: h });
    await p.waitForTimeout(100);
    await p.screenshot({ path: join(out, `${name}-${w}x${h}.png`), fullPage: false });
    problems.push(...(await overflow(p)).map((x) => `${name} ${w}×${h}: ${x}`));
  }
  await p.setViewportSize(size);
  return problems;
}

// The organization's policy tests for the invoices policy: both pass on the active set.
const invoiceTests = {
  tests: [
    {
      name: 'an analyst of tenant 1 reads only tenant 1 invoices',
      context: { user: 'e2e-analyst', roles: ['analyst'], attributes: { tenant_id: 1 } },
      sql: 'SELECT id, total FROM invoices',
      expect: { verdict: 'row_filter', row_filters: [{ table: 'invoices' }] },
    },
    {
      name: 'customer e-mails are masked',
      context: { user: 'e2e-analyst', roles: ['analyst'], attributes: { tenant_id: 1 } },
      sql: 'SELECT customer_email FROM invoices',
      expect: { verdict: ['mask', 'row_filter'], masked_columns: ['invoices.customer_email'] },
    },
  ],
};

test('tests panel: the stored policy tests run on the draft after each edit, red and green, with coverage; the verdict does not wait for them', async () => {
  const stored = await api('PUT', '/api/v1/policy-tests', invoiceTests);
  assert.equal(stored.status, 200, JSON.stringify(stored.body));
  assert.equal(stored.body.report.failed, 0, `the suite passes on the active set: ${JSON.stringify(stored.body.report)}`);
  await openPolicy(page, 'e2e-invoices');
  await byId(page, 'side-tests').click();
  await byId(page, 'tests-panel').waitFor();
  await waitText(page, 'tests-summary', (t) => t === '2 of 2 passed');
  await waitText(page, 'side-tests', (t) => t === 'Tests 2/2');
  const cases = page.locator('[data-testid="test-case"]');
  assert.equal(await cases.count(), 2);
  assert.deepEqual(await cases.evaluateAll((els) => els.map((e) => e.dataset.passed)), ['true', 'true']);
  // Coverage counts the rules of the enforced policies that some case exercised.
  const coverage = await textOf(page, 'tests-coverage');
  assert.match(coverage, /^\d+ of \d+ rules exercised$/);
  const [exercised, rules] = coverage.match(/\d+/g).map(Number);
  assert.ok(exercised >= 2 && exercised < rules, coverage);
  const uncovered = await byId(page, 'tests-uncovered').locator('li').allTextContents();
  assert.equal(uncovered.length, rules - exercised);
  assert.ok(!uncovered.some((u) => u.startsWith('e2e-invoices ')), `both rules of e2e-invoices are exercised: ${uncovered}`);

  // The draft disabled: both cases turn red, each with what differed; nothing was saved.
  const run = async () => Number(await byId(page, 'tests-panel').getAttribute('data-run'));
  const before = await run();
  await byId(page, 'policy-enabled').uncheck();
  await waitText(page, 'tests-summary', (t) => t === '0 of 2 passed');
  assert.ok((await run()) > before);
  assert.deepEqual(await cases.evaluateAll((els) => els.map((e) => e.dataset.passed)), ['false', 'false']);
  assert.match(await cases.nth(0).textContent(), /verdict: expected row_filter, got allow/);
  assert.match(await cases.nth(1).textContent(), /verdict: expected .*got allow/);
  await waitText(page, 'side-tests', (t) => t === 'Tests 0/2');
  await checkA11y(page, 'tests panel');
  const layout = await bothSizes(page, '20-tests-panel-failing');
  await byId(page, 'policy-enabled').check();
  await waitText(page, 'tests-summary', (t) => t === '2 of 2 passed');
  layout.push(...(await bothSizes(page, '20b-tests-panel')));
  assert.deepEqual(layout, []);

  // Keystrokes in a predicate with the tests loaded: the verdict is in the DOM before any
  // test run starts (runs wait for a pause in typing), and the tests follow the last key.
  await byId(page, 'side-preview').click();
  await waitText(page, 'verdict-badge', (t) => t.length > 0);
  const typed = ' AND total >= 0';
  const m = await typeAndObserve(page, 'rule-1-predicate', typed);
  for (let i = 0; i < typed.length; i++) await page.keyboard.press('Backspace');
  const testRuns = m.spans.filter((s) => s.name === 'tests');
  const lastKey = m.keys[m.keys.length - 1];
  const inDom = stats(m.dom);
  const painted = stats(m.lat);
  console.log(`keystroke-to-verdict with the policy tests loaded (${m.keys.length} keys): in the DOM p50 ${inDom.p50_ms} / p95 ${inDom.p95_ms} ms,` +
    ` painted p50 ${painted.p50_ms} / p95 ${painted.p95_ms} ms; test runs during typing: ${testRuns.filter((s) => s.start < lastKey).length},` +
    ` after: ${testRuns.filter((s) => s.start >= lastKey).length} (${testRuns.map((s) => r2(s.duration)).join(', ')} ms)`);
  writeFileSync(join(out, 'perf-tests-panel.json'), JSON.stringify({ keys: m.keys.length, in_dom: inDom, painted, test_runs: testRuns.map((s) => ({ start_after_last_key_ms: r2(s.start - lastKey), duration_ms: r2(s.duration) })) }, null, 1));
  // Debounced: a run waits for a pause in typing, so none starts between a keydown and
  // its verdict in the DOM (on a loaded machine, keys sent 40 ms apart may arrive with
  // pauses long enough for a run between them), and one follows the last key.
  const critical = m.keys.map((k, i) => [k, k + (m.dom[i] ?? 0)]);
  const inside = testRuns.filter((s) => critical.some(([a, b]) => s.start > a && s.start < b));
  assert.deepEqual(inside, [], `test runs inside a keystroke's way to its verdict: ${JSON.stringify(inside)}`);
  assert.ok(testRuns.some((s) => s.start >= lastKey), 'the tests ran after the last key');
  assert.ok(testRuns.length < m.keys.length, `runs wait for pauses: ${testRuns.length} runs for ${m.keys.length} keys`);
  assert.ok(inDom.p50_ms < 16, `verdict in the DOM p50 ${inDom.p50_ms} ms`);
  await byId(page, 'side-tests').click();
  await waitText(page, 'tests-summary', (t) => t === '2 of 2 passed');
});

test('why is this row hidden: the blamed conjunct, the bound context, the change that admits it, and a diagnostic SQL that PostgreSQL agrees with', async () => {
  await openPolicy(page, 'e2e-invoices');
  await byId(page, 'side-preview').click();
  await byId(page, 'ctx-preset').selectOption('Analyst of tenant 1');
  await byId(page, 'explain-toggle').click();
  await byId(page, 'explain-table').selectOption('public.invoices');
  for (const [col, v] of [['id', '5'], ['tenant_id', '2'], ['customer_email', 'x@two.example'], ['total', '150'], ['issued_on', '2024-01-01']]) {
    await byId(page, `explain-col-${col}`).fill(v);
  }
  await waitText(page, 'explain-outcome', (t) => t === 'hidden');
  const blamed = page.locator('[data-testid="explain-conjunct"][data-blamed="true"]');
  assert.equal(await blamed.count(), 1);
  assert.match(await blamed.textContent(), /tenant_id = ctx\.attr\.tenant_id/);
  assert.match(await blamed.locator('[data-testid="explain-bound"]').textContent(), /ctx\.attr\.tenant_id = 1/);
  assert.match(await textOf(page, 'explain-admit'), /ctx\.attr\.tenant_id: 1 → 2/);
  const sql = await textOf(page, 'explain-sql');
  assert.match(sql, /\bc1\b/);
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  await byId(page, 'explain-copy').click();
  await waitText(page, 'explain-copy', (t) => t.startsWith('copied'));
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), sql);

  // The diagnostic SQL on the real row in PostgreSQL: the blamed conjunct is false there.
  const psql = (q) => execFileSync(join(pg.bin, 'psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(pg.port), '-U', 'postgres', '-d', 'warehouse', '-c', q], { encoding: 'utf8' });
  psql(`CREATE TABLE IF NOT EXISTS invoices (id integer PRIMARY KEY, tenant_id integer, customer_email text, total numeric(12,2), issued_on date);
        INSERT INTO invoices VALUES (5, 2, 'x@two.example', 150, '2024-01-01') ON CONFLICT (id) DO NOTHING`);
  const conjuncts = await page.locator('[data-testid="explain-conjunct"]').evaluateAll((els) => els.map((e) => e.dataset.blamed));
  const row = psql(sql).trim().split('|');
  assert.equal(row.length, conjuncts.length, `one column per conjunct: ${row}`);
  assert.deepEqual(row.map((v) => v !== 't'), conjuncts.map((b) => b === 'true'), `PostgreSQL says ${row}`);

  // The context it proposes admits the row.
  await byId(page, 'ctx-preset').selectOption('Analyst of tenant 2');
  await waitText(page, 'explain-outcome', (t) => t === 'visible');
  await byId(page, 'ctx-preset').selectOption('Analyst of tenant 1');
  await waitText(page, 'explain-outcome', (t) => t === 'hidden');
  await byId(page, 'explain-row').scrollIntoViewIfNeeded();
  await checkA11y(page, 'why is this row hidden');
  assert.deepEqual(await bothSizes(page, '21-explain-row'), []);
  await byId(page, 'explain-toggle').click();
});

test('review: a saved change becomes a change request; self-approval is refused; another editor approves; a failing policy test blocks publishing until an admin overrides with a reason', async () => {
  const me = (await api('GET', '/api/v1/me')).body;
  const reviewerToken = await makeToken('rita', 'editor');
  // PUT takes the whole settings document.
  const settings = (await api('GET', '/api/v1/settings')).body;
  const on = await api('PUT', '/api/v1/settings', { ...settings, review: { required: true, approvals: 1 } });
  assert.equal(on.status, 200, JSON.stringify(on.body));
  let reviewer;
  try {
    // The author saves: nothing is enforced yet, a draft change request opens.
    await openPolicy(page, 'e2e-invoices');
    await byId(page, 'policy-enabled').uncheck();
    await byId(page, 'save').click();
    await byId(page, 'change-page').waitFor();
    const n = Number(page.url().match(/#\/review\/policy\/e2e-invoices\/(\d+)$/)?.[1]);
    assert.ok(n > 0, page.url());
    assert.notEqual((await api('GET', '/api/v1/policies/e2e-invoices')).body.enabled, false, 'the active version is unchanged');
    await waitText(page, 'cr-status', (t) => t === 'Draft');
    await byId(page, 'cr-submit').click();
    await waitText(page, 'review-done', (t) => t === 'submitted for review');
    await waitText(page, 'cr-status', (t) => t === 'In review');
    // The author approving their own change: the server's refusal, as it says it.
    await byId(page, 'review-approve').click();
    const refusal = await waitText(page, 'review-refusal-text', (t) => t.length > 0);
    assert.match(refusal, /self_approval, 403/);
    await checkA11y(page, 'change request (author)');

    // The reviewer: the list filtered by status (in the URL), then the change.
    reviewer = await newPage();
    await signInWith(reviewer, reviewerToken, 'rita (editor)');
    await byId(reviewer, 'nav-review').click();
    await byId(reviewer, 'review-list').waitFor();
    await byId(reviewer, 'review-filter-in_review').click();
    await until(() => reviewer.url().endsWith('#/review?status=in_review'), 'the filter in the URL');
    await byId(reviewer, `cr-e2e-invoices-${n}`).waitFor();
    assert.equal(await byId(reviewer, 'review-filter-in_review').getAttribute('aria-pressed'), 'true');
    const rows = await reviewer.locator('[data-testid="review-list"] tbody tr').allTextContents();
    assert.ok(rows.every((r) => r.includes('In review')), `only changes in review: ${rows}`);
    await checkA11y(reviewer, 'review list');
    const layout = await bothSizes(reviewer, '22-review-list');
    await byId(reviewer, `cr-e2e-invoices-${n}`).locator('a').click();
    await byId(reviewer, 'change-diff').waitFor();
    const diff = await reviewer.locator('[data-testid="diff-row"]').allTextContents();
    assert.equal(diff.length, 1, `one field changed: ${diff}`);
    assert.match(diff[0], /^enabled/);
    assert.match(diff[0], /false/);
    // Back returns to the filtered list, then to the unfiltered one.
    await reviewer.goBack();
    await until(() => reviewer.url().endsWith('#/review?status=in_review'), 'back to the filtered list');
    await byId(reviewer, 'review-list').waitFor();
    assert.equal(await byId(reviewer, 'review-filter-in_review').getAttribute('aria-pressed'), 'true');
    await reviewer.goBack();
    await until(() => reviewer.url().endsWith('#/review'), 'back to every change request');
    await until(async () => (await byId(reviewer, 'review-filter-all').getAttribute('aria-pressed')) === 'true', 'the All filter');
    await reviewer.goForward();
    await reviewer.goForward();
    await byId(reviewer, 'change-diff').waitFor();

    // Approve with a comment.
    await byId(reviewer, 'review-comment').fill('Disabling it for the migration window is fine.');
    await byId(reviewer, 'review-approve').click();
    await waitText(reviewer, 'review-done', (t) => t === 'approved');
    await waitText(reviewer, 'cr-status', (t) => t === 'Approved');
    assert.match(await textOf(reviewer, 'reviews'), /rita.*approve.*Disabling it for the migration window is fine\./s);
    layout.push(...(await bothSizes(reviewer, '23-change-request')));
    await checkA11y(reviewer, 'change request (reviewer)');

    // Publishing runs the organization's tests on the set it would make active: refused,
    // each failing case listed; an editor cannot override.
    await byId(reviewer, 'cr-publish').click();
    await waitText(reviewer, 'review-refusal-text', (t) => t.includes('policy_tests_failed, 422'));
    const failing = await byId(reviewer, 'failing-tests').locator('li').allTextContents();
    assert.equal(failing.length, 2, `${failing}`);
    assert.ok(failing.some((f) => f.startsWith('customer e-mails are masked')), `${failing}`);
    assert.equal(await byId(reviewer, 'override-reason').count(), 0, 'only an admin may override');
    layout.push(...(await bothSizes(reviewer, '24-publish-refused')));
    await checkA11y(reviewer, 'publish refused');
    assert.deepEqual(layout, []);
    assert.notEqual((await api('GET', '/api/v1/policies/e2e-invoices')).body.enabled, false, 'still not enforced');

    // The admin publishes over the failing tests with a reason, which is audited.
    await page.goto(`${base}/#/review`);
    await byId(page, 'review-list').waitFor();
    await byId(page, `cr-e2e-invoices-${n}`).locator('a').click();
    await waitText(page, 'cr-status', (t) => t === 'Approved');
    await byId(page, 'cr-publish').click();
    await waitText(page, 'review-refusal-text', (t) => t.includes('policy_tests_failed'));
    await byId(page, 'override-reason').fill('INC-42: invoices feed paused');
    await byId(page, 'override-publish').click();
    await waitText(page, 'review-done', (t) => t.startsWith('published'));
    await waitText(page, 'cr-status', (t) => t === 'Active');
    assert.equal((await api('GET', '/api/v1/policies/e2e-invoices')).body.enabled, false, 'the published version is enforced');
    const trail = (await api('GET', '/api/v1/audit?limit=20')).body.items;
    const override = trail.find((e) => e.action === 'policy_tests.override');
    assert.ok(override, `an audited override: ${JSON.stringify(trail.map((e) => e.action))}`);
    assert.match(JSON.stringify(override), /INC-42: invoices feed paused/);
    assert.ok(me.user, 'the admin has a user name');
  } finally {
    await reviewer?.context().close();
    // Review off again, and the policy enabled again (the tests pass with it).
    const off = await api('PUT', '/api/v1/settings', { ...settings, review: { required: false, approvals: 1 } });
    assert.equal(off.status, 200, JSON.stringify(off.body));
    const cur = await api('GET', '/api/v1/policies/e2e-invoices');
    if (cur.body.enabled === false) {
      const r = await api('PATCH', '/api/v1/policies/e2e-invoices', { enabled: true }, { 'If-Match': `"${cur.body.revision}"` });
      assert.equal(r.status, 200, JSON.stringify(r.body));
    }
  }
});

test('performance: keystroke-to-rendered-verdict latency and first-load transfer size', async () => {
  // First load, as a new visitor: every byte the sign-in page needs.
  const fresh = await newPage();
  await fresh.goto(base + '/');
  await byId(fresh, 'signin-form').waitFor();
  const entries = await fresh.evaluate(() =>
    [...performance.getEntriesByType('navigation'), ...performance.getEntriesByType('resource')].map((e) => ({
      name: e.name, transferSize: e.transferSize, encodedBodySize: e.encodedBodySize, decodedBodySize: e.decodedBodySize,
    })));
  let transfer = 0;
  let gzipped = 0;
  for (const e of entries) {
    transfer += e.transferSize;
    const body = Buffer.from(await (await fetch(e.name)).arrayBuffer());
    gzipped += gzipSync(body, { level: 9 }).length;
  }
  await fresh.context().close();

  // Keystrokes in the query, against the example set, 22 more policies and the new one.
  await openPolicy(page, 'e2e-invoices');
  await byId(page, 'side-preview').click();
  const query =
    "SELECT c.name, c.email, c.ssn, o.amount, i.total FROM customers c JOIN orders o ON o.customer_id = c.id " +
    "JOIN invoices i ON i.tenant_id = c.tenant_id WHERE o.status = 'open' AND i.total > 100 ORDER BY o.amount DESC LIMIT 50";
  await byId(page, 'sql-input').fill(query);
  await waitText(page, 'verdict-badge', (t) => t === 'row_filter');
  const queryTyping = await measureTyping(page, 'sql-input', ' -- typed key by key');
  await byId(page, 'side-preview').click();
  const predicateTyping = await measureTyping(page, 'rule-1-predicate', ' AND total >= 0');
  const perf = {
    policies: Number((await textOf(page, 'preview-count')).match(/\d+/)[0]),
    load_average: loadavg().map((x) => +x.toFixed(2)),
    query_typing: queryTyping,
    predicate_typing: predicateTyping,
    first_load: { resources: entries.length, transfer_bytes: transfer, gzipped_bytes: gzipped },
  };
  writeFileSync(join(out, 'perf.json'), JSON.stringify(perf, null, 1));
  for (const [what, m] of [['query', queryTyping], ['predicate', predicateTyping]]) {
    const et = m.event_timing;
    const b = m.breakdown_ms;
    const parts = Object.entries(b.p50).map(([k, v]) => `${k} ${v}`).join(', ');
    const parts95 = Object.entries(b.p95).map(([k, v]) => `${k} ${v}`).join(', ');
    console.log(`keystroke-to-rendered-verdict (${what}, ${m.keystrokes} keys): p50 ${m.p50_ms} ms, p95 ${m.p95_ms} ms` +
      ` (verdict in the DOM: p50 ${m.in_dom.p50_ms} ms, p95 ${m.in_dom.p95_ms} ms;` +
      ` Event Timing: ${et.reported} of ${et.keystrokes} keys at 16 ms or more, p50 ${et.p50_ms}, p95 ${et.p95_ms})`);
    console.log(`  per keystroke (traced run), p50 ms: ${parts}`);
    console.log(`  p95 ms: ${parts95}`);
    console.log(`  work (input + frame) p50 ${b.work.p50_ms} / p95 ${b.work.p95_ms} ms;` +
      ` keydown to frame committed p50 ${b.keydown_to_frame_committed.p50_ms} / p95 ${b.keydown_to_frame_committed.p95_ms} ms`);
  }
  console.log(`first load: ${entries.length} resources, ${transfer} bytes transferred, ${gzipped} bytes gzipped`);
  assert.ok(gzipped <= 1.5 * 1024 * 1024, `first load gzipped ${gzipped} > 1.5 MB`);
  // What the browser fetched (the server gzips the editor's files): at most 1 MiB.
  assert.ok(transfer <= 1024 * 1024, `first load transferred ${transfer} bytes > 1 MiB`);
  // Bounds a regression would cross, not the target: the machine running this may be
  // shared (a load of 13 on 2 cores has pushed the p95 to 100 ms), and the wait for the
  // next 60 Hz frame alone spreads the total over 0–17 ms.
  for (const m of [queryTyping, predicateTyping]) {
    assert.ok(m.in_dom.p50_ms < 16, `verdict in the DOM p50 ${m.in_dom.p50_ms} ms`);
    assert.ok(m.breakdown_ms.work.p50_ms < 16, `a keystroke's work (input and its frame) p50 ${m.breakdown_ms.work.p50_ms} ms`);
    assert.ok(m.p95_ms < 250, `keystroke to painted verdict p95 ${m.p95_ms} ms`);
  }
  await shot(page, '10-preview-realistic');
});

test('layout at 1280×800 and 1920×1080: nothing sticks out of the window', async () => {
  const p = await newPage({ viewport: { width: 1280, height: 800 } });
  await signIn(p);
  const problems = [];
  for (const [w, h] of [[1280, 800], [1920, 1080]]) {
    await p.setViewportSize({ width: w, height: h });
    await p.goto(`${base}/#/`);
    await byId(p, 'page-info').waitFor();
    await waitText(p, 'page-info', (t) => t.startsWith('1–20'));
    await shot(p, `11-list-${w}x${h}`);
    problems.push(...(await overflow(p)).map((x) => `${w}×${h} list: ${x}`));
    await openPolicy(p, 'e2e-invoices');
    await waitText(p, 'verdict-badge', (t) => t.length > 0);
    await shot(p, `12-editor-${w}x${h}`);
    problems.push(...(await overflow(p)).map((x) => `${w}×${h} editor: ${x}`));
    // Scrolled to the end of the policy, the header with Save is still in the window.
    const scrolled = await p.evaluate(() => {
      window.scrollTo(0, document.documentElement.scrollHeight);
      return window.scrollY;
    });
    if (w === 1280) assert.ok(scrolled > 0, `the editor at ${w}×${h} is long enough to scroll`);
    const save = await byId(p, 'save').boundingBox();
    if (!save || save.y < 0 || save.y + save.height > h) problems.push(`${w}×${h} editor scrolled by ${scrolled}: Save is out of the window (${JSON.stringify(save)})`);
    // …and the side column's tabs are below it, not under it.
    const head = await p.locator('.editor-page > .page-head').boundingBox();
    const sideTab = await byId(p, 'side-history').boundingBox();
    if (!head || !sideTab || sideTab.y < head.y + head.height - 1) problems.push(`${w}×${h} editor scrolled by ${scrolled}: the side tabs (${JSON.stringify(sideTab)}) are under the header (${JSON.stringify(head)})`);
    await shot(p, `12b-editor-scrolled-${w}x${h}`);
    await p.evaluate(() => window.scrollTo(0, 0));
    await byId(p, 'side-history').click();
    await byId(p, 'version-1').waitFor();
    await shot(p, `13-history-${w}x${h}`);
    problems.push(...(await overflow(p)).map((x) => `${w}×${h} history: ${x}`));
    await p.goto(`${base}/#/catalog`);
    await byId(p, 'catalog-page').waitFor();
    await shot(p, `14-catalog-${w}x${h}`);
    problems.push(...(await overflow(p)).map((x) => `${w}×${h} catalog: ${x}`));
    await p.goto(`${base}/#/audit`);
    await byId(p, 'log-count').waitFor();
    await byId(p, 'audit-24h').waitFor();
    await shot(p, `18-audit-${w}x${h}`);
    problems.push(...(await overflow(p)).map((x) => `${w}×${h} audit: ${x}`));
  }
  await p.context().close();
  assert.deepEqual(problems, []);
});

test('accessibility: axe finds nothing on the main screens', () => {
  for (const screen of ['sign-in', 'list', 'editor with preview', 'history', 'catalog', 'conflict', 'missing policy', 'audit', 'data preview', 'audit with deleted policies and diffs',
    'tests panel', 'why is this row hidden', 'review list', 'change request (author)', 'change request (reviewer)', 'publish refused']) {
    assert.ok(axeResults[screen], `axe did not run on ${screen}`);
  }
  const bad = Object.entries(axeResults).flatMap(([screen, vs]) => vs
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${screen}: ${v.impact} ${v.id} (${v.help}) at ${v.nodes.map((n) => n.target).slice(0, 3).join(', ')}`));
  const rest = Object.values(axeResults).flat().filter((v) => v.impact !== 'serious' && v.impact !== 'critical');
  console.log(`axe: ${Object.keys(axeResults).length} screens, ${bad.length} serious or critical, ${rest.length} minor or moderate` +
    (rest.length ? ` (${[...new Set(rest.map((v) => v.id))].join(', ')})` : ''));
  assert.deepEqual(bad, []);
  assert.deepEqual(rest.map((v) => `${v.impact} ${v.id}: ${v.nodes.map((n) => n.target).slice(0, 3).join(', ')}`), []);
});

test('no uncaught errors in the page', () => {
  assert.deepEqual(pageErrors, []);
});
