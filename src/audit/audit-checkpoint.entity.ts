import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { AppScopedRow } from '../kernel/app-scoped-row.js';
import type { CheckpointFields } from './domain/checkpoint.js';

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
}

/** What a stored checkpoint signed (checkpointText of it is the signed text). */
export function checkpointFieldsOf(
  c: Pick<
    AuditCheckpointEntity,
    'project_id' | 'app_id' | 'chain_seq' | 'record_id' | 'head_hash' | 'signed_at' | 'key_id'
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
  };
}
