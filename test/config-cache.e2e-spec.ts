// The one cache of app configuration (src/config-cache/): a change is seen at once on the
// instance that made it, and on every other instance through LISTEN/NOTIFY (within 1 s; the
// caches' TTL is set to 5 minutes here, so only the notification can explain it). On the
// embedded PGlite served to the test suite, notifications do not reach another connection (all
// connections share one session): there another instance follows by the TTL, which these tests
// then set short, and the cache reports that it is not listening.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { DataSource } from 'typeorm';
import { AppConfigCache } from '../src/config-cache/app-config-cache.js';
import { inboundText, signatureHeaders } from './sinch-payloads.js';
import {
  abandonPendingJobs,
  Api,
  newApp,
  randomPhone,
  startTestApp,
  TestApp,
  until,
} from './utils.js';

const SECRET = 'config-cache-webhook-secret';
const LONG_TTL = '300000';

/** Every project these tests make: their jobs are abandoned at the end (other files' workers). */
const projects: string[] = [];

function fresh() {
  const app = newApp();
  projects.push(app.projectId);
  return app;
}

async function onPglite(): Promise<boolean> {
  const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await client.connect();
  try {
    const rows = (await client.query('SELECT version() AS v')).rows as { v: string }[];
    return /PGlite/i.test(rows[0]!.v);
  } finally {
    await client.end();
  }
}

async function webhook(t: TestApp, projectId: string, appId: string, text: string) {
  const body = JSON.stringify(inboundText(projectId, appId, text, { identity: randomPhone() }));
  const res = await fetch(`${t.baseUrl}/webhooks/sinch`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...signatureHeaders(body, SECRET) },
    body,
  });
  return ((await res.json()) as { outcome: string }).outcome;
}

async function modeSeenBy(api: Api, base: string): Promise<string> {
  const res = await api.post(`${base}/consents:check`, {
    identities: [randomPhone()],
    message_content_type: 'CONTENT_MARKETING',
  });
  expect(res.status).toBe(200);
  return res.body.mode;
}

async function callbackJobs(ds: DataSource, projectId: string): Promise<number> {
  const rows: { n: number }[] = await ds.query(
    `SELECT count(*)::int AS n FROM outbox_jobs WHERE kind = 'CALLBACK' AND project_id = $1`,
    [projectId],
  );
  return rows[0]!.n;
}

/** One opt-out through the API of `api`: emits OPT_OUT to the app's callback subscriptions. */
async function optOut(api: Api, base: string): Promise<void> {
  const res = await api.put(`${base}/identities/${randomPhone()}/opt-outs/OPT_OUT_MARKETING`);
  expect(res.status).toBe(200);
}

describe('app configuration cache on the instance that writes (TTL 5 min)', () => {
  let t: TestApp;
  let api: Api;
  let ds: DataSource;

  beforeAll(async () => {
    t = await startTestApp({ SETTINGS_CACHE_TTL_MS: LONG_TTL, AUTH_CACHE_TTL_MS: LONG_TTL });
    api = new Api(t.baseUrl);
    ds = t.app.get(DataSource);
  });
  afterAll(async () => {
    if (ds) await abandonPendingJobs(ds, projects);
    await t?.close();
  });

  it('a STOP right after matching_profile US_FCC is an opt-out (issue 7, defect 2)', async () => {
    const { projectId, appId, base } = fresh();
    await api.put(`${base}/consent-settings`, { webhook_secrets: [SECRET], auto_reply: false });
    expect(await webhook(t, projectId, appId, 'Stop.')).toBe('NO_KEYWORD');
    expect((await api.put(`${base}/consent-settings`, { matching_profile: 'US_FCC' })).status).toBe(
      200,
    );
    expect(await webhook(t, projectId, appId, 'Stop.')).toBe('KEYWORD_OPT_OUT');
  });

  it('a custom keyword matches at once when added and stops at once when deleted', async () => {
    const { projectId, appId, base } = fresh();
    await api.put(`${base}/consent-settings`, { webhook_secrets: [SECRET], auto_reply: false });
    expect(await webhook(t, projectId, appId, 'BASTA')).toBe('NO_KEYWORD');
    const created = await api.post(`${base}/keywords`, {
      phrase: 'BASTA',
      action: 'OPT_OUT',
      list_type: 'OPT_OUT_MARKETING',
      language: 'IT',
    });
    expect(created.status).toBe(201);
    expect(await webhook(t, projectId, appId, 'BASTA')).toBe('KEYWORD_OPT_OUT');
    expect((await api.delete(`${base}/keywords/${created.body.id}`)).status).toBe(200);
    expect(await webhook(t, projectId, appId, 'BASTA')).toBe('NO_KEYWORD');
  });

  it('a mode change is the mode of the next check', async () => {
    const { base } = fresh();
    await api.put(`${base}/consent-settings`, { mode: 'PRIMARY' });
    expect(await modeSeenBy(api, base)).toBe('PRIMARY');
    await api.put(`${base}/consent-settings`, { mode: 'SECONDARY' });
    expect(await modeSeenBy(api, base)).toBe('SECONDARY');
  });

  it('a new callback subscription gets the next event', async () => {
    const { projectId, base } = fresh();
    await optOut(api, base);
    const created = await api.post(`${base}/callbacks`, {
      target_url: 'http://127.0.0.1:9/never',
      secret: 'config-cache-callback-secret',
      triggers: ['OPT_OUT'],
    });
    expect(created.status).toBe(201);
    await optOut(api, base);
    expect(await callbackJobs(ds, projectId)).toBe(1);
  });

  it('a revoked API key is refused at once', async () => {
    const minted = await api.post('/v1/api-keys', { name: 'config-cache-same', scopes: ['read'] });
    const reader = api.as(minted.body.key_secret);
    const { base } = fresh();
    expect((await reader.get(`${base}/consent-settings`)).status).toBe(200);
    expect((await api.delete(`/v1/api-keys/${minted.body.key_id}`)).status).toBe(200);
    expect((await reader.get(`${base}/consent-settings`)).status).toBe(401);
  });
});

describe('app configuration cache on another instance (LISTEN/NOTIFY)', () => {
  let a: TestApp;
  let b: TestApp;
  let apiA: Api;
  let apiB: Api;
  let ds: DataSource;
  let pglite: boolean;
  /** How long B may take: the 1 s bound on PostgreSQL; the (short) TTL and a margin on PGlite. */
  let bound: number;

  beforeAll(async () => {
    pglite = await onPglite();
    const ttl = pglite ? '1500' : LONG_TTL;
    bound = pglite ? 1500 + 3000 : 1000;
    const env = { SETTINGS_CACHE_TTL_MS: ttl, AUTH_CACHE_TTL_MS: ttl };
    a = await startTestApp(env);
    b = await startTestApp(env);
    apiA = new Api(a.baseUrl);
    apiB = new Api(b.baseUrl);
    ds = a.app.get(DataSource);
  });
  afterAll(async () => {
    if (ds) await abandonPendingJobs(ds, projects);
    await a?.close();
    await b?.close();
  });

  /** Polls `probe` on B until `ok`, failing after `bound`. */
  const seenByB = <T>(what: string, probe: () => Promise<T>, ok: (v: T) => boolean) =>
    until(what, probe, ok, bound);

  it('listens on PostgreSQL; on the served PGlite it says it does not', () => {
    expect(b.app.get(AppConfigCache).listening).toBe(!pglite);
  });

  it('settings -> keywords: B matches "Stop." as US_FCC', async () => {
    const { projectId, appId, base } = fresh();
    await apiA.put(`${base}/consent-settings`, { webhook_secrets: [SECRET], auto_reply: false });
    expect(await webhook(b, projectId, appId, 'Stop.')).toBe('NO_KEYWORD');
    await apiA.put(`${base}/consent-settings`, { matching_profile: 'US_FCC' });
    await seenByB(
      'US_FCC on B',
      () => webhook(b, projectId, appId, 'Stop.'),
      (o) => o === 'KEYWORD_OPT_OUT',
    );
  });

  it('custom keyword add and delete -> matching on B', async () => {
    const { projectId, appId, base } = fresh();
    await apiA.put(`${base}/consent-settings`, { webhook_secrets: [SECRET], auto_reply: false });
    expect(await webhook(b, projectId, appId, 'BASTA')).toBe('NO_KEYWORD');
    const created = await apiA.post(`${base}/keywords`, {
      phrase: 'BASTA',
      action: 'OPT_OUT',
      list_type: 'OPT_OUT_MARKETING',
      language: 'IT',
    });
    expect(created.status).toBe(201);
    await seenByB(
      'BASTA on B',
      () => webhook(b, projectId, appId, 'BASTA'),
      (o) => o === 'KEYWORD_OPT_OUT',
    );
    await apiA.delete(`${base}/keywords/${created.body.id}`);
    await seenByB(
      'BASTA gone on B',
      () => webhook(b, projectId, appId, 'BASTA'),
      (o) => o === 'NO_KEYWORD',
    );
  });

  it('mode change -> the check on B', async () => {
    const { base } = fresh();
    await apiA.put(`${base}/consent-settings`, { mode: 'PRIMARY' });
    expect(await modeSeenBy(apiB, base)).toBe('PRIMARY');
    await apiA.put(`${base}/consent-settings`, { mode: 'SECONDARY' });
    await seenByB(
      'SECONDARY on B',
      () => modeSeenBy(apiB, base),
      (m) => m === 'SECONDARY',
    );
  });

  it('callback subscription change -> emission on B', async () => {
    const { projectId, base } = fresh();
    await optOut(apiB, base);
    const created = await apiA.post(`${base}/callbacks`, {
      target_url: 'http://127.0.0.1:9/never',
      secret: 'config-cache-callback-secret',
      triggers: ['OPT_OUT'],
    });
    expect(created.status).toBe(201);
    await seenByB(
      'the subscription on B',
      async () => {
        await optOut(apiB, base);
        return callbackJobs(ds, projectId);
      },
      (n) => n > 0,
    );
    expect((await apiA.delete(`${base}/callbacks/${created.body.id}`)).status).toBe(200);
    const before = await callbackJobs(ds, projectId);
    await seenByB(
      'no subscription on B',
      async () => {
        const n = await callbackJobs(ds, projectId);
        await optOut(apiB, base);
        return (await callbackJobs(ds, projectId)) - n;
      },
      (added) => added === 0,
    );
    expect(await callbackJobs(ds, projectId)).toBeGreaterThanOrEqual(before);
  });

  it('API key revocation -> 401 on B', async () => {
    const minted = await apiA.post('/v1/api-keys', {
      name: 'config-cache-other',
      scopes: ['read'],
    });
    const reader = apiB.as(minted.body.key_secret);
    const { base } = fresh();
    expect((await reader.get(`${base}/consent-settings`)).status).toBe(200);
    expect((await apiA.delete(`/v1/api-keys/${minted.body.key_id}`)).status).toBe(200);
    await seenByB(
      '401 on B',
      async () => (await reader.get(`${base}/consent-settings`)).status,
      (s) => s === 401,
    );
  });

  it('a lost listener comes back, and B then sees a change made while it was gone', async () => {
    const cacheB = b.app.get(AppConfigCache);
    if (pglite) {
      // No listener on PGlite (nothing to lose): B keeps following by the TTL.
      expect(cacheB.listening).toBe(false);
      return;
    }
    const { base } = fresh();
    await apiA.put(`${base}/consent-settings`, { mode: 'PRIMARY' });
    await ds.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE application_name = 'consent-gate-listener' AND datname = current_database()`,
    );
    await until(
      'B to notice',
      () => cacheB.listening,
      (l) => !l,
    );
    // Cached on B with the 5 min TTL while its listener is down; changed on A meanwhile.
    expect(await modeSeenBy(apiB, base)).toBe('PRIMARY');
    await apiA.put(`${base}/consent-settings`, { mode: 'SECONDARY' });
    await until(
      'B to listen again',
      () => cacheB.listening,
      (l) => l,
    );
    await seenByB(
      'SECONDARY on B',
      () => modeSeenBy(apiB, base),
      (m) => m === 'SECONDARY',
    );
  });
});
