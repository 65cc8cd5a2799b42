import { Check, Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { AppScopedRow } from '../kernel/app-scoped-row.js';

export enum JobStatus {
  PENDING = 'PENDING',
  SENT = 'SENT',
  FAILED = 'FAILED',
  /** An at-most-once job whose attempt was interrupted: it may or may not have been done. */
  IN_DOUBT = 'IN_DOUBT',
}

/**
 * A durable job (table outbox_jobs: the transactional outbox), written in the same transaction
 * as the change that caused it and done by a registered handler (see JobRunner).
 */
@Entity({ name: 'outbox_jobs' })
@Index('outbox_jobs_due_idx', ['next_attempt_at'], { where: `status = 'PENDING'` })
@Index('outbox_jobs_ordering_idx', ['ordering_key', 'id'], { where: `status = 'PENDING'` })
@Index('outbox_jobs_finished_idx', ['finished_at'], { where: `status <> 'PENDING'` })
@Check('outbox_jobs_status_check', `status IN ('PENDING', 'SENT', 'FAILED', 'IN_DOUBT')`)
export class JobEntity extends AppScopedRow {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id: string;

  @Column({ type: 'varchar', length: 32 })
  kind: string;

  @Column({ type: 'jsonb' })
  payload: unknown;

  /**
   * Jobs with the same key are done strictly one after another, oldest (smallest id) first; null:
   * no order. A hash (see orderingKey), never an identity in clear.
   */
  @Column({ type: 'varchar', length: 128, nullable: true })
  ordering_key: string | null;

  @Column({ type: 'varchar', length: 16, default: JobStatus.PENDING })
  status: JobStatus;

  @Column({ type: 'integer', default: 0 })
  attempts: number;

  /**
   * True from the claim of an attempt until its outcome is recorded: a job claimed again while
   * true had an attempt whose outcome is unknown (its worker died, or could not record it).
   */
  @Column({ type: 'boolean', default: false })
  in_flight: boolean;

  /** Never attempted again after an interrupted attempt: such a job ends IN_DOUBT instead. */
  @Column({ type: 'boolean', default: false })
  at_most_once: boolean;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  next_attempt_at: Date;

  @Column({ type: 'timestamptz' })
  give_up_at: Date;

  @Column({ type: 'varchar', length: 500, nullable: true })
  last_error: string | null;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created_at: Date;

  @Column({ type: 'timestamptz', nullable: true })
  finished_at: Date | null;
}
