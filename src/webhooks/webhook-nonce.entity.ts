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
