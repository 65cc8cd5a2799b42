import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { AppKeyedRow } from '../kernel/app-scoped-row.js';

/** One row per processed Sinch delivery: the idempotency record and what was done with it. */
@Entity({ name: 'webhook_deliveries' })
@Index('webhook_deliveries_identity_idx', ['identity', 'project_id', 'app_id', 'received_at'])
@Index('webhook_deliveries_received_idx', ['received_at'])
export class WebhookDeliveryEntity extends AppKeyedRow {
  @PrimaryColumn({ type: 'varchar', length: 300 })
  delivery_key: string;

  @Column({ type: 'varchar', length: 40 })
  trigger: string;

  @Column({ type: 'varchar', length: 256, nullable: true })
  identity: string | null;

  @Column({ type: 'varchar', length: 40 })
  outcome: string;

  @Column({ type: 'jsonb', nullable: true })
  details: unknown;

  @Column({ type: 'timestamptz' })
  event_time: Date;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  received_at: Date;
}
