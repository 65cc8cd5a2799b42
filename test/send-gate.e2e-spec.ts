// The send gate: POST /v1/projects/{project_id}/messages:send in front of a local fake Sinch.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { RequestFailedError, SinchClient } from '@sinch/sdk-core';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { FakeSinch, RecordedSend, sinchError } from './fake-sinch.js';
import { inboundText } from './sinch-payloads.js';
import { Api, newApp, startTestApp, TestApp } from './utils.js';

interface MintedKey {
  key_id: string;
  key_secret: string;
}

interface AttemptRow {
  id: string;
  project_id: string;
  app_id: string;
  identity: string;
  channel: string | null;
  message_content_type: string;
  decision: string;
  lists: string[];
  actor: string;
  correlation_id: string | null;
}

interface RawAnswer {
  status: number;
  text: string;
  contentType: string | null;
  json: any;
}

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

const randomPhone = (): string => `4670${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;

describe('send gate (messages:send)', () => {
  const fake = new FakeSinch();
  let t: TestApp;
  let api: Api;
  let ds: DataSource;
  let writer: MintedKey;

  beforeAll(async () => {
    await fake.start();
    t = await startTestApp({
      SETTINGS_CACHE_TTL_MS: '0',
      SINCH_PROJECT_ID: 'sinch-project',
      SINCH_KEY_ID: fake.expectedKeyId,
      SINCH_KEY_SECRET: fake.expectedKeySecret,
      SINCH_CONVERSATION_URL: fake.url,
      SINCH_AUTH_URL: fake.url,
      SINCH_TIMEOUT_MS: '2000',
    });
    api = new Api(t.baseUrl);
    ds = t.app.get(DataSource);
    writer = await mintKey(['write']);
  });
  afterAll(async () => {
    await t?.close();
    await fake.stop();
  });
  beforeEach(() => fake.reset());

  async function mintKey(scopes: string[]): Promise<MintedKey> {
    const res = await api.post('/v1/api-keys', { name: `send-gate-${scopes.join('-')}`, scopes });
    expect(res.status).toBe(201);
    return res.body as MintedKey;
  }

  async function configuredApp(mode: 'PRIMARY' | 'SECONDARY') {
    const a = newApp();
    const res = await api.put(`${a.base}/consent-settings`, { mode, auto_reply: false });
    expect(res.status).toBe(200);
    return a;
  }

  async function optOut(base: string, identity: string, list: string): Promise<void> {
    const res = await api.put(
      `${base}/identities/${encodeURIComponent(identity)}/opt-outs/${list}`,
    );
    expect(res.status).toBe(200);
  }

  /** POSTs a body (object or exact text) to the gate; returns the exact answer. */
  async function send(
    projectId: string,
    body: unknown,
    token: string | null = writer.key_secret,
  ): Promise<RawAnswer> {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (token) headers.authorization = `Bearer ${token}`;
    const res = await fetch(`${t.baseUrl}/v1/projects/${projectId}/messages:send`, {
      method: 'POST',
      headers,
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await res.text();
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
    return { status: res.status, text, contentType: res.headers.get('content-type'), json };
  }

  function smsBody(
    appId: string,
    identity: string,
    contentType?: string,
    extra: Record<string, unknown> = {},
  ): Record<string, unknown> {
    return {
      app_id: appId,
      recipient: { identified_by: { channel_identities: [{ channel: 'SMS', identity }] } },
      message: { text_message: { text: 'Spring sale: 20% off this weekend' } },
      ...(contentType ? { message_content_type: contentType } : {}),
      ...extra,
    };
  }

  async function attempts(appId: string): Promise<AttemptRow[]> {
    return ds.query(
      `SELECT id::text AS id, project_id, app_id, identity, channel, message_content_type,
              decision, lists, actor, correlation_id
         FROM send_attempts WHERE app_id = $1 ORDER BY id`,
      [appId],
    );
  }

  /** A callback subscription for the send events (nothing listens: the worker is off in tests). */
  async function subscribe(base: string): Promise<string> {
    const res = await api.post(`${base}/callbacks`, {
      target_url: 'http://127.0.0.1:9/consent-events',
      secret: 'send-gate-callback-secret',
      triggers: ['SEND_BLOCKED', 'SENT_TO_OPTED_OUT'],
    });
    expect(res.status).toBe(201);
    return res.body.id as string;
  }

  /** The CALLBACK jobs queued for an app, oldest first, with their parsed bodies. */
  async function callbackJobs(
    appId: string,
  ): Promise<{ subscription_id: string; trigger: string; body: any }[]> {
    const rows: { payload: { subscription_id: string; trigger: string; body: string } }[] =
      await ds.query(
        `SELECT payload FROM outbox_jobs WHERE kind = 'CALLBACK' AND app_id = $1 ORDER BY id`,
        [appId],
      );
    return rows.map(({ payload }) => ({
      subscription_id: payload.subscription_id,
      trigger: payload.trigger,
      body: JSON.parse(payload.body),
    }));
  }

  const sendsOf = (appId: string): RecordedSend[] => fake.sends().filter((s) => s.app_id === appId);

  it('PRIMARY: blocks a marketing send to an OPT_OUT_MARKETING identity (403, nothing sent, recorded)', async () => {
    const { projectId, appId, base } = await configuredApp('PRIMARY');
    const subscription = await subscribe(base);
    const phone = randomPhone();
    await optOut(base, `+${phone}`, 'OPT_OUT_MARKETING');

    const res = await send(
      projectId,
      smsBody(appId, `+${phone.slice(0, 2)} ${phone.slice(2)}`, 'CONTENT_MARKETING', {
        correlation_id: 'campaign-42',
      }),
    );

    expect(res.status).toBe(403);
    expect(res.contentType).toMatch(/^application\/json/);
    const rows = await attempts(appId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toEqual({
      id: expect.stringMatching(/^\d+$/),
      project_id: projectId,
      app_id: appId,
      identity: phone,
      channel: 'SMS',
      message_content_type: 'CONTENT_MARKETING',
      decision: 'BLOCKED',
      lists: ['OPT_OUT_MARKETING'],
      actor: writer.key_id,
      correlation_id: 'campaign-42',
    });
    expect(res.json).toEqual({
      error: {
        code: 403,
        status: 'PERMISSION_DENIED',
        message:
          'Blocked by consent (PRIMARY mode): the recipient is on OPT_OUT_MARKETING, which blocks CONTENT_MARKETING. The message was not sent.',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
            reason: 'RECIPIENT_OPTED_OUT',
            metadata: {
              list_type: 'OPT_OUT_MARKETING',
              message_content_type: 'CONTENT_MARKETING',
              identity: phone,
              channel: 'SMS',
              send_attempt_id: rows[0]!.id,
            },
          },
        ],
      },
    });
    // Nothing reached Sinch, not even a token request.
    expect(fake.requests).toHaveLength(0);
    // One SEND_BLOCKED callback queued in the same transaction.
    const jobs = await callbackJobs(appId);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]).toMatchObject({ subscription_id: subscription, trigger: 'SEND_BLOCKED' });
    expect(jobs[0]!.body).toMatchObject({
      app_id: appId,
      project_id: projectId,
      correlation_id: 'campaign-42',
      consent_gate_send_notification: {
        type: 'SEND_BLOCKED',
        identity: phone,
        channel: 'SMS',
        lists: ['OPT_OUT_MARKETING'],
        message_content_type: 'CONTENT_MARKETING',
        send_attempt_id: rows[0]!.id,
        correlation_id: 'campaign-42',
      },
    });
  });

  it('PRIMARY: forwards a notification send to the same identity, byte for byte, to the caller’s project', async () => {
    const { projectId, appId, base } = await configuredApp('PRIMARY');
    const phone = randomPhone();
    await optOut(base, phone, 'OPT_OUT_MARKETING');
    // Odd spacing, key order and fields the gate does not know: all forwarded as received.
    const raw = `{"message":{"text_message":{"text":"Your parcel is on its way"}},"message_content_type" : "CONTENT_NOTIFICATION",
      "app_id":"${appId}","recipient":{"identified_by":{"channel_identities":[{"channel":"SMS","identity":"+${phone}"}]}},
      "channel_priority_order":["SMS"],"correlation_id":"order-7","some_future_sinch_field":{"a":[1,2]}}`;

    const res = await send(projectId, raw);

    expect(res.status).toBe(200);
    expect(res.json).toEqual({
      message_id: expect.stringMatching(ULID),
      accepted_time: expect.any(String),
    });
    const forwarded = fake.requests.filter((r) => r.path.endsWith('/messages:send'));
    expect(forwarded).toHaveLength(1);
    expect(forwarded[0]!.path).toBe(`/v1/projects/${projectId}/messages:send`);
    expect(forwarded[0]!.rawBody).toBe(raw);
    expect(forwarded[0]!.headers.authorization).toMatch(/^Bearer /);
    expect(forwarded[0]!.headers.authorization).not.toContain(writer.key_secret);
    expect(await attempts(appId)).toEqual([]);

    // An absent content type is CONTENT_UNKNOWN: only OPT_OUT_ALL applies, so it is forwarded.
    expect((await send(projectId, smsBody(appId, phone))).status).toBe(200);
    // The caller gets Sinch's 2xx status and body exactly as Sinch sent them.
    const sinchAnswer = { message_id: 'FAKE-ID-1', accepted_time: '2026-01-01T00:00:00Z', x: 1 };
    fake.failNext(1, 202, sinchAnswer);
    const passed = await send(projectId, smsBody(appId, phone, 'CONTENT_NOTIFICATION'));
    expect(passed.status).toBe(202);
    expect(passed.text).toBe(JSON.stringify(sinchAnswer));
    expect(sendsOf(appId)).toHaveLength(3);
  });

  it('PRIMARY: one blocked identity among several blocks the send; OPT_OUT_ALL blocks every content type', async () => {
    const { projectId, appId, base } = await configuredApp('PRIMARY');
    const ok = randomPhone();
    const all = randomPhone();
    await optOut(base, all, 'OPT_OUT_ALL');
    const body = {
      app_id: appId,
      recipient: {
        identified_by: {
          channel_identities: [
            { channel: 'WHATSAPP', identity: ok },
            { channel: 'SMS', identity: all },
          ],
        },
      },
      message: { text_message: { text: 'hi' } },
    };
    for (const type of ['CONTENT_NOTIFICATION', 'CONTENT_UNKNOWN']) {
      const res = await send(projectId, { ...body, message_content_type: type });
      expect(res.status).toBe(403);
      expect(res.json.error.message).toBe(
        `Blocked by consent (PRIMARY mode): the recipient is on OPT_OUT_ALL, which blocks ${type}. The message was not sent.`,
      );
      expect(res.json.error.details).toHaveLength(1);
      expect(res.json.error.details[0].metadata).toMatchObject({
        identity: all,
        channel: 'SMS',
        list_type: 'OPT_OUT_ALL',
      });
    }
    expect(fake.sends()).toHaveLength(0);
    expect((await attempts(appId)).map((r) => [r.identity, r.decision, r.correlation_id])).toEqual([
      [all, 'BLOCKED', null],
      [all, 'BLOCKED', null],
    ]);
  });

  it('SECONDARY: forwards marketing and notification sends; records SENT_TO_OPTED_OUT only for accepted sends to opted-out identities', async () => {
    const { projectId, appId, base } = await configuredApp('SECONDARY');
    await subscribe(base);
    const phone = randomPhone();
    await optOut(base, phone, 'OPT_OUT_MARKETING');

    const marketing = smsBody(appId, phone, 'CONTENT_MARKETING', { correlation_id: 'c-1' });
    const m = await send(projectId, marketing);
    expect(m.status).toBe(200);
    expect(m.json.message_id).toMatch(ULID);
    const n = await send(projectId, smsBody(appId, phone, 'CONTENT_NOTIFICATION'));
    expect(n.status).toBe(200);
    expect(sendsOf(appId)).toEqual([marketing, smsBody(appId, phone, 'CONTENT_NOTIFICATION')]);

    let rows = await attempts(appId);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      identity: phone,
      channel: 'SMS',
      decision: 'SENT_TO_OPTED_OUT',
      lists: ['OPT_OUT_MARKETING'],
      message_content_type: 'CONTENT_MARKETING',
      actor: writer.key_id,
      correlation_id: 'c-1',
    });

    const jobs = await callbackJobs(appId);
    expect(jobs.map((j) => j.trigger)).toEqual(['SENT_TO_OPTED_OUT']);
    expect(jobs[0]!.body.consent_gate_send_notification).toMatchObject({
      type: 'SENT_TO_OPTED_OUT',
      identity: phone,
      lists: ['OPT_OUT_MARKETING'],
      send_attempt_id: rows[0]!.id,
    });

    // Sinch refused it: nothing was sent to the opted-out identity, nothing is recorded.
    fake.failNext(1, 400, sinchError(400, 'channel not configured'));
    expect((await send(projectId, marketing)).status).toBe(400);
    rows = await attempts(appId);
    expect(rows).toHaveLength(1);
    expect(await callbackJobs(appId)).toHaveLength(1);
  });

  it.each([
    [400, sinchError(400, 'Invalid channel identity', 'INVALID_ARGUMENT')],
    [403, sinchError(403, 'Project not allowed', 'PERMISSION_DENIED')],
    [404, sinchError(404, 'App not found', 'NOT_FOUND')],
    [429, sinchError(429, 'Too many requests', 'RESOURCE_EXHAUSTED')],
    [500, sinchError(500, 'Internal error', 'INTERNAL')],
    [503, { unexpected: 'not even the error shape' }],
  ])('passes Sinch’s %i through unchanged (status and body)', async (status, body) => {
    const { projectId, appId } = await configuredApp('PRIMARY');
    fake.failNext(1, status, body);
    const res = await send(projectId, smsBody(appId, randomPhone(), 'CONTENT_MARKETING'));
    expect(res.status).toBe(status);
    expect(res.text).toBe(JSON.stringify(body));
    expect(res.contentType).toMatch(/^application\/json/);
    expect(sendsOf(appId)).toHaveLength(1);
  });

  it('answers 502 UNAVAILABLE when Sinch does not answer, and when it refuses the service’s token twice', async () => {
    const { projectId, appId } = await configuredApp('PRIMARY');
    fake.failNextWithReset(1);
    const reset = await send(projectId, smsBody(appId, randomPhone()));
    expect(reset.status).toBe(502);
    expect(reset.json.error).toMatchObject({ code: 502, status: 'UNAVAILABLE' });
    expect(reset.json.error.message).toMatch(
      /^Sinch did not answer \(messages:send: network error/,
    );

    fake.failNext(2, 401);
    const refused = await send(projectId, smsBody(appId, randomPhone()));
    expect(refused.status).toBe(502);
    expect(refused.json.error.message).toMatch(/refused the credentials of the service/);
    // The gate's own credentials never reach the caller.
    for (const leak of [fake.expectedKeySecret, ...fake.issuedTokens()]) {
      expect(reset.text).not.toContain(leak);
      expect(refused.text).not.toContain(leak);
    }
  });

  it('contact_id: blocked after a MESSAGE_INBOUND or OPT_OUT webhook tied the contact to an opted-out identity; unknown contact forwarded', async () => {
    const { projectId, appId, base } = await configuredApp('PRIMARY');
    const phone = randomPhone();
    const contact = `01${randomBytes(12).toString('hex').toUpperCase()}`;
    const webhook = async (payload: Record<string, unknown>) => {
      const res = await fetch(`${t.baseUrl}/webhooks/sinch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          app_id: appId,
          project_id: projectId,
          accepted_time: new Date().toISOString(),
          event_time: new Date().toISOString(),
          ...payload,
        }),
      });
      expect(res.status).toBe(200);
    };
    const byContact = (c: string, type = 'CONTENT_MARKETING') => ({
      app_id: appId,
      recipient: { contact_id: c },
      message: { text_message: { text: 'hello' } },
      message_content_type: type,
    });

    // Not yet seen: forwarded.
    expect((await send(projectId, byContact(contact))).status).toBe(200);

    // An ordinary inbound message (no keyword) from the contact, then an opt-out by API.
    await webhook({
      message: inboundText(projectId, appId, 'hello there', {
        identity: `+${phone}`,
        contactId: contact,
        processingMode: 'CONVERSATION',
      }).message,
    });
    expect((await send(projectId, byContact(contact))).status).toBe(200);
    await optOut(base, phone, 'OPT_OUT_MARKETING');
    const blocked = await send(projectId, byContact(contact));
    expect(blocked.status).toBe(403);
    expect(blocked.json.error.details[0].metadata).toMatchObject({
      identity: phone,
      channel: 'SMS',
      list_type: 'OPT_OUT_MARKETING',
    });
    expect((await send(projectId, byContact(contact, 'CONTENT_NOTIFICATION'))).status).toBe(200);

    // A Sinch OPT_OUT notification ties another contact to its identity in the same delivery.
    const other = `01${randomBytes(12).toString('hex').toUpperCase()}`;
    const whatsapp = randomPhone();
    await webhook({
      opt_out_notification: {
        contact_id: other,
        channel: 'WHATSAPP',
        identity: whatsapp,
        status: 'OPT_OUT_SUCCEEDED',
        request_id: `req-${randomBytes(6).toString('hex')}`,
      },
    });
    const viaNotification = await send(projectId, byContact(other, 'CONTENT_NOTIFICATION'));
    expect(viaNotification.status).toBe(403);
    expect(viaNotification.json.error.details[0].metadata).toMatchObject({
      identity: whatsapp,
      channel: 'WHATSAPP',
      list_type: 'OPT_OUT_ALL',
    });

    // An empty contact_id (DISPATCH mode) records nothing; a contact of another app is unknown.
    const unknown = `01${randomBytes(12).toString('hex').toUpperCase()}`;
    expect((await send(projectId, byContact(unknown))).status).toBe(200);
    const elsewhere = newApp();
    const res = await send(elsewhere.projectId, { ...byContact(contact), app_id: elsewhere.appId });
    expect(res.status).toBe(200);

    const seen: { contact_id: string; channel: string; identity: string }[] = await ds.query(
      `SELECT contact_id, channel, identity FROM contact_identities WHERE app_id = $1
        ORDER BY channel`,
      [appId],
    );
    expect(seen).toEqual([
      { contact_id: contact, channel: 'SMS', identity: phone },
      { contact_id: other, channel: 'WHATSAPP', identity: whatsapp },
    ]);
    expect((await attempts(appId)).map((r) => r.decision)).toEqual(['BLOCKED', 'BLOCKED']);
  });

  it('the official SDK sends through the gate and gets a RequestFailedError when blocked', async () => {
    const { projectId, appId, base } = await configuredApp('PRIMARY');
    const phone = randomPhone();
    await optOut(base, phone, 'OPT_OUT_MARKETING');
    const sdk = new SinchClient({
      projectId,
      keyId: writer.key_id,
      keySecret: writer.key_secret,
      authHostname: t.baseUrl,
      conversationHostname: t.baseUrl,
      logger: null,
    });
    const request = (type: 'CONTENT_MARKETING' | 'CONTENT_NOTIFICATION') =>
      sdk.conversation.messages.send({
        sendMessageRequestBody: {
          app_id: appId,
          recipient: {
            identified_by: { channel_identities: [{ channel: 'SMS', identity: phone }] },
          },
          message: { text_message: { text: 'Hello from the SDK' } },
          message_content_type: type,
          correlation_id: 'sdk-1',
        },
      });

    const sent = await request('CONTENT_NOTIFICATION');
    expect(sent.message_id).toMatch(ULID);
    expect(sendsOf(appId)).toEqual([
      expect.objectContaining({
        app_id: appId,
        message_content_type: 'CONTENT_NOTIFICATION',
        correlation_id: 'sdk-1',
      }),
    ]);

    let caught: unknown;
    try {
      await request('CONTENT_MARKETING');
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(RequestFailedError);
    const err = caught as RequestFailedError<unknown>;
    expect(err.statusCode).toBe(403);
    const body = JSON.parse(err.data as string);
    expect(body.error).toMatchObject({
      code: 403,
      status: 'PERMISSION_DENIED',
      details: [expect.objectContaining({ reason: 'RECIPIENT_OPTED_OUT' })],
    });
    expect(body.error.message).toContain('OPT_OUT_MARKETING');
    expect(sendsOf(appId)).toHaveLength(1);
    const rows = await attempts(appId);
    expect(rows).toEqual([
      expect.objectContaining({
        decision: 'BLOCKED',
        actor: writer.key_id,
        correlation_id: 'sdk-1',
      }),
    ]);
  });

  it.each<[string, unknown, string]>([
    ['an array body', [], ''],
    ['no app_id', { recipient: { contact_id: 'c' }, message: {} }, 'app_id'],
    ['a bad app_id', { app_id: 'a b', recipient: { contact_id: 'c' }, message: {} }, 'app_id'],
    ['no recipient', { app_id: 'a', message: {} }, 'recipient'],
    [
      'both contact_id and identified_by',
      {
        app_id: 'a',
        recipient: {
          contact_id: 'c',
          identified_by: { channel_identities: [{ channel: 'SMS', identity: '123456' }] },
        },
        message: {},
      },
      'recipient',
    ],
    ['an empty recipient', { app_id: 'a', recipient: {}, message: {} }, 'recipient'],
    [
      'no channel identities',
      { app_id: 'a', recipient: { identified_by: { channel_identities: [] } }, message: {} },
      'recipient.identified_by.channel_identities',
    ],
    [
      'a channel identity without channel',
      {
        app_id: 'a',
        recipient: { identified_by: { channel_identities: [{ identity: '46732001122' }] } },
        message: {},
      },
      'recipient.identified_by.channel_identities[0].channel',
    ],
    [
      'an invalid identity',
      {
        app_id: 'a',
        recipient: {
          identified_by: {
            channel_identities: [
              { channel: 'SMS', identity: '46732001122' },
              { channel: 'SMS', identity: 'bad\u0007' },
            ],
          },
        },
        message: {},
      },
      'recipient.identified_by.channel_identities[1].identity',
    ],
    [
      'an empty contact_id',
      { app_id: 'a', recipient: { contact_id: '' }, message: {} },
      'recipient.contact_id',
    ],
    ['no message', { app_id: 'a', recipient: { contact_id: 'c' } }, 'message'],
    [
      'an unknown content type',
      {
        app_id: 'a',
        recipient: { contact_id: 'c' },
        message: {},
        message_content_type: 'CONTENT_PROMO',
      },
      'message_content_type',
    ],
    [
      'a camelCase content type',
      {
        app_id: 'a',
        recipient: { contact_id: 'c' },
        message: {},
        messageContentType: 'CONTENT_MARKETING',
      },
      'messageContentType',
    ],
  ])('400 INVALID_ARGUMENT for %s, nothing forwarded', async (_, body, field) => {
    const { projectId } = newApp();
    const res = await send(projectId, body);
    expect(res.status).toBe(400);
    expect(res.json.error).toMatchObject({ code: 400, status: 'INVALID_ARGUMENT' });
    expect(res.json.error.details[0]['@type']).toBe('type.googleapis.com/google.rpc.BadRequest');
    expect(
      res.json.error.details[0].field_violations.map((v: { field: string }) => v.field),
    ).toContain(field);
    expect(fake.requests).toHaveLength(0);
  });

  it('400 for malformed JSON and a bad project id; 401 without a token; 403 for a read-only key', async () => {
    const { projectId, appId } = newApp();
    const malformed = await send(projectId, '{"app_id":');
    expect(malformed.status).toBe(400);
    expect(malformed.json.error.status).toBe('INVALID_ARGUMENT');
    const badProject = await send('bad%20project', smsBody(appId, randomPhone()));
    expect(badProject.status).toBe(400);
    expect(badProject.json.error.details[0].field_violations[0].field).toBe('project_id');

    const anonymous = await send(projectId, smsBody(appId, randomPhone()), null);
    expect(anonymous.status).toBe(401);
    expect(anonymous.json.error.status).toBe('UNAUTHENTICATED');

    const reader = await mintKey(['read']);
    const readOnly = await send(projectId, smsBody(appId, randomPhone()), reader.key_secret);
    expect(readOnly.status).toBe(403);
    expect(readOnly.json.error).toMatchObject({
      status: 'PERMISSION_DENIED',
      message: 'This endpoint needs the "write" scope.',
      details: [],
    });
    expect(fake.requests).toHaveLength(0);
  });

  it('documents the endpoint in the OpenAPI spec', async () => {
    const spec = (await api.get('/docs-json')).body;
    const op = spec.paths['/v1/projects/{project_id}/messages:send']?.post;
    expect(op).toBeDefined();
    expect(Object.keys(op.responses).sort()).toEqual(
      expect.arrayContaining(['200', '400', '401', '403', '502', '503']),
    );
    expect(op.responses['403'].description).toMatch(/RECIPIENT_OPTED_OUT/);
    expect(op.description).toMatch(/contact never seen/);
  });
});

describe('send gate without Sinch credentials', () => {
  let t: TestApp;
  let api: Api;

  beforeAll(async () => {
    t = await startTestApp({ SETTINGS_CACHE_TTL_MS: '0' });
    api = new Api(t.baseUrl);
  });
  afterAll(() => t?.close());

  it('answers 503 for a send it would forward, and still blocks (403) what consent forbids', async () => {
    const { projectId, appId, base } = newApp();
    expect((await api.put(`${base}/consent-settings`, { mode: 'PRIMARY' })).status).toBe(200);
    expect((await api.put(`${base}/identities/46700000001/opt-outs/OPT_OUT_ALL`)).status).toBe(200);
    const body = (identity: string) => ({
      app_id: appId,
      recipient: { identified_by: { channel_identities: [{ channel: 'SMS', identity }] } },
      message: { text_message: { text: 'hi' } },
    });
    const forwarded = await api.post(
      `/v1/projects/${projectId}/messages:send`,
      body('46700000002'),
    );
    expect(forwarded.status).toBe(503);
    expect(forwarded.body.error).toMatchObject({ code: 503, status: 'UNAVAILABLE' });
    expect(forwarded.body.error.message).toMatch(/Sinch credentials are not configured/);
    const blocked = await api.post(`/v1/projects/${projectId}/messages:send`, body('46700000001'));
    expect(blocked.status).toBe(403);
    expect(blocked.body.error.details[0].reason).toBe('RECIPIENT_OPTED_OUT');
  });
});
