import { Column, Entity, PrimaryColumn } from 'typeorm';
import { AppKeyedRow } from '../kernel/app-scoped-row.js';

/** Channel identities seen for a Sinch contact (from webhooks), to check sends by contact_id. */
@Entity({ name: 'contact_identities' })
export class ContactIdentityEntity extends AppKeyedRow {
  @PrimaryColumn({ type: 'varchar', length: 64 })
  contact_id: string;

  @PrimaryColumn({ type: 'varchar', length: 32 })
  channel: string;

  @PrimaryColumn({ type: 'varchar', length: 256 })
  identity: string;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  last_seen_at: Date;
}
