// The small API endpoints the compliance console needs: who the caller is (GET /v1/whoami), the
// size of each list (GET .../lists), and the failed callback deliveries (?outcome=GAVE_UP).
import { DataSource } from 'typeorm';
import { Receiver } from './callback-receiver.js';
import {
  abandonPendingJobs,
  Api,
  newApp,
  randomPhone,
  startTestApp,
  TestApp,
  until,
} from './utils.js';

describe('console API endpoints', () => {
  const receiver = new Receiver();
  let t: TestApp;
  let api: Api;
  let ds: DataSource;
  const projects: string[] = [];

  beforeAll(async () => {
    await receiver.start();
    t = await startTestApp({
      OUTBOX_WORKER_ENABLED: 'true',
      OUTBOX_POLL_INTERVAL_MS: '50',
      CALLBACK_RETRY_BASE_MS: '50',
      SETTINGS_CACHE_TTL_MS: '0',
    });
    api = new Api(t.baseUrl);
    ds = t.app.get(DataSource);
  });

  afterAll(async () => {
    if (ds) await abandonPendingJobs(ds, projects);
    await t?.close();
    await receiver.stop();
  });

  async function mint(scopes: string[]): Promise<{ key_id: string; key_secret: string }> {
    const res = await api.post('/v1/api-keys', { name: `console-${scopes.join('-')}`, scopes });
    expect(res.status).toBe(201);
    return res.body;
  }

  it('GET /v1/whoami names the key and its scopes, for any scope, and never a secret', async () => {
    expect((await api.get('/v1/whoami')).body).toEqual({ key_id: 'admin', scopes: ['admin'] });
    for (const scopes of [['read'], ['write'], ['read', 'write']]) {
      const key = await mint(scopes);
      const res = await api.as(key.key_secret).get('/v1/whoami');
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ key_id: key.key_id, scopes });
      expect(JSON.stringify(res.body)).not.toContain(key.key_secret);
    }
    expect((await api.as(null).get('/v1/whoami')).status).toBe(401);
    expect((await api.as('cg_not_a_key_0123456789').get('/v1/whoami')).status).toBe(401);
    // An access token works too, with the key's scopes.
    const key = await mint(['read']);
    const token = await fetch(`${t.baseUrl}/oauth2/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${key.key_id}:${key.key_secret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: 'grant_type=client_credentials',
    }).then((r) => r.json() as Promise<{ access_token: string }>);
    expect((await api.as(token.access_token).get('/v1/whoami')).body).toEqual({
      key_id: key.key_id,
      scopes: ['read'],
    });
  });

  it('GET .../lists answers every list with the identities on it now (read scope)', async () => {
    const a = newApp();
    const empty = await api.get(`${a.base}/lists`);
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({
      lists: [
        { list_type: 'OPT_OUT_ALL', size: 0 },
        { list_type: 'OPT_OUT_MARKETING', size: 0 },
        { list_type: 'OPT_OUT_NOTIFICATION', size: 0 },
      ],
    });
    const phones = [randomPhone(), randomPhone(), randomPhone()];
    for (const p of phones) {
      expect((await api.put(`${a.base}/identities/${p}/opt-outs/OPT_OUT_MARKETING`)).status).toBe(
        200,
      );
    }
    await api.put(`${a.base}/identities/${phones[0]}/opt-outs/OPT_OUT_ALL`);
    // An opted-in identity (its row kept, opted_out false) is not counted.
    await api.delete(`${a.base}/identities/${phones[1]}/opt-outs/OPT_OUT_MARKETING`);
    const reader = await mint(['read']);
    const res = await api.as(reader.key_secret).get(`${a.base}/lists`);
    expect(res.body.lists).toEqual([
      { list_type: 'OPT_OUT_ALL', size: 1 },
      { list_type: 'OPT_OUT_MARKETING', size: 2 },
      { list_type: 'OPT_OUT_NOTIFICATION', size: 0 },
    ]);
    // Another app's lists are its own.
    const other = newApp();
    expect((await api.get(`${other.base}/lists`)).body.lists[1].size).toBe(0);
    expect((await api.get(`/v1/projects/${a.projectId}/apps/bad%20id/lists`)).status).toBe(400);
  });

  it('GET .../callbacks/{id}/deliveries?outcome=GAVE_UP lists only the failed ones', async () => {
    const a = newApp();
    projects.push(a.projectId);
    const path = receiver.path();
    // The first event's delivery is refused (400: given up at once), the second one succeeds.
    receiver.failNext(path, 1, 400);
    const sub = await api.post(`${a.base}/callbacks`, {
      target_url: receiver.url + path,
      secret: 'callback-signing-secret-0123',
      triggers: ['OPT_OUT'],
    });
    expect(sub.status).toBe(201);
    const deliveries = (q = '') =>
      api.get(`${a.base}/callbacks/${sub.body.id}/deliveries${q}`).then((r) => r.body);
    await api.put(`${a.base}/identities/${randomPhone()}/opt-outs/OPT_OUT_ALL`);
    await until(
      'the given-up delivery',
      () => deliveries(),
      (b) => b.deliveries.length >= 1,
    );
    await api.put(`${a.base}/identities/${randomPhone()}/opt-outs/OPT_OUT_ALL`);
    const all = await until(
      'both deliveries',
      () => deliveries(),
      (b) => b.deliveries.length >= 2,
    );
    expect(all.deliveries.map((d: { outcome: string }) => d.outcome)).toEqual([
      'SUCCEEDED',
      'GAVE_UP',
    ]);
    const failed = await deliveries('?outcome=GAVE_UP');
    expect(failed.deliveries).toEqual([all.deliveries[1]]);
    expect(failed.next_page_token).toBe('');
    expect((await deliveries('?outcome=SUCCEEDED')).deliveries).toEqual([all.deliveries[0]]);
    const bad = await api.get(`${a.base}/callbacks/${sub.body.id}/deliveries?outcome=FAILED`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].field_violations[0].field).toBe('outcome');
  });
});
