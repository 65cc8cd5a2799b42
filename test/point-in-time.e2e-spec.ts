import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DataSource } from 'typeorm';
import { SettingsHistoryPointInTime1764700000000 } from '../src/database/migrations/1764700000000-settings-history-point-in-time.js';
import { Api, newApp, seededRandom, sleep, startTestApp, TestApp } from './utils.js';

const CONTENT_TYPES = ['CONTENT_UNKNOWN', 'CONTENT_MARKETING', 'CONTENT_NOTIFICATION'] as const;
const LISTS = ['OPT_OUT_ALL', 'OPT_OUT_MARKETING', 'OPT_OUT_NOTIFICATION'] as const;
const SECRET = 'point-in-time-webhook-secret';

type Result = {
  identity: string;
  decision: string;
  opted_out: boolean;
  lists: string[];
  reason: string;
  decided_by?: string[];
};
type Answer = { at?: string; mode: string; message_content_type: string; results: Result[] };
type AuditRecord = {
  id: string;
  kind: string;
  identity: string;
  list_type: string;
  operation: string;
  outcome: string;
  recorded_at: string;
};

/**
 * Issue 8, item 3: `consents:check` with `at` answers as consent stood at that instant, from
 * the audit trail, with the mode of that instant (settings history, itself audited).
 */
describe('point-in-time check', () => {
  let t: TestApp;
  let api: Api;
  let ds: DataSource;

  beforeAll(async () => {
    t = await startTestApp();
    api = new Api(t.baseUrl);
    ds = t.app.get(DataSource);
  });
  afterAll(() => t.close());

  async function settings(base: string, body: Record<string, unknown>) {
    const res = await api.put(`${base}/consent-settings`, body);
    expect(res.status).toBe(200);
  }

  async function change(
    base: string,
    identity: string,
    list: string,
    optOut: boolean,
    extra: Record<string, unknown> = {},
  ): Promise<{ outcome: string; audit_record_id: string }> {
    const path = `${base}/identities/${identity}/opt-outs/${list}`;
    const res = optOut ? await api.put(path, extra) : await api.delete(path, extra);
    expect(res.status).toBe(200);
    return res.body;
  }

  async function check(base: string, body: Record<string, unknown>): Promise<Answer> {
    const res = await api.post(`${base}/consents:check`, body);
    expect({ status: res.status, body: res.status === 200 ? 'ok' : res.body }).toEqual({
      status: 200,
      body: 'ok',
    });
    return res.body;
  }

  /** The ordinary check of `identities` for every content type. */
  const checkAll = (base: string, identities: string[]) =>
    Promise.all(CONTENT_TYPES.map((c) => check(base, { identities, message_content_type: c })));

  /**
   * A moment between the requests before and after it: a few milliseconds after the last
   * answer and before the next request, so that no record shares its millisecond.
   */
  async function moment(): Promise<string> {
    await sleep(3);
    const at = new Date().toISOString();
    await sleep(3);
    return at;
  }

  /** Every audit record of the identities, by id. */
  async function recordsOf(base: string, identities: string[]): Promise<Map<string, AuditRecord>> {
    const out = new Map<string, AuditRecord>();
    for (const identity of new Set(identities)) {
      const res = await api.get(`${base}/identities/${identity}/audit-records?page_size=500`);
      expect(res.status).toBe(200);
      for (const r of res.body.audit_records as AuditRecord[]) out.set(r.id, r);
    }
    return out;
  }

  /**
   * The answer at `at` equals the ordinary answer taken then (decided_by aside), and each
   * decided_by names, per list, the latest applied change of that identity and list recorded by
   * then, one that put it on the list (as the audit records API shows them).
   */
  function expectSameAnswer(
    then: Answer,
    past: Answer,
    at: string,
    records: Map<string, AuditRecord>,
  ) {
    expect(past.at).toBe(at);
    const { at: _at, ...body } = past;
    expect({
      ...body,
      results: past.results.map(({ decided_by: _d, ...r }) => r),
    }).toEqual(then);
    for (const r of past.results) {
      expect(r.decided_by).toHaveLength(r.lists.length);
      r.lists.forEach((list, i) => {
        const record = records.get(r.decided_by![i]!);
        expect(record).toMatchObject({
          kind: 'CONSENT_CHANGE',
          identity: r.identity,
          list_type: list,
          outcome: 'APPLIED',
          operation: 'OPERATION_INSERT',
        });
        expect(record!.recorded_at <= at).toBe(true);
        const later = [...records.values()].filter(
          (o) =>
            o.identity === r.identity &&
            o.list_type === list &&
            o.kind === 'CONSENT_CHANGE' &&
            o.outcome === 'APPLIED' &&
            BigInt(o.id) > BigInt(record!.id) &&
            o.recorded_at <= at,
        );
        expect(later).toEqual([]);
      });
    }
  }

  it('answers as the ordinary check did at each moment: opt-out, opt-in, superseded, no-change, mode changes', async () => {
    const { base } = newApp();
    const [a, b, c, never] = ['46731000001', '46731000002', '46731000003', '46731000009'];
    const asked = [a, b, c, never, `+${a}`];
    const snapshots: { at: string; answers: Answer[] }[] = [];
    /** The ordinary answers now, and a moment after them (before the next change). */
    const snapshot = async () => {
      const answers = await checkAll(base, asked);
      snapshots.push({ at: await moment(), answers });
    };

    await snapshot(); // nothing yet: DEFAULT_MODE (PRIMARY), no list
    await settings(base, { mode: 'PRIMARY', auto_reply: false });
    const aMarketing = await change(base, a, 'OPT_OUT_MARKETING', true);
    const bAll = await change(base, b, 'OPT_OUT_ALL', true);
    expect([aMarketing.outcome, bAll.outcome]).toEqual(['APPLIED', 'APPLIED']);
    await snapshot();
    // Changes that change nothing: already opted out, and an opt-in older than the opt-out.
    expect((await change(base, a, 'OPT_OUT_MARKETING', true)).outcome).toBe('NO_CHANGE');
    const older = new Date(Date.now() - 3_600_000).toISOString();
    expect((await change(base, b, 'OPT_OUT_ALL', false, { event_time: older })).outcome).toBe(
      'SUPERSEDED',
    );
    expect((await change(base, c, 'OPT_OUT_NOTIFICATION', false)).outcome).toBe('NO_CHANGE');
    await snapshot();
    await settings(base, { mode: 'SECONDARY' });
    await snapshot();
    expect((await change(base, a, 'OPT_OUT_MARKETING', false)).outcome).toBe('APPLIED');
    await change(base, c, 'OPT_OUT_ALL', true);
    await change(base, c, 'OPT_OUT_MARKETING', true);
    await snapshot();
    await settings(base, { mode: 'PRIMARY' });
    const aAll = await change(base, a, 'OPT_OUT_ALL', true);
    await change(base, b, 'OPT_OUT_ALL', false);
    await snapshot();

    expect(snapshots.map((s) => s.answers[0]!.mode)).toEqual([
      'PRIMARY',
      'PRIMARY',
      'PRIMARY',
      'SECONDARY',
      'SECONDARY',
      'PRIMARY',
    ]);
    const records = await recordsOf(base, asked.slice(0, 4));
    for (const { at, answers } of snapshots) {
      for (const [i, contentType] of CONTENT_TYPES.entries()) {
        const past = await check(base, {
          identities: asked,
          message_content_type: contentType,
          at,
        });
        expectSameAnswer(answers[i]!, past, at, records);
      }
    }

    // Spot checks of the story told above.
    const at = (n: number, contentType: string) =>
      check(base, {
        identities: [a, b],
        message_content_type: contentType,
        at: snapshots[n]!.at,
      });
    // b's superseded opt-in did not count: still blocked by its opt-out.
    expect((await at(2, 'CONTENT_UNKNOWN')).results[1]).toMatchObject({
      decision: 'BLOCK',
      lists: ['OPT_OUT_ALL'],
      decided_by: [bAll.audit_record_id],
    });
    // SECONDARY then: reported, not blocked; a's marketing opt-out decided it.
    expect((await at(3, 'CONTENT_MARKETING')).results).toMatchObject([
      { decision: 'ALLOW', lists: ['OPT_OUT_MARKETING'], decided_by: [aMarketing.audit_record_id] },
      { decision: 'ALLOW', lists: ['OPT_OUT_ALL'], decided_by: [bAll.audit_record_id] },
    ]);
    const last = await at(5, 'CONTENT_MARKETING');
    expect(last.mode).toBe('PRIMARY');
    expect(last.results).toMatchObject([
      { decision: 'BLOCK', lists: ['OPT_OUT_ALL'], decided_by: [aAll.audit_record_id] },
      { decision: 'ALLOW', lists: [], decided_by: [] },
    ]);
    // An instant before the app existed: the default mode, no list.
    const early = await check(base, { identities: [a], at: '2001-01-01T00:00:00+01:00' });
    expect(early).toMatchObject({ at: '2000-12-31T23:00:00.000Z', mode: 'PRIMARY' });
    expect(early.results[0]).toMatchObject({ decision: 'ALLOW', lists: [], decided_by: [] });
  });

  it('for random histories, at = now answers as the ordinary check, and so does every earlier moment', async () => {
    for (const seed of [1, 2, 3]) {
      const random = seededRandom(seed);
      const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
      const { base } = newApp();
      const pool = Array.from({ length: 6 }, (_, i) => `4673200${seed}00${i}`);
      await settings(base, { auto_reply: false });
      const moments: { at: string; answers: Answer[] }[] = [];
      for (let step = 0; step < 40; step++) {
        const roll = random();
        if (roll < 0.1) {
          await settings(base, { mode: pick(['PRIMARY', 'SECONDARY']) });
        } else {
          // No event time (its arrival), one up to ten days old (older ones are superseded), or
          // one up to a minute ahead (clamped to the arrival).
          const when = random();
          const eventTime =
            when < 0.4
              ? undefined
              : when < 0.9
                ? new Date(Date.now() - Math.floor(random() * 10 * 86_400_000)).toISOString()
                : new Date(Date.now() + Math.floor(random() * 60_000)).toISOString();
          await change(
            base,
            pick(pool),
            pick(LISTS),
            random() < 0.6,
            eventTime ? { event_time: eventTime } : {},
          );
        }
        if (step % 8 === 7) {
          const answers = await checkAll(base, pool);
          moments.push({ answers, at: await moment() });
        }
      }
      const records = await recordsOf(base, pool);
      // at = now: a moment after the last change.
      const now = await moment();
      const ordinary = await checkAll(base, pool);
      moments.push({ at: now, answers: ordinary });
      for (const { at, answers } of moments) {
        for (const [i, contentType] of CONTENT_TYPES.entries()) {
          const past = await check(base, {
            identities: pool,
            message_content_type: contentType,
            at,
          });
          expectSameAnswer(answers[i]!, past, at, records);
        }
      }
    }
  });

  it('refuses an at in the future, without a zone, or not a date-time, naming only at', async () => {
    const { base } = newApp();
    await change(base, '46733000001', 'OPT_OUT_ALL', true);
    for (const at of [
      new Date(Date.now() + 60_000).toISOString(),
      '2999-01-01T00:00:00Z',
      '2026-11-22T10:00:00',
      '2026-11-22',
      '1999-12-31T23:59:59Z',
      '2026-02-30T10:00:00Z',
      'yesterday',
      '',
      1764700000000,
      null,
    ]) {
      const res = await api.post(`${base}/consents:check`, { identities: ['46733000001'], at });
      expect({ at, status: res.status }).toEqual({ at, status: 400 });
      expect(Object.keys(res.body)).toEqual(['error']);
      expect(res.body.error.status).toBe('INVALID_ARGUMENT');
      expect(
        res.body.error.details[0].field_violations.map((v: { field: string }) => v.field),
      ).toEqual(['at']);
    }
  });

  it('records every settings change in the audit trail, with the actor and never a secret', async () => {
    const { projectId, appId, base } = newApp();
    const minted = await api.post('/v1/api-keys', { name: 'pit-settings', scopes: ['admin'] });
    expect(minted.status).toBe(201);
    const keyApi = api.as(minted.body.key_secret);

    await settings(base, {
      mode: 'SECONDARY',
      webhook_secrets: [SECRET],
      auto_reply: false,
      replies: { ES: { OPT_OUT: 'Adiós' }, EN: { OPT_OUT: 'Bye' } },
    });
    await settings(base, { mode: 'SECONDARY' }); // changes nothing: no record
    const byKey = await keyApi.put(`${base}/consent-settings`, {
      mode: 'PRIMARY',
      webhook_secrets: [SECRET, `${SECRET}-next`],
    });
    expect(byKey.status).toBe(200);

    const rows: any[] = await ds.query(
      `SELECT kind, identity, list_type, actor, reason, evidence, event_time, recorded_at
         FROM consent_audit WHERE project_id = $1 AND app_id = $2 ORDER BY id`,
      [projectId, appId],
    );
    expect(rows.map((r) => [r.kind, r.identity, r.list_type, r.actor])).toEqual([
      ['SETTINGS_CHANGE', null, null, 'admin'],
      ['SETTINGS_CHANGE', null, null, minted.body.key_id],
    ]);
    expect(rows[0].evidence).toEqual({
      mode: 'SECONDARY',
      matching_profile: 'SINCH_EXACT',
      auto_reply: false,
      reply_languages: ['EN', 'ES'],
      webhook_secrets_count: 1,
      previous_mode: 'PRIMARY',
      changed: ['mode', 'matching_profile', 'auto_reply', 'replies', 'webhook_secrets'],
    });
    expect(rows[1].evidence).toMatchObject({
      mode: 'PRIMARY',
      webhook_secrets_count: 2,
      previous_mode: 'SECONDARY',
      changed: ['mode', 'webhook_secrets'],
    });
    expect(rows[1].reason).toBe('consent settings changed: mode, webhook_secrets');
    const everything = JSON.stringify(rows);
    expect(everything).not.toContain(SECRET);
    expect(everything).not.toContain('Adiós');
    // The mode at each instant comes from these records.
    const between = new Date((rows[0].recorded_at.getTime() + rows[1].recorded_at.getTime()) / 2);
    if (rows[1].recorded_at.getTime() - rows[0].recorded_at.getTime() > 2) {
      const res = await check(base, { identities: ['1'], at: between.toISOString() });
      expect(res.mode).toBe('SECONDARY');
    }
    expect((await check(base, { identities: ['1'], at: await moment() })).mode).toBe('PRIMARY');
    // Never in an identity's listing.
    const listing = await api.get(`${base}/identities/46733000001/audit-records`);
    expect(listing.body.audit_records).toEqual([]);
  });

  it('migration 1764700000000 reconstructs one SETTINGS_CHANGE record per stored settings row', async () => {
    const a = newApp();
    const q = ds.createQueryRunner();
    await q.connect();
    await q.startTransaction();
    try {
      // Settings stored before the migration: no audit record.
      await q.query(
        `INSERT INTO app_settings
           (project_id, app_id, mode, webhook_secrets, matching_profile, auto_reply, replies,
            created_at, updated_at)
         VALUES ($1, $2, 'SECONDARY', $3, 'US_FCC', false, '{"PT": {"HELP": "Ajuda"}}',
                 '2026-01-01T00:00:00Z', '2026-02-03T04:05:06.789Z')`,
        [a.projectId, a.appId, [SECRET]],
      );
      // The schema is already migrated: only the backfill runs again (in this transaction).
      const backfillOnly = new Proxy(q, {
        get: (target, key, receiver) =>
          key === 'query'
            ? (sql: string, params?: unknown[]) =>
                /INSERT INTO consent_audit/.test(sql)
                  ? target.query(sql, params)
                  : Promise.resolve([])
            : Reflect.get(target, key, receiver),
      });
      await new SettingsHistoryPointInTime1764700000000().up(backfillOnly);
      const rows: any[] = await q.query(
        `SELECT kind, identity, actor, reason, evidence, event_time, recorded_at
           FROM consent_audit WHERE project_id = $1 AND app_id = $2`,
        [a.projectId, a.appId],
      );
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        kind: 'SETTINGS_CHANGE',
        identity: null,
        actor: 'consent-gate',
      });
      expect(rows[0].reason).toContain('reconstructed by migration');
      expect(rows[0].reason).toContain('earlier changes are unknown');
      expect(rows[0].evidence).toEqual({
        mode: 'SECONDARY',
        matching_profile: 'US_FCC',
        auto_reply: false,
        reply_languages: ['PT'],
        webhook_secrets_count: 1,
        previous_mode: null,
        changed: [],
        migration: 'SettingsHistoryPointInTime1764700000000',
      });
      expect(rows[0].event_time.toISOString()).toBe('2026-02-03T04:05:06.789Z');
      expect(rows[0].recorded_at.toISOString()).toBe('2026-02-03T04:05:06.789Z');
      expect(JSON.stringify(rows)).not.toContain(SECRET);
    } finally {
      await q.rollbackTransaction();
      await q.release();
    }
  });

  it('an event-time repair that changed a list counts from when it was recorded', async () => {
    const { projectId, appId, base } = newApp();
    const [flipped, kept] = ['46734000001', '46734000002'];
    const optOut = await change(base, flipped, 'OPT_OUT_ALL', true);
    await change(base, kept, 'OPT_OUT_ALL', true);
    const before = await moment();
    // What migration 1764300000000 writes when it takes an identity off a list (a START dated
    // in the future re-applied), and when it leaves a list as it was.
    await ds.transaction(async (tx) => {
      await tx.query(
        `UPDATE consent_state SET opted_out = false
          WHERE project_id = $1 AND app_id = $2 AND identity = $3`,
        [projectId, appId, flipped],
      );
      await tx.query(
        `INSERT INTO consent_audit
           (kind, project_id, app_id, identity, list_type, actor, reason, evidence, event_time)
         SELECT 'EVENT_TIME_REPAIRED', $1, $2, i, 'OPT_OUT_ALL', 'consent-gate', 'test',
                jsonb_build_object('previous_opted_out', true, 'opted_out', i = $4), now()
           FROM unnest($3::varchar[]) AS i`,
        [projectId, appId, [flipped, kept], kept],
      );
    });
    const after = await moment();
    const ordinary = await check(base, { identities: [flipped, kept] });
    const now = await check(base, { identities: [flipped, kept], at: after });
    expect(now.results.map(({ decided_by: _d, ...r }) => r)).toEqual(ordinary.results);
    expect(now.results.map((r) => r.decision)).toEqual(['ALLOW', 'BLOCK']);
    const repair: { id: string }[] = await ds.query(
      `SELECT id::text FROM consent_audit WHERE app_id = $1 AND identity = $2 AND kind = 'EVENT_TIME_REPAIRED'`,
      [appId, kept],
    );
    expect(now.results[1]!.decided_by).toEqual([repair[0]!.id]);
    const then = await check(base, { identities: [flipped, kept], at: before });
    expect(then.results[0]).toMatchObject({
      decision: 'BLOCK',
      decided_by: [optOut.audit_record_id],
    });
  });

  it('answers 10,000 identities in one call', async () => {
    const { base } = newApp();
    const identities = Array.from({ length: 10_000 }, (_, i) => String(46735000000 + i));
    await change(base, identities[4242]!, 'OPT_OUT_ALL', true);
    const at = await moment();
    const res = await check(base, { identities, at });
    expect(res.results).toHaveLength(10_000);
    expect(res.results.filter((r) => r.decision === 'BLOCK').map((r) => r.identity)).toEqual([
      identities[4242],
    ]);
  });
});
