// The official Sinch Node SDK (@sinch/sdk-core) as the oracle for the Sinch-compatible endpoints.
//
// How the SDK reaches this service (verified against node_modules/@sinch/sdk-client 1.5.0 and
// @sinch/conversation 1.4.0, not guessed):
// - Oauth2TokenRequest uses `authHostname` as the hostname of its own client, and OAuth2Api POSTs
//   `${authHostname}/oauth2/token` (form body grant_type=client_credentials, HTTP Basic
//   keyId:keySecret). So authHostname is scheme + host + port, with no path.
// - ConsentsApi builds `${conversationHostname}/v1/projects/${projectId}/apps/${app_id}/consents/...`
//   and sends `Authorization: Bearer <access_token>`; the token is cached until 60 s before its
//   JWT `exp`. It retries once on a 401 only when WWW-Authenticate mentions "expired".
// - listIdentities paginates with PaginationEnum.TOKEN2 (next_page_token -> ?page_token=) and
//   query values are NOT URL-encoded; listAuditRecords does not encode the identity either, so the
//   identities used here are URL-safe.
// - Responses pass through reviveDates(): ISO date strings become Date objects.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RequestFailedError, SinchClient } from '@sinch/sdk-core';
import type { Conversation } from '@sinch/sdk-core';
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Api, newApp, startTestApp, TestApp } from './utils.js';

type ListType = 'OPT_OUT_ALL' | 'OPT_OUT_MARKETING' | 'OPT_OUT_NOTIFICATION';

interface MintedKey {
  key_id: string;
  key_secret: string;
}

interface SeenRequest {
  method: string;
  path: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

/** A transparent HTTP proxy in front of the service that records every request it forwards. */
class RecordingProxy {
  readonly seen: SeenRequest[] = [];
  private server?: Server;
  url = '';

  constructor(private readonly target: string) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => void this.forward(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private async forward(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks);
    const header = (name: string): string | undefined => {
      const v = req.headers[name];
      return Array.isArray(v) ? v.join(', ') : v;
    };
    this.seen.push({
      method: req.method ?? '',
      path: req.url ?? '',
      authorization: header('authorization'),
      contentType: header('content-type'),
      body: body.toString('utf8'),
    });
    try {
      const headers = new Headers();
      for (const [k, v] of Object.entries(req.headers)) {
        if (typeof v !== 'string') continue;
        if (
          ['host', 'connection', 'content-length', 'transfer-encoding', 'accept-encoding'].includes(
            k,
          )
        )
          continue;
        headers.set(k, v);
      }
      const upstream = await fetch(this.target + (req.url ?? '/'), {
        method: req.method,
        headers,
        body: body.length > 0 ? body : undefined,
      });
      const payload = Buffer.from(await upstream.arrayBuffer());
      const out: Record<string, string> = {};
      upstream.headers.forEach((v, k) => {
        if (
          ![
            'content-length',
            'content-encoding',
            'transfer-encoding',
            'connection',
            'keep-alive',
          ].includes(k)
        )
          out[k] = v;
      });
      res.writeHead(upstream.status, out);
      res.end(payload);
    } catch (e) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(String(e));
    }
  }
}

function decodeJwtPayload(jwt: string): Record<string, unknown> {
  const parts = jwt.split('.');
  expect(parts).toHaveLength(3);
  return JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

/** What a rejected SDK promise carried: the HTTP status, the SDK operation, the parsed body. */
async function sdkFailure(
  p: Promise<unknown>,
): Promise<{ status: number; message: string; body: any }> {
  let caught: unknown;
  try {
    await p;
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(RequestFailedError);
  const err = caught as RequestFailedError<unknown>;
  return {
    status: err.statusCode,
    message: err.message,
    body: err.data ? JSON.parse(err.data) : undefined,
  };
}

describe('Sinch SDK (@sinch/sdk-core) against the Sinch-compatible endpoints', () => {
  let t: TestApp;
  let api: Api;

  beforeAll(async () => {
    // Cache off, so that a revoked key is refused on the very next request.
    t = await startTestApp({ AUTH_CACHE_TTL_MS: '0' });
    api = new Api(t.baseUrl);
  });
  afterAll(() => t.close());

  async function mintKey(scopes: string[] = ['read', 'write']): Promise<MintedKey> {
    const res = await api.post('/v1/api-keys', { name: `sdk-e2e-${scopes.join('-')}`, scopes });
    expect(res.status).toBe(201);
    expect(typeof res.body.key_id).toBe('string');
    expect(typeof res.body.key_secret).toBe('string');
    return { key_id: res.body.key_id, key_secret: res.body.key_secret };
  }

  function sdk(projectId: string, key: MintedKey, hostname: string = t.baseUrl): SinchClient {
    return new SinchClient({
      projectId,
      keyId: key.key_id,
      keySecret: key.key_secret,
      authHostname: hostname,
      conversationHostname: hostname,
      logger: null,
    });
  }

  async function batchInsert(
    projectId: string,
    appId: string,
    records: [string, ListType][],
  ): Promise<void> {
    const res = await api.post(`/v1/projects/${projectId}/consents`, {
      app_id: appId,
      consent_records: records.map(([identification, consent_type]) => ({
        identification,
        consent_type,
      })),
    });
    expect(res.status).toBe(200);
    expect(res.body.batch_id).toMatch(/^[0-9A-Z]{26}$/);
  }

  /** All identities of a list through the REST API, page by page; also checks the page shape. */
  async function restWalk(
    base: string,
    listType: ListType,
    pageSize: number,
  ): Promise<{ pages: string[][]; tokens: string[] }> {
    const pages: string[][] = [];
    const tokens: string[] = [];
    let token = '';
    for (let guard = 0; guard < 100; guard++) {
      const q = `page_size=${pageSize}` + (token ? `&page_token=${encodeURIComponent(token)}` : '');
      const res = await api.get(`${base}/consents/${listType}?${q}`);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(['identities', 'next_page_token']);
      const ids = (res.body.identities as { identity: string }[]).map((i) => {
        expect(Object.keys(i)).toEqual(['identity']);
        return i.identity;
      });
      pages.push(ids);
      token = res.body.next_page_token;
      tokens.push(token);
      if (token === '') return { pages, tokens };
      expect(ids).toHaveLength(pageSize);
    }
    throw new Error('REST pagination did not end');
  }

  /**
   * 24 identities into OPT_OUT_MARKETING (in assorted phone formats), one of them opted back in,
   * plus rows that must never show up on that list: other lists, another app, another project.
   * Returns the 23 normalised identities expected on the list.
   */
  async function seedMarketing(projectId: string, appId: string): Promise<string[]> {
    const formats = [
      (d: string) => `+${d}`,
      (d: string) => d,
      (d: string) => `+${d.slice(0, 2)} ${d.slice(2, 4)}-${d.slice(4, 7)} ${d.slice(7)}`,
      (d: string) => `(${d.slice(0, 3)}) ${d.slice(3)}`,
    ];
    const digits = Array.from({ length: 24 }, (_, i) =>
      // Varying lengths so that string order is not plain numeric order.
      i % 5 === 0 ? `467${String(1000000 + i * 7919)}` : `4670${String(2000000 + i * 104729)}`,
    );
    expect(new Set(digits).size).toBe(24);
    const records: [string, ListType][] = digits.map((d, i) => [
      formats[i % formats.length]!(d),
      'OPT_OUT_MARKETING',
    ]);
    // Other lists of the same app: not on OPT_OUT_MARKETING.
    records.push(
      ['+1 555 010 0001', 'OPT_OUT_NOTIFICATION'],
      ['15550100002', 'OPT_OUT_NOTIFICATION'],
      ['15550100003', 'OPT_OUT_ALL'],
    );
    // An identity on MARKETING and NOTIFICATION both: listed once.
    records.push([digits[3]!, 'OPT_OUT_NOTIFICATION']);
    await batchInsert(projectId, appId, records);
    // The same list type in another app of the project, and the same app id in another project.
    await batchInsert(projectId, `${appId}-other`, [['15550100004', 'OPT_OUT_MARKETING']]);
    await batchInsert(`${projectId}-other`, appId, [['15550100005', 'OPT_OUT_MARKETING']]);
    // Opted back in: no longer on the list.
    const gone = digits[10]!;
    const del = await api.delete(
      `/v1/projects/${projectId}/apps/${appId}/identities/${gone}/opt-outs/OPT_OUT_MARKETING`,
    );
    expect(del.status).toBe(200);
    expect(del.body).toMatchObject({
      outcome: 'APPLIED',
      operation: 'OPERATION_DELETE',
      opted_out: false,
    });
    return digits.filter((d) => d !== gone);
  }

  it('listIdentities: the awaited call is the first page, with hasNextPage and a working nextPage()', async () => {
    const { projectId, appId, base } = newApp();
    const expected = await seedMarketing(projectId, appId);
    expect(expected).toHaveLength(23);
    const rest = await restWalk(base, 'OPT_OUT_MARKETING', 5);
    const sinch = sdk(projectId, await mintKey());

    const first = await sinch.conversation.consents.listIdentities({
      app_id: appId,
      list_type: 'OPT_OUT_MARKETING',
      page_size: 5,
    });
    expect(first.data).toHaveLength(5);
    expect(first.data).toEqual(rest.pages[0]!.map((identity) => ({ identity })));
    expect(first.hasNextPage).toBe(true);
    // The SDK keeps next_page_token JSON-encoded.
    expect(JSON.parse(first.nextPageValue)).toBe(rest.tokens[0]);

    const second = await first.nextPage();
    expect(second.data.map((i) => i.identity)).toEqual(rest.pages[1]);
    expect(second.hasNextPage).toBe(true);

    // A page size that fits everything: one page, and the SDK sees that it is the last.
    const all = await sinch.conversation.consents.listIdentities({
      app_id: appId,
      list_type: 'OPT_OUT_MARKETING',
      page_size: 50,
    });
    expect(all.data).toHaveLength(23);
    expect(all.hasNextPage).toBe(false);

    // An app with nothing on the list: no data, no next page.
    const empty = await sinch.conversation.consents.listIdentities({
      app_id: `${appId}-empty`,
      list_type: 'OPT_OUT_MARKETING',
    });
    expect(empty.data).toEqual([]);
    expect(empty.hasNextPage).toBe(false);
  });

  it('listIdentities: for await yields all 23 exactly once, in the REST API order, stable across page sizes', async () => {
    const { projectId, appId, base } = newApp();
    const expected = await seedMarketing(projectId, appId);
    const sinch = sdk(projectId, await mintKey());

    const collect = async (pageSize: number): Promise<string[]> => {
      const out: string[] = [];
      for await (const item of sinch.conversation.consents.listIdentities({
        app_id: appId,
        list_type: 'OPT_OUT_MARKETING',
        page_size: pageSize,
      })) {
        out.push(item.identity);
        if (out.length > 200) throw new Error('SDK iteration does not end');
      }
      return out;
    };

    const viaSdk = await collect(5);
    expect(viaSdk).toHaveLength(23);
    expect(new Set(viaSdk).size).toBe(23);
    expect([...viaSdk].sort()).toEqual([...expected].sort());

    const rest5 = await restWalk(base, 'OPT_OUT_MARKETING', 5);
    expect(rest5.pages.map((p) => p.length)).toEqual([5, 5, 5, 5, 3]);
    expect(viaSdk).toEqual(rest5.pages.flat());
    const rest50 = await restWalk(base, 'OPT_OUT_MARKETING', 50);
    expect(rest50.pages).toHaveLength(1);
    expect(viaSdk).toEqual(rest50.pages[0]);
    // Page boundaries at other places give the same sequence.
    expect(await collect(7)).toEqual(viaSdk);
    expect(await collect(1)).toEqual(viaSdk);

    // The other lists hold exactly what was put there, and nothing leaks between them.
    const notification = await collectList(sinch, appId, 'OPT_OUT_NOTIFICATION');
    expect([...notification].sort()).toEqual(['15550100001', '15550100002', expected[3]!].sort());
    expect(await collectList(sinch, appId, 'OPT_OUT_ALL')).toEqual(['15550100003']);
  });

  async function collectList(
    sinch: SinchClient,
    appId: string,
    listType: ListType,
  ): Promise<string[]> {
    const out: string[] = [];
    for await (const item of sinch.conversation.consents.listIdentities({
      app_id: appId,
      list_type: listType,
      page_size: 2,
    })) {
      out.push(item.identity);
      if (out.length > 200) throw new Error('SDK iteration does not end');
    }
    return out;
  }

  it('listAuditRecords: Sinch enum values, and OPERATION_UPDATE / OPERATION_DELETE after later changes', async () => {
    const { projectId, appId, base } = newApp();
    const sinch = sdk(projectId, await mintKey());
    const before = Date.now();
    await batchInsert(projectId, appId, [
      ['+46 73-200 11 22', 'OPT_OUT_MARKETING'],
      ['46732001122', 'OPT_OUT_NOTIFICATION'],
      ['46732009999', 'OPT_OUT_MARKETING'],
    ]);

    const first: Conversation.AuditRecordsList = await sinch.conversation.consents.listAuditRecords(
      {
        app_id: appId,
        identity: '46732001122',
      },
    );
    expect(first.identity).toEqual({ identity: '46732001122' });
    expect(first.audit_records).toHaveLength(2);
    const byList = new Map(first.audit_records!.map((r) => [r.list_type, r]));
    for (const listType of ['OPT_OUT_MARKETING', 'OPT_OUT_NOTIFICATION']) {
      const r = byList.get(listType)!;
      expect(r).toBeDefined();
      expect(Object.keys(r).sort()).toEqual([
        'app_id',
        'datetime',
        'list_type',
        'operation',
        'origin',
        'project_id',
      ]);
      expect(r).toMatchObject({
        origin: 'ORIGIN_API',
        operation: 'OPERATION_INSERT',
        list_type: listType,
        project_id: projectId,
        app_id: appId,
      });
      // reviveDates turned the ISO string into a Date: it was a parseable date-time.
      expect(r.datetime).toBeInstanceOf(Date);
      expect(r.datetime.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(r.datetime.getTime()).toBeLessThanOrEqual(Date.now() + 1000);
    }

    // The same identity again on MARKETING: an UPDATE (no change). Then opted back in: a DELETE.
    await batchInsert(projectId, appId, [['46732001122', 'OPT_OUT_MARKETING']]);
    const del = await api.delete(`${base}/identities/46732001122/opt-outs/OPT_OUT_MARKETING`);
    expect(del.status).toBe(200);

    const after = await sinch.conversation.consents.listAuditRecords({
      app_id: appId,
      identity: '46732001122',
    });
    const records = after.audit_records!;
    expect(records).toHaveLength(4);
    const marketing = records.filter((r) => r.list_type === 'OPT_OUT_MARKETING');
    expect(marketing.map((r) => r.operation)).toEqual([
      'OPERATION_INSERT',
      'OPERATION_UPDATE',
      'OPERATION_DELETE',
    ]);
    expect(
      marketing.every(
        (r) => r.origin === 'ORIGIN_API' && r.project_id === projectId && r.app_id === appId,
      ),
    ).toBe(true);
    // Oldest first.
    const times = records.map((r) => r.datetime.getTime());
    expect([...times].sort((a, b) => a - b)).toEqual(times);

    // The same records, field for field, as the native audit endpoint reports them.
    const native = await api.get(`${base}/identities/46732001122/audit-records`);
    expect(native.status).toBe(200);
    expect(
      records.map((r) => [r.list_type, r.operation, r.origin, r.datetime.toISOString()]),
    ).toEqual(
      (native.body.audit_records as any[]).map((r) => [
        r.list_type,
        r.operation,
        r.origin,
        r.event_time,
      ]),
    );

    // And the list now shows only the other identity.
    const listed = await sinch.conversation.consents.listIdentities({
      app_id: appId,
      list_type: 'OPT_OUT_MARKETING',
    });
    expect(listed.data).toEqual([{ identity: '46732009999' }]);

    // An identity never seen: no records.
    const none = await sinch.conversation.consents.listAuditRecords({
      app_id: appId,
      identity: '46700000000',
    });
    expect(none.identity).toEqual({ identity: '46700000000' });
    expect(none.audit_records).toEqual([]);
  });

  it('goes through OAuth2: one token request with Basic key_id:key_secret, then the JWT as bearer', async () => {
    const proxy = new RecordingProxy(t.baseUrl);
    await proxy.start();
    try {
      const { projectId, appId } = newApp();
      await batchInsert(projectId, appId, [
        ['46700000001', 'OPT_OUT_MARKETING'],
        ['46700000002', 'OPT_OUT_MARKETING'],
      ]);
      const key = await mintKey();
      const sinch = sdk(projectId, key, proxy.url);

      const items: string[] = [];
      for await (const item of sinch.conversation.consents.listIdentities({
        app_id: appId,
        list_type: 'OPT_OUT_MARKETING',
        page_size: 1,
      })) {
        items.push(item.identity);
        if (items.length > 200) throw new Error('SDK iteration does not end');
      }
      expect(items).toEqual(['46700000001', '46700000002']);
      await sinch.conversation.consents.listAuditRecords({
        app_id: appId,
        identity: '46700000001',
      });

      const tokenCalls = proxy.seen.filter((r) => r.path === '/oauth2/token');
      const apiCalls = proxy.seen.filter((r) => r.path.startsWith('/v1/'));
      expect(proxy.seen).toHaveLength(tokenCalls.length + apiCalls.length);
      // One token, reused for every call (2 pages + the audit records).
      expect(tokenCalls).toHaveLength(1);
      expect(proxy.seen[0]!.path).toBe('/oauth2/token');
      const tokenCall = tokenCalls[0]!;
      expect(tokenCall.method).toBe('POST');
      expect(tokenCall.contentType).toBe('application/x-www-form-urlencoded');
      expect(tokenCall.body).toBe('grant_type=client_credentials');
      expect(tokenCall.authorization).toBe(
        `Basic ${Buffer.from(`${key.key_id}:${key.key_secret}`).toString('base64')}`,
      );

      expect(
        apiCalls.map((r) => `${r.method} ${r.path.replace(/page_token=[^&]+/, 'page_token=T')}`),
      ).toEqual([
        `GET /v1/projects/${projectId}/apps/${appId}/consents/OPT_OUT_MARKETING?page_size=1`,
        `GET /v1/projects/${projectId}/apps/${appId}/consents/OPT_OUT_MARKETING?page_size=1&page_token=T`,
        `GET /v1/projects/${projectId}/apps/${appId}/consents/identities/46700000001`,
      ]);
      const bearers = new Set(apiCalls.map((r) => r.authorization));
      expect(bearers.size).toBe(1);
      const bearer = [...bearers][0]!;
      expect(bearer).toMatch(/^Bearer [A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/);
      const jwt = bearer.slice('Bearer '.length);
      expect(jwt).not.toContain(key.key_secret);
      const payload = decodeJwtPayload(jwt);
      expect(payload.sub).toBe(key.key_id);
      expect(payload.exp).toEqual(expect.any(Number));
    } finally {
      await proxy.stop();
    }
  });

  it('fails with 401 from the token endpoint for a wrong keySecret, or a key id that does not own the secret', async () => {
    const proxy = new RecordingProxy(t.baseUrl);
    await proxy.start();
    try {
      const { projectId, appId } = newApp();
      const key = await mintKey();
      const other = await mintKey();

      const wrongSecret = sdk(
        projectId,
        { key_id: key.key_id, key_secret: `${key.key_secret}x` },
        proxy.url,
      );
      const f1 = await sdkFailure(
        wrongSecret.conversation.consents.listIdentities({
          app_id: appId,
          list_type: 'OPT_OUT_MARKETING',
        }),
      );
      expect(f1.status).toBe(401);
      expect(f1.message).toContain('OAuth2Token');
      expect(f1.body).toEqual({
        error: { code: 401, message: expect.any(String), status: 'UNAUTHENTICATED', details: [] },
      });

      const swapped = sdk(
        projectId,
        { key_id: other.key_id, key_secret: key.key_secret },
        proxy.url,
      );
      const f2 = await sdkFailure(
        swapped.conversation.consents.listAuditRecords({ app_id: appId, identity: '46700000001' }),
      );
      expect(f2.status).toBe(401);
      expect(f2.message).toContain('OAuth2Token');

      // Nothing reached the consents endpoints: the SDK stopped at the token endpoint.
      expect(proxy.seen.length).toBeGreaterThanOrEqual(2);
      expect(proxy.seen.every((r) => r.path === '/oauth2/token')).toBe(true);

      // Control: the right pair works through the same proxy.
      const good = sdk(projectId, key, proxy.url);
      const page = await good.conversation.consents.listIdentities({
        app_id: appId,
        list_type: 'OPT_OUT_MARKETING',
      });
      expect(page.data).toEqual([]);
    } finally {
      await proxy.stop();
    }
  });

  it('a revoked key: the cached access token is refused, and no new token is issued', async () => {
    const { projectId, appId } = newApp();
    await batchInsert(projectId, appId, [['46700000001', 'OPT_OUT_MARKETING']]);
    const key = await mintKey();
    const sinch = sdk(projectId, key);
    const ok = await sinch.conversation.consents.listIdentities({
      app_id: appId,
      list_type: 'OPT_OUT_MARKETING',
    });
    expect(ok.data).toEqual([{ identity: '46700000001' }]);

    const revoked = await api.delete(`/v1/api-keys/${key.key_id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.revoked_at).not.toBeNull();

    // Same client: its cached JWT is refused with a challenge saying "expired", so the SDK asks
    // for a new token with the revoked key, which the token endpoint refuses too.
    let refusal: unknown;
    try {
      await sinch.conversation.consents.listIdentities({
        app_id: appId,
        list_type: 'OPT_OUT_MARKETING',
      });
    } catch (e) {
      refusal = e;
    }
    expect(refusal).toBeInstanceOf(Error);
    expect((refusal as Error).message).toMatch(/401|Unauthorized|invalid/i);

    // A new client with the revoked key cannot even get a token.
    const f2 = await sdkFailure(
      sdk(projectId, key).conversation.consents.listAuditRecords({
        app_id: appId,
        identity: '46700000001',
      }),
    );
    expect(f2.status).toBe(401);
    expect(f2.message).toContain('OAuth2Token');
  });

  it('a key without the read scope gets 403 through the SDK', async () => {
    const { projectId, appId } = newApp();
    const sinch = sdk(projectId, await mintKey(['write']));
    const f = await sdkFailure(
      sinch.conversation.consents.listIdentities({ app_id: appId, list_type: 'OPT_OUT_MARKETING' }),
    );
    expect(f.status).toBe(403);
    expect(f.body.error).toMatchObject({ code: 403, status: 'PERMISSION_DENIED' });
  });
});
