import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { AppScopedRow } from '../kernel/app-scoped-row.js';
import type { CheckpointFields, LaneHead } from './domain/checkpoint.js';

/** A signed checkpoint of an app's audit chain (migration 1764900000000; append-only). */
@Entity({ name: 'audit_checkpoints' })
@Index('audit_checkpoints_app_idx', ['project_id', 'app_id', 'id'])
export class AuditCheckpointEntity extends AppScopedRow {
  @PrimaryGeneratedColumn('identity', {
    type: 'bigint',
    generatedIdentity: 'ALWAYS',
    primaryKeyConstraintName: 'audit_checkpoints_pk',
  })
  id: string;

  @Column({ type: 'bigint' })
  record_id: string;

  @Column({ type: 'bigint' })
  chain_seq: string;

  @Column({ type: 'bytea' })
  head_hash: Buffer;

  @Column({ type: 'timestamptz' })
  signed_at: Date;

  @Column({ type: 'varchar', length: 64 })
  key_id: string;

  @Column({ type: 'bytea' })
  public_key: Buffer;

  @Column({ type: 'bytea' })
  signature: Buffer;

  /**
   * The heads of the app's lanes other than lane 0 (whose head is record_id / chain_seq /
   * head_hash), in lane order; null when the app had lane 0 only (migration 1765200000000).
   */
  @Column({ type: 'jsonb', nullable: true })
  lanes: LaneHead[] | null;
}

/** What a stored checkpoint signed (checkpointText of it is the signed text). */
export function checkpointFieldsOf(
  c: Pick<
    AuditCheckpointEntity,
    | 'project_id'
    | 'app_id'
    | 'chain_seq'
    | 'record_id'
    | 'head_hash'
    | 'signed_at'
    | 'key_id'
    | 'lanes'
  >,
): CheckpointFields {
  return {
    project_id: c.project_id,
    app_id: c.app_id,
    chain_seq: c.chain_seq,
    record_id: c.record_id,
    head_hash: c.head_hash.toString('hex'),
    signed_at: c.signed_at.toISOString(),
    key_id: c.key_id,
    ...(c.lanes === null || c.lanes.length === 0 ? {} : { lanes: c.lanes }),
  };
}
