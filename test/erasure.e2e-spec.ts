// Issue 9, item 5: erasure that keeps the suppression. POST .../identities/{identity}:erase
// removes the identity in clear (and its free texts) from every table, while it stays on its
// lists by its keyed hash: checks and sends stay BLOCKED, a later STOP/START still works, and
// the audit chain and evidence bundles still verify.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { checkEvidence, type EvidenceBundle } from '../src/audit/domain/evidence.js';
import { FakeSinch } from './fake-sinch.js';
import { inboundText, signatureHeaders } from './sinch-payloads.js';
import { abandonPendingJobs, Api, newApp, startTestApp, TestApp } from './utils.js';

const SECRET = 'erasure-webhook-secret';
const ERASED = /^erased:[0-9a-f]{64}$/;

describe('identity erasure', () => {
  const fake = new FakeSinch();
  let t: TestApp;
  let api: Api;
  let ds: DataSource;
  const projects: string[] = [];

  beforeAll(async () => {
    await fake.start();
    t = await startTestApp({
      SETTINGS_CACHE_TTL_MS: '0',
      SINCH_PROJECT_ID: 'sinch-project',
      SINCH_KEY_ID: fake.expectedKeyId,
      SINCH_KEY_SECRET: fake.expectedKeySecret,
      SINCH_CONVERSATION_URL: fake.url,
      SINCH_AUTH_URL: fake.url,
      SINCH_TIMEOUT_MS: '2000',
    });
    api = new Api(t.baseUrl);
    ds = t.app.get(DataSource);
  });
  afterAll(async () => {
    if (ds) {
      await abandonPendingJobs(ds, projects, 'SINCH_REPLY');
      await abandonPendingJobs(ds, projects, 'CALLBACK');
      await abandonPendingJobs(ds, projects, 'IMPORT');
    }
    await t?.close();
    await fake.stop();
  });

  const phone = () => `4670${String(Math.floor(Math.random() * 1e7)).padStart(7, '0')}`;

  async function configuredApp() {
    const a = newApp();
    projects.push(a.projectId);
    const res = await api.put(`${a.base}/consent-settings`, {
      mode: 'PRIMARY',
      webhook_secrets: [SECRET],
    });
    expect(res.status).toBe(200);
    return a;
  }

  async function webhook(payload: unknown): Promise<number> {
    const body = JSON.stringify(payload);
    const res = await fetch(`${t.baseUrl}/webhooks/sinch`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...signatureHeaders(body, SECRET) },
      body,
    });
    await res.text();
    return res.status;
  }

  async function send(projectId: string, appId: string, identity: string) {
    const res = await fetch(`${t.baseUrl}/v1/projects/${projectId}/messages:send`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        authorization: `Bearer ${t.config.ADMIN_API_KEY}`,
      },
      body: JSON.stringify({
        app_id: appId,
        recipient: { identified_by: { channel_identities: [{ channel: 'SMS', identity }] } },
        message: { text_message: { text: 'Spring sale' } },
        message_content_type: 'CONTENT_MARKETING',
      }),
    });
    return { status: res.status, body: (await res.json()) as any };
  }

  async function check(base: string, identities: string[], at?: string) {
    const res = await api.post(`${base}/consents:check`, {
      identities,
      message_content_type: 'CONTENT_MARKETING',
      ...(at ? { at } : {}),
    });
    expect(res.status).toBe(200);
    return res.body.results as { identity: string; decision: string; lists: string[] }[];
  }

  /** Every row of every table of the schema, as text, that contains one of `needles`. */
  async function rowsContaining(needles: string[]): Promise<string[]> {
    const tables: { name: string }[] = await ds.query(
      `SELECT table_name AS name FROM information_schema.tables
        WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`,
    );
    expect(tables.length).toBeGreaterThan(15);
    const found: string[] = [];
    for (const { name } of tables) {
      const rows: { row: string }[] = await ds.query(`SELECT t::text AS row FROM "${name}" t`);
      for (const { row } of rows) {
        if (needles.some((n) => row.includes(n))) found.push(`${name}: ${row.slice(0, 300)}`);
      }
    }
    return found;
  }

  it('removes the identity in clear from every table, and it stays blocked', async () => {
    const a = await configuredApp();
    const x = phone();
    const other = phone();
    const note = `called from +${x} about the newsletter`;
    // A callback subscription: applied changes queue CALLBACK jobs naming the identity.
    expect(
      (
        await api.post(`${a.base}/callbacks`, {
          target_url: 'http://127.0.0.1:9/callbacks',
          secret: 'callback-secret-0123456789',
          triggers: ['OPT_OUT', 'OPT_IN'],
        })
      ).status,
    ).toBe(201);
    // Free texts about it, through the API.
    const put = await api.put(`${a.base}/identities/${x}/opt-outs/OPT_OUT_MARKETING`, {
      reason: note,
      evidence: { transcript: note, number: `+${x}` },
    });
    expect(put.status).toBe(200);
    await api.put(`${a.base}/identities/${other}/opt-outs/OPT_OUT_MARKETING`, { reason: 'other' });
    // A STOP by SMS from a contact (webhook delivery, contact identity, confirmation reply job).
    expect(
      await webhook(
        inboundText(a.projectId, a.appId, 'STOP', { identity: `+${x}`, contactId: 'contact-x' }),
      ),
    ).toBe(200);
    // A send attempt blocked by the gate.
    const blocked = await send(a.projectId, a.appId, x);
    expect(blocked.status).toBe(403);
    // A staged import row (the import job does not run here: no worker).
    const csv = `identity,list_type,reason\n${x},OPT_OUT_NOTIFICATION,${note}\n${other},OPT_OUT_NOTIFICATION,fine\n`;
    const imported = await api.request('POST', `${a.base}/imports`, csv, {
      'content-type': 'text/csv',
    });
    expect(imported.status).toBe(202);
    const before = new Date().toISOString();
    expect((await api.post(`${a.base}/audit:checkpoint`)).status).toBe(201);

    // Before: the identity is in clear in many tables.
    const clearBefore = await rowsContaining([x]);
    const tablesBefore = new Set(clearBefore.map((r) => r.split(':')[0]));
    for (const table of [
      'consent_state',
      'consent_audit',
      'send_attempts',
      'webhook_deliveries',
      'contact_identities',
      'outbox_jobs',
      'import_rows',
    ]) {
      expect(tablesBefore).toContain(table);
    }

    // A read or write key may not erase; an identity never seen is 404, nothing stored.
    const writer = (
      await api.post('/v1/api-keys', { name: 'erasure-writer', scopes: ['read', 'write'] })
    ).body;
    expect(
      (await api.as(writer.key_secret).post(`${a.base}/identities/${x}:erase`, {})).status,
    ).toBe(403);
    expect((await api.post(`${a.base}/identities/${phone()}:erase`, {})).status).toBe(404);
    expect(
      (await api.post(`${a.base}/identities/${x}:erase`, { reason: `request from ${x}` })).status,
    ).toBe(400);

    const erased = await api.post(`${a.base}/identities/%2B${x}:erase`, {
      reason: 'GDPR Art. 17 request, ticket 4711',
    });
    expect(erased.status).toBe(200);
    expect(erased.body.erased_identity).toMatch(ERASED);
    expect(erased.body.erased_identity).toBe(`erased:${erased.body.identity_key}`);
    expect(erased.body.already_erased).toBe(false);
    expect(erased.body.lists).toEqual(['OPT_OUT_ALL', 'OPT_OUT_MARKETING']);
    expect(erased.body.removed).toMatchObject({
      consent_states: 2,
      send_attempts: 1,
      webhook_deliveries: 1,
      contact_identities: 1,
      import_rows: 1,
    });
    expect(erased.body.removed.audit_records).toBeGreaterThanOrEqual(2);
    expect(erased.body.removed.jobs).toBeGreaterThanOrEqual(1);

    // After: no table holds the number (in any form the test used) or the free text.
    expect(await rowsContaining([x, 'called from'])).toEqual([]);
    // The other identity is untouched.
    expect((await rowsContaining([other])).length).toBeGreaterThan(0);

    // Still blocked, by every path: the check (alone, in a batch, formatted), the send gate.
    expect((await check(a.base, [x]))[0]).toMatchObject({ identity: x, decision: 'BLOCK' });
    const batch = await check(a.base, [other, `+${x}`, phone()]);
    expect(batch.map((r) => r.decision)).toEqual(['BLOCK', 'BLOCK', 'ALLOW']);
    expect(batch[1]!.lists).toEqual(['OPT_OUT_ALL', 'OPT_OUT_MARKETING']);
    expect((await send(a.projectId, a.appId, `+${x}`)).status).toBe(403);
    // As it stood before the erasure, from the (rewritten) trail.
    expect((await check(a.base, [x], before))[0]!.decision).toBe('BLOCK');
    // The send attempt after the erasure is stored by the erased form too.
    expect(await rowsContaining([x])).toEqual([]);

    // The state and trail are found by the number and by the erased form.
    const state = await api.get(`${a.base}/identities/${x}`);
    expect(state.body.lists.map((l: any) => l.list_type)).toEqual([
      'OPT_OUT_ALL',
      'OPT_OUT_MARKETING',
    ]);
    const byForm = await api.get(`${a.base}/identities/${erased.body.erased_identity}`);
    expect(byForm.status).toBe(200);
    expect(byForm.body.opted_out).toBe(true);
    const trail = await api.get(`${a.base}/identities/${x}/audit-records`);
    const kinds = trail.body.audit_records.map((r: any) => r.kind);
    expect(kinds).toContain('ERASURE');
    for (const r of trail.body.audit_records) {
      expect(r.identity).toBe(erased.body.erased_identity);
      if (r.kind !== 'ERASURE') expect(r.reason).toBeNull();
    }
    const erasure = trail.body.audit_records.find((r: any) => r.kind === 'ERASURE');
    expect(erasure).toMatchObject({
      reason: 'GDPR Art. 17 request, ticket 4711',
      id: erased.body.audit_record_id,
    });

    // The chain still verifies, and an evidence bundle checks offline.
    const verified = await api.get(`${a.base}/audit:verify`);
    expect(verified.body).toMatchObject({ verified: true });
    const bundle = (await api.get(`${a.base}/identities/${x}:evidence`)).body as EvidenceBundle;
    expect(bundle.identity).toBe(erased.body.erased_identity);
    expect(bundle.identity_key).toBe(erased.body.identity_key);
    const ok = checkEvidence(bundle);
    expect(ok.problems).toEqual([]);
    expect(ok.ok).toBe(true);
    expect(JSON.stringify(bundle)).not.toContain(x);
    // A bundle whose erased record claims another digest fails.
    const forged = structuredClone(bundle);
    const withDigest = forged.records.find((r) => r.reason_sha256 !== undefined)!;
    withDigest.reason_sha256 = '0'.repeat(64);
    expect(checkEvidence(forged).ok).toBe(false);

    // STOP and START still work, by the erased form; the number is never stored again there.
    const start = await api.delete(`${a.base}/identities/${x}/opt-outs/OPT_OUT_MARKETING`);
    expect(start.body).toMatchObject({ outcome: 'APPLIED', opted_out: false, identity: x });
    await api.delete(`${a.base}/identities/${x}/opt-outs/OPT_OUT_ALL`);
    expect((await check(a.base, [x]))[0]!.decision).toBe('ALLOW');
    expect(await webhook(inboundText(a.projectId, a.appId, 'STOP', { identity: `+${x}` }))).toBe(
      200,
    );
    expect((await check(a.base, [x]))[0]).toMatchObject({
      decision: 'BLOCK',
      lists: ['OPT_OUT_ALL'],
    });
    const states: { identity: string }[] = await ds.query(
      `SELECT identity FROM consent_state WHERE project_id = $1 AND app_id = $2 AND identity <> $3`,
      [a.projectId, a.appId, other],
    );
    expect(states.map((s) => s.identity)).toEqual([
      erased.body.erased_identity,
      erased.body.erased_identity,
    ]);
    // The new webhook delivery holds the number again (new data): a second erasure removes it.
    expect((await rowsContaining([x])).map((r) => r.split(':')[0]).sort()).not.toContain(
      'consent_audit',
    );
    const again = await api.post(`${a.base}/identities/${x}:erase`, {});
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({
      already_erased: true,
      erased_identity: erased.body.erased_identity,
      erased_at: erased.body.erased_at,
      lists: ['OPT_OUT_ALL'],
    });
    expect(await rowsContaining([x])).toEqual([]);
    expect((await api.get(`${a.base}/audit:verify`)).body.verified).toBe(true);

    // The staged import row of the number was removed and counted as rejected, not lost silently.
    const errors: { line: number; description: string }[] = await ds.query(
      `SELECT line, description FROM import_errors WHERE import_id = $1`,
      [imported.body.import_id],
    );
    expect(errors).toEqual([{ line: 2, description: 'row removed by an erasure of its identity' }]);
  });

  it('refuses the erased form as an identity to write, and any other change of the trail', async () => {
    const a = await configuredApp();
    const x = phone();
    await api.put(`${a.base}/identities/${x}/opt-outs/OPT_OUT_ALL`, { reason: 'r' });
    const erased = (await api.post(`${a.base}/identities/${x}:erase`, {})).body;
    const put = await api.put(
      `${a.base}/identities/${erased.erased_identity}/opt-outs/OPT_OUT_ALL`,
    );
    expect(put.status).toBe(400);
    expect(JSON.stringify(put.body)).toContain('erased:');
    // Not an identity to erase (the colon also keeps it from matching the route).
    expect([400, 404]).toContain(
      (await api.post(`${a.base}/identities/${erased.erased_identity}:erase`, {})).status,
    );

    // The database itself: a record naming the erased number in clear is refused (a change
    // planned before the erasure is planned again), other updates and deletes too.
    await expect(
      ds.query(
        `INSERT INTO consent_audit (kind, project_id, app_id, identity, list_type, origin, operation,
                                    outcome, actor, event_time)
         VALUES ('CONSENT_CHANGE', $1, $2, $3, 'OPT_OUT_ALL', 'ORIGIN_API', 'OPERATION_INSERT',
                 'NO_CHANGE', 'test', now())`,
        [a.projectId, a.appId, x],
      ),
    ).rejects.toMatchObject({ driverError: expect.objectContaining({ code: '40001' }) });
    await expect(
      ds.query(`UPDATE consent_audit SET actor = 'someone' WHERE project_id = $1 AND app_id = $2`, [
        a.projectId,
        a.appId,
      ]),
    ).rejects.toThrow(/append-only/);
    await expect(
      ds.query(`UPDATE consent_audit SET identity = $3 WHERE project_id = $1 AND app_id = $2`, [
        a.projectId,
        a.appId,
        `erased:${'0'.repeat(64)}`,
      ]),
    ).rejects.toThrow(/append-only/);
    await expect(
      ds.query(`DELETE FROM consent_audit WHERE project_id = $1 AND app_id = $2`, [
        a.projectId,
        a.appId,
      ]),
    ).rejects.toThrow(/append-only/);
    await expect(
      ds.query(`DELETE FROM identity_erasures WHERE project_id = $1 AND app_id = $2`, [
        a.projectId,
        a.appId,
      ]),
    ).rejects.toThrow(/append-only/);
  });

  it('an erasure inside a transaction that already wrote to the chain is seen by its next record', async () => {
    // The chain trigger reads whether the app has erasures once per transaction (with the head,
    // under the chain lock); an erasure in that same transaction must not be missed.
    const a = await configuredApp();
    const x = phone();
    const insert = `INSERT INTO consent_audit (kind, project_id, app_id, identity, list_type, origin,
                                               operation, outcome, actor, event_time)
         VALUES ('CONSENT_CHANGE', $1, $2, $3, 'OPT_OUT_ALL', 'ORIGIN_API', 'OPERATION_INSERT',
                 'NO_CHANGE', 'test', now()) RETURNING id::text AS id, identity_key`;
    const runner = ds.createQueryRunner();
    await runner.connect();
    try {
      await runner.startTransaction();
      // A record of another identity: the head (app without erasures) is kept from here on.
      const [first] = (await runner.query(insert, [a.projectId, a.appId, phone()])) as {
        id: string;
      }[];
      const [key] = (await runner.query(`SELECT consent_audit_identity_key($1) AS k`, [x])) as {
        k: Buffer;
      }[];
      await runner.query(
        `INSERT INTO identity_erasures (project_id, app_id, identity_key, audit_record_id)
         VALUES ($1, $2, $3, $4)`,
        [a.projectId, a.appId, key!.k, first!.id],
      );
      await expect(runner.query(insert, [a.projectId, a.appId, x])).rejects.toMatchObject({
        driverError: expect.objectContaining({ code: '40001' }),
      });
    } finally {
      if (runner.isTransactionActive) await runner.rollbackTransaction();
      await runner.release();
    }
  });

  it('changes racing an erasure end by the erased form, never in clear', async () => {
    const a = await configuredApp();
    const x = phone();
    await api.put(`${a.base}/identities/${x}/opt-outs/OPT_OUT_MARKETING`, { reason: 'first' });
    const lists = ['OPT_OUT_ALL', 'OPT_OUT_MARKETING', 'OPT_OUT_NOTIFICATION'];
    const changes = Array.from({ length: 24 }, (_, i) =>
      i % 2 === 0
        ? api.put(`${a.base}/identities/${x}/opt-outs/${lists[i % 3]}`, { reason: `r${i}` })
        : api.delete(`${a.base}/identities/${x}/opt-outs/${lists[i % 3]}`, { reason: `r${i}` }),
    );
    const erasure = api.post(`${a.base}/identities/${x}:erase`, {});
    const answers = await Promise.all([...changes, erasure]);
    // Each change applied (its transaction retried when the erasure won the race) or was told
    // to retry (503): none failed otherwise, none was lost silently.
    for (const r of answers) expect([200, 503]).toContain(r.status);
    const stored: { identity: string }[] = await ds.query(
      `SELECT identity FROM consent_state WHERE project_id = $1 AND app_id = $2
       UNION ALL
       SELECT identity FROM consent_audit WHERE project_id = $1 AND app_id = $2 AND identity IS NOT NULL`,
      [a.projectId, a.appId],
    );
    const form = (await answers[answers.length - 1]!).body.erased_identity as string;
    expect(form).toMatch(ERASED);
    expect(new Set(stored.map((s) => s.identity))).toEqual(new Set([form]));
    const applied = answers.slice(0, -1).filter((r) => r.status === 200).length;
    // One record per change answered 200, plus the first change and the erasure.
    expect(stored.length - 0).toBeGreaterThanOrEqual(applied + 2);
    expect((await api.get(`${a.base}/audit:verify`)).body.verified).toBe(true);
  });
});
