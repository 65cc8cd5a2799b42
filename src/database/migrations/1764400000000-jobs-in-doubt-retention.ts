import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * At-most-once jobs and retention:
 * - outbox_jobs.in_flight (an attempt was claimed and its outcome not yet recorded) and
 *   outbox_jobs.at_most_once (such a job is never attempted again after an interrupted attempt:
 *   it ends IN_DOUBT), the status IN_DOUBT, and the audit record kind REPLY_IN_DOUBT. Jobs queued
 *   before this migration stay at least once.
 * - Indexes for the retention sweeps (RetentionService): finished jobs by finished_at, webhook
 *   deliveries by received_at, callback delivery attempts by attempted_at.
 */
const AUDIT_KINDS_BEFORE = [
  'CONSENT_CHANGE',
  'DELIVERY_REFUSED',
  'REPLY_SENT',
  'REPLY_FAILED',
  'EVENT_TIME_REPAIRED',
];

/** Replaces the check `name` on `table` by `column IN (values)`. */
async function replaceCheck(
  q: QueryRunner,
  table: string,
  name: string,
  column: string,
  values: string[],
): Promise<void> {
  await q.query(`ALTER TABLE ${table} DROP CONSTRAINT ${name}`);
  await q.query(
    `ALTER TABLE ${table} ADD CONSTRAINT ${name}
       CHECK (${column} IN (${values.map((v) => `'${v}'`).join(', ')}))`,
  );
}

export class JobsInDoubtRetention1764400000000 implements MigrationInterface {
  name = 'JobsInDoubtRetention1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE outbox_jobs ADD COLUMN in_flight boolean NOT NULL DEFAULT false`);
    await q.query(`ALTER TABLE outbox_jobs ADD COLUMN at_most_once boolean NOT NULL DEFAULT false`);
    await replaceCheck(q, 'outbox_jobs', 'outbox_jobs_status_check', 'status', [
      'PENDING',
      'SENT',
      'FAILED',
      'IN_DOUBT',
    ]);
    await replaceCheck(q, 'consent_audit', 'consent_audit_kind_check', 'kind', [
      ...AUDIT_KINDS_BEFORE,
      'REPLY_IN_DOUBT',
    ]);
    await q.query(`
      CREATE INDEX outbox_jobs_finished_idx ON outbox_jobs (finished_at)
        WHERE status <> 'PENDING'`);
    await q.query(
      `CREATE INDEX webhook_deliveries_received_idx ON webhook_deliveries (received_at)`,
    );
    await q.query(
      `CREATE INDEX callback_deliveries_attempted_idx ON callback_deliveries (attempted_at)`,
    );
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX callback_deliveries_attempted_idx`);
    await q.query(`DROP INDEX webhook_deliveries_received_idx`);
    await q.query(`DROP INDEX outbox_jobs_finished_idx`);
    await replaceCheck(q, 'consent_audit', 'consent_audit_kind_check', 'kind', AUDIT_KINDS_BEFORE);
    await replaceCheck(q, 'outbox_jobs', 'outbox_jobs_status_check', 'status', [
      'PENDING',
      'SENT',
      'FAILED',
    ]);
    await q.query(`ALTER TABLE outbox_jobs DROP COLUMN at_most_once`);
    await q.query(`ALTER TABLE outbox_jobs DROP COLUMN in_flight`);
  }
}
