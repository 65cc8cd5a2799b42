import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';
import { AppScopedRow } from '../kernel/app-scoped-row.js';

/** Append-only record of sends the gate blocked or forwarded to opted-out identities. */
@Entity({ name: 'send_attempts' })
@Index('send_attempts_identity_idx', ['project_id', 'app_id', 'identity', 'id'])
export class SendAttemptEntity extends AppScopedRow {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id: string;

  @Column({ type: 'varchar', length: 256 })
  identity: string;

  @Column({ type: 'varchar', length: 32, nullable: true })
  channel: string | null;

  @Column({ type: 'varchar', length: 32 })
  message_content_type: string;

  /** BLOCKED or SENT_TO_OPTED_OUT. */
  @Column({ type: 'varchar', length: 24 })
  decision: string;

  @Column({ type: 'text', array: true })
  lists: string[];

  @Column({ type: 'varchar', length: 128 })
  actor: string;

  @Column({ type: 'varchar', length: 128, nullable: true })
  correlation_id: string | null;

  @Column({ type: 'timestamptz', default: () => 'clock_timestamp()' })
  created_at: Date;
}
