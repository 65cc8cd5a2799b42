import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TcpProxy } from './tcp-proxy.js';
import { Api, startBehindProxy, TestApp } from './utils.js';

describe('health (terminus)', () => {
  let t: TestApp;
  let proxy: TcpProxy;
  let close: () => Promise<void>;
  const anon = () => new Api(t.baseUrl, null);

  beforeAll(async () => {
    // The database through a proxy that the test can cut.
    ({ t, proxy, close } = await startBehindProxy({
      DATABASE_CONNECT_TIMEOUT_MS: '1000',
      HEALTH_CHECK_TIMEOUT_MS: '1000',
    }));
  });
  afterAll(() => close());

  it('is ready (and live) while the database answers, without a token', async () => {
    for (const path of ['/health', '/health/ready']) {
      const res = await anon().get(path);
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        status: 'ok',
        info: { database: { status: 'up' } },
        error: {},
      });
      expect(res.headers.get('cache-control')).toContain('no-store');
    }
    const live = await anon().get('/health/live');
    expect(live.status).toBe(200);
    expect(live.body).toEqual({ status: 'ok', info: {}, error: {}, details: {} });
  });

  it('is not ready while the database is unreachable, but still live; ready again after', async () => {
    proxy.cut();
    try {
      for (const path of ['/health', '/health/ready']) {
        const res = await anon().get(path);
        expect(res.status).toBe(503);
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
        // Terminus' own body, not the API's error shape.
        expect(res.body).toMatchObject({
          status: 'error',
          error: { database: { status: 'down' } },
        });
      }
      expect((await anon().get('/health/live')).status).toBe(200);
    } finally {
      proxy.restore();
    }
    let status = 0;
    for (let i = 0; i < 40 && status !== 200; i++) {
      status = (await anon().get('/health/ready')).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 250));
    }
    expect(status).toBe(200);
  });
});
