// `node bench/audit-chain.mjs` (after `npm run build`): what the audit hash chain costs and how
// fast it verifies, on a real PostgreSQL.
//
// 1. creates a fresh database (consent_gate_chain_<timestamp>_<pid>) on DATABASE_URL's server
//    (default postgres://postgres@127.0.0.1:5432/test) and boots the built service on it (a child
//    process, which runs the migrations); configures a webhook app (secret, auto_reply off);
// 2. write cost, after a warm-up (3 s of each load in each mode, not measured), in rounds that
//    run each load twice back to back, chained (the service as it is) and unchained (the bench
//    disables the chain trigger consent_audit_chain in SQL, and drops the NOT NULLs of the chain
//    columns for the run: the same code, only the hashing is off):
//    - single changes: PUT .../identities/{random}/opt-outs/{list} (autocannon, BENCH_CHAIN_
//      CONNECTIONS connections, BENCH_CHAIN_DURATION_S s);
//    - webhook intake: signed MESSAGE_INBOUND callbacks (70 % plain text, 20 % STOP, 10 % START,
//      as bench/run.mjs sends them);
//    each app gets a fresh app id per round and mode, so chained and unchained records never
//    share a chain;
// 3. verify: BENCH_VERIFY_RECORDS (default 1,000,000) audit records of one app, inserted with one
//    INSERT ... SELECT generate_series (chained by the trigger) and vacuumed, then
//    GET .../audit:verify, timed, while the service's VmRSS is sampled every 50 ms; beside it,
//    the bare COPY the verification reads (chainCopySql from the build), bytes counted and
//    dropped; BENCH_VERIFY_RUNS (3) times, alternated;
// 4. prints medians, the ratios chained / unchained (median of the rounds' pairs; target >= 0.9)
//    and records/s of the verification (target >= 200,000) beside its bare COPY's; always stops
//    the service and drops the database.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import { performance } from 'node:perf_hooks';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import autocannon from 'autocannon';
import pg from 'pg';
import { to as copyTo } from 'pg-copy-streams';
import {
  benchRun,
  fmt,
  intEnv,
  median,
  printTable,
  rssKb,
  startService as startBenchService,
  stopLoad,
} from './lib.mjs';
import { inboundBody, signedHeaders, ulidLike } from './webhook.mjs';
import { PROJECT_ID } from './workload.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH_DIR, '..');

const CONFIG = {
  rounds: intEnv('BENCH_CHAIN_ROUNDS', 3),
  durationS: intEnv('BENCH_CHAIN_DURATION_S', 10),
  connections: intEnv('BENCH_CHAIN_CONNECTIONS', 8),
  verifyRecords: intEnv('BENCH_VERIFY_RECORDS', 1_000_000, 1000),
  verifyRuns: intEnv('BENCH_VERIFY_RUNS', 3),
};
const TIMEOUT_S = intEnv(
  'BENCH_TIMEOUT_S',
  CONFIG.rounds * 4 * (CONFIG.durationS + 5) +
    60 +
    CONFIG.verifyRecords / 5000 +
    (CONFIG.verifyRuns * CONFIG.verifyRecords) / 50000 +
    300,
);
const BASE_DB_URL = process.env.DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/test';
const ADMIN_API_KEY = `bench-admin-key-${randomBytes(12).toString('hex')}`;
const AUTH = { authorization: `Bearer ${ADMIN_API_KEY}` };
const WEBHOOK_SECRET = `bench-webhook-secret-${randomBytes(8).toString('hex')}`;
const WRITE_TARGET = 0.9;
const WARMUP_S = 3;
const VERIFY_TARGET = 200_000;
const LISTS = ['OPT_OUT_ALL', 'OPT_OUT_MARKETING', 'OPT_OUT_NOTIFICATION'];
const TEXTS = [
  ['hello, what time do you open?', 0.7],
  ['STOP', 0.2],
  ['START', 0.1],
];

const log = (m) => console.log(`[bench:chain] ${m}`);
const { state, cleanup, createDatabase } = benchRun({
  baseDbUrl: BASE_DB_URL,
  timeoutS: TIMEOUT_S,
  log,
  onAbort: stopLoad,
});

function startService(dbUrl) {
  return startBenchService({ root: ROOT, state, dbUrl, adminApiKey: ADMIN_API_KEY });
}

async function request(base, method, p, body) {
  const res = await fetch(base + p, {
    method,
    headers: { 'content-type': 'application/json', ...AUTH },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${method} ${p}: HTTP ${res.status}: ${text}`);
  return JSON.parse(text);
}

/** Hashing on or off for what follows (the bench's switch, in SQL; the service is unchanged). */
async function setChain(client, on) {
  await client.query(
    `ALTER TABLE consent_audit ${on ? 'ENABLE' : 'DISABLE'} TRIGGER consent_audit_chain`,
  );
}

/** One autocannon run; every answer must be 200. Returns requests/s and p50. */
async function load(label, base, setupRequest, onResponse, durationS = CONFIG.durationS) {
  const result = await autocannon({
    url: base,
    connections: CONFIG.connections,
    pipelining: 1,
    duration: durationS,
    timeout: 30,
    requests: [{ method: 'PUT', setupRequest, onResponse }],
  });
  const failed = result.errors + result.timeouts + result.non2xx;
  if (failed > 0 || result.requests.total === 0) {
    throw new Error(
      `${label}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts of ${result.requests.total} (${JSON.stringify(result.statusCodeStats)})`,
    );
  }
  return { rps: result.requests.total / result.duration, p50Ms: result.latency.p50 };
}

function singleChanges(base, appId, durationS) {
  let n = 0;
  return load(
    `single changes ${appId}`,
    base,
    (req) => {
      n++;
      req.method = n % 4 === 0 ? 'DELETE' : 'PUT';
      req.path = `/v1/projects/${PROJECT_ID}/apps/${appId}/identities/1556${String(Math.floor(Math.random() * 20000)).padStart(7, '0')}/opt-outs/${LISTS[n % 3]}`;
      req.headers = { ...req.headers, 'content-type': 'application/json', ...AUTH };
      req.body = JSON.stringify({ reason: 'bench' });
      return req;
    },
    undefined,
    durationS,
  );
}

function webhooks(base, appId, durationS) {
  let bad = null;
  const run = load(
    `webhooks ${appId}`,
    base,
    (req) => {
      const r = Math.random();
      const text =
        r < TEXTS[0][1] ? TEXTS[0][0] : r < TEXTS[0][1] + TEXTS[1][1] ? TEXTS[1][0] : TEXTS[2][0];
      const identity = `1557${String(Math.floor(Math.random() * 20000)).padStart(7, '0')}`;
      const body = inboundBody(ulidLike(), identity, text).replace(
        /"app_id":"bench-webhook-app"/,
        `"app_id":"${appId}"`,
      );
      req.method = 'POST';
      req.path = '/webhooks/sinch';
      req.headers = { 'content-type': 'application/json', ...signedHeaders(WEBHOOK_SECRET, body) };
      req.body = body;
      return req;
    },
    (status, body) => {
      if (status === 200 && !String(body).includes('PROCESSED')) bad ??= String(body);
    },
    durationS,
  );
  return run.then((r) => {
    if (bad) throw new Error(`webhook answered ${bad}`);
    return r;
  });
}

async function configureWebhookApp(base, appId) {
  await request(base, 'PUT', `/v1/projects/${PROJECT_ID}/apps/${appId}/consent-settings`, {
    mode: 'PRIMARY',
    webhook_secrets: [WEBHOOK_SECRET],
    auto_reply: false,
  });
}

async function verifyBench(db, service, client) {
  const appId = 'bench-verify-app';
  const n = CONFIG.verifyRecords;
  const started = Date.now();
  await client.query(
    `INSERT INTO consent_audit (kind, project_id, app_id, identity, list_type, origin, operation,
       outcome, actor, reason, event_time)
     SELECT 'CONSENT_CHANGE', $1, $2, (15580000000 + g)::text,
            (ARRAY['OPT_OUT_ALL','OPT_OUT_MARKETING','OPT_OUT_NOTIFICATION'])[1 + g % 3],
            'ORIGIN_API', 'OPT_OUT', 'APPLIED', 'bench', CASE WHEN g % 4 = 0 THEN 'bench reason' END,
            now() - interval '1 day' + g * interval '1 millisecond'
       FROM generate_series(1, $3::int) g`,
    [PROJECT_ID, appId, n],
  );
  log(`seeded ${fmt.int(n)} chained records in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  // A chain that grew over months has long been vacuumed; right after one bulk insert, the first
  // read would set every row's hint bits and autovacuum would run during the measurement.
  await client.query('VACUUM (ANALYZE) consent_audit');
  const { chainCopySql } = await import(
    pathToFileURL(path.join(ROOT, 'dist', 'src', 'audit', 'audit-chain.repository.js')).href
  );
  const pid = service.proc.child.pid;
  const idle = rssKb(pid);
  let maxRss = idle;
  const copies = [];
  const verifies = [];
  let bytes = 0;
  // Bare COPY of what the verification reads, then the verification, BENCH_VERIFY_RUNS times.
  for (let run = 1; run <= CONFIG.verifyRuns; run++) {
    const copyStart = performance.now();
    bytes = 0;
    await new Promise((resolve, reject) => {
      const s = client.query(copyTo(chainCopySql({ projectId: PROJECT_ID, appId })));
      s.on('data', (c) => (bytes += c.length));
      s.on('end', resolve);
      s.on('error', reject);
    });
    copies.push((performance.now() - copyStart) / 1000);
    const sampler = setInterval(() => (maxRss = Math.max(maxRss, rssKb(pid) ?? 0)), 50);
    const t0 = performance.now();
    const answer = await request(
      service.base,
      'GET',
      `/v1/projects/${PROJECT_ID}/apps/${appId}/audit:verify`,
    );
    verifies.push((performance.now() - t0) / 1000);
    clearInterval(sampler);
    if (!answer.verified || answer.records !== n) {
      throw new Error(`verify answered ${JSON.stringify(answer)}, expected ${n} verified records`);
    }
    log(
      `verification ${run}: bare COPY ${copies.at(-1).toFixed(2)} s, audit:verify ${verifies.at(-1).toFixed(2)} s`,
    );
  }
  return {
    n,
    copyS: median(copies),
    bytes,
    verifyS: median(verifies),
    // verify / bare COPY of the same run, median.
    paceRatio: median(copies.map((c, i) => c / verifies[i])),
    idleMb: idle / 1024,
    riseMb: (maxRss - idle) / 1024,
  };
}

async function main() {
  log(
    `rounds=${CONFIG.rounds} duration=${CONFIG.durationS}s connections=${CONFIG.connections} verify=${fmt.int(CONFIG.verifyRecords)} (${os.cpus().length} CPUs, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')})`,
  );
  const db = await createDatabase('chain');
  log(`database ${db.name} on PostgreSQL ${db.serverVersion}`);
  const service = await startService(db.url);
  log(`service up at ${service.base}`);
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    await client.query(`ALTER TABLE consent_audit
                          ALTER COLUMN chain_seq DROP NOT NULL, ALTER COLUMN prev_hash DROP NOT NULL,
                          ALTER COLUMN hash DROP NOT NULL,
                          DROP CONSTRAINT consent_audit_identity_key_check`);
    const results = {
      chained: { single: [], webhook: [] },
      unchained: { single: [], webhook: [] },
    };
    // A warm-up of each load in each mode first (not measured): the service's JIT and caches,
    // and each backend's first call of the trigger's function, would otherwise count against
    // the first round's first runs.
    for (const mode of ['chained', 'unchained']) {
      await setChain(client, mode === 'chained');
      await singleChanges(service.base, `bench-warmup-single-${mode}`, WARMUP_S);
      await configureWebhookApp(service.base, `bench-warmup-hook-${mode}`);
      await webhooks(service.base, `bench-warmup-hook-${mode}`, WARMUP_S);
      await new Promise((res) => setTimeout(res, 2000));
    }
    log(`warmed up (${WARMUP_S} s of each load in each mode)`);
    // Each round runs each load twice back to back, chained and unchained (the order swapped
    // from round to round): the pair's ratio is taken in one stretch of the machine's noise.
    for (let round = 1; round <= CONFIG.rounds; round++) {
      const modes = round % 2 ? ['chained', 'unchained'] : ['unchained', 'chained'];
      for (const kind of ['single', 'webhook']) {
        for (const mode of modes) {
          await setChain(client, mode === 'chained');
          const app = `bench-${kind === 'single' ? 'single' : 'hook'}-${mode}-${round}`;
          let r;
          if (kind === 'single') {
            r = await singleChanges(service.base, app);
          } else {
            await configureWebhookApp(service.base, app);
            r = await webhooks(service.base, app);
          }
          // Requests cut off by the end of a run are still being answered: let them finish
          // before the next run switches the trigger.
          await new Promise((res) => setTimeout(res, 2000));
          results[mode][kind].push(r);
          log(
            `round ${round} ${kind === 'single' ? 'single changes' : 'webhooks'} ${mode}: ${fmt.int(r.rps)}/s (p50 ${fmt.ms(r.p50Ms)})`,
          );
        }
      }
    }
    await setChain(client, true);
    // The chained rounds' apps verify.
    for (let round = 1; round <= CONFIG.rounds; round++) {
      for (const app of [`bench-single-chained-${round}`, `bench-hook-chained-${round}`]) {
        const v = await request(
          service.base,
          'GET',
          `/v1/projects/${PROJECT_ID}/apps/${app}/audit:verify`,
        );
        if (!v.verified) throw new Error(`${app} does not verify: ${JSON.stringify(v)}`);
      }
    }
    log('every chained app verifies');
    const v = await verifyBench(db, service, client);

    const med = (mode, kind) => median(results[mode][kind].map((r) => r.rps));
    console.log('');
    console.log(
      `Audit hash chain: writes (median of ${CONFIG.rounds} rounds of ${CONFIG.durationS} s, ${CONFIG.connections} connections; ratio: median of the rounds' pairs):`,
    );
    const row = (label, kind) => {
      const on = med('chained', kind);
      const off = med('unchained', kind);
      const pairs = results.chained[kind].map((c, i) => c.rps / results.unchained[kind][i].rps);
      const ratio = median(pairs);
      return [
        label,
        fmt.int(off),
        fmt.int(on),
        `${fmt.ratio(ratio)} (${pairs.map((x) => fmt.ratio(x)).join(' ')})`,
        ratio >= WRITE_TARGET ? 'PASS' : 'MISS',
      ];
    };
    printTable(
      [
        'load',
        'unchained req/s',
        'chained req/s',
        `chained / unchained (target >= ${WRITE_TARGET})`,
        '',
      ],
      [
        row('single changes (PUT/DELETE opt-out)', 'single'),
        row('webhook intake (signed MESSAGE_INBOUND)', 'webhook'),
      ],
    );
    console.log('');
    const rate = v.n / v.verifyS;
    console.log(
      `Verification (median of ${CONFIG.verifyRuns} runs, each a bare COPY then audit:verify):`,
    );
    printTable(
      ['verification', 'time', 'records/s', ''],
      [
        [
          'bare COPY of the chain columns',
          `${v.copyS.toFixed(2)} s`,
          fmt.int(v.n / v.copyS),
          `${(v.bytes / 1e6).toFixed(0)} MB`,
        ],
        [
          'GET .../audit:verify',
          `${v.verifyS.toFixed(2)} s`,
          fmt.int(rate),
          `${rate >= VERIFY_TARGET ? 'PASS' : 'MISS'} (target >= ${fmt.int(VERIFY_TARGET)}); ${fmt.ratio(v.paceRatio)} x the bare COPY's pace`,
        ],
      ],
    );
    console.log(
      `service RSS: idle ${v.idleMb.toFixed(0)} MB, rise during verification ${v.riseMb.toFixed(1)} MB; machine load average at the end ${os
        .loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    await client.end();
  }
}

try {
  await main();
} catch (e) {
  console.error(`\n[bench:chain] failed: ${e.stack ?? e}`);
  for (const c of state.children) console.error(`--- ${c.name} output ---\n${c.logTail()}`);
  process.exitCode = 1;
} finally {
  await cleanup();
}
