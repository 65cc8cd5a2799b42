import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { parse as parseCsv } from 'csv-parse/sync';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import pg, { type Pool } from 'pg';
import { PG_POOL } from '../src/database/database.module.js';
import { inboundText, signatureHeaders } from './sinch-payloads.js';
import {
  ADMIN_KEY,
  Api,
  abandonPendingJobs,
  newApp,
  sleep,
  startTestApp,
  TestApp,
  until,
} from './utils.js';

const HEADER = 'identity,list_type,opted_out_since,origin,source,audit_record_id';
const SECRET = 'export-webhook-secret-for-tests';
const STALL_MS = 2000;
/** Big enough that the export outlasts every buffer between the database and a paused client. */
const BIG = 200_000;

interface Row {
  identity: string;
  list_type: string;
  opted_out_since: string;
  origin: string;
  source: string | null;
  audit_record_id: string | null;
}

/** RFC 4180 as PostgreSQL's COPY CSV writes it: quoted when needed, null as an empty field. */
function csvField(v: string | null): string {
  if (v === null) return '';
  return v === '' || /[",\n\r]/.test(v) || v === '\\.' ? `"${v.replace(/"/g, '""')}"` : v;
}
const csvOf = (rows: Row[]) =>
  [HEADER, ...rows.map((r) => Object.values(r).map(csvField).join(','))]
    .map((l) => `${l}\n`)
    .join('');
const ndjsonOf = (rows: Row[]) => rows.map((r) => `${JSON.stringify(r)}\n`).join('');

async function get(
  baseUrl: string,
  path: string,
  headers: Record<string, string> = {},
  token: string | null = ADMIN_KEY,
): Promise<{ status: number; text: string; headers: Headers }> {
  const h: Record<string, string> = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const res = await fetch(baseUrl + path, { headers: h });
  return { status: res.status, text: await res.text(), headers: res.headers };
}

/** A GET whose response is paused as soon as its headers are in: a client that stops reading. */
function pausedGet(
  baseUrl: string,
  path: string,
): Promise<{ req: ClientRequest; res: IncomingMessage; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(`${baseUrl}${path}`, {
      headers: { authorization: `Bearer ${ADMIN_KEY}`, accept: 'text/csv' },
    });
    req.on('error', () => undefined); // destroyed on purpose
    req.on('response', (res) => {
      res.pause();
      res.on('error', () => undefined);
      const closed = new Promise<void>((r) => res.once('close', () => r()));
      resolve({ req, res, closed });
    });
    req.once('error', reject);
    req.end();
  });
}

describe('exports', () => {
  let t: TestApp;
  let api: Api;
  let db: pg.Client;
  let pool: Pool;
  let onPostgres: boolean;
  const projects: string[] = [];
  const big = newApp();

  /** Pool clients checked out of the service's pool right now. */
  const checkedOut = () => pool.totalCount - pool.idleCount;
  /** COPY statements of this database still running on the server (real PostgreSQL only). */
  const runningCopies = async () =>
    onPostgres
      ? Number(
          (
            await db.query(
              `SELECT count(*) AS n FROM pg_stat_activity
                WHERE datname = current_database() AND pid <> pg_backend_pid()
                  AND state <> 'idle' AND query LIKE 'COPY (SELECT%'`,
            )
          ).rows[0].n,
        )
      : 0;

  beforeAll(async () => {
    t = await startTestApp({
      EXPORT_STALL_TIMEOUT_MS: String(STALL_MS),
      EXPORT_MAX_CONCURRENT: '2',
    });
    api = new Api(t.baseUrl);
    pool = t.app.get<Pool>(PG_POOL);
    db = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await db.connect();
    onPostgres = !/PGlite/i.test((await db.query('SELECT version() AS v')).rows[0].v);
    projects.push(big.projectId);
    await db.query(
      `INSERT INTO consent_state (project_id, app_id, identity, list_type, opted_out, since, origin,
                                  last_event_time, updated_at, audit_record_id)
       SELECT $1, $2, '4671' || lpad(g::text, 7, '0'), 'OPT_OUT_ALL', true,
              timestamptz '2026-01-01T00:00:00Z', 'ORIGIN_API', timestamptz '2026-01-01T00:00:00Z',
              now(), g
         FROM generate_series(1, $3::int) AS g`,
      [big.projectId, big.appId, BIG],
    );
  }, 120_000);

  afterAll(async () => {
    await abandonPendingJobs(db, projects);
    await db.end();
    await t.close();
  });

  /** An app with a varied OPT_OUT_MARKETING list (and rows that must not be exported). */
  async function seededApp(): Promise<{ base: string; projectId: string; appId: string }> {
    const a = newApp();
    projects.push(a.projectId);
    const put = async (identity: string, list = 'OPT_OUT_MARKETING', body?: unknown) => {
      const res = await api.put(
        `${a.base}/identities/${encodeURIComponent(identity)}/opt-outs/${list}`,
        body,
      );
      expect(res.status).toBe(200);
    };
    // Inserted out of identity order, so that heap order is not identity order.
    for (const identity of [
      'zoë-日本-ß',
      '+46 73-200 11 22',
      'user "quoted", here',
      'back\\slash\\',
      '15551231212',
      'Ångström',
      'a,b',
    ])
      await put(identity, 'OPT_OUT_MARKETING', { event_time: '2026-11-22T10:00:00.123Z' });
    await put('46700000999', 'OPT_OUT_ALL'); // another list
    await put('46700000998'); // opted out, then back in: not on the list
    expect(
      (await api.delete(`${a.base}/identities/46700000998/opt-outs/OPT_OUT_MARKETING`)).status,
    ).toBe(200);
    // Sources come from imports; set a few directly, with everything CSV and JSON must escape.
    const sources: Record<string, string> = {
      'user "quoted", here': 'crm, "main"',
      'back\\slash\\': 'c:\\exports\\',
      '15551231212': 'line one\nline two',
      Ångström: 'ünïcødé ✓',
      'a,b': '',
    };
    for (const [identity, source] of Object.entries(sources))
      await db.query(
        `UPDATE consent_state SET source = $4
          WHERE project_id = $1 AND app_id = $2 AND identity = $3`,
        [a.projectId, a.appId, identity, source],
      );
    // The same list of another app, and of another project with the same app id.
    const other = newApp();
    projects.push(other.projectId);
    await api.put(`${other.base}/identities/46700000997/opt-outs/OPT_OUT_MARKETING`);
    await api.put(
      `/v1/projects/${other.projectId}/apps/${a.appId}/identities/46700000996/opt-outs/OPT_OUT_MARKETING`,
    );
    return a;
  }

  /** The list as the database holds it, in the database's identity order. */
  async function expectedRows(
    a: { projectId: string; appId: string },
    list = 'OPT_OUT_MARKETING',
  ): Promise<Row[]> {
    const { rows } = await db.query(
      `SELECT identity, list_type, since, origin, source, audit_record_id::text AS audit_record_id
         FROM consent_state
        WHERE project_id = $1 AND app_id = $2 AND list_type = $3 AND opted_out
        ORDER BY identity`,
      [a.projectId, a.appId, list],
    );
    return rows.map((r) => ({
      identity: r.identity,
      list_type: r.list_type,
      opted_out_since: (r.since as Date).toISOString(),
      origin: r.origin,
      source: r.source,
      audit_record_id: r.audit_record_id,
    }));
  }

  describe('list export', () => {
    it('streams the list as CSV: header, RFC 4180 quoting, identity order, only that list of that app', async () => {
      const a = await seededApp();
      const rows = await expectedRows(a);
      expect(rows.map((r) => r.identity).sort()).toEqual(
        [
          '46732001122',
          '15551231212',
          'user "quoted", here',
          'back\\slash\\',
          'zoë-日本-ß',
          'Ångström',
          'a,b',
        ].sort(),
      );
      // Every entry names the audit record that put it there.
      expect(rows.every((r) => /^\d+$/.test(r.audit_record_id ?? ''))).toBe(true);

      const res = await get(t.baseUrl, `${a.base}/consents/OPT_OUT_MARKETING:export`, {
        accept: 'text/csv',
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8; header=present');
      expect(res.headers.get('content-disposition')).toMatch(
        new RegExp(`^attachment; filename="${a.appId}-OPT_OUT_MARKETING-\\d{8}T\\d{6}Z\\.csv"$`),
      );
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.text).toBe(csvOf(rows));
      expect(res.text).toContain('"user ""quoted"", here",OPT_OUT_MARKETING,');
      expect(res.text).toContain('"line one\nline two"');
      expect(res.text).toContain('2026-11-22T10:00:00.123Z');

      // A CSV parser reads back exactly the rows, null source as an empty field.
      const parsed = parseCsv(res.text, { columns: true }) as Record<string, string>[];
      expect(parsed).toEqual(rows.map((r) => ({ ...r, source: r.source ?? '' })));

      // Identity order: the order of the Sinch list endpoint.
      const listed = await api.get(`${a.base}/consents/OPT_OUT_MARKETING?page_size=50`);
      expect(listed.body.identities.map((i: { identity: string }) => i.identity)).toEqual(
        rows.map((r) => r.identity),
      );

      // The timestamps are the API's (identity state), whatever the session time zone.
      const state = await api.get(`${a.base}/identities/46732001122`);
      expect(parsed.find((r) => r.identity === '46732001122')!.opted_out_since).toBe(
        state.body.lists[0].since,
      );
    });

    it('streams the same rows as NDJSON, one JSON object a line', async () => {
      const a = await seededApp();
      const rows = await expectedRows(a);
      const res = await get(t.baseUrl, `${a.base}/consents/OPT_OUT_MARKETING:export`, {
        accept: 'application/x-ndjson',
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
      expect(res.headers.get('content-disposition')).toMatch(/OPT_OUT_MARKETING-.*\.ndjson"$/);
      expect(res.text).toBe(ndjsonOf(rows));
      const lines = res.text.trimEnd().split('\n');
      expect(lines.map((l) => JSON.parse(l))).toEqual(rows);
      expect(res.text).toContain(String.raw`"identity":"back\\slash\\"`);
      expect(res.text).toContain(String.raw`"source":"line one\nline two"`);
      expect(res.text).toContain('"source":"ünïcødé ✓"');
      // ?format wins over Accept.
      const viaQuery = await get(
        t.baseUrl,
        `${a.base}/consents/OPT_OUT_MARKETING:export?format=ndjson`,
        {
          accept: 'text/csv',
        },
      );
      expect(viaQuery.text).toBe(res.text);
      const csvViaQuery = await get(
        t.baseUrl,
        `${a.base}/consents/OPT_OUT_MARKETING:export?format=csv`,
        {
          accept: 'application/x-ndjson',
        },
      );
      expect(csvViaQuery.text).toBe(csvOf(rows));
    });

    it('negotiates: CSV without Accept or for */*, 406 in the error body for what it cannot make', async () => {
      const a = await seededApp();
      const csv = csvOf(await expectedRows(a));
      const path = `${a.base}/consents/OPT_OUT_MARKETING:export`;
      expect((await get(t.baseUrl, path)).text).toBe(csv);
      expect((await get(t.baseUrl, path, { accept: '*/*' })).text).toBe(csv);
      expect((await get(t.baseUrl, path, { accept: 'text/*' })).text).toBe(csv);
      const ndjson = await get(t.baseUrl, path, { accept: 'text/csv;q=0, */*;q=0.1' });
      expect(ndjson.headers.get('content-type')).toMatch(/^application\/x-ndjson/);
      const notAcceptable = await get(t.baseUrl, path, { accept: 'application/json' });
      expect(notAcceptable.status).toBe(406);
      expect(notAcceptable.headers.get('content-type')).toMatch(/^application\/json/);
      expect(JSON.parse(notAcceptable.text)).toEqual({
        error: {
          code: 406,
          status: 'INVALID_ARGUMENT',
          message: expect.stringContaining('text/csv or application/x-ndjson'),
          details: [
            {
              '@type': 'type.googleapis.com/google.rpc.BadRequest',
              field_violations: [{ field: 'Accept', description: expect.any(String) }],
            },
          ],
        },
      });
      const badFormat = await get(t.baseUrl, `${path}?format=xml`);
      expect(badFormat.status).toBe(400);
      expect(JSON.parse(badFormat.text).error.details[0].field_violations[0].field).toBe('format');
      for (const list of ['OPT_OUT_NOPE', 'opt_out_all']) {
        const bad = await get(t.baseUrl, `${a.base}/consents/${list}:export`);
        expect(bad.status).toBe(400);
        expect(bad.text).toContain('list_type');
      }
    });

    it('an empty list is a header row (CSV) or an empty body (NDJSON)', async () => {
      const a = await seededApp();
      const path = `${a.base}/consents/OPT_OUT_NOTIFICATION:export`;
      const csv = await get(t.baseUrl, path, { accept: 'text/csv' });
      expect([csv.status, csv.text]).toEqual([200, `${HEADER}\n`]);
      const nd = await get(t.baseUrl, path, { accept: 'application/x-ndjson' });
      expect([nd.status, nd.text]).toEqual([200, '']);
      const none = newApp();
      expect((await get(t.baseUrl, `${none.base}/consents/OPT_OUT_ALL:export`)).text).toBe(
        `${HEADER}\n`,
      );
    });

    it('needs a token with the read scope', async () => {
      const a = newApp();
      const mint = async (scopes: string[]) =>
        (await api.post('/v1/api-keys', { name: `export-e2e-${scopes.join('-')}`, scopes })).body
          .key_secret as string;
      const reader = await mint(['read']);
      const writer = await mint(['write']);
      for (const path of [
        `${a.base}/consents/OPT_OUT_ALL:export`,
        `${a.base}/audit-records:export`,
      ]) {
        const anon = await get(t.baseUrl, path, {}, null);
        expect(anon.status).toBe(401);
        expect(JSON.parse(anon.text).error.status).toBe('UNAUTHENTICATED');
        const wrong = await get(t.baseUrl, path, {}, 'not-a-valid-token-0123456789');
        expect(wrong.status).toBe(401);
        const denied = await get(t.baseUrl, path, {}, writer);
        expect(denied.status).toBe(403);
        expect(JSON.parse(denied.text).error.message).toContain('"read" scope');
        expect((await get(t.baseUrl, path, {}, reader)).status).toBe(200);
      }
    });

    it('streams a 20,000-identity list completely, in order, in both formats', async () => {
      const a = newApp();
      projects.push(a.projectId);
      await db.query(
        `INSERT INTO consent_state (project_id, app_id, identity, list_type, opted_out, since, origin,
                                    last_event_time, updated_at, audit_record_id, source)
         SELECT $1, $2, '4670' || lpad(g::text, 7, '0'), 'OPT_OUT_NOTIFICATION', g % 10 <> 0,
                timestamptz '2026-01-01T00:00:00Z' + g * interval '1 millisecond', 'ORIGIN_IMPORT',
                timestamptz '2026-01-01T00:00:00Z', now(), g,
                CASE WHEN g % 2 = 0 THEN 'twilio, "eu"' END
           FROM generate_series(20022, 1, -1) AS g`,
        [a.projectId, a.appId],
      );
      const rows: Row[] = [];
      for (let g = 1; g <= 20022; g++)
        if (g % 10 !== 0)
          rows.push({
            identity: `4670${String(g).padStart(7, '0')}`,
            list_type: 'OPT_OUT_NOTIFICATION',
            opted_out_since: new Date(Date.parse('2026-01-01T00:00:00Z') + g).toISOString(),
            origin: 'ORIGIN_IMPORT',
            source: g % 2 === 0 ? 'twilio, "eu"' : null,
            audit_record_id: String(g),
          });
      expect(rows.length).toBeGreaterThan(18_000);
      const path = `${a.base}/consents/OPT_OUT_NOTIFICATION:export`;
      const csv = await get(t.baseUrl, path, { accept: 'text/csv' });
      expect(csv.text.length).toBeGreaterThan(1_000_000);
      expect(csv.text === csvOf(rows)).toBe(true);
      const nd = await get(t.baseUrl, path, { accept: 'application/x-ndjson' });
      expect(nd.text === ndjsonOf(rows)).toBe(true);
      await until(
        'the connections to go back',
        async () => checkedOut(),
        (n) => n === 0,
      );
    });
  });

  describe('connections', () => {
    const bigPath = `${big.base}/consents/OPT_OUT_ALL:export`;
    /** An instance that waits long for its readers, with a 200 ms statement timeout. */
    let patient: TestApp;
    let patientPool: Pool;
    const patientCheckedOut = () => patientPool.totalCount - patientPool.idleCount;

    beforeAll(async () => {
      patient = await startTestApp({
        DATABASE_STATEMENT_TIMEOUT_MS: '200',
        EXPORT_STALL_TIMEOUT_MS: '60000',
        EXPORT_MAX_CONCURRENT: '2',
      });
      patientPool = patient.app.get<Pool>(PG_POOL);
    });
    afterAll(() => patient.close());

    async function expectNoLeak(): Promise<void> {
      await until(
        'the export connections to go back',
        async () => checkedOut(),
        (n) => n === 0,
      );
      await until('no COPY left running on the server', runningCopies, (n) => n === 0);
      // The service keeps answering, exports included.
      expect((await api.get(`${big.base}/identities/46710000001`)).body.opted_out).toBe(true);
      const small = await get(t.baseUrl, `${newApp().base}/consents/OPT_OUT_ALL:export`);
      expect([small.status, small.text]).toEqual([200, `${HEADER}\n`]);
    }

    it('a client that disconnects mid-export leaks no pool connection and leaves no COPY running', async () => {
      for (let i = 0; i < 3; i++) {
        const { req, res, closed } = await pausedGet(t.baseUrl, bigPath);
        await new Promise<void>((r) => res.once('readable', () => r()));
        expect(res.read()).not.toBeNull(); // the export has started
        expect(checkedOut()).toBeGreaterThanOrEqual(1);
        req.destroy();
        await closed;
      }
      // Three aborted exports with EXPORT_MAX_CONCURRENT=2: a leak would leave the next one 429.
      await expectNoLeak();
    });

    it('a client that stops reading is cut after EXPORT_STALL_TIMEOUT_MS', async () => {
      const { res, closed } = await pausedGet(t.baseUrl, bigPath);
      await sleep(200);
      expect(checkedOut()).toBeGreaterThanOrEqual(1);
      // The service lets go while the client still is not reading...
      await sleep(STALL_MS + 1500);
      await until(
        'the stalled export to let go',
        async () => checkedOut(),
        (n) => n === 0,
      );
      // ...and the client, reading at last, finds the answer cut short.
      let bytes = 0;
      res.on('data', (chunk: Buffer) => (bytes += chunk.length));
      res.resume();
      await closed;
      expect(res.complete).toBe(false);
      expect(bytes).toBeGreaterThan(0);
      expect(bytes).toBeLessThan(BIG * 60);
      await expectNoLeak();
    });

    it('at most EXPORT_MAX_CONCURRENT exports stream at once; more get 429 with Retry-After', async () => {
      const first = await pausedGet(patient.baseUrl, bigPath);
      const second = await pausedGet(patient.baseUrl, bigPath);
      const third = await get(patient.baseUrl, bigPath);
      expect(third.status).toBe(429);
      expect(third.headers.get('retry-after')).toBe('5');
      expect(JSON.parse(third.text).error.status).toBe('RESOURCE_EXHAUSTED');
      first.req.destroy();
      second.req.destroy();
      await Promise.all([first.closed, second.closed]);
      await until(
        'the exports to let go',
        async () => patientCheckedOut(),
        (n) => n === 0,
      );
      const next = await get(patient.baseUrl, `${newApp().base}/consents/OPT_OUT_ALL:export`);
      expect([next.status, next.text]).toEqual([200, `${HEADER}\n`]);
      await expectNoLeak();
    });

    it('a slow reader gets everything: neither the statement timeout nor the query timeout cuts an export', async () => {
      // 200 ms statement timeout (client-side query timeout 2.2 s), a reader pausing 3 s.
      const { res, closed } = await pausedGet(patient.baseUrl, bigPath);
      await sleep(3000);
      let lines = 0;
      let last = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        for (let i = chunk.indexOf('\n'); i !== -1; i = chunk.indexOf('\n', i + 1)) lines++;
        last = (last + chunk).slice(-200);
      });
      res.resume();
      await closed;
      expect(res.complete).toBe(true);
      expect(lines).toBe(BIG + 1);
      expect(
        last.endsWith(
          `\n46710${String(BIG).padStart(6, '0')},OPT_OUT_ALL,2026-01-01T00:00:00.000Z,ORIGIN_API,,${BIG}\n`,
        ),
      ).toBe(true);
      await until(
        'the slow export to let go',
        async () => patientCheckedOut(),
        (n) => n === 0,
      );
      // It went back with the pool's statement timeout.
      const client = await patientPool.connect();
      try {
        const { rows } = await client.query('SHOW statement_timeout');
        if (onPostgres) expect(rows[0].statement_timeout).toBe('200ms');
      } finally {
        client.release();
      }
    }, 120_000);
  });

  describe('audit export', () => {
    /** The app's records through the API, every identity. */
    async function apiRecords(base: string, identities: string[]): Promise<any[]> {
      const all: any[] = [];
      for (const identity of identities) {
        const res = await api.get(
          `${base}/identities/${encodeURIComponent(identity)}/audit-records?page_size=500`,
        );
        expect(res.status).toBe(200);
        all.push(...res.body.audit_records);
      }
      return all.sort((x, y) => Number(x.id) - Number(y.id));
    }

    const exported = async (base: string, query = '') => {
      const res = await get(t.baseUrl, `${base}/audit-records:export${query}`, {
        accept: 'application/x-ndjson',
      });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
      return { res, lines: res.text === '' ? [] : res.text.trimEnd().split('\n') };
    };

    it('every record kind, in id order, each line exactly the audit records API record', async () => {
      const a = newApp();
      projects.push(a.projectId);
      expect(
        (
          await api.put(`${a.base}/consent-settings`, {
            mode: 'PRIMARY',
            webhook_secrets: [SECRET],
          })
        ).status,
      ).toBe(200);
      const id = (s: string) => `${a.base}/identities/${encodeURIComponent(s)}/opt-outs`;
      // Consent changes: with reason and evidence, an opt-in, a superseded one, a clamped claim.
      await api.put(`${id('46732001122')}/OPT_OUT_MARKETING`, {
        reason: 'asked "by phone", ticket 4711 \\ é',
        evidence: { ticket: 4711, nested: { ok: true, list: [1, 2.5, 'x'] } },
      });
      await api.delete(`${id('46732001122')}/OPT_OUT_MARKETING`);
      await api.put(`${id('46732001122')}/OPT_OUT_MARKETING`, {
        event_time: '2020-01-01T00:00:00Z',
      });
      await api.put(`${id('user "x", ß')}/OPT_OUT_ALL`, {
        event_time: new Date(Date.now() + 60_000).toISOString(),
      });
      // A STOP (an MO change) and a refused delivery, through the webhook.
      const deliver = async (payload: unknown) => {
        const body = JSON.stringify(payload);
        const res = await fetch(`${t.baseUrl}/webhooks/sinch`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...signatureHeaders(body, SECRET) },
          body,
        });
        expect(res.status).toBe(200);
      };
      await deliver(inboundText(a.projectId, a.appId, 'STOP', { identity: '46700000001' }));
      await deliver({
        app_id: a.appId,
        project_id: a.projectId,
        accepted_time: new Date().toISOString(),
        event_time: new Date(Date.now() - 1000).toISOString(),
        message_delivery_report: {
          message_id: 'out-refused-1',
          status: 'FAILED',
          channel_identity: { channel: 'WHATSAPP', identity: '+46 73 200 11 22', app_id: '' },
          reason: { code: 'RECIPIENT_NOT_OPTED_IN', description: 'refused', sub_code: 'X' },
        },
      });
      // Records of the other kinds, appended as their writers append them (no reply is sent in
      // this file): what is under test is how a stored record is shown.
      await db.query(
        `INSERT INTO consent_audit (kind, project_id, app_id, identity, list_type, actor, reason,
                                    evidence, event_time, claimed_event_time)
         VALUES ('REPLY_SENT', $1, $2, '46700000001', 'OPT_OUT_ALL', 'consent-gate',
                 'confirmation reply (OPT_OUT) accepted by Sinch',
                 '{"reply_job_id": "7", "attempts": 1, "language": null}', now(), NULL),
                ('EVENT_TIME_REPAIRED', $1, $2, '46732001122', 'OPT_OUT_MARKETING', 'consent-gate',
                 'repaired', NULL, clock_timestamp(),
                 timestamptz '2099-01-01T00:00:00.123456+05:30')`,
        [a.projectId, a.appId],
      );
      // Another app's record is not exported.
      await api.put(`${newApp().base}/identities/46732001122/opt-outs/OPT_OUT_ALL`);

      const records = await apiRecords(a.base, ['46732001122', 'user "x", ß', '46700000001']);
      expect(new Set(records.map((r) => r.kind))).toEqual(
        new Set(['CONSENT_CHANGE', 'DELIVERY_REFUSED', 'REPLY_SENT', 'EVENT_TIME_REPAIRED']),
      );
      expect(records.some((r) => r.outcome === 'SUPERSEDED')).toBe(true);
      expect(records.some((r) => r.claimed_event_time !== null)).toBe(true);
      expect(records.some((r) => r.origin === 'ORIGIN_MO')).toBe(true);

      // The export is the same records, same fields in the same order, same strings, whatever
      // the session's time zone (set for the whole database, as a server's could be).
      const { res, lines } = await exported(a.base);
      expect(res.headers.get('content-disposition')).toMatch(
        new RegExp(`^attachment; filename="${a.appId}-audit-records-\\d{8}T\\d{6}Z\\.ndjson"$`),
      );
      const all = lines.map((l) => JSON.parse(l));
      // The app's settings change (no identity: no per-identity listing shows it) comes first.
      expect(all[0]).toMatchObject({
        kind: 'SETTINGS_CHANGE',
        identity: null,
        actor: 'admin',
        evidence: expect.objectContaining({ webhook_secrets_count: 1 }),
      });
      const parsed = all.slice(1);
      expect(parsed).toEqual(records);
      for (const [i, line] of parsed.entries())
        expect(Object.keys(line)).toEqual(Object.keys(records[i]));
      expect(all.map((r) => r.id)).toEqual(
        [...all.map((r) => r.id)].sort((x, y) => Number(x) - Number(y)),
      );
      // Exactly one object a line, nothing else.
      expect(res.text.endsWith('\n')).toBe(true);
      expect(lines).toHaveLength(records.length + 1);

      // Filtering: recorded_at in [from, to).
      const at = (i: number) => records[i].recorded_at as string;
      const sliced = await exported(
        a.base,
        `?from=${encodeURIComponent(at(1))}&to=${encodeURIComponent(at(4))}`,
      );
      expect(sliced.lines.map((l) => JSON.parse(l).id)).toEqual(
        records.filter((r) => r.recorded_at >= at(1) && r.recorded_at < at(4)).map((r) => r.id),
      );
      // Any zone: the same instant written with an offset.
      const plus2 = (iso: string) => {
        const d = new Date(Date.parse(iso) + 2 * 3600_000).toISOString();
        return `${d.slice(0, 23)}+02:00`;
      };
      const offset = await exported(
        a.base,
        `?from=${encodeURIComponent(plus2(at(1)))}&to=${encodeURIComponent(plus2(at(4)))}`,
      );
      expect(offset.lines).toEqual(sliced.lines);
      expect((await exported(a.base, `?from=${encodeURIComponent(at(2))}`)).lines).toEqual(
        lines.filter((l) => JSON.parse(l).recorded_at >= at(2)),
      );
      expect((await exported(a.base, `?to=${encodeURIComponent(at(2))}`)).lines).toEqual(
        lines.filter((l) => JSON.parse(l).recorded_at < at(2)),
      );
      expect(
        (
          await exported(
            a.base,
            `?from=${encodeURIComponent(at(2))}&to=${encodeURIComponent(at(2))}`,
          )
        ).lines,
      ).toEqual([]);
    });

    it('the export and the API agree whatever the session time zone', async () => {
      const a = newApp();
      projects.push(a.projectId);
      await api.put(`${a.base}/identities/46732001122/opt-outs/OPT_OUT_ALL`);
      const [record] = await apiRecords(a.base, ['46732001122']);
      const tzApp = await startTestApp({ DATABASE_URL: withTimeZone('America/St_Johns') });
      try {
        const res = await get(tzApp.baseUrl, `${a.base}/audit-records:export`);
        expect(JSON.parse(res.text)).toEqual(record);
        const list = await get(tzApp.baseUrl, `${a.base}/consents/OPT_OUT_ALL:export`);
        expect(list.text).toContain(
          `,${(await expectedRows(a, 'OPT_OUT_ALL'))[0]!.opted_out_since},`,
        );
        expect(list.text).toMatch(/,\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z,/);
      } finally {
        await tzApp.close();
      }
    });

    it('rejects bad from / to naming the field, from after to, and an Accept it cannot answer', async () => {
      const { base } = newApp();
      const err = async (query: string, headers: Record<string, string> = {}) => {
        const res = await get(t.baseUrl, `${base}/audit-records:export${query}`, headers);
        return { status: res.status, body: JSON.parse(res.text) };
      };
      for (const [query, field] of [
        ['?from=2026-01-01', 'from'],
        ['?from=2026-01-01T00:00:00', 'from'],
        ['?to=yesterday', 'to'],
        ['?to=2026-02-30T00:00:00Z', 'to'],
        ['?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z', 'from'],
        ['?from=2026-01-01T03:00:00%2B02:00&to=2026-01-01T00:00:00Z', 'from'],
        ['?since=2026-01-01T00:00:00Z', 'since'],
      ]) {
        const res = await err(query!);
        expect([query, res.status]).toEqual([query, 400]);
        expect(res.body.error.details[0].field_violations.map((v: any) => v.field)).toContain(
          field,
        );
      }
      const csv = await err('', { accept: 'text/csv' });
      expect(csv.status).toBe(406);
      expect(csv.body.error.message).toContain('application/x-ndjson');
      const empty = await get(t.baseUrl, `${base}/audit-records:export`);
      expect([empty.status, empty.text]).toEqual([200, '']);
    });
  });
});

/** The run's database URL with a session TimeZone for every connection. */
function withTimeZone(zone: string): string {
  const u = new URL(process.env.TEST_DATABASE_URL!);
  u.searchParams.set('options', `-c TimeZone=${zone}`);
  return u.toString();
}
