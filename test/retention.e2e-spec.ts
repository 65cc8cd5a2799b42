// Retention (defect 9): the service itself deletes webhook deliveries and finished jobs past
// their retention, in bounded batches, and never PENDING jobs, the audit trail or send attempts.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { DataSource } from 'typeorm';
import { loadConfig } from '../src/config/app-config.js';
import { RetentionService } from '../src/retention/retention.service.js';
import { inboundText } from './sinch-payloads.js';
import { Api, newApp, startTestApp, TestApp, until } from './utils.js';

describe('retention', () => {
  let t: TestApp;
  let ds: DataSource;
  let api: Api;

  beforeAll(async () => {
    t = await startTestApp({
      WEBHOOK_DELIVERY_RETENTION_DAYS: '2',
      JOB_RETENTION_DAYS: '30',
      RETENTION_INTERVAL_S: '1',
      RETENTION_BATCH_SIZE: '2',
    });
    ds = t.app.get(DataSource);
    api = new Api(t.baseUrl);
  });
  afterAll(() => t?.close());

  const count = async (sql: string, params: unknown[]): Promise<number> =>
    Number((await ds.query(sql, params))[0].n);

  it('deletes what is past its retention, batch by batch, and keeps everything else', async () => {
    const { projectId, appId, base } = newApp();
    // Evidence that must stay: an audit record and a send attempt, both "old".
    expect((await api.put(`${base}/identities/46700000001/opt-outs/OPT_OUT_ALL`, {})).status).toBe(
      200,
    );
    const audit = await count(`SELECT count(*) n FROM consent_audit WHERE app_id = $1`, [appId]);
    await ds.query(
      `INSERT INTO send_attempts
         (project_id, app_id, identity, channel, message_content_type, decision, lists, actor, created_at)
       VALUES ($1, $2, '46700000001', 'SMS', 'CONTENT_MARKETING', 'BLOCKED', '{OPT_OUT_ALL}', 'test',
               now() - interval '400 days')`,
      [projectId, appId],
    );
    const delivery = (key: string, age: string) =>
      ds.query(
        `INSERT INTO webhook_deliveries
           (project_id, app_id, delivery_key, trigger, identity, outcome, event_time, received_at)
         VALUES ($1, $2, $3, 'MESSAGE_INBOUND', '46700000001', 'PROCESSED', now(), now() - $4::interval)`,
        [projectId, appId, key, age],
      );
    const job = (status: string, age: string) =>
      ds.query(
        `INSERT INTO outbox_jobs
           (kind, project_id, app_id, payload, status, give_up_at, created_at, finished_at)
         VALUES ('RETENTION_TEST', $1, $2, '{}', $3::varchar, now(), now() - $4::interval,
                 CASE WHEN $3::varchar <> 'PENDING' THEN now() - $4::interval END)`,
        [projectId, appId, status, age],
      );
    const attempt = (age: string) =>
      ds.query(
        `INSERT INTO callback_deliveries
           (subscription_id, job_id, event_id, trigger, attempt, outcome, duration_ms, attempted_at)
         VALUES ($1, 1, 'e', 'OPT_OUT', 1, 'SUCCEEDED', 1, now() - $2::interval)`,
        [appId.slice(0, 26), age],
      );
    for (let i = 0; i < 5; i++) {
      await delivery(`old-${i}`, '3 days');
      await job(['SENT', 'FAILED', 'IN_DOUBT'][i % 3]!, '31 days');
      await attempt('31 days');
    }
    await delivery('recent', '1 day 23 hours');
    await job('SENT', '29 days');
    await job('PENDING', '400 days');
    await attempt('29 days');

    // Five old rows of each table with batches of two: the sweep runs several batches.
    await until(
      'the old rows to be deleted',
      async () =>
        (await count(
          `SELECT count(*) n FROM webhook_deliveries WHERE app_id = $1 AND delivery_key LIKE 'old-%'`,
          [appId],
        )) +
        (await count(
          `SELECT count(*) n FROM outbox_jobs WHERE app_id = $1 AND status <> 'PENDING'
              AND finished_at < now() - interval '30 days'`,
          [appId],
        )) +
        (await count(
          `SELECT count(*) n FROM callback_deliveries WHERE subscription_id = $1
              AND attempted_at < now() - interval '30 days'`,
          [appId.slice(0, 26)],
        )),
      (n) => n === 0,
      20_000,
    );
    expect(
      (
        await ds.query(`SELECT delivery_key FROM webhook_deliveries WHERE app_id = $1`, [appId])
      ).map((r: { delivery_key: string }) => r.delivery_key),
    ).toEqual(['recent']);
    expect(
      (
        await ds.query(`SELECT status FROM outbox_jobs WHERE app_id = $1 ORDER BY status`, [appId])
      ).map((r: { status: string }) => r.status),
    ).toEqual(['PENDING', 'SENT']);
    expect(
      await count(`SELECT count(*) n FROM callback_deliveries WHERE subscription_id = $1`, [
        appId.slice(0, 26),
      ]),
    ).toBe(1);
    expect(await count(`SELECT count(*) n FROM consent_audit WHERE app_id = $1`, [appId])).toBe(
      audit,
    );
    expect(await count(`SELECT count(*) n FROM send_attempts WHERE app_id = $1`, [appId])).toBe(1);
  });

  it('a redelivery within the retention is still DUPLICATE', async () => {
    const { projectId, appId, base } = newApp();
    expect((await api.put(`${base}/consent-settings`, { auto_reply: false })).status).toBe(200);
    const body = JSON.stringify(
      inboundText(projectId, appId, 'STOP', { id: `01${randomBytes(12).toString('hex')}` }),
    );
    const post = () =>
      fetch(`${t.baseUrl}/webhooks/sinch`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as { status: string } }));
    expect((await post()).body.status).toBe('PROCESSED');
    // Received just inside the 2 days: past any redelivery Sinch makes (about 23 h for SMS).
    await ds.query(
      `UPDATE webhook_deliveries SET received_at = now() - interval '1 day 23 hours' WHERE app_id = $1`,
      [appId],
    );
    // A sweep finds nothing of this app to delete.
    expect((await t.app.get(RetentionService).sweep()).webhookDeliveries).toBe(0);
    expect((await post()).body.status).toBe('DUPLICATE');
    // One consent change (the settings change has its own SETTINGS_CHANGE record).
    expect(
      await count(
        `SELECT count(*) n FROM consent_audit WHERE app_id = $1 AND kind = 'CONSENT_CHANGE'`,
        [appId],
      ),
    ).toBe(1);
  });

  it('refuses a webhook retention shorter than Sinch can redeliver within', () => {
    expect(loadConfig({})).toMatchObject({
      WEBHOOK_DELIVERY_RETENTION_DAYS: 30,
      JOB_RETENTION_DAYS: 30,
      RETENTION_INTERVAL_S: 3600,
      RETENTION_BATCH_SIZE: 1000,
    });
    expect(() => loadConfig({ WEBHOOK_DELIVERY_RETENTION_DAYS: '1' })).toThrow(
      /WEBHOOK_DELIVERY_RETENTION_DAYS/,
    );
    expect(() => loadConfig({ JOB_RETENTION_DAYS: '0' })).toThrow(/JOB_RETENTION_DAYS/);
    expect(() => loadConfig({ RETENTION_BATCH_SIZE: 'many' })).toThrow(/RETENTION_BATCH_SIZE/);
  });
});
