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
export class JobsInDoubtRetention1764400000000 implements MigrationInterface {
  name = 'JobsInDoubtRetention1764400000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE outbox_jobs ADD COLUMN in_flight boolean NOT NULL DEFAULT false`);
    await q.query(`ALTER TABLE outbox_jobs ADD COLUMN at_most_once boolean NOT NULL DEFAULT false`);
    await q.query(`ALTER TABLE outbox_jobs DROP CONSTRAINT outbox_jobs_status_check`);
    await q.query(`
      ALTER TABLE outbox_jobs ADD CONSTRAINT outbox_jobs_status_check
        CHECK (status IN ('PENDING', 'SENT', 'FAILED', 'IN_DOUBT'))`);
    await q.query(`ALTER TABLE consent_audit DROP CONSTRAINT consent_audit_kind_check`);
    await q.query(`
      ALTER TABLE consent_audit ADD CONSTRAINT consent_audit_kind_check
        CHECK (kind IN ('CONSENT_CHANGE', 'DELIVERY_REFUSED', 'REPLY_SENT', 'REPLY_FAILED', 'EVENT_TIME_REPAIRED', 'REPLY_IN_DOUBT'))`);
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
    await q.query(`ALTER TABLE consent_audit DROP CONSTRAINT consent_audit_kind_check`);
    await q.query(`
      ALTER TABLE consent_audit ADD CONSTRAINT consent_audit_kind_check
        CHECK (kind IN ('CONSENT_CHANGE', 'DELIVERY_REFUSED', 'REPLY_SENT', 'REPLY_FAILED', 'EVENT_TIME_REPAIRED'))`);
    await q.query(`ALTER TABLE outbox_jobs DROP CONSTRAINT outbox_jobs_status_check`);
    await q.query(`
      ALTER TABLE outbox_jobs ADD CONSTRAINT outbox_jobs_status_check
        CHECK (status IN ('PENDING', 'SENT', 'FAILED'))`);
    await q.query(`ALTER TABLE outbox_jobs DROP COLUMN at_most_once`);
    await q.query(`ALTER TABLE outbox_jobs DROP COLUMN in_flight`);
  }
}
