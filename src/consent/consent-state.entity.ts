import { Check, Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { AppKeyedRow } from '../kernel/app-scoped-row.js';
import { ListType, Origin } from './domain/consent-types.js';

/**
 * The current state of one identity on one list. A row is kept after an opt-in (opted_out=false)
 * so that an older, late-arriving opt-out can be recognised as superseded.
 */
@Entity({ name: 'consent_state' })
@Check(
  'consent_state_list_type_check',
  `list_type IN ('OPT_OUT_ALL', 'OPT_OUT_MARKETING', 'OPT_OUT_NOTIFICATION')`,
)
@Index('consent_state_list_idx', ['project_id', 'app_id', 'list_type', 'identity'], {
  where: 'opted_out',
})
export class ConsentStateEntity extends AppKeyedRow {
  @PrimaryColumn({ type: 'varchar', length: 256 })
  identity: string;

  @PrimaryColumn({ type: 'varchar', length: 32 })
  list_type: ListType;

  @Column({ type: 'boolean' })
  opted_out: boolean;

  /** Event time at which the identity entered its current state. */
  @Column({ type: 'timestamptz' })
  since: Date;

  @Column({ type: 'varchar', length: 16 })
  origin: Origin;

  /** Event time of the newest change applied; older changes are superseded. */
  @Column({ type: 'timestamptz' })
  last_event_time: Date;

  @Column({ type: 'timestamptz', default: () => 'now()' })
  updated_at: Date;

  /**
   * The audit record of the change that put the row in its current state (the latest applied
   * change; for a row created by a no-op opt-in, that record). Null only for rows of an old
   * version whose audit trail had no change for them.
   */
  @Column({ type: 'bigint', nullable: true })
  audit_record_id: string | null;

  /** The source given with that change (an import row's `source`), else null. */
  @Column({ type: 'varchar', length: 128, nullable: true })
  source: string | null;
}
