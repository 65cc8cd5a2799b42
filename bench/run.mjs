// `npm run bench`: throughput of the send check against a real PostgreSQL. See bench/README.md.
//
// 1. creates a fresh database (consent_gate_bench_<timestamp>_<pid>) on DATABASE_URL's server;
// 2. boots the built service (dist/src/main.js) on it as a child process, which runs the
//    migrations, and waits for GET /health;
// 3. seeds 100k identities onto the opt-out lists with plain SQL, then ANALYZE;
// 4. boots the baseline (bench/baseline-server.mjs: bare Fastify + one pg query);
// 5. checks that both answer correctly, then loads them with autocannon in interleaved rounds
//    (single check) and the service alone with 10,000-identity requests (batch check);
// 6. unless BENCH_SEND_GATE=0: Sinch messages:send through the service (the send gate) to a fake
//    upstream Sinch (bench/fake-sinch-server.mjs, a third child process), and the same requests
//    straight to the fake, in interleaved rounds; the fake counts what it was sent;
// 7. unless BENCH_WEBHOOK=0: signed Sinch MESSAGE_INBOUND callbacks to POST /webhooks/sinch and to
//    the baseline's POST /webhook in interleaved rounds, then checks in the database that every
//    delivery answered 200 left exactly one row;
// 8. prints medians, ratios and PASS/MISS against the targets, writes bench/results/latest.json;
// 9. always: stops the child processes and drops the database (also on SIGINT and on timeout).
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import {
  fmt,
  freePort,
  intEnv,
  median,
  printTable,
  runLoad,
  startNode,
  stopLoad,
  waitForHealthy,
} from './lib.mjs';
import {
  APP_ID,
  BATCH_SIZE,
  IDENTITY_COUNT,
  PROJECT_ID,
  SEED_SQL,
  checkBody,
  randomBatch,
  randomIdentity,
  verifyCheckResponse,
} from './workload.mjs';
import {
  ALLOWED_SEEDED_COUNT,
  SEND_CONTENT_TYPE,
  SEND_PATH,
  SENT_ANSWER,
  SINCH_KEY_ID,
  SINCH_KEY_SECRET,
  SendTraffic,
  blockedIdentity,
  sendBody,
} from './send-gate.mjs';
import {
  WEBHOOK_APP_ID,
  WEBHOOK_IDENTITY_COUNT,
  WEBHOOK_TEXTS,
  WebhookTraffic,
  signedHeaders,
  webhookIdentity,
} from './webhook.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH_DIR, '..');
const RESULTS_FILE = path.join(BENCH_DIR, 'results', 'latest.json');

// ---------------------------------------------------------------------------------------------
// Configuration (environment). Defaults keep the whole run around 5 minutes (plus the build).

const CONFIG = {
  rounds: intEnv('BENCH_ROUNDS', 3),
  durationS: intEnv('BENCH_DURATION_S', 10),
  warmupS: intEnv('BENCH_WARMUP_S', 3, 0),
  batchRounds: intEnv('BENCH_BATCH_ROUNDS', 3),
  connections: intEnv('BENCH_CONNECTIONS', 32),
  batchConnections: intEnv('BENCH_BATCH_CONNECTIONS', 4),
  webhook: process.env.BENCH_WEBHOOK !== '0',
  webhookRounds: intEnv('BENCH_WEBHOOK_ROUNDS', 3),
  webhookConnections: intEnv('BENCH_WEBHOOK_CONNECTIONS', 32),
  webhookAnalyze: process.env.BENCH_WEBHOOK_ANALYZE !== '0',
  sendGate: process.env.BENCH_SEND_GATE !== '0',
  sendGateConnections: intEnv('BENCH_SEND_GATE_CONNECTIONS', 32),
  poolSize: 10, // the service's DATABASE_POOL_SIZE default; the baseline gets the same
  strict: process.env.BENCH_STRICT === '1',
  cpuProfile: process.env.BENCH_CPU_PROF === '1',
};
// Send-gate rounds default to the single check's (BENCH_ROUNDS).
CONFIG.sendGateRounds = intEnv('BENCH_SEND_GATE_ROUNDS', CONFIG.rounds);
// Time limit for the whole run: the planned load time plus 5 minutes for boot, seed and slack.
const plannedS =
  CONFIG.rounds * 2 * (CONFIG.warmupS + CONFIG.durationS) +
  CONFIG.warmupS +
  CONFIG.batchRounds * CONFIG.durationS +
  (CONFIG.webhook ? CONFIG.webhookRounds * 2 * (CONFIG.warmupS + CONFIG.durationS) : 0) +
  (CONFIG.sendGate ? CONFIG.sendGateRounds * 2 * (CONFIG.warmupS + CONFIG.durationS) : 0);
CONFIG.timeoutS = intEnv('BENCH_TIMEOUT_S', plannedS + 300);
const BASE_DB_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const TARGETS = { singleRatio: 0.8, batchDecisionsPerS: 200_000 };
const ADMIN_API_KEY = `bench-admin-key-${Math.random().toString(36).slice(2)}-0123456789`;
const CHECK_PATH = `/v1/projects/${PROJECT_ID}/apps/${APP_ID}/consents:check`;
const AUTH = { authorization: `Bearer ${ADMIN_API_KEY}` };
// Batch bodies are drawn up front (a few MB) and picked at random per request, so the client
// spends its CPU on sending, not on building 10,000-identity arrays.
const BATCH_VARIANTS = 8;
// The webhook secret of the bench app (service) and of the baseline: one per run.
const WEBHOOK_SECRET = `bench-webhook-secret-${randomBytes(12).toString('hex')}`;
const SETTINGS_PATH = `/v1/projects/${PROJECT_ID}/apps/${WEBHOOK_APP_ID}/consent-settings`;
const WEBHOOK_CHECK_PATH = `/v1/projects/${PROJECT_ID}/apps/${WEBHOOK_APP_ID}/consents:check`;
// The tables the webhook load fills, from empty. PostgreSQL's auto-analyze would give them
// statistics as they grow; where autovacuum is off (as on this environment's server) they would never get any,
// and without statistics the planner runs the service's
// `UPDATE webhook_deliveries ... WHERE project_id AND app_id AND delivery_key` through
// webhook_deliveries_identity_idx, reading every delivery of the app: a cost per delivery that
// grows with the table. So the bench stands in for auto-analyze before every webhook run
// (BENCH_WEBHOOK_ANALYZE=0 skips it, to see that case). consent_state was analyzed after the seed.
const ANALYZE_WEBHOOK_TABLES =
  'ANALYZE webhook_deliveries, webhook_nonces, consent_audit, bench_baseline_deliveries';

// Variables the service reads (its own list, from the build): not inherited from the caller's
// shell, so that every run measures the service's defaults plus what is set below.
const CONFIG_MODULE = path.join(ROOT, 'dist', 'src', 'config', 'app-config.js');
if (!existsSync(CONFIG_MODULE)) {
  console.error(`${CONFIG_MODULE} not found: build first (npm run build, or npm run bench)`);
  process.exit(2);
}
const { configKeys } = await import(pathToFileURL(CONFIG_MODULE).href);
const SERVICE_ENV_KEYS = [...configKeys(), 'NODE_OPTIONS'];
for (const key of SERVICE_ENV_KEYS) delete process.env[key];

// ---------------------------------------------------------------------------------------------
// Cleanup: runs once, from the finally block, on SIGINT/SIGTERM, or when the time limit hits.

const state = { children: [], dbName: null };
let cleanupPromise = null;

function cleanup() {
  cleanupPromise ??= (async () => {
    await Promise.all(state.children.map((c) => c.stop().catch(() => {})));
    if (state.dbName) {
      const admin = new pg.Client({ connectionString: BASE_DB_URL });
      try {
        await admin.connect();
        await admin.query(`DROP DATABASE IF EXISTS "${state.dbName}" WITH (FORCE)`);
        console.log(`dropped database ${state.dbName}`);
      } catch (e) {
        console.error(`could not drop database ${state.dbName}: ${e.message}`);
      } finally {
        await admin.end().catch(() => {});
      }
    }
  })();
  return cleanupPromise;
}

async function abort(reason, exitCode) {
  console.error(`\n${reason}: stopping servers and dropping the bench database...`);
  stopLoad();
  await cleanup();
  process.exit(exitCode);
}
process.once('SIGINT', () => abort('interrupted', 130));
process.once('SIGTERM', () => abort('terminated', 143));
setTimeout(
  () => abort(`time limit of ${CONFIG.timeoutS} s reached (BENCH_TIMEOUT_S)`, 1),
  CONFIG.timeoutS * 1000,
).unref();

// ---------------------------------------------------------------------------------------------
// Steps

const log = (msg) => console.log(`[bench] ${msg}`);

async function createDatabase() {
  const name = `consent_gate_bench_${Date.now()}_${process.pid}`;
  const admin = new pg.Client({ connectionString: BASE_DB_URL });
  await admin.connect();
  try {
    state.dbName = name; // set first: an interrupt during CREATE still drops it (IF EXISTS)
    await admin.query(`CREATE DATABASE "${name}"`);
    const { rows } = await admin.query('SHOW server_version');
    const { rows: av } = await admin.query('SHOW autovacuum');
    const url = new URL(BASE_DB_URL);
    url.pathname = `/${name}`;
    return {
      name,
      url: url.toString(),
      serverVersion: rows[0].server_version,
      autovacuum: av[0].autovacuum,
    };
  } finally {
    await admin.end();
  }
}

async function startService(dbUrl, fakeSinchBase) {
  const main = path.join(ROOT, 'dist', 'src', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} not found: build first (npm run build)`);
  const port = await freePort();
  const nodeArgs = [];
  if (CONFIG.cpuProfile) {
    const dir = path.join(BENCH_DIR, 'results', 'profiles');
    mkdirSync(dir, { recursive: true });
    nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${dir}`);
  }
  const proc = startNode(
    'service',
    main,
    {
      DATABASE_URL: dbUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      ADMIN_API_KEY,
      LOG_LEVEL: 'warn',
      DATABASE_POOL_SIZE: String(CONFIG.poolSize),
      // The send gate forwards to the fake Sinch with these credentials. Without the send-gate
      // load, no SINCH_* variable is set (the service then has no Sinch client, as before).
      ...(fakeSinchBase
        ? {
            SINCH_PROJECT_ID: PROJECT_ID,
            SINCH_KEY_ID,
            SINCH_KEY_SECRET,
            SINCH_CONVERSATION_URL: fakeSinchBase,
            SINCH_AUTH_URL: fakeSinchBase,
          }
        : {}),
    },
    { cwd: ROOT, nodeArgs },
  );
  state.children.push(proc);
  const base = `http://127.0.0.1:${port}`;
  await waitForHealthy(`${base}/health`, proc, 60_000); // includes running the migrations
  return { proc, base };
}

async function startBaseline(dbUrl) {
  const port = await freePort();
  const proc = startNode(
    'baseline',
    path.join(BENCH_DIR, 'baseline-server.mjs'),
    {
      DATABASE_URL: dbUrl,
      PORT: String(port),
      HOST: '127.0.0.1',
      DATABASE_POOL_SIZE: String(CONFIG.poolSize),
      WEBHOOK_SECRET,
    },
    { cwd: ROOT },
  );
  state.children.push(proc);
  const base = `http://127.0.0.1:${port}`;
  await waitForHealthy(`${base}/health`, proc, 30_000);
  return { proc, base };
}

async function startFakeSinch() {
  const port = await freePort();
  const proc = startNode(
    'fake Sinch',
    path.join(BENCH_DIR, 'fake-sinch-server.mjs'),
    { PORT: String(port), HOST: '127.0.0.1', SINCH_KEY_ID, SINCH_KEY_SECRET },
    { cwd: ROOT },
  );
  state.children.push(proc);
  const base = `http://127.0.0.1:${port}`;
  await waitForHealthy(`${base}/health`, proc, 30_000);
  return { proc, base };
}

async function seed(dbUrl) {
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  try {
    const started = Date.now();
    const { rowCount } = await client.query(SEED_SQL, [PROJECT_ID, APP_ID, IDENTITY_COUNT]);
    await client.query('ANALYZE consent_state');
    // The baseline webhook's table (the service's webhook tables come with its migrations).
    if (CONFIG.webhook)
      await client.query('CREATE TABLE bench_baseline_deliveries (message_id text PRIMARY KEY)');
    log(
      `seeded ${fmt.int(IDENTITY_COUNT)} identities (${fmt.int(rowCount)} rows) in ${Date.now() - started} ms`,
    );
    return rowCount;
  } finally {
    await client.end();
  }
}

/** POSTs one check and verifies every decision against the seed; throws when wrong. */
async function verifyOnce(label, url, identities, headers = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: checkBody(identities),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${label}: HTTP ${res.status}: ${text.slice(0, 500)}`);
  const problem = verifyCheckResponse(identities, JSON.parse(text));
  if (problem) throw new Error(`${label}: wrong answer: ${problem}`);
}

// ---------------------------------------------------------------------------------------------
// Send-gate steps

/** The fake Sinch's counts: tokens, sends, sends_unauthorized, not_found, last_send. */
async function fakeStats(fakeBase) {
  const res = await fetch(`${fakeBase}/stats`);
  if (res.status !== 200) throw new Error(`fake Sinch /stats: HTTP ${res.status}`);
  return res.json();
}

/**
 * The fake's counts once they stop moving: when a run ends, the gate may still be forwarding the
 * requests cut off in flight (their callers are gone), and those must count in this run.
 */
async function settledFakeStats(fakeBase) {
  let last = await fakeStats(fakeBase);
  for (let i = 0; i < 50; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const now = await fakeStats(fakeBase);
    if (now.sends === last.sends && now.sends_unauthorized === last.sends_unauthorized) return now;
    last = now;
  }
  throw new Error('the fake Sinch kept getting sends for 5 s after a run ended');
}

async function postJson(url, body, headers) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });
  return { status: res.status, text: await res.text() };
}

/**
 * Before the load: sends to identities on OPT_OUT_ALL and on OPT_OUT_NOTIFICATION get the gate's
 * 403 and never reach the fake; a send to an identity on OPT_OUT_MARKETING only (allowed for
 * CONTENT_NOTIFICATION) is forwarded byte for byte and answered with the fake's 200; the fake
 * gives the load generator a token and accepts a direct send with it. Also checks that nothing
 * reached the fake before (single and batch check loads). Returns the direct token.
 */
async function verifySendGate(serviceBase, fakeBase) {
  const gateUrl = serviceBase + SEND_PATH;
  const s0 = await fakeStats(fakeBase);
  if (s0.sends + s0.tokens + s0.sends_unauthorized + s0.tokens_refused + s0.not_found !== 0)
    throw new Error(`the fake Sinch got requests before the send-gate load: ${JSON.stringify(s0)}`);
  for (const list of ['OPT_OUT_ALL', 'OPT_OUT_NOTIFICATION']) {
    const identity = blockedIdentity(list);
    const { status, text } = await postJson(gateUrl, sendBody(identity), AUTH);
    let error = null;
    try {
      error = JSON.parse(text).error;
    } catch {
      // reported below
    }
    const info = error?.details?.[0];
    if (
      status !== 403 ||
      error?.status !== 'PERMISSION_DENIED' ||
      info?.reason !== 'RECIPIENT_OPTED_OUT' ||
      info.metadata?.list_type !== list ||
      info.metadata?.identity !== identity
    ) {
      throw new Error(
        `send gate: a ${SEND_CONTENT_TYPE} send to ${identity} (on ${list}) got HTTP ${status}: ` +
          `${text.slice(0, 300)}; expected 403 PERMISSION_DENIED, RECIPIENT_OPTED_OUT, ${list}`,
      );
    }
  }
  const s1 = await fakeStats(fakeBase);
  if (s1.sends !== 0 || s1.sends_unauthorized !== 0)
    throw new Error(`blocked sends reached the fake Sinch: ${JSON.stringify(s1)}`);

  const allowed = blockedIdentity('OPT_OUT_MARKETING'); // on a list, but not one that stops it
  const body = sendBody(allowed);
  const viaGate = await postJson(gateUrl, body, AUTH);
  const s2 = await fakeStats(fakeBase);
  if (viaGate.status !== 200 || !SENT_ANSWER.test(viaGate.text))
    throw new Error(
      `send gate: a send to ${allowed} (OPT_OUT_MARKETING only) got HTTP ${viaGate.status}: ` +
        `${viaGate.text.slice(0, 300)}; expected 200 with the fake's message_id`,
    );
  if (s2.sends !== 1 || s2.last_send?.path !== SEND_PATH || s2.last_send?.body !== body)
    throw new Error(
      `send gate: the fake Sinch did not get the send as sent (${JSON.stringify(s2)})`,
    );
  if (s2.tokens < 1)
    throw new Error(`send gate: no token was requested from the fake (${JSON.stringify(s2)})`);

  const basic = Buffer.from(`${SINCH_KEY_ID}:${SINCH_KEY_SECRET}`).toString('base64');
  const tokenRes = await fetch(`${fakeBase}/oauth2/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${basic}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
  const tokenText = await tokenRes.text();
  if (tokenRes.status !== 200)
    throw new Error(`fake Sinch /oauth2/token: HTTP ${tokenRes.status}: ${tokenText}`);
  const token = JSON.parse(tokenText).access_token;
  const direct = await postJson(fakeBase + SEND_PATH, body, { authorization: `Bearer ${token}` });
  const noToken = await postJson(fakeBase + SEND_PATH, body, {});
  const s3 = await fakeStats(fakeBase);
  if (direct.status !== 200 || !SENT_ANSWER.test(direct.text) || s3.sends !== 2)
    throw new Error(`fake Sinch: a direct send got HTTP ${direct.status}: ${direct.text}`);
  if (noToken.status !== 401 || s3.sends_unauthorized !== 1)
    throw new Error(`fake Sinch: a send without a token got HTTP ${noToken.status}`);
  return token;
}

// ---------------------------------------------------------------------------------------------
// Webhook steps

/** Configures the webhook app through the admin API: PRIMARY, our secret, no auto-reply. */
async function configureWebhookApp(serviceBase) {
  const res = await fetch(serviceBase + SETTINGS_PATH, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...AUTH },
    body: JSON.stringify({ mode: 'PRIMARY', webhook_secrets: [WEBHOOK_SECRET], auto_reply: false }),
  });
  const text = await res.text();
  if (res.status !== 200)
    throw new Error(`PUT ${SETTINGS_PATH}: HTTP ${res.status}: ${text.slice(0, 300)}`);
}

/** The service's send decision for one identity of the webhook app (CONTENT_MARKETING). */
async function webhookAppDecision(serviceBase, identity) {
  const res = await fetch(serviceBase + WEBHOOK_CHECK_PATH, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...AUTH },
    body: checkBody([identity]),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`webhook app check: HTTP ${res.status}: ${text}`);
  return JSON.parse(text).results[0].decision;
}

/** Posts a delivery whose body was changed after signing; the server must answer 401. */
async function expectTamperedRefused(label, url, traffic) {
  const d = traffic.next(WEBHOOK_TEXTS[1]);
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signedHeaders(WEBHOOK_SECRET, d.body) },
    body: d.body.replace('"STOP"', '"START"'),
  });
  await res.text();
  if (res.status !== 401)
    throw new Error(`${label}: a tampered webhook got HTTP ${res.status}, expected 401`);
}

/**
 * Before the load: keyword deliveries change consent as they should (service), both servers
 * answer PROCESSED to good deliveries and 401 to a tampered one.
 */
async function verifyWebhooks(urls, traffic, serviceBase) {
  const [hello, stop, start] = WEBHOOK_TEXTS;
  const identity = webhookIdentity(WEBHOOK_IDENTITY_COUNT + 1); // outside the load's range
  const steps = [
    [stop, 'BLOCK'],
    [hello, 'BLOCK'],
    [start, 'ALLOW'],
  ];
  for (const [text, decision] of steps) {
    await traffic.service.deliver(urls.service, traffic.service.next(text, identity));
    const got = await webhookAppDecision(serviceBase, identity);
    if (got !== decision)
      throw new Error(`webhook "${text.text}": the check then says ${got}, expected ${decision}`);
    // Distinct event times, so that the next change is not older than this one.
    await new Promise((r) => setTimeout(r, 5));
  }
  for (const text of WEBHOOK_TEXTS) {
    await traffic.baseline.deliver(urls.baseline, traffic.baseline.next(text));
  }
  await expectTamperedRefused('service', urls.service, traffic.service);
  await expectTamperedRefused('baseline', urls.baseline, traffic.baseline);
}

/**
 * After the load: redelivers what was cut off in flight, then checks that the database holds
 * exactly one row per delivery acknowledged with a 200, for both servers. Throws otherwise.
 */
async function verifyWebhookRows(dbUrl, urls, traffic) {
  const redelivered = {
    service: await traffic.service.redeliverCutOff(urls.service),
    baseline: await traffic.baseline.redeliverCutOff(urls.baseline),
  };
  const client = new pg.Client({ connectionString: dbUrl });
  await client.connect();
  try {
    const app = [PROJECT_ID, WEBHOOK_APP_ID];
    const one = async (sql, params = []) => Number((await client.query(sql, params)).rows[0].n);
    const outcomes = Object.fromEntries(
      (
        await client.query(
          `SELECT outcome, count(*)::int AS n FROM webhook_deliveries
            WHERE project_id = $1 AND app_id = $2 GROUP BY outcome ORDER BY outcome`,
          app,
        )
      ).rows.map((r) => [r.outcome, r.n]),
    );
    const service = {
      rows: Object.values(outcomes).reduce((a, b) => a + b, 0),
      acknowledged: traffic.service.acknowledged,
      cutOff: traffic.service.cutOffTotal,
      redelivered: redelivered.service,
      outcomes,
      auditRecords: await one(
        'SELECT count(*) AS n FROM consent_audit WHERE project_id = $1 AND app_id = $2',
        app,
      ),
      consentRows: await one(
        'SELECT count(*) AS n FROM consent_state WHERE project_id = $1 AND app_id = $2',
        app,
      ),
      optedOut: await one(
        'SELECT count(*) AS n FROM consent_state WHERE project_id = $1 AND app_id = $2 AND opted_out',
        app,
      ),
    };
    const baseline = {
      rows: await one('SELECT count(*) AS n FROM bench_baseline_deliveries'),
      acknowledged: traffic.baseline.acknowledged,
      cutOff: traffic.baseline.cutOffTotal,
      redelivered: redelivered.baseline,
    };
    for (const [name, c] of Object.entries({ service, baseline })) {
      log(
        `${name}: ${fmt.int(c.rows)} delivery rows for ${fmt.int(c.acknowledged)} deliveries answered 200 ` +
          `(${c.cutOff} cut off in flight at the end of a run, redelivered: ` +
          `${c.redelivered.processed} PROCESSED, ${c.redelivered.duplicates} DUPLICATE)` +
          (c.rows === c.acknowledged ? ': equal, no loss' : ': MISMATCH'),
      );
    }
    const shares = Object.entries(outcomes)
      .map(([k, n]) => `${k} ${fmt.int(n)} (${((100 * n) / service.rows).toFixed(1)} %)`)
      .join(', ');
    log(
      `service outcomes: ${shares}; ${fmt.int(service.auditRecords)} audit records, ` +
        `${fmt.int(service.consentRows)} consent_state rows (${fmt.int(service.optedOut)} opted out)`,
    );
    if (service.rows !== service.acknowledged || baseline.rows !== baseline.acknowledged) {
      throw new Error(
        `webhook rows do not match the 200 answers (service ${service.rows} rows / ${service.acknowledged} ` +
          `answers, baseline ${baseline.rows} / ${baseline.acknowledged}). The bench is invalid.`,
      );
    }
    if (outcomes.PROCESSING) {
      throw new Error(`${outcomes.PROCESSING} webhook deliveries left in PROCESSING state`);
    }
    return { service, baseline };
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------------------------------------

function gitInfo() {
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT })
      .toString()
      .trim();
    const dirty =
      execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: ROOT })
        .toString()
        .trim() !== '';
    return { commit, srcDirty: dirty };
  } catch {
    return null;
  }
}

async function main() {
  const started = Date.now();
  log(
    `rounds=${CONFIG.rounds} duration=${CONFIG.durationS}s warmup=${CONFIG.warmupS}s ` +
      `batchRounds=${CONFIG.batchRounds} connections=${CONFIG.connections}/${CONFIG.batchConnections} ` +
      (CONFIG.sendGate
        ? `sendGateRounds=${CONFIG.sendGateRounds} sendGateConnections=${CONFIG.sendGateConnections} `
        : 'send gate off ') +
      (CONFIG.webhook
        ? `webhookRounds=${CONFIG.webhookRounds} webhookConnections=${CONFIG.webhookConnections} `
        : 'webhook off ') +
      `(${os.cpus().length} CPUs)`,
  );

  const db = await createDatabase();
  log(`database ${db.name} on PostgreSQL ${db.serverVersion} (autovacuum ${db.autovacuum})`);
  const fake = CONFIG.sendGate ? await startFakeSinch() : null;
  if (fake) log(`fake Sinch up at ${fake.base}`);
  const service = await startService(db.url, fake?.base ?? null);
  log(`service up at ${service.base} (migrations run)`);
  const rows = await seed(db.url);
  const baseline = await startBaseline(db.url);
  log(`baseline up at ${baseline.base}`);

  // Correctness first: a fast wrong answer must not pass.
  const serviceUrl = service.base + CHECK_PATH;
  const baselineUrl = `${baseline.base}/check`;
  for (let i = 0; i < 50; i++) {
    const identity = [randomIdentity()];
    await verifyOnce('service single check', serviceUrl, identity, AUTH);
    await verifyOnce('baseline', baselineUrl, identity);
  }
  const batchBodies = [];
  for (let i = 0; i < BATCH_VARIANTS; i++) batchBodies.push(randomBatch(BATCH_SIZE));
  await verifyOnce('service batch check', serviceUrl, batchBodies[0], AUTH);
  log(`answers verified against the seed (single: 50 each, batch: ${fmt.int(BATCH_SIZE)} results)`);
  const batchJson = batchBodies.map(checkBody);

  const webhookUrls = {
    service: `${service.base}/webhooks/sinch`,
    baseline: `${baseline.base}/webhook`,
  };
  const webhookTraffic = {
    service: new WebhookTraffic(WEBHOOK_SECRET, true),
    baseline: new WebhookTraffic(WEBHOOK_SECRET, false),
  };
  if (CONFIG.webhook) {
    await configureWebhookApp(service.base);
    await verifyWebhooks(webhookUrls, webhookTraffic, service.base);
    log('webhooks verified (keyword consent changes, PROCESSED answers, tampered body refused)');
  }

  const targets = {
    baseline: { url: baselineUrl, headers: {}, pid: baseline.proc.child.pid },
    service: { url: serviceUrl, headers: AUTH, pid: service.proc.child.pid },
  };
  const singleLoad = (name, durationS) =>
    runLoad({
      label: `single check (${name})`,
      ...targets[name],
      connections: CONFIG.connections,
      durationS,
      makeBody: () => checkBody([randomIdentity()]),
    });
  const batchLoad = (durationS) =>
    runLoad({
      label: 'batch check',
      ...targets.service,
      connections: CONFIG.batchConnections,
      durationS,
      makeBody: () => batchJson[Math.floor(Math.random() * batchJson.length)],
    });

  // Single check: rounds of baseline and service, the order flipped every round (ABBA) so that
  // neither always runs first after the other's load. Each run gets its own warm-up.
  const singleRounds = [];
  for (let r = 1; r <= CONFIG.rounds; r++) {
    const order = r % 2 ? ['baseline', 'service'] : ['service', 'baseline'];
    const round = { round: r, order };
    for (const name of order) {
      if (CONFIG.warmupS > 0) await singleLoad(name, CONFIG.warmupS);
      const m = await singleLoad(name, CONFIG.durationS);
      round[name] = m;
      log(
        `single round ${r}/${CONFIG.rounds} ${name.padEnd(8)} ${fmt.int(m.rps).padStart(7)} req/s  ` +
          `p50 ${fmt.ms(m.p50Ms)}  p99 ${fmt.ms(m.p99Ms)}  server CPU ${fmt.us(m.cpuUsPerReq)}/req`,
      );
    }
    round.ratio = round.service.rps / round.baseline.rps;
    singleRounds.push(round);
  }

  // Batch check: the service alone, 10,000 identities per request.
  if (CONFIG.warmupS > 0) await batchLoad(CONFIG.warmupS);
  const batchRounds = [];
  for (let r = 1; r <= CONFIG.batchRounds; r++) {
    const m = await batchLoad(CONFIG.durationS);
    m.decisionsPerS = m.rps * BATCH_SIZE;
    batchRounds.push({ round: r, ...m });
    log(
      `batch round ${r}/${CONFIG.batchRounds} ${m.rps.toFixed(1).padStart(6)} req/s = ` +
        `${fmt.int(m.decisionsPerS)} decisions/s  p50 ${fmt.ms(m.p50Ms)}  p99 ${fmt.ms(m.p99Ms)}  ` +
        `server CPU ${fmt.us(m.cpuUsPerReq)}/req`,
    );
  }

  // Send gate: rounds of direct (load generator → fake Sinch) and gate (load generator → service
  // → fake Sinch), ABBA with their own warm-ups, as for the single check. Every answer must be
  // 200 with the fake's message_id; after every run (warm-ups included) the fake's count of
  // accepted sends must match the 200s (plus at most one request per connection cut off in flight).
  let directToken = null;
  if (CONFIG.sendGate) {
    directToken = await verifySendGate(service.base, fake.base);
    log(
      `send gate verified (OPT_OUT_ALL and OPT_OUT_NOTIFICATION: 403, not forwarded; ` +
        `OPT_OUT_MARKETING only: forwarded byte for byte; direct token from the fake)`,
    );
  }
  const sendTargets = CONFIG.sendGate
    ? {
        direct: {
          url: fake.base + SEND_PATH,
          headers: { authorization: `Bearer ${directToken}` },
          pid: fake.proc.child.pid,
        },
        gate: { url: service.base + SEND_PATH, headers: AUTH, pid: service.proc.child.pid },
      }
    : null;
  const sendTraffic = { direct: new SendTraffic(), gate: new SendTraffic() };
  const sendLoad = async (name, durationS) => {
    const traffic = sendTraffic[name];
    const before = await fakeStats(fake.base);
    const acceptedBefore = traffic.accepted;
    const m = await runLoad({
      label: `send (${name})`,
      ...sendTargets[name],
      otherPids: { fake: fake.proc.child.pid },
      connections: CONFIG.sendGateConnections,
      durationS,
      setupRequest: traffic.setupRequest,
      onResponse: traffic.onResponse,
      afterRun: () => traffic.endRun(),
    });
    const after = await settledFakeStats(fake.base);
    const answered = traffic.accepted - acceptedBefore;
    const forwarded = after.sends - before.sends;
    if (
      answered !== m.requests ||
      forwarded < answered ||
      forwarded > answered + CONFIG.sendGateConnections ||
      after.sends_unauthorized !== before.sends_unauthorized ||
      after.not_found !== before.not_found
    ) {
      throw new Error(
        `send (${name}): ${fmt.int(m.requests)} answers, ${fmt.int(answered)} of them 200 with a ` +
          `message_id, but the fake Sinch accepted ${fmt.int(forwarded)} sends ` +
          `(${after.sends_unauthorized - before.sends_unauthorized} refused, ` +
          `${after.not_found - before.not_found} not found). The bench is invalid.`,
      );
    }
    m.fakeSends = forwarded;
    m.fakeConnections = after.connections - before.connections;
    m.fakeCpuUsPerReq = m.otherCpuUsPerReq.fake;
    delete m.otherCpuUsPerReq;
    return m;
  };
  const sendRounds = [];
  let sendFakeStats = null;
  if (CONFIG.sendGate) {
    for (let r = 1; r <= CONFIG.sendGateRounds; r++) {
      const order = r % 2 ? ['direct', 'gate'] : ['gate', 'direct'];
      const round = { round: r, order };
      for (const name of order) {
        if (CONFIG.warmupS > 0) await sendLoad(name, CONFIG.warmupS);
        const m = await sendLoad(name, CONFIG.durationS);
        round[name] = m;
        log(
          `send round ${r}/${CONFIG.sendGateRounds} ${name.padEnd(6)} ${fmt.int(m.rps).padStart(6)} sends/s  ` +
            `p50 ${fmt.ms(m.p50Ms)}  p99 ${fmt.ms(m.p99Ms)}  ` +
            (name === 'gate' ? `gate CPU ${fmt.us(m.cpuUsPerReq)}/send  ` : '') +
            `fake CPU ${fmt.us(m.fakeCpuUsPerReq)}/send, ${m.fakeConnections} new connections`,
        );
      }
      round.ratio = round.gate.rps / round.direct.rps;
      sendRounds.push(round);
    }
    const { last_send: _last, ...counts } = await fakeStats(fake.base);
    sendFakeStats = counts;
    log(
      `fake Sinch: ${fmt.int(counts.sends)} sends accepted, ${counts.tokens} access tokens issued ` +
        `(gate and load generator), ${counts.sends_unauthorized} send refused (the check without a token)`,
    );
  }

  // Webhook: rounds of baseline and service as for the single check (ABBA, own warm-ups). Each
  // request is a new delivery, signed in setupRequest; every answer must be 200 PROCESSED.
  // Before every run, ANALYZE of the tables the webhooks fill (see ANALYZE_WEBHOOK_TABLES).
  const analyzer = CONFIG.webhook && CONFIG.webhookAnalyze ? new pg.Client(db.url) : null;
  if (analyzer) await analyzer.connect();
  const webhookLoad = async (name, durationS) => {
    const traffic = webhookTraffic[name];
    if (analyzer) await analyzer.query(ANALYZE_WEBHOOK_TABLES);
    return runLoad({
      label: `webhook (${name})`,
      url: webhookUrls[name],
      headers: {},
      pid: targets[name].pid,
      connections: CONFIG.webhookConnections,
      durationS,
      setupRequest: traffic.setupRequest,
      onResponse: traffic.onResponse,
      afterRun: () => traffic.endRun(),
    });
  };
  const webhookRounds = [];
  let webhookRows = null;
  if (CONFIG.webhook) {
    for (let r = 1; r <= CONFIG.webhookRounds; r++) {
      const order = r % 2 ? ['baseline', 'service'] : ['service', 'baseline'];
      const round = { round: r, order };
      for (const name of order) {
        if (CONFIG.warmupS > 0) await webhookLoad(name, CONFIG.warmupS);
        const m = await webhookLoad(name, CONFIG.durationS);
        round[name] = m;
        log(
          `webhook round ${r}/${CONFIG.webhookRounds} ${name.padEnd(8)} ${fmt.int(m.rps).padStart(6)} deliveries/s  ` +
            `p50 ${fmt.ms(m.p50Ms)}  p99 ${fmt.ms(m.p99Ms)}  server CPU ${fmt.us(m.cpuUsPerReq)}/req`,
        );
      }
      round.ratio = round.service.rps / round.baseline.rps;
      webhookRounds.push(round);
    }
    webhookRows = await verifyWebhookRows(db.url, webhookUrls, webhookTraffic);
  }
  await analyzer?.end();
  if (sendFakeStats && CONFIG.webhook) {
    // The service has Sinch credentials now: the webhook load (auto_reply off) must not send.
    const { last_send: _last, ...counts } = await fakeStats(fake.base);
    if (JSON.stringify(counts) !== JSON.stringify(sendFakeStats))
      throw new Error(
        `the fake Sinch got requests during the webhook load: ${JSON.stringify(counts)} after, ` +
          `${JSON.stringify(sendFakeStats)} before`,
      );
    log('fake Sinch: no request during the webhook load');
  }

  // Medians over rounds, ratios, targets.
  const medians = (runs, keys) =>
    Object.fromEntries(
      keys.map((k) => [k, runs.some((x) => x[k] === null) ? null : median(runs.map((x) => x[k]))]),
    );
  const KEYS = ['rps', 'p50Ms', 'p99Ms', 'cpuUsPerReq', 'cpuCores'];
  const summary = {
    baseline: medians(
      singleRounds.map((r) => r.baseline),
      KEYS,
    ),
    single: medians(
      singleRounds.map((r) => r.service),
      KEYS,
    ),
    batch: medians(batchRounds, [...KEYS, 'decisionsPerS']),
  };
  if (CONFIG.webhook) {
    summary.webhookBaseline = medians(
      webhookRounds.map((r) => r.baseline),
      KEYS,
    );
    summary.webhook = medians(
      webhookRounds.map((r) => r.service),
      KEYS,
    );
    // No target: reported for comparison between commits only.
    summary.webhookRatio = summary.webhook.rps / summary.webhookBaseline.rps;
    summary.webhookRatioPerRoundMedian = median(webhookRounds.map((r) => r.ratio));
  }
  if (CONFIG.sendGate) {
    const SEND_KEYS = [...KEYS, 'fakeCpuUsPerReq'];
    summary.sendDirect = medians(
      sendRounds.map((r) => r.direct),
      SEND_KEYS,
    );
    summary.sendGate = medians(
      sendRounds.map((r) => r.gate),
      SEND_KEYS,
    );
    // No target: the gate's forwarded sends/s over the direct sends/s (its overhead as a ratio).
    summary.sendGateRatio = summary.sendGate.rps / summary.sendDirect.rps;
    summary.sendGateRatioPerRoundMedian = median(sendRounds.map((r) => r.ratio));
  }
  // Ratio of the medians; the median of the per-round ratios is printed too, as a noise check.
  const singleRatio = summary.single.rps / summary.baseline.rps;
  const perRoundRatio = median(singleRounds.map((r) => r.ratio));
  const results = [
    {
      name: 'single check req/s ÷ baseline req/s',
      value: singleRatio,
      target: TARGETS.singleRatio,
      pass: singleRatio >= TARGETS.singleRatio,
    },
    {
      name: 'batch check decisions/s',
      value: summary.batch.decisionsPerS,
      target: TARGETS.batchDecisionsPerS,
      pass: summary.batch.decisionsPerS >= TARGETS.batchDecisionsPerS,
    },
  ];

  console.log(
    `\nMedians over ${CONFIG.rounds} interleaved rounds (single), ${CONFIG.batchRounds} rounds (batch)` +
      (CONFIG.sendGate ? `, ${CONFIG.sendGateRounds} interleaved rounds (send gate)` : '') +
      (CONFIG.webhook ? ` and ${CONFIG.webhookRounds} interleaved rounds (webhook)` : '') +
      `, ${CONFIG.durationS} s each after ${CONFIG.warmupS} s warm-up; 0 non-2xx answers.\n`,
  );
  const row = (label, conns, m, rps, decisions) => [
    label,
    conns,
    rps,
    decisions,
    fmt.ms(m.p50Ms),
    fmt.ms(m.p99Ms),
    fmt.us(m.cpuUsPerReq),
    m.cpuCores === null ? 'n/a' : m.cpuCores.toFixed(2),
  ];
  printTable(
    ['load', 'conns', 'req/s', 'decisions/s', 'p50', 'p99', 'server CPU/req', 'server cores'],
    [
      row(
        'baseline (Fastify + pg, 1 identity)',
        CONFIG.connections,
        summary.baseline,
        fmt.int(summary.baseline.rps),
        fmt.int(summary.baseline.rps),
      ),
      row(
        'single check (1 identity)',
        CONFIG.connections,
        summary.single,
        fmt.int(summary.single.rps),
        fmt.int(summary.single.rps),
      ),
      row(
        `batch check (${fmt.int(BATCH_SIZE)} identities)`,
        CONFIG.batchConnections,
        summary.batch,
        summary.batch.rps.toFixed(1),
        fmt.int(summary.batch.decisionsPerS),
      ),
      ...(CONFIG.sendGate
        ? [
            row(
              'send direct (client → fake Sinch)',
              CONFIG.sendGateConnections,
              summary.sendDirect,
              fmt.int(summary.sendDirect.rps),
              '-',
            ),
            row(
              'send gate (messages:send → fake Sinch)',
              CONFIG.sendGateConnections,
              summary.sendGate,
              fmt.int(summary.sendGate.rps),
              '-',
            ),
          ]
        : []),
      ...(CONFIG.webhook
        ? [
            row(
              'webhook baseline (Fastify + HMAC + 1 INSERT)',
              CONFIG.webhookConnections,
              summary.webhookBaseline,
              fmt.int(summary.webhookBaseline.rps),
              '-',
            ),
            row(
              'webhook (signed MESSAGE_INBOUND)',
              CONFIG.webhookConnections,
              summary.webhook,
              fmt.int(summary.webhook.rps),
              '-',
            ),
          ]
        : []),
    ],
  );
  if (CONFIG.sendGate) {
    console.log(
      '(send rows: req/s = sends/s answered 200 with a message_id; server CPU = the fake Sinch ' +
        "for direct, the service for the gate; the fake's own CPU per send through the gate: " +
        `${fmt.us(summary.sendGate.fakeCpuUsPerReq)})`,
    );
  }
  if (CONFIG.webhook) {
    console.log('(webhook rows: req/s = deliveries/s)');
  }
  console.log('');
  printTable(
    ['target', 'value', 'target', 'result'],
    results.map((t) => [
      t.name,
      t.target < 10 ? fmt.ratio(t.value) : fmt.int(t.value),
      `>= ${t.target < 10 ? fmt.ratio(t.target) : fmt.int(t.target)}`,
      t.pass ? 'PASS' : 'MISS',
    ]),
  );
  console.log(
    `\nper-round single/baseline ratios: ${singleRounds.map((r) => fmt.ratio(r.ratio)).join(', ')} ` +
      `(median ${fmt.ratio(perRoundRatio)})`,
  );
  if (CONFIG.sendGate) {
    console.log(
      `send gate forwarded sends/s ÷ direct sends/s: ${fmt.ratio(summary.sendGateRatio)} ` +
        `(rounds ${sendRounds.map((r) => fmt.ratio(r.ratio)).join(', ')}; no target); ` +
        `gate CPU ${fmt.us(summary.sendGate.cpuUsPerReq)} per forwarded send; fake Sinch: ` +
        `${fmt.int(sendFakeStats.sends)} sends accepted, ${sendFakeStats.tokens} tokens issued`,
    );
  }
  if (CONFIG.webhook) {
    const cpu =
      summary.webhook.cpuUsPerReq !== null && summary.webhookBaseline.cpuUsPerReq !== null
        ? `; server CPU per delivery ${fmt.ratio(summary.webhook.cpuUsPerReq / summary.webhookBaseline.cpuUsPerReq)}× the baseline's`
        : '';
    console.log(
      `webhook deliveries/s ÷ baseline deliveries/s: ${fmt.ratio(summary.webhookRatio)} ` +
        `(rounds ${webhookRounds.map((r) => fmt.ratio(r.ratio)).join(', ')}; no target)${cpu}`,
    );
    console.log(
      `webhook_deliveries rows for ${WEBHOOK_APP_ID}: ${fmt.int(webhookRows.service.rows)} = ` +
        `${fmt.int(webhookRows.service.acknowledged)} deliveries answered 200 ` +
        `(baseline: ${fmt.int(webhookRows.baseline.rows)} = ${fmt.int(webhookRows.baseline.acknowledged)})`,
    );
  }

  const report = {
    generatedAt: new Date().toISOString(),
    git: gitInfo(),
    machine: {
      node: process.version,
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? null,
      platform: `${os.platform()} ${os.release()}`,
      postgres: db.serverVersion,
      autovacuum: db.autovacuum,
    },
    config: {
      ...CONFIG,
      batchSize: BATCH_SIZE,
      identities: IDENTITY_COUNT,
      seededRows: rows,
      ...(CONFIG.sendGate
        ? {
            sendGateContentType: SEND_CONTENT_TYPE,
            sendGateAllowedSeededIdentities: ALLOWED_SEEDED_COUNT,
          }
        : {}),
      ...(CONFIG.webhook
        ? {
            webhookAppId: WEBHOOK_APP_ID,
            webhookIdentities: WEBHOOK_IDENTITY_COUNT,
            webhookTexts: WEBHOOK_TEXTS,
          }
        : {}),
    },
    summary: { ...summary, singleRatio, singleRatioPerRoundMedian: perRoundRatio },
    targets: results,
    rounds: {
      single: singleRounds,
      batch: batchRounds,
      sendGate: sendRounds,
      webhook: webhookRounds,
    },
    sendGateFakeSinch: sendFakeStats,
    webhookRows,
    elapsedS: Math.round((Date.now() - started) / 1000),
  };
  mkdirSync(path.dirname(RESULTS_FILE), { recursive: true });
  writeFileSync(RESULTS_FILE, `${JSON.stringify(report, null, 2)}\n`);
  log(`results written to ${path.relative(ROOT, RESULTS_FILE)} (${report.elapsedS} s)`);
  return results.every((t) => t.pass);
}

let exitCode = 0;
try {
  const allPass = await main();
  if (!allPass && CONFIG.strict) exitCode = 1;
} catch (e) {
  console.error(`\n[bench] FAILED: ${e.message}`);
  for (const c of state.children) {
    if (c.logTail()) console.error(`\n--- last output of ${c.name} ---\n${c.logTail(20)}`);
  }
  exitCode = 1;
} finally {
  await cleanup();
}
process.exit(exitCode);
