import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { AppScopedRow } from '../kernel/app-scoped-row.js';
import type { CallbackTrigger } from './callback-events.js';

/** A company system that wants callbacks of some triggers, signed with its secret. */
@Entity({ name: 'callback_subscriptions' })
@Index('callback_subscriptions_app_idx', ['project_id', 'app_id'])
export class CallbackSubscriptionEntity extends AppScopedRow {
  @PrimaryColumn({ type: 'varchar', length: 26 })
  id: string;

  @Column({ type: 'varchar', length: 2048 })
  target_url: string;

  /** Signing secret (write-only in the API). */
  @Column({ type: 'text' })
  secret: string;

  @Column({ type: 'text', array: true })
  triggers: CallbackTrigger[];

  @Column({ type: 'timestamptz', default: () => 'now()' })
  created_at: Date;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  updated_at: Date;
}
