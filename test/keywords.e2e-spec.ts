import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { newUlid } from '../src/common/ids.js';
import { ListType } from '../src/consent/domain/consent-types.js';
import { DEFAULT_KEYWORDS } from '../src/keywords/domain/default-keywords.js';
import { KeywordAction } from '../src/keywords/domain/keyword-types.js';
import { KeywordsService } from '../src/keywords/keywords.service.js';
import { Api, newApp, Res, startTestApp, TestApp } from './utils.js';

const ULID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
const BASTA = {
  phrase: 'BASTA',
  action: 'OPT_OUT',
  list_type: 'OPT_OUT_MARKETING',
  language: 'IT',
};

/** The field violations of a 400 (Sinch's error body with a google.rpc.BadRequest detail). */
function violations(res: Res): { field: string; description: string }[] {
  expect({ status: res.status, status_name: res.body?.error?.status }).toEqual({
    status: 400,
    status_name: 'INVALID_ARGUMENT',
  });
  const bad = res.body.error.details.find(
    (d: any) => d['@type'] === 'type.googleapis.com/google.rpc.BadRequest',
  );
  expect(bad).toBeDefined();
  return bad.field_violations;
}

function fields(res: Res): string[] {
  return violations(res).map((v) => v.field);
}

describe('keywords', () => {
  let t: TestApp;
  let api: Api;

  beforeAll(async () => {
    t = await startTestApp({ SETTINGS_CACHE_TTL_MS: '0' });
    api = new Api(t.baseUrl);
  });
  afterAll(() => t.close());

  const custom = async (base: string) => {
    const res = await api.get(`${base}/keywords?source=CUSTOM`);
    expect(res.status).toBe(200);
    return res.body.keywords as any[];
  };
  const dryRun = async (base: string, text: string) => {
    const res = await api.post(`${base}/keywords:dry-run`, { text });
    expect(res.status).toBe(200);
    return res.body;
  };

  it('lists the defaults, creates, lists and deletes a custom keyword', async () => {
    const { base } = newApp();
    const all = await api.get(`${base}/keywords`);
    expect(all.status).toBe(200);
    expect(all.body.keywords).toHaveLength(DEFAULT_KEYWORDS.length);
    expect(all.body.keywords[0]).toEqual({
      id: null,
      phrase: 'STOP',
      action: 'OPT_OUT',
      list_type: 'OPT_OUT_ALL',
      language: 'EN',
      source: 'DEFAULT',
    });
    expect(all.body.keywords.find((k: any) => k.phrase === 'HELP')).toEqual({
      id: null,
      phrase: 'HELP',
      action: 'HELP',
      list_type: null,
      language: 'EN',
      source: 'DEFAULT',
    });
    expect(await custom(base)).toEqual([]);

    const created = await api.post(`${base}/keywords`, { ...BASTA, phrase: '  BASTA ' });
    expect(created.status).toBe(201);
    expect(created.body).toEqual({ id: expect.stringMatching(ULID), ...BASTA, source: 'CUSTOM' });
    const help = await api.post(`${base}/keywords`, {
      phrase: 'Aiuto',
      action: 'HELP',
      language: 'IT',
    });
    expect(help.status).toBe(201);
    expect(help.body).toMatchObject({ phrase: 'Aiuto', action: 'HELP', list_type: null });

    expect(await custom(base)).toEqual([created.body, help.body]);
    const both = (await api.get(`${base}/keywords`)).body.keywords;
    expect(both).toHaveLength(DEFAULT_KEYWORDS.length + 2);
    expect(both.slice(-2)).toEqual([created.body, help.body]);
    const defaults = (await api.get(`${base}/keywords?source=DEFAULT`)).body.keywords;
    expect(defaults).toHaveLength(DEFAULT_KEYWORDS.length);
    expect(defaults.every((k: any) => k.source === 'DEFAULT' && k.id === null)).toBe(true);

    const deleted = await api.delete(`${base}/keywords/${created.body.id}`);
    expect(deleted.status).toBe(200);
    expect(deleted.body).toEqual(created.body);
    expect(await custom(base)).toEqual([help.body]);
    const again = await api.delete(`${base}/keywords/${created.body.id}`);
    expect(again.status).toBe(404);
    expect(again.body.error.status).toBe('NOT_FOUND');
  });

  it.each([
    ['empty phrase', { ...BASTA, phrase: '' }, 'phrase', /must not be empty/],
    ['blank phrase', { ...BASTA, phrase: '   ' }, 'phrase', /must not be empty/],
    ['control characters', { ...BASTA, phrase: 'BAS\nTA' }, 'phrase', /control characters/],
    ['a NUL character', { ...BASTA, phrase: 'BASTA\u0000' }, 'phrase', /NUL characters/],
    ['over 100 characters', { ...BASTA, phrase: 'x'.repeat(101) }, 'phrase', /at most 100/],
    ['no letter or digit', { ...BASTA, phrase: '!!!' }, 'phrase', /letter or digit/],
    ['a non-string phrase', { ...BASTA, phrase: 42 }, 'phrase', /must be a string/],
    ['a missing phrase', { ...BASTA, phrase: undefined }, 'phrase', /must be a string/],
    [
      'the default STOP as OPT_IN',
      { phrase: 'stop', action: 'OPT_IN', list_type: 'OPT_OUT_ALL', language: 'EN' },
      'phrase',
      /clashes with DEFAULT keyword "STOP"/,
    ],
    [
      'a default duplicated',
      { phrase: 'Stop', action: 'OPT_OUT', list_type: 'OPT_OUT_ALL', language: 'EN' },
      'phrase',
      /duplicates DEFAULT keyword "STOP"/,
    ],
    [
      'an FCC revocation word as OPT_IN',
      { phrase: 'Quit', action: 'OPT_IN', list_type: 'OPT_OUT_ALL', language: 'EN' },
      'phrase',
      /FCC per-se revocation word/,
    ],
    ['an unknown action', { ...BASTA, action: 'DELETE' }, 'action', /one of OPT_OUT, OPT_IN, HELP/],
    [
      'HELP with a list_type',
      { phrase: 'Aiuto', action: 'HELP', list_type: 'OPT_OUT_ALL', language: 'IT' },
      'list_type',
      /must be null for HELP/,
    ],
    [
      'OPT_OUT without list_type',
      { phrase: 'BASTA', action: 'OPT_OUT', language: 'IT' },
      'list_type',
      /required for OPT_OUT/,
    ],
    ['an unknown list_type', { ...BASTA, list_type: 'OPT_IN_ALL' }, 'list_type', /required/],
    ['a lower-case language', { ...BASTA, language: 'it' }, 'language', /two-letter upper-case/],
    ['a three-letter language', { ...BASTA, language: 'ITA' }, 'language', /two-letter/],
    ['an unknown field', { ...BASTA, priority: 1 }, 'priority', /should not exist/],
    ['an array body', [BASTA], '', /JSON object/],
  ])('refuses %s with a 400 naming the field, and stores nothing', async (_, body, field, msg) => {
    const { base } = newApp();
    const res = await api.post(`${base}/keywords`, body);
    const v = violations(res);
    expect(v.map((x) => x.field)).toEqual([field]);
    expect(v[0]!.description).toMatch(msg);
    expect(res.body.error.message).toContain(field);
    expect(await custom(base)).toEqual([]);
  });

  it('reports several violations at once', async () => {
    const { base } = newApp();
    const res = await api.post(`${base}/keywords`, {
      phrase: '',
      action: 'X',
      language: 'x',
      extra: true,
    });
    expect(fields(res).sort()).toEqual(['action', 'extra', 'language', 'phrase']);
    expect(await custom(base)).toEqual([]);
  });

  it('refuses a duplicate or clashing custom keyword, keeping the first', async () => {
    const { base } = newApp();
    const first = await api.post(`${base}/keywords`, BASTA);
    expect(first.status).toBe(201);
    const duplicate = violations(await api.post(`${base}/keywords`, { ...BASTA, phrase: 'basta' }));
    expect(duplicate).toEqual([
      {
        field: 'phrase',
        description:
          'phrase "basta" duplicates CUSTOM keyword "BASTA" (OPT_OUT OPT_OUT_MARKETING, IT)',
      },
    ]);
    const clash = violations(
      await api.post(`${base}/keywords`, { ...BASTA, phrase: 'Basta!', action: 'OPT_IN' }),
    );
    expect(clash[0]!.description).toMatch(/clashes with CUSTOM keyword "BASTA"/);
    expect(await custom(base)).toEqual([first.body]);
    // The same phrase is free in another app.
    expect((await api.post(`${newApp().base}/keywords`, BASTA)).status).toBe(201);
  });

  it('lets only one of concurrent creates of the same phrase succeed', async () => {
    const { base } = newApp();
    const results = await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        api.post(`${base}/keywords`, { ...BASTA, phrase: i % 2 ? 'basta' : 'BASTA' }),
      ),
    );
    expect(results.map((r) => r.status).sort()).toEqual([201, 400, 400, 400, 400, 400, 400, 400]);
    for (const r of results.filter((x) => x.status === 400)) {
      expect(violations(r)[0]!.description).toMatch(/duplicates CUSTOM keyword/);
    }
    expect(await custom(base)).toHaveLength(1);

    // Straight to the service, so that the transactions surely overlap.
    const other = newApp();
    const service = t.app.get(KeywordsService);
    const app = { projectId: other.projectId, appId: other.appId };
    const settled = await Promise.allSettled(
      Array.from({ length: 10 }, () =>
        service.create(app, {
          phrase: 'BASTA',
          action: KeywordAction.OPT_OUT,
          list_type: ListType.OPT_OUT_MARKETING,
          language: 'IT',
        }),
      ),
    );
    expect(settled.filter((s) => s.status === 'fulfilled')).toHaveLength(1);
    expect(await custom(other.base)).toHaveLength(1);
  });

  it('refuses more than 500 custom keywords per app', async () => {
    const { projectId, appId, base } = newApp();
    const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await client.connect();
    try {
      await client.query(
        `INSERT INTO custom_keywords (id, project_id, app_id, phrase, action, list_type, language)
         SELECT $1 || lpad(n::text, 6, '0'), $2, $3, 'KW ' || n, 'OPT_OUT', 'OPT_OUT_ALL', 'IT'
           FROM generate_series(1, 500) AS n`,
        [newUlid().slice(0, 20), projectId, appId],
      );
    } finally {
      await client.end();
    }
    const res = await api.post(`${base}/keywords`, BASTA);
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/at most 500 custom keywords/);
    expect(await custom(base)).toHaveLength(500);
  });

  it('refuses a bad source filter, unknown query parameters and a malformed keyword id', async () => {
    const { base } = newApp();
    expect(fields(await api.get(`${base}/keywords?source=OTHER`))).toEqual(['source']);
    expect(fields(await api.get(`${base}/keywords?source=`))).toEqual(['source']);
    expect(fields(await api.get(`${base}/keywords?source=custom`))).toEqual(['source']);
    expect(fields(await api.get(`${base}/keywords?page_size=3`))).toEqual(['page_size']);
    expect(fields(await api.delete(`${base}/keywords/not-an-id`))).toEqual(['keyword_id']);
    expect(fields(await api.delete(`${base}/keywords/${newUlid().toLowerCase()}`))).toEqual([
      'keyword_id',
    ]);
    expect((await api.delete(`${base}/keywords/${newUlid()}`)).status).toBe(404);
    expect(fields(await api.get(`/v1/projects/p/apps/${'x'.repeat(65)}/keywords`))).toEqual([
      'app_id',
    ]);
  });

  it("cannot delete another app's keyword (404, kept)", async () => {
    const mine = newApp();
    const other = newApp();
    const created = await api.post(`${mine.base}/keywords`, BASTA);
    expect(created.status).toBe(201);
    const res = await api.delete(`${other.base}/keywords/${created.body.id}`);
    expect(res.status).toBe(404);
    expect(res.body.error).toMatchObject({ code: 404, status: 'NOT_FOUND' });
    // Same app id under another project is another app too.
    const sameAppOtherProject = `/v1/projects/${other.projectId}/apps/${mine.appId}`;
    expect((await api.delete(`${sameAppOtherProject}/keywords/${created.body.id}`)).status).toBe(
      404,
    );
    expect(await custom(mine.base)).toEqual([created.body]);
  });

  it('needs the read scope to list and dry-run, and admin to create and delete', async () => {
    const { base } = newApp();
    const mint = async (scopes: string[]) => {
      const res = await api.post('/v1/api-keys', { name: `keywords-${scopes.join('-')}`, scopes });
      expect(res.status).toBe(201);
      return api.as(res.body.key_secret);
    };
    const reader = await mint(['read']);
    const writer = await mint(['write']);
    const created = await api.post(`${base}/keywords`, BASTA);
    expect(created.status).toBe(201);

    expect((await reader.get(`${base}/keywords`)).status).toBe(200);
    expect((await reader.post(`${base}/keywords:dry-run`, { text: 'BASTA' })).status).toBe(200);
    for (const who of [reader, writer]) {
      const post = await who.post(`${base}/keywords`, { ...BASTA, phrase: 'ALT' });
      expect(post.status).toBe(403);
      expect(post.body.error.status).toBe('PERMISSION_DENIED');
      expect((await who.delete(`${base}/keywords/${created.body.id}`)).status).toBe(403);
    }
    expect((await writer.get(`${base}/keywords`)).status).toBe(403);
    expect((await api.as(null).get(`${base}/keywords`)).status).toBe(401);
    expect((await api.as(null).post(`${base}/keywords:dry-run`, { text: 'x' })).status).toBe(401);
    expect(await custom(base)).toEqual([created.body]);
  });

  describe('dry run', () => {
    it('matches the defaults under SINCH_EXACT with Sinch’s reply', async () => {
      const { base } = newApp();
      expect(await dryRun(base, 'STOP')).toEqual({
        matched: true,
        profile: 'SINCH_EXACT',
        keyword: {
          phrase: 'STOP',
          action: 'OPT_OUT',
          list_type: 'OPT_OUT_ALL',
          language: 'EN',
          source: 'DEFAULT',
        },
        action: 'OPT_OUT',
        list_type: 'OPT_OUT_ALL',
        language: 'EN',
        fcc_revocation: false,
        reply: 'Your request to leave has been accomplished.',
        auto_reply: true,
      });
      expect(await dryRun(base, 'stop now please')).toEqual({
        matched: false,
        profile: 'SINCH_EXACT',
        keyword: null,
        action: null,
        list_type: null,
        language: null,
        fcc_revocation: false,
        reply: null,
        auto_reply: true,
      });
      expect((await dryRun(base, 'Stop.')).matched).toBe(false);
      expect((await dryRun(base, 'quit')).matched).toBe(false);
      expect(await dryRun(base, ' volver notificación ')).toMatchObject({
        action: 'OPT_IN',
        list_type: 'OPT_OUT_NOTIFICATION',
        language: 'ES',
        reply: 'Su solicitud de regreso ha sido concedida.',
      });
      expect(await dryRun(base, 'help')).toMatchObject({
        action: 'HELP',
        list_type: null,
        reply: expect.stringMatching(/STOP.*START/),
      });
    });

    it('matches loosely under US_FCC and flags FCC revocation words', async () => {
      const { base } = newApp();
      const put = await api.put(`${base}/consent-settings`, { matching_profile: 'US_FCC' });
      expect(put.status).toBe(200);
      expect(await dryRun(base, 'Stop.')).toMatchObject({
        matched: true,
        profile: 'US_FCC',
        action: 'OPT_OUT',
        list_type: 'OPT_OUT_ALL',
        language: 'EN',
        fcc_revocation: false,
        keyword: { phrase: 'STOP', source: 'DEFAULT' },
      });
      expect(await dryRun(base, 'quit')).toMatchObject({
        matched: true,
        profile: 'US_FCC',
        action: 'OPT_OUT',
        list_type: 'OPT_OUT_ALL',
        fcc_revocation: true,
        keyword: { phrase: 'QUIT', source: 'DEFAULT' },
        reply: 'Your request to leave has been accomplished.',
      });
      expect((await dryRun(base, 'stop now please')).matched).toBe(false);
    });

    it('matches a custom keyword after creation and no longer after deletion', async () => {
      const { base } = newApp();
      expect((await dryRun(base, 'basta')).matched).toBe(false);
      const created = await api.post(`${base}/keywords`, BASTA);
      expect(created.status).toBe(201);
      expect(await dryRun(base, 'basta')).toEqual({
        matched: true,
        profile: 'SINCH_EXACT',
        keyword: { ...BASTA, source: 'CUSTOM' },
        action: 'OPT_OUT',
        list_type: 'OPT_OUT_MARKETING',
        language: 'IT',
        fcc_revocation: false,
        // No IT texts: the EN default.
        reply: 'Your request to leave has been accomplished.',
        auto_reply: true,
      });
      expect((await api.delete(`${base}/keywords/${created.body.id}`)).status).toBe(200);
      expect((await dryRun(base, 'basta')).matched).toBe(false);
    });

    it('a custom variant ("Stop.") makes SINCH_EXACT accept it', async () => {
      const { base } = newApp();
      const res = await api.post(`${base}/keywords`, {
        phrase: 'Stop.',
        action: 'OPT_OUT',
        list_type: 'OPT_OUT_ALL',
        language: 'EN',
      });
      expect(res.status).toBe(201);
      expect(await dryRun(base, 'stop.')).toMatchObject({
        matched: true,
        keyword: { phrase: 'Stop.', source: 'CUSTOM' },
        list_type: 'OPT_OUT_ALL',
      });
    });

    it('shows reply overrides and auto_reply from the consent settings', async () => {
      const { base } = newApp();
      const put = await api.put(`${base}/consent-settings`, {
        replies: { EN: { OPT_OUT: 'Bye' }, IT: { OPT_OUT: 'Ciao' } },
      });
      expect(put.status).toBe(200);
      expect(await dryRun(base, 'STOP')).toMatchObject({ reply: 'Bye', auto_reply: true });
      // Other actions keep their defaults.
      expect((await dryRun(base, 'START')).reply).toBe(
        'Your request to get back has been accomplished.',
      );
      await api.post(`${base}/keywords`, BASTA);
      expect((await dryRun(base, 'BASTA')).reply).toBe('Ciao');

      await api.put(`${base}/consent-settings`, { auto_reply: false });
      expect(await dryRun(base, 'STOP')).toMatchObject({
        matched: true,
        reply: 'Bye',
        auto_reply: false,
      });
      expect(await dryRun(base, 'hello')).toMatchObject({ matched: false, auto_reply: false });
    });

    it('refuses a missing, empty, too long or non-string text', async () => {
      const { base } = newApp();
      const path = `${base}/keywords:dry-run`;
      expect(fields(await api.post(path, {}))).toContain('text');
      expect(fields(await api.post(path, { text: '' }))).toEqual(['text']);
      expect(fields(await api.post(path, { text: 'x'.repeat(2001) }))).toEqual(['text']);
      expect(fields(await api.post(path, { text: 7 }))).toContain('text');
      expect(fields(await api.post(path, { text: 'STOP', extra: 1 }))).toEqual(['extra']);
      expect((await api.post(path, { text: 'x'.repeat(2000) })).status).toBe(200);
      expect(await custom(base)).toEqual([]);
    });
  });

  it('documents the endpoints in the OpenAPI spec', async () => {
    const doc = (await api.as(null).get('/docs-json')).body;
    const path = '/v1/projects/{project_id}/apps/{app_id}';
    expect(doc.paths[`${path}/keywords`].get.operationId).toBe('listKeywords');
    expect(doc.paths[`${path}/keywords`].post.operationId).toBe('createKeyword');
    expect(doc.paths[`${path}/keywords/{keyword_id}`].delete.operationId).toBe('deleteKeyword');
    expect(doc.paths[`${path}/keywords:dry-run`].post.operationId).toBe('dryRunKeywords');
    for (const name of ['KeywordAction', 'MatchingProfile', 'ConsentListType', 'KeywordSource']) {
      expect(doc.components.schemas[name]).toBeDefined();
    }
    expect(doc.components.schemas.CreateKeywordRequestDto.required).toEqual(
      expect.arrayContaining(['phrase', 'action', 'language']),
    );
  });
});

describe('KeywordsService (what the webhook intake calls), with caches on', () => {
  let t: TestApp;
  let api: Api;
  let service: KeywordsService;

  beforeAll(async () => {
    t = await startTestApp({ SETTINGS_CACHE_TTL_MS: '60000' });
    api = new Api(t.baseUrl);
    service = t.app.get(KeywordsService);
  });
  afterAll(() => t.close());

  it('evaluates with defaults and drops the cached matcher when keywords change', async () => {
    const { projectId, appId, base } = newApp();
    const app = { projectId, appId };
    expect(await service.evaluate(app, 'STOP')).toEqual({
      match: {
        rule: expect.objectContaining({ phrase: 'STOP', action: 'OPT_OUT', source: 'DEFAULT' }),
        profile: 'SINCH_EXACT',
        fcc_revocation: false,
      },
      reply: 'Your request to leave has been accomplished.',
      auto_reply: true,
      profile: 'SINCH_EXACT',
    });
    expect(await service.evaluate(app, 'basta')).toBeNull();
    const first = await service.matcherFor(app);
    expect(await service.matcherFor(app)).toBe(first);

    const created = await api.post(`${base}/keywords`, BASTA);
    expect(created.status).toBe(201);
    const hit = await service.evaluate(app, 'basta');
    expect(hit?.match.rule).toMatchObject({ phrase: 'BASTA', source: 'CUSTOM' });
    expect(hit?.reply).toBe('Your request to leave has been accomplished.');

    await api.delete(`${base}/keywords/${created.body.id}`);
    expect(await service.evaluate(app, 'basta')).toBeNull();
  });

  it('shares one lookup between concurrent callers', async () => {
    const app = { projectId: newApp().projectId, appId: 'shared' };
    const matchers = await Promise.all(Array.from({ length: 5 }, () => service.matcherFor(app)));
    expect(new Set(matchers).size).toBe(1);
  });
});
