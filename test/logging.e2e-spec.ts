import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { hashForLog } from '../src/common/log-safe.js';
import { inboundText, signatureHeaders } from './sinch-payloads.js';
import { ADMIN_KEY, Api, newApp, ServiceProcess, spawnService, until } from './utils.js';

// The built service (npm test builds first), in its own process, so that its stdout is exactly
// what an operator would collect: pino's JSON lines at LOG_LEVEL=debug, request logging on.
const PHONE = '46732009988';
const SECRET = 'webhook-secret-for-logging-test';
const TEXT = 'hello-private-text-0f3a';

describe('logs (the built service, LOG_LEVEL=debug, LOG_HTTP_REQUESTS=true)', () => {
  let service: ServiceProcess;
  const out = () => service.output();
  let baseUrl: string;

  beforeAll(async () => {
    service = await spawnService({
      DATABASE_URL: process.env.TEST_DATABASE_URL,
      MIGRATIONS_RUN: 'false',
      LOG_LEVEL: 'debug',
      LOG_HTTP_REQUESTS: 'true',
    });
    await service.waitFor('Consent Gate listening', 30_000);
    baseUrl = service.baseUrl;
  });

  afterAll(() => service.stop());

  it('writes JSON lines with no phone number, message text, token or signature', async () => {
    const api = new Api(baseUrl);
    const { projectId, appId, base } = newApp();
    expect((await api.put(`${base}/consent-settings`, { webhook_secrets: [SECRET] })).status).toBe(
      200,
    );
    const put = await api.put(`${base}/identities/%2B${PHONE}/opt-outs/OPT_OUT_MARKETING`, {
      reason: `asked by ${PHONE}`,
    });
    expect(put.status).toBe(200);

    const body = JSON.stringify(inboundText(projectId, appId, TEXT, { identity: PHONE }));
    const signed = signatureHeaders(body, SECRET);
    const res = await fetch(`${baseUrl}/webhooks/sinch?from=${PHONE}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        cookie: `session=${PHONE}`,
        ...signed,
      },
      body,
    });
    expect(res.status).toBe(200);

    // Mistyped routes (404s) carry the number elsewhere in the path: hashed there too.
    expect((await api.get(`${base}/identity/${PHONE}`)).status).toBe(404);
    expect((await api.get(`${base}/contacts/%2B${PHONE}/x`)).status).toBe(404);

    const hash = hashForLog(PHONE, 'consent-gate');
    // The lines these requests produce: the consent change, the webhook (debug, identity hashed),
    // and one request line each (pino-http, written once the response is finished).
    await until('the request lines', out, (o) => o.includes('/webhooks/sinch?…'));
    await until('the webhook line', out, (o) => o.includes(`identity#${hash}`));
    // The path carries the identity as given (+ and all), hashed as such.
    expect(out()).toContain(
      `/identities/#${hashForLog(`+${PHONE}`, 'consent-gate')}/opt-outs/OPT_OUT_MARKETING`,
    );
    expect(out()).toContain('consent changes app=');
    await until('the mistyped route lines', out, (o) =>
      o.includes(`/contacts/#${hashForLog(`+${PHONE}`, 'consent-gate')}/x`),
    );
    expect(out()).toContain(`/identity/#${hash}`);

    for (const line of out().trim().split('\n')) expect(() => JSON.parse(line)).not.toThrow();
    expect(out()).not.toContain(PHONE);
    expect(out()).not.toContain('73200');
    expect(out()).not.toContain(TEXT);
    expect(out()).not.toContain(ADMIN_KEY);
    expect(out()).not.toContain(signed['x-sinch-webhook-signature']);
    expect(out()).not.toContain(signed['x-sinch-webhook-signature-nonce']);
  });
});
