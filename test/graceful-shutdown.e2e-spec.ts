// Graceful shutdown of the built service, in its own process (src/shutdown.ts): on SIGTERM it
// refuses new connections, answers the request in flight (an import upload still streaming in)
// and finishes the running job (a callback to a target that answers late), closes the database
// (and the embedded PGlite: the restart on the same DATA_DIR finds the data and no lock) and
// exits 0 within SHUTDOWN_TIMEOUT_MS; work that outlasts the bound makes it exit 1 by the bound.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, existsSync, rmSync } from 'node:fs';
import { request as httpRequest, createServer, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { LOCK_FILE } from '../src/database/data-dir-lock.js';
import {
  ADMIN_KEY,
  Api,
  freshPostgresDatabase,
  newApp,
  randomPhone,
  ServiceProcess,
  spawnService,
  until,
} from './utils.js';

const onPostgres = Boolean(process.env.DATABASE_URL);
const children: ServiceProcess[] = [];
const dirs: string[] = [];
const projects: string[] = [];

afterAll(async () => {
  await Promise.all(children.map((c) => c.stop(5_000)));
  if (onPostgres && projects.length > 0) {
    // Leave no job of ours for other files' workers (the bound case leaves one claimed).
    const db = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await db.connect();
    await db.query(
      `UPDATE outbox_jobs SET status = 'FAILED', finished_at = now(), last_error = 'test cleanup'
        WHERE status = 'PENDING' AND project_id = ANY($1::varchar[])`,
      [projects],
    );
    await db.end();
  }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  for (const drop of drops) await drop();
});

const drops: (() => Promise<void>)[] = [];

/**
 * One database of this run's kind for a test: a fresh PostgreSQL database (the run's is shared
 * with other files, whose jobs this service's workers would otherwise take), or a fresh DATA_DIR.
 */
async function databaseEnv(): Promise<Record<string, string>> {
  const dir = mkdtempSync(join(tmpdir(), 'consent-gate-shutdown-'));
  dirs.push(dir);
  const dataDir = join(dir, 'data');
  if (!onPostgres) return { DATA_DIR: dataDir };
  const db = await freshPostgresDatabase('consent_gate_shutdown');
  drops.push(db.drop);
  return { DATABASE_URL: db.url, DATA_DIR: dataDir };
}

async function boot(env: Record<string, string>): Promise<ServiceProcess> {
  const service = await spawnService({ LOG_LEVEL: 'log', ...env });
  children.push(service);
  await service.waitFor('Consent Gate listening');
  return service;
}

/** Resolves with the connection error code (ECONNREFUSED), or 'connected'. */
function connectOutcome(baseUrl: string): Promise<string> {
  const { hostname, port } = new URL(baseUrl);
  return new Promise((resolve) => {
    const socket = net.connect(Number(port), hostname);
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

/** Exit code and how long after `since` it came. */
async function exitOf(service: ServiceProcess, since: number) {
  const code = await service.exited;
  return { code, afterMs: Date.now() - since };
}

/** A callback target that holds every request until `release` (then answers 200). */
class LateTarget {
  private server?: Server;
  readonly held: ServerResponse[] = [];
  url = '';
  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      req.resume();
      req.on('end', () => this.held.push(res));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hook`;
  }
  release(): void {
    for (const res of this.held.splice(0)) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    }
  }
  async stop(): Promise<void> {
    for (const res of this.held.splice(0)) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }
}

describe(`graceful shutdown (${onPostgres ? 'PostgreSQL' : 'embedded'})`, () => {
  const target = new LateTarget();
  beforeAll(() => target.start());
  afterAll(() => target.stop());

  it('SIGTERM: the upload in flight gets its 202, a new connection is refused, exit 0 within the bound, data kept', async () => {
    const env: Record<string, string> = { ...(await databaseEnv()), SHUTDOWN_TIMEOUT_MS: '8000' };
    const service = await boot(env);
    const a = newApp();
    projects.push(a.projectId);
    const phones = [randomPhone(), randomPhone()];
    const head = 'identity,list_type,action\n';
    const rest = phones.map((p) => `+${p},OPT_OUT_MARKETING,OPT_OUT\n`).join('');
    const url = new URL(`${a.base}/imports`, service.baseUrl);

    // The upload: its header row now, the rest after SIGTERM.
    let status = 0;
    let text = '';
    const req = httpRequest(url, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${ADMIN_KEY}`,
        'content-type': 'text/csv',
        'content-length': String(Buffer.byteLength(head + rest)),
      },
    });
    const answered = new Promise<void>((resolve, reject) => {
      req.once('response', (res) => {
        status = res.statusCode ?? 0;
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', resolve);
      });
      req.once('error', reject);
    });
    req.write(head);
    // The service has the request (it is in flight) once it waits for the body.
    await new Promise((r) => setTimeout(r, 500));

    const signalledAt = Date.now();
    service.proc.kill('SIGTERM');
    await service.waitFor('SIGTERM: shutting down', 5_000);
    expect(service.output()).toContain('finishing 1 request(s) in flight');
    expect(await connectOutcome(service.baseUrl)).toBe('ECONNREFUSED');

    req.end(rest);
    await answered;
    expect(status).toBe(202);
    const importId = (JSON.parse(text) as { import_id: string }).import_id;
    expect(importId).toMatch(/^[0-9A-Z]{26}$/);

    const exit = await exitOf(service, signalledAt);
    expect(exit.code).toBe(0);
    expect(exit.afterMs).toBeLessThan(8_000);
    const out = service.output();
    expect(out).toMatch(/"context":"Shutdown","msg":"shut down cleanly in \d+ ms/);
    for (const secret of [ADMIN_KEY, ...phones]) expect(out).not.toContain(secret);
    if (!onPostgres) expect(existsSync(join(env.DATA_DIR!, LOCK_FILE))).toBe(false);

    // The stored upload is there after a restart (on the embedded database: the same DATA_DIR).
    const again = await boot(env);
    const res = await new Api(again.baseUrl).get(`${a.base}/imports/${importId}`);
    expect(res.status).toBe(200);
    expect(res.body.import_id).toBe(importId);
    expect(await again.stop()).toBe(0);
  });

  it('SIGTERM: the running job (a callback answered late) finishes and is recorded before exit 0', async () => {
    const env: Record<string, string> = {
      ...(await databaseEnv()),
      OUTBOX_WORKER_ENABLED: 'true',
      OUTBOX_POLL_INTERVAL_MS: '100',
      CALLBACK_TIMEOUT_MS: '20000',
      SHUTDOWN_TIMEOUT_MS: '8000',
    };
    const service = await boot(env);
    const api = new Api(service.baseUrl);
    const a = newApp();
    projects.push(a.projectId);
    const sub = await api.post(`${a.base}/callbacks`, {
      target_url: target.url,
      secret: 'callback-signing-secret-0123',
      triggers: ['OPT_OUT'],
    });
    expect(sub.status).toBe(201);
    expect(
      (await api.put(`${a.base}/identities/${randomPhone()}/opt-outs/OPT_OUT_ALL`)).status,
    ).toBe(200);
    await until(
      'the callback at the target',
      () => target.held.length,
      (n) => n === 1,
    );

    const signalledAt = Date.now();
    service.proc.kill('SIGTERM');
    await service.waitFor('SIGTERM: shutting down', 5_000);
    expect(service.output()).toContain('1 job(s) running');
    expect(await connectOutcome(service.baseUrl)).toBe('ECONNREFUSED');
    await new Promise((r) => setTimeout(r, 500));
    expect(service.proc.exitCode).toBeNull(); // still waiting for its job
    target.release();

    const exit = await exitOf(service, signalledAt);
    expect(exit.code).toBe(0);
    expect(exit.afterMs).toBeLessThan(8_000);
    expect(service.output()).toContain('shut down cleanly');

    const again = await boot({ ...env, OUTBOX_WORKER_ENABLED: 'false' });
    const res = await new Api(again.baseUrl).get(`${a.base}/callbacks/${sub.body.id}/deliveries`);
    expect(res.status).toBe(200);
    expect(res.body.deliveries.map((d: { outcome: string }) => d.outcome)).toEqual(['SUCCEEDED']);
    expect(await again.stop()).toBe(0);
  });

  it('SIGTERM during an import job: it stops after its chunk, exits 0, and the next claim resumes it to the end', async () => {
    const env: Record<string, string> = {
      ...(await databaseEnv()),
      OUTBOX_WORKER_ENABLED: 'true',
      OUTBOX_POLL_INTERVAL_MS: '100',
      IMPORT_CHUNK_ROWS: '1',
      SHUTDOWN_TIMEOUT_MS: '8000',
    };
    const service = await boot(env);
    const api = new Api(service.baseUrl);
    const a = newApp();
    projects.push(a.projectId);
    const rows = 400;
    const csv =
      'identity,list_type\n' +
      Array.from({ length: rows }, () => `+${randomPhone()},OPT_OUT_MARKETING\n`).join('');
    const upload = await api.request('POST', `${a.base}/imports`, csv, {
      'content-type': 'text/csv',
    });
    expect(upload.status).toBe(202);
    const status = () => api.get(`${a.base}/imports/${upload.body.import_id}`);
    await until('the import under way', status, (r) => r.body.applied > 0, 30_000);

    const signalledAt = Date.now();
    service.proc.kill('SIGTERM');
    const exit = await exitOf(service, signalledAt);
    expect(exit.code).toBe(0);
    expect(exit.afterMs).toBeLessThan(8_000);
    expect(service.output()).toContain('stopped between two chunks (shutting down)');

    const again = await boot(env);
    const done = await until(
      'the import finished after the restart',
      () => new Api(again.baseUrl).get(`${a.base}/imports/${upload.body.import_id}`),
      (r) => r.body.status !== 'RUNNING',
      60_000,
    );
    expect(done.body).toMatchObject({ status: 'SUCCEEDED', rows_read: rows, applied: rows });
    expect(await again.stop()).toBe(0);
  });

  it('work that outlasts SHUTDOWN_TIMEOUT_MS: the process exits 1 by the bound, saying so', async () => {
    const env: Record<string, string> = {
      ...(await databaseEnv()),
      OUTBOX_WORKER_ENABLED: 'true',
      OUTBOX_POLL_INTERVAL_MS: '100',
      CALLBACK_TIMEOUT_MS: '60000',
      SHUTDOWN_TIMEOUT_MS: '1500',
    };
    const service = await boot(env);
    const api = new Api(service.baseUrl);
    const a = newApp();
    projects.push(a.projectId);
    const sub = await api.post(`${a.base}/callbacks`, {
      target_url: target.url,
      secret: 'callback-signing-secret-0123',
      triggers: ['OPT_OUT'],
    });
    expect(sub.status).toBe(201);
    expect(
      (await api.put(`${a.base}/identities/${randomPhone()}/opt-outs/OPT_OUT_ALL`)).status,
    ).toBe(200);
    await until(
      'the callback at the target',
      () => target.held.length,
      (n) => n === 1,
    );

    const signalledAt = Date.now();
    service.proc.kill('SIGTERM');
    const exit = await exitOf(service, signalledAt);
    expect(exit.code).toBe(1);
    expect(exit.afterMs).toBeGreaterThanOrEqual(1_400);
    expect(exit.afterMs).toBeLessThan(1_500 + 1_500);
    expect(service.output()).toContain(
      'shutdown did not finish within SHUTDOWN_TIMEOUT_MS (1500 ms): exiting with code 1 (0 request(s) in flight, 1 job(s) running)',
    );
    expect(service.output()).not.toContain('shut down cleanly');
    // Nothing keeps the embedded DATA_DIR locked after the forced exit.
    if (!onPostgres) expect(existsSync(join(env.DATA_DIR!, LOCK_FILE))).toBe(false);
  });
});
