// Callback delivery order and Retry-After, end to end on the real database. The worker does not
// poll here: each test drives the callback handler (JobRunner.runOnce) itself, so that what the receiver sees
// depends on the claims, not on timing.
//
// - One subscription's callbacks about one identity are delivered strictly in order: a change is
//   not attempted while the one before it is being retried; a given-up (400) or expired head
//   releases the next one. Another identity's callbacks are not held back meanwhile.
// - A manual redelivery takes a fresh place at the end of its identity's queue.
// - A 429 with Retry-After: 2 moves the next attempt at least 2 s after the failure.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { CALLBACK_JOB } from '../src/callbacks/callback-payload.js';
import { JobRunner } from '../src/jobs/job-runner.js';
import { Receiver, Received } from './callback-receiver.js';
import {
  abandonPendingJobs,
  Api,
  newApp,
  randomPhone,
  sleep,
  startTestApp,
  TestApp,
} from './utils.js';

const SECRET = 'callback-signing-secret-0123';
interface JobRow {
  id: string;
  status: 'PENDING' | 'SENT' | 'FAILED';
  attempts: number;
  ordering_key: string | null;
  next_attempt_at: Date;
  last_error: string | null;
  event_id: string;
  sequence: number;
}

interface DeliveryRow {
  job_id: string;
  attempt: number;
  outcome: string;
  http_status: number | null;
  error: string | null;
  attempted_at: Date;
}

/** What a received callback was about: its trigger and identity. */
function about(r: Received): { trigger: string; identity: string; sequence: number } {
  const body = JSON.parse(r.body);
  const n = body.opt_out_notification ?? body.opt_in_notification;
  return {
    trigger: body.opt_out_notification ? 'OPT_OUT' : 'OPT_IN',
    identity: n.identity,
    sequence: n.sequence,
  };
}

/** A matcher for the receiver: the callback of this trigger about this identity. */
const callbackOf = (trigger: 'OPT_OUT' | 'OPT_IN', identity: string) => (body: string) =>
  body.includes(`"${trigger === 'OPT_OUT' ? 'opt_out' : 'opt_in'}_notification"`) &&
  body.includes(`"identity":"${identity}"`);

describe('callback order and Retry-After', () => {
  const receiver = new Receiver();
  let t: TestApp;
  let api: Api;
  let ds: DataSource;
  let worker: { runOnce(): Promise<number> };
  const projects: string[] = [];

  beforeAll(async () => {
    await receiver.start();
    t = await startTestApp({
      OUTBOX_WORKER_ENABLED: 'false',
      CALLBACK_RETRY_BASE_MS: '10',
      CALLBACK_TIMEOUT_MS: '2000',
      SETTINGS_CACHE_TTL_MS: '0',
    });
    api = new Api(t.baseUrl);
    ds = t.app.get(DataSource);
    const runner = t.app.get(JobRunner);
    worker = { runOnce: () => runner.runOnce(CALLBACK_JOB) };
  });

  afterAll(async () => {
    // Test files share the run's database: leave no callback job for other files' workers.
    if (ds) await abandonPendingJobs(ds, projects, 'CALLBACK');
    await t?.close();
    await receiver.stop();
  });

  async function subscribed() {
    const a = newApp();
    projects.push(a.projectId);
    const path = receiver.path();
    const res = await api.post(`${a.base}/callbacks`, {
      target_url: receiver.url + path,
      secret: SECRET,
      triggers: ['OPT_OUT', 'OPT_IN'],
    });
    expect(res.status).toBe(201);
    return { ...a, path, id: res.body.id as string };
  }

  const optOut = async (base: string, identity: string) =>
    expect((await api.put(`${base}/identities/${identity}/opt-outs/OPT_OUT_ALL`)).status).toBe(200);
  const optIn = async (base: string, identity: string) =>
    expect((await api.delete(`${base}/identities/${identity}/opt-outs/OPT_OUT_ALL`)).status).toBe(
      200,
    );

  /** The project's callback jobs, oldest first. */
  async function jobs(projectId: string): Promise<JobRow[]> {
    return ds.query(
      `SELECT id::text AS id, status, attempts, ordering_key, next_attempt_at, last_error,
              payload->>'event_id' AS event_id, (payload->>'sequence')::bigint AS sequence
         FROM outbox_jobs WHERE kind = 'CALLBACK' AND project_id = $1 ORDER BY id`,
      [projectId],
    );
  }

  async function job(id: string): Promise<JobRow> {
    const rows: JobRow[] = await ds.query(
      `SELECT id::text AS id, status, attempts, ordering_key, next_attempt_at, last_error
         FROM outbox_jobs WHERE id = $1`,
      [id],
    );
    return rows[0]!;
  }

  /** The delivery log of one job, oldest attempt first. */
  async function attempts(jobId: string): Promise<DeliveryRow[]> {
    return ds.query(
      `SELECT job_id::text AS job_id, attempt, outcome, http_status, error, attempted_at
         FROM callback_deliveries WHERE job_id = $1 ORDER BY id`,
      [jobId],
    );
  }

  /** Runs the worker until `done`; polls, never asserts on elapsed time. */
  async function drive(what: string, done: () => Promise<boolean>, timeoutMs = 20_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      await worker.runOnce();
      if (await done()) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await sleep(15);
    }
  }

  const sentOrFailed = (id: string) => async () => (await job(id)).status !== 'PENDING';

  it("delivers one identity's changes in order while another identity's are not held back", async () => {
    const s = await subscribed();
    const x = randomPhone();
    const y = randomPhone();
    receiver.failWhen(s.path, callbackOf('OPT_OUT', x), 2, 503);
    await optOut(s.base, x);
    await optIn(s.base, x);
    await optOut(s.base, y);
    const [x1, x2, y1] = await jobs(s.projectId);
    // Keys: per subscription and identity, hashed.
    expect(x1!.ordering_key).toMatch(/^[0-9a-f]{64}$/);
    expect(x2!.ordering_key).toBe(x1!.ordering_key);
    expect(y1!.ordering_key).not.toBe(x1!.ordering_key);
    expect(Number(x1!.sequence)).toBeLessThan(Number(x2!.sequence));

    // y's callback goes out while x's first change is still failing; x's second waits.
    await drive('the callback about y', sentOrFailed(y1!.id));
    expect(await job(y1!.id)).toMatchObject({ status: 'SENT', attempts: 1 });
    expect(await job(x2!.id)).toMatchObject({ status: 'PENDING', attempts: 0 });
    expect(await attempts(x2!.id)).toEqual([]);

    await drive("x's second change", sentOrFailed(x2!.id));
    const got = receiver.at(s.path);
    const forX = got.filter((r) => about(r).identity === x);
    expect(forX.map((r) => [about(r).trigger, r.answered])).toEqual([
      ['OPT_OUT', 503],
      ['OPT_OUT', 503],
      ['OPT_OUT', 200],
      ['OPT_IN', 200],
    ]);
    // y was delivered before x's first change got through.
    const yAt = got.findIndex((r) => about(r).identity === y && r.answered === 200);
    const x1At = got.findIndex((r) => about(r).identity === x && r.answered === 200);
    expect(yAt).toBeGreaterThanOrEqual(0);
    expect(yAt).toBeLessThan(x1At);
    // The delivery log agrees: the second change's only attempt came after the first's success.
    const log1 = await attempts(x1!.id);
    const log2 = await attempts(x2!.id);
    expect(log1.map((d) => [d.attempt, d.outcome])).toEqual([
      [1, 'RETRYING'],
      [2, 'RETRYING'],
      [3, 'SUCCEEDED'],
    ]);
    expect(log2.map((d) => [d.attempt, d.outcome])).toEqual([[1, 'SUCCEEDED']]);
    expect(log2[0]!.attempted_at.getTime()).toBeGreaterThanOrEqual(log1[2]!.attempted_at.getTime());
  });

  it('a head the receiver refuses (400, given up at once) releases the next change', async () => {
    const s = await subscribed();
    const x = randomPhone();
    receiver.failWhen(s.path, callbackOf('OPT_OUT', x), 1, 400);
    await optOut(s.base, x);
    await optIn(s.base, x);
    const [x1, x2] = await jobs(s.projectId);

    await drive("x's second change", sentOrFailed(x2!.id));
    expect(await job(x1!.id)).toMatchObject({ status: 'FAILED', attempts: 1 });
    expect(await job(x2!.id)).toMatchObject({ status: 'SENT', attempts: 1 });
    expect((await attempts(x1!.id)).map((d) => [d.outcome, d.http_status])).toEqual([
      ['GAVE_UP', 400],
    ]);
    expect(receiver.at(s.path).map((r) => [about(r).trigger, r.answered])).toEqual([
      ['OPT_OUT', 400],
      ['OPT_IN', 200],
    ]);
  });

  it('a head past give_up_at is given up by the claim and releases the next change', async () => {
    const s = await subscribed();
    const x = randomPhone();
    receiver.failWhen(s.path, callbackOf('OPT_OUT', x), 1000, 503);
    await optOut(s.base, x);
    await optIn(s.base, x);
    const [x1, x2] = await jobs(s.projectId);
    await drive('a failed first attempt', async () => (await job(x1!.id)).attempts >= 1);

    // Its retry now comes due after give_up_at.
    await ds.query(
      `UPDATE outbox_jobs
          SET give_up_at = now() - interval '1 second', next_attempt_at = now() - interval '1 second'
        WHERE id = $1`,
      [x1!.id],
    );
    const before = (await attempts(x1!.id)).length;
    await drive('the head to be given up', sentOrFailed(x1!.id));
    const head = await job(x1!.id);
    expect(head.status).toBe('FAILED');
    expect(head.last_error).toMatch(/^given up after \d+ attempt\(s\)/);
    const log = await attempts(x1!.id);
    expect(log).toHaveLength(before + 1);
    expect(log[log.length - 1]).toMatchObject({ outcome: 'GAVE_UP', http_status: null });

    await drive("x's second change", sentOrFailed(x2!.id));
    expect(await job(x2!.id)).toMatchObject({ status: 'SENT', attempts: 1 });
    const forX = receiver.at(s.path).map((r) => [about(r).trigger, r.answered]);
    expect(forX[forX.length - 1]).toEqual(['OPT_IN', 200]);
    expect(forX.filter(([trigger]) => trigger === 'OPT_IN')).toHaveLength(1);
  });

  it('a manual redelivery takes its place at the end of the identity queue', async () => {
    const s = await subscribed();
    const x = randomPhone();
    await optOut(s.base, x);
    const [x1] = await jobs(s.projectId);
    await drive("x's first change", sentOrFailed(x1!.id));

    receiver.failWhen(s.path, callbackOf('OPT_IN', x), 2, 503);
    await optIn(s.base, x);
    const [, x2] = await jobs(s.projectId);
    await drive(
      'a failed attempt of the second change',
      async () => (await job(x2!.id)).attempts >= 1,
    );

    const res = await api.post(`${s.base}/callbacks/${s.id}/deliveries/${x1!.event_id}:redeliver`);
    expect(res.status).toBe(202);
    const redelivery = await job(res.body.job_id);
    expect(redelivery.ordering_key).toBe(x1!.ordering_key);

    await drive('the redelivery', sentOrFailed(redelivery.id));
    expect(await job(x2!.id)).toMatchObject({ status: 'SENT', attempts: 3 });
    expect(await job(redelivery.id)).toMatchObject({ status: 'SENT', attempts: 1 });
    expect(receiver.at(s.path).map((r) => [about(r).trigger, r.answered])).toEqual([
      ['OPT_OUT', 200],
      ['OPT_IN', 503],
      ['OPT_IN', 503],
      ['OPT_IN', 200],
      ['OPT_OUT', 200],
    ]);
  });

  it('a 429 with Retry-After: 2 delays the next attempt by at least 2 s', async () => {
    const s = await subscribed();
    const x = randomPhone();
    receiver.failWhen(s.path, callbackOf('OPT_OUT', x), 1, 429, { 'Retry-After': '2' });
    await optOut(s.base, x);
    const [x1] = await jobs(s.projectId);

    await drive('the 429', async () => (await attempts(x1!.id)).length >= 1);
    const [failed] = await attempts(x1!.id);
    expect(failed).toMatchObject({
      outcome: 'RETRYING',
      http_status: 429,
      error: 'HTTP 429 (retryable); Retry-After 2 s',
    });
    // Recorded in the same transaction as the attempt: without Retry-After it would be ~10 ms.
    const pending = await job(x1!.id);
    expect(pending.status).toBe('PENDING');
    expect(
      pending.next_attempt_at.getTime() - failed!.attempted_at.getTime(),
    ).toBeGreaterThanOrEqual(2000);

    await drive('the second attempt', sentOrFailed(x1!.id));
    const log = await attempts(x1!.id);
    expect(log.map((d) => [d.attempt, d.outcome, d.http_status])).toEqual([
      [1, 'RETRYING', 429],
      [2, 'SUCCEEDED', 200],
    ]);
    expect(log[1]!.attempted_at.getTime() - log[0]!.attempted_at.getTime()).toBeGreaterThanOrEqual(
      2000,
    );
  });
});
