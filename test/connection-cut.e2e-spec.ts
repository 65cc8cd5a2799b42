import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TcpProxy } from './tcp-proxy.js';
import { Api, newApp, Res, sleep, startBehindProxy, TestApp, until } from './utils.js';

// Database connections terminated while transactions are open (pg_terminate_backend, a failover): a request whose connection went away between two statements of its transaction
// meets TypeORM's "query runner already released" errors rather than a driver error. Every such
// answer is a 503 with Retry-After, like any other database outage, never a 500.
describe('connections cut under concurrent writes', () => {
  let t: TestApp;
  let proxy: TcpProxy;
  let close: () => Promise<void>;

  beforeAll(async () => {
    ({ t, proxy, close } = await startBehindProxy({
      DATABASE_CONNECT_TIMEOUT_MS: '2000',
      SETTINGS_CACHE_TTL_MS: '0',
    }));
  });
  afterAll(() => close());

  it('answers 200 or 503 with Retry-After, never 500', async () => {
    const api = new Api(t.baseUrl);
    const { projectId, appId, base } = newApp();
    const answers: Res[] = [];
    let writing = true;

    // Writers: single opt-outs / opt-ins and batches (one transaction of many statements each).
    const writer = async (w: number) => {
      for (let i = 0; writing; i++) {
        const identity = String(46700000000 + w * 100_000 + (i % 50));
        const path = `${base}/identities/${identity}/opt-outs/OPT_OUT_ALL`;
        const res =
          i % 3 === 2
            ? await api.post(`/v1/projects/${projectId}/consents`, {
                app_id: appId,
                consent_records: Array.from({ length: 20 }, (_, k) => ({
                  identification: String(46710000000 + w * 1000 + k),
                  consent_type: i % 2 ? 'OPT_OUT_MARKETING' : 'OPT_OUT_ALL',
                })),
              })
            : i % 2
              ? await api.delete(path)
              : await api.put(path, {});
        answers.push(res);
      }
    };
    const writers = Array.from({ length: 8 }, (_, w) => writer(w));

    // Terminates every open connection a few dozen times, as pg_terminate_backend would (new
    // connections are accepted at once); a bounded number of rounds.
    for (let round = 0; round < 40; round++) {
      await sleep(60 + Math.floor(Math.random() * 60));
      proxy.terminate();
    }
    writing = false;
    await Promise.all(writers);

    const failures = answers.filter((r) => r.status !== 200);
    const statuses = new Map<number, number>();
    for (const r of answers) statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    // And the service works again once the terminations stop.
    const path = `${base}/identities/46732001122/opt-outs/OPT_OUT_ALL`;
    await until(
      'a write to succeed again',
      () => api.put(path, {}),
      (r) => r.status === 200,
    );
    process.stdout.write(`[connection-cut] answers by status: ${JSON.stringify([...statuses])}\n`);
    // Some requests ran into a termination (the test exercised what it is about).
    expect(failures.length).toBeGreaterThan(0);
    expect(
      failures
        .filter((r) => r.status !== 503)
        .map((r) => `${r.status} ${JSON.stringify(r.body).slice(0, 200)}`),
    ).toEqual([]);
    for (const r of failures) {
      expect(r.body.error.status).toBe('UNAVAILABLE');
      expect(r.headers.get('retry-after')).toMatch(/^\d+$/);
    }
  });
});
