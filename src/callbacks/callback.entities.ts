import { Column, Entity, Index, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

export enum CallbackTrigger {
  OPT_IN = 'OPT_IN',
  OPT_OUT = 'OPT_OUT',
  SEND_BLOCKED = 'SEND_BLOCKED',
  SENT_TO_OPTED_OUT = 'SENT_TO_OPTED_OUT',
}

@Entity({ name: 'callback_subscriptions' })
@Index('callback_subscriptions_app_idx', ['project_id', 'app_id'])
export class CallbackSubscriptionEntity {
  @PrimaryColumn({ type: 'varchar', length: 26 })
  id: string;

  @Column({ type: 'varchar', length: 64 })
  project_id: string;

  @Column({ type: 'varchar', length: 64 })
  app_id: string;

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

/** One row per delivery attempt of a callback. */
@Entity({ name: 'callback_deliveries' })
@Index('callback_deliveries_subscription_idx', ['subscription_id', 'id'])
@Index('callback_deliveries_attempted_idx', ['attempted_at'])
export class CallbackDeliveryEntity {
  @PrimaryGeneratedColumn('identity', { type: 'bigint', generatedIdentity: 'ALWAYS' })
  id: string;

  @Column({ type: 'varchar', length: 26 })
  subscription_id: string;

  @Column({ type: 'bigint' })
  job_id: string;

  @Column({ type: 'varchar', length: 26 })
  event_id: string;

  @Column({ type: 'varchar', length: 32 })
  trigger: string;

  @Column({ type: 'integer' })
  attempt: number;

  @Column({ type: 'varchar', length: 16 })
  outcome: string;

  @Column({ type: 'integer', nullable: true })
  http_status: number | null;

  @Column({ type: 'varchar', length: 500, nullable: true })
  error: string | null;

  @Column({ type: 'integer' })
  duration_ms: number;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  attempted_at: Date;
}
