import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { ListType, Operation, Origin, Outcome } from '../consent/domain/consent-types.js';

/** Append-only: the database refuses UPDATE, DELETE and TRUNCATE on this table (migration trigger). */
@Entity({ name: 'consent_audit' })
@Index('consent_audit_identity_idx', ['project_id', 'app_id', 'identity', 'id'])
export class AuditRecordEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id: string;

  @Column({ type: 'varchar', length: 64 })
  project_id: string;

  @Column({ type: 'varchar', length: 64 })
  app_id: string;

  @Column({ type: 'varchar', length: 256 })
  identity: string;

  @Column({ type: 'varchar', length: 32 })
  list_type: ListType;

  @Column({ type: 'varchar', length: 16 })
  origin: Origin;

  @Column({ type: 'varchar', length: 24 })
  operation: Operation;

  @Column({ type: 'varchar', length: 16 })
  outcome: Outcome;

  /** Who asked: an API key id, "admin", or the channel for MO changes. */
  @Column({ type: 'varchar', length: 128 })
  actor: string;

  @Column({ type: 'varchar', length: 500, nullable: true })
  reason: string | null;

  @Column({ type: 'jsonb', nullable: true })
  evidence: unknown;

  @Column({ type: 'varchar', length: 64, nullable: true })
  batch_id: string | null;

  @Column({ type: 'timestamptz' })
  event_time: Date;

  @Column({ type: 'timestamptz', default: () => 'clock_timestamp()' })
  recorded_at: Date;
}
