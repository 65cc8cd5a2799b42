import { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Strict order per ordering key in the outbox: outbox_jobs.ordering_key (null = unordered) and a
 * partial index for the head-of-line check of OutboxRepository.claimDue ("is an older job with
 * this key still PENDING?"), one index probe per candidate job.
 *
 * Jobs queued before this migration keep a null key: they are delivered unordered, as before.
 * Their keys are not back-filled, because a reply's key is computed from the normalised identity,
 * which SQL cannot reproduce exactly.
 */
export class OutboxOrdering1764200000000 implements MigrationInterface {
  name = 'OutboxOrdering1764200000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`ALTER TABLE outbox_jobs ADD COLUMN ordering_key varchar(128)`);
    await q.query(`
      CREATE INDEX outbox_jobs_ordering_idx ON outbox_jobs (ordering_key, id)
        WHERE status = 'PENDING'`);
  }

  async down(q: QueryRunner): Promise<void> {
    await q.query(`DROP INDEX outbox_jobs_ordering_idx`);
    await q.query(`ALTER TABLE outbox_jobs DROP COLUMN ordering_key`);
  }
}
