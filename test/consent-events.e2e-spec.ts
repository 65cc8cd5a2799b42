import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { EntityManager } from 'typeorm';
import { ConsentChanged, ConsentEvents } from '../src/consent/consent-events.js';
import type { AppRef } from '../src/kernel/app-ref.js';
import { Api, newApp, randomPhone, startTestApp, TestApp } from './utils.js';

// "Consent changed" is published inside the change's transaction: a subscriber sees the change
// through the transaction it is given, and a subscriber that fails rolls the change back.
describe('consent events', () => {
  let t: TestApp;
  let api: Api;
  let events: ConsentEvents;

  beforeAll(async () => {
    t = await startTestApp();
    api = new Api(t.baseUrl);
    events = t.app.get(ConsentEvents);
  });
  afterAll(() => t.close());

  it('calls a subscriber with the transaction of the change, which already holds it', async () => {
    const { projectId, appId, base } = newApp();
    const identity = randomPhone();
    const seen: { app: AppRef; change: ConsentChanged; stored: unknown[] }[] = [];
    const unsubscribe = events.subscribe(async (tx: EntityManager, app, changes) => {
      if (app.appId !== appId) return;
      for (const change of changes) {
        const stored: unknown[] = await tx.query(
          `SELECT opted_out FROM consent_state
            WHERE project_id = $1 AND app_id = $2 AND identity = $3 AND list_type = $4`,
          [app.projectId, app.appId, change.identity, change.listType],
        );
        seen.push({ app, change, stored });
      }
    });
    try {
      const put = await api.put(`${base}/identities/${identity}/opt-outs/OPT_OUT_MARKETING`, {});
      expect(put.status).toBe(200);
      // A no-op publishes nothing.
      expect(
        (await api.put(`${base}/identities/${identity}/opt-outs/OPT_OUT_MARKETING`, {})).body
          .outcome,
      ).not.toBe('APPLIED');
      expect(seen).toEqual([
        {
          app: { projectId, appId },
          change: expect.objectContaining({
            trigger: 'OPT_OUT',
            identity: put.body.identity,
            listType: 'OPT_OUT_MARKETING',
            origin: 'ORIGIN_API',
            auditRecordId: put.body.audit_record_id,
          }),
          stored: [{ opted_out: true }],
        },
      ]);
    } finally {
      unsubscribe();
    }
  });

  it('rolls the change and its audit record back when a subscriber fails', async () => {
    const { appId, base } = newApp();
    const identity = randomPhone();
    const unsubscribe = events.subscribe((_tx, app) =>
      app.appId === appId ? Promise.reject(new Error('subscriber failed')) : Promise.resolve(),
    );
    try {
      const put = await api.put(`${base}/identities/${identity}/opt-outs/OPT_OUT_ALL`, {});
      expect(put.status).toBe(500);
    } finally {
      unsubscribe();
    }
    const state = await api.get(`${base}/identities/${identity}`);
    expect(state.body.opted_out).toBe(false);
    const audit = await api.get(`${base}/identities/${identity}/audit-records`);
    expect(audit.status).toBe(200);
    expect(audit.body.audit_records).toEqual([]);
    // Without the failing subscriber the same change goes through.
    const again = await api.put(`${base}/identities/${identity}/opt-outs/OPT_OUT_ALL`, {});
    expect(again.body.outcome).toBe('APPLIED');
  });
});
