import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { ListType } from '../src/consent/domain/consent-types.js';
import { JobQueueRepository } from '../src/jobs/job-queue.repository.js';
import { JobRunner } from '../src/jobs/job-runner.js';
import { SINCH_REPLY, SinchReplyPayload } from '../src/replies/reply-payload.js';
import { ReplyQueue } from '../src/replies/reply-queue.js';
import { FakeSinch, RecordedSend, sinchError, ulidLike } from './fake-sinch.js';
import { Api, newApp, sleep, startBehindProxy, startTestApp, TestApp } from './utils.js';

interface JobRow {
  id: string;
  status: 'PENDING' | 'SENT' | 'FAILED' | 'IN_DOUBT';
  attempts: number;
  last_error: string | null;
  finished_at: Date | null;
  next_attempt_at: Date;
  give_up_at: Date;
}

function replyPayload(over: Partial<SinchReplyPayload> = {}): SinchReplyPayload {
  return {
    channel: 'SMS',
    identity: `4673${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`,
    text: `You are unsubscribed (${randomBytes(4).toString('hex')}). Reply START to opt back in.`,
    inbound_message_id: ulidLike(),
    action: 'OPT_OUT',
    language: 'en',
    ...over,
  };
}

/** Drives an app's reply handler: one claim into its free slots, resolved once its jobs are done. */
interface ReplyWorker {
  runOnce(): Promise<number>;
}
const replyWorker = (on: TestApp): ReplyWorker => ({
  runOnce: () => on.app.get(JobRunner).runOnce(SINCH_REPLY),
});

describe('reply jobs', () => {
  const fake = new FakeSinch();
  let t: TestApp;
  let worker: ReplyWorker;
  let repo: JobQueueRepository;
  let replies: ReplyQueue;
  let ds: DataSource;

  /** The environment of an app that sends through the fake Sinch. */
  const sinchEnv = (): Record<string, string> => ({
    SINCH_PROJECT_ID: 'proj',
    SINCH_KEY_ID: fake.expectedKeyId,
    SINCH_KEY_SECRET: fake.expectedKeySecret,
    SINCH_CONVERSATION_URL: fake.url,
    SINCH_AUTH_URL: fake.url,
    REPLY_RETRY_BASE_MS: '50',
  });

  beforeAll(async () => {
    await fake.start();
    t = await startTestApp({ ...sinchEnv(), OUTBOX_WORKER_ENABLED: 'false' });
    worker = replyWorker(t);
    repo = t.app.get(JobQueueRepository);
    replies = t.app.get(ReplyQueue);
    ds = t.app.get(DataSource);
  });
  afterAll(async () => {
    await t?.close();
    await fake.stop();
  });

  /** Enqueues in a committed transaction of `on` (default: the main test app). */
  async function enqueue(
    app: { projectId: string; appId: string },
    payload: SinchReplyPayload,
    on: TestApp = t,
  ): Promise<string> {
    const r = on.app.get(ReplyQueue);
    return on.app.get(DataSource).transaction((tx) => r.enqueue(tx, { ...app, payload }));
  }

  async function job(id: string): Promise<JobRow | undefined> {
    const rows: JobRow[] = await ds.query(
      `SELECT id::text AS id, status, attempts, last_error, finished_at, next_attempt_at, give_up_at
         FROM outbox_jobs WHERE id = $1`,
      [id],
    );
    return rows[0];
  }

  /** Drives the worker until job `id` has `status`; returns its row. */
  function jobReaching(id: string, status: string, what: string): Promise<JobRow> {
    return waitFor(
      what,
      async () => {
        const r = await job(id);
        return r?.status === status && r;
      },
      10_000,
      worker,
    );
  }

  async function waitFor<T>(
    what: string,
    probe: () => Promise<T | undefined | false>,
    timeoutMs = 10_000,
    drive?: ReplyWorker,
  ): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (drive) await drive.runOnce();
      const v = await probe();
      if (v) return v;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(20);
    }
  }

  /** The audit records of one reply job (REPLY_SENT / REPLY_FAILED). */
  async function auditOf(id: string): Promise<any[]> {
    return ds.query(
      `SELECT kind, identity, list_type, origin, operation, outcome, actor, evidence
         FROM consent_audit WHERE evidence->>'reply_job_id' = $1 ORDER BY id`,
      [id],
    );
  }

  const sendsFor = (id: string): RecordedSend[] =>
    fake.sends().filter((s) => s.correlation_id === id);
  const acceptedFor = (id: string) =>
    fake.accepted().filter((r) => (r.body as RecordedSend).correlation_id === id);

  it('sends a queued reply once, in the Conversation API wire format', async () => {
    const app = newApp();
    const payload = replyPayload({ channel: 'WHATSAPP' });
    const id = await enqueue(app, payload);
    expect(id).toMatch(/^\d+$/);

    expect(await worker.runOnce()).toBeGreaterThanOrEqual(1);
    const row = await job(id);
    expect(row).toMatchObject({ status: 'SENT', attempts: 1, last_error: null });
    expect(row!.finished_at).toBeInstanceOf(Date);

    const sends = sendsFor(id);
    expect(sends).toHaveLength(1);
    expect(sends[0]).toMatchObject({
      app_id: app.appId,
      recipient: {
        identified_by: {
          channel_identities: [{ channel: 'WHATSAPP', identity: payload.identity }],
        },
      },
      message: { text_message: { text: payload.text } },
      channel_priority_order: ['WHATSAPP'],
      correlation_id: id,
    });
    expect(acceptedFor(id)).toHaveLength(1);

    // Nothing more to do for it.
    await worker.runOnce();
    expect(sendsFor(id)).toHaveLength(1);

    // One audit record, under the identity, without the text.
    const audit = await auditOf(id);
    expect(audit).toEqual([
      {
        kind: 'REPLY_SENT',
        identity: payload.identity,
        list_type: null,
        origin: null,
        operation: null,
        outcome: null,
        actor: 'consent-gate',
        evidence: {
          reply_job_id: id,
          inbound_message_id: payload.inbound_message_id,
          action: 'OPT_OUT',
          language: 'en',
          channel: 'WHATSAPP',
          attempts: 1,
          sinch_message_id: expect.any(String),
        },
      },
    ]);
    expect(JSON.stringify(audit)).not.toContain(payload.text);
  });

  it('retries transient failures with backoff: two 503s, delivered on the 3rd attempt', async () => {
    const app = newApp();
    const payload = replyPayload();
    // For this recipient only: a leftover job of another file cannot take the failures.
    fake.failFor(payload.identity, 2, 503);
    const id = await enqueue(app, payload);

    expect(await worker.runOnce()).toBeGreaterThanOrEqual(1);
    const afterFirst = await job(id);
    expect(afterFirst).toMatchObject({ status: 'PENDING', attempts: 1 });
    expect(afterFirst!.last_error).toContain('HTTP 503');
    // The retry is due ~REPLY_RETRY_BASE_MS (50 ms ± 10 %) after the failure, not at once
    // (checked on the recorded times, not by racing the clock).
    const failedAt = fake.requests.filter(
      (r) => (r.body as RecordedSend | undefined)?.correlation_id === id,
    )[0]!.at;
    expect(afterFirst!.next_attempt_at.getTime()).toBeGreaterThanOrEqual(failedAt + 40);

    const sent = await jobReaching(id, 'SENT', 'the job to be SENT');
    expect(sent.attempts).toBe(3);
    expect(sendsFor(id)).toHaveLength(3);
    expect(acceptedFor(id)).toHaveLength(1);
    expect(sent.last_error).not.toContain(payload.text);
    // The failed attempts leave no audit record: one for the outcome.
    expect((await auditOf(id)).map((r) => [r.kind, r.evidence.attempts])).toEqual([
      ['REPLY_SENT', 3],
    ]);
  });

  it("a non-retryable 400 fails the job at once, with Sinch's message and no text or identity", async () => {
    const app = newApp();
    const payload = replyPayload();
    fake.failNext(
      1,
      400,
      sinchError(
        400,
        `Cannot send "${payload.text}" to ${payload.identity}: channel not configured for this app`,
      ),
    );
    const id = await enqueue(app, payload);
    await worker.runOnce();

    const row = await job(id);
    expect(row).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(row!.finished_at).toBeInstanceOf(Date);
    expect(row!.last_error).toContain('HTTP 400 INVALID_ARGUMENT');
    expect(row!.last_error).toContain('channel not configured for this app');
    expect(row!.last_error).not.toContain(payload.text);
    expect(row!.last_error).not.toContain(payload.identity);

    await sleep(100);
    await worker.runOnce();
    expect(sendsFor(id)).toHaveLength(1);
    const audit = await auditOf(id);
    expect(audit).toHaveLength(1);
    expect(audit[0]).toMatchObject({ kind: 'REPLY_FAILED', identity: payload.identity });
    expect(audit[0].evidence.last_error).toBe(row!.last_error);
    expect(JSON.stringify(audit)).not.toContain(payload.text);
  });

  it('a reply past give_up_at is failed by the claim, with one REPLY_FAILED record', async () => {
    const app = newApp();
    const payload = replyPayload({
      identity: '+46 73-200 99 88',
      normalized_identity: '46732009988',
      list_type: ListType.OPT_OUT_MARKETING,
    });
    const id = await enqueue(app, payload);
    await ds.query(
      `UPDATE outbox_jobs SET give_up_at = now() - interval '1 second' WHERE id = $1`,
      [id],
    );
    await worker.runOnce();
    const row = await job(id);
    expect(row).toMatchObject({ status: 'FAILED', attempts: 0 });
    expect(sendsFor(id)).toHaveLength(0);
    await worker.runOnce();

    const audit = await auditOf(id);
    expect(audit).toEqual([
      {
        kind: 'REPLY_FAILED',
        identity: '46732009988',
        list_type: 'OPT_OUT_MARKETING',
        origin: null,
        operation: null,
        outcome: null,
        actor: 'consent-gate',
        evidence: {
          reply_job_id: id,
          inbound_message_id: payload.inbound_message_id,
          action: 'OPT_OUT',
          language: 'en',
          channel: 'SMS',
          attempts: 0,
          last_error: row!.last_error,
        },
      },
    ]);
    const native = await new Api(t.baseUrl).get(
      `/v1/projects/${app.projectId}/apps/${app.appId}/identities/46732009988/audit-records`,
    );
    expect(native.body.audit_records.map((r: any) => r.kind)).toEqual(['REPLY_FAILED']);
  });

  it('only reply jobs get audit records; an invalid payload is audited when it names an identity', async () => {
    const app = newApp();
    const other = await ds.transaction((tx) =>
      repo.enqueue(tx, {
        kind: 'AUDIT_TEST_KIND',
        projectId: app.projectId,
        appId: app.appId,
        payload: { identity: '46700000001', channel: 'SMS' },
        giveUpAfterS: 60,
      }),
    );
    await ds.query(
      `UPDATE outbox_jobs SET give_up_at = now() - interval '1 second' WHERE id = $1`,
      [other],
    );
    const claimed = await repo.claimDue(
      { kind: 'AUDIT_TEST_KIND', leaseMs: 60_000, giveUpSetting: 'TEST' },
      10,
    );
    expect(claimed.map((j) => [j.id, j.expired])).toEqual([[other, true]]);
    expect(await auditOf(other)).toEqual([]);

    const insert = (payload: unknown) =>
      ds.transaction((tx) =>
        repo.enqueue(tx, {
          kind: 'SINCH_REPLY',
          projectId: app.projectId,
          appId: app.appId,
          payload,
          giveUpAfterS: 60,
        }),
      );
    const named = await insert({ identity: '46700000002', channel: 'SMS', action: 'HELP' });
    const anonymous = await insert({ channel: 'SMS' });
    await worker.runOnce();
    expect(await job(named)).toMatchObject({ status: 'FAILED' });
    expect(await job(anonymous)).toMatchObject({ status: 'FAILED' });
    expect(await auditOf(named)).toEqual([
      expect.objectContaining({
        kind: 'REPLY_FAILED',
        identity: '46700000002',
        evidence: expect.objectContaining({
          action: 'HELP',
          last_error: 'invalid reply job payload',
        }),
      }),
    ]);
    expect(await auditOf(anonymous)).toEqual([]);
  });

  it('an interrupted opt-out confirmation ends IN_DOUBT, unsent; an interrupted HELP is sent again', async () => {
    const app = newApp();
    const optOut = await enqueue(app, replyPayload({ action: 'OPT_OUT' }));
    const help = await enqueue(app, replyPayload({ action: 'HELP' }));
    // A worker claims both and dies before recording an outcome: the attempts stay in flight.
    const claimed = await repo.claimDue(
      { kind: SINCH_REPLY, leaseMs: 60_000, giveUpSetting: 'REPLY_GIVE_UP_AFTER_S' },
      100,
    );
    expect(claimed.map((j) => j.id)).toEqual(expect.arrayContaining([optOut, help]));
    // Their leases end.
    await ds.query(`UPDATE outbox_jobs SET next_attempt_at = now() WHERE id = ANY($1::bigint[])`, [
      [optOut, help],
    ]);
    await jobReaching(help, 'SENT', 'the HELP reply to be sent again');
    const inDoubt = await jobReaching(optOut, 'IN_DOUBT', 'the opt-out confirmation in doubt');
    expect(inDoubt).toMatchObject({ attempts: 1 });
    expect(inDoubt.last_error).toContain('attempt 1 was interrupted');
    expect(sendsFor(optOut)).toHaveLength(0);
    expect(sendsFor(help)).toHaveLength(1);
    expect((await auditOf(optOut)).map((r) => [r.kind, r.evidence.attempts])).toEqual([
      ['REPLY_IN_DOUBT', 1],
    ]);
    expect((await auditOf(help)).map((r) => [r.kind, r.evidence.attempts])).toEqual([
      ['REPLY_SENT', 2],
    ]);
    // Visible in reply-jobs, with its own status filter; never claimed again.
    await worker.runOnce();
    const listed = await new Api(t.baseUrl).get(
      `/v1/projects/${app.projectId}/apps/${app.appId}/reply-jobs?status=IN_DOUBT`,
    );
    expect(listed.status).toBe(200);
    expect(listed.body.reply_jobs.map((j: any) => [j.id, j.status])).toEqual([
      [optOut, 'IN_DOUBT'],
    ]);
    expect(sendsFor(optOut)).toHaveLength(0);
  });

  it('a job enqueued in a transaction that rolls back is never sent', async () => {
    const app = newApp();
    let id = '';
    await expect(
      ds.transaction(async (tx) => {
        id = await replies.enqueue(tx, { ...app, payload: replyPayload() });
        throw new Error('the consent change failed');
      }),
    ).rejects.toThrow('the consent change failed');
    expect(id).toMatch(/^\d+$/);

    await worker.runOnce();
    expect(await job(id)).toBeUndefined();
    expect(sendsFor(id)).toHaveLength(0);
  });

  it('without Sinch credentials a reply waits visibly, then is given up after give_up_at', async () => {
    const noCreds = await startTestApp({
      OUTBOX_WORKER_ENABLED: 'false',
      REPLY_GIVE_UP_AFTER_S: '1',
      REPLY_RETRY_BASE_MS: '50',
      DATABASE_POOL_SIZE: '3',
    });
    try {
      const w = replyWorker(noCreds);
      const app = newApp();
      const payload = replyPayload();
      const sendsBefore = fake.sends().length;
      const id = await enqueue(app, payload, noCreds);
      const created = await job(id);
      const window = created!.give_up_at.getTime() - Date.now();
      expect(window).toBeGreaterThan(0);
      expect(window).toBeLessThanOrEqual(1500);

      await w.runOnce();
      expect(await job(id)).toMatchObject({
        status: 'PENDING',
        attempts: 1,
        last_error: 'Sinch credentials are not configured',
      });
      const listed = await new Api(noCreds.baseUrl).get(
        `/v1/projects/${app.projectId}/apps/${app.appId}/reply-jobs`,
      );
      expect(listed.body.reply_jobs[0]).toMatchObject({
        id,
        status: 'PENDING',
        last_error: 'Sinch credentials are not configured',
      });

      const failed = await waitFor(
        'the job to be given up',
        async () => {
          const r = await job(id);
          return r?.status === 'FAILED' && r;
        },
        10_000,
        w,
      );
      expect(failed.attempts).toBeGreaterThan(1);
      expect(failed.last_error).toContain('Sinch credentials are not configured');
      expect(failed.finished_at!.getTime()).toBeGreaterThanOrEqual(failed.give_up_at.getTime());
      expect(fake.sends().length).toBe(sendsBefore);
      // Given up by the claim or by the last retry: either way one record.
      expect((await auditOf(id)).map((r) => r.kind)).toEqual(['REPLY_FAILED']);
    } finally {
      await noCreds.close();
    }
  });

  it('two instances on the same database send each of 20 jobs exactly once', async () => {
    const env = {
      ...sinchEnv(),
      OUTBOX_WORKER_ENABLED: 'false',
      OUTBOX_BATCH_SIZE: '3',
      DATABASE_POOL_SIZE: '3',
    };
    const [b, c] = await Promise.all([startTestApp(env), startTestApp(env)]);
    try {
      const app = newApp();
      const ids = await ds.transaction(async (tx) => {
        const out: string[] = [];
        for (let i = 0; i < 20; i++) {
          out.push(await replies.enqueue(tx, { ...app, payload: replyPayload() }));
        }
        return out;
      });
      const workers = [replyWorker(b), replyWorker(c)];
      const handled = [0, 0];
      for (let round = 0; round < 50; round++) {
        const counts = await Promise.all(workers.map((w) => w.runOnce()));
        counts.forEach((n, i) => (handled[i]! += n));
        if (counts.every((n) => n === 0)) break;
      }
      expect(handled[0]! + handled[1]!).toBe(20);
      // Both instances took part.
      expect(handled[0]).toBeGreaterThan(0);
      expect(handled[1]).toBeGreaterThan(0);
      for (const id of ids) {
        expect(sendsFor(id)).toHaveLength(1);
        expect(await job(id)).toMatchObject({ status: 'SENT', attempts: 1 });
      }
    } finally {
      await Promise.all([b.close(), c.close()]);
    }
  });

  it('the poller sends on its own, survives a database outage, and recovers', async () => {
    const { proxy, close } = await startBehindProxy({
      ...sinchEnv(),
      DATABASE_CONNECT_TIMEOUT_MS: '500',
      DATABASE_POOL_SIZE: '3',
      OUTBOX_WORKER_ENABLED: 'true',
      OUTBOX_POLL_INTERVAL_MS: '20',
    });
    try {
      const app = newApp();
      const first = await enqueue(app, replyPayload());
      await waitFor('the poller to send', async () => (await job(first))?.status === 'SENT');

      proxy.cut();
      await sleep(300);
      const second = await enqueue(app, replyPayload());
      await sleep(500);
      expect(await job(second)).toMatchObject({ status: 'PENDING', attempts: 0 });

      proxy.restore();
      await waitFor('the poller to recover', async () => (await job(second))?.status === 'SENT');
      expect(sendsFor(second)).toHaveLength(1);
    } finally {
      await close();
    }
  });

  it("one recipient's replies go out in order, across retries; another recipient's do not wait", async () => {
    const app = newApp();
    const a = replyPayload({ action: 'OPT_OUT' });
    fake.failFor(a.identity, 2, 503);
    const a1 = await enqueue(app, a);
    // The same recipient, spelt another way: one ordering key.
    const a2 = await enqueue(app, replyPayload({ identity: `+${a.identity}`, action: 'HELP' }));
    const b1 = await enqueue(app, replyPayload());
    const keys: { id: string; ordering_key: string }[] = await ds.query(
      `SELECT id::text AS id, ordering_key FROM outbox_jobs WHERE id = ANY($1::bigint[]) ORDER BY outbox_jobs.id`,
      [[a1, a2, b1]],
    );
    expect(keys[0]!.ordering_key).toMatch(/^[0-9a-f]{64}$/);
    expect(keys[1]!.ordering_key).toBe(keys[0]!.ordering_key);
    expect(keys[2]!.ordering_key).not.toBe(keys[0]!.ordering_key);

    // b's reply goes out while a's first one is failing; a's second one waits.
    await waitFor(
      "b's reply to be SENT",
      async () => (await job(b1))?.status === 'SENT',
      10_000,
      worker,
    );
    expect(await job(a2)).toMatchObject({ status: 'PENDING', attempts: 0 });
    expect(sendsFor(a2)).toHaveLength(0);

    await waitFor(
      "a's second reply to be SENT",
      async () => (await job(a2))?.status === 'SENT',
      10_000,
      worker,
    );
    expect(await job(a1)).toMatchObject({ status: 'SENT', attempts: 3 });
    expect(await job(a2)).toMatchObject({ status: 'SENT', attempts: 1 });
    // In the order Sinch received them: a1 three times (503, 503, 200), then a2; b1 before a1's
    // success.
    const order = fake
      .sends()
      .map((s) => s.correlation_id)
      .filter((id) => id === a1 || id === a2 || id === b1);
    expect(order.filter((id) => id !== b1)).toEqual([a1, a1, a1, a2]);
    expect(order.indexOf(b1)).toBeLessThan(order.lastIndexOf(a1));
    const accepted = fake.accepted().map((r) => (r.body as RecordedSend).correlation_id);
    expect(accepted.indexOf(a1)).toBeLessThan(accepted.indexOf(a2));
  });

  it('a reply that fails for good (400) releases the next reply to that recipient', async () => {
    const app = newApp();
    const a = replyPayload();
    fake.failFor(a.identity, 1, 400);
    const a1 = await enqueue(app, a);
    const a2 = await enqueue(app, replyPayload({ identity: a.identity, action: 'HELP' }));
    await waitFor(
      "a's second reply to be SENT",
      async () => (await job(a2))?.status === 'SENT',
      10_000,
      worker,
    );
    expect(await job(a1)).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(sendsFor(a1)).toHaveLength(1);
    expect(sendsFor(a2)).toHaveLength(1);
  });

  it("a 429 with Retry-After: 2 moves the reply's next attempt at least 2 s after the failure", async () => {
    const app = newApp();
    const a = replyPayload();
    fake.failFor(a.identity, 1, 429, undefined, { 'Retry-After': '2' });
    const id = await enqueue(app, a);
    const dbNow = async (): Promise<number> => {
      const rows: { now: Date }[] = await ds.query('SELECT now() AS now');
      return rows[0]!.now.getTime();
    };
    const before = await dbNow();
    await waitFor('the 429', async () => (await job(id))!.attempts >= 1, 10_000, worker);
    const after = await dbNow();
    const failed = (await job(id))!;
    expect(failed.status).toBe('PENDING');
    expect(failed.last_error).toContain('HTTP 429');
    expect(failed.last_error).toContain('Retry-After 2 s');
    // The failure was recorded between `before` and `after`, with the retry 2 s after it (the
    // backoff alone would be ~50 ms).
    expect(failed.next_attempt_at.getTime()).toBeGreaterThanOrEqual(before + 2000);
    expect(failed.next_attempt_at.getTime()).toBeLessThanOrEqual(after + 2000);

    const sent = await jobReaching(id, 'SENT', 'the reply to be SENT');
    expect(sent.attempts).toBe(2);
    expect(sendsFor(id)).toHaveLength(2);
  });

  it('lists reply jobs newest first, with statuses and never the text', async () => {
    const api = new Api(t.baseUrl);
    const app = newApp();
    const base = `/v1/projects/${app.projectId}/apps/${app.appId}/reply-jobs`;
    const payloads = [
      replyPayload({ action: 'OPT_OUT', language: 'en' }),
      replyPayload({ action: 'OPT_IN', language: 'es' }),
      replyPayload({ action: 'HELP', language: 'pt' }),
    ];
    const sent = await enqueue(app, payloads[0]!);
    await worker.runOnce();
    fake.failNext(1, 400);
    const failed = await enqueue(app, payloads[1]!);
    await worker.runOnce();
    const pending = await enqueue(app, payloads[2]!);
    // Not due for an hour: stays PENDING.
    await ds.query(
      `UPDATE outbox_jobs SET next_attempt_at = now() + interval '1 hour' WHERE id = $1`,
      [pending],
    );

    const all = await api.get(base);
    expect(all.status).toBe(200);
    expect(all.body.next_page_token).toBe('');
    expect(all.body.reply_jobs.map((j: any) => [j.id, j.status])).toEqual([
      [pending, 'PENDING'],
      [failed, 'FAILED'],
      [sent, 'SENT'],
    ]);
    expect(all.body.reply_jobs[0]).toEqual({
      id: pending,
      status: 'PENDING',
      attempts: 0,
      action: 'HELP',
      language: 'pt',
      channel: 'SMS',
      identity: payloads[2]!.identity,
      inbound_message_id: payloads[2]!.inbound_message_id,
      last_error: null,
      created_at: expect.any(String),
      next_attempt_at: expect.any(String),
      finished_at: null,
    });
    expect(all.body.reply_jobs[1]).toMatchObject({
      action: 'OPT_IN',
      attempts: 1,
      next_attempt_at: null,
      last_error: expect.stringContaining('HTTP 400'),
    });
    expect(all.body.reply_jobs[2]).toMatchObject({ action: 'OPT_OUT', attempts: 1 });
    expect(all.body.reply_jobs[2].finished_at).toEqual(expect.any(String));
    const raw = JSON.stringify(all.body);
    for (const p of payloads) expect(raw).not.toContain(p.text);
    expect(raw).not.toContain('"text"');

    const onlyFailed = await api.get(`${base}?status=FAILED`);
    expect(onlyFailed.body.reply_jobs.map((j: any) => j.id)).toEqual([failed]);

    const seen: string[] = [];
    let token = '';
    for (let i = 0; i < 5; i++) {
      const page = await api.get(
        `${base}?page_size=1${token ? `&page_token=${encodeURIComponent(token)}` : ''}`,
      );
      expect(page.status).toBe(200);
      seen.push(...page.body.reply_jobs.map((j: any) => j.id));
      token = page.body.next_page_token;
      if (!token) break;
    }
    expect(seen).toEqual([pending, failed, sent]);

    const badStatus = await api.get(`${base}?status=DELIVERED`);
    expect(badStatus.status).toBe(400);
    expect(badStatus.body.error.status).toBe('INVALID_ARGUMENT');
    expect(badStatus.body.error.details[0].field_violations[0].field).toBe('status');
    expect((await api.get(`${base}?page_token=not-a-token`)).status).toBe(400);
    expect((await api.get(`${base}?page_size=0`)).status).toBe(400);
    expect((await api.as(null).get(base)).status).toBe(401);
  });

  it('sends a FAILED reply again on request, and nothing that could duplicate or mislead', async () => {
    const api = new Api(t.baseUrl);
    const app = newApp();
    const base = `/v1/projects/${app.projectId}/apps/${app.appId}/reply-jobs`;
    const payload = replyPayload({ list_type: ListType.OPT_OUT_ALL });
    // The identity is opted out (the confirmation holds), and its first send fails for good.
    await api.put(
      `/v1/projects/${app.projectId}/apps/${app.appId}/identities/${payload.identity}/opt-outs/OPT_OUT_ALL`,
    );
    fake.failNext(1, 400, sinchError(400, 'channel not configured for this app'));
    const failed = await enqueue(app, { ...payload, normalized_identity: payload.identity });
    await jobReaching(failed, 'FAILED', 'the first send to fail');

    // Not for a read or write key; not a job of another app; not a malformed id.
    const writer = (await api.post('/v1/api-keys', { name: 'replies-writer', scopes: ['write'] }))
      .body;
    expect((await api.as(writer.key_secret).post(`${base}/${failed}:redeliver`)).status).toBe(403);
    const other = newApp();
    expect(
      (
        await api.post(
          `/v1/projects/${other.projectId}/apps/${other.appId}/reply-jobs/${failed}:redeliver`,
        )
      ).status,
    ).toBe(404);
    expect((await api.post(`${base}/0:redeliver`)).status).toBe(400);
    expect((await api.post(`${base}/999999999:redeliver`)).status).toBe(404);

    const again = await api.post(`${base}/${failed}:redeliver`);
    expect(again.status).toBe(202);
    expect(again.body.redelivery_of).toBe(failed);
    const sent = await jobReaching(again.body.job_id, 'SENT', 'the redelivery to be sent');
    expect(sent.status).toBe('SENT');
    expect(sendsFor(again.body.job_id)).toHaveLength(1);
    expect(sendsFor(again.body.job_id)[0]!.message?.text_message?.text).toBe(payload.text);
    expect((await auditOf(again.body.job_id)).map((r) => r.kind)).toEqual(['REPLY_SENT']);

    // Sent again already (by a job that did not fail): 409. The SENT job itself: 409.
    const twice = await api.post(`${base}/${failed}:redeliver`);
    expect(twice.status).toBe(409);
    expect(twice.body.error.message).toContain(`already sent again as job ${again.body.job_id}`);
    const sentAgain = await api.post(`${base}/${again.body.job_id}:redeliver`);
    expect(sentAgain.status).toBe(409);
    expect(sentAgain.body.error.message).toContain('would duplicate the confirmation');

    // A FAILED opt-out confirmation whose identity opted back in since: 409, nothing queued.
    fake.failNext(1, 400, sinchError(400, 'channel not configured for this app'));
    const stale = await enqueue(app, { ...payload, normalized_identity: payload.identity });
    await jobReaching(stale, 'FAILED', 'the second send to fail');
    await api.delete(
      `/v1/projects/${app.projectId}/apps/${app.appId}/identities/${payload.identity}/opt-outs/OPT_OUT_ALL`,
    );
    const before = (await api.get(base)).body.reply_jobs.length;
    const misleading = await api.post(`${base}/${stale}:redeliver`);
    expect(misleading.status).toBe(409);
    expect(misleading.body.error.message).toContain('no longer holds');
    expect((await api.get(base)).body.reply_jobs.length).toBe(before);
  });
});
