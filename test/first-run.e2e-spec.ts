import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { AdminKeyStatus, BootstrapAdminKey } from '../src/auth/bootstrap-admin-key.js';
import { bootSummary } from '../src/boot-summary.js';
import { configKeys, loadConfig } from '../src/config/app-config.js';
import { EmbeddedPostgres } from '../src/database/embedded-postgres.js';
import { buildDataSourceOptions } from '../src/database/typeorm-options.js';
import { LOCK_FILE } from '../src/database/data-dir-lock.js';
import {
  Api,
  freshPostgresDatabase,
  newApp,
  ServiceProcess,
  spawnService,
  startTestApp,
  TestApp,
} from './utils.js';

// First run: the bootstrap admin key and the keys CLI, each on a database of its own of this
// run's kind (a fresh PostgreSQL database with DATABASE_URL, else a fresh embedded one), since
// they depend on there being no admin key yet.
const onPostgres = Boolean(process.env.DATABASE_URL);
const sha256 = (s: string) => createHash('sha256').update(s, 'utf8').digest('hex');

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'consent-gate-first-run-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A fresh, empty PostgreSQL database on the run's server (dropped after the file). */
async function freshPostgres(): Promise<string> {
  const db = await freshPostgresDatabase('consent_gate_first_run');
  cleanups.push(() => db.drop());
  return db.url;
}

/**
 * The configuration of a fresh database of the run's kind: on PostgreSQL a new database (and
 * DATA_DIR only for the key file), else an embedded one in a new DATA_DIR.
 */
async function freshDatabaseEnv(): Promise<{ env: Record<string, string>; dataDir: string }> {
  const dataDir = join(tempDir(), 'data');
  return onPostgres
    ? { env: { DATABASE_URL: await freshPostgres(), DATA_DIR: dataDir }, dataDir }
    : { env: { DATA_DIR: dataDir }, dataDir };
}

/** A fresh migrated database that several instances can share (embedded: served, in memory). */
async function sharedFreshDatabase(): Promise<string> {
  let url: string;
  if (onPostgres) url = await freshPostgres();
  else {
    const embedded = new EmbeddedPostgres();
    url = await embedded.start('memory://', 40);
    cleanups.push(() => embedded.stop());
  }
  const ds = new DataSource(buildDataSourceOptions(loadConfig({ DATA_DIR: 'memory://' }), url));
  await ds.initialize();
  await ds.runMigrations();
  await ds.destroy();
  return url;
}

async function boot(env: Record<string, string>): Promise<TestApp & { status: AdminKeyStatus }> {
  // ADMIN_API_KEY '' is unset (loadConfig ignores empty values).
  const t = await startTestApp({ ADMIN_API_KEY: '', ...env });
  return { ...t, status: t.app.get(BootstrapAdminKey).status! };
}

async function adminRows(t: TestApp) {
  return (await t.app
    .get(DataSource)
    .query(
      `SELECT id, name, created_by, secret_hash, row_to_json(k)::text AS text FROM api_keys k WHERE 'admin' = ANY(scopes) ORDER BY created_at`,
    )) as { id: string; name: string; created_by: string; secret_hash: string; text: string }[];
}

function mode(path: string): number {
  return statSync(path).mode & 0o777;
}

/** The keys CLI (built) with only the given configuration; resolves with its exit and output. */
function runKeys(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const childEnv: Record<string, string | undefined> = { ...process.env };
  for (const key of configKeys()) delete childEnv[key];
  Object.assign(childEnv, { NODE_OPTIONS: '', ...env });
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  const child = spawn(process.execPath, ['dist/src/scripts/keys.js', ...args], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, stdout, stderr })));
}

describe(`first run: the bootstrap admin key (${onPostgres ? 'PostgreSQL' : 'embedded'})`, () => {
  it('is created once at first boot: file 0600, works as an admin Bearer, only its hash stored, never logged; then reported, not recreated', async () => {
    const { env, dataDir } = await freshDatabaseEnv();
    const file = join(dataDir, 'bootstrap-admin-key');

    // 1. The built service, as `npm start` runs it, with nothing configured but the database.
    const service: ServiceProcess = await spawnService({
      ADMIN_API_KEY: undefined,
      DATABASE_URL: undefined,
      LOG_LEVEL: 'log',
      SWAGGER_ENABLED: 'true',
      ...env,
    });
    let secret: string;
    try {
      await service.waitFor('"context":"Bootstrap","msg":"Admin:');
      expect(mode(file)).toBe(0o600);
      secret = readFileSync(file, 'utf8').trim();
      expect(secret).toMatch(/^cg_[0-9A-Z]{26}_[\w-]{43}$/);
      const out = service.output();
      expect(out).not.toContain(secret);
      expect(out).not.toContain(secret.slice(-20));
      // A short summary: every line JSON, at most 10 of them, no route mapping.
      const lines = out.trim().split('\n');
      expect(lines.length).toBeLessThanOrEqual(10);
      for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
      expect(out).not.toMatch(/Mapped \{|RouterExplorer|InstanceLoader/);
      const admin = lines.map((l) => JSON.parse(l)).find((l) => /^Admin:/.test(l.msg));
      expect(admin.level).toBe('info');
      expect(admin.msg).toContain(`created the bootstrap admin key`);
      expect(admin.msg).toContain(`$(cat ${file})`);
      expect(admin.msg).toContain(`--oauth2-bearer $(cat ${file}) ${service.baseUrl}/v1/api-keys`);
      expect(out).toContain('Consent Gate listening on');
      expect(out).toContain(`${service.baseUrl}/docs`);
      expect(out).toContain(onPostgres ? 'Database: PostgreSQL at' : `data in ${dataDir}`);

      // The secret is an admin bearer token.
      const api = new Api(service.baseUrl, secret);
      const listed = await api.get('/v1/api-keys');
      expect(listed.status).toBe(200);
      expect(listed.body.api_keys).toEqual([
        expect.objectContaining({ name: 'bootstrap-admin', scopes: ['admin'], revoked_at: null }),
      ]);
      const minted = await api.post('/v1/api-keys', { name: 'reader', scopes: ['read'] });
      expect(minted.status).toBe(201);
      expect(service.output()).not.toContain(secret);
    } finally {
      await service.stop();
    }

    // 2. Second boot: the same key, reported; nothing new.
    let t = await boot(env);
    try {
      expect(t.status).toMatchObject({ kind: 'bootstrap', file, fileState: 'ok' });
      const rows = await adminRows(t);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.secret_hash).toBe(sha256(secret));
      // The secret itself is nowhere in the database.
      const found = await t.app
        .get(DataSource)
        .query(`SELECT count(*)::int AS n FROM api_keys k WHERE row_to_json(k)::text LIKE $1`, [
          `%${secret.slice(-30)}%`,
        ]);
      expect(found[0].n).toBe(0);
      expect(readFileSync(file, 'utf8').trim()).toBe(secret);
      expect((await new Api(t.baseUrl, secret).get('/v1/api-keys')).status).toBe(200);
    } finally {
      await t.close();
    }

    // 3. The file deleted: no new key; the summary says what to do.
    unlinkSync(file);
    t = await boot(env);
    try {
      expect(t.status).toMatchObject({ kind: 'bootstrap', fileState: 'missing' });
      expect(existsSync(file)).toBe(false);
      expect(await adminRows(t)).toHaveLength(1);
      const line = bootSummary(t.config, 3000, t.status).find((l) => /^Admin:/.test(l.message))!;
      expect(line.level).toBe('warn');
      expect(line.message).toContain('is gone');
      expect(line.message).toContain('npm run keys -- create --name admin --scopes admin');
      // Another admin key, minted with the bootstrap key (still valid).
      const other = await new Api(t.baseUrl, secret).post('/v1/api-keys', {
        name: 'ops',
        scopes: ['admin'],
      });
      expect(other.status).toBe(201);
    } finally {
      await t.close();
    }

    // 4. Once another admin key exists, the bootstrap message stops.
    t = await boot(env);
    try {
      expect(t.status).toEqual({ kind: 'admin-keys', count: 1 });
      const text = bootSummary(t.config, 3000, t.status)
        .map((l) => l.message)
        .join('\n');
      expect(text).not.toContain('bootstrap');
      expect(existsSync(file)).toBe(false);
    } finally {
      await t.close();
    }
  }, 240_000);

  it('is not created when ADMIN_API_KEY is set', async () => {
    const { env, dataDir } = await freshDatabaseEnv();
    const t = await startTestApp(env);
    try {
      expect(t.app.get(BootstrapAdminKey).status).toEqual({ kind: 'env' });
      expect(existsSync(join(dataDir, 'bootstrap-admin-key'))).toBe(false);
      const n = await t.app.get(DataSource).query('SELECT count(*)::int AS n FROM api_keys');
      expect(n[0].n).toBe(0);
    } finally {
      await t.close();
    }
  }, 120_000);

  it('is created exactly once when three instances boot at once on one database', async () => {
    const url = await sharedFreshDatabase();
    const dir = tempDir();
    const files = [0, 1, 2].map((i) => join(dir, `key-${i}`));
    const apps = await Promise.all(
      files.map((f) => boot({ DATABASE_URL: url, BOOTSTRAP_KEY_FILE: f, MIGRATIONS_RUN: 'false' })),
    );
    try {
      const kinds = apps.map((a) => a.status.kind).sort();
      expect(kinds).toEqual(['bootstrap', 'bootstrap', 'created']);
      expect(files.filter((f) => existsSync(f))).toHaveLength(1);
      const rows = await adminRows(apps[0]!);
      expect(rows).toHaveLength(1);
      const created = apps.find((a) => a.status.kind === 'created')!.status;
      expect(created).toMatchObject({ keyId: rows[0]!.id });
      const secret = readFileSync((created as { file: string }).file, 'utf8').trim();
      expect(rows[0]!.secret_hash).toBe(sha256(secret));
      for (const a of apps) {
        expect((await new Api(a.baseUrl, secret).get('/v1/api-keys')).status).toBe(200);
      }
    } finally {
      await Promise.all(apps.map((a) => a.close()));
    }
  }, 120_000);
});

describe(`the keys CLI (${onPostgres ? 'PostgreSQL' : 'embedded'})`, () => {
  it('creates (secret printed once), lists and revokes keys against the configured database', async () => {
    const { env, dataDir } = await freshDatabaseEnv();
    const cliEnv = env;

    const usage = await runKeys(['create', '--name', 'x', '--scopes', 'read,owner'], cliEnv);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toContain('each scope must be one of read, write, admin');

    const created = await runKeys(['create', '--name', 'svc', '--scopes', 'read,write'], cliEnv);
    expect(created.stderr).toContain('shown this once');
    expect(created.code).toBe(0);
    const keyId = /^key_id=(\S+)$/m.exec(created.stdout)![1]!;
    const secret = /^key_secret=(\S+)$/m.exec(created.stdout)![1]!;
    expect(secret).toMatch(new RegExp(`^cg_${keyId}_`));
    // The CLI does not make the bootstrap key.
    expect(existsSync(join(dataDir, 'bootstrap-admin-key'))).toBe(false);

    const listed = await runKeys(['list'], cliEnv);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^${keyId}  active  read,write  svc`, 'm'));
    expect(listed.stdout).not.toContain(secret);

    const { base } = newApp();
    let t = await startTestApp(env);
    try {
      const hash = await t.app
        .get(DataSource)
        .query('SELECT secret_hash, created_by FROM api_keys WHERE id = $1', [keyId]);
      expect(hash[0]).toEqual({ secret_hash: sha256(secret), created_by: 'cli' });
      const api = new Api(t.baseUrl, secret);
      expect((await api.get(`${base}/consents/OPT_OUT_ALL`)).status).toBe(200);
      if (!onPostgres) await t.close();
      // On PostgreSQL the CLI runs beside the service, and the revocation reaches it at once.
      const revoked = await runKeys(['revoke', keyId], cliEnv);
      expect(revoked.code).toBe(0);
      expect(revoked.stdout).toContain(`revoked ${keyId} "svc"`);
      if (!onPostgres) t = await startTestApp(env);
      const deadline = Date.now() + 5_000;
      let status = 0;
      while (Date.now() < deadline) {
        status = (await new Api(t.baseUrl, secret).get(`${base}/consents/OPT_OUT_ALL`)).status;
        if (status === 401) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(status).toBe(401);
    } finally {
      await t.close();
    }

    const after = await runKeys(['list'], cliEnv);
    expect(after.stdout).toMatch(new RegExp(`^${keyId}  revoked \\S+  read,write  svc`, 'm'));
    const unknown = await runKeys(['revoke', '01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A'], cliEnv);
    expect(unknown.code).toBe(1);
    expect(unknown.stderr).toContain('not found');
  }, 180_000);

  it('refuses, saying what to do, while a running service holds the embedded database', async () => {
    const dataDir = join(tempDir(), 'data');
    const service = await spawnService({
      DATABASE_URL: undefined,
      ADMIN_API_KEY: undefined,
      DATA_DIR: dataDir,
    });
    try {
      await service.waitFor('"msg":"Admin:');
      const port = new URL(service.baseUrl).port;
      const refused = await runKeys(['create', '--name', 'svc', '--scopes', 'read'], {
        DATA_DIR: dataDir,
        PORT: port,
      });
      expect(refused.code).toBe(1);
      expect(refused.stdout).toBe('');
      expect(refused.stderr).toContain(
        `The embedded database in ${dataDir} is in use by a running Consent Gate (pid ${service.proc.pid}`,
      );
      expect(refused.stderr).toContain(
        `curl -s -X POST http://localhost:${port}/v1/api-keys -H "Authorization: Bearer $(cat ${join(dataDir, 'bootstrap-admin-key')})"`,
      );
      expect(refused.stderr).toContain('or stop the service and run this command again');
      expect(refused.stderr).not.toMatch(/^\s+at /m);
      // The service is untouched and still holds its directory.
      expect((await fetch(`${service.baseUrl}/health`)).status).toBe(200);
      expect(existsSync(join(dataDir, LOCK_FILE))).toBe(true);
    } finally {
      await service.stop();
    }
  }, 120_000);
});
