// `node bench/point-in-time.mjs` (after `npm run build`): decisions/s of `consents:check` with
// `at` (the answer as consent stood at an instant, from the audit trail) against the ordinary
// batch check of the same 10,000 identities, in the same run, on a real PostgreSQL.
//
// 1. creates a fresh database (consent_gate_pit_<timestamp>_<pid>) on DATABASE_URL's server
//    (default postgres://postgres@127.0.0.1:5432/test) and boots the built service on it (a child
//    process, which runs the migrations);
// 2. seeds, in SQL, an app with BENCH_PIT_IDENTITIES identities (default 200,000) and a history
//    of about 3.2 audit records each over the last ten days (opt-outs, no-change repeats,
//    superseded and applied opt-ins, second lists), the consent_state those records leave, and
//    a settings history PRIMARY -> SECONDARY -> PRIMARY; then VACUUM ANALYZE (the visibility
//    map that index-only scans need; autovacuum would do it in time);
// 3. checks that the answers are right: at = now equals the ordinary check, and at = the middle
//    of the history equals what the seed says then (lists, mode, decided_by present);
// 4. loads the service with autocannon, 10,000-identity CONTENT_MARKETING checks, in interleaved
//    rounds: ordinary, at = middle of the history, at = now (an instant after the last change),
//    each after a warm-up of two requests per connection (BENCH_PIT_WARMUP=0: none);
// 5. unless BENCH_PIT_WITHOUT_INDEX=0: drops consent_audit_state_change_idx and measures the
//    point-in-time check once more (what the index earns);
// 6. prints medians and ratios; always stops the service and drops the database.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import {
  benchRun,
  fmt,
  intEnv,
  median,
  printTable,
  runLoad,
  startService as startBenchService,
  stopLoad,
} from './lib.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH_DIR, '..');

const CONFIG = {
  identities: intEnv('BENCH_PIT_IDENTITIES', 200_000, 1000),
  rounds: intEnv('BENCH_PIT_ROUNDS', 3),
  durationS: intEnv('BENCH_PIT_DURATION_S', 10),
  warmUp: process.env.BENCH_PIT_WARMUP !== '0',
  connections: intEnv('BENCH_PIT_CONNECTIONS', 4),
  withoutIndex: process.env.BENCH_PIT_WITHOUT_INDEX !== '0',
};
const LOADS_PER_ROUND = 3;
// Each load: its duration, plus a warm-up of a few requests (a few seconds on a busy machine).
const plannedS =
  (CONFIG.rounds * LOADS_PER_ROUND + (CONFIG.withoutIndex ? 1 : 0)) * (CONFIG.durationS + 10);
const TIMEOUT_S = intEnv('BENCH_TIMEOUT_S', plannedS + 300);
const BASE_DB_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const TARGET_RATIO = 0.5;
const BATCH_SIZE = 10_000;
const BATCH_VARIANTS = 8;
const MISS_RATE = 0.1;
const PROJECT_ID = 'bench-project';
const APP_ID = 'bench-pit-app';
const CHECK_PATH = `/v1/projects/${PROJECT_ID}/apps/${APP_ID}/consents:check`;
const ADMIN_API_KEY = `bench-admin-key-${randomBytes(12).toString('hex')}`;
const AUTH = { authorization: `Bearer ${ADMIN_API_KEY}` };
const CONTENT_TYPE = 'CONTENT_MARKETING';
const LIST_TYPES = ['OPT_OUT_ALL', 'OPT_OUT_MARKETING', 'OPT_OUT_NOTIFICATION'];
/** The lists a CONTENT_MARKETING check reads (the decision matrix). */
const MARKETING_LISTS = new Set(['OPT_OUT_ALL', 'OPT_OUT_MARKETING']);

// Variables the service reads: not inherited from the caller's shell (as run.mjs).
const CONFIG_MODULE = path.join(ROOT, 'dist', 'src', 'config', 'app-config.js');
if (!existsSync(CONFIG_MODULE)) {
  console.error(`${CONFIG_MODULE} not found: build first (npm run build)`);
  process.exit(2);
}
const { configKeys } = await import(pathToFileURL(CONFIG_MODULE).href);
for (const key of [...configKeys(), 'NODE_OPTIONS']) delete process.env[key];

const log = (msg) => console.log(`[bench:pit] ${msg}`);

// ---------------------------------------------------------------------------------------------
// The history. Identity g (1..N) is `1555` + g on 7 digits; its records, one second apart in
// the order (step k, g), recorded_at = start + (k * N + g) seconds:
//   k = 0: opt-out of list A = g % 3, APPLIED (INSERT);
//   k = 1: opt-out of A again, NO_CHANGE (UPDATE);
//   k = 2: opt-in of A: APPLIED (DELETE) when g % 4 = 0, else SUPERSEDED (an older event time);
//   k = 3, only when g % 5 = 0: opt-out of list B = (g + 1) % 3, APPLIED (INSERT).
// Settings: PRIMARY at the start, SECONDARY at start + 4 days, PRIMARY at start + 8 days.
// The middle of the history is start + 2.5 N seconds (+ 0.5 s): steps 0 and 1 recorded for every
// identity, step 2 for g <= N / 2.

const DAY_S = 86_400;

/** The lists identity number g is on after the records recorded by `t` (seconds from start). */
function listsAt(g, t, n) {
  const on = new Set();
  const recorded = (k) => k * n + g <= t;
  const a = LIST_TYPES[g % 3];
  if (recorded(0)) on.add(a);
  if (recorded(2) && g % 4 === 0) on.delete(a);
  if (g % 5 === 0 && recorded(3)) on.add(LIST_TYPES[(g + 1) % 3]);
  return [...on].filter((l) => MARKETING_LISTS.has(l)).sort();
}

const modeAt = (t) => (t >= 8 * DAY_S ? 'PRIMARY' : t >= 4 * DAY_S ? 'SECONDARY' : 'PRIMARY');

const seedSql = `
  WITH steps AS (
    SELECT g, k, $4::timestamptz + ((k * $3::int + g) * interval '1 second') AS at
      FROM generate_series(1, $3::int) AS g, generate_series(0, 3) AS k
     WHERE k < 3 OR g % 5 = 0
  )
  INSERT INTO consent_audit
    (kind, project_id, app_id, identity, list_type, origin, operation, outcome, actor, reason,
     evidence, event_time, recorded_at)
  SELECT 'CONSENT_CHANGE', $1, $2, '1555' || lpad(g::text, 7, '0'),
         (ARRAY['OPT_OUT_ALL', 'OPT_OUT_MARKETING', 'OPT_OUT_NOTIFICATION'])[
           CASE WHEN k = 3 THEN (g + 1) % 3 ELSE g % 3 END + 1],
         'ORIGIN_API',
         CASE k WHEN 0 THEN 'OPERATION_INSERT' WHEN 1 THEN 'OPERATION_UPDATE'
                WHEN 2 THEN 'OPERATION_DELETE' ELSE 'OPERATION_INSERT' END,
         CASE WHEN k = 1 THEN 'NO_CHANGE' WHEN k = 2 AND g % 4 <> 0 THEN 'SUPERSEDED'
              ELSE 'APPLIED' END,
         'bench', 'seeded history', '{"ticket": 4711}'::jsonb,
         CASE WHEN k = 2 AND g % 4 <> 0 THEN at - interval '30 days' ELSE at END, at
    FROM steps
   ORDER BY k, g`;

/** The state the records leave: the latest applied record of each identity and list. */
const stateSql = `
  INSERT INTO consent_state
    (project_id, app_id, identity, list_type, opted_out, since, last_event_time, origin, updated_at)
  SELECT DISTINCT ON (identity, list_type) project_id, app_id, identity, list_type,
         operation <> 'OPERATION_DELETE', event_time, recorded_at, origin, recorded_at
    FROM consent_audit
   WHERE project_id = $1 AND app_id = $2 AND kind = 'CONSENT_CHANGE' AND outcome = 'APPLIED'
   ORDER BY identity, list_type, id DESC`;

const settingsSql = `
  WITH history(mode, previous_mode, at) AS (
    VALUES ('PRIMARY', 'PRIMARY', $3::timestamptz),
           ('SECONDARY', 'PRIMARY', $3::timestamptz + interval '4 days'),
           ('PRIMARY', 'SECONDARY', $3::timestamptz + interval '8 days')
  ), audited AS (
    INSERT INTO consent_audit
      (kind, project_id, app_id, identity, actor, reason, evidence, event_time, recorded_at)
    SELECT 'SETTINGS_CHANGE', $1, $2, NULL, 'admin', 'consent settings changed: mode',
           jsonb_build_object('mode', mode, 'matching_profile', 'SINCH_EXACT', 'auto_reply', false,
             'reply_languages', '[]'::jsonb, 'webhook_secrets_count', 0,
             'previous_mode', previous_mode, 'changed', '["mode"]'::jsonb),
           at, at
      FROM history ORDER BY at
  )
  INSERT INTO app_settings (project_id, app_id, mode, auto_reply, created_at, updated_at)
  VALUES ($1, $2, 'PRIMARY', false, $3::timestamptz, $3::timestamptz + interval '8 days')`;

// ---------------------------------------------------------------------------------------------
// Cleanup: once, from the finally block, on SIGINT/SIGTERM, or when the time limit hits.

const { state, cleanup, createDatabase } = benchRun({
  baseDbUrl: BASE_DB_URL,
  timeoutS: TIMEOUT_S,
  log,
  onAbort: stopLoad,
});

// ---------------------------------------------------------------------------------------------
// Steps

function startService(dbUrl) {
  return startBenchService({
    root: ROOT,
    state,
    dbUrl,
    adminApiKey: ADMIN_API_KEY,
    env: { OUTBOX_WORKER_ENABLED: 'false' },
  });
}

/** Seeds the history; returns the start, the middle and "now" (after the last record). */
async function seed(db) {
  const n = CONFIG.identities;
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const started = Date.now();
    // The history (4 N seconds of changes, and the settings changes up to 8 days) ends a minute
    // ago; "now" is half a minute ago, after every record.
    const total = Math.max(4 * n, 8 * DAY_S + 1);
    const { rows } = await client.query(
      `SELECT date_trunc('second', now()) - ($1::int + 60) * interval '1 second' AS start`,
      [total],
    );
    const start = rows[0].start;
    const audit = await client.query(seedSql, [PROJECT_ID, APP_ID, n, start]);
    const states = await client.query(stateSql, [PROJECT_ID, APP_ID]);
    await client.query(settingsSql, [PROJECT_ID, APP_ID, start]);
    log(
      `seeded ${fmt.int(n)} identities: ${fmt.int(audit.rowCount)} audit records, ` +
        `${fmt.int(states.rowCount)} list states, 3 settings changes in ${Date.now() - started} ms`,
    );
    const vacuumStarted = Date.now();
    await client.query('VACUUM ANALYZE consent_audit');
    await client.query('VACUUM ANALYZE consent_state');
    const { rows: sizes } = await client.query(
      `SELECT pg_size_pretty(pg_relation_size('consent_audit')) AS heap,
              pg_size_pretty(pg_relation_size('consent_audit_state_change_idx')) AS state_idx,
              pg_size_pretty(pg_relation_size('consent_audit_identity_idx')) AS identity_idx`,
    );
    log(
      `VACUUM ANALYZE in ${Date.now() - vacuumStarted} ms; consent_audit ${sizes[0].heap}, ` +
        `consent_audit_state_change_idx ${sizes[0].state_idx} (consent_audit_identity_idx ${sizes[0].identity_idx})`,
    );
    const middleS = 2.5 * n + 0.5;
    return {
      start,
      middle: { label: 'middle', at: new Date(start.getTime() + middleS * 1000), t: middleS },
      now: { label: 'now', at: new Date(start.getTime() + (total + 30) * 1000), t: total + 30 },
    };
  } finally {
    await client.end();
  }
}

/** A request's identities: seeded ones at random, MISS_RATE of them never seeded. */
function randomBatch() {
  const out = new Array(BATCH_SIZE);
  for (let i = 0; i < BATCH_SIZE; i++) {
    const g = 1 + Math.floor(Math.random() * CONFIG.identities);
    out[i] = `${Math.random() < MISS_RATE ? '1556' : '1555'}${String(g).padStart(7, '0')}`;
  }
  return out;
}

async function post(base, body) {
  const res = await fetch(base + CHECK_PATH, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...AUTH },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (res.status !== 200) throw new Error(`HTTP ${res.status}: ${JSON.stringify(json)}`);
  return json;
}

/** Throws unless the answer at `moment` is what the seed says (and at = now is the ordinary one). */
async function verify(base, identities, moment, ordinary) {
  const answer = await post(base, {
    identities,
    message_content_type: CONTENT_TYPE,
    at: moment.at.toISOString(),
  });
  const mode = modeAt(moment.t);
  if (answer.mode !== mode) throw new Error(`${moment.label}: mode ${answer.mode}, not ${mode}`);
  answer.results.forEach((r, i) => {
    const g = Number(identities[i].slice(4));
    const lists = identities[i].startsWith('1555') ? listsAt(g, moment.t, CONFIG.identities) : [];
    const decision = lists.length > 0 && mode === 'PRIMARY' ? 'BLOCK' : 'ALLOW';
    if (
      JSON.stringify(r.lists) !== JSON.stringify(lists) ||
      r.decision !== decision ||
      r.decided_by?.length !== lists.length
    ) {
      throw new Error(
        `${moment.label}: ${r.identity}: ${JSON.stringify(r)}, expected ${decision} on ${lists}`,
      );
    }
    if (ordinary) {
      const o = ordinary.results[i];
      if (o.decision !== r.decision || JSON.stringify(o.lists) !== JSON.stringify(r.lists))
        throw new Error(
          `${r.identity}: at = now ${JSON.stringify(r)}, ordinary ${JSON.stringify(o)}`,
        );
    }
  });
  return answer.results.filter((r) => r.lists.length > 0).length;
}

async function main() {
  log(
    `identities=${fmt.int(CONFIG.identities)} rounds=${CONFIG.rounds} duration=${CONFIG.durationS}s ` +
      `connections=${CONFIG.connections} (${os.cpus().length} CPUs, ` +
      `load average ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')})`,
  );
  const db = await createDatabase('pit');
  log(`database ${db.name} on PostgreSQL ${db.serverVersion}`);
  const service = await startService(db.url);
  log(`service up at ${service.base} (migrations run)`);
  const moments = await seed(db);

  const batches = Array.from({ length: BATCH_VARIANTS }, randomBatch);
  const ordinary = await post(service.base, {
    identities: batches[0],
    message_content_type: CONTENT_TYPE,
  });
  const listedNow = await verify(service.base, batches[0], moments.now, ordinary);
  const listedMiddle = await verify(service.base, batches[0], moments.middle, null);
  log(
    `answers verified (${fmt.int(BATCH_SIZE)} identities: ${fmt.int(listedMiddle)} on a list in ` +
      `the middle of the history, ${fmt.int(listedNow)} now; at = now equals the ordinary check)`,
  );

  const bodies = (at) =>
    batches.map((identities) =>
      JSON.stringify({
        identities,
        message_content_type: CONTENT_TYPE,
        ...(at ? { at: at.toISOString() } : {}),
      }),
    );
  const loads = {
    ordinary: bodies(null),
    'at = middle': bodies(moments.middle.at),
    'at = now': bodies(moments.now.at),
  };
  /** Two requests per connection, answered before a load is measured (bodies and plans warm). */
  const warmUp = async (json) => {
    await Promise.all(
      Array.from({ length: CONFIG.connections }, async (_, c) => {
        for (let k = 0; k < 2; k++) {
          const res = await fetch(service.base + CHECK_PATH, {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...AUTH },
            body: json[(c + k) % json.length],
          });
          if (res.status !== 200) throw new Error(`warm-up: HTTP ${res.status}`);
          await res.arrayBuffer();
        }
      }),
    );
  };
  const run = async (label, json, durationS) => {
    let i = 0;
    return runLoad({
      label,
      url: service.base + CHECK_PATH,
      headers: AUTH,
      connections: CONFIG.connections,
      durationS,
      makeBody: () => json[i++ % json.length],
      pid: service.proc.child.pid,
    });
  };

  const results = Object.fromEntries(Object.keys(loads).map((k) => [k, []]));
  for (let round = 1; round <= CONFIG.rounds; round++) {
    // Rotate the order per round, so that no load always runs first or last.
    const names = Object.keys(loads);
    const order = names.map((_, j) => names[(j + round - 1) % names.length]);
    for (const name of order) {
      if (CONFIG.warmUp) await warmUp(loads[name]);
      const r = await run(name, loads[name], CONFIG.durationS);
      results[name].push(r);
      log(
        `round ${round} ${name}: ${fmt.int(r.rps * BATCH_SIZE)} decisions/s ` +
          `(p50 ${fmt.ms(r.p50Ms)}, server CPU ${fmt.us(r.cpuUsPerReq)}/request)`,
      );
    }
  }

  let withoutIndex = null;
  if (CONFIG.withoutIndex) {
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query('DROP INDEX consent_audit_state_change_idx');
      await client.query('ANALYZE consent_audit');
    } finally {
      await client.end();
    }
    await verify(service.base, batches[1], moments.middle, null);
    if (CONFIG.warmUp) await warmUp(loads['at = middle']);
    withoutIndex = await run('at = middle, without index', loads['at = middle'], CONFIG.durationS);
    log(
      `at = middle without consent_audit_state_change_idx: ` +
        `${fmt.int(withoutIndex.rps * BATCH_SIZE)} decisions/s (p50 ${fmt.ms(withoutIndex.p50Ms)})`,
    );
  }

  const dps = (name) => median(results[name].map((r) => r.rps * BATCH_SIZE));
  const base = dps('ordinary');
  console.log('');
  console.log(
    `Point-in-time check, ${fmt.int(BATCH_SIZE)} identities (${CONTENT_TYPE}), ${fmt.int(CONFIG.identities)} seeded, ` +
      `median of ${CONFIG.rounds} rounds of ${CONFIG.durationS} s, ${CONFIG.connections} connections:`,
  );
  const row = (name, value, p50) => [
    name,
    fmt.int(value),
    fmt.ms(p50),
    fmt.ratio(value / base),
    name === 'ordinary' ? '' : value / base >= TARGET_RATIO ? 'PASS' : 'MISS',
  ];
  printTable(
    ['check', 'decisions/s', 'p50', `ratio to ordinary (target >= ${TARGET_RATIO})`, ''],
    [
      ...Object.keys(loads).map((name) =>
        row(name, dps(name), median(results[name].map((r) => r.p50Ms))),
      ),
      ...(withoutIndex
        ? [row('at = middle, no index (1 run)', withoutIndex.rps * BATCH_SIZE, withoutIndex.p50Ms)]
        : []),
    ],
  );
  console.log(
    `(machine load average at the end: ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}; figures are rough)`,
  );
}

try {
  await main();
} catch (e) {
  console.error(`\n[bench:pit] failed: ${e.stack ?? e}`);
  for (const c of state.children) console.error(`--- ${c.name} output ---\n${c.logTail()}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
