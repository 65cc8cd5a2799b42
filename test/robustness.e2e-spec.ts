import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { encodePageToken } from '../src/kernel/page-token.js';
import { inboundText, signatureHeaders, sinchMessageId } from './sinch-payloads.js';
import { Api, newApp, Res, startBehindProxy, startTestApp, TestApp } from './utils.js';
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

/**
 * Hostile input (issue 7, defects 4 and 5): every endpoint x every value PostgreSQL cannot store
 * or a column cannot hold is a 400 that stores nothing; never a 500 (which Sinch would retry for
 * ever on the webhook).
 */
describe('hostile input', () => {
  let t: TestApp;
  let api: Api;
  let db: pg.Client;

  beforeAll(async () => {
    t = await startTestApp({ BODY_LIMIT_BYTES: '262144' });
    api = new Api(t.baseUrl);
    db = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await db.connect();
  });
  afterAll(async () => {
    await db.end();
    await t.close();
  });

  /** Rows of every table a request about this app (or carrying `marker`) could write. */
  async function stored(projectId: string, marker: string): Promise<Record<string, number>> {
    const r = await db.query(
      `SELECT
        (SELECT count(*) FROM consent_state WHERE project_id = $1)::int AS consent_state,
        (SELECT count(*) FROM consent_audit WHERE project_id = $1)::int AS consent_audit,
        (SELECT count(*) FROM app_settings WHERE project_id = $1)::int AS app_settings,
        (SELECT count(*) FROM custom_keywords WHERE project_id = $1)::int AS custom_keywords,
        (SELECT count(*) FROM callback_subscriptions WHERE project_id = $1)::int AS callbacks,
        (SELECT count(*) FROM webhook_deliveries WHERE project_id = $1)::int AS deliveries,
        (SELECT count(*) FROM contact_identities WHERE project_id = $1)::int AS contacts,
        (SELECT count(*) FROM outbox_jobs WHERE project_id = $1)::int AS outbox_jobs,
        (SELECT count(*) FROM send_attempts WHERE project_id = $1)::int AS send_attempts,
        (SELECT count(*) FROM api_keys WHERE name LIKE $2 || '%')::int AS api_keys,
        (SELECT count(*) FROM webhook_nonces WHERE nonce LIKE $2 || '%')::int AS nonces`,
      [projectId, marker],
    );
    return r.rows[0];
  }

  interface Ctx {
    projectId: string;
    appId: string;
    base: string;
    /** A unique prefix for values not scoped by the app (API key names, nonces). */
    marker: string;
  }
  interface Case {
    /** What is sent, given the app and the hostile value. */
    send: (c: Ctx, h: string) => Promise<Res>;
    /** Settings (and state) the request needs first. */
    setup?: (c: Ctx) => Promise<void>;
  }

  const SECRET = 'hostile-webhook-secret';
  const withSettings = (body: object) => async (c: Ctx) => {
    expect((await api.put(`${c.base}/consent-settings`, body)).status).toBe(200);
  };
  const webhook = (body: unknown, headers: Record<string, string> = {}) =>
    api.request('POST', '/webhooks/sinch', JSON.stringify(body), headers);
  const optOutNotification = (c: Ctx, payload: object) => ({
    app_id: c.appId,
    project_id: c.projectId,
    accepted_time: new Date().toISOString(),
    event_time: new Date().toISOString(),
    opt_out_notification: {
      request_id: sinchMessageId(),
      contact_id: '01EQ4174TGGY5B1VPTPGHW19R0',
      channel: 'SMS',
      identity: '46732001122',
      status: 'OPT_OUT_SUCCEEDED',
      ...payload,
    },
  });
  const deliveryReport = (c: Ctx, payload: object) => ({
    app_id: c.appId,
    project_id: c.projectId,
    accepted_time: new Date().toISOString(),
    event_time: new Date().toISOString(),
    message_delivery_report: {
      message_id: sinchMessageId(),
      status: 'FAILED',
      channel_identity: { channel: 'SMS', identity: '46732001122' },
      reason: { code: 'RECIPIENT_NOT_OPTED_IN' },
      ...payload,
    },
  });
  const optOut = (c: Ctx, body: object) =>
    api.put(`${c.base}/identities/46732001122/opt-outs/OPT_OUT_ALL`, body);
  const unsigned = withSettings({ mode: 'PRIMARY' });
  const blockedSend = (c: Ctx, correlation: string, channel = 'SMS') =>
    api.post(`/v1/projects/${c.projectId}/messages:send`, {
      app_id: c.appId,
      recipient: {
        identified_by: { channel_identities: [{ channel, identity: '46732001122' }] },
      },
      message: { text_message: { text: 'hi' } },
      correlation_id: correlation,
    });
  const optedOut = async (c: Ctx) => {
    await unsigned(c);
    expect((await optOut(c, {})).status).toBe(200);
  };

  /** Endpoints and fields that take a string: each gets every value PostgreSQL cannot store. */
  const stringCases: Record<string, Case> = {
    'opt-out reason': { send: (c, h) => optOut(c, { reason: `asked ${h}` }) },
    'opt-out evidence value': { send: (c, h) => optOut(c, { evidence: { note: h } }) },
    'opt-out evidence key': { send: (c, h) => optOut(c, { evidence: { [`k${h}`]: 1 } }) },
    'opt-in reason': {
      send: (c, h) =>
        api.delete(`${c.base}/identities/46732001122/opt-outs/OPT_OUT_ALL`, { reason: h }),
    },
    'batch identification': {
      send: (c, h) =>
        api.post(`/v1/projects/${c.projectId}/consents`, {
          app_id: c.appId,
          consent_records: [{ identification: `user${h}`, consent_type: 'OPT_OUT_ALL' }],
        }),
    },
    'check identity (hot path)': {
      send: (c, h) => api.post(`${c.base}/consents:check`, { identities: [`user${h}`] }),
    },
    'settings reply text': {
      send: (c, h) =>
        api.put(`${c.base}/consent-settings`, { replies: { EN: { OPT_OUT: `Bye ${h}` } } }),
    },
    'settings webhook secret': {
      send: (c, h) =>
        api.put(`${c.base}/consent-settings`, { webhook_secrets: [`secret-secret${h}`] }),
    },
    'keyword phrase': {
      send: (c, h) =>
        api.post(`${c.base}/keywords`, {
          phrase: `BASTA${h}`,
          action: 'OPT_OUT',
          list_type: 'OPT_OUT_ALL',
          language: 'IT',
        }),
    },
    'keyword dry-run text': {
      send: (c, h) => api.post(`${c.base}/keywords::dry-run`, { text: `STOP${h}` }),
    },
    'callback secret': {
      send: (c, h) =>
        api.post(`${c.base}/callbacks`, {
          target_url: 'https://crm.example.com/hooks',
          secret: `signing-secret${h}`,
          triggers: ['OPT_OUT'],
        }),
    },
    'callback target_url': {
      send: (c, h) =>
        api.post(`${c.base}/callbacks`, {
          target_url: `https://crm.example.com/hooks?x=${h}`,
          secret: 'signing-secret',
          triggers: ['OPT_OUT'],
        }),
    },
    'api key name': {
      send: (c, h) => api.post('/v1/api-keys', { name: `${c.marker}${h}`, scopes: ['read'] }),
    },
    'send correlation_id': { setup: optedOut, send: (c, h) => blockedSend(c, `corr${h}`) },
    'send channel': { setup: optedOut, send: (c, h) => blockedSend(c, 'corr', `SMS${h}`) },
    'webhook message id': {
      setup: unsigned,
      send: (c, h) => webhook(inboundText(c.projectId, c.appId, 'STOP', { id: `01ID${h}` })),
    },
    'webhook message text': {
      setup: unsigned,
      send: (c, h) => webhook(inboundText(c.projectId, c.appId, `STOP${h}`)),
    },
    'webhook channel': {
      setup: unsigned,
      send: (c, h) => webhook(inboundText(c.projectId, c.appId, 'STOP', { channel: `SMS${h}` })),
    },
    'webhook contact_id': {
      setup: unsigned,
      send: (c, h) =>
        webhook(inboundText(c.projectId, c.appId, 'STOP', { contactId: `01CONTACT${h}` })),
    },
    'webhook notification request_id': {
      setup: unsigned,
      send: (c, h) => webhook(optOutNotification(c, { request_id: `req${h}` })),
    },
    'webhook notification extra field': {
      setup: unsigned,
      send: (c, h) => webhook(optOutNotification(c, { extra: { note: h } })),
    },
    'webhook delivery report message_id': {
      setup: unsigned,
      send: (c, h) => webhook(deliveryReport(c, { message_id: `01MSG${h}` })),
    },
    'list page token': {
      send: (c, h) =>
        api.get(`${c.base}/consents/OPT_OUT_ALL?page_token=${encodePageToken(`4670${h}`)}`),
    },
  };
  const HOSTILE = {
    NUL: '\u0000',
    'lone high surrogate': '\ud800',
    'lone low surrogate': '\udfff',
  };

  /** Values a column cannot hold, numbers beyond bigint, nesting that overflows the stack. */
  /** JSON text of `body` with `"@deep"` replaced by objects nested `n` deep (built as text). */
  const deep = (body: unknown, n: number) =>
    JSON.stringify(body).replace('"@deep"', `${'{"d":'.repeat(n)}"leaf"${'}'.repeat(n)}`);
  const deepArray = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
  const limitCases: Record<string, Case> = {
    'webhook message.id of 301 characters': {
      setup: unsigned,
      send: (c) => webhook(inboundText(c.projectId, c.appId, 'STOP', { id: 'M'.repeat(301) })),
    },
    'webhook channel of 33 characters': {
      setup: unsigned,
      send: (c) =>
        webhook(
          inboundText(c.projectId, c.appId, 'STOP', {
            channel: 'C'.repeat(33),
            contactId: '01EQ4174TGGY5B1VPTPGHW19R0',
          }),
        ),
    },
    'webhook contact_id of 65 characters': {
      setup: unsigned,
      send: (c) =>
        webhook(inboundText(c.projectId, c.appId, 'STOP', { contactId: 'K'.repeat(65) })),
    },
    'notification request_id of 401 characters': {
      setup: unsigned,
      send: (c) => webhook(optOutNotification(c, { request_id: 'R'.repeat(401) })),
    },
    'delivery report message_id of 401 characters': {
      setup: unsigned,
      send: (c) => webhook(deliveryReport(c, { message_id: 'D'.repeat(401) })),
    },
    'delivery report status of 300 characters': {
      setup: unsigned,
      send: (c) => webhook(deliveryReport(c, { status: 'S'.repeat(300) })),
    },
    'nonce header of 201 characters': {
      setup: withSettings({ webhook_secrets: [SECRET] }),
      send: (c) => {
        const body = JSON.stringify(inboundText(c.projectId, c.appId, 'STOP'));
        const nonce = `${c.marker}${'n'.repeat(201)}`;
        return api.request(
          'POST',
          '/webhooks/sinch',
          body,
          signatureHeaders(body, SECRET, { nonce }),
        );
      },
    },
    'webhook nested 5,000 deep': {
      setup: unsigned,
      send: (c) =>
        api.request(
          'POST',
          '/webhooks/sinch',
          deep(optOutNotification(c, { extra: '@deep' }), 5000),
        ),
    },
    'opt-out evidence nested 5,000 deep': {
      send: (c) =>
        api.request(
          'PUT',
          `${c.base}/identities/46732001122/opt-outs/OPT_OUT_ALL`,
          deep({ evidence: '@deep' }, 5000),
        ),
    },
    'opt-out evidence arrays nested 20,000 deep': {
      send: (c) =>
        api.request(
          'PUT',
          `${c.base}/identities/46732001122/opt-outs/OPT_OUT_ALL`,
          `{"evidence":{"a":${deepArray(20000)}}}`,
        ),
    },
    'settings replies nested 5,000 deep': {
      send: (c) =>
        api.request('PUT', `${c.base}/consent-settings`, deep({ replies: '@deep' }, 5000)),
    },
    'check body nested 20,000 deep (hot path)': {
      send: (c) =>
        api.request(
          'POST',
          `${c.base}/consents:check`,
          `{"identities":["46732001122"],"x":${deepArray(20000)}}`,
        ),
    },
    'opt-out identity path with a NUL': {
      send: (c) => api.put(`${c.base}/identities/user%00x/opt-outs/OPT_OUT_ALL`, {}),
    },
    'opt-out identity path with an encoded lone surrogate': {
      send: (c) => api.put(`${c.base}/identities/user%ED%A0%80/opt-outs/OPT_OUT_ALL`, {}),
    },
    'identity state path with a NUL': { send: (c) => api.get(`${c.base}/identities/user%00x`) },
    'webhook events path with a NUL': {
      send: (c) => api.get(`${c.base}/identities/user%00x/webhook-events`),
    },
    'query parameter named with a NUL': {
      send: (c) => api.get(`${c.base}/consents/OPT_OUT_ALL?page_size=1&x%00=1`),
    },
    'query parameter named constructor': {
      send: (c) => api.get(`${c.base}/keywords?constructor=1`),
    },
    'webhook app_id of 65 characters': {
      send: (c) => webhook(inboundText(c.projectId, 'A'.repeat(65), 'STOP')),
    },
    'audit page token beyond bigint': {
      send: (c) =>
        api.get(
          `${c.base}/identities/46732001122/audit-records?page_token=${encodePageToken('9999999999999999999')}`,
        ),
    },
    'reply-jobs page token beyond bigint': {
      send: (c) =>
        api.get(`${c.base}/reply-jobs?page_token=${encodePageToken('9223372036854775808')}`),
    },
  };

  /** Defect 5: unknown keys named like Object.prototype members, at the top and nested. */
  const PROTO_KEYS = [
    'prototype',
    'constructor',
    'toString',
    'hasOwnProperty',
    'valueOf',
    '__proto__',
  ];
  const raw = (key: string, value: string) => `{${JSON.stringify(key)}:${value}}`;
  const unknownKeyCases: Record<string, (c: Ctx, key: string) => Promise<Res>> = {
    'opt-out body': (c, key) =>
      api.request('PUT', `${c.base}/identities/46732001122/opt-outs/OPT_OUT_ALL`, raw(key, '1')),
    'opt-in body': (c, key) =>
      api.request(
        'DELETE',
        `${c.base}/identities/46732001122/opt-outs/OPT_OUT_ALL`,
        raw(key, '{}'),
      ),
    'settings body': (c, key) => api.request('PUT', `${c.base}/consent-settings`, raw(key, '"x"')),
    'batch record': (c, key) =>
      api.request(
        'POST',
        `/v1/projects/${c.projectId}/consents`,
        `{"app_id":"${c.appId}","consent_records":[{"identification":"46732001122","consent_type":"OPT_OUT_ALL",${JSON.stringify(key)}:1}]}`,
      ),
    'callback body': (c, key) =>
      api.request(
        'POST',
        `${c.base}/callbacks`,
        `{"target_url":"https://crm.example.com/h","secret":"signing-secret","triggers":["OPT_OUT"],${JSON.stringify(key)}:1}`,
      ),
    'api key body': (c, key) =>
      api.request(
        'POST',
        '/v1/api-keys',
        `{"name":"${c.marker}","scopes":["read"],${JSON.stringify(key)}:1}`,
      ),
    'keyword body': (c, key) =>
      api.request(
        'POST',
        `${c.base}/keywords`,
        `{"phrase":"BASTA","action":"HELP","language":"IT",${JSON.stringify(key)}:1}`,
      ),
    'check body (hot path)': (c, key) =>
      api.request(
        'POST',
        `${c.base}/consents:check`,
        `{"identities":["1555"],${JSON.stringify(key)}:1}`,
      ),
  };

  const table: [string, Case][] = [
    ...Object.entries(stringCases).flatMap(([name, k]) =>
      Object.entries(HOSTILE).map(([what, h]): [string, Case] => [
        `${name} with a ${what}`,
        { setup: k.setup, send: (c) => k.send(c, h) },
      ]),
    ),
    ...Object.entries(limitCases),
    ...Object.entries(unknownKeyCases).flatMap(([name, send]) =>
      PROTO_KEYS.map((key): [string, Case] => [
        `${name} with unknown key "${key}"`,
        { send: (c) => send(c, key) },
      ]),
    ),
  ];

  it.each(table)('%s: 400, nothing stored', async (_name, k) => {
    const app = newApp();
    const c: Ctx = { ...app, marker: `hostile-${app.appId}-` };
    await k.setup?.(c);
    const before = await stored(c.projectId, c.marker);
    const res = await k.send(c, '');
    expect({ status: res.status, error: res.body?.error?.status }).toEqual({
      status: 400,
      error: 'INVALID_ARGUMENT',
    });
    expect(await stored(c.projectId, c.marker)).toEqual(before);
  });

  it('a notification without request_id for the longest identity is recorded once', async () => {
    // Its delivery key (channel, identity, status, event time) is longer than the column.
    const c = { ...newApp(), marker: 'unused' };
    await unsigned(c);
    const body = optOutNotification(c, {
      request_id: undefined,
      channel: 'C'.repeat(32),
      identity: 'i'.repeat(256),
    });
    expect((await webhook(body)).body).toMatchObject({ status: 'PROCESSED', outcome: 'OPTED_OUT' });
    expect((await webhook(body)).body).toMatchObject({ status: 'DUPLICATE' });
    expect((await stored(c.projectId, c.marker)).deliveries).toBe(1);
  });

  it('the 400 names the field path of a NUL deep in a body', async () => {
    const { base } = newApp();
    const res = await api.put(`${base}/identities/46732001122/opt-outs/OPT_OUT_ALL`, {
      evidence: { list: ['ok', { note: 'a\u0000b' }] },
    });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field_violations[0].field).toBe('evidence.list[1].note');
  });

  it('bodies named like prototype members are not mistaken for known fields', async () => {
    // The control: the same request with an ordinary unknown key.
    const { base } = newApp();
    const res = await api.put(`${base}/identities/46732001122/opt-outs/OPT_OUT_ALL`, { foo: 1 });
    expect(res.status).toBe(400);
    expect(res.body.error.details[0].field_violations[0]).toEqual({
      field: 'foo',
      description: 'property foo should not exist',
    });
  });
});
