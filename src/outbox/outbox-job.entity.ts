import { Check, Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { AppScopedRow } from '../kernel/app-scoped-row.js';

export enum OutboxStatus {
  PENDING = 'PENDING',
  SENT = 'SENT',
  FAILED = 'FAILED',
}

/** A durable job written in the same transaction as the change that caused it. */
@Entity({ name: 'outbox_jobs' })
@Index('outbox_jobs_due_idx', ['next_attempt_at'], { where: `status = 'PENDING'` })
@Index('outbox_jobs_ordering_idx', ['ordering_key', 'id'], { where: `status = 'PENDING'` })
@Check('outbox_jobs_status_check', `status IN ('PENDING', 'SENT', 'FAILED')`)
export class OutboxJobEntity extends AppScopedRow {
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

  @Column({ type: 'varchar', length: 16, default: OutboxStatus.PENDING })
  status: OutboxStatus;

  @Column({ type: 'integer', default: 0 })
  attempts: number;

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
