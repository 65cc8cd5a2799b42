import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { Api, newApp, startTestApp, TestApp } from './utils.js';

describe('consent lifecycle', () => {
  let t: TestApp;
  let api: Api;

  beforeAll(async () => {
    t = await startTestApp({ SETTINGS_CACHE_TTL_MS: '0' });
    api = new Api(t.baseUrl);
  });
  afterAll(() => t.close());

  const at = (minutesAgo: number) => new Date(Date.now() - minutesAgo * 60_000).toISOString();

  it('orders changes by event_time: an older change arriving late is superseded but audited', async () => {
    const { base } = newApp();
    const path = `${base}/identities/46732001122/opt-outs/OPT_OUT_ALL`;
    // STOP at t-10 and START at t-5, delivered in reverse order: the identity ends opted in.
    const start = await api.delete(path, { event_time: at(5) });
    expect(start.body.outcome).toBe('NO_CHANGE');
    const stop = await api.put(path, { event_time: at(10) });
    expect(stop.body).toMatchObject({ outcome: 'SUPERSEDED', opted_out: false });
    const check = await api.post(`${base}/consents:check`, { identities: ['46732001122'] });
    expect(check.body.results[0].decision).toBe('ALLOW');

    // A newer opt-out applies, and an older opt-in after it is superseded.
    expect((await api.put(path, { event_time: at(1) })).body.outcome).toBe('APPLIED');
    expect((await api.delete(path, { event_time: at(3) })).body).toMatchObject({
      outcome: 'SUPERSEDED',
      opted_out: true,
    });
    const blocked = await api.post(`${base}/consents:check`, { identities: ['46732001122'] });
    expect(blocked.body.results[0].decision).toBe('BLOCK');

    const audit = await api.get(`${base}/identities/46732001122/audit-records`);
    expect(audit.body.audit_records.map((r: any) => [r.operation, r.outcome])).toEqual([
      ['OPERATION_DELETE', 'NO_CHANGE'],
      ['OPERATION_INSERT', 'SUPERSEDED'],
      ['OPERATION_INSERT', 'APPLIED'],
      ['OPERATION_DELETE', 'SUPERSEDED'],
    ]);
  });

  it('is idempotent and audits every request, with actor, reason and evidence', async () => {
    const { base } = newApp();
    const path = `${base}/identities/${encodeURIComponent('+1 555 123 1212')}/opt-outs/OPT_OUT_NOTIFICATION`;
    const first = await api.put(path, {
      reason: 'web preferences',
      evidence: { form: 'prefs-v2' },
    });
    const second = await api.put(path, {});
    expect([first.body.outcome, first.body.operation]).toEqual(['APPLIED', 'OPERATION_INSERT']);
    expect([second.body.outcome, second.body.operation]).toEqual(['NO_CHANGE', 'OPERATION_UPDATE']);
    const audit = (await api.get(`${base}/identities/15551231212/audit-records`)).body
      .audit_records;
    expect(audit).toHaveLength(2);
    expect(audit[0]).toMatchObject({
      identity: '15551231212',
      list_type: 'OPT_OUT_NOTIFICATION',
      origin: 'ORIGIN_API',
      actor: 'admin',
      reason: 'web preferences',
      evidence: { form: 'prefs-v2' },
      batch_id: null,
    });
    expect(Date.parse(audit[0].recorded_at)).toBeGreaterThan(0);
    expect(audit[1].id > audit[0].id || Number(audit[1].id) > Number(audit[0].id)).toBe(true);
  });

  it('concurrent identical opt-outs apply once', async () => {
    const { base } = newApp();
    const path = `${base}/identities/46700000001/opt-outs/OPT_OUT_ALL`;
    const results = await Promise.all(Array.from({ length: 12 }, () => api.put(path, {})));
    expect(results.map((r) => (r.status === 200 ? 200 : JSON.stringify(r.body)))).toEqual(
      results.map(() => 200),
    );
    const outcomes = results.map((r) => r.body.outcome);
    expect(outcomes.filter((o) => o === 'APPLIED')).toHaveLength(1);
    // The others are no-ops: NO_CHANGE, or SUPERSEDED when their default event time (arrival)
    // is older than the one that got the row lock first.
    expect(outcomes.filter((o) => o === 'NO_CHANGE' || o === 'SUPERSEDED')).toHaveLength(11);
    expect(results.every((r) => r.body.opted_out === true)).toBe(true);
    const audit = (await api.get(`${base}/identities/46700000001/audit-records`)).body
      .audit_records;
    expect(audit).toHaveLength(12);
  });

  it('SECONDARY mode never blocks but reports; settings default to PRIMARY', async () => {
    const { base } = newApp();
    const settings = await api.get(`${base}/consent-settings`);
    expect(settings.body).toMatchObject({ mode: 'PRIMARY', configured: false, updated_at: null });
    await api.put(`${base}/identities/46732001122/opt-outs/OPT_OUT_ALL`, {});

    const put = await api.put(`${base}/consent-settings`, { mode: 'SECONDARY' });
    expect(put.body).toMatchObject({ mode: 'SECONDARY', configured: true });
    const check = await api.post(`${base}/consents:check`, {
      identities: ['46732001122', '46732001199'],
      message_content_type: 'CONTENT_NOTIFICATION',
    });
    expect(check.body.mode).toBe('SECONDARY');
    expect(check.body.results[0]).toMatchObject({
      decision: 'ALLOW',
      opted_out: true,
      lists: ['OPT_OUT_ALL'],
    });
    expect(check.body.results[0].reason).toContain('SECONDARY');
    expect(check.body.results[1]).toMatchObject({ decision: 'ALLOW', opted_out: false, lists: [] });

    expect((await api.put(`${base}/consent-settings`, { mode: 'TERTIARY' })).status).toBe(400);
    expect((await api.get(`${base}/consent-settings`)).body.mode).toBe('SECONDARY');
    await api.put(`${base}/consent-settings`, { mode: 'PRIMARY' });
    const again = await api.post(`${base}/consents:check`, { identities: ['46732001122'] });
    expect(again.body.results[0].decision).toBe('BLOCK');
  });

  it('batch check answers in the order asked, with duplicates and normalisation', async () => {
    const { projectId, appId, base } = newApp();
    await api.post(`/v1/projects/${projectId}/consents`, {
      app_id: appId,
      consent_records: [
        { identification: '+46 70 000 0002', consent_type: 'OPT_OUT_MARKETING' },
        { identification: '46700000003', consent_type: 'OPT_OUT_ALL' },
      ],
    });
    const identities = ['46700000003', '+46700000002', '46700000004', '46 70 000 0002'];
    const res = await api.post(`${base}/consents:check`, {
      identities,
      message_content_type: 'CONTENT_MARKETING',
    });
    expect(res.body.results.map((r: any) => [r.identity, r.decision])).toEqual([
      ['46700000003', 'BLOCK'],
      ['46700000002', 'BLOCK'],
      ['46700000004', 'ALLOW'],
      ['46700000002', 'BLOCK'],
    ]);
  });

  it('Sinch list endpoint pages in a stable order with opaque tokens', async () => {
    const { projectId, appId, base } = newApp();
    const ids = Array.from({ length: 23 }, (_, i) => String(46710000000 + i));
    await api.post(`/v1/projects/${projectId}/consents`, {
      app_id: appId,
      consent_records: ids.map((identification) => ({
        identification,
        consent_type: 'OPT_OUT_ALL',
      })),
    });
    // One taken off again must not be listed.
    await api.delete(`${base}/identities/${ids[4]}/opt-outs/OPT_OUT_ALL`);
    const seen: string[] = [];
    let token = '';
    let pages = 0;
    do {
      const res = await api.get(
        `${base}/consents/OPT_OUT_ALL${token ? `?page_token=${token}` : ''}`,
      );
      expect(res.status).toBe(200);
      expect(res.body.identities.length).toBeLessThanOrEqual(10);
      seen.push(...res.body.identities.map((i: any) => i.identity));
      token = res.body.next_page_token;
      pages++;
    } while (token && pages < 10);
    expect(pages).toBe(3);
    expect(seen).toEqual(ids.filter((_, i) => i !== 4).sort());
    const empty = await api.get(`${base}/consents/OPT_OUT_MARKETING?page_size=50`);
    expect(empty.body).toEqual({ identities: [], next_page_token: '' });
  });

  it('Sinch audit endpoint uses Sinch enums', async () => {
    const { projectId, appId, base } = newApp();
    const batch = await api.post(`/v1/projects/${projectId}/consents`, {
      app_id: appId,
      consent_records: [{ identification: '+46732001122', consent_type: 'OPT_OUT_MARKETING' }],
    });
    expect(batch.body.batch_id).toMatch(/^[0-9A-Z]{26}$/);
    await api.delete(`${base}/identities/46732001122/opt-outs/OPT_OUT_MARKETING`);
    const res = await api.get(
      `${base}/consents/identities/${encodeURIComponent('+46 73 200 11 22')}`,
    );
    expect(res.body.identity).toEqual({ identity: '46732001122' });
    expect(res.body.audit_records).toEqual([
      {
        origin: 'ORIGIN_API',
        operation: 'OPERATION_INSERT',
        list_type: 'OPT_OUT_MARKETING',
        project_id: projectId,
        app_id: appId,
        datetime: expect.any(String),
      },
      {
        origin: 'ORIGIN_API',
        operation: 'OPERATION_DELETE',
        list_type: 'OPT_OUT_MARKETING',
        project_id: projectId,
        app_id: appId,
        datetime: expect.any(String),
      },
    ]);
    const native = await api.get(`${base}/identities/46732001122/audit-records`);
    expect(native.body.audit_records[0].batch_id).toBe(batch.body.batch_id);
  });

  it('the database refuses UPDATE, DELETE and TRUNCATE on the audit table', async () => {
    const { base, projectId } = newApp();
    await api.put(`${base}/identities/46732001122/opt-outs/OPT_OUT_ALL`, {});
    const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await client.connect();
    try {
      await expect(
        client.query(`UPDATE consent_audit SET outcome = 'NO_CHANGE' WHERE project_id = $1`, [
          projectId,
        ]),
      ).rejects.toThrow(/append-only/);
      await expect(
        client.query(`DELETE FROM consent_audit WHERE project_id = $1`, [projectId]),
      ).rejects.toThrow(/append-only/);
      await expect(client.query(`TRUNCATE consent_audit`)).rejects.toThrow(/append-only/);
      const { rows } = await client.query(
        `SELECT count(*)::int n FROM consent_audit WHERE project_id = $1`,
        [projectId],
      );
      expect(rows[0].n).toBe(1);
    } finally {
      await client.end();
    }
  });

  it('the database refuses a consent change record without list_type, origin, operation or outcome', async () => {
    const { projectId, appId } = newApp();
    const client = new pg.Client({ connectionString: process.env.TEST_DATABASE_URL });
    await client.connect();
    const insert = (kind: string | null, listType: string | null, operation: string | null) =>
      client.query(
        `INSERT INTO consent_audit
           (kind, project_id, app_id, identity, list_type, origin, operation, outcome, actor, event_time)
         VALUES (coalesce($1, 'CONSENT_CHANGE'), $2, $3, '46732001122', $4, 'ORIGIN_API', $5, 'APPLIED', 'test', now())`,
        [kind, projectId, appId, listType, operation],
      );
    try {
      // The default kind is CONSENT_CHANGE: the consent fields are required.
      await expect(insert(null, null, 'OPERATION_INSERT')).rejects.toThrow(
        /consent_audit_consent_change_check/,
      );
      await expect(insert('CONSENT_CHANGE', 'OPT_OUT_ALL', null)).rejects.toThrow(
        /consent_audit_consent_change_check/,
      );
      await expect(insert('SOMETHING_ELSE', 'OPT_OUT_ALL', 'OPERATION_INSERT')).rejects.toThrow(
        /consent_audit_kind_check/,
      );
      // Other kinds may leave them null.
      await insert('DELIVERY_REFUSED', null, null);
      const { rows } = await client.query(
        `SELECT kind, list_type FROM consent_audit WHERE project_id = $1`,
        [projectId],
      );
      expect(rows).toEqual([{ kind: 'DELIVERY_REFUSED', list_type: null }]);
    } finally {
      await client.end();
    }
  });
});
