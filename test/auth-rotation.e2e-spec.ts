import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Api, newApp, startTestApp, TestApp } from './utils.js';

const SIGNING = 'rotation-test-signing-secret-0123456789abcdef';

async function adminToken(baseUrl: string, adminKey: string): Promise<Response> {
  return fetch(`${baseUrl}/oauth2/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`admin:${adminKey}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: 'grant_type=client_credentials',
  });
}

describe('token hygiene', () => {
  let oldInstance: TestApp;
  let newInstance: TestApp;

  beforeAll(async () => {
    oldInstance = await startTestApp({
      ADMIN_API_KEY: 'old-admin-key-0123456789',
      TOKEN_SIGNING_SECRET: SIGNING,
    });
    newInstance = await startTestApp({
      ADMIN_API_KEY: 'new-admin-key-0123456789',
      TOKEN_SIGNING_SECRET: SIGNING,
    });
  });
  afterAll(async () => {
    await oldInstance.close();
    await newInstance.close();
  });

  it('token responses are not cacheable', async () => {
    const res = await adminToken(oldInstance.baseUrl, 'old-admin-key-0123456789');
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('rotating ADMIN_API_KEY ends the old admin key tokens', async () => {
    const { access_token } = (await (
      await adminToken(oldInstance.baseUrl, 'old-admin-key-0123456789')
    ).json()) as { access_token: string };
    const { base } = newApp();
    const onOld = await new Api(oldInstance.baseUrl, access_token).get(`${base}/consent-settings`);
    expect(onOld.status).toBe(200);
    const onNew = await new Api(newInstance.baseUrl, access_token).get(`${base}/consent-settings`);
    expect(onNew.status).toBe(401);
    const fresh = (await (
      await adminToken(newInstance.baseUrl, 'new-admin-key-0123456789')
    ).json()) as { access_token: string };
    expect(
      (await new Api(newInstance.baseUrl, fresh.access_token).get(`${base}/consent-settings`))
        .status,
    ).toBe(200);
  });

  it('401s carry a challenge that makes the Sinch SDK fetch a new token', async () => {
    const { base } = newApp();
    const bad = await new Api(newInstance.baseUrl, 'a.b.c').get(`${base}/consent-settings`);
    expect(bad.status).toBe(401);
    expect(bad.headers.get('www-authenticate')).toMatch(/^Bearer .*expired/);
    const none = await new Api(newInstance.baseUrl, null).get(`${base}/consent-settings`);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer/);
    const basic = await fetch(`${newInstance.baseUrl}/oauth2/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    expect(basic.status).toBe(401);
    expect(basic.headers.get('www-authenticate')).toMatch(/^Basic/);
  });
});
