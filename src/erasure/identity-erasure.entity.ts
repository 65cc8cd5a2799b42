import { Column, Entity, PrimaryColumn } from 'typeorm';
import { AppKeyedRow } from '../kernel/app-scoped-row.js';

/**
 * One erased identity of an app (migration 1765000000000; append-only): its keyed hash (the audit
 * chain's identity_key) and the ERASURE audit record that erased it. The identity itself is
 * stored nowhere any more: its rows carry `erased:<identity_key hex>` instead.
 */
@Entity({ name: 'identity_erasures' })
export class IdentityErasureEntity extends AppKeyedRow {
  @PrimaryColumn({ type: 'bytea' })
  identity_key: Buffer;

  @Column({ type: 'bigint' })
  audit_record_id: string;

  @Column({ type: 'timestamptz', default: () => 'clock_timestamp()' })
  erased_at: Date;
}
