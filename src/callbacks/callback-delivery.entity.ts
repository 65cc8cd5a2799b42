import { Column, Entity, Index, PrimaryGeneratedColumn } from 'typeorm';

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
