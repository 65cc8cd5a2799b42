import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { randomBytes } from 'node:crypto';
import { FakeSinch } from './fake-sinch.js';
import { inboundText, signatureHeaders } from './sinch-payloads.js';
import type { TcpProxy } from './tcp-proxy.js';
import { Api, newApp, startBehindProxy, startTestApp, TestApp } from './utils.js';

const SECRET = 'webhook-secret-for-tests';

/** Consent change records of one app (replies and refusals have audit records of their own). */
const CONSENT_CHANGES = `SELECT count(*) n FROM consent_audit WHERE app_id = $1 AND kind = 'CONSENT_CHANGE'`;

async function count(sql: string, params: unknown[]): Promise<number> {
  const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
  await client.connect();
  try {
    return Number((await client.query(sql, params)).rows[0].n);
  } finally {
    await client.end();
  }
}

interface Delivery {
  status: number;
  body: any;
}

/** Posts a callback signed with the official SDK's own helpers (or tampered on demand). */
async function deliver(
  baseUrl: string,
  payload: unknown,
  opts: {
    secret?: string | null;
    nonce?: string;
    timestamp?: number;
    tamper?: boolean;
    raw?: string;
  } = {},
): Promise<Delivery> {
  const body = opts.raw ?? JSON.stringify(payload);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  const secret = opts.secret === undefined ? SECRET : opts.secret;
  if (secret !== null) Object.assign(headers, signatureHeaders(body, secret, opts));
  const sent = opts.tamper ? body.replace('"STOP"', '"START"') : body;
  const res = await fetch(`${baseUrl}/webhooks/sinch`, { method: 'POST', headers, body: sent });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const inbound = inboundText;

async function until<T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 8000): Promise<T> {
  const start = Date.now();
  let v = await fn();
  while (!ok(v) && Date.now() - start < ms) {
    await new Promise((r) => setTimeout(r, 50));
    v = await fn();
  }
  return v;
}

describe('Sinch webhook endpoint', () => {
  const fake = new FakeSinch();
  let t: TestApp;
  let api: Api;

  beforeAll(async () => {
    await fake.start();
    t = await startTestApp({
      SETTINGS_CACHE_TTL_MS: '0',
      SINCH_PROJECT_ID: 'sinch-project',
      SINCH_KEY_ID: fake.expectedKeyId,
      SINCH_KEY_SECRET: fake.expectedKeySecret,
      SINCH_CONVERSATION_URL: fake.url,
      SINCH_AUTH_URL: fake.url,
      REPLY_RETRY_BASE_MS: '50',
      OUTBOX_POLL_INTERVAL_MS: '50',
      OUTBOX_WORKER_ENABLED: 'true',
    });
    api = new Api(t.baseUrl);
  });
  afterAll(async () => {
    await t.close();
    await fake.stop();
  });

  async function configuredApp(settings: Record<string, unknown> = {}) {
    const a = newApp();
    const res = await api.put(`${a.base}/consent-settings`, {
      mode: 'PRIMARY',
      webhook_secrets: [SECRET],
      ...settings,
    });
    expect(res.status).toBe(200);
    return a;
  }
  const decision = async (base: string, identity = '46732001122', type = 'CONTENT_MARKETING') =>
    (
      await api.post(`${base}/consents:check`, {
        identities: [identity],
        message_content_type: type,
      })
    ).body.results[0].decision;
  const sendsTo = (appId: string) => fake.sends().filter((s: any) => s.app_id === appId);
  const nativeAudit = async (base: string, identity = '46732001122') =>
    (await api.get(`${base}/identities/${identity}/audit-records`)).body.audit_records as any[];
  const sinchAudit = async (base: string, identity = '46732001122') =>
    (await api.get(`${base}/consents/identities/${identity}`)).body.audit_records as any[];
  const replyJobs = async (base: string) =>
    (await api.get(`${base}/reply-jobs`)).body.reply_jobs as any[];
  /** Waits until the app's reply jobs are all finished (SENT or FAILED); returns them. */
  const finishedReplies = (base: string, n: number) =>
    until(
      () => replyJobs(base),
      (j) => j.length === n && j.every((x) => x.status !== 'PENDING'),
    );
  const refusalsCounted = async (reason: string): Promise<number> => {
    const text = await (await fetch(`${t.baseUrl}/metrics`)).text();
    const m = new RegExp(
      `^consent_gate_recipient_refusals_total\\{reason="${reason}"\\} (\\d+)$`,
      'm',
    ).exec(text);
    return m ? Number(m[1]) : 0;
  };

  it('STOP opts out (audited as ORIGIN_MO), the check blocks, one confirmation is sent; START undoes it', async () => {
    const { projectId, appId, base } = await configuredApp();
    const stop = await deliver(t.baseUrl, inbound(projectId, appId, 'STOP'));
    expect(stop).toEqual({
      status: 200,
      body: { status: 'PROCESSED', trigger: 'MESSAGE_INBOUND', outcome: 'KEYWORD_OPT_OUT' },
    });
    expect(await decision(base)).toBe('BLOCK');
    const audit = (await api.get(`${base}/consents/identities/46732001122`)).body.audit_records;
    expect(audit).toEqual([
      expect.objectContaining({
        origin: 'ORIGIN_MO',
        operation: 'OPERATION_INSERT',
        list_type: 'OPT_OUT_ALL',
      }),
    ]);
    const sends = await until(
      async () => sendsTo(appId),
      (s) => s.length >= 1,
    );
    expect(sends).toHaveLength(1);
    expect(sends[0]).toMatchObject({
      recipient: {
        identified_by: { channel_identities: [{ channel: 'SMS', identity: '46732001122' }] },
      },
      message: { text_message: { text: 'Your request to leave has been accomplished.' } },
    });

    const start = await deliver(t.baseUrl, inbound(projectId, appId, 'start'));
    expect(start.body.outcome).toBe('KEYWORD_OPT_IN');
    expect(await decision(base)).toBe('ALLOW');
    await until(
      async () => sendsTo(appId),
      (s) => s.length >= 2,
    );
    expect(sendsTo(appId).map((s: any) => s.message.text_message.text)).toEqual([
      'Your request to leave has been accomplished.',
      'Your request to get back has been accomplished.',
    ]);
  });

  it('"stop now please" changes nothing under SINCH_EXACT; "Stop." opts out under US_FCC', async () => {
    const exact = await configuredApp();
    expect(
      (await deliver(t.baseUrl, inbound(exact.projectId, exact.appId, 'stop now please'))).body
        .outcome,
    ).toBe('NO_KEYWORD');
    expect(
      (await deliver(t.baseUrl, inbound(exact.projectId, exact.appId, 'Stop.'))).body.outcome,
    ).toBe('NO_KEYWORD');
    expect(await decision(exact.base)).toBe('ALLOW');
    expect(await count(CONSENT_CHANGES, [exact.appId])).toBe(0);

    const fcc = await configuredApp({ matching_profile: 'US_FCC' });
    expect(
      (await deliver(t.baseUrl, inbound(fcc.projectId, fcc.appId, 'Stop.'))).body.outcome,
    ).toBe('KEYWORD_OPT_OUT');
    expect(await decision(fcc.base, '46732001122', 'CONTENT_NOTIFICATION')).toBe('BLOCK');
  });

  it('marketing keywords in Spanish touch only their list; HELP replies without a change', async () => {
    const { projectId, appId, base } = await configuredApp();
    expect(
      (await deliver(t.baseUrl, inbound(projectId, appId, 'detener marketing'))).body.outcome,
    ).toBe('KEYWORD_OPT_OUT');
    expect(await decision(base, '46732001122', 'CONTENT_MARKETING')).toBe('BLOCK');
    expect(await decision(base, '46732001122', 'CONTENT_NOTIFICATION')).toBe('ALLOW');
    expect((await deliver(t.baseUrl, inbound(projectId, appId, 'AYUDA'))).body.outcome).toBe(
      'KEYWORD_HELP',
    );
    const sends = await until(
      async () => sendsTo(appId),
      (s) => s.length >= 2,
    );
    // One recipient's replies go out in the order they were queued.
    const texts = sends.map((s: any) => s.message.text_message.text);
    expect(texts).toHaveLength(2);
    expect(texts[0]).toBe('Su solicitud de salida se ha cumplido.');
    expect(texts[1]).toMatch(/^Responda DETENER/);
    expect(await count(CONSENT_CHANGES, [appId])).toBe(1);
  });

  it('a delivery repeated 10 times changes once, audits once, replies once', async () => {
    const { projectId, appId, base } = await configuredApp();
    const payload = inbound(projectId, appId, 'STOP');
    const results = await Promise.all(
      Array.from({ length: 10 }, () => deliver(t.baseUrl, payload)),
    );
    expect(results.every((r) => r.status === 200)).toBe(true);
    expect(results.filter((r) => r.body.status === 'PROCESSED')).toHaveLength(1);
    expect(results.filter((r) => r.body.status === 'DUPLICATE')).toHaveLength(9);
    expect(await decision(base)).toBe('BLOCK');
    expect(await count(CONSENT_CHANGES, [appId])).toBe(1);
    await until(
      async () => sendsTo(appId),
      (s) => s.length >= 1,
    );
    await new Promise((r) => setTimeout(r, 300));
    expect(sendsTo(appId)).toHaveLength(1);
  });

  it('STOP then START delivered in reverse order ends opted in', async () => {
    const { projectId, appId, base } = await configuredApp({ auto_reply: false });
    const t0 = Date.now() - 60_000;
    await deliver(
      t.baseUrl,
      inbound(projectId, appId, 'START', { eventTime: new Date(t0 + 10_000) }),
    );
    const late = await deliver(
      t.baseUrl,
      inbound(projectId, appId, 'STOP', { eventTime: new Date(t0) }),
    );
    expect(late.body.outcome).toBe('KEYWORD_OPT_OUT');
    expect(await decision(base)).toBe('ALLOW');
    const records = (await api.get(`${base}/identities/46732001122/audit-records`)).body
      .audit_records;
    expect(records.map((r: any) => r.outcome)).toEqual(['NO_CHANGE', 'SUPERSEDED']);
    expect(await count('SELECT count(*) n FROM outbox_jobs WHERE app_id = $1', [appId])).toBe(0);
  });

  it('refuses bad signatures, stale timestamps and replayed nonces with 401, storing nothing', async () => {
    const { projectId, appId } = await configuredApp();
    const payload = inbound(projectId, appId, 'STOP');
    const refused = [
      await deliver(t.baseUrl, payload, { secret: 'wrong-secret-123' }),
      await deliver(t.baseUrl, payload, { tamper: true }),
      await deliver(t.baseUrl, payload, { secret: null }),
      await deliver(t.baseUrl, payload, { timestamp: Math.floor(Date.now() / 1000) - 400 }),
    ];
    for (const r of refused) {
      expect(r.status).toBe(401);
      expect(r.body.error.status).toBe('UNAUTHENTICATED');
    }
    expect(
      await count('SELECT count(*) n FROM webhook_deliveries WHERE app_id = $1', [appId]),
    ).toBe(0);
    expect(await count(CONSENT_CHANGES, [appId])).toBe(0);

    const nonce = `nonce-${randomBytes(8).toString('hex')}`;
    expect((await deliver(t.baseUrl, payload, { nonce })).status).toBe(200);
    const replay = await deliver(t.baseUrl, inbound(projectId, appId, 'START'), { nonce });
    expect(replay.status).toBe(401);
    expect(await count(CONSENT_CHANGES, [appId])).toBe(1);
  });

  it('answers 404 for an unknown app, 400 for malformed or unknown payloads, 200 for other triggers', async () => {
    const unknown = newApp();
    expect(
      (
        await deliver(t.baseUrl, inbound(unknown.projectId, unknown.appId, 'STOP'), {
          secret: null,
        })
      ).status,
    ).toBe(404);
    const { projectId, appId } = await configuredApp();
    expect((await deliver(t.baseUrl, null, { raw: '{"app_id": "x", ' })).status).toBe(400);
    expect(
      (await deliver(t.baseUrl, { app_id: appId, project_id: projectId, hello: {} })).status,
    ).toBe(400);
    const other = await deliver(t.baseUrl, {
      app_id: appId,
      project_id: projectId,
      accepted_time: new Date().toISOString(),
      contact_create_notification: { contact: { id: 'c1' } },
    });
    expect(other).toEqual({
      status: 200,
      body: { status: 'IGNORED', trigger: 'CONTACT_CREATE', outcome: 'IGNORED_TRIGGER' },
    });
    expect(
      await count('SELECT count(*) n FROM webhook_deliveries WHERE app_id = $1', [appId]),
    ).toBe(0);
    expect(
      await count('SELECT count(*) n FROM webhook_deliveries WHERE app_id = $1', [unknown.appId]),
    ).toBe(0);
  });

  it('applies OPT_OUT/OPT_IN notifications; FAILED ones are recorded only; refusals show up', async () => {
    const { projectId, appId, base } = await configuredApp();
    const note = (key: string, status: string, requestId: string) => ({
      app_id: appId,
      project_id: projectId,
      accepted_time: new Date().toISOString(),
      [key]: {
        channel: 'VIBERBM',
        identity: '+46 73 200 11 22',
        status,
        request_id: requestId,
        contact_id: '',
      },
    });
    expect(
      (await deliver(t.baseUrl, note('opt_out_notification', 'OPT_OUT_FAILED', 'r0'))).body.outcome,
    ).toBe('STATUS_NOT_SUCCEEDED');
    expect(await decision(base, '46732001122', 'CONTENT_UNKNOWN')).toBe('ALLOW');
    expect(
      (await deliver(t.baseUrl, note('opt_out_notification', 'OPT_OUT_SUCCEEDED', 'r1'))).body
        .outcome,
    ).toBe('OPTED_OUT');
    expect(await decision(base, '46732001122', 'CONTENT_UNKNOWN')).toBe('BLOCK');
    expect(
      (await deliver(t.baseUrl, note('opt_out_notification', 'OPT_OUT_SUCCEEDED', 'r1'))).body
        .status,
    ).toBe('DUPLICATE');

    const report = await deliver(t.baseUrl, {
      app_id: appId,
      project_id: projectId,
      accepted_time: new Date().toISOString(),
      message_delivery_report: {
        message_id: 'out-1',
        status: 'FAILED',
        channel_identity: { channel: 'WHATSAPP', identity: '46732001122', app_id: '' },
        reason: {
          code: 'RECIPIENT_NOT_OPTED_IN',
          description: 'x',
          sub_code: 'UNSPECIFIED_SUB_CODE',
        },
      },
    });
    expect(report.body.outcome).toBe('RECIPIENT_REFUSED');
    const events = (await api.get(`${base}/identities/46732001122/webhook-events`)).body
      .webhook_events;
    expect(events.map((e: any) => e.outcome)).toEqual(
      expect.arrayContaining(['RECIPIENT_REFUSED', 'OPTED_OUT', 'STATUS_NOT_SUCCEEDED']),
    );
    const metrics = await (await fetch(`${t.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(
      /consent_gate_webhook_deliveries_total\{trigger="MESSAGE_DELIVERY",outcome="RECIPIENT_REFUSED"\} [1-9]/,
    );
  });

  it('a refused delivery is audited as DELIVERY_REFUSED and counted, consent unchanged', async () => {
    const { projectId, appId, base } = await configuredApp();
    const eventTime = new Date(Date.now() - 60_000);
    const report = (messageId: string, status: string, code: string | null) => ({
      app_id: appId,
      project_id: projectId,
      accepted_time: new Date().toISOString(),
      event_time: eventTime.toISOString(),
      message_delivery_report: {
        message_id: messageId,
        status,
        channel_identity: { channel: 'WHATSAPP', identity: '+46 73 200 11 22', app_id: '' },
        ...(code
          ? { reason: { code, description: 'refused', sub_code: 'UNSPECIFIED_SUB_CODE' } }
          : {}),
      },
    });
    const countedBefore = await refusalsCounted('RECIPIENT_NOT_OPTED_IN');

    const refused = await deliver(
      t.baseUrl,
      report('out-refused', 'FAILED', 'RECIPIENT_NOT_OPTED_IN'),
    );
    expect(refused.body).toEqual({
      status: 'PROCESSED',
      trigger: 'MESSAGE_DELIVERY',
      outcome: 'RECIPIENT_REFUSED',
    });
    const records = await nativeAudit(base);
    expect(records).toEqual([
      {
        id: expect.any(String),
        kind: 'DELIVERY_REFUSED',
        identity: '46732001122',
        list_type: null,
        origin: 'ORIGIN_MO',
        operation: null,
        outcome: null,
        actor: 'sinch:WHATSAPP',
        reason: expect.stringContaining('RECIPIENT_NOT_OPTED_IN'),
        evidence: {
          message_id: 'out-refused',
          status: 'FAILED',
          reason_code: 'RECIPIENT_NOT_OPTED_IN',
          channel: 'WHATSAPP',
        },
        batch_id: null,
        event_time: eventTime.toISOString(),
        claimed_event_time: null,
        recorded_at: expect.any(String),
        import_id: null,
        source: null,
        hash: expect.stringMatching(/^[0-9a-f]{64}$/),
        // After the app's SETTINGS_CHANGE record.
        prev_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
      },
    ]);
    const events = (await api.get(`${base}/identities/46732001122/webhook-events`)).body
      .webhook_events;
    expect(events[0].details.audit_record_id).toBe(records[0].id);
    // Consent is unchanged, and Sinch's view of the trail has no place for it.
    expect((await api.get(`${base}/identities/46732001122`)).body.opted_out).toBe(false);
    expect(await decision(base, '46732001122', 'CONTENT_MARKETING')).toBe('ALLOW');
    expect(await sinchAudit(base)).toEqual([]);
    expect(await refusalsCounted('RECIPIENT_NOT_OPTED_IN')).toBe(countedBefore + 1);

    // A duplicate adds nothing; other reports are recorded without an audit record.
    expect(
      (await deliver(t.baseUrl, report('out-refused', 'FAILED', 'RECIPIENT_NOT_OPTED_IN'))).body
        .status,
    ).toBe('DUPLICATE');
    expect(
      (await deliver(t.baseUrl, report('out-other', 'FAILED', 'RECIPIENT_NOT_REACHABLE'))).body
        .outcome,
    ).toBe('RECORDED');
    expect(
      (await deliver(t.baseUrl, report('out-delivered', 'DELIVERED', null))).body.outcome,
    ).toBe('RECORDED');
    expect(await nativeAudit(base)).toHaveLength(1);
    expect(await refusalsCounted('RECIPIENT_NOT_OPTED_IN')).toBe(countedBefore + 1);
  });

  it('retries the reply: the fake Sinch failing twice delivers it once, on the third try', async () => {
    const { projectId, appId } = await configuredApp();
    fake.failNext(2, 503);
    await deliver(t.baseUrl, inbound(projectId, appId, 'STOP'));
    const jobs = await until(
      async () =>
        (await api.get(`/v1/projects/${projectId}/apps/${appId}/reply-jobs`)).body.reply_jobs,
      (j: any[]) => j.length === 1 && j[0].status === 'SENT',
    );
    expect(jobs[0]).toMatchObject({ status: 'SENT', attempts: 3 });
    expect(sendsTo(appId)).toHaveLength(3);
    expect(fake.accepted().filter((r) => (r.body as any).app_id === appId)).toHaveLength(1);
    // Retries leave no trace in the audit trail: one record for the final outcome.
    const replies = (await nativeAudit(`/v1/projects/${projectId}/apps/${appId}`)).filter(
      (r) => r.kind !== 'CONSENT_CHANGE',
    );
    expect(replies).toEqual([
      expect.objectContaining({
        kind: 'REPLY_SENT',
        evidence: expect.objectContaining({ reply_job_id: jobs[0].id, attempts: 3 }),
      }),
    ]);
  });

  it('a reply refused by Sinch (400) is audited once as REPLY_FAILED', async () => {
    const { projectId, appId, base } = await configuredApp();
    fake.failNext(1, 400);
    const stop = await deliver(t.baseUrl, inbound(projectId, appId, 'STOP'));
    expect(stop.body.outcome).toBe('KEYWORD_OPT_OUT');
    const [job] = await finishedReplies(base, 1);
    expect(job).toMatchObject({ status: 'FAILED', attempts: 1 });
    const records = await nativeAudit(base);
    expect(records.map((r) => r.kind)).toEqual(['CONSENT_CHANGE', 'REPLY_FAILED']);
    expect(records[1]).toMatchObject({
      identity: '46732001122',
      list_type: 'OPT_OUT_ALL',
      origin: null,
      operation: null,
      outcome: null,
      actor: 'consent-gate',
    });
    expect(records[1].evidence).toEqual({
      reply_job_id: job.id,
      inbound_message_id: job.inbound_message_id,
      action: 'OPT_OUT',
      language: job.language,
      channel: 'SMS',
      attempts: 1,
      last_error: expect.stringContaining('HTTP 400'),
    });
    expect(await sinchAudit(base)).toHaveLength(1);
  });

  it('a sent reply is audited once as REPLY_SENT under the normalised identity, never with its text', async () => {
    const { projectId, appId, base } = await configuredApp();
    const stop = await deliver(
      t.baseUrl,
      inbound(projectId, appId, 'STOP', { identity: '+46 73-200 11 22' }),
    );
    expect(stop.body.outcome).toBe('KEYWORD_OPT_OUT');
    const [job] = await finishedReplies(base, 1);
    expect(job).toMatchObject({ status: 'SENT', attempts: 1 });
    // The reply goes to the identity exactly as Sinch gave it.
    expect(sendsTo(appId)[0]).toMatchObject({
      recipient: { identified_by: { channel_identities: [{ identity: '+46 73-200 11 22' }] } },
    });

    const records = await nativeAudit(base);
    expect(records.map((r) => r.kind)).toEqual(['CONSENT_CHANGE', 'REPLY_SENT']);
    expect(Number(records[0].id)).toBeLessThan(Number(records[1].id));
    expect(records[1]).toMatchObject({
      identity: '46732001122',
      list_type: 'OPT_OUT_ALL',
      origin: null,
      operation: null,
      outcome: null,
      actor: 'consent-gate',
      batch_id: null,
    });
    expect(records[1].evidence).toEqual({
      reply_job_id: job.id,
      inbound_message_id: job.inbound_message_id,
      action: 'OPT_OUT',
      language: job.language,
      channel: 'SMS',
      attempts: 1,
      sinch_message_id: expect.any(String),
    });
    expect(JSON.stringify(records)).not.toContain('accomplished');

    // Sinch's view: the consent change only.
    expect(await sinchAudit(base)).toEqual([
      expect.objectContaining({ list_type: 'OPT_OUT_ALL', operation: 'OPERATION_INSERT' }),
    ]);

    // HELP: a reply without a list.
    await deliver(t.baseUrl, inbound(projectId, appId, 'HELP'));
    await finishedReplies(base, 2);
    const after = await nativeAudit(base);
    expect(after.map((r) => [r.kind, r.list_type])).toEqual([
      ['CONSENT_CHANGE', 'OPT_OUT_ALL'],
      ['REPLY_SENT', 'OPT_OUT_ALL'],
      ['REPLY_SENT', null],
    ]);
    expect(after[2].evidence.action).toBe('HELP');
    expect(await sinchAudit(base)).toHaveLength(1);
  });
});

describe('Sinch webhook endpoint, database down', () => {
  let t: TestApp;
  let proxy: TcpProxy;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ t, proxy, close } = await startBehindProxy({
      DATABASE_CONNECT_TIMEOUT_MS: '1000',
      SETTINGS_CACHE_TTL_MS: '0',
      OUTBOX_WORKER_ENABLED: 'false',
    }));
  });
  afterAll(() => close());

  it('answers 503 so that Sinch retries, and processes the retry once the database is back', async () => {
    const { projectId, appId, base } = newApp();
    const api = new Api(t.baseUrl);
    await api.put(`${base}/consent-settings`, { webhook_secrets: [SECRET] });
    const payload = inbound(projectId, appId, 'STOP');
    proxy.cut();
    const down = await deliver(t.baseUrl, payload);
    expect(down.status).toBe(503);
    proxy.restore();
    const retry = await until(
      () => deliver(t.baseUrl, payload),
      (r) => r.status === 200,
    );
    expect(retry.body.status).toBe('PROCESSED');
  });
});
