import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { Api, newApp, startBehindProxy, startTestApp, TestApp } from './utils.js';
import type { TcpProxy } from './tcp-proxy.js';

async function countRows(sql: string, params: unknown[]): Promise<number> {
  const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await client.connect();
  try {
    const r = await client.query(sql, params);
    return Number(r.rows[0].n);
  } finally {
    await client.end();
  }
}

describe('bad input, limits and errors', () => {
  let t: TestApp;
  let api: Api;

  beforeAll(async () => {
    t = await startTestApp({ BODY_LIMIT_BYTES: '65536' });
    api = new Api(t.baseUrl);
  });
  afterAll(() => t.close());

  const expectError = (res: { status: number; body: any }, status: number, rpc: string) => {
    expect(res.status).toBe(status);
    expect(res.body.error).toMatchObject({ code: status, status: rpc });
    expect(typeof res.body.error.message).toBe('string');
    expect(Array.isArray(res.body.error.details)).toBe(true);
  };

  it('unknown routes are JSON 404s', async () => {
    expectError(await api.get('/v1/nothing-here'), 404, 'NOT_FOUND');
  });

  it('malformed JSON is a 400 and stores nothing', async () => {
    const { projectId, appId } = newApp();
    const res = await api.request(
      'POST',
      `/v1/projects/${projectId}/consents`,
      '{"app_id": "x", "consent_records": [',
    );
    expectError(res, 400, 'INVALID_ARGUMENT');
    expect(
      await countRows('SELECT count(*) n FROM consent_audit WHERE project_id = $1', [projectId]),
    ).toBe(0);
    void appId;
  });

  it('a body over the limit is a 413', async () => {
    const { base } = newApp();
    const identities = Array.from(
      { length: 8000 },
      (_, i) => `4670000${String(i).padStart(4, '0')}`,
    );
    expectError(await api.post(`${base}/consents:check`, { identities }), 413, 'INVALID_ARGUMENT');
  });

  it('validation errors name the failing fields', async () => {
    const { base } = newApp();
    const res = await api.post(`${base}/consents:check`, {
      identities: ['46732001122', 42],
      message_content_type: 'CONTENT_SPAM',
      extra: true,
    });
    expectError(res, 400, 'INVALID_ARGUMENT');
    const fields = res.body.error.details[0].field_violations.map((v: any) => v.field);
    expect(fields).toEqual(
      expect.arrayContaining(['identities[1]', 'message_content_type', 'extra']),
    );
  });

  it.each([
    [[], 'identities'],
    [[''], 'identities[0]'],
    [['46732001122', '   '], 'identities[1]'],
    [['ok', 'bad\u0007bell'], 'identities[1]'],
    [['x'.repeat(300)], 'identities[0]'],
  ])('check rejects identities %p naming %s', async (identities, field) => {
    const { base } = newApp();
    const res = await api.post(`${base}/consents:check`, { identities });
    expectError(res, 400, 'INVALID_ARGUMENT');
    expect(res.body.error.details[0].field_violations.map((v: any) => v.field)).toContain(field);
  });

  it('rejects more than 10,000 identities', async () => {
    const t2 = await startTestApp({ BODY_LIMIT_BYTES: String(4 * 1024 * 1024) });
    try {
      const { base } = newApp();
      const identities = Array.from({ length: 10_001 }, (_, i) => String(46700000000 + i));
      const res = await new Api(t2.baseUrl).post(`${base}/consents:check`, { identities });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toContain('identities');
    } finally {
      await t2.close();
    }
  });

  it('unknown list_type, bad page_size and bad page_token are 400s', async () => {
    const { base } = newApp();
    expectError(await api.get(`${base}/consents/OPT_OUT_SPAM`), 400, 'INVALID_ARGUMENT');
    expectError(
      await api.get(`${base}/consents/OPT_OUT_ALL?page_size=51`),
      400,
      'INVALID_ARGUMENT',
    );
    expectError(await api.get(`${base}/consents/OPT_OUT_ALL?page_size=0`), 400, 'INVALID_ARGUMENT');
    expectError(
      await api.get(`${base}/consents/OPT_OUT_ALL?page_size=ten`),
      400,
      'INVALID_ARGUMENT',
    );
    expectError(
      await api.get(`${base}/consents/OPT_OUT_ALL?page_token=garbage!`),
      400,
      'INVALID_ARGUMENT',
    );
    expectError(
      await api.get(`${base}/consents/OPT_OUT_ALL?page_token=eyJ2IjoyfQ`),
      400,
      'INVALID_ARGUMENT',
    );
    expectError(
      await api.put(`${base}/identities/46732001122/opt-outs/OPT_OUT_SPAM`),
      400,
      'INVALID_ARGUMENT',
    );
  });

  it('bad project or app ids are 400s', async () => {
    expectError(
      await api.get('/v1/projects/bad%20id/apps/a1/consents/OPT_OUT_ALL'),
      400,
      'INVALID_ARGUMENT',
    );
    expectError(
      await api.get(`/v1/projects/p1/apps/${'a'.repeat(65)}/consent-settings`),
      400,
      'INVALID_ARGUMENT',
    );
  });

  it('bad opt-out requests store nothing', async () => {
    const { projectId, base } = newApp();
    const bad = [
      [`${base}/identities/${encodeURIComponent('+1 2')}/opt-outs/OPT_OUT_ALL`, {}],
      [`${base}/identities/46732001122/opt-outs/OPT_OUT_ALL`, { event_time: 'yesterday' }],
      [
        `${base}/identities/46732001122/opt-outs/OPT_OUT_ALL`,
        { event_time: '2026-01-01T00:00:00' },
      ],
      [
        `${base}/identities/46732001122/opt-outs/OPT_OUT_ALL`,
        { event_time: '2999-01-01T00:00:00Z' },
      ],
      [`${base}/identities/46732001122/opt-outs/OPT_OUT_ALL`, { evidence: 'not an object' }],
      [
        `${base}/identities/46732001122/opt-outs/OPT_OUT_ALL`,
        { evidence: { blob: 'x'.repeat(20000) } },
      ],
      [`${base}/identities/46732001122/opt-outs/OPT_OUT_ALL`, { reason: 'r'.repeat(501) }],
      [`${base}/identities/46732001122/opt-outs/OPT_OUT_ALL`, { unknown_field: 1 }],
    ] as const;
    for (const [path, body] of bad) {
      const res = await api.put(path, body);
      expect({ path, body: JSON.stringify(body).slice(0, 60), status: res.status }).toMatchObject({
        status: 400,
      });
    }
    expect(
      await countRows('SELECT count(*) n FROM consent_audit WHERE project_id = $1', [projectId]),
    ).toBe(0);
    expect(
      await countRows('SELECT count(*) n FROM consent_state WHERE project_id = $1', [projectId]),
    ).toBe(0);
  });

  it('a batch with one bad record is rejected whole, naming the record', async () => {
    const { projectId, appId } = newApp();
    const res = await api.post(`/v1/projects/${projectId}/consents`, {
      app_id: appId,
      consent_records: [
        { identification: '+46732001122', consent_type: 'OPT_OUT_ALL' },
        { identification: '+1 2', consent_type: 'OPT_OUT_MARKETING' },
        { identification: '15551231212', consent_type: 'OPT_OUT_MARKETING' },
      ],
    });
    expectError(res, 400, 'INVALID_ARGUMENT');
    expect(res.body.error.details[0].field_violations[0].field).toBe(
      'consent_records[1].identification',
    );
    const res2 = await api.post(`/v1/projects/${projectId}/consents`, {
      app_id: appId,
      consent_records: [{ identification: '15551231212', consent_type: 'OPT_OUT_SPAM' }],
    });
    expect(res2.body.error.details[0].field_violations[0].field).toBe(
      'consent_records[0].consent_type',
    );
    expect(
      await countRows('SELECT count(*) n FROM consent_state WHERE project_id = $1', [projectId]),
    ).toBe(0);
    expect(
      await countRows('SELECT count(*) n FROM consent_audit WHERE project_id = $1', [projectId]),
    ).toBe(0);
  });
});

describe('database outage', () => {
  let t: TestApp;
  let proxy: TcpProxy;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ t, proxy, close } = await startBehindProxy({
      DATABASE_CONNECT_TIMEOUT_MS: '1000',
      SETTINGS_CACHE_TTL_MS: '0',
    }));
  });
  afterAll(() => close());

  it('answers 503 quickly while the database is unreachable, and recovers', async () => {
    const api = new Api(t.baseUrl);
    const { base } = newApp();
    expect((await api.post(`${base}/consents:check`, { identities: ['46732001122'] })).status).toBe(
      200,
    );

    proxy.cut();
    const started = Date.now();
    const check = await api.post(`${base}/consents:check`, { identities: ['46732001122'] });
    expect(check.status).toBe(503);
    expect(check.body.error.status).toBe('UNAVAILABLE');
    const write = await api.put(`${base}/identities/46732001122/opt-outs/OPT_OUT_ALL`, {});
    expect(write.status).toBe(503);
    expect((await api.get('/health')).status).toBe(503);
    expect(Date.now() - started).toBeLessThan(10_000);

    proxy.restore();
    let status = 0;
    for (let i = 0; i < 20 && status !== 200; i++) {
      status = (await api.post(`${base}/consents:check`, { identities: ['46732001122'] })).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(200);
  });
});
