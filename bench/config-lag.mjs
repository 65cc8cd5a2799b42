// `node bench/config-lag.mjs` (after `npm run build`): how long another instance takes to see a
// configuration change, through LISTEN/NOTIFY, on a real PostgreSQL. See bench/README.md.
//
// 1. creates a fresh database (consent_gate_lag_<timestamp>_<pid>) on DATABASE_URL's server;
// 2. boots two instances of the built app (dist/) in this process, A then B, both with
//    SETTINGS_CACHE_TTL_MS=300000 (the most allowed), so that only a notification can explain
//    B seeing a change;
// 3. BENCH_LAG_CHANGES times (default 50): B reads the app's mode (now cached on B), A writes the
//    other mode (PUT consent-settings, through SettingsService), and B reads its mode in a loop
//    until it is the new one. Per change: "notified", from A's commit (A drops the scope right
//    after it) to B dropping the scope on the notification; "visible", from A's commit to B's
//    first read of the new mode (B's reload included); "seen", from the start of A's write to
//    that read (A's whole transaction included); and A's write time. 0 means B was first (both
//    clocks are this process's);
// 4. prints median, p99 and max (and the load average: the figures are only as quiet as the
//    machine); always stops both apps and drops the database.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { loadConfig } from '../dist/src/config/app-config.js';
import { createApp } from '../dist/src/bootstrap.js';
import { AppConfigCache } from '../dist/src/config-cache/app-config-cache.js';
import { SettingsService } from '../dist/src/settings/settings.service.js';

const serverUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const changes = Number(process.env.BENCH_LAG_CHANGES ?? 50);
const BOUND_MS = 1000;

const percentile = (sorted, p) =>
  sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
const ms = (v) => `${v.toFixed(1)} ms`;

const admin = new pg.Client({ connectionString: serverUrl });
await admin.connect();
const name = `consent_gate_lag_${Date.now()}_${process.pid}`;
await admin.query(`CREATE DATABASE ${name}`);
const url = new URL(serverUrl);
url.pathname = `/${name}`;

const apps = [];
let failed = false;
try {
  const env = {
    DATABASE_URL: url.toString(),
    ADMIN_API_KEY: randomBytes(24).toString('hex'),
    LOG_LEVEL: 'warn',
    SETTINGS_CACHE_TTL_MS: '300000',
    OUTBOX_WORKER_ENABLED: 'false',
    SWAGGER_ENABLED: 'false',
  };
  for (const _ of ['A', 'B']) apps.push(await createApp(loadConfig(env)));
  const [a, b] = apps;
  if (!b.get(AppConfigCache).listening) throw new Error('instance B is not listening');
  const writer = a.get(SettingsService);
  const reader = b.get(SettingsService);
  const app = { projectId: 'lag-project', appId: `lag-${randomBytes(4).toString('hex')}` };
  const scope = `app:${app.projectId}/${app.appId}`;
  // When each instance drops the app's scope: A right after its commit, B on the notification.
  const dropped = { A: [], B: [] };
  for (const [label, instance] of [
    ['A', a],
    ['B', b],
  ]) {
    const cache = instance.get(AppConfigCache);
    const drop = cache.drop.bind(cache);
    cache.drop = (s) => {
      if (s === scope) dropped[label].push(performance.now());
      drop(s);
    };
  }
  await writer.put(app, { mode: 'PRIMARY' }, 'admin');

  const lags = [];
  const writes = [];
  const notified = [];
  const visible = [];
  for (let i = 0; i < changes; i++) {
    dropped.A.length = 0;
    dropped.B.length = 0;
    const next = i % 2 === 0 ? 'SECONDARY' : 'PRIMARY';
    await reader.modeOf(app); // the old mode, cached on B
    const start = performance.now();
    const written = writer.put(app, { mode: next }, 'admin');
    let seen;
    for (;;) {
      if ((await reader.modeOf(app)) === next) {
        seen = performance.now();
        break;
      }
      if (performance.now() - start > 10_000) throw new Error(`change ${i} not seen in 10 s`);
      await new Promise((r) => setImmediate(r));
    }
    await written;
    writes.push(performance.now() - start);
    lags.push(seen - start);
    await new Promise((r) => setTimeout(r, 20));
    if (dropped.A.length === 0 || dropped.B.length === 0) throw new Error(`change ${i}: no drop`);
    notified.push(Math.max(0, dropped.B[0] - dropped.A[0]));
    visible.push(Math.max(0, seen - dropped.A[0]));
  }
  for (const arr of [lags, writes, notified, visible]) arr.sort((x, y) => x - y);
  const row = (label, arr) =>
    `  ${label} median ${ms(percentile(arr, 50))}  p99 ${ms(percentile(arr, 99))}  max ${ms(arr.at(-1))}`;
  console.log(
    `config change lag over ${changes} changes, PostgreSQL, load average ${os
      .loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}:`,
  );
  console.log(row('notified (A commits -> B drops)     ', notified));
  console.log(row('visible  (A commits -> B reads)     ', visible));
  console.log(row('seen     (A starts write -> B reads)', lags));
  console.log(row("A's write (PUT consent-settings)    ", writes));
  if (lags.at(-1) > BOUND_MS) {
    console.log(`  MISS: slowest change took more than ${BOUND_MS} ms`);
    failed = true;
  }
} finally {
  for (const app of apps.reverse()) await app.close().catch(() => undefined);
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}
process.exit(failed ? 1 : 0);
