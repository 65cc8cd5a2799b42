// Callbacks to the company's own systems, end to end: subscriptions API, OPT_IN / OPT_OUT events
// from every kind of consent change, Sinch's envelope and signature (checked with the official
// SDK: validateWebhookSignature and ConversationCallbackWebhooks.parseEvent), retries, the
// delivery log, manual redelivery, and that a dead or slow target never slows the API.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ConversationCallbackWebhooks, validateWebhookSignature } from '@sinch/sdk-core';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DataSource } from 'typeorm';
import { CallbackEmitter } from '../src/callbacks/callback-emitter.js';
import { ListType } from '../src/consent/domain/consent-types.js';
import { Receiver } from './callback-receiver.js';
import { inboundText } from './sinch-payloads.js';
import {
  abandonPendingJobs,
  Api,
  newApp,
  randomPhone,
  sleep,
  startTestApp,
  TestApp,
  until,
} from './utils.js';

const SECRET = 'callback-signing-secret-0123';
const ULID_LIKE = /^[0-9A-HJKMNP-TV-Z]{26}$/;

describe('callbacks', () => {
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
      CALLBACK_TIMEOUT_MS: '1000',
      SETTINGS_CACHE_TTL_MS: '0',
    });
    api = new Api(t.baseUrl);
    ds = t.app.get(DataSource);
  });

  afterAll(async () => {
    // Test files share the run's database: leave no callback job for other files' workers.
    if (ds) await abandonPendingJobs(ds, projects, 'CALLBACK');
    await t?.close();
    await receiver.stop();
  });

  /** A fresh app with one subscription on a fresh receiver path. */
  async function subscribed(
    triggers: string[] = ['OPT_OUT', 'OPT_IN'],
    opts: { path?: string; url?: string; secret?: string } = {},
  ) {
    const a = newApp();
    projects.push(a.projectId);
    const path = opts.path ?? receiver.path();
    const res = await api.post(`${a.base}/callbacks`, {
      target_url: opts.url ?? receiver.url + path,
      secret: opts.secret ?? SECRET,
      triggers,
    });
    expect(res.status).toBe(201);
    return { ...a, path, id: res.body.id as string, created: res.body };
  }

  async function deliveries(base: string, id: string, query = ''): Promise<any[]> {
    const res = await api.get(`${base}/callbacks/${id}/deliveries${query}`);
    expect(res.status).toBe(200);
    return res.body.deliveries;
  }

  async function callbackJobs(projectId: string): Promise<number> {
    const rows: { n: number }[] = await ds.query(
      `SELECT count(*)::int AS n FROM outbox_jobs WHERE kind = 'CALLBACK' AND project_id = $1`,
      [projectId],
    );
    return rows[0]!.n;
  }

  const optOut = (base: string, identity: string, list: string, body?: unknown) =>
    api.put(`${base}/identities/${identity}/opt-outs/${list}`, body);
  const optIn = (base: string, identity: string, list: string, body?: unknown) =>
    api.delete(`${base}/identities/${identity}/opt-outs/${list}`, body);

  it('an API opt-out sends a signed OPT_OUT callback that the Sinch SDK verifies and parses', async () => {
    const s = await subscribed();
    expect(s.created).toEqual({
      id: expect.stringMatching(ULID_LIKE),
      target_url: receiver.url + s.path,
      triggers: ['OPT_IN', 'OPT_OUT'],
      created_at: expect.any(String),
      updated_at: expect.any(String),
    });
    const identity = randomPhone();
    const eventTime = new Date(Date.now() - 60_000).toISOString();
    const change = await optOut(s.base, identity, 'OPT_OUT_MARKETING', { event_time: eventTime });
    expect(change.status).toBe(200);
    expect(change.body.outcome).toBe('APPLIED');

    const [got] = await until(
      'the OPT_OUT callback',
      () => receiver.at(s.path),
      (r) => r.length >= 1,
    );
    const h = got!.headers;
    expect(h['content-type']).toBe('application/json');
    expect(h['x-sinch-webhook-signature-algorithm']).toBe('HmacSHA256');
    expect(h['x-sinch-webhook-signature-nonce']).toEqual(expect.any(String));
    expect(
      Math.abs(Number(h['x-sinch-webhook-signature-timestamp']) - Date.now() / 1000),
    ).toBeLessThan(30);

    // The official SDK's validator accepts the signature over the raw body...
    expect(validateWebhookSignature(SECRET, h, got!.body)).toBe(true);
    expect(
      new ConversationCallbackWebhooks(SECRET).validateAuthenticationHeader(
        h,
        got!.body,
        s.path,
        'POST',
      ),
    ).toBe(true);
    // ...and refuses another secret or a changed body.
    expect(validateWebhookSignature('another-secret-123', h, got!.body)).toBe(false);
    expect(
      validateWebhookSignature(SECRET, h, got!.body.replace('OPT_OUT_MARKETING', 'OPT_OUT_ALL')),
    ).toBe(false);

    const body = JSON.parse(got!.body);
    expect(body).toEqual({
      app_id: s.appId,
      project_id: s.projectId,
      accepted_time: expect.any(String),
      event_time: new Date(eventTime).toISOString(),
      message_metadata: '',
      correlation_id: '',
      opt_out_notification: {
        contact_id: '',
        channel: 'CHANNEL_UNSPECIFIED',
        identity,
        status: 'OPT_OUT_SUCCEEDED',
        request_id: expect.stringMatching(ULID_LIKE),
        processing_mode: 'DISPATCH',
        list_type: 'OPT_OUT_MARKETING',
        origin: 'ORIGIN_API',
        audit_record_id: change.body.audit_record_id,
        sequence: expect.any(Number),
      },
    });
    expect(Math.abs(Date.parse(body.accepted_time) - Date.now())).toBeLessThan(30_000);

    // The receiver can parse it with the SDK.
    const parsed = ConversationCallbackWebhooks.parseEvent(got!.body) as any;
    expect(parsed.trigger).toBe('OPT_OUT');
    expect(parsed.opt_out_notification.identity).toBe(identity);
    expect(parsed.opt_out_notification.status).toBe('OPT_OUT_SUCCEEDED');

    // One attempt, logged as SUCCEEDED under the event id.
    const log = await until(
      'the delivery record',
      () => deliveries(s.base, s.id),
      (d) => d.length >= 1,
    );
    expect(log).toEqual([
      {
        id: expect.any(String),
        event_id: body.opt_out_notification.request_id,
        job_id: expect.stringMatching(/^\d+$/),
        trigger: 'OPT_OUT',
        attempt: 1,
        outcome: 'SUCCEEDED',
        http_status: 200,
        error: null,
        duration_ms: expect.any(Number),
        attempted_at: expect.any(String),
      },
    ]);

    // Opting back in sends OPT_IN, with a higher sequence number.
    const back = await optIn(s.base, identity, 'OPT_OUT_MARKETING');
    expect(back.body.outcome).toBe('APPLIED');
    const both = await until(
      'the OPT_IN callback',
      () => receiver.at(s.path),
      (r) => r.length >= 2,
    );
    const second = JSON.parse(both[1]!.body);
    expect(validateWebhookSignature(SECRET, both[1]!.headers, both[1]!.body)).toBe(true);
    expect(ConversationCallbackWebhooks.parseEvent(both[1]!.body).trigger).toBe('OPT_IN');
    expect(second.opt_in_notification).toMatchObject({
      identity,
      status: 'OPT_IN_SUCCEEDED',
      list_type: 'OPT_OUT_MARKETING',
      origin: 'ORIGIN_API',
      audit_record_id: back.body.audit_record_id,
      processing_mode: 'DISPATCH',
    });
    expect(second.opt_in_notification.sequence).toBeGreaterThan(body.opt_out_notification.sequence);
    expect(second.opt_in_notification.request_id).not.toBe(body.opt_out_notification.request_id);
    expect(second).not.toHaveProperty('opt_out_notification');
  });

  it('NO_CHANGE and SUPERSEDED changes send nothing; only subscribed triggers are sent', async () => {
    const s = await subscribed(['OPT_OUT']);
    const identity = randomPhone();
    expect((await optOut(s.base, identity, 'OPT_OUT_ALL')).body.outcome).toBe('APPLIED');
    expect((await optOut(s.base, identity, 'OPT_OUT_ALL')).body.outcome).toBe('NO_CHANGE');
    const old = new Date(Date.now() - 3_600_000).toISOString();
    expect((await optIn(s.base, identity, 'OPT_OUT_ALL', { event_time: old })).body.outcome).toBe(
      'SUPERSEDED',
    );
    // Applied, but OPT_IN is not among this subscription's triggers.
    expect((await optIn(s.base, identity, 'OPT_OUT_ALL')).body.outcome).toBe('APPLIED');
    expect(await callbackJobs(s.projectId)).toBe(1);

    await until(
      'the one callback',
      () => receiver.at(s.path),
      (r) => r.length >= 1,
    );
    await sleep(300);
    expect(receiver.at(s.path)).toHaveLength(1);
    expect(JSON.parse(receiver.at(s.path)[0]!.body).opt_out_notification.list_type).toBe(
      'OPT_OUT_ALL',
    );
  });

  it('a Sinch batch insert sends one callback per applied record', async () => {
    const s = await subscribed(['OPT_OUT']);
    const [a, b, c] = [randomPhone(), randomPhone(), randomPhone()];
    expect((await optOut(s.base, a, 'OPT_OUT_ALL')).body.outcome).toBe('APPLIED');
    const batch = await api.post(`/v1/projects/${s.projectId}/consents`, {
      app_id: s.appId,
      consent_records: [
        { identification: a, consent_type: 'OPT_OUT_ALL' }, // already there: NO_CHANGE
        { identification: `+${b}`, consent_type: 'OPT_OUT_MARKETING' },
        { identification: c, consent_type: 'OPT_OUT_NOTIFICATION' },
      ],
    });
    expect(batch.status).toBe(200);
    expect(await callbackJobs(s.projectId)).toBe(3);

    const got = await until(
      'three callbacks',
      () => receiver.at(s.path),
      (r) => r.length >= 3,
    );
    await sleep(200);
    expect(receiver.at(s.path)).toHaveLength(3);
    const notes = got.map((r) => JSON.parse(r.body).opt_out_notification);
    const batchNotes = notes.filter((n) => n.identity !== a);
    expect(batchNotes.map((n) => [n.identity, n.list_type]).sort()).toEqual(
      [
        [b, 'OPT_OUT_MARKETING'],
        [c, 'OPT_OUT_NOTIFICATION'],
      ].sort(),
    );
    for (const n of batchNotes) expect(n.origin).toBe('ORIGIN_API');
    expect(new Set(notes.map((n) => n.sequence)).size).toBe(3);
    expect(new Set(notes.map((n) => n.audit_record_id)).size).toBe(3);
    for (const r of got) expect(validateWebhookSignature(SECRET, r.headers, r.body)).toBe(true);
  });

  it('both modes send OPT_IN / OPT_OUT callbacks', async () => {
    for (const mode of ['PRIMARY', 'SECONDARY']) {
      const s = await subscribed();
      expect((await api.put(`${s.base}/consent-settings`, { mode })).status).toBe(200);
      const identity = randomPhone();
      await optOut(s.base, identity, 'OPT_OUT_ALL');
      await optIn(s.base, identity, 'OPT_OUT_ALL');
      const got = await until(
        `two callbacks in ${mode}`,
        () => receiver.at(s.path),
        (r) => r.length >= 2,
      );
      expect(
        got.map((r) => ConversationCallbackWebhooks.parseEvent(r.body).trigger).sort(),
      ).toEqual(['OPT_IN', 'OPT_OUT']);
    }
  });

  it('a keyword from a Sinch webhook sends OPT_OUT with the channel and origin ORIGIN_MO', async () => {
    const s = await subscribed(['OPT_OUT']);
    expect((await api.put(`${s.base}/consent-settings`, { auto_reply: false })).status).toBe(200);
    const identity = randomPhone();
    const eventTime = new Date(Date.now() - 5_000).toISOString();
    const res = await fetch(`${t.baseUrl}/webhooks/sinch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(
        inboundText(s.projectId, s.appId, 'STOP', { eventTime, identity, channel: 'WHATSAPP' }),
      ),
    });
    expect(res.status).toBe(200);
    const [got] = await until(
      'the keyword callback',
      () => receiver.at(s.path),
      (r) => r.length >= 1,
    );
    const body = JSON.parse(got!.body);
    expect(body.event_time).toBe(eventTime);
    expect(body.opt_out_notification).toMatchObject({
      channel: 'WHATSAPP',
      identity,
      list_type: 'OPT_OUT_ALL',
      origin: 'ORIGIN_MO',
      status: 'OPT_OUT_SUCCEEDED',
    });
    expect(validateWebhookSignature(SECRET, got!.headers, got!.body)).toBe(true);
  });

  it('send-gate events use consent_gate_send_notification, signed the same way', async () => {
    const s = await subscribed(['SEND_BLOCKED']);
    const identity = randomPhone();
    const emitter = t.app.get(CallbackEmitter);
    await ds.transaction((tx) =>
      emitter.emit(
        tx,
        { projectId: s.projectId, appId: s.appId },
        {
          trigger: 'SEND_BLOCKED',
          identity,
          channel: 'SMS',
          lists: [ListType.OPT_OUT_MARKETING],
          messageContentType: 'CONTENT_MARKETING',
          sendAttemptId: '77',
          eventTime: new Date('2026-01-02T03:04:05.000Z'),
          correlationId: 'order-4711',
        },
      ),
    );
    // Not subscribed: no job.
    await ds.transaction((tx) =>
      emitter.emit(
        tx,
        { projectId: s.projectId, appId: s.appId },
        {
          trigger: 'SENT_TO_OPTED_OUT',
          identity,
          channel: 'SMS',
          lists: [ListType.OPT_OUT_MARKETING],
          messageContentType: 'CONTENT_MARKETING',
          sendAttemptId: '78',
          eventTime: new Date(),
        },
      ),
    );
    expect(await callbackJobs(s.projectId)).toBe(1);
    const [got] = await until(
      'the SEND_BLOCKED callback',
      () => receiver.at(s.path),
      (r) => r.length >= 1,
    );
    expect(validateWebhookSignature(SECRET, got!.headers, got!.body)).toBe(true);
    const body = JSON.parse(got!.body);
    expect(body).toEqual({
      app_id: s.appId,
      project_id: s.projectId,
      accepted_time: expect.any(String),
      event_time: '2026-01-02T03:04:05.000Z',
      message_metadata: '',
      correlation_id: 'order-4711',
      consent_gate_send_notification: {
        type: 'SEND_BLOCKED',
        identity,
        channel: 'SMS',
        lists: ['OPT_OUT_MARKETING'],
        message_content_type: 'CONTENT_MARKETING',
        send_attempt_id: '77',
        correlation_id: 'order-4711',
        sequence: expect.any(Number),
        event_id: expect.stringMatching(ULID_LIKE),
      },
    });
    // The SDK knows no such trigger: receivers read this key themselves.
    expect(() => ConversationCallbackWebhooks.parseEvent(got!.body)).toThrow(/Unknown/);
  });

  it('a receiver failing 3 times (503) gets the callback on the 4th attempt; every attempt is logged', async () => {
    const path = receiver.path();
    receiver.failNext(path, 3, 503);
    const s = await subscribed(['OPT_OUT'], { path });
    await optOut(s.base, randomPhone(), 'OPT_OUT_ALL');

    const log = await until(
      'the 4th attempt to succeed',
      () => deliveries(s.base, s.id),
      (d) => d.some((x) => x.outcome === 'SUCCEEDED'),
    );
    expect(log.map((d) => [d.attempt, d.outcome, d.http_status])).toEqual([
      [4, 'SUCCEEDED', 200],
      [3, 'RETRYING', 503],
      [2, 'RETRYING', 503],
      [1, 'RETRYING', 503],
    ]);
    expect(log[3].error).toBe('HTTP 503 (retryable)');
    expect(new Set(log.map((d) => d.event_id)).size).toBe(1);
    expect(new Set(log.map((d) => d.job_id)).size).toBe(1);
    // Backoff: the attempts are spread out, not back to back.
    const times = log.map((d) => Date.parse(d.attempted_at)).reverse();
    expect(times[3]! - times[0]!).toBeGreaterThanOrEqual(250);

    const got = receiver.at(s.path);
    expect(got.map((r) => r.answered)).toEqual([503, 503, 503, 200]);
    // Same body every time; a fresh nonce (and signature) per attempt.
    expect(new Set(got.map((r) => r.body)).size).toBe(1);
    expect(new Set(got.map((r) => r.headers['x-sinch-webhook-signature-nonce'])).size).toBe(4);
    for (const r of got) expect(validateWebhookSignature(SECRET, r.headers, r.body)).toBe(true);

    // Paging, newest first.
    const page1 = await api.get(`${s.base}/callbacks/${s.id}/deliveries?page_size=3`);
    expect(page1.body.deliveries.map((d: any) => d.attempt)).toEqual([4, 3, 2]);
    const page2 = await api.get(
      `${s.base}/callbacks/${s.id}/deliveries?page_size=3&page_token=${page1.body.next_page_token}`,
    );
    expect(page2.body.deliveries.map((d: any) => d.attempt)).toEqual([1]);
    expect(page2.body.next_page_token).toBe('');
    expect((await api.get(`${s.base}/callbacks/${s.id}/deliveries?page_token=nope!`)).status).toBe(
      400,
    );
  });

  it('a 400 from the receiver gives up at once', async () => {
    const path = receiver.path();
    receiver.failNext(path, 5, 400);
    const s = await subscribed(['OPT_OUT'], { path });
    await optOut(s.base, randomPhone(), 'OPT_OUT_ALL');
    const log = await until(
      'GAVE_UP',
      () => deliveries(s.base, s.id),
      (d) => d.length >= 1,
    );
    await sleep(400);
    expect(await deliveries(s.base, s.id)).toEqual([
      expect.objectContaining({ attempt: 1, outcome: 'GAVE_UP', http_status: 400 }),
    ]);
    expect(log[0].error).toBe('HTTP 400 (not retryable)');
    expect(receiver.at(path)).toHaveLength(1);
    const job: { status: string }[] = await ds.query(
      `SELECT status FROM outbox_jobs WHERE id = $1`,
      [log[0].job_id],
    );
    expect(job[0]!.status).toBe('FAILED');
  });

  it('redeliver queues the same body again as a fresh job', async () => {
    const s = await subscribed(['OPT_OUT']);
    await optOut(s.base, randomPhone(), 'OPT_OUT_ALL');
    const [first] = await until(
      'the callback',
      () => deliveries(s.base, s.id),
      (d) => d.length >= 1,
    );
    const eventId = first.event_id;

    const res = await api.post(`${s.base}/callbacks/${s.id}/deliveries/${eventId}:redeliver`);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ callback_id: s.id, event_id: eventId, job_id: expect.any(String) });
    expect(res.body.job_id).not.toBe(first.job_id);

    const got = await until(
      'the redelivery',
      () => receiver.at(s.path),
      (r) => r.length >= 2,
    );
    expect(got[1]!.body).toBe(got[0]!.body);
    expect(validateWebhookSignature(SECRET, got[1]!.headers, got[1]!.body)).toBe(true);
    const log = await until(
      'two records',
      () => deliveries(s.base, s.id),
      (d) => d.length >= 2,
    );
    expect(log.map((d) => [d.event_id, d.job_id, d.outcome, d.attempt])).toEqual([
      [eventId, res.body.job_id, 'SUCCEEDED', 1],
      [eventId, first.job_id, 'SUCCEEDED', 1],
    ]);

    const unknownEvent = '01JDQ10ZB6T8D2V3SA4Q0C7M5N';
    const notFound = await api.post(
      `${s.base}/callbacks/${s.id}/deliveries/${unknownEvent}:redeliver`,
    );
    expect(notFound.status).toBe(404);
    expect(notFound.body.error.status).toBe('NOT_FOUND');
    // Another app's subscription id does not reach this event.
    const other = await subscribed(['OPT_OUT']);
    expect(
      (await api.post(`${other.base}/callbacks/${other.id}/deliveries/${eventId}:redeliver`))
        .status,
    ).toBe(404);
    expect(
      (await api.post(`${s.base}/callbacks/${s.id}/deliveries/not-an-id:redeliver`)).status,
    ).toBe(400);
  });

  it('subscriptions: get, list, update, delete; the secret is never returned', async () => {
    const s = await subscribed(['OPT_OUT'], { secret: 'first-secret-value' });
    const secretsSeen: string[] = [JSON.stringify(s.created)];

    const got = await api.get(`${s.base}/callbacks/${s.id}`);
    expect(got.status).toBe(200);
    expect(got.body).toEqual(s.created);
    secretsSeen.push(JSON.stringify(got.body));

    const second = await api.post(`${s.base}/callbacks`, {
      target_url: 'https://crm.example.com/hooks?token=abc',
      secret: 'second-secret-value',
      triggers: ['SENT_TO_OPTED_OUT', 'SEND_BLOCKED', 'OPT_IN'],
    });
    expect(second.status).toBe(201);
    expect(second.body.triggers).toEqual(['OPT_IN', 'SEND_BLOCKED', 'SENT_TO_OPTED_OUT']);
    const list = await api.get(`${s.base}/callbacks`);
    expect(list.body.callbacks.map((c: any) => c.id)).toEqual([s.id, second.body.id]);
    secretsSeen.push(JSON.stringify(list.body), JSON.stringify(second.body));

    // Update: new path and secret; the next callback goes there, signed with the new secret.
    const newPath = receiver.path();
    const patched = await api.request('PATCH', `${s.base}/callbacks/${s.id}`, {
      target_url: receiver.url + newPath,
      secret: 'rotated-secret-value',
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      id: s.id,
      target_url: receiver.url + newPath,
      triggers: ['OPT_OUT'],
    });
    expect(Date.parse(patched.body.updated_at)).toBeGreaterThanOrEqual(
      Date.parse(s.created.updated_at),
    );
    secretsSeen.push(JSON.stringify(patched.body));
    await optOut(s.base, randomPhone(), 'OPT_OUT_ALL');
    const [delivered] = await until(
      'delivery to the new URL',
      () => receiver.at(newPath),
      (r) => r.length >= 1,
    );
    expect(
      validateWebhookSignature('rotated-secret-value', delivered!.headers, delivered!.body),
    ).toBe(true);
    expect(
      validateWebhookSignature('first-secret-value', delivered!.headers, delivered!.body),
    ).toBe(false);
    expect(receiver.at(s.path)).toHaveLength(0);

    const triggersOnly = await api.request('PATCH', `${s.base}/callbacks/${s.id}`, {
      triggers: ['OPT_IN'],
    });
    expect(triggersOnly.body.triggers).toEqual(['OPT_IN']);
    expect(triggersOnly.body.target_url).toBe(receiver.url + newPath);
    const empty = await api.request('PATCH', `${s.base}/callbacks/${s.id}`, {});
    expect(empty.status).toBe(400);
    const badPatch = await api.request('PATCH', `${s.base}/callbacks/${s.id}`, {
      target_url: 'ftp://x',
    });
    expect(badPatch.status).toBe(400);

    for (const body of secretsSeen) {
      expect(body).not.toContain('secret-value');
      expect(body).not.toContain('"secret"');
    }

    // Delete: answers with the subscription; then 404 everywhere.
    const del = await api.delete(`${s.base}/callbacks/${s.id}`);
    expect(del.status).toBe(200);
    expect(del.body.id).toBe(s.id);
    expect(JSON.stringify(del.body)).not.toContain('secret-value');
    for (const res of [
      await api.get(`${s.base}/callbacks/${s.id}`),
      await api.delete(`${s.base}/callbacks/${s.id}`),
      await api.request('PATCH', `${s.base}/callbacks/${s.id}`, { triggers: ['OPT_IN'] }),
      await api.get(`${s.base}/callbacks/${s.id}/deliveries`),
    ]) {
      expect(res.status).toBe(404);
      expect(res.body.error.status).toBe('NOT_FOUND');
    }
    expect((await api.get(`${s.base}/callbacks`)).body.callbacks.map((c: any) => c.id)).toEqual([
      second.body.id,
    ]);
    // Another app does not see this app's subscriptions.
    const other = newApp();
    expect((await api.get(`${other.base}/callbacks/${second.body.id}`)).status).toBe(404);
    expect((await api.get(`${s.base}/callbacks/not-a-ulid`)).status).toBe(400);
  });

  it('deleting a subscription drops its queued callbacks', async () => {
    const path = receiver.path();
    receiver.failNext(path, 1000, 503);
    const s = await subscribed(['OPT_OUT'], { path });
    await optOut(s.base, randomPhone(), 'OPT_OUT_ALL');
    await until(
      'a first failed attempt',
      () => receiver.at(path),
      (r) => r.length >= 1,
    );
    expect((await api.delete(`${s.base}/callbacks/${s.id}`)).status).toBe(200);
    const rows: { status: string; last_error: string }[] = await ds.query(
      `SELECT status, last_error FROM outbox_jobs WHERE kind = 'CALLBACK' AND project_id = $1`,
      [s.projectId],
    );
    expect(rows).toEqual([{ status: 'FAILED', last_error: expect.any(String) }]);
    const seen = receiver.at(path).length;
    await sleep(400);
    expect(receiver.at(path).length).toBeLessThanOrEqual(seen + 1);
  });

  it('validation errors are 400 and store nothing', async () => {
    const a = newApp();
    projects.push(a.projectId);
    const good = { target_url: `${receiver.url}/x`, secret: SECRET, triggers: ['OPT_OUT'] };
    const cases: [Record<string, unknown>, string][] = [
      [{ ...good, target_url: 'ftp://files.example.com/in' }, 'target_url'],
      [{ ...good, target_url: 'not a url' }, 'target_url'],
      [{ ...good, target_url: 'https://user:pw@example.com/hook' }, 'target_url'],
      [{ ...good, target_url: `https://example.com/${'a'.repeat(2048)}` }, 'target_url'],
      [{ ...good, target_url: 42 }, 'target_url'],
      [{ ...good, triggers: [] }, 'triggers'],
      [{ target_url: good.target_url, secret: SECRET }, 'triggers'],
      [{ ...good, triggers: ['OPT_OUT', 'MESSAGE_INBOUND'] }, 'triggers'],
      [{ ...good, triggers: ['OPT_OUT', 'OPT_OUT'] }, 'triggers'],
      [{ ...good, triggers: 'OPT_OUT' }, 'triggers'],
      [{ ...good, secret: 'short' }, 'secret'],
      [{ ...good, secret: undefined }, 'secret'],
      [{ ...good, secret: 'x'.repeat(257) }, 'secret'],
      [{ ...good, extra: true }, 'extra'],
    ];
    for (const [body, field] of cases) {
      const res = await api.post(`${a.base}/callbacks`, body);
      expect(res.status).toBe(400);
      expect(res.body.error.status).toBe('INVALID_ARGUMENT');
      const fields = res.body.error.details[0].field_violations.map((v: any) => v.field);
      expect(fields).toContain(field);
      expect(JSON.stringify(res.body)).not.toContain(SECRET);
    }
    expect((await api.get(`${a.base}/callbacks`)).body.callbacks).toEqual([]);
    const rows: { n: number }[] = await ds.query(
      `SELECT count(*)::int AS n FROM callback_subscriptions WHERE project_id = $1`,
      [a.projectId],
    );
    expect(rows[0]!.n).toBe(0);
    expect((await api.post(`/v1/projects/bad%20id/apps/${a.appId}/callbacks`, good)).status).toBe(
      400,
    );
  });

  it('reads need the read scope, writes the admin scope', async () => {
    const s = await subscribed(['OPT_OUT']);
    const minted = await api.post('/v1/api-keys', {
      name: 'callbacks-reader',
      scopes: ['read', 'write'],
    });
    expect(minted.status).toBe(201);
    const reader = api.as(minted.body.key_secret);
    expect((await reader.get(`${s.base}/callbacks`)).status).toBe(200);
    expect((await reader.get(`${s.base}/callbacks/${s.id}/deliveries`)).status).toBe(200);
    const create = await reader.post(`${s.base}/callbacks`, {
      target_url: `${receiver.url}/x`,
      secret: SECRET,
      triggers: ['OPT_OUT'],
    });
    expect(create.status).toBe(403);
    expect((await reader.delete(`${s.base}/callbacks/${s.id}`)).status).toBe(403);
    expect((await api.as(null).get(`${s.base}/callbacks`)).status).toBe(401);
  });

  it('a dead target (connection refused) does not slow consent changes while retries go on', async () => {
    // A port nothing listens on.
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));

    const s = await subscribed(['OPT_OUT'], { url: `http://127.0.0.1:${port}/dead` });
    await optOut(s.base, randomPhone(), 'OPT_OUT_ALL');
    await until(
      'a refused attempt',
      () => deliveries(s.base, s.id),
      (d) => d.length >= 1,
    );
    for (let i = 0; i < 3; i++) {
      const started = Date.now();
      const res = await optOut(s.base, randomPhone(), 'OPT_OUT_ALL');
      expect(res.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(1000);
    }
    const log = await until(
      'retries',
      () => deliveries(s.base, s.id),
      (d) => d.length >= 4,
    );
    for (const d of log) {
      expect(d).toMatchObject({ outcome: 'RETRYING', http_status: null });
      expect(d.error).toContain('ECONNREFUSED');
      expect(d.error).not.toContain(String(port));
    }
  });

  it('a target that never answers times out (CALLBACK_TIMEOUT_MS) without slowing the API', async () => {
    const path = receiver.path();
    receiver.hang(path);
    const s = await subscribed(['OPT_OUT'], { path });
    await optOut(s.base, randomPhone(), 'OPT_OUT_ALL');
    await until(
      'the held request',
      () => receiver.at(path),
      (r) => r.length >= 1,
    );
    // The worker is now waiting on the target: the API is not.
    const started = Date.now();
    const res = await optOut(s.base, randomPhone(), 'OPT_OUT_ALL');
    expect(res.status).toBe(200);
    const check = await api.post(`${s.base}/consents:check`, { identities: [randomPhone()] });
    expect(check.status).toBe(200);
    expect(Date.now() - started).toBeLessThan(1000);

    const log = await until(
      'a timed-out attempt',
      () => deliveries(s.base, s.id),
      (d) => d.length >= 1,
    );
    expect(log[log.length - 1]).toMatchObject({
      outcome: 'RETRYING',
      http_status: null,
      error: 'timeout after 1000 ms',
    });
    expect(log[log.length - 1].duration_ms).toBeGreaterThanOrEqual(900);
  });
});
