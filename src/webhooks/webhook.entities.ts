import { Column, Entity, Index, PrimaryColumn } from 'typeorm';

/** Signature nonces seen within the timestamp window (replay protection across instances). */
@Entity({ name: 'webhook_nonces' })
@Index('webhook_nonces_seen_idx', ['seen_at'])
export class WebhookNonceEntity {
  @PrimaryColumn({ type: 'varchar', length: 200 })
  nonce: string;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  seen_at: Date;
}

/** One row per processed Sinch delivery: the idempotency record and what was done with it. */
@Entity({ name: 'webhook_deliveries' })
@Index('webhook_deliveries_identity_idx', ['identity', 'project_id', 'app_id', 'received_at'])
@Index('webhook_deliveries_received_idx', ['received_at'])
export class WebhookDeliveryEntity {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  project_id: string;

  @PrimaryColumn({ type: 'varchar', length: 64 })
  app_id: string;

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
