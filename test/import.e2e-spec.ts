// Bulk import end to end: streamed CSV and NDJSON uploads, rows validated like the API (bad rows
// rejected with their line numbers, the others applied), the IMPORT job applying them with one
// audit record each (import_id, source, ORIGIN_IMPORT) and callbacks, whole-file refusals (400,
// 413) that store nothing, dry runs, re-imports, event-time ordering, error paging and the CLI.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { configKeys } from '../src/config/app-config.js';
import { RetentionService } from '../src/retention/retention.service.js';
import { Receiver } from './callback-receiver.js';
import {
  abandonPendingJobs,
  ADMIN_KEY,
  Api,
  newApp,
  randomPhone,
  startTestApp,
  TestApp,
  until,
} from './utils.js';

const MAX_BYTES = 4096;
const ULID_LIKE = /^[0-9A-HJKMNP-TV-Z]{26}$/;

interface Posted {
  status: number;
  body: any;
  headers: Record<string, string | string[] | undefined>;
}

describe('imports', () => {
  const receiver = new Receiver();
  let t: TestApp;
  let api: Api;
  let ds: DataSource;
  const projects: string[] = [];

  beforeAll(async () => {
    await receiver.start();
    t = await startTestApp({
      OUTBOX_WORKER_ENABLED: 'true',
      OUTBOX_POLL_INTERVAL_MS: '50',
      SETTINGS_CACHE_TTL_MS: '0',
      IMPORT_MAX_BYTES: String(MAX_BYTES),
      // Several chunks per file: the cursor moves between transactions.
      IMPORT_CHUNK_ROWS: '3',
      // Two parts side by side (each a range of keys with its own cursor).
      IMPORT_APPLY_PARTS: '2',
    });
    api = new Api(t.baseUrl);
    ds = t.app.get(DataSource);
  });

  afterAll(async () => {
    if (ds) await abandonPendingJobs(ds, projects);
    await t?.close();
    await receiver.stop();
  });

  function fresh() {
    const a = newApp();
    projects.push(a.projectId);
    return a;
  }

  /** POSTs `chunks` as the body (chunked unless `length` is given), answered as JSON. */
  function post(
    path: string,
    chunks: (string | Buffer)[],
    contentType: string,
    opts: { length?: number; token?: string } = {},
  ): Promise<Posted> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = {
        authorization: `Bearer ${opts.token ?? ADMIN_KEY}`,
        'content-type': contentType,
      };
      if (opts.length !== undefined) headers['content-length'] = String(opts.length);
      const req = request(t.baseUrl + path, { method: 'POST', headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => {
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : undefined;
          } catch {
            // keep text
          }
          resolve({ status: res.statusCode ?? 0, body, headers: res.headers });
        });
      });
      // The server may answer (413) and close before the whole body is written.
      req.on('error', (e) => (req.writableEnded ? undefined : reject(e)));
      for (const c of chunks) req.write(c);
      req.end();
    });
  }

  const upload = (base: string, body: string, type = 'text/csv', query = '') =>
    post(`${base}/imports${query}`, [body], type, { length: Buffer.byteLength(body) });

  async function finished(base: string, id: string): Promise<any> {
    const res = await until(
      `import ${id} to finish`,
      () => api.get(`${base}/imports/${id}`),
      (r) => r.status === 200 && r.body.status !== 'RUNNING',
      30_000,
    );
    return res.body;
  }

  async function imported(base: string, body: string, type = 'text/csv'): Promise<any> {
    const res = await upload(base, body, type);
    expect(res.status).toBe(202);
    expect(res.body).toEqual({ import_id: expect.stringMatching(ULID_LIKE), status: 'RUNNING' });
    expect(res.headers.location).toBe(`${base}/imports/${res.body.import_id}`);
    return finished(base, res.body.import_id);
  }

  async function audit(base: string, identity: string): Promise<any[]> {
    const res = await api.get(`${base}/identities/${identity}/audit-records`);
    expect(res.status).toBe(200);
    return res.body.audit_records;
  }

  async function lists(base: string, identity: string): Promise<string[]> {
    const res = await api.get(`${base}/identities/${identity}`);
    return res.body.lists.map((l: { list_type: string }) => l.list_type);
  }

  async function tableCounts(): Promise<number[]> {
    const rows: { n: number }[] = await ds.query(
      `SELECT (SELECT count(*) FROM imports)::int AS n
       UNION ALL SELECT (SELECT count(*) FROM import_rows)::int
       UNION ALL SELECT (SELECT count(*) FROM import_errors)::int
       UNION ALL SELECT (SELECT count(*) FROM consent_audit)::int
       UNION ALL SELECT (SELECT count(*) FROM outbox_jobs)::int`,
    );
    return rows.map((r) => r.n);
  }

  it('imports a CSV (BOM, CRLF, quoted fields): one audit record per row and callbacks', async () => {
    const a = fresh();
    const path = receiver.path();
    const sub = await api.post(`${a.base}/callbacks`, {
      target_url: receiver.url + path,
      secret: 'callback-signing-secret-0123',
      triggers: ['OPT_OUT', 'OPT_IN'],
    });
    expect(sub.status).toBe(201);
    const [x, y, z] = [randomPhone(), randomPhone(), randomPhone()];
    const at = new Date(Date.now() - 3_600_000).toISOString();
    const csv =
      '\ufeffidentity,list_type,action,event_time,reason,source\r\n' +
      `+${x.slice(0, 2)} ${x.slice(2)},OPT_OUT_MARKETING,OPT_OUT,${at},"STOP, by SMS\r\nsecond line",twilio\r\n` +
      `${y},OPT_OUT_ALL,,,,crm\r\n` +
      `"${z}",OPT_OUT_NOTIFICATION,OPT_IN,,,\r\n`;
    const done = await imported(a.base, csv);
    expect(done).toEqual({
      import_id: expect.stringMatching(ULID_LIKE),
      status: 'SUCCEEDED',
      format: 'csv',
      dry_run: false,
      rows_read: 3,
      applied: 2,
      no_change: 1,
      superseded: 0,
      rejected: 0,
      errors: [],
      error: null,
      created_at: expect.any(String),
      finished_at: expect.any(String),
    });
    const [ax] = await audit(a.base, x);
    expect(ax).toMatchObject({
      kind: 'CONSENT_CHANGE',
      identity: x,
      list_type: 'OPT_OUT_MARKETING',
      origin: 'ORIGIN_IMPORT',
      operation: 'OPERATION_INSERT',
      outcome: 'APPLIED',
      actor: 'admin',
      reason: 'STOP, by SMS\r\nsecond line',
      event_time: at,
      import_id: done.import_id,
      source: 'twilio',
    });
    expect(await audit(a.base, y)).toEqual([
      expect.objectContaining({ import_id: done.import_id, source: 'crm', outcome: 'APPLIED' }),
    ]);
    expect(await audit(a.base, z)).toEqual([
      expect.objectContaining({ import_id: done.import_id, source: null, outcome: 'NO_CHANGE' }),
    ]);
    expect(await lists(a.base, x)).toEqual(['OPT_OUT_MARKETING']);
    expect(await lists(a.base, y)).toEqual(['OPT_OUT_ALL']);
    // The two applied opt-outs were called back, as imports.
    const got = await until(
      'the import callbacks',
      () => receiver.at(path),
      (r) => r.length >= 2,
    );
    const notes = got.map((r) => JSON.parse(r.body).opt_out_notification);
    expect(notes.map((n) => n.identity).sort()).toEqual([x, y].sort());
    for (const n of notes) expect(n.origin).toBe('ORIGIN_IMPORT');
    // Nothing stays staged.
    const staged: { n: number }[] = await ds.query(
      `SELECT count(*)::int AS n FROM import_rows WHERE import_id = $1`,
      [done.import_id],
    );
    expect(staged[0]!.n).toBe(0);
  });

  it('rejects bad rows with the line they start on, applies the others, and pages the errors', async () => {
    const a = fresh();
    const ok = [randomPhone(), randomPhone(), randomPhone()];
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const lines = [
      'identity,list_type,action,event_time,reason,source', // 1
      `${ok[0]},OPT_OUT_ALL,,,"a reason`, // 2
      `over two lines",`, // 3
      `+1 2,OPT_OUT_ALL`, // 4: too few digits for a phone number
      `${randomPhone()},OPT_OUT_SOMETHING`, // 5
      '', // 6: blank, skipped
      `${randomPhone()},OPT_OUT_ALL,MAYBE`, // 7
      `${randomPhone()},OPT_OUT_ALL,,${future}`, // 8
      `${randomPhone()},OPT_OUT_ALL,,2020-01-01T10:00:00`, // 9: no zone
      `${ok[1]},OPT_OUT_ALL,,,,`, // 10
      `${randomPhone()},OPT_OUT_ALL,,,,,extra`, // 11
      `${randomPhone()},,OPT_OUT`, // 12
      `${randomPhone()},OPT_OUT_ALL,,,${'r'.repeat(501)}`, // 13
      `${ok[2]},OPT_OUT_MARKETING`, // 14
    ];
    const done = await imported(a.base, lines.join('\r\n'));
    const expected = [
      {
        line: 4,
        field: 'identity',
        description: 'identity looks like a phone number but has not 3 to 15 digits',
      },
      {
        line: 5,
        field: 'list_type',
        description: 'must be one of OPT_OUT_ALL, OPT_OUT_MARKETING, OPT_OUT_NOTIFICATION',
      },
      { line: 7, field: 'action', description: 'must be OPT_OUT or OPT_IN' },
      {
        line: 8,
        field: 'event_time',
        description: 'must not be more than 5 minutes in the future',
      },
      { line: 9, field: 'event_time', description: 'must carry a time zone (Z or +hh:mm)' },
      { line: 11, field: '', description: 'has 7 fields, the header has 6' },
      { line: 12, field: 'list_type', description: 'is required' },
      { line: 13, field: 'reason', description: 'must be at most 500 characters' },
    ];
    expect(done).toMatchObject({
      status: 'SUCCEEDED',
      rows_read: 11,
      applied: 3,
      rejected: 8,
      errors: expected,
    });
    for (const identity of ok) expect(await lists(a.base, identity)).toHaveLength(1);
    expect((await audit(a.base, ok[0]!))[0].reason).toBe('a reason\r\nover two lines');

    // All errors, two at a time, in line order.
    const paged: unknown[] = [];
    let token = '';
    for (let pages = 0; pages < 10; pages++) {
      const res = await api.get(
        `${a.base}/imports/${done.import_id}/errors?page_size=2${token ? `&page_token=${token}` : ''}`,
      );
      expect(res.status).toBe(200);
      paged.push(...res.body.errors);
      token = res.body.next_page_token;
      if (!token) break;
    }
    expect(paged).toEqual(expected);
    expect(
      (await api.get(`${a.base}/imports/${done.import_id}/errors?page_token=zz!`)).status,
    ).toBe(400);
  });

  it('imports NDJSON: a line that is not a JSON object is a rejected row', async () => {
    const a = fresh();
    const [x, y] = [randomPhone(), randomPhone()];
    const body =
      `{"identity":"${x}","list_type":"OPT_OUT_ALL","source":"aws","reason":"imported"}\n` + // 1
      `[1,2]\n` + // 2
      `\n` + // 3
      `{not json\r\n` + // 4
      `{"identity":"${randomPhone()}","list_type":"OPT_OUT_ALL","colour":"red"}\n` + // 5
      `{"identity":42,"list_type":"OPT_OUT_ALL"}\n` + // 6
      `{"identity":"${y}","list_type":"OPT_OUT_NOTIFICATION","opted_out_since":"2024-05-01T00:00:00+02:00","origin":"ORIGIN_MO","audit_record_id":"7"}`; // 7
    const done = await imported(a.base, body, 'application/x-ndjson');
    expect(done).toMatchObject({
      format: 'ndjson',
      status: 'SUCCEEDED',
      rows_read: 6,
      applied: 2,
      rejected: 4,
      errors: [
        { line: 2, field: '', description: 'is not a JSON object' },
        { line: 4, field: '', description: 'is not valid JSON' },
        { line: 5, field: 'colour', description: 'is not a known field' },
        { line: 6, field: 'identity', description: 'identity must be a string' },
      ],
    });
    expect(await audit(a.base, x)).toEqual([
      expect.objectContaining({
        origin: 'ORIGIN_IMPORT',
        source: 'aws',
        reason: 'imported',
        import_id: done.import_id,
      }),
    ]);
    expect(await audit(a.base, y)).toEqual([
      expect.objectContaining({ event_time: '2024-04-30T22:00:00.000Z', origin: 'ORIGIN_IMPORT' }),
    ]);
  });

  it('refuses a file that is not an import (400) and stores nothing', async () => {
    const a = fresh();
    const before = await tableCounts();
    const cases: [string, string, RegExp][] = [
      ['text/plain', 'identity,list_type\n1,OPT_OUT_ALL\n', /Content-Type/],
      ['text/csv', `${randomPhone()},OPT_OUT_ALL\n`, /unknown column/],
      ['text/csv', 'identity,list_type,colour\n4670,OPT_OUT_ALL,red\n', /unknown column "colour"/],
      ['text/csv', 'identity,action\n4670,OPT_OUT\n', /no list_type column/],
      ['text/csv', 'identity,list_type\n', /no data rows/],
      ['text/csv', '', /empty/],
      [
        'text/csv',
        `identity,list_type\n"${randomPhone()},OPT_OUT_ALL\n`,
        /quoted field is not closed/,
      ],
      [
        'application/x-ndjson',
        'identity,list_type\n{"identity":"4670"}\n',
        /first line is not JSON/,
      ],
      ['application/x-ndjson', '\n\n', /no data rows/],
    ];
    for (const [type, body, message] of cases) {
      const res = await upload(a.base, body, type);
      expect([type, body, res.status]).toEqual([type, body, 400]);
      expect(res.body.error.message).toMatch(message);
    }
    expect(await tableCounts()).toEqual(before);
  });

  it('answers 413 over IMPORT_MAX_BYTES, by Content-Length or while streaming, and stores nothing', async () => {
    const a = fresh();
    const before = await tableCounts();
    const row = `${randomPhone()},OPT_OUT_ALL\n`;
    const big = `identity,list_type\n${row.repeat(Math.ceil((MAX_BYTES + 100) / row.length))}`;
    const byLength = await upload(a.base, big);
    expect(byLength.status).toBe(413);
    expect(byLength.body.error.message).toMatch(/IMPORT_MAX_BYTES/);
    // Chunked, no Content-Length: counted as it arrives (rows are staged before the limit).
    const chunks = Array.from(
      { length: 4 },
      (_, i) =>
        (i === 0 ? 'identity,list_type\n' : '') +
        Array.from({ length: 120 }, () => `${randomPhone()},OPT_OUT_ALL\n`).join(''),
    );
    const chunked = await post(`${a.base}/imports`, chunks, 'text/csv');
    expect(chunked.status).toBe(413);
    expect(await tableCounts()).toEqual(before);
  });

  it('a dry run stores nothing and predicts the counts the import then gets', async () => {
    const a = fresh();
    const [x, y, z] = [randomPhone(), randomPhone(), randomPhone()];
    expect((await api.put(`${a.base}/identities/${x}/opt-outs/OPT_OUT_ALL`)).status).toBe(200);
    const old = '2001-02-03T04:05:06Z';
    const csv = [
      'identity,list_type,action,event_time',
      `${x},OPT_OUT_ALL,,`, // no change
      `${y},OPT_OUT_ALL,OPT_IN,${old}`, // no change (never opted out)
      `${z},OPT_OUT_ALL,,2024-01-01T00:00:00Z`, // applied
      `${z},OPT_OUT_ALL,OPT_IN,2023-01-01T00:00:00Z`, // superseded by the line before
      `${x},OPT_OUT_ALL,OPT_IN,${old}`, // superseded by the API's opt-out
      `${y},OPT_OUT_MARKETING`, // applied
      `bad,OPT_OUT_NOPE`, // rejected
    ].join('\n');
    const before = await tableCounts();
    const dry = await upload(a.base, csv, 'text/csv', '?dry_run=true');
    expect(dry.status).toBe(200);
    expect(dry.body).toEqual({
      import_id: null,
      status: 'SUCCEEDED',
      format: 'csv',
      dry_run: true,
      rows_read: 7,
      applied: 2,
      no_change: 2,
      superseded: 2,
      rejected: 1,
      errors: [{ line: 8, field: 'list_type', description: expect.any(String) }],
      error: null,
      created_at: expect.any(String),
      finished_at: expect.any(String),
    });
    expect(await tableCounts()).toEqual(before);
    expect(await lists(a.base, z)).toEqual([]);

    const real = await imported(a.base, csv);
    const { applied, no_change, superseded, rejected, rows_read } = real;
    expect({ applied, no_change, superseded, rejected, rows_read }).toEqual({
      applied: dry.body.applied,
      no_change: dry.body.no_change,
      superseded: dry.body.superseded,
      rejected: dry.body.rejected,
      rows_read: dry.body.rows_read,
    });
    expect(await lists(a.base, x)).toEqual(['OPT_OUT_ALL']);
    expect(await lists(a.base, y)).toEqual(['OPT_OUT_MARKETING']);
    expect(await lists(a.base, z)).toEqual(['OPT_OUT_ALL']);
  });

  it('applies duplicates in line order, and orders by event_time against the stored state', async () => {
    const a = fresh();
    const [x, y, w] = [randomPhone(), randomPhone(), randomPhone()];
    // y opted out now through the API: an older opt-in in the file is superseded.
    expect((await api.put(`${a.base}/identities/${y}/opt-outs/OPT_OUT_ALL`)).status).toBe(200);
    const csv = [
      'identity,list_type,action,event_time',
      `${x},OPT_OUT_ALL,OPT_OUT,`,
      `${w},OPT_OUT_ALL,OPT_OUT,2024-03-01T00:00:00Z`,
      `${x},OPT_OUT_ALL,OPT_IN,`, // after line 2: x ends opted in
      `${y},OPT_OUT_ALL,OPT_IN,2024-01-01T00:00:00Z`,
      `${w},OPT_OUT_ALL,OPT_IN,2024-02-01T00:00:00Z`, // older than line 3
    ].join('\n');
    const done = await imported(a.base, csv);
    expect(done).toMatchObject({ applied: 3, superseded: 2, no_change: 0 });
    expect(await lists(a.base, x)).toEqual([]);
    expect((await audit(a.base, x)).map((r) => r.outcome)).toEqual(['APPLIED', 'APPLIED']);
    expect((await audit(a.base, x)).map((r) => r.operation)).toEqual([
      'OPERATION_INSERT',
      'OPERATION_DELETE',
    ]);
    expect(await lists(a.base, y)).toEqual(['OPT_OUT_ALL']);
    expect((await audit(a.base, y)).map((r) => [r.origin, r.outcome])).toEqual([
      ['ORIGIN_API', 'APPLIED'],
      ['ORIGIN_IMPORT', 'SUPERSEDED'],
    ]);
    expect(await lists(a.base, w)).toEqual(['OPT_OUT_ALL']);
  });

  it('importing the same file twice changes nothing the second time', async () => {
    const a = fresh();
    const ids = Array.from({ length: 8 }, () => randomPhone());
    const csv = [
      'identity,list_type,action,event_time,source',
      ...ids.map((id, i) =>
        i % 3 === 2
          ? `${id},OPT_OUT_MARKETING,OPT_IN,2025-01-0${i + 1}T00:00:00Z,crm`
          : `${id},OPT_OUT_ALL,,2025-01-0${i + 1}T00:00:00Z,crm`,
      ),
      `${ids[0]},OPT_OUT_ALL,OPT_IN,2025-02-01T00:00:00Z,crm`,
    ].join('\n');
    const first = await imported(a.base, csv);
    expect(first).toMatchObject({ rows_read: 9, applied: 7, rejected: 0 });
    const state = async () =>
      Promise.all(ids.map(async (id) => (await api.get(`${a.base}/identities/${id}`)).body));
    const before = await state();
    const second = await imported(a.base, csv);
    expect(second).toMatchObject({ rows_read: 9, applied: 0, rejected: 0 });
    expect(second.no_change + second.superseded).toBe(9);
    expect(await state()).toEqual(before);
  });

  it("answers 404 for an unknown import and for another app's", async () => {
    const a = fresh();
    const b = fresh();
    const done = await imported(a.base, `identity,list_type\n${randomPhone()},OPT_OUT_ALL\n`);
    expect((await api.get(`${b.base}/imports/${done.import_id}`)).status).toBe(404);
    expect((await api.get(`${b.base}/imports/${done.import_id}/errors`)).status).toBe(404);
    expect((await api.get(`${a.base}/imports/01JDQ0Z6Y1ZJ7J8T5V7M3Q9K2A`)).status).toBe(404);
    expect((await api.get(`${a.base}/imports/not-an-id`)).status).toBe(400);
  });

  it('imports from the CLI (npm run import) and exits 0, 2 on a usage error', async () => {
    const a = fresh();
    const dir = mkdtempSync(join(tmpdir(), 'import-cli-'));
    const file = join(dir, 'optouts.csv');
    const [x, y] = [randomPhone(), randomPhone()];
    writeFileSync(
      file,
      `identity,list_type,source\n${x},OPT_OUT_ALL,cli-file\n${y},OPT_OUT_NOPE,\n`,
    );
    const run = (args: string[]) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const env: Record<string, string | undefined> = { ...process.env };
        for (const key of configKeys()) delete env[key];
        Object.assign(env, {
          DATABASE_URL: process.env.TEST_DATABASE_URL,
          MIGRATIONS_RUN: 'false',
          NODE_OPTIONS: '',
        });
        const child = spawn(process.execPath, ['dist/src/scripts/import.js', ...args], { env });
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        child.stderr.on('data', (d: Buffer) => (out += d.toString()));
        child.on('exit', (code) => resolve({ code, out }));
      });
    const ok = await run(['--app', `${a.projectId}/${a.appId}`, file]);
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(/import [0-9A-Z]{26}: SUCCEEDED/);
    expect(ok.out).toContain('rows_read=2 applied=1 no_change=0 superseded=0 rejected=1');
    expect(ok.out).toContain('line 3: list_type must be one of');
    expect(await lists(a.base, x)).toEqual(['OPT_OUT_ALL']);
    expect(await audit(a.base, x)).toEqual([
      expect.objectContaining({ actor: 'cli', source: 'cli-file', origin: 'ORIGIN_IMPORT' }),
    ]);
    const dry = await run(['--app', `${a.projectId}/${a.appId}`, file, '--dry-run']);
    expect(dry.code).toBe(0);
    expect(dry.out).toContain('rows_read=2 applied=0 no_change=1');
    const bad = await run(['--app', 'only-a-project', file]);
    expect(bad.code).toBe(2);
    expect(bad.out).toContain('usage: npm run import');
  });
  it.each(['text/csv', 'application/x-ndjson'])(
    'an export (%s) re-imported into an empty app reproduces the list exactly',
    async (format) => {
      const a = fresh();
      const b = fresh();
      // A list built by every path: the API (with and without event times), an import with
      // sources (quotes, commas, non-ASCII), opt-ins taking some off again, another list.
      const phones = Array.from({ length: 8 }, () => randomPhone());
      const day = (n: number) => new Date(Date.UTC(2026, 0, n, 12, 0, 0, 123)).toISOString();
      for (const [i, p] of phones.entries()) {
        const put = await api.put(
          `${a.base}/identities/${p}/opt-outs/OPT_OUT_ALL`,
          i % 2 === 0 ? { event_time: day(i + 1) } : {},
        );
        expect(put.status).toBe(200);
      }
      for (const p of phones.slice(0, 2)) {
        expect((await api.delete(`${a.base}/identities/${p}/opt-outs/OPT_OUT_ALL`)).status).toBe(
          200,
        );
      }
      const first = await imported(
        a.base,
        'identity,list_type,event_time,source\n' +
          `"user ""x""",OPT_OUT_ALL,${day(20)},"crm, ""legacy"""\n` +
          `+46 70 111 22 33,OPT_OUT_ALL,${day(21)},twilio ß\n` +
          `+46 70 111 22 34,OPT_OUT_MARKETING,${day(22)},other list\n`,
      );
      expect(first).toMatchObject({ status: 'SUCCEEDED', applied: 3, rejected: 0 });

      const exportOf = async (base: string) => {
        const res = await fetch(`${t.baseUrl}${base}/consents/OPT_OUT_ALL:export`, {
          headers: { authorization: `Bearer ${ADMIN_KEY}`, accept: format },
        });
        expect(res.status).toBe(200);
        return res.text();
      };
      const exported = await exportOf(a.base);
      const back = await imported(b.base, exported, format);
      expect(back).toMatchObject({ status: 'SUCCEEDED', applied: 8, rejected: 0, no_change: 0 });

      // The same entries, since and source, in the same order; only the proof differs (the
      // import's records) and the origin (ORIGIN_IMPORT).
      const entries = (text: string) =>
        format === 'text/csv'
          ? text
              .trimEnd()
              .split('\n')
              .map((line) => line.replace(/,ORIGIN_[A-Z]+,/, ',<origin>,').replace(/,\d+$/, ''))
          : text
              .trimEnd()
              .split('\n')
              .map((line) => {
                const { origin: _o, audit_record_id: _a, ...rest } = JSON.parse(line);
                return rest;
              });
      const again = await exportOf(b.base);
      expect(entries(again)).toEqual(entries(exported));
      expect(entries(exported)).toHaveLength(format === 'text/csv' ? 9 : 8);
      // B's entries cite B's own import records.
      const states: { audit_record_id: string; import_id: string | null }[] = await ds.query(
        `SELECT s.audit_record_id::text AS audit_record_id, a.import_id
           FROM consent_state s JOIN consent_audit a ON a.id = s.audit_record_id
          WHERE s.project_id = $1 AND s.app_id = $2 AND s.opted_out`,
        [b.projectId, b.appId],
      );
      expect(states).toHaveLength(8);
      for (const st of states) expect(st.import_id).toBe(back.import_id);
    },
    60_000,
  );
  it('at most IMPORT_MAX_CONCURRENT uploads stream at once: one more gets 429, nothing read', async () => {
    const a = fresh();
    const importsOfApp = async () =>
      (
        (await ds.query(`SELECT count(*)::int AS n FROM imports WHERE project_id = $1`, [
          a.projectId,
        ])) as { n: number }[]
      )[0]!.n;
    // Two uploads that have sent their header and one row, and wait.
    const open = () => {
      let resolve!: (p: Posted) => void;
      const done = new Promise<Posted>((r) => (resolve = r));
      const req = request(
        `${t.baseUrl}${a.base}/imports`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'text/csv' },
        },
        (res) => {
          let text = '';
          res.setEncoding('utf8');
          res.on('data', (d: string) => (text += d));
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(text), headers: res.headers }),
          );
        },
      );
      // Two rows: the first is certainly read (and the import created) once the second arrives.
      req.write(`identity,list_type\n${randomPhone()},OPT_OUT_ALL\n${randomPhone()},OPT_OUT_ALL\n`);
      return { req, done };
    };
    const first = open();
    const second = open();
    // Both are being received (their rows are staged) before the third one asks.
    try {
      await until('two uploads in progress', importsOfApp, (n) => n === 2);
    } catch (e) {
      first.req.destroy();
      second.req.destroy();
      throw e;
    }
    const third = await upload(a.base, `identity,list_type\n${randomPhone()},OPT_OUT_ALL\n`);
    expect(third.status).toBe(429);
    expect(third.headers['retry-after']).toBe('5');
    expect(third.body.error.message).toContain('IMPORT_MAX_CONCURRENT');
    first.req.end();
    second.req.end();
    for (const p of [await first.done, await second.done]) {
      expect(p.status).toBe(202);
      expect((await finished(a.base, p.body.import_id)).status).toBe('SUCCEEDED');
    }
    // The refused one left nothing; the two others one import each.
    expect(await importsOfApp()).toBe(2);
    // Once they are done, a new upload is taken again.
    expect(
      (await upload(a.base, `identity,list_type\n${randomPhone()},OPT_OUT_ALL\n`)).status,
    ).toBe(202);
  });

  it('applies a file in parts side by side, each identity and list in one part, in line order', async () => {
    const a = fresh();
    // 30 identities with three rows each, far apart in the file and without event times: the
    // order of the lines decides (opt out, opt in, opt out again). Chunks of 3 rows: two parts.
    const ids = Array.from({ length: 30 }, () => randomPhone());
    const lines: string[] = [];
    for (const action of ['OPT_OUT', 'OPT_IN', 'OPT_OUT']) {
      for (const id of ids) lines.push(`${id},OPT_OUT_MARKETING,${action}`);
    }
    const done = await imported(a.base, `identity,list_type,action\n${lines.join('\n')}\n`);
    expect(done).toMatchObject({ status: 'SUCCEEDED', rows_read: 90, applied: 90, rejected: 0 });
    const parts: { part: number; done: boolean; last: string | null }[] = await ds.query(
      `SELECT part, done, last_identity AS last FROM import_parts WHERE import_id = $1
        ORDER BY part`,
      [done.import_id],
    );
    expect(parts.map((p) => [p.part, p.done, p.last === null])).toEqual([
      [0, true, false],
      [1, true, true],
    ]);
    const records: { identity: string; operation: string }[] = await ds.query(
      `SELECT identity, operation FROM consent_audit WHERE import_id = $1 ORDER BY id`,
      [done.import_id],
    );
    const byIdentity = new Map<string, string[]>();
    for (const r of records) {
      byIdentity.set(r.identity, [...(byIdentity.get(r.identity) ?? []), r.operation]);
    }
    expect(byIdentity.size).toBe(30);
    for (const operations of byIdentity.values()) {
      expect(operations).toEqual(['OPERATION_INSERT', 'OPERATION_DELETE', 'OPERATION_INSERT']);
    }
    const states: { n: number }[] = await ds.query(
      `SELECT count(*)::int AS n FROM consent_state
        WHERE project_id = $1 AND app_id = $2 AND opted_out AND list_type = 'OPT_OUT_MARKETING'`,
      [a.projectId, a.appId],
    );
    expect(states[0]!.n).toBe(30);
    expect((await api.get(`${a.base}/audit:verify`)).body).toMatchObject({
      verified: true,
      records: 90,
    });
    // The parts of a finished import go with the retention sweep.
    expect((await t.app.get(RetentionService).sweep()).importParts).toBeGreaterThanOrEqual(2);
    const left: unknown[] = await ds.query(`SELECT 1 FROM import_parts WHERE import_id = $1`, [
      done.import_id,
    ]);
    expect(left).toEqual([]);
  });
});
