import { createReadStream, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { NestFactory } from '@nestjs/core';
import cliProgress from 'cli-progress';
import { AppModule } from '../app.module.js';
import { ApiError } from '../common/api-error.js';
import { ConfigError, loadConfig, loadDotEnv } from '../config/app-config.js';
import { DataDirLockedError } from '../database/data-dir-lock.js';
import { RESOURCE_ID_PATTERN } from '../common/ids.js';
import { ImportFormat, ImportStatus } from '../imports/import.entity.js';
import { IMPORT_JOB, ImportsService } from '../imports/imports.service.js';
import { JobRunner } from '../jobs/job-runner.js';
import { DataSource } from 'typeorm';

/**
 * `npm run import -- --app PROJECT/APP file.csv [--dry-run] [--format csv|ndjson]`: imports a
 * file into an app against the database of the environment (the service's own configuration,
 * `.env` included),
 * through the same ImportsService as POST .../imports, then applies it in this process (the
 * IMPORT job, as a worker would) with a progress bar on a TTY. Exit 0 when it SUCCEEDED, 1
 * otherwise, 2 on a usage error. With the embedded database the service must not be running (one
 * process per DATA_DIR).
 */
const USAGE = 'usage: npm run import -- --app PROJECT/APP FILE [--dry-run] [--format csv|ndjson]\n';
const ACTOR = 'cli';

function usage(message: string): never {
  process.stderr.write(`${message}\n${USAGE}`);
  process.exit(2);
}

let args: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    allowPositionals: true,
    options: {
      app: { type: 'string' },
      'dry-run': { type: 'boolean', default: false },
      format: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
  });
}
try {
  args = parse();
} catch (e) {
  usage((e as Error).message);
}
if (args.values.help) {
  process.stdout.write(USAGE);
  process.exit(0);
}
const [projectId, appId, extra] = (args.values.app ?? '').split('/');
if (!projectId || !appId || extra !== undefined)
  usage('--app PROJECT/APP is required (e.g. --app my-project/01EB37HMH1M6SV18ABNS3G135H)');
if (!RESOURCE_ID_PATTERN.test(projectId) || !RESOURCE_ID_PATTERN.test(appId))
  usage('PROJECT and APP must be 1-64 characters of letters, digits, ".", "_", ":" or "-"');
if (args.positionals.length !== 1) usage('give exactly one file');
const file = args.positionals[0]!;
const formatArg = args.values.format ?? (/\.(nd)?jsonl?$/i.test(file) ? 'ndjson' : 'csv');
if (formatArg !== 'csv' && formatArg !== 'ndjson') usage('--format must be csv or ndjson');
const format = formatArg === 'csv' ? ImportFormat.CSV : ImportFormat.NDJSON;
let size: number;
try {
  size = statSync(file).size;
} catch {
  usage(`cannot read ${file}`);
}

let config;
try {
  loadDotEnv();
  // The job runs here, on demand: no background workers in this process.
  config = loadConfig({ ...process.env, OUTBOX_WORKER_ENABLED: 'false' });
} catch (e) {
  if (e instanceof ConfigError) usage(e.message);
  throw e;
}
const app = await NestFactory.createApplicationContext(AppModule.forRoot(config), {
  logger: ['error'],
  abortOnError: false,
}).catch((e: unknown) => {
  if (e instanceof DataDirLockedError) {
    process.stderr.write(
      `${e.message}\nThe embedded database is in use: stop the service (or point DATABASE_URL at PostgreSQL) and run the import again.\n`,
    );
    process.exit(1);
  }
  throw e;
});
const tty = process.stderr.isTTY === true;
let exitCode: number;
try {
  const imports = app.get(ImportsService);
  const app$ = { projectId, appId };
  process.stderr.write(`reading ${file} (${size} bytes, ${format})...\n`);
  const result = await imports.upload(app$, ACTOR, {
    format,
    body: createReadStream(file),
    contentLength: size,
    dryRun: args.values['dry-run'],
  });
  let view;
  if (result.dryRun) {
    view = result.view;
  } else {
    const importId = result.importId;
    process.stderr.write(`import ${importId} stored; applying...\n`);
    const runner = app.get(JobRunner);
    const bar = tty
      ? new cliProgress.SingleBar(
          {
            format: 'applying [{bar}] {percentage}% | {value}/{total} rows | {eta_formatted} left',
          },
          cliProgress.Presets.shades_classic,
        )
      : null;
    let row = (await imports.find(importId))!;
    const total = row.rows_read - row.rejected;
    bar?.start(total, 0);
    let lastLine = 0;
    const progress = async () => {
      row = (await imports.find(importId))!;
      const done = row.applied + row.no_change + row.superseded;
      if (bar) bar.update(done);
      else if (Date.now() - lastLine >= 2000 || row.status !== ImportStatus.RUNNING) {
        lastLine = Date.now();
        process.stderr.write(`applied ${done}/${total} rows\n`);
      }
    };
    const ticker = setInterval(() => void progress().catch(() => undefined), 250);
    try {
      while (row.status === ImportStatus.RUNNING) {
        const claimed = await runner.runOnce(IMPORT_JOB);
        row = (await imports.find(importId))!;
        if (row.status !== ImportStatus.RUNNING) break;
        const failed = row.job_id ? await lastError(row.job_id) : null;
        if (failed) throw new Error(`the import job failed (${failed}); the service retries it`);
        if (claimed === 0) await new Promise((r) => setTimeout(r, 200));
      }
    } finally {
      clearInterval(ticker);
      await progress().catch(() => undefined);
      bar?.stop();
    }
    view = await imports.status(app$, importId);
  }
  process.stdout.write(
    `${view.dry_run ? 'dry run' : `import ${view.import_id}`}: ${view.status}\n` +
      `rows_read=${view.rows_read} applied=${view.applied} no_change=${view.no_change} superseded=${view.superseded} rejected=${view.rejected}\n`,
  );
  for (const e of view.errors.slice(0, 20))
    process.stdout.write(`  line ${e.line}: ${e.field || '(row)'} ${e.description}\n`);
  if (view.rejected > 20) process.stdout.write(`  ... ${view.rejected - 20} more rejected rows\n`);
  if (view.error) process.stdout.write(`error: ${view.error}\n`);
  exitCode = view.status === ImportStatus.SUCCEEDED ? 0 : 1;
} catch (e) {
  if (e instanceof ApiError) process.stderr.write(`${e.message}\n`);
  else process.stderr.write(`import failed: ${e instanceof Error ? e.message : String(e)}\n`);
  exitCode = 1;
} finally {
  await app.close();
}
process.exit(exitCode);

/** The job's last error while it waits for a retry, or null. */
async function lastError(jobId: string): Promise<string | null> {
  const rows: { last_error: string | null; status: string }[] = await app
    .get(DataSource)
    .query(`SELECT last_error, status FROM outbox_jobs WHERE id = $1`, [jobId]);
  const r = rows[0];
  return r && r.status === 'PENDING' && r.last_error ? r.last_error : null;
}
