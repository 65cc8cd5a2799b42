import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import pg from 'pg';
import { AppConfig, configKeys, loadConfig } from '../src/config/app-config.js';
import { createApp } from '../src/bootstrap.js';
import { TcpProxy } from './tcp-proxy.js';

export const ADMIN_KEY = 'test-admin-key-0123456789';

export interface TestApp {
  app: NestFastifyApplication;
  config: AppConfig;
  baseUrl: string;
  close(): Promise<void>;
}

/** Boots the real app on the run's test database, listening on a free loopback port. */
export async function startTestApp(env: Record<string, string> = {}): Promise<TestApp> {
  const url = process.env.TEST_DATABASE_URL;
  if (!url && !('DATA_DIR' in env)) throw new Error('TEST_DATABASE_URL is not set (global setup)');
  const config = loadConfig({
    // An explicit DATA_DIR means: run on the embedded default, not on the run's database.
    DATABASE_URL: 'DATA_DIR' in env ? undefined : url,
    ADMIN_API_KEY: ADMIN_KEY,
    LOG_LEVEL: 'error',
    PORT: '0',
    HOST: '127.0.0.1',
    SWAGGER_ENABLED: 'true',
    // Test apps share one database: only tests that want the reply worker turn it on.
    OUTBOX_WORKER_ENABLED: 'false',
    ...env,
  });
  const app = await createApp(config);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return { app, config, baseUrl: `http://127.0.0.1:${port}`, close: () => app.close() };
}

/**
 * A test app whose database connections go through a TcpProxy, so that the test can cut the
 * database (proxy.cut()) and bring it back (proxy.restore()). Close both with `close`.
 */
export async function startBehindProxy(
  env: Record<string, string> = {},
): Promise<{ t: TestApp; proxy: TcpProxy; close(): Promise<void> }> {
  const target = new URL(process.env.TEST_DATABASE_URL!);
  const proxy = new TcpProxy(target.hostname, Number(target.port || 5432));
  const viaProxy = new URL(target.toString());
  viaProxy.port = String(await proxy.start());
  const t = await startTestApp({ DATABASE_URL: viaProxy.toString(), ...env });
  return {
    t,
    proxy,
    close: async () => {
      await t.close().catch(() => undefined);
      await proxy.stop();
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Polls `probe` every 20 ms until `ok` holds; throws naming `what` after `timeoutMs`. */
export async function until<T>(
  what: string,
  probe: () => Promise<T> | T,
  ok: (v: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * A small seeded PRNG (mulberry32) for property tests: a failing case can be replayed from its
 * seed. Returns numbers in [0, 1).
 */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A random Swedish mobile number, digits only (as the service stores phone numbers). */
export function randomPhone(): string {
  return `4670${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;
}

/**
 * Test files share the run's database and their workers poll it: marks the PENDING jobs of
 * these projects FAILED (of one kind, or all) so that no other file's worker picks them up.
 */
export async function abandonPendingJobs(
  db: { query(sql: string, params: unknown[]): Promise<unknown> },
  projectIds: readonly string[],
  kind?: string,
): Promise<void> {
  if (projectIds.length === 0) return;
  await db.query(
    `UPDATE outbox_jobs SET status = 'FAILED', finished_at = now(), last_error = 'test cleanup'
      WHERE status = 'PENDING' AND project_id = ANY($1::varchar[])
        AND ($2::varchar IS NULL OR kind = $2::varchar)`,
    [projectIds, kind ?? null],
  );
}

/** A fresh project/app pair, so that test files and tests never see each other's rows. */
export function newApp(): { projectId: string; appId: string; base: string } {
  const projectId = `p-${randomBytes(6).toString('hex')}`;
  const appId = `a-${randomBytes(6).toString('hex')}`;
  return { projectId, appId, base: `/v1/projects/${projectId}/apps/${appId}` };
}

export interface Res<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** A small JSON HTTP client bound to one test app and one bearer token. */
export class Api {
  constructor(
    private readonly baseUrl: string,
    private readonly token: string | null = ADMIN_KEY,
  ) {}

  as(token: string | null): Api {
    return new Api(this.baseUrl, token);
  }

  async request<T = any>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Res<T>> {
    const h: Record<string, string> = { ...headers };
    if (this.token) h.authorization = `Bearer ${this.token}`;
    let payload: string | undefined;
    if (body !== undefined) {
      payload = typeof body === 'string' ? body : JSON.stringify(body);
      h['content-type'] ??= 'application/json';
    }
    const res = await fetch(this.baseUrl + path, { method, headers: h, body: payload });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // keep text
    }
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  get<T = any>(path: string) {
    return this.request<T>('GET', path);
  }
  post<T = any>(path: string, body?: unknown) {
    return this.request<T>('POST', path, body);
  }
  put<T = any>(path: string, body?: unknown) {
    return this.request<T>('PUT', path, body);
  }
  delete<T = any>(path: string, body?: unknown) {
    return this.request<T>('DELETE', path, body);
  }
}

/** A free loopback TCP port (for a service started in its own process). */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The built service (dist/src/main.js) in a child process, with its stdout and stderr kept. */
export interface ServiceProcess {
  proc: ChildProcess;
  baseUrl: string;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code once the process has exited. */
  exited: Promise<number | null>;
  /** Waits (bounded) until the output contains `text`; throws if the process exits first. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once exited. */
  stop(graceMs?: number): Promise<number | null>;
}

/**
 * Spawns the built service with only the given configuration (every config variable of the
 * parent's environment is dropped first; `undefined` leaves one unset). Build first.
 */
export async function spawnService(
  env: Record<string, string | undefined>,
): Promise<ServiceProcess> {
  const port = await freePort();
  const childEnv: Record<string, string | undefined> = { ...process.env };
  for (const key of configKeys()) delete childEnv[key];
  Object.assign(childEnv, {
    ADMIN_API_KEY: ADMIN_KEY,
    PORT: String(port),
    HOST: '127.0.0.1',
    OUTBOX_WORKER_ENABLED: 'false',
    SWAGGER_ENABLED: 'false',
    NODE_OPTIONS: '',
    ...env,
  });
  for (const [k, v] of Object.entries(childEnv)) if (v === undefined) delete childEnv[k];
  const proc = spawn(process.execPath, ['dist/src/main.js'], {
    env: childEnv,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  let exitCode: number | null | undefined;
  const exited = new Promise<number | null>((resolve) =>
    proc.once('exit', (code, signal) => resolve((exitCode = code ?? (signal ? -1 : null)))),
  );
  return {
    proc,
    baseUrl: `http://127.0.0.1:${port}`,
    output: () => out,
    exited,
    async waitFor(text, timeoutMs = 90_000) {
      const deadline = Date.now() + timeoutMs;
      while (!out.includes(text)) {
        if (exitCode !== undefined)
          throw new Error(`the service exited (${exitCode}) before "${text}":\n${out}`);
        if (Date.now() > deadline) throw new Error(`timed out waiting for "${text}":\n${out}`);
        await sleep(50);
      }
    },
    async stop(graceMs = 15_000) {
      if (exitCode !== undefined) return exitCode;
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/**
 * A fresh, empty PostgreSQL database on the server of DATABASE_URL (not the run's shared one),
 * for a test that needs a database of its own; `drop` removes it.
 */
export async function freshPostgresDatabase(
  prefix: string,
): Promise<{ url: string; drop(): Promise<void> }> {
  const admin = new pg.Client({ connectionString: process.env.DATABASE_URL });
  await admin.connect();
  const name = `${prefix}_${Date.now()}_${Math.floor(Math.random() * 1e6)}`;
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const u = new URL(process.env.DATABASE_URL!);
  u.pathname = `/${name}`;
  return {
    url: u.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: process.env.DATABASE_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
