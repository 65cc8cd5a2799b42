// `node bench/import.mjs` (after `npm run build`): a bulk import of 1,000,000 CSV rows into the
// service on a real PostgreSQL, beside the baseline of `psql \copy` of the same file into a bare
// table, in the same run. See bench/README.md.
//
// 1. creates a fresh database on DATABASE_URL's server (default postgres://postgres@127.0.0.1:5432/test)
//    and boots the built service on it (job workers on);
// 2. seeds BENCH_IMPORT_EXISTING opt-outs (10 % of the rows) with plain SQL;
// 3. writes the CSV: 80 % new opt-outs (in "+1 555 ..." form, normalised by the service),
//    10 % opt-outs of the seeded identities (no change), 10 % bad rows (bad identity, list type,
//    action or event time), shuffled;
// 4. baseline: `psql \copy` of the file into a bare six-text-column table (no indexes);
// 5. POSTs the file as a streamed body (text/csv), polls the import until SUCCEEDED, sampling the
//    service's RSS every 100 ms; checks the counts and the database;
// 6. prints the figures and the ratio; always stops the service and drops the database.
import { execFileSync } from 'node:child_process';
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { fileURLToPath, pathToFileURL } from 'node:url';
import pg from 'pg';
import {
  benchRun,
  cpuS,
  postgresCpuS,
  rssKb,
  seededRandom,
  startService as startBenchService,
} from './lib.mjs';

const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(BENCH_DIR, '..');
const ROWS = Number(process.env.BENCH_IMPORT_ROWS ?? 1_000_000);
const TIMEOUT_S = Number(process.env.BENCH_TIMEOUT_S ?? 600);
const BASE_DB_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const PROJECT = 'bench-project';
const APP = 'bench-import';
const ADMIN_API_KEY = `bench-admin-key-${Math.random().toString(36).slice(2)}-0123456789`;
const AUTH = { authorization: `Bearer ${ADMIN_API_KEY}` };
const EXISTING = Math.round(ROWS / 10);
const BAD = Math.round(ROWS / 10);
const NEW = ROWS - EXISTING - BAD;
const TARGET_S = 30;
const TARGET_RSS_MB = 300;

// The service reads its configuration from the environment: only what we pass reaches it, and
// the import's own settings (IMPORT_*, e.g. IMPORT_APPLY_PARTS=2) given to this bench.
const IMPORT_SETTINGS = Object.fromEntries(
  Object.entries(process.env).filter(([key]) => key.startsWith('IMPORT_')),
);
const { AppConfig, configKeys } = await import(
  pathToFileURL(path.join(ROOT, 'dist', 'src', 'config', 'app-config.js')).href
);
/** The service's defaults (what it runs with where IMPORT_SETTINGS say nothing). */
const defaults = new AppConfig();
for (const key of [...configKeys(), 'NODE_OPTIONS']) delete process.env[key];

const log = (msg) => console.log(`[bench:import] ${msg}`);
const { state, cleanup, createDatabase } = benchRun({
  baseDbUrl: BASE_DB_URL,
  timeoutS: TIMEOUT_S,
  log,
});

const existingIdentity = (i) => `1666${String(i).padStart(7, '0')}`;
const BAD_ROWS = [
  (i) => `,OPT_OUT_ALL,OPT_OUT,,row ${i} has no identity,bench`,
  (i) => `+1 777 ${String(i).padStart(7, '0')},OPT_OUT_SOMETIMES,OPT_OUT,,,bench`,
  (i) => `+1 777 ${String(i).padStart(7, '0')},OPT_OUT_ALL,MAYBE,,,bench`,
  (i) => `+1 777 ${String(i).padStart(7, '0')},OPT_OUT_ALL,OPT_OUT,yesterday,,bench`,
];

/** Writes the CSV; returns its size in bytes. */
async function writeFile(file) {
  const random = seededRandom(8);
  // Row kinds, shuffled (Fisher-Yates over a compact array): 0 new, 1 existing, 2 bad.
  const kinds = new Uint8Array(ROWS);
  kinds.fill(1, NEW, NEW + EXISTING);
  kinds.fill(2, NEW + EXISTING);
  for (let i = ROWS - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const k = kinds[i];
    kinds[i] = kinds[j];
    kinds[j] = k;
  }
  const out = createWriteStream(file);
  out.write('identity,list_type,action,event_time,reason,source\n');
  let chunk = '';
  let n = [0, 0, 0];
  for (let i = 0; i < ROWS; i++) {
    const kind = kinds[i];
    const k = n[kind]++;
    if (kind === 0) {
      chunk += `+1 555 ${String(k).padStart(7, '0')},OPT_OUT_ALL,OPT_OUT,2026-01-02T03:04:05Z,imported from bench,bench\n`;
    } else if (kind === 1) {
      chunk += `${existingIdentity(k)},OPT_OUT_ALL,OPT_OUT,,,bench\n`;
    } else {
      chunk += `${BAD_ROWS[k % BAD_ROWS.length](k)}\n`;
    }
    if (chunk.length > 1 << 20) {
      if (!out.write(chunk)) await once(out, 'drain');
      chunk = '';
    }
  }
  out.end(chunk);
  await once(out, 'finish');
  return statSync(file).size;
}

/**
 * The floor under the apply phase (BENCH_IMPORT_FLOOR=0 skips it): the writes it must make for
 * the file's valid rows, and nothing else, as bare set-based SQL in the same database: for
 * another app, NEW new opt-outs (a consent_state row and a chained audit record each) and
 * EXISTING repeats of seeded opt-outs (a state update and an audit record each), in
 * IMPORT_CHUNK_ROWS-row transactions in key order, split over the same number of sessions side
 * by side as the import's parts (each writes its own lane of the app's chain). No byte is read,
 * parsed, validated, staged, locked or planned. Returns its seconds.
 */
async function applyFloor(dbUrl, parts, chunk) {
  const app = 'bench-floor';
  const setup = new pg.Client({ connectionString: dbUrl });
  await setup.connect();
  try {
    await setup.query(
      `INSERT INTO consent_state (project_id, app_id, identity, list_type, opted_out, since,
                                  last_event_time, origin, updated_at)
       SELECT $1, $2, '1666' || lpad(g::text, 7, '0'), 'OPT_OUT_ALL', true,
              now() - interval '1 day', now() - interval '1 day', 'ORIGIN_API', now()
         FROM generate_series(0, $3::int - 1) g`,
      [PROJECT, app, EXISTING],
    );
    await setup.query('ANALYZE consent_state');
    await setup.query(`
      CREATE PROCEDURE bench_floor(p text, a text, prefix text, first int, last int, chunk int,
                                   existing boolean)
      LANGUAGE plpgsql AS $$
      DECLARE s int := first;
      BEGIN
        WHILE s <= last LOOP
          IF existing THEN
            UPDATE consent_state SET last_event_time = now(), updated_at = now()
             WHERE project_id = p AND app_id = a AND list_type = 'OPT_OUT_ALL'
               AND identity IN (SELECT prefix || lpad(g::text, 7, '0')
                                  FROM generate_series(s, least(s + chunk - 1, last)) g);
          ELSE
            INSERT INTO consent_state (project_id, app_id, identity, list_type, opted_out, since,
                                       last_event_time, origin, updated_at, source)
            SELECT p, a, prefix || lpad(g::text, 7, '0'), 'OPT_OUT_ALL', true, now(), now(),
                   'ORIGIN_IMPORT', now(), 'bench'
              FROM generate_series(s, least(s + chunk - 1, last)) g;
          END IF;
          INSERT INTO consent_audit (kind, project_id, app_id, identity, list_type, origin,
                                     operation, outcome, actor, reason, event_time, source)
          SELECT 'CONSENT_CHANGE', p, a, prefix || lpad(g::text, 7, '0'), 'OPT_OUT_ALL',
                 'ORIGIN_IMPORT', CASE WHEN existing THEN 'OPERATION_UPDATE' ELSE 'OPERATION_INSERT' END,
                 CASE WHEN existing THEN 'NO_CHANGE' ELSE 'APPLIED' END, 'bench',
                 'imported from bench', now(), 'bench'
            FROM generate_series(s, least(s + chunk - 1, last)) g;
          COMMIT;
          s := s + chunk;
        END LOOP;
      END $$`);
    // The sessions' shares: key ranges of new and existing identities, as parts would cut them.
    const jobs = [];
    for (let k = 0; k < parts; k++) {
      const range = (n) => [Math.floor((k * n) / parts), Math.floor(((k + 1) * n) / parts) - 1];
      jobs.push({ prefix: '1555', range: range(NEW), existing: false });
      jobs.push({ prefix: '1666', range: range(EXISTING), existing: true });
    }
    const sessions = [];
    for (let k = 0; k < parts; k++) {
      const c = new pg.Client({ connectionString: dbUrl });
      await c.connect();
      sessions.push(c);
    }
    const start = process.hrtime.bigint();
    try {
      await Promise.all(
        sessions.map(async (c, k) => {
          for (const job of jobs.filter((_, i) => Math.floor(i / 2) === k)) {
            await c.query('CALL bench_floor($1, $2, $3, $4, $5, $6, $7)', [
              PROJECT,
              app,
              job.prefix,
              job.range[0],
              job.range[1],
              chunk,
              job.existing,
            ]);
          }
        }),
      );
      return Number(process.hrtime.bigint() - start) / 1e9;
    } finally {
      for (const c of sessions) await c.end();
    }
  } finally {
    await setup.end();
  }
}

async function main() {
  if (!existsSync(path.join(ROOT, 'dist', 'src', 'main.js'))) {
    throw new Error('dist/src/main.js not found: build first (npm run build)');
  }
  const created = await createDatabase('bench_import');
  const dbName = created.name;
  const version = [{ server_version: created.serverVersion }];
  const dbUrl = new URL(created.url);

  const { proc: service, base } = await startBenchService({
    root: ROOT,
    state,
    dbUrl: dbUrl.toString(),
    adminApiKey: ADMIN_API_KEY,
    env: { OUTBOX_WORKER_ENABLED: 'true', ...IMPORT_SETTINGS },
    // BENCH_CPU_PROFILE=1: a CPU profile of the service in bench/results/profiles.
    nodeArgs: [
      ...(process.env.BENCH_CPU_PROFILE
        ? ['--cpu-prof', `--cpu-prof-dir=${path.join(BENCH_DIR, 'results', 'profiles')}`]
        : []),
      // BENCH_NODE_ARGS: more flags for the service's node (e.g. --max-old-space-size=200).
      ...(process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean),
    ],
  });
  const pid = service.child.pid;
  log(`service up (pid ${pid}) on PostgreSQL ${version[0].server_version}, database ${dbName}`);
  if (Object.keys(IMPORT_SETTINGS).length > 0)
    log(`import settings: ${JSON.stringify(IMPORT_SETTINGS)}`);

  const db = new pg.Client({ connectionString: dbUrl.toString() });
  await db.connect();
  await db.query(
    `INSERT INTO consent_state (project_id, app_id, identity, list_type, opted_out, since,
                                last_event_time, origin, updated_at)
     SELECT $1, $2, '1666' || lpad(g::text, 7, '0'), 'OPT_OUT_ALL', true, now() - interval '1 day',
            now() - interval '1 day', 'ORIGIN_API', now()
       FROM generate_series(0, $3::int - 1) g`,
    [PROJECT, APP, EXISTING],
  );
  await db.query('ANALYZE consent_state');
  log(`seeded ${EXISTING} existing opt-outs`);

  const file = path.join(os.tmpdir(), `consent-gate-bench-import-${process.pid}.csv`);
  state.files.push(file);
  const bytes = await writeFile(file);
  log(
    `wrote ${ROWS} rows (${NEW} new, ${EXISTING} existing, ${BAD} bad), ${(bytes / 1e6).toFixed(1)} MB`,
  );

  // Baseline: psql \copy of the same file into a bare table.
  await db.query(
    `CREATE TABLE bench_bare_copy (identity text, list_type text, action text, event_time text,
                                   reason text, source text)`,
  );
  const copyStart = process.hrtime.bigint();
  execFileSync('psql', [
    '-q',
    dbUrl.toString(),
    '-c',
    `\\copy bench_bare_copy FROM '${file}' WITH (FORMAT csv, HEADER true)`,
  ]);
  const copyS = Number(process.hrtime.bigint() - copyStart) / 1e9;
  await db.query('DROP TABLE bench_bare_copy');
  log(`baseline psql \\copy: ${copyS.toFixed(2)} s`);

  const idleRss = rssKb(pid) / 1024;
  let maxRss = idleRss ?? 0;
  // The peak of each phase: the upload (to the 202) and the job (to SUCCEEDED).
  let uploadRss = 0;
  let uploading = true;
  const sampler = setInterval(() => {
    const r = rssKb(pid) / 1024;
    if (r !== null && r > maxRss) maxRss = r;
    if (uploading && r !== null && r > uploadRss) uploadRss = r;
  }, 100);
  // Where the CPU goes: the service's and the database server's, for the upload and the job.
  const cpu0 = { service: cpuS(pid), db: postgresCpuS() };
  const start = process.hrtime.bigint();
  const res = await fetch(`${base}/v1/projects/${PROJECT}/apps/${APP}/imports`, {
    method: 'POST',
    headers: { ...AUTH, 'content-type': 'text/csv', 'content-length': String(bytes) },
    body: createReadStream(file),
    duplex: 'half',
  });
  const accepted = await res.json();
  const receivedS = Number(process.hrtime.bigint() - start) / 1e9;
  uploading = false;
  const cpu1 = { service: cpuS(pid), db: postgresCpuS() };
  if (res.status !== 202)
    throw new Error(`import answered ${res.status}: ${JSON.stringify(accepted)}`);
  log(`202 after ${receivedS.toFixed(2)} s: ${JSON.stringify(accepted)}`);
  let status;
  for (;;) {
    const r = await fetch(
      `${base}/v1/projects/${PROJECT}/apps/${APP}/imports/${accepted.import_id}`,
      { headers: AUTH },
    );
    status = await r.json();
    if (status.status !== 'RUNNING') break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  const totalS = Number(process.hrtime.bigint() - start) / 1e9;
  const cpu2 = { service: cpuS(pid), db: postgresCpuS() };
  clearInterval(sampler);
  const { errors: _errors, ...counts } = status;
  log(`finished after ${totalS.toFixed(2)} s: ${JSON.stringify(counts)}`);

  const { rows: check } = await db.query(
    `SELECT (SELECT count(*)::int FROM consent_state
              WHERE project_id = $1 AND app_id = $2 AND opted_out) AS on_list,
            (SELECT count(*)::int FROM consent_audit WHERE import_id = $3) AS audit_records`,
    [PROJECT, APP, accepted.import_id],
  );
  await db.end();
  const parts = Number(IMPORT_SETTINGS.IMPORT_APPLY_PARTS ?? defaults.IMPORT_APPLY_PARTS);
  const floorS =
    process.env.BENCH_IMPORT_FLOOR === '0'
      ? null
      : await applyFloor(
          dbUrl.toString(),
          parts,
          Number(IMPORT_SETTINGS.IMPORT_CHUNK_ROWS ?? defaults.IMPORT_CHUNK_ROWS),
        );
  if (floorS !== null)
    log(`floor (bare writes of the valid rows, ${parts} sessions): ${floorS.toFixed(2)} s`);
  const expect = {
    status: 'SUCCEEDED',
    rows_read: ROWS,
    rejected: BAD,
    applied: NEW,
    no_change: EXISTING,
    on_list: NEW + EXISTING,
    audit_records: NEW + EXISTING,
  };
  const got = { ...status, ...check[0] };
  const wrong = Object.entries(expect).filter(([k, v]) => got[k] !== v);
  if (wrong.length > 0) {
    throw new Error(
      `wrong result: ${wrong.map(([k, v]) => `${k}=${got[k]} (expected ${v})`).join(', ')}`,
    );
  }

  const rows = [
    [
      'baseline: psql \\copy into a bare table',
      `${copyS.toFixed(2)} s`,
      `${Math.round(ROWS / copyS).toLocaleString('en')} rows/s`,
    ],
    [
      'import: first byte to 202 (body stored)',
      `${receivedS.toFixed(2)} s`,
      `${Math.round(ROWS / receivedS).toLocaleString('en')} rows/s`,
    ],
    [
      'import: first byte to SUCCEEDED',
      `${totalS.toFixed(2)} s`,
      `${Math.round(ROWS / totalS).toLocaleString('en')} rows/s`,
    ],
  ];
  console.log('');
  for (const r of rows) console.log(`  ${r[0].padEnd(42)} ${r[1].padStart(9)}  ${r[2]}`);
  console.log(`  ratio import / baseline: ${(totalS / copyS).toFixed(1)}x the time of \\copy`);
  if (floorS !== null) {
    console.log(
      `  floor: bare SQL writes of the valid rows (states, chained audit records; ${parts} sessions): ${floorS.toFixed(2)} s; the job took ${(totalS - receivedS).toFixed(2)} s, ${((totalS - receivedS) / floorS).toFixed(2)}x the floor`,
    );
  }
  const cpu = (from, to, wallS) =>
    `service ${(to.service - from.service).toFixed(1)} s, database ${(to.db - from.db).toFixed(1)} s of CPU in ${wallS.toFixed(1)} s`;
  console.log(`  upload: ${cpu(cpu0, cpu1, receivedS)}`);
  console.log(`  job:    ${cpu(cpu1, cpu2, totalS - receivedS)}`);
  console.log(
    `  service RSS: idle ${idleRss?.toFixed(0)} MB, max ${uploadRss.toFixed(0)} MB during the upload, max ${maxRss.toFixed(0)} MB overall (target <= ${TARGET_RSS_MB} MB): ${maxRss <= TARGET_RSS_MB ? 'PASS' : 'MISS'}`,
  );
  console.log(
    ROWS === 1_000_000
      ? `  time target <= ${TARGET_S} s: ${totalS <= TARGET_S ? 'PASS' : 'MISS'}`
      : `  time target <= ${TARGET_S} s applies to 1,000,000 rows (BENCH_IMPORT_ROWS=${ROWS})`,
  );
}

try {
  await main();
} catch (e) {
  console.error(e);
  for (const c of state.children) console.error(c.logTail());
  process.exitCode = 1;
} finally {
  await cleanup();
}
