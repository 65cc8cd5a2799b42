import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { ADMIN_KEY, Api, newApp, startTestApp, TestApp } from './utils.js';

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

/** A POST with node:http: as one Content-Length body, or chunked (which the hot path declines). */
function rawPost(
  baseUrl: string,
  path: string,
  body: string,
  opts: { chunked?: boolean; token?: string | null } = {},
): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const token = opts.token === undefined ? ADMIN_KEY : opts.token;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      `${baseUrl}${path}`,
      {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(opts.chunked ? { 'transfer-encoding': 'chunked' } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
            headers: res.headers,
          }),
        );
      },
    );
    req.on('error', reject);
    if (opts.chunked) {
      // Two chunks, so that the body really arrives in pieces.
      req.write(body.slice(0, 5));
      req.end(body.slice(5));
    } else {
      req.end(body);
    }
  });
}

describe('send-check hot path', () => {
  let t: TestApp;
  let spy: jest.SpiedFunction<() => Promise<void>>;

  beforeAll(async () => {
    const { CheckFastPath } = await import('../src/consent/check-fast-path.js');
    t = await startTestApp();
    spy = jest.spyOn(
      t.app.get(CheckFastPath) as unknown as { answer: () => Promise<void> },
      'answer',
    );
  });
  afterAll(async () => {
    spy.mockRestore();
    await t.close();
  });

  it('answers plain JSON requests before Fastify, with the same errors as the controller', async () => {
    const api = new Api(t.baseUrl);
    const { base } = newApp();
    await api.put(`${base}/identities/46732001122/opt-outs/OPT_OUT_ALL`, {});
    spy.mockClear();
    const ok = await api.post(`${base}/consents:check`, { identities: ['+46 73 200 11 22'] });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toBe('application/json; charset=utf-8');
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
  });

  it.each([
    ['an answer', JSON.stringify({ identities: ['46732001122', '46700000000', 'x:"y"'] }), null],
    [
      'a marketing answer',
      JSON.stringify({ identities: ['46732001122'], message_content_type: 'CONTENT_MARKETING' }),
      null,
    ],
    ['malformed JSON', '{"identities": [', null],
    ['a validation error', JSON.stringify({ identities: ['1', 42], extra: 1 }), null],
    ['a missing token', JSON.stringify({ identities: ['1'] }), 'none'],
    ['a wrong token', JSON.stringify({ identities: ['1'] }), 'nope'],
    // The point-in-time check (AT: a moment after the opt-out).
    [
      'a point-in-time answer',
      JSON.stringify({
        identities: ['46732001122', '1'],
        message_content_type: 'CONTENT_MARKETING',
        at: 'AT',
      }),
      null,
    ],
    [
      'an at in the future',
      JSON.stringify({ identities: ['1'], at: '2999-01-01T00:00:00Z' }),
      null,
    ],
    ['an at before 2000', JSON.stringify({ identities: ['1'], at: '1999-01-01T00:00:00Z' }), null],
    [
      'an at without a zone',
      JSON.stringify({ identities: ['1'], at: '2026-11-22T10:00:00' }),
      null,
    ],
  ])("gives the controller's answer byte for byte: %s", async (_name, template, auth) => {
    const api = new Api(t.baseUrl);
    const { base } = newApp();
    await api.put(`${base}/identities/46732001122/opt-outs/OPT_OUT_MARKETING`, {});
    await new Promise((r) => setTimeout(r, 3));
    const body = template.replace('"AT"', JSON.stringify(new Date().toISOString()));
    const token = auth === 'none' ? null : (auth ?? undefined);
    spy.mockClear();
    const hot = await rawPost(t.baseUrl, `${base}/consents:check`, body, { token });
    expect(spy).toHaveBeenCalledTimes(1);
    const viaNest = await rawPost(t.baseUrl, `${base}/consents:check`, body, {
      token,
      chunked: true,
    });
    expect(spy).toHaveBeenCalledTimes(1); // declined: Fastify and the controller answered
    expect(hot.status).toBe(viaNest.status);
    expect(hot.headers['content-type']).toBe(viaNest.headers['content-type']);
    expect(hot.headers['www-authenticate']).toBe(viaNest.headers['www-authenticate']);
    expect(hot.body).toBe(viaNest.body);
    if (template.includes('"AT"'))
      expect(JSON.parse(hot.body).results[0]).toMatchObject({
        decision: 'BLOCK',
        decided_by: [expect.any(String)],
      });
  });

  it('declines what it does not handle: other methods, media types, empty bodies', async () => {
    const api = new Api(t.baseUrl);
    const { base } = newApp();
    spy.mockClear();
    expect((await api.get(`${base}/consents:check`)).status).toBe(404);
    const text = await api.request('POST', `${base}/consents:check`, '{"identities":["1"]}', {
      'content-type': 'text/plain',
    });
    // Fastify reads text/plain as a string, which the controller's DTO refuses.
    expect(text.status).toBe(400);
    expect(text.body.error.message).toContain('the body must be a JSON object');
    const empty = await api.request('POST', `${base}/consents:check`, '', {
      'content-type': 'application/json',
    });
    expect(empty.status).toBe(400);
    expect(spy).not.toHaveBeenCalled();
  });
});
