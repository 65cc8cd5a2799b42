// ConsentService.applyChanges is set-based: a batch locks, plans and writes all its changes in a
// few statements, one round per repetition of a key. These properties pin it to the one-at-a-time
// semantics (planChange applied change after change): the same random changes applied as one
// batch in one app, and one call per change in another, leave the same states and the same audit
// trail; and every row names the audit record that put it in its state.
import { DataSource } from 'typeorm';
import { ConsentService, ChangeInput } from '../src/consent/consent.service.js';
import { ChangeAction, ListType, Origin } from '../src/consent/domain/consent-types.js';
import type { AppRef } from '../src/kernel/app-ref.js';
import { backfillDeciders } from '../src/database/migrations/1764500000000-import-export-core.js';
import { newApp, seededRandom, startTestApp, TestApp } from './utils.js';

const LISTS = [ListType.OPT_OUT_ALL, ListType.OPT_OUT_MARKETING, ListType.OPT_OUT_NOTIFICATION];

function randomChanges(random: () => number, count: number): ChangeInput[] {
  const base = Date.now() - 3_600_000;
  return Array.from({ length: count }, () => ({
    identity: `4670000${String(Math.floor(random() * 12)).padStart(4, '0')}`,
    listType: LISTS[Math.floor(random() * LISTS.length)]!,
    action: random() < 0.6 ? ChangeAction.OPT_OUT : ChangeAction.OPT_IN,
    // Explicit past event times (a few equal ones), so that both apps decide alike.
    eventTime: new Date(base + Math.floor(random() * 40) * 1000),
    reason: random() < 0.3 ? `r${Math.floor(random() * 5)}` : null,
    source: random() < 0.3 ? `s${Math.floor(random() * 3)}` : null,
  }));
}

interface StateRow {
  identity: string;
  list_type: string;
  opted_out: boolean;
  since: Date;
  last_event_time: Date;
  origin: string;
  source: string | null;
  audit_record_id: string | null;
}

describe('ConsentService.applyChanges (set-based)', () => {
  let t: TestApp;
  let consents: ConsentService;
  let ds: DataSource;

  beforeAll(async () => {
    t = await startTestApp();
    consents = t.app.get(ConsentService);
    ds = t.app.get(DataSource);
  });
  afterAll(() => t.close());

  const appRef = (): AppRef => {
    const { projectId, appId } = newApp();
    return { projectId, appId };
  };

  async function states(app: AppRef): Promise<StateRow[]> {
    return ds.query(
      `SELECT identity, list_type, opted_out, since, last_event_time, origin, source,
              audit_record_id::text AS audit_record_id
         FROM consent_state WHERE project_id = $1 AND app_id = $2
        ORDER BY identity, list_type`,
      [app.projectId, app.appId],
    );
  }

  async function auditTrail(app: AppRef) {
    return ds.query(
      `SELECT a.id::text AS id, identity, list_type, operation, outcome, event_time, reason, source
         FROM consent_audit a WHERE project_id = $1 AND app_id = $2 ORDER BY a.id`,
      [app.projectId, app.appId],
    );
  }

  /** The audit records of each key, in order, without their ids. */
  function byKey(records: Record<string, unknown>[]): Map<string, unknown[]> {
    const map = new Map<string, unknown[]>();
    for (const { id: _id, ...r } of records) {
      const key = `${String(r.identity)}/${String(r.list_type)}`;
      map.set(key, [...(map.get(key) ?? []), r]);
    }
    return map;
  }

  it.each([1, 2, 3, 4, 5, 6])(
    'a batch decides like one change at a time (seed %i)',
    async (seed) => {
      const random = seededRandom(seed);
      const changes = randomChanges(random, 60);
      const batched = appRef();
      const single = appRef();
      const ctx = (app: AppRef) => ({ app, origin: Origin.ORIGIN_API, actor: 'test' });
      const results = await consents.applyChanges(ctx(batched), changes);
      const one: typeof results = [];
      for (const c of changes) one.push(...(await consents.applyChanges(ctx(single), [c])));

      // The same outcome for every change, reported in the order asked.
      expect(results.map((r) => [r.identity, r.listType, r.outcome, r.optedOut])).toEqual(
        one.map((r) => [r.identity, r.listType, r.outcome, r.optedOut]),
      );
      // The same audit trail per key (in the order of the changes to it).
      expect(byKey(await auditTrail(batched))).toEqual(byKey(await auditTrail(single)));
      // The same states, each naming the audit record that put it there.
      const strip = (rows: StateRow[]) => rows.map(({ audit_record_id: _a, ...r }) => r);
      const batchedStates = await states(batched);
      expect(strip(batchedStates)).toEqual(strip(await states(single)));
      for (const row of batchedStates) {
        const [decider] = await ds.query(
          `SELECT a.id::text AS id, source FROM consent_audit a
            WHERE project_id = $1 AND app_id = $2 AND identity = $3 AND list_type = $4
            ORDER BY (outcome = 'APPLIED') DESC, CASE WHEN outcome = 'APPLIED' THEN a.id END DESC,
                     a.id
            LIMIT 1`,
          [batched.projectId, batched.appId, row.identity, row.list_type],
        );
        expect(row.audit_record_id).toBe(decider.id);
        expect(row.source).toBe(decider.source);
      }
      // Each result names its own audit record.
      const ids = new Set(results.map((r) => r.auditRecordId));
      expect(ids.size).toBe(changes.length);
    },
    30_000,
  );

  it('a batch that creates rows a concurrent batch creates too decides each change once', async () => {
    const app = appRef();
    const ctx = { app, origin: Origin.ORIGIN_API, actor: 'test' };
    const changes = (offset: number): ChangeInput[] =>
      Array.from({ length: 200 }, (_, i) => ({
        identity: `4671${String(i).padStart(7, '0')}`,
        listType: ListType.OPT_OUT_ALL,
        action: ChangeAction.OPT_OUT,
        eventTime: new Date(Date.now() - 60_000 + offset),
      }));
    const [a, b] = await Promise.all([
      consents.applyChanges(ctx, changes(0)),
      consents.applyChanges(ctx, changes(1)),
    ]);
    // Every identity went on the list once; the other change to it was a no-op (or superseded).
    for (let i = 0; i < 200; i++) {
      expect([a[i]!.outcome, b[i]!.outcome].sort()).toEqual(
        expect.arrayContaining([expect.stringMatching(/APPLIED/)]),
      );
      expect([a[i]!.outcome, b[i]!.outcome].filter((o) => o === 'APPLIED')).toHaveLength(1);
    }
    const [{ n }] = await ds.query(
      `SELECT count(*)::int AS n FROM consent_audit WHERE project_id = $1 AND app_id = $2`,
      [app.projectId, app.appId],
    );
    expect(n).toBe(400);
    expect((await states(app)).filter((s) => s.opted_out)).toHaveLength(200);
  });
});

describe('migration 1764500000000', () => {
  let t: TestApp;
  let ds: DataSource;
  beforeAll(async () => {
    t = await startTestApp();
    ds = t.app.get(DataSource);
  });
  afterAll(() => t.close());

  it("names each existing row's deciding audit record: its latest applied change, else its first", async () => {
    const { projectId, appId } = newApp();
    const q = ds.createQueryRunner();
    await q.connect();
    await q.startTransaction();
    try {
      // As the old code left them: rows without audit_record_id, and their audit trails.
      await q.query(
        `INSERT INTO consent_state
           (project_id, app_id, identity, list_type, opted_out, since, last_event_time, origin)
         VALUES ($1, $2, '461', 'OPT_OUT_ALL', false, now(), now(), 'ORIGIN_API'),
                ($1, $2, '462', 'OPT_OUT_ALL', false, now(), now(), 'ORIGIN_API')`,
        [projectId, appId],
      );
      const audit = async (identity: string, operation: string, outcome: string) => {
        const rows: { id: string }[] = await q.query(
          `INSERT INTO consent_audit
             (project_id, app_id, identity, list_type, origin, operation, outcome, actor, event_time)
           VALUES ($1, $2, $3, 'OPT_OUT_ALL', 'ORIGIN_API', $4, $5, 'k', now()) RETURNING id::text AS id`,
          [projectId, appId, identity, operation, outcome],
        );
        return rows[0]!.id;
      };
      await audit('461', 'OPERATION_INSERT', 'APPLIED');
      const optIn = await audit('461', 'OPERATION_DELETE', 'APPLIED');
      await audit('461', 'OPERATION_DELETE', 'NO_CHANGE');
      await audit('461', 'OPERATION_INSERT', 'SUPERSEDED');
      const created = await audit('462', 'OPERATION_DELETE', 'NO_CHANGE');
      await audit('462', 'OPERATION_DELETE', 'NO_CHANGE');
      await q.query(backfillDeciders(true), [projectId]);
      const rows: { identity: string; audit_record_id: string }[] = await q.query(
        `SELECT identity, audit_record_id::text AS audit_record_id FROM consent_state
          WHERE project_id = $1 ORDER BY identity`,
        [projectId],
      );
      expect(rows).toEqual([
        { identity: '461', audit_record_id: optIn },
        { identity: '462', audit_record_id: created },
      ]);
    } finally {
      await q.rollbackTransaction();
      await q.release();
    }
  });
});
