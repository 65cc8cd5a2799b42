// `node bench/export.mjs` (after `npm run build`): throughput and memory of the list export
// (GET /v1/projects/{p}/apps/{a}/consents/{list_type}:export) against a real PostgreSQL, beside
// the bare COPY it streams. See bench/README.md (Export).
//
// 1. creates a fresh database (consent_gate_export_<timestamp>_<pid>) on DATABASE_URL's server;
// 2. boots the built service (dist/src/main.js) on it as a child process (it runs the
//    migrations) and waits for GET /health;
// 3. seeds BENCH_EXPORT_ROWS (default 1,000,000) opted-out identities of one app on one list
//    with one INSERT ... generate_series straight into consent_state (plus 10 % opted back in,
//    and another list, that the export must skip), then ANALYZE;
// 4. in BENCH_EXPORT_ROUNDS interleaved rounds (default 3), for CSV then NDJSON:
//    a. baseline: the very COPY (SELECT ...) TO STDOUT statement the service runs
//       (listExportSql, from the build), through a bare pg client and pg-copy-streams, its bytes
//       counted and dropped;
//    b. the HTTP export of the same list from the service (node:http, bytes and lines counted and
//       dropped), checking the row count, while the service's VmRSS is sampled every 50 ms from
//       /proc/<pid>/status; its idle RSS is sampled for a second before each export;
// 5. prints rows/s and MB/s of both, the ratio (target >= 0.5) and the RSS rise over idle (target
//    <= 50 MB) per format (medians of the rounds; RSS: the largest rise of any round);
// 6. always: stops the service and drops the database (also on SIGINT and on the time limit).
import { existsSync } from 'node:fs';
import { request } from 'node:http';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import copyStreams from 'pg-copy-streams';
import {
  fmt,
  benchRun,
  intEnv,
  median,
  printTable,
  rssKb,
  startService as startBenchService,
} from './lib.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH_DIR, '..');

const ROWS = intEnv('BENCH_EXPORT_ROWS', 1_000_000);
const ROUNDS = intEnv('BENCH_EXPORT_ROUNDS', 3);
const TIMEOUT_S = intEnv('BENCH_TIMEOUT_S', 900);
const BASE_DB_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const TARGETS = { ratio: 0.5, rssDeltaMb: 50 };
const APP = { projectId: 'bench-export-project', appId: 'bench-export-app' };
const LIST = 'OPT_OUT_MARKETING';
const ADMIN_API_KEY = `bench-admin-key-${Math.random().toString(36).slice(2)}-0123456789`;
const EXPORT_PATH = `/v1/projects/${APP.projectId}/apps/${APP.appId}/consents/${LIST}:export`;

const REPOSITORY = path.join(ROOT, 'dist', 'src', 'exports', 'exports.repository.js');
const CONFIG_MODULE = path.join(ROOT, 'dist', 'src', 'config', 'app-config.js');
if (!existsSync(REPOSITORY) || !existsSync(CONFIG_MODULE)) {
  console.error('dist/ not found or without the exports: build first (npm run build)');
  process.exit(2);
}
const { listExportSql } = await import(pathToFileURL(REPOSITORY).href);
const { configKeys } = await import(pathToFileURL(CONFIG_MODULE).href);
// The service runs on its defaults plus what is set below, not on the caller's shell.
for (const key of [...configKeys(), 'NODE_OPTIONS']) delete process.env[key];

const { state, cleanup, createDatabase } = benchRun({
  baseDbUrl: BASE_DB_URL,
  timeoutS: TIMEOUT_S,
});

const log = (msg) => console.log(`[export] ${msg}`);

/** A Writable that counts the bytes and the newlines it is given, and keeps nothing. */
function counter() {
  const c = { bytes: 0, lines: 0 };
  c.sink = new Writable({
    write(chunk, _enc, cb) {
      c.bytes += chunk.length;
      for (let i = chunk.indexOf(10); i !== -1; i = chunk.indexOf(10, i + 1)) c.lines++;
      cb();
    },
  });
  return c;
}

/** The median VmRSS over `ms` (the service idle). */
async function idleRss(pid, ms = 1000) {
  const samples = [];
  const end = Date.now() + ms;
  while (Date.now() < end) {
    samples.push(rssKb(pid));
    await new Promise((r) => setTimeout(r, 50));
  }
  return median(samples);
}

async function bareCopy(client, format) {
  const c = counter();
  const started = performance.now();
  await pipeline(client.query(copyStreams.to(listExportSql(APP, LIST, format))), c.sink);
  return { seconds: (performance.now() - started) / 1000, bytes: c.bytes, lines: c.lines };
}

async function httpExport(base, pid, format) {
  const idle = await idleRss(pid);
  let peak = idle;
  const sampler = setInterval(() => (peak = Math.max(peak, rssKb(pid))), 50);
  const c = counter();
  const started = performance.now();
  try {
    await new Promise((resolve, reject) => {
      const req = request(`${base}${EXPORT_PATH}`, {
        headers: {
          authorization: `Bearer ${ADMIN_API_KEY}`,
          accept: format === 'csv' ? 'text/csv' : 'application/x-ndjson',
        },
      });
      req.on('error', reject);
      req.on('response', (res) => {
        if (res.statusCode !== 200) {
          reject(new Error(`HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        pipeline(res, c.sink).then(
          () => (res.complete ? resolve() : reject(new Error('cut short'))),
          reject,
        );
      });
      req.end();
    });
  } finally {
    clearInterval(sampler);
  }
  const seconds = (performance.now() - started) / 1000;
  return {
    seconds,
    bytes: c.bytes,
    lines: c.lines,
    idleKb: idle,
    peakKb: Math.max(peak, rssKb(pid)),
  };
}

let errored = false;
let missed = false;
try {
  const created = await createDatabase('export');
  const version = [{ server_version: created.serverVersion }];
  const dbUrl = created.url;

  const { proc: service, base } = await startBenchService({
    root: ROOT,
    state,
    dbUrl,
    adminApiKey: ADMIN_API_KEY,
    env: { OUTBOX_WORKER_ENABLED: 'false' },
    healthTimeoutMs: 90_000,
  });

  const db = new pg.Client({ connectionString: dbUrl });
  await db.connect();
  let started = Date.now();
  // ROWS identities on the list; every 10th of another ROWS / 9 opted back in, and a tenth of
  // them on another list: rows the export must skip.
  await db.query(
    `INSERT INTO consent_state (project_id, app_id, identity, list_type, opted_out, since, origin,
                                last_event_time, updated_at, audit_record_id, source)
     SELECT $1, $2, '1555' || lpad(g::text, 8, '0'), $3, true,
            timestamptz '2026-01-01T00:00:00Z' + (g % 86400000) * interval '1 millisecond',
            CASE WHEN g % 3 = 0 THEN 'ORIGIN_IMPORT' ELSE 'ORIGIN_API' END,
            timestamptz '2026-01-01T00:00:00Z', now(), g,
            CASE WHEN g % 3 = 0 THEN 'twilio' END
       FROM generate_series(1, $4::int) AS g
     UNION ALL
     SELECT $1, $2, '1666' || lpad(g::text, 8, '0'), $3, false, now(), 'ORIGIN_API', now(), now(), g, NULL
       FROM generate_series(1, $4::int / 9) AS g
     UNION ALL
     SELECT $1, $2, '1555' || lpad(g::text, 8, '0'), 'OPT_OUT_ALL', true, now(), 'ORIGIN_API', now(), now(), g, NULL
       FROM generate_series(1, $4::int / 10) AS g`,
    [APP.projectId, APP.appId, LIST, ROWS],
  );
  await db.query('ANALYZE consent_state');
  log(
    `seeded ${fmt.int(ROWS)} identities on ${LIST} (plus rows to skip) in ${Date.now() - started} ms`,
  );

  // Warm-up: the service's export path and the database's cache, once each, not measured.
  await httpExport(base, service.child.pid, 'csv');
  await bareCopy(db, 'ndjson');

  const results = { csv: { bare: [], http: [] }, ndjson: { bare: [], http: [] } };
  for (let round = 1; round <= ROUNDS; round++) {
    for (const format of ['csv', 'ndjson']) {
      const expectedLines = ROWS + (format === 'csv' ? 1 : 0);
      const bare = await bareCopy(db, format);
      const http = await httpExport(base, service.child.pid, format);
      for (const [label, r] of [
        ['bare COPY', bare],
        ['HTTP export', http],
      ])
        if (r.lines !== expectedLines)
          throw new Error(`${format} ${label}: ${r.lines} lines, expected ${expectedLines}`);
      if (http.bytes !== bare.bytes)
        throw new Error(`${format}: HTTP export ${http.bytes} bytes, bare COPY ${bare.bytes}`);
      results[format].bare.push(bare);
      results[format].http.push(http);
      log(
        `round ${round} ${format}: bare ${bare.seconds.toFixed(2)} s, HTTP ${http.seconds.toFixed(2)} s, ` +
          `RSS idle ${(http.idleKb / 1024).toFixed(1)} MB peak ${(http.peakKb / 1024).toFixed(1)} MB`,
      );
    }
  }
  await db.end();

  console.log(
    `\nList export of ${fmt.int(ROWS)} identities, PostgreSQL ${version[0].server_version}, ` +
      `${ROUNDS} rounds (medians), ${os.cpus().length} cores, load average ` +
      `${os
        .loadavg()
        .map((l) => l.toFixed(1))
        .join(' ')}:\n`,
  );
  const rows = [];
  const verdicts = [];
  for (const format of ['csv', 'ndjson']) {
    const { bare, http } = results[format];
    const mb = bare[0].bytes / 1e6;
    const bareS = median(bare.map((r) => r.seconds));
    const httpS = median(http.map((r) => r.seconds));
    const ratio = bareS / httpS;
    const rssDelta = Math.max(...http.map((r) => (r.peakKb - r.idleKb) / 1024));
    const idle = median(http.map((r) => r.idleKb / 1024));
    rows.push([
      `${format} bare COPY`,
      fmt.int(ROWS / bareS),
      (mb / bareS).toFixed(1),
      `${bareS.toFixed(2)} s`,
      '',
      '',
    ]);
    rows.push([
      `${format} HTTP export`,
      fmt.int(ROWS / httpS),
      (mb / httpS).toFixed(1),
      `${httpS.toFixed(2)} s`,
      `${idle.toFixed(1)} MB`,
      `+${rssDelta.toFixed(1)} MB`,
    ]);
    verdicts.push(
      `${format}: ${mb.toFixed(1)} MB; throughput ratio ${fmt.ratio(ratio)} (target >= ${TARGETS.ratio}) ` +
        `${ratio >= TARGETS.ratio ? 'PASS' : 'MISS'}; RSS rise ${rssDelta.toFixed(1)} MB ` +
        `(target <= ${TARGETS.rssDeltaMb}) ${rssDelta <= TARGETS.rssDeltaMb ? 'PASS' : 'MISS'}`,
    );
    if (ratio < TARGETS.ratio || rssDelta > TARGETS.rssDeltaMb) missed = true;
  }
  printTable(['', 'rows/s', 'MB/s', 'time', 'idle RSS', 'RSS rise (max)'], rows);
  console.log('');
  for (const v of verdicts) console.log(v);
  console.log('(rough figures: a shared 2-core machine; both sides measured in the same run)\n');
} catch (e) {
  errored = true;
  console.error(`bench failed: ${e.stack ?? e.message}`);
  for (const c of state.children) console.error(`service output:\n${c.logTail()}`);
} finally {
  await cleanup();
}
// A MISS fails the run only with BENCH_STRICT=1 (as in run.mjs); an error always does.
process.exit(errored || (missed && process.env.BENCH_STRICT === '1') ? 1 : 0);
