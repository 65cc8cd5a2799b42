import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { SinchClient as SdkClient } from '@sinch/sdk-core';
import { FakeSinch, sinchError } from '../../test/fake-sinch.js';
import {
  SendOutcome,
  SendTextRequest,
  SinchClient,
  SinchClientOptions,
  sinchOptionsFromConfig,
} from './sinch-client.js';

const PROJECT_ID = 'c36f3d3d-1523-4edd-ae42-11995557ff61';
const APP_ID = '01EB37HMH1M6SV18ABNS3G135H';
const IDENTITY = '46732001122';
const TEXT = 'You are now unsubscribed. Reply START to resubscribe.';
const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

const fake = new FakeSinch();

function options(over: Partial<SinchClientOptions> = {}): SinchClientOptions {
  return {
    projectId: PROJECT_ID,
    keyId: fake.expectedKeyId,
    keySecret: fake.expectedKeySecret,
    conversationUrl: fake.url,
    authUrl: fake.url,
    ...over,
  };
}

function request(over: Partial<SendTextRequest> = {}): SendTextRequest {
  return { appId: APP_ID, channel: 'SMS', identity: IDENTITY, text: TEXT, ...over };
}

/** A failure whose error string leaks nothing it must not. */
function expectSafeFailure(outcome: SendOutcome, retryable: boolean, status?: number): string {
  expect(outcome.ok).toBe(false);
  if (outcome.ok) throw new Error('unreachable');
  expect(outcome.retryable).toBe(retryable);
  expect(outcome.status).toBe(status);
  for (const leak of [fake.expectedKeySecret, IDENTITY, TEXT, ...fake.issuedTokens()]) {
    expect(outcome.error).not.toContain(leak);
  }
  expect(outcome.error.length).toBeLessThanOrEqual(300);
  return outcome.error;
}

beforeAll(() => fake.start());
afterAll(() => fake.stop());
afterEach(() => {
  fake.reset();
  fake.tokenTtlSeconds = 3600;
  fake.opaqueTokens = false;
  fake.now = Date.now;
});

describe('sinchOptionsFromConfig', () => {
  const creds = { SINCH_PROJECT_ID: 'p1', SINCH_KEY_ID: 'k1', SINCH_KEY_SECRET: 's1' };

  it.each(['us', 'eu', 'br'] as const)('defaults the hosts for region %s', (region) => {
    expect(sinchOptionsFromConfig({ ...creds, SINCH_REGION: region })).toEqual({
      projectId: 'p1',
      keyId: 'k1',
      keySecret: 's1',
      conversationUrl: `https://${region}.conversation.api.sinch.com`,
      authUrl: 'https://auth.sinch.com',
    });
  });

  it('takes URL overrides and strips trailing slashes', () => {
    const o = sinchOptionsFromConfig({
      ...creds,
      SINCH_REGION: 'eu',
      SINCH_CONVERSATION_URL: 'http://127.0.0.1:4010//',
      SINCH_AUTH_URL: 'http://127.0.0.1:4011/',
    });
    expect(o).toMatchObject({
      conversationUrl: 'http://127.0.0.1:4010',
      authUrl: 'http://127.0.0.1:4011',
    });
  });

  it('ignores blank URL overrides', () => {
    const o = sinchOptionsFromConfig({
      ...creds,
      SINCH_REGION: 'br',
      SINCH_CONVERSATION_URL: '',
      SINCH_AUTH_URL: '  ',
    });
    expect(o).toMatchObject({
      conversationUrl: 'https://br.conversation.api.sinch.com',
      authUrl: 'https://auth.sinch.com',
    });
  });

  it.each(['SINCH_PROJECT_ID', 'SINCH_KEY_ID', 'SINCH_KEY_SECRET'] as const)(
    'is null without %s (missing or blank)',
    (name) => {
      const { [name]: _omitted, ...rest } = creds;
      expect(sinchOptionsFromConfig({ ...rest, SINCH_REGION: 'us' })).toBeNull();
      expect(sinchOptionsFromConfig({ ...creds, [name]: ' ', SINCH_REGION: 'us' })).toBeNull();
    },
  );
});

describe('SinchClient.sendText', () => {
  it('sends the documented wire format', async () => {
    const client = new SinchClient(options());
    const outcome = await client.sendText(
      request({ messageMetadata: '{"ref":"abc"}', correlationId: 'corr-1' }),
    );

    expect(outcome).toEqual({
      ok: true,
      messageId: expect.stringMatching(ULID),
      acceptedTime: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      status: 200,
    });
    const [token, send] = fake.requests;
    expect(fake.requests).toHaveLength(2);

    expect(token).toMatchObject({ method: 'POST', path: '/oauth2/token' });
    const basic = Buffer.from(`${fake.expectedKeyId}:${fake.expectedKeySecret}`).toString('base64');
    expect(token!.headers.authorization).toBe(`Basic ${basic}`);
    expect(token!.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(token!.rawBody).toBe('grant_type=client_credentials');

    expect(send).toMatchObject({
      method: 'POST',
      path: `/v1/projects/${PROJECT_ID}/messages:send`,
      status: 200,
    });
    expect(send!.headers.authorization).toBe(`Bearer ${fake.issuedTokens()[0]}`);
    expect(send!.headers['content-type']).toBe('application/json');
    expect(send!.body).toEqual({
      app_id: APP_ID,
      recipient: {
        identified_by: { channel_identities: [{ channel: 'SMS', identity: IDENTITY }] },
      },
      message: { text_message: { text: TEXT } },
      channel_priority_order: ['SMS'],
      message_metadata: '{"ref":"abc"}',
      correlation_id: 'corr-1',
    });
  });

  it('leaves out message_metadata and correlation_id when not given', async () => {
    const client = new SinchClient(options());
    expect((await client.sendText(request({ channel: 'WHATSAPP' }))).ok).toBe(true);
    const body = fake.sends()[0]!;
    expect(Object.keys(body).sort()).toEqual([
      'app_id',
      'channel_priority_order',
      'message',
      'recipient',
    ]);
    expect(body.channel_priority_order).toEqual(['WHATSAPP']);
  });

  it('fetches the token once and reuses it across sends', async () => {
    const client = new SinchClient(options());
    for (let i = 0; i < 3; i++) expect((await client.sendText(request())).ok).toBe(true);
    expect(fake.tokenRequests()).toBe(1);
    const auth = fake.requests.filter((r) => r.path.endsWith(':send'));
    expect(new Set(auth.map((r) => r.headers.authorization)).size).toBe(1);
  });

  it('shares one in-flight token request between concurrent sends', async () => {
    const client = new SinchClient(options());
    const outcomes = await Promise.all(Array.from({ length: 8 }, () => client.sendText(request())));
    expect(outcomes.every((o) => o.ok)).toBe(true);
    expect(fake.tokenRequests()).toBe(1);
    expect(fake.accepted()).toHaveLength(8);
  });

  it('renews a JWT 60 s before its exp', async () => {
    let clock = Date.now();
    fake.now = () => clock;
    const client = new SinchClient(options({ now: () => clock }));
    const start = clock;
    await client.sendText(request());
    // exp = floor(issue time in s) + 3600, so the renewal point lies in (start+3539s, start+3540s].
    clock = start + 3_538_999;
    await client.sendText(request());
    expect(fake.tokenRequests()).toBe(1);
    clock = start + 3_540_000;
    expect((await client.sendText(request())).ok).toBe(true);
    expect(fake.tokenRequests()).toBe(2);
    const [first, second] = fake.issuedTokens().slice(-2);
    expect(fake.requests.at(-1)!.headers.authorization).toBe(`Bearer ${second}`);
    expect(second).not.toBe(first);
  });

  it('does not keep a token that is already inside the renewal margin (ttl 61 s)', async () => {
    let clock = Date.now();
    fake.now = () => clock;
    fake.tokenTtlSeconds = 61;
    const client = new SinchClient(options({ now: () => clock }));
    expect((await client.sendText(request())).ok).toBe(true);
    clock += 1_000;
    expect((await client.sendText(request())).ok).toBe(true);
    clock += 1_000;
    expect((await client.sendText(request())).ok).toBe(true);
    expect(fake.tokenRequests()).toBe(3);
  });

  it('falls back to expires_in for a token that is not a JWT', async () => {
    let clock = Date.now();
    fake.now = () => clock;
    fake.opaqueTokens = true;
    fake.tokenTtlSeconds = 120;
    const client = new SinchClient(options({ now: () => clock }));
    const start = clock;
    await client.sendText(request());
    expect(fake.issuedTokens()[0]).toMatch(/^opaque-/);
    clock = start + 59_999;
    await client.sendText(request());
    expect(fake.tokenRequests()).toBe(1);
    clock = start + 60_000;
    expect((await client.sendText(request())).ok).toBe(true);
    expect(fake.tokenRequests()).toBe(2);
  });

  it('on a 401 renews the token once and retries', async () => {
    const client = new SinchClient(options());
    await client.sendText(request());
    fake.rejectToken(fake.issuedTokens()[0]!);

    const outcome = await client.sendText(request());

    expect(outcome.ok).toBe(true);
    expect(fake.tokenRequests()).toBe(2);
    expect(fake.sends()).toHaveLength(3);
    expect(fake.requests.map((r) => r.status)).toEqual([200, 200, 401, 200, 200]);
    expect(fake.requests.at(-1)!.headers.authorization).toBe(`Bearer ${fake.issuedTokens()[1]}`);
  });

  it('gives up after the retry when the new token gets a 401 too', async () => {
    const client = new SinchClient(options());
    fake.failNext(2, 401);
    const error = expectSafeFailure(await client.sendText(request()), false, 401);
    expect(error).toBe('messages:send: HTTP 401 UNAUTHENTICATED: Injected failure (FakeSinch)');
    expect(fake.sends()).toHaveLength(2);
    expect(fake.tokenRequests()).toBe(2);
  });

  it.each([503, 429, 500, 502])('maps %i to retryable, without retrying itself', async (status) => {
    const client = new SinchClient(options());
    fake.failNext(1, status);
    const error = expectSafeFailure(await client.sendText(request()), true, status);
    expect(error).toMatch(new RegExp(`^messages:send: HTTP ${status}`));
    expect(fake.sends()).toHaveLength(1);
    expect((await client.sendText(request())).ok).toBe(true);
  });

  it('reports the Retry-After of a 429 or 503 (seconds or HTTP-date), and only of those', async () => {
    const now = Date.UTC(2026, 10, 22, 12, 0, 0);
    const client = new SinchClient(options({ now: () => now }));
    fake.failNext(1, 429, undefined, { 'Retry-After': '2' });
    fake.failNext(1, 503, undefined, { 'Retry-After': 'Sun, 22 Nov 2026 12:00:30 GMT' });
    fake.failNext(1, 500, undefined, { 'Retry-After': '2' });
    fake.failNext(1, 429, undefined, { 'Retry-After': 'whenever' });
    fake.failNext(1, 429);
    const outcomes = [];
    for (let i = 0; i < 5; i++) outcomes.push(await client.sendText(request()));
    expect(outcomes.map((o) => [o.status, !o.ok && o.retryAfterMs])).toEqual([
      [429, 2000],
      [503, 30_000],
      [500, undefined],
      [429, undefined],
      [429, undefined],
    ]);
    for (const o of outcomes) expectSafeFailure(o, true, o.status);
  });

  it('reports the Retry-After of a 429 from the token endpoint', async () => {
    const client = new SinchClient(options());
    fake.failNextToken(1, 429, undefined, { 'Retry-After': '7' });
    const outcome = await client.sendText(request());
    expect(outcome).toMatchObject({ ok: false, retryable: true, status: 429, retryAfterMs: 7000 });
    expect(fake.sends()).toHaveLength(0);
  });

  it("maps a 400 to not retryable, with Sinch's error message", async () => {
    const client = new SinchClient(options());
    const outcome = await client.sendText(request({ appId: '' }));
    expect(expectSafeFailure(outcome, false, 400)).toBe(
      'messages:send: HTTP 400 INVALID_ARGUMENT: app_id is required',
    );
  });

  it("masks the identity, the text and phone-like numbers in Sinch's message; truncates it", async () => {
    const client = new SinchClient(options());
    fake.failNext(
      1,
      400,
      sinchError(400, `Bad identity ${IDENTITY} (+15551231212) for "${TEXT}"\n${'x'.repeat(500)}`),
    );
    const error = expectSafeFailure(await client.sendText(request()), false, 400);
    expect(error).toMatch(
      /^messages:send: HTTP 400 INVALID_ARGUMENT: Bad identity \[redacted\] \(\[redacted\]\) for "\[redacted\]" x+…$/,
    );
    expect(error).not.toContain('15551231212');
    expect(error.length).toBeLessThanOrEqual(
      'messages:send: HTTP 400 INVALID_ARGUMENT: '.length + 200,
    );
  });

  it('never echoes a body that is not Sinch’s error shape', async () => {
    const client = new SinchClient(options());
    fake.failNext(1, 403, { detail: `forbidden for ${IDENTITY}` });
    expect(expectSafeFailure(await client.sendText(request()), false, 403)).toBe(
      'messages:send: HTTP 403',
    );
    fake.failNext(1, 404, 'plain text' as unknown);
    expect(expectSafeFailure(await client.sendText(request()), false, 404)).toBe(
      'messages:send: HTTP 404',
    );
  });

  it('treats a 2xx without message_id as a non-retryable failure (it may have been sent)', async () => {
    const client = new SinchClient(options());
    fake.failNext(1, 200, {});
    expect(expectSafeFailure(await client.sendText(request()), false, 200)).toBe(
      'messages:send: HTTP 200 without message_id',
    );
  });

  it('maps a reset socket to retryable', async () => {
    const client = new SinchClient(options());
    fake.failNextWithReset(1);
    const error = expectSafeFailure(await client.sendText(request()), true, undefined);
    expect(error).toMatch(/^messages:send: network error( [A-Z_]+)?$/);
    expect((await client.sendText(request())).ok).toBe(true);
  });

  it('maps a timeout to retryable', async () => {
    const client = new SinchClient(options({ timeoutMs: 200 }));
    await client.sendText(request()); // token first, so the stall hits messages:send
    fake.stallNext(1);
    const started = Date.now();
    const error = expectSafeFailure(await client.sendText(request()), true, undefined);
    expect(error).toBe('messages:send: timeout');
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('maps bad credentials to not retryable, without sending', async () => {
    const client = new SinchClient(options({ keySecret: 'wrong-secret' }));
    const outcome = await client.sendText(request());
    expect(expectSafeFailure(outcome, false, 401)).toBe('oauth2 token: HTTP 401 invalid_client');
    if (!outcome.ok) expect(outcome.error).not.toContain('wrong-secret');
    expect(fake.sends()).toHaveLength(0);
  });

  it('maps token endpoint 503 / 429 / reset / refused connection to retryable', async () => {
    const client = new SinchClient(options());
    fake.failNextToken(1, 503);
    expect(expectSafeFailure(await client.sendText(request()), true, 503)).toBe(
      'oauth2 token: HTTP 503 temporarily_unavailable',
    );
    fake.failNextToken(1, 429, { error: 'Too Many Requests!' });
    expect(expectSafeFailure(await client.sendText(request()), true, 429)).toBe(
      'oauth2 token: HTTP 429',
    );
    fake.failNextTokenWithReset(1);
    expect(expectSafeFailure(await client.sendText(request()), true, undefined)).toMatch(
      /^oauth2 token: network error/,
    );
    expect(fake.sends()).toHaveLength(0);
    // A failed token request is not cached: the next send asks again and succeeds.
    expect((await client.sendText(request())).ok).toBe(true);

    const gone = new FakeSinch();
    await gone.start();
    const deadUrl = gone.url;
    await gone.stop();
    const offline = new SinchClient(options({ authUrl: deadUrl }));
    expect(expectSafeFailure(await offline.sendText(request()), true, undefined)).toBe(
      'oauth2 token: network error ECONNREFUSED',
    );
  });

  it('maps a token response without access_token to not retryable', async () => {
    const client = new SinchClient(options());
    fake.failNextToken(1, 200, { token_type: 'bearer' });
    expect(expectSafeFailure(await client.sendText(request()), false, 200)).toBe(
      'oauth2 token: HTTP 200 without access_token',
    );
  });
});

describe('SinchClient.forward', () => {
  const path = `/v1/projects/${PROJECT_ID}/messages:send`;
  // Odd spacing, key order and an unknown field: forward() must not re-serialise the body.
  const raw = `{"message":{"text_message":{"text":"hi"}},  "app_id":"${APP_ID}","recipient":{"identified_by":{"channel_identities":[{"channel":"SMS","identity":"+${IDENTITY}"}]}},"future_field":{"x":1}}`;

  it('posts the body byte for byte with a bearer token and returns Sinch’s answer', async () => {
    const client = new SinchClient(options());
    const outcome = await client.forward(path, raw);
    expect(outcome).toEqual({
      ok: true,
      status: 200,
      body: expect.stringMatching(/^\{"message_id":"[0-9A-Z]{26}","accepted_time":"[^"]+"\}$/),
      contentType: 'application/json',
    });
    const send = fake.requests.at(-1)!;
    expect(send).toMatchObject({ method: 'POST', path, status: 200 });
    expect(send.rawBody).toBe(raw);
    expect(send.headers['content-type']).toBe('application/json');
    expect(send.headers.authorization).toBe(`Bearer ${fake.issuedTokens()[0]}`);
    // The token is reused, as for sendText.
    await client.forward(path, raw);
    expect(fake.tokenRequests()).toBe(1);
  });

  it.each([400, 403, 404, 429, 500, 503])(
    'returns a %i with Sinch’s body unchanged, without retrying',
    async (status) => {
      const client = new SinchClient(options());
      const body = sinchError(status, `Upstream says no (${status})`);
      fake.failNext(1, status, body);
      expect(await client.forward(path, raw)).toEqual({
        ok: true,
        status,
        body: JSON.stringify(body),
        contentType: 'application/json',
      });
      expect(fake.sends()).toHaveLength(1);
    },
  );

  it('renews the token once on a 401 and retries; a second 401 comes back as the answer', async () => {
    const client = new SinchClient(options());
    await client.forward(path, raw);
    fake.rejectToken(fake.issuedTokens()[0]!);
    const renewed = await client.forward(path, raw);
    expect(renewed).toMatchObject({ ok: true, status: 200 });
    expect(fake.requests.map((r) => r.status)).toEqual([200, 200, 401, 200, 200]);
    expect(fake.requests.at(-1)!.rawBody).toBe(raw);

    fake.failNext(2, 401);
    expect(await client.forward(path, raw)).toMatchObject({ ok: true, status: 401 });
    expect(fake.tokenRequests()).toBe(3);
  });

  it('reports a reset socket or a timeout as a network failure', async () => {
    const client = new SinchClient(options({ timeoutMs: 200 }));
    await client.forward(path, raw);
    fake.failNextWithReset(1);
    const reset = await client.forward(path, raw);
    expect(reset).toMatchObject({ ok: false, stage: 'network' });
    if (!reset.ok) expect(reset.error).toMatch(/^messages:send: network error( [A-Z_]+)?$/);
    fake.stallNext(1);
    expect(await client.forward(path, raw)).toEqual({
      ok: false,
      stage: 'network',
      error: 'messages:send: timeout',
    });
  });

  it('reports a refused token without sending, and never leaks the secret', async () => {
    const client = new SinchClient(options({ keySecret: 'wrong-secret' }));
    const outcome = await client.forward(path, raw);
    expect(outcome).toEqual({
      ok: false,
      stage: 'token',
      status: 401,
      error: 'oauth2 token: HTTP 401 invalid_client',
    });
    expect(fake.sends()).toHaveLength(0);
  });
});

// Oracle: the official Sinch SDK talks to FakeSinch and the fake accepts it the same way it
// accepts SinchClient, so the fake (and what SinchClient is tested against) speaks Sinch's format.
describe('FakeSinch against the official SDK (@sinch/sdk-core 1.4.0)', () => {
  function sdk(): SdkClient {
    return new SdkClient({
      projectId: PROJECT_ID,
      keyId: fake.expectedKeyId,
      keySecret: fake.expectedKeySecret,
      authHostname: fake.url,
      conversationHostname: fake.url,
      logger: null,
    });
  }

  it('sees the same token request and messages:send from the SDK as from SinchClient', async () => {
    const sdkResponse = await sdk().conversation.messages.send({
      sendMessageRequestBody: {
        app_id: APP_ID,
        recipient: {
          identified_by: { channel_identities: [{ channel: 'SMS', identity: IDENTITY }] },
        },
        message: { text_message: { text: TEXT } },
        channel_priority_order: ['SMS'],
        message_metadata: 'meta',
        correlation_id: 'corr',
      },
    });
    const fromSdk = [...fake.requests];
    fake.reset();
    const ours = await new SinchClient(options()).sendText(
      request({ messageMetadata: 'meta', correlationId: 'corr' }),
    );
    const fromUs = [...fake.requests];

    expect(sdkResponse.message_id).toMatch(ULID);
    expect(ours.ok).toBe(true);
    const shape = (r: (typeof fromSdk)[number]) => ({
      method: r.method,
      path: r.path,
      contentType: r.headers['content-type'],
      authScheme: r.headers.authorization?.split(' ')[0],
      body: r.body,
      status: r.status,
    });
    expect(fromUs.map(shape)).toEqual(fromSdk.map(shape));
    expect(fromSdk[0]!.headers.authorization).toBe(fromUs[0]!.headers.authorization);
    expect(fromSdk.map(shape)[1]).toMatchObject({
      path: `/v1/projects/${PROJECT_ID}/messages:send`,
      status: 200,
    });
  });

  it('makes the SDK renew its token on a rejected token, as SinchClient does', async () => {
    const client = sdk();
    const send = () =>
      client.conversation.messages.send({
        sendMessageRequestBody: {
          app_id: APP_ID,
          recipient: {
            identified_by: { channel_identities: [{ channel: 'SMS', identity: IDENTITY }] },
          },
          message: { text_message: { text: TEXT } },
        },
      });
    await send();
    fake.rejectToken(fake.issuedTokens().at(-1)!);
    const second = await send();
    expect(second.message_id).toMatch(ULID);
    expect(fake.tokenRequests()).toBe(2);
    expect(fake.requests.map((r) => r.status)).toEqual([200, 200, 401, 200, 200]);
  });

  it("gives the SDK a 400 in Sinch's error shape for an invalid body", async () => {
    const error = await sdk()
      .conversation.messages.send({
        sendMessageRequestBody: { app_id: APP_ID } as never,
      })
      .catch((e: unknown) => e);
    expect(error).toMatchObject({ statusCode: 400 });
    expect(JSON.parse((error as { data: string }).data)).toEqual({
      error: {
        code: 400,
        message: 'recipient is required',
        status: 'INVALID_ARGUMENT',
        details: [],
      },
    });
  });
});
