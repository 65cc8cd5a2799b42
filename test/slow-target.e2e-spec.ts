// One slow or dead target holds only its own jobs: with the workers running on their own timers,
// a callback target (or a Sinch recipient) that never answers does not delay the deliveries to
// the others (the workers keep OUTBOX_BATCH_SIZE jobs in flight and claim into freed slots,
// rather than waiting for a whole batch). The dead requests are held far longer than the tests
// take (timeouts of 20 s), so the assertions are about order, not wall-clock numbers.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { SinchReplyPayload } from '../src/replies/reply-payload.js';
import { ReplyQueue } from '../src/replies/reply-queue.js';
import { Receiver } from './callback-receiver.js';
import { FakeSinch, RecordedSend, ulidLike } from './fake-sinch.js';
import {
  abandonPendingJobs,
  Api,
  newApp,
  randomPhone,
  startTestApp,
  TestApp,
  until,
} from './utils.js';

/** Longer than the tests: a held request stays unanswered until the fakes stop. */
const DEAD_TIMEOUT_MS = '20000';

describe('a slow or dead target holds only its own jobs', () => {
  const receiver = new Receiver();
  const fake = new FakeSinch();
  let t: TestApp;
  let api: Api;
  let ds: DataSource;
  const projects: string[] = [];
  const subscriptions: { base: string; id: string }[] = [];

  beforeAll(async () => {
    await Promise.all([receiver.start(), fake.start()]);
    t = await startTestApp({
      OUTBOX_WORKER_ENABLED: 'true',
      OUTBOX_POLL_INTERVAL_MS: '50',
      CALLBACK_TIMEOUT_MS: DEAD_TIMEOUT_MS,
      SINCH_TIMEOUT_MS: DEAD_TIMEOUT_MS,
      SETTINGS_CACHE_TTL_MS: '0',
      SINCH_PROJECT_ID: 'proj',
      SINCH_KEY_ID: fake.expectedKeyId,
      SINCH_KEY_SECRET: fake.expectedKeySecret,
      SINCH_CONVERSATION_URL: fake.url,
      SINCH_AUTH_URL: fake.url,
    });
    api = new Api(t.baseUrl);
    ds = t.app.get(DataSource);
  });

  afterAll(async () => {
    // Release the held requests first (they fail at once), so that shutdown does not wait for
    // the timeouts; then leave no job of ours for other files' workers.
    await Promise.all([receiver.stop(), fake.stop()]);
    if (t) {
      for (const s of subscriptions) await api.delete(`${s.base}/callbacks/${s.id}`);
      await abandonPendingJobs(ds, projects);
      await t.close();
    }
  });

  async function subscribe(base: string, path: string): Promise<string> {
    const res = await api.post(`${base}/callbacks`, {
      target_url: receiver.url + path,
      secret: 'callback-signing-secret-0123',
      triggers: ['OPT_OUT'],
    });
    expect(res.status).toBe(201);
    subscriptions.push({ base, id: res.body.id });
    return res.body.id as string;
  }

  async function deliveries(base: string, id: string): Promise<unknown[]> {
    const res = await api.get(`${base}/callbacks/${id}/deliveries`);
    expect(res.status).toBe(200);
    return res.body.deliveries;
  }

  it("a callback target that never answers does not delay another subscription's callbacks", async () => {
    const a = newApp();
    projects.push(a.projectId);
    const deadPath = receiver.path();
    const healthyPath = receiver.path();
    receiver.hang(deadPath);
    const dead = await subscribe(a.base, deadPath);
    await subscribe(a.base, healthyPath);
    const about = (identity: string) => (r: { body: string }) => r.body.includes(identity);

    // The first change: its callback to the dead target is held, the healthy one answered.
    const first = randomPhone();
    expect((await api.put(`${a.base}/identities/${first}/opt-outs/OPT_OUT_ALL`)).status).toBe(200);
    await until(
      'both first callbacks',
      () => [receiver.at(deadPath), receiver.at(healthyPath)],
      ([d, h]) => d!.some(about(first)) && h!.some(about(first)),
    );

    // A later change, while the worker still waits on the dead target.
    const second = randomPhone();
    expect((await api.put(`${a.base}/identities/${second}/opt-outs/OPT_OUT_ALL`)).status).toBe(200);
    await until(
      'the second callback at the healthy target',
      () => receiver.at(healthyPath),
      (h) => h.some(about(second)),
    );
    // It arrived while the dead target's first request was still pending: no attempt of the dead
    // subscription has ended (a timeout would have been logged as RETRYING).
    expect(await deliveries(a.base, dead)).toEqual([]);
    const firstDead = receiver.received.findIndex((r) => r.path === deadPath && about(first)(r));
    const secondOk = receiver.received.findIndex((r) => r.path === healthyPath && about(second)(r));
    expect(firstDead).toBeGreaterThanOrEqual(0);
    expect(secondOk).toBeGreaterThan(firstDead);

    // The dead target holds only its own slots: the second change's callback to it (another
    // identity, so not ordered behind the first) is attempted too, still nothing ended there.
    await until(
      'the second callback at the dead target',
      () => receiver.at(deadPath),
      (d) => d.some(about(second)),
    );
    expect(await deliveries(a.base, dead)).toEqual([]);
  });

  it("a Sinch send that never answers does not delay other recipients' replies", async () => {
    const a = newApp();
    projects.push(a.projectId);
    const repo = t.app.get(ReplyQueue);
    const enqueue = (identity: string) => {
      const payload: SinchReplyPayload = {
        channel: 'SMS',
        identity,
        text: `You are unsubscribed (${randomBytes(4).toString('hex')}).`,
        inbound_message_id: ulidLike(),
        action: 'OPT_OUT',
        language: 'en',
      };
      return ds.transaction((tx) => repo.enqueue(tx, { ...a, payload }));
    };
    const requestTo = (identity: string) =>
      fake.requests.find(
        (r) =>
          (r.body as RecordedSend | undefined)?.recipient?.identified_by?.channel_identities?.[0]
            ?.identity === identity,
      );

    const stalled = randomPhone();
    fake.stallFor(stalled, 1);
    const stalledJob = await enqueue(stalled);
    await until(
      'the stalled send',
      () => requestTo(stalled),
      (r) => r !== undefined,
    );

    const other = randomPhone();
    const otherJob = await enqueue(other);
    await until(
      'the other reply accepted',
      () => requestTo(other),
      (r) => r?.status === 200,
    );
    // Meanwhile the stalled send is still unanswered and its job still in its first attempt.
    expect(requestTo(stalled)!.status).toBeUndefined();
    const rows: { id: string; status: string; attempts: number; last_error: string | null }[] =
      await ds.query(
        `SELECT id::text AS id, status, attempts, last_error FROM outbox_jobs
          WHERE id = ANY($1::bigint[]) ORDER BY id`,
        [[stalledJob, otherJob]],
      );
    const byId = new Map(rows.map((r) => [r.id, r]));
    expect(byId.get(stalledJob)).toMatchObject({
      status: 'PENDING',
      attempts: 1,
      last_error: null,
    });
    await until(
      'the other job SENT',
      async () =>
        (await ds.query(`SELECT status FROM outbox_jobs WHERE id = $1`, [otherJob]))[0]?.status,
      (s) => s === 'SENT',
    );
  });
});
