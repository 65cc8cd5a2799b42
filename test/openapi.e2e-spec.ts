import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { OpenAPIObject } from '@nestjs/swagger';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { openApiProblems } from '../src/openapi-document.js';
import { Api, newApp, Res, startTestApp, TestApp } from './utils.js';

/** The application/json example of an operation's response, as documented. */
function documented(doc: OpenAPIObject, method: string, path: string, status: number): unknown {
  const op = (doc.paths[path] as Record<string, any> | undefined)?.[method];
  const example = op?.responses?.[String(status)]?.content?.['application/json']?.example;
  if (example === undefined) throw new Error(`${method} ${path} documents no ${status} example`);
  return example;
}

describe('OpenAPI document', () => {
  let doc: OpenAPIObject;
  let t: TestApp;
  let api: Api;

  beforeAll(async () => {
    // The committed document (the next test checks it is what the code generates), and a running
    // service to compare it with. Not generated in Jest: there Terminus cannot load the Swagger
    // decorators and the health endpoints lose their documentation.
    doc = JSON.parse(readFileSync('openapi.json', 'utf8')) as OpenAPIObject;
    t = await startTestApp();
    api = new Api(t.baseUrl);
  });
  afterAll(async () => {
    await t?.close();
  });

  it('describes every response, shows each error response with an example of its status, and an example of every path parameter', () => {
    expect(openApiProblems(doc)).toEqual([]);
    // Not vacuous: the document has error responses and path parameters to check.
    const ops = Object.values(doc.paths).flatMap((item) => Object.values(item) as any[]);
    const errorResponses = ops.flatMap((op) =>
      Object.keys(op?.responses ?? {}).filter((s) => Number(s) >= 400),
    );
    expect(errorResponses.length).toBeGreaterThan(100);
    expect(
      ops.flatMap((op) => (op?.parameters ?? []).filter((p: any) => p.in === 'path')).length,
    ).toBeGreaterThan(80);
  });

  it('is what the built code generates, with no gap (npm run openapi:check)', () => {
    const r = spawnSync(process.execPath, ['dist/src/scripts/write-openapi.js', '--check'], {
      encoding: 'utf8',
    });
    expect({ code: r.status, out: r.stdout, err: r.stderr }).toEqual({
      code: 0,
      out: 'openapi.json is up to date\n',
      err: '',
    });
  });

  it('names each gap: no description, an example of another status, a path parameter without example', () => {
    const broken = structuredClone(doc);
    const op = (broken.paths['/v1/api-keys/{key_id}'] as any).delete;
    delete op.responses['200'].description;
    op.responses['401'] = (broken.paths['/v1/api-keys'] as any).post.responses['400'];
    delete op.parameters.find((p: any) => p.name === 'key_id').schema.example;
    expect(openApiProblems(broken)).toEqual([
      'DELETE /v1/api-keys/{key_id} 200: no description',
      "DELETE /v1/api-keys/{key_id} 401: the application/json example's error.code is 400",
      'DELETE /v1/api-keys/{key_id}: path parameter key_id has no example',
    ]);
  });

  /** The service answers exactly the documented example. */
  async function expectDocumented(
    res: Res,
    method: string,
    path: string,
    status: number,
  ): Promise<void> {
    expect({ status: res.status, body: res.body }).toEqual({
      status,
      body: documented(doc, method, path, status),
    });
  }

  it('its 401, 403 and 400 examples are what the service answers', async () => {
    const { base } = newApp();
    const settings = '/v1/projects/{project_id}/apps/{app_id}/consent-settings';
    await expectDocumented(
      await api.as(null).get(`${base}/consent-settings`),
      'get',
      settings,
      401,
    );

    const minted = await api.post('/v1/api-keys', { name: 'reader', scopes: ['read'] });
    expect(minted.status).toBe(201);
    const reader = api.as(minted.body.key_secret);
    await expectDocumented(
      await reader.put(`${base}/consent-settings`, { mode: 'PRIMARY' }),
      'put',
      settings,
      403,
    );
    await expectDocumented(
      await api.put(
        '/v1/projects/c36f3d3d-1523-4edd-ae42-11995557ff61/apps/my%20app/consent-settings',
        { mode: 'PRIMARY' },
      ),
      'put',
      settings,
      400,
    );
    await expectDocumented(
      await api.post('/v1/api-keys', { name: 'billing-service', scopes: ['owner'] }),
      'post',
      '/v1/api-keys',
      400,
    );
    await expectDocumented(
      await api.get(`${base}/audit-records:export?from=2026-11-01`),
      'get',
      '/v1/projects/{project_id}/apps/{app_id}/audit-records:export',
      400,
    );
    await expectDocumented(
      await api.as(null).post('/webhooks/sinch', {
        app_id: '01EB37HMH1M6SV18ABNS3G135H',
        project_id: 'c36f3d3d-1523-4edd-ae42-11995557ff61',
      }),
      'post',
      '/webhooks/sinch',
      400,
    );
  });

  it('its 404 and 409 examples are what the service answers', async () => {
    const { base } = newApp();
    await expectDocumented(
      await api.delete('/v1/api-keys/01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A'),
      'delete',
      '/v1/api-keys/{key_id}',
      404,
    );
    await expectDocumented(
      await api.get(`${base}/imports/01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A`),
      'get',
      '/v1/projects/{project_id}/apps/{app_id}/imports/{import_id}',
      404,
    );
    await expectDocumented(
      await api.delete(`${base}/callbacks/01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A`),
      'delete',
      '/v1/projects/{project_id}/apps/{app_id}/callbacks/{callback_id}',
      404,
    );
    await expectDocumented(
      await api.post(`${base}/audit:checkpoint`),
      'post',
      '/v1/projects/{project_id}/apps/{app_id}/audit:checkpoint',
      409,
    );
  });
});
