import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Api, newApp, startTestApp, TestApp } from './utils.js';

describe('native consents API', () => {
  let t: TestApp;
  let api: Api;

  beforeAll(async () => {
    t = await startTestApp();
    api = new Api(t.baseUrl);
  });
  afterAll(() => t.close());

  it('opts out, answers checks by the matrix, opts back in', async () => {
    const { base } = newApp();
    const put = await api.put(
      `${base}/identities/${encodeURIComponent('+46 73-200 11 22')}/opt-outs/OPT_OUT_MARKETING`,
      {
        reason: 'asked on the phone',
        evidence: { ticket: 4711 },
      },
    );
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      identity: '46732001122',
      list_type: 'OPT_OUT_MARKETING',
      outcome: 'APPLIED',
      operation: 'OPERATION_INSERT',
      opted_out: true,
    });

    const check = async (type?: string) =>
      (
        await api.post(`${base}/consents:check`, {
          identities: ['46732001122', '+1 555 000 0000'],
          ...(type ? { message_content_type: type } : {}),
        })
      ).body;
    const marketing = await check('CONTENT_MARKETING');
    expect(marketing.mode).toBe('PRIMARY');
    expect(marketing.results.map((r: any) => [r.identity, r.decision, r.opted_out])).toEqual([
      ['46732001122', 'BLOCK', true],
      ['15550000000', 'ALLOW', false],
    ]);
    expect(marketing.results[0].lists).toEqual(['OPT_OUT_MARKETING']);
    expect((await check('CONTENT_NOTIFICATION')).results[0].decision).toBe('ALLOW');
    expect((await check()).results[0].decision).toBe('ALLOW');

    const state = await api.get(`${base}/identities/46732001122`);
    expect(state.body.opted_out).toBe(true);
    expect(state.body.lists).toEqual([
      expect.objectContaining({ list_type: 'OPT_OUT_MARKETING', origin: 'ORIGIN_API' }),
    ]);

    const del = await api.delete(`${base}/identities/46732001122/opt-outs/OPT_OUT_MARKETING`);
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({
      outcome: 'APPLIED',
      operation: 'OPERATION_DELETE',
      opted_out: false,
    });
    expect((await check('CONTENT_MARKETING')).results[0].decision).toBe('ALLOW');
  });
});

describe('send-check fast path', () => {
  it('answers consents:check in the Fastify fast path, with the same errors as the controller', async () => {
    const { CheckFastPath } = await import('../src/consent/check-fast-path.js');
    const t = await startTestApp();
    const fastPath = t.app.get(CheckFastPath);
    const spy = jest.spyOn(fastPath as unknown as { answer: () => Promise<void> }, 'answer');
    try {
      const api = new Api(t.baseUrl);
      const { base } = newApp();
      await api.put(`${base}/identities/46732001122/opt-outs/OPT_OUT_ALL`, {});
      expect(spy).not.toHaveBeenCalled();
      const ok = await api.post(`${base}/consents:check`, { identities: ['+46 73 200 11 22'] });
      expect(ok.status).toBe(200);
      expect(ok.body.results[0]).toMatchObject({ identity: '46732001122', decision: 'BLOCK' });
      expect(spy).toHaveBeenCalledTimes(1);
      const unauthenticated = await api.as(null).post(`${base}/consents:check`, {
        identities: ['1'],
      });
      expect(unauthenticated.status).toBe(401);
      expect(unauthenticated.headers.get('www-authenticate')).toMatch(/^Bearer/);
      const bad = await api.post('/v1/projects/bad%20id/apps/a/consents:check', { identities: [] });
      expect(bad.status).toBe(400);
      expect(bad.body.error.details[0].field_violations.map((v: any) => v.field)).toEqual(
        expect.arrayContaining(['project_id']),
      );
      expect(spy).toHaveBeenCalledTimes(3);
    } finally {
      spy.mockRestore();
      await t.close();
    }
  });
});
