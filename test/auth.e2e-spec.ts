import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT } from 'jose';
import { createHash, randomBytes } from 'node:crypto';
import { Api, ADMIN_KEY, newApp, Res, startTestApp, TestApp } from './utils.js';

interface MintedKey {
  key_id: string;
  key_secret: string;
  name: string;
  scopes: string[];
}

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const JWT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/;
const ISSUER = 'consent-gate';

/** Asserts the Sinch (Google RPC style) error body and returns it. */
function expectError(
  res: Res,
  status: number,
  rpcStatus: string,
): { code: number; message: string; status: string; details: any[] } {
  expect({ status: res.status, body: res.body }).toEqual({
    status,
    body: {
      error: {
        code: status,
        message: expect.any(String),
        status: rpcStatus,
        details: expect.any(Array),
      },
    },
  });
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return res.body.error;
}

/** The fields named by a 400's BadRequest detail. */
function violatedFields(res: Res): string[] {
  const error = expectError(res, 400, 'INVALID_ARGUMENT');
  const bad = error.details.find((d) => d['@type'] === 'type.googleapis.com/google.rpc.BadRequest');
  expect(bad).toBeDefined();
  return (bad.field_violations as { field: string; description: string }[]).map((v) => {
    expect(typeof v.description).toBe('string');
    expect(v.description.length).toBeGreaterThan(0);
    return v.field;
  });
}

function decodeJwt(token: string): {
  header: Record<string, unknown>;
  payload: Record<string, any>;
} {
  expect(token).toMatch(JWT);
  const [h, p] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(h!, 'base64url').toString('utf8')),
    payload: JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')),
  };
}

function basic(user: string, pass: string): string {
  return `Basic ${Buffer.from(`${user}:${pass}`, 'utf8').toString('base64')}`;
}

/** POST /oauth2/token as the Sinch SDK sends it: form-encoded body, HTTP Basic credentials. */
async function tokenRequest(
  baseUrl: string,
  authorization: string | null,
  form: string | null = 'grant_type=client_credentials',
): Promise<Res> {
  const headers: Record<string, string> = {};
  if (authorization !== null) headers.authorization = authorization;
  if (form !== null) headers['content-type'] = 'application/x-www-form-urlencoded';
  const res = await fetch(`${baseUrl}/oauth2/token`, {
    method: 'POST',
    headers,
    body: form ?? undefined,
  });
  const text = await res.text();
  let body: any = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // keep text
  }
  return { status: res.status, body, headers: res.headers };
}

async function mintKey(
  admin: Api,
  scopes: string[],
  name = `auth-e2e-${scopes.join('-') || 'none'}`,
): Promise<MintedKey> {
  const res = await admin.post('/v1/api-keys', { name, scopes });
  expect(res.status).toBe(201);
  return { key_id: res.body.key_id, key_secret: res.body.key_secret, name, scopes };
}

async function accessToken(
  baseUrl: string,
  key: { key_id: string; key_secret: string },
): Promise<string> {
  const res = await tokenRequest(baseUrl, basic(key.key_id, key.key_secret));
  expect(res.status).toBe(200);
  return res.body.access_token as string;
}

describe('authentication and scopes', () => {
  let t: TestApp;
  let admin: Api;
  let anon: Api;

  beforeAll(async () => {
    t = await startTestApp();
    admin = new Api(t.baseUrl);
    anon = admin.as(null);
  });
  afterAll(() => t.close());

  /** One request to each kind of protected endpoint (every scope), for a given app. */
  function protectedCalls(
    base: string,
    projectId: string,
    appId: string,
  ): [string, (api: Api) => Promise<Res>][] {
    return [
      ['GET list', (a) => a.get(`${base}/consents/OPT_OUT_MARKETING`)],
      ['GET sinch audit', (a) => a.get(`${base}/consents/identities/46700000001`)],
      ['GET identity', (a) => a.get(`${base}/identities/46700000001`)],
      ['POST check', (a) => a.post(`${base}/consents:check`, { identities: ['46700000001'] })],
      ['PUT opt-out', (a) => a.put(`${base}/identities/46700000001/opt-outs/OPT_OUT_MARKETING`)],
      [
        'DELETE opt-out',
        (a) => a.delete(`${base}/identities/46700000001/opt-outs/OPT_OUT_MARKETING`),
      ],
      [
        'POST batch',
        (a) =>
          a.post(`/v1/projects/${projectId}/consents`, {
            app_id: appId,
            consent_records: [{ identification: '46700000001', consent_type: 'OPT_OUT_MARKETING' }],
          }),
      ],
      ['PUT settings', (a) => a.put(`${base}/consent-settings`, { mode: 'SECONDARY' })],
      ['GET api-keys', (a) => a.get('/v1/api-keys')],
      [
        'POST api-keys',
        (a) => a.post('/v1/api-keys', { name: 'should-not-exist', scopes: ['admin'] }),
      ],
    ];
  }

  /** The app's observable state, through the bootstrap admin key. */
  async function stateOf(base: string) {
    const list = await admin.get(`${base}/consents/OPT_OUT_MARKETING`);
    const audit = await admin.get(`${base}/identities/46700000001/audit-records`);
    const settings = await admin.get(`${base}/consent-settings`);
    expect([list.status, audit.status, settings.status]).toEqual([200, 200, 200]);
    return {
      listed: (list.body.identities as { identity: string }[]).map((i) => i.identity),
      auditCount: (audit.body.audit_records as unknown[]).length,
      mode: settings.body.mode as string,
      configured: settings.body.configured as boolean,
    };
  }

  it('rejects requests without a token with 401 and the Sinch error body, on every protected endpoint', async () => {
    const { projectId, appId, base } = newApp();
    for (const [what, call] of protectedCalls(base, projectId, appId)) {
      const res = await call(anon);
      const error = expectError(res, 401, 'UNAUTHENTICATED');
      expect({ what, details: error.details }).toEqual({ what, details: [] });
      expect(error.message).toMatch(/bearer/i);
    }
    // Nothing happened.
    expect(await stateOf(base)).toEqual({
      listed: [],
      auditCount: 0,
      mode: 'PRIMARY',
      configured: false,
    });
    // Public endpoints stay public.
    expect((await anon.get('/health')).status).toBe(200);
  });

  it('rejects malformed and unknown tokens with 401', async () => {
    const { base } = newApp();
    const path = `${base}/consents/OPT_OUT_MARKETING`;
    const header = async (authorization: string) =>
      await admin.as(null).request('GET', path, undefined, { authorization });
    const bad = [
      'Bearer',
      'Bearer ',
      ADMIN_KEY, // no scheme
      `Token ${ADMIN_KEY}`,
      basic('admin', ADMIN_KEY),
      `Bearer ${ADMIN_KEY} ${ADMIN_KEY}`,
      `Bearer ${ADMIN_KEY.slice(0, -1)}`,
      `Bearer ${ADMIN_KEY}x`,
      `Bearer ${ADMIN_KEY.toUpperCase()}`,
      'Bearer cg_01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A_6Yc2m9Q0r1w5l0bq3JQn8fG0bUe4x1kQ',
      'Bearer a.b.c',
      'Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl',
      'Bearer not-base64!!.x.y',
    ];
    for (const authorization of bad) {
      const res = await header(authorization);
      expect({ authorization, status: res.status }).toEqual({ authorization, status: 401 });
      expectError(res, 401, 'UNAUTHENTICATED');
    }
    // Controls: the scheme is case-insensitive and may be followed by several spaces.
    expect((await header(`bearer ${ADMIN_KEY}`)).status).toBe(200);
    expect((await header(`Bearer   ${ADMIN_KEY}`)).status).toBe(200);
  });

  it('a read-only key can read and check, but not write, batch insert, change settings or manage keys', async () => {
    const { projectId, appId, base } = newApp();
    const reader = admin.as((await mintKey(admin, ['read'])).key_secret);

    for (const [what, status] of [
      ['GET list', 200],
      ['GET sinch audit', 200],
      ['GET identity', 200],
      ['POST check', 200],
    ] as const) {
      const call = protectedCalls(base, projectId, appId).find(([w]) => w === what)![1];
      expect({ what, status: (await call(reader)).status }).toEqual({ what, status });
    }
    for (const what of [
      'PUT opt-out',
      'DELETE opt-out',
      'POST batch',
      'PUT settings',
      'GET api-keys',
      'POST api-keys',
    ]) {
      const call = protectedCalls(base, projectId, appId).find(([w]) => w === what)![1];
      const res = await call(reader);
      expect({ what, status: res.status }).toEqual({ what, status: 403 });
      const error = expectError(res, 403, 'PERMISSION_DENIED');
      expect(error.message).toMatch(/"(write|admin)" scope/);
    }
    expect(await stateOf(base)).toEqual({
      listed: [],
      auditCount: 0,
      mode: 'PRIMARY',
      configured: false,
    });
    const keys = await admin.get('/v1/api-keys');
    expect(
      (keys.body.api_keys as { name: string }[]).some((k) => k.name === 'should-not-exist'),
    ).toBe(false);
  });

  it('a write key can opt out, opt in and batch insert, but not change settings or manage keys', async () => {
    const { projectId, appId, base } = newApp();
    const writer = admin.as((await mintKey(admin, ['write'])).key_secret);

    const put = await writer.put(`${base}/identities/46700000001/opt-outs/OPT_OUT_MARKETING`);
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ outcome: 'APPLIED', opted_out: true });
    expect((await stateOf(base)).listed).toEqual(['46700000001']);

    const del = await writer.delete(`${base}/identities/46700000001/opt-outs/OPT_OUT_MARKETING`);
    expect(del.status).toBe(200);
    expect((await stateOf(base)).listed).toEqual([]);

    const batch = await writer.post(`/v1/projects/${projectId}/consents`, {
      app_id: appId,
      consent_records: [{ identification: '+46 70 000 00 01', consent_type: 'OPT_OUT_MARKETING' }],
    });
    expect(batch.status).toBe(200);
    expect((await stateOf(base)).listed).toEqual(['46700000001']);

    const settings = await writer.put(`${base}/consent-settings`, { mode: 'SECONDARY' });
    expect(expectError(settings, 403, 'PERMISSION_DENIED').message).toContain('"admin" scope');
    expect(await stateOf(base)).toMatchObject({ mode: 'PRIMARY', configured: false });

    expectError(await writer.get('/v1/api-keys'), 403, 'PERMISSION_DENIED');
    // No escalation: a write key cannot mint an admin key.
    expectError(
      await writer.post('/v1/api-keys', { name: 'should-not-exist', scopes: ['admin'] }),
      403,
      'PERMISSION_DENIED',
    );
  });

  it('an admin key (minted or bootstrap) can change settings, manage keys and use every scope', async () => {
    const { projectId, appId, base } = newApp();
    const minted = admin.as((await mintKey(admin, ['admin'])).key_secret);

    const put = await minted.put(`${base}/consent-settings`, { mode: 'SECONDARY' });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({
      project_id: projectId,
      app_id: appId,
      mode: 'SECONDARY',
      configured: true,
    });
    expect(await stateOf(base)).toMatchObject({ mode: 'SECONDARY', configured: true });

    const back = await admin.put(`${base}/consent-settings`, { mode: 'PRIMARY' });
    expect(back.status).toBe(200);
    expect(await stateOf(base)).toMatchObject({ mode: 'PRIMARY', configured: true });

    const child = await minted.post('/v1/api-keys', { name: 'auth-e2e-child', scopes: ['read'] });
    expect(child.status).toBe(201);
    expect((await minted.get('/v1/api-keys')).status).toBe(200);

    expect(
      (await minted.put(`${base}/identities/46700000001/opt-outs/OPT_OUT_MARKETING`)).status,
    ).toBe(200);
    expect((await minted.get(`${base}/consents/OPT_OUT_MARKETING`)).body.identities).toEqual([
      { identity: '46700000001' },
    ]);
    const check = await minted.post(`${base}/consents:check`, {
      identities: ['46700000001'],
      message_content_type: 'CONTENT_MARKETING',
    });
    expect(check.status).toBe(200);
    expect(check.body.results[0].decision).toBe('BLOCK');
  });

  it('rejects invalid api-key requests with a 400 naming the field, and creates nothing', async () => {
    const tag = `bad-${randomBytes(4).toString('hex')}`;
    const cases: [unknown, string][] = [
      [{ name: '', scopes: ['read'] }, 'name'],
      [{ scopes: ['read'] }, 'name'],
      [{ name: `${tag}-1`, scopes: ['read', 'superuser'] }, 'scopes'],
      [{ name: `${tag}-2`, scopes: [] }, 'scopes'],
      [{ name: `${tag}-3` }, 'scopes'],
      [{ name: `${tag}-4`, scopes: 'read' }, 'scopes'],
      [{ name: `${tag}-5`, scopes: ['read', 'read'] }, 'scopes'],
      [{ name: `${tag}-6`, scopes: [7] }, 'scopes'],
      [{ name: `${tag}-7${'x'.repeat(100)}`, scopes: ['read'] }, 'name'],
      [{ name: `${tag}-8\nnewline`, scopes: ['read'] }, 'name'],
      [{ name: 42, scopes: ['read'] }, 'name'],
      [{ name: `${tag}-9`, scopes: ['read'], key_secret: 'chosen-by-me-0123456789' }, 'key_secret'],
    ];
    const before = (await admin.get('/v1/api-keys')).body.api_keys as { name: string }[];
    for (const [body, field] of cases) {
      const res = await admin.post('/v1/api-keys', body);
      const fields = violatedFields(res);
      expect({ body, fields }).toEqual({ body, fields: expect.arrayContaining([field]) });
      expect(res.body.error.message).toContain(field);
    }
    // Not JSON at all.
    expectError(await admin.post('/v1/api-keys', '{"name": "x", '), 400, 'INVALID_ARGUMENT');

    const after = (await admin.get('/v1/api-keys')).body.api_keys as { name: string }[];
    expect(after.filter((k) => typeof k.name === 'string' && k.name.startsWith(tag))).toEqual([]);
    expect(after.filter((k) => k.name === '' || (k.name as unknown) === 42)).toEqual([]);
    // Other test files may mint keys concurrently, so only keys of this test are counted exactly;
    // nothing that existed before disappeared.
    expect(after.length).toBeGreaterThanOrEqual(before.length);
  });

  it('shows the key secret once: the list never has secrets or hashes', async () => {
    const start = Date.now();
    const name = `auth-e2e-once-${randomBytes(4).toString('hex')}`;
    const res = await admin.post('/v1/api-keys', { name, scopes: ['write', 'read'] });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual([
      'created_at',
      'key_id',
      'key_secret',
      'name',
      'revoked_at',
      'scopes',
    ]);
    const { key_id, key_secret } = res.body as { key_id: string; key_secret: string };
    expect(key_id).toMatch(ULID);
    expect(key_secret.startsWith(`cg_${key_id}_`)).toBe(true);
    expect(key_secret.length).toBeGreaterThanOrEqual(`cg_${key_id}_`.length + 43);
    expect(res.body).toMatchObject({ name, scopes: ['read', 'write'], revoked_at: null });
    const created = Date.parse(res.body.created_at);
    expect(created).toBeGreaterThanOrEqual(start - 2000);
    expect(created).toBeLessThanOrEqual(Date.now() + 2000);

    // The secret works as a bearer token.
    expect((await admin.as(key_secret).get(`${newApp().base}/consents/OPT_OUT_ALL`)).status).toBe(
      200,
    );

    const raw = await fetch(`${t.baseUrl}/v1/api-keys`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}` },
    });
    expect(raw.status).toBe(200);
    const text = await raw.text();
    expect(text).not.toContain(key_secret);
    expect(text).not.toContain(key_secret.slice(`cg_${key_id}_`.length));
    expect(text).not.toContain(createHash('sha256').update(key_secret).digest('hex'));
    const all = JSON.parse(text).api_keys as any[];
    // No entry, of this key or any other, carries more than these fields (no secret, no hash).
    for (const k of all)
      expect(Object.keys(k).sort()).toEqual([
        'created_at',
        'key_id',
        'name',
        'revoked_at',
        'scopes',
      ]);
    const listed = all.filter((k) => k.key_id === key_id);
    expect(listed).toHaveLength(1);
    expect(Object.keys(listed[0]).sort()).toEqual([
      'created_at',
      'key_id',
      'name',
      'revoked_at',
      'scopes',
    ]);
    expect(listed[0]).toEqual({
      key_id,
      name,
      scopes: ['read', 'write'],
      created_at: res.body.created_at,
      revoked_at: null,
    });

    // Another key gets another secret.
    const other = await mintKey(admin, ['read', 'write']);
    expect(other.key_id).not.toBe(key_id);
    expect(other.key_secret).not.toBe(key_secret);
  });

  it('OAuth2: good Basic credentials give a JWT bearer token carrying the key and its scopes', async () => {
    const { base } = newApp();
    const key = await mintKey(admin, ['read', 'write']);
    const before = Math.floor(Date.now() / 1000);
    const res = await tokenRequest(t.baseUrl, basic(key.key_id, key.key_secret));
    const after = Math.ceil(Date.now() / 1000);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual([
      'access_token',
      'expires_in',
      'scope',
      'token_type',
    ]);
    expect(res.body).toMatchObject({ token_type: 'bearer', scope: 'read write', expires_in: 3600 });

    const { header, payload } = decodeJwt(res.body.access_token);
    expect(header.alg).toBe('HS256');
    expect(payload.sub).toBe(key.key_id);
    expect(payload.iss).toBe(ISSUER);
    expect(payload.iat).toBeGreaterThanOrEqual(before - 1);
    expect(payload.iat).toBeLessThanOrEqual(after + 1);
    expect(payload.exp).toBeGreaterThanOrEqual(before + res.body.expires_in - 1);
    expect(payload.exp).toBeLessThanOrEqual(after + res.body.expires_in + 1);
    expect(JSON.stringify(payload)).not.toContain(key.key_secret);

    const bearer = admin.as(res.body.access_token);
    expect(
      (await bearer.put(`${base}/identities/46700000001/opt-outs/OPT_OUT_MARKETING`)).status,
    ).toBe(200);
    const list = await bearer.get(`${base}/consents/OPT_OUT_MARKETING`);
    expect(list.status).toBe(200);
    expect(list.body.identities).toEqual([{ identity: '46700000001' }]);
    // The token is no admin token.
    expectError(
      await bearer.put(`${base}/consent-settings`, { mode: 'SECONDARY' }),
      403,
      'PERMISSION_DENIED',
    );

    // A read-only key's token is read-only too.
    const reader = await mintKey(admin, ['read']);
    const readerToken = await tokenRequest(t.baseUrl, basic(reader.key_id, reader.key_secret));
    expect(readerToken.body.scope).toBe('read');
    const readerApi = admin.as(readerToken.body.access_token);
    expect((await readerApi.get(`${base}/consents/OPT_OUT_MARKETING`)).status).toBe(200);
    expectError(
      await readerApi.delete(`${base}/identities/46700000001/opt-outs/OPT_OUT_MARKETING`),
      403,
      'PERMISSION_DENIED',
    );
    expect((await admin.get(`${base}/consents/OPT_OUT_MARKETING`)).body.identities).toEqual([
      { identity: '46700000001' },
    ]);

    // The token endpoint does not accept the token (or anything but Basic) as credentials.
    expectError(
      await tokenRequest(t.baseUrl, `Bearer ${res.body.access_token}`),
      401,
      'UNAUTHENTICATED',
    );
  });

  it('OAuth2: wrong or mismatched credentials are 401, a bad grant_type is 400', async () => {
    const key = await mintKey(admin, ['read']);
    const other = await mintKey(admin, ['read']);
    for (const [what, authorization] of [
      ['wrong secret', basic(key.key_id, `${key.key_secret}x`)],
      ['truncated secret', basic(key.key_id, key.key_secret.slice(0, -1))],
      ['another key id with this secret', basic(other.key_id, key.key_secret)],
      ['unknown key id', basic('01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A', key.key_secret)],
      ['admin key id with this secret', basic('admin', key.key_secret)],
      ['this key id with the admin secret', basic(key.key_id, ADMIN_KEY)],
      ['empty key id', basic('', key.key_secret)],
      ['no colon', `Basic ${Buffer.from(key.key_secret).toString('base64')}`],
      ['bearer secret', `Bearer ${key.key_secret}`],
    ] as const) {
      const res = await tokenRequest(t.baseUrl, authorization);
      expect({ what, status: res.status }).toEqual({ what, status: 401 });
      expectError(res, 401, 'UNAUTHENTICATED');
      expect(res.body.access_token).toBeUndefined();
    }
    expectError(await tokenRequest(t.baseUrl, null), 401, 'UNAUTHENTICATED');

    const good = basic(key.key_id, key.key_secret);
    for (const form of [
      null,
      '',
      'scope=read',
      'grant_type=password',
      'grant_type=client_credentialsx',
      'grant_type=',
    ]) {
      const res = await tokenRequest(t.baseUrl, good, form);
      expect({ form, status: res.status }).toEqual({ form, status: 400 });
      expect(violatedFields(res)).toEqual(['grant_type']);
    }
    // Control: the same credentials with the right grant type.
    expect((await tokenRequest(t.baseUrl, good)).status).toBe(200);
  });

  it('OAuth2: tokens are accepted by every instance sharing the database', async () => {
    const key = await mintKey(admin, ['read']);
    const token = await accessToken(t.baseUrl, key);
    const second = await startTestApp();
    try {
      const res = await new Api(second.baseUrl, token).get(`${newApp().base}/consents/OPT_OUT_ALL`);
      expect(res.status).toBe(200);
    } finally {
      await second.close();
    }
  });
});

describe('revocation and forged tokens (AUTH_CACHE_TTL_MS=0, known TOKEN_SIGNING_SECRET)', () => {
  const signingSecret = `test-signing-secret-${randomBytes(16).toString('hex')}`;
  const signingKey = new TextEncoder().encode(signingSecret);
  let t: TestApp;
  let admin: Api;

  beforeAll(async () => {
    t = await startTestApp({ AUTH_CACHE_TTL_MS: '0', TOKEN_SIGNING_SECRET: signingSecret });
    admin = new Api(t.baseUrl);
  });
  afterAll(() => t.close());

  function sign(
    claims: Record<string, unknown>,
    opts: {
      key?: Uint8Array;
      issuer?: string | null;
      subject?: string;
      iat?: number;
      exp?: number;
    } = {},
  ): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    let jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
      .setIssuedAt(opts.iat ?? now)
      .setExpirationTime(opts.exp ?? now + 600);
    if (opts.issuer !== null) jwt = jwt.setIssuer(opts.issuer ?? ISSUER);
    if (opts.subject !== undefined) jwt = jwt.setSubject(opts.subject);
    return jwt.sign(opts.key ?? signingKey);
  }

  it('a revoked key: its secret, its already-issued access token and new token requests all get 401', async () => {
    const { base } = newApp();
    const key = await mintKey(admin, ['read', 'write']);
    const bystander = await mintKey(admin, ['read']);
    const token = await accessToken(t.baseUrl, key);
    const path = `${base}/consents/OPT_OUT_MARKETING`;
    expect((await admin.as(key.key_secret).get(path)).status).toBe(200);
    expect((await admin.as(token).get(path)).status).toBe(200);

    const revoke = await admin.delete(`/v1/api-keys/${key.key_id}`);
    expect(revoke.status).toBe(200);
    expect(revoke.body).toMatchObject({
      key_id: key.key_id,
      name: key.name,
      scopes: ['read', 'write'],
    });
    expect(Date.parse(revoke.body.revoked_at)).not.toBeNaN();
    expect(revoke.body.key_secret).toBeUndefined();

    expectError(await admin.as(key.key_secret).get(path), 401, 'UNAUTHENTICATED');
    expectError(await admin.as(token).get(path), 401, 'UNAUTHENTICATED');
    expectError(
      await admin.as(token).put(`${base}/identities/46700000001/opt-outs/OPT_OUT_MARKETING`),
      401,
      'UNAUTHENTICATED',
    );
    expectError(
      await tokenRequest(t.baseUrl, basic(key.key_id, key.key_secret)),
      401,
      'UNAUTHENTICATED',
    );
    expect((await admin.get(path)).body.identities).toEqual([]);

    const listed = ((await admin.get('/v1/api-keys')).body.api_keys as any[]).find(
      (k) => k.key_id === key.key_id,
    );
    expect(listed.revoked_at).toBe(revoke.body.revoked_at);

    // Revoking again is harmless and keeps the first revocation time.
    const again = await admin.delete(`/v1/api-keys/${key.key_id}`);
    expect(again.status).toBe(200);
    expect(again.body.revoked_at).toBe(revoke.body.revoked_at);

    // Other keys are unaffected.
    expect((await admin.as(bystander.key_secret).get(path)).status).toBe(200);
    expect((await admin.as(await accessToken(t.baseUrl, bystander)).get(path)).status).toBe(200);

    expectError(await admin.delete('/v1/api-keys/01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A'), 404, 'NOT_FOUND');
    expect(violatedFields(await admin.delete('/v1/api-keys/not-a-key-id'))).toEqual(['key_id']);
    // Only admins revoke.
    expectError(
      await admin.as(bystander.key_secret).delete(`/v1/api-keys/${bystander.key_id}`),
      403,
      'PERMISSION_DENIED',
    );
  });

  it('forged, expired, tampered or foreign JWTs get 401; a correctly signed one is the control', async () => {
    const { base } = newApp();
    const path = `${base}/consents/OPT_OUT_MARKETING`;
    const key = await mintKey(admin, ['read']);
    const as = (token: string) => admin.as(token).get(path);

    // Control: signed with the service's key, the shape the service issues: accepted.
    const valid = await sign({ scope: 'read' }, { subject: key.key_id });
    expect((await as(valid)).status).toBe(200);

    const now = Math.floor(Date.now() / 1000);
    const forged: [string, string][] = [
      [
        'other secret',
        await sign(
          { scope: 'read' },
          { subject: key.key_id, key: new TextEncoder().encode(`x${signingSecret}`) },
        ),
      ],
      [
        'expired',
        await sign({ scope: 'read' }, { subject: key.key_id, iat: now - 7200, exp: now - 120 }),
      ],
      [
        'wrong issuer',
        await sign({ scope: 'read' }, { subject: key.key_id, issuer: 'auth.sinch.com' }),
      ],
      ['no issuer', await sign({ scope: 'read' }, { subject: key.key_id, issuer: null })],
      ['no subject', await sign({ scope: 'read' })],
      ['no scope', await sign({}, { subject: key.key_id })],
      ['unknown key', await sign({ scope: 'read' }, { subject: '01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A' })],
    ];
    // alg "none" with the real claims.
    const unsignedHeader = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString(
      'base64url',
    );
    const validPayload = valid.split('.')[1]!;
    forged.push(['alg none', `${unsignedHeader}.${validPayload}.AAAA`]);
    // A real token with its scope raised to admin, signature kept.
    const real = await accessToken(t.baseUrl, key);
    const [h, p, s] = real.split('.');
    const raised = { ...JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')), scope: 'admin' };
    forged.push([
      'tampered scope',
      `${h}.${Buffer.from(JSON.stringify(raised)).toString('base64url')}.${s}`,
    ]);
    // A real token whose subject is swapped to the bootstrap admin.
    const swapped = { ...JSON.parse(Buffer.from(p!, 'base64url').toString('utf8')), sub: 'admin' };
    forged.push([
      'tampered subject',
      `${h}.${Buffer.from(JSON.stringify(swapped)).toString('base64url')}.${s}`,
    ]);

    for (const [what, token] of forged) {
      const res = await as(token);
      expect({ what, status: res.status }).toEqual({ what, status: 401 });
      expectError(res, 401, 'UNAUTHENTICATED');
    }
    // The tampered admin token cannot change settings either (401, not 200 or 403).
    expectError(
      await admin
        .as(forged.find(([w]) => w === 'tampered scope')![1])
        .put(`${base}/consent-settings`, { mode: 'SECONDARY' }),
      401,
      'UNAUTHENTICATED',
    );
    expect((await admin.get(`${base}/consent-settings`)).body.configured).toBe(false);

    // The real, untampered token works.
    expect((await as(real)).status).toBe(200);
  });

  it('a token issued by an instance with another signing key is refused', async () => {
    const other = await startTestApp({
      TOKEN_SIGNING_SECRET: `another-signing-secret-${randomBytes(16).toString('hex')}`,
    });
    try {
      const key = await mintKey(new Api(other.baseUrl), ['read']);
      const foreign = await accessToken(other.baseUrl, key);
      const path = `${newApp().base}/consents/OPT_OUT_ALL`;
      expect((await new Api(other.baseUrl, foreign).get(path)).status).toBe(200);
      expectError(await admin.as(foreign).get(path), 401, 'UNAUTHENTICATED');
      // The key itself is shared through the database and works here.
      expect((await admin.as(key.key_secret).get(path)).status).toBe(200);
    } finally {
      await other.close();
    }
  });
});
